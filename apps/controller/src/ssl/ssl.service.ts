import { BadRequestException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { SslDirection, SslFunction, type SslEvent as SslEventMsg, type SslEventBatch, type SslReport } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import { ProfilesService, type Tx } from '../profiles/profiles.service';
import type { SslParams } from '../common/job-params';
import { enforceLimits, type Limited, type SslLimits } from './limits';
import { ResultStores } from '../common/result-stores';

export const SSL_FUNCTION_NAMES: Record<number, string> = {
  [SslFunction.SSL_FUNCTION_READ]: 'SSL_read',
  [SslFunction.SSL_FUNCTION_WRITE]: 'SSL_write',
  [SslFunction.SSL_FUNCTION_READ_EX]: 'SSL_read_ex',
  [SslFunction.SSL_FUNCTION_WRITE_EX]: 'SSL_write_ex',
  [SslFunction.SSL_FUNCTION_DO_HANDSHAKE]: 'SSL_do_handshake',
  [SslFunction.SSL_FUNCTION_GNUTLS_RECORD_RECV]: 'gnutls_record_recv',
  [SslFunction.SSL_FUNCTION_GNUTLS_RECORD_SEND]: 'gnutls_record_send',
  [SslFunction.SSL_FUNCTION_GO_TLS_READ]: 'crypto/tls.(*Conn).Read',
  [SslFunction.SSL_FUNCTION_GO_TLS_WRITE]: 'crypto/tls.(*Conn).Write',
  [SslFunction.SSL_FUNCTION_NSS_PR_READ]: 'PR_Read',
  [SslFunction.SSL_FUNCTION_NSS_PR_WRITE]: 'PR_Write',
  [SslFunction.SSL_FUNCTION_NSS_PR_RECV]: 'PR_Recv',
  [SslFunction.SSL_FUNCTION_NSS_PR_SEND]: 'PR_Send',
};

/** The direction of an event; from its function when the agent left it unspecified. Undefined: malformed. */
export function directionOf(e: Pick<SslEventMsg, 'direction' | 'function'>): 'read' | 'write' | 'handshake' | undefined {
  switch (e.direction) {
    case SslDirection.SSL_DIRECTION_READ:
      return 'read';
    case SslDirection.SSL_DIRECTION_WRITE:
      return 'write';
    case SslDirection.SSL_DIRECTION_HANDSHAKE:
      return 'handshake';
  }
  switch (e.function) {
    case SslFunction.SSL_FUNCTION_READ:
    case SslFunction.SSL_FUNCTION_READ_EX:
    case SslFunction.SSL_FUNCTION_GNUTLS_RECORD_RECV:
    case SslFunction.SSL_FUNCTION_GO_TLS_READ:
    case SslFunction.SSL_FUNCTION_NSS_PR_READ:
    case SslFunction.SSL_FUNCTION_NSS_PR_RECV:
      return 'read';
    case SslFunction.SSL_FUNCTION_WRITE:
    case SslFunction.SSL_FUNCTION_WRITE_EX:
    case SslFunction.SSL_FUNCTION_GNUTLS_RECORD_SEND:
    case SslFunction.SSL_FUNCTION_GO_TLS_WRITE:
    case SslFunction.SSL_FUNCTION_NSS_PR_WRITE:
    case SslFunction.SSL_FUNCTION_NSS_PR_SEND:
      return 'write';
    case SslFunction.SSL_FUNCTION_DO_HANDSHAKE:
      return 'handshake';
  }
  return undefined;
}

const I64_MAX = (1n << 63n) - 1n;
const I32_MAX = 2 ** 31 - 1;
/** u64 protocol fields into int8 columns (a value past 2^63 is an agent bug; it must not fail the batch). */
const i64 = (v: bigint): string => (v > I64_MAX ? I64_MAX : v < -I64_MAX - 1n ? -I64_MAX - 1n : v).toString();
/** Counts a view reads as numbers: past 2^53 they would lose precision (no real run reaches it). */
const safe = (v: bigint | undefined): bigint => (v === undefined || v < 0n ? 0n : v > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : v);
/** PostgreSQL text cannot hold NUL. */
const text = (s: string, max: number): string => s.replace(/\0/g, '').slice(0, max);

/** Rows and plaintext per INSERT: bounds statement size whatever the batch holds. */
const INSERT_ROWS = 1000;
const INSERT_BYTES = 4 * 1024 * 1024;
const JOB_CACHE = 256;

interface JobInfo {
  limits: SslLimits;
  userStacks: boolean;
  expiresAt: Date;
}

/** SslReport counters as stored on the run (JobRun.sslReport). */
export interface SslRunReport {
  eventsSeen: number;
  eventsSent: number;
  droppedKernel: number;
  droppedAgent: number;
  overBudget: number;
  bytesOverBudget: number;
  truncatedEvents: number;
  redactions: number;
  orphanReturns: number;
  readErrors: number;
  /** Calls of connections the content filter did not admit (0 in reports from before it). */
  filteredCalls: number;
  /** Headers-only jobs: calls skipped in the kernel (0 in reports from before it). */
  skippedCalls: number;
  /** filter.ports: calls filtered before their socket was known (0 in reports from before it). */
  noSocketCalls: number;
  noOpenssl: string[];
}

/** Stores what ssl-capture runs send: events (bounded by the job's budgets, counted past them) and the final report. */
@Injectable()
export class SslService {
  private readonly log = new Logger(SslService.name);
  private readonly jobs = new Map<string, JobInfo>();

  constructor(
    private readonly prisma: PrismaService,
    private readonly profiles: ProfilesService,
    stores: ResultStores,
  ) {
    stores.batch<SslEventBatch>('sslEvents', (run, batch, tx) => this.storeEvents(run.jobId, run.id, batch, tx));
    stores.report<SslReport>('sslReport', (run, report) => this.storeReport(run.id, report));
  }

  /** The job, if it exists and is an ssl-capture job: 404 / 400 otherwise. */
  async sslJob(id: string): Promise<{ id: string; status: string; reason: string | null; createdAt: Date; finishedAt: Date | null }> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new NotFoundException(`job ${id} not found`);
    const job = await this.prisma.job.findUnique({ where: { id }, select: { id: true, type: true, status: true, reason: true, createdAt: true, finishedAt: true } });
    if (!job) throw new NotFoundException(`job ${id} not found`);
    if (job.type !== 'ssl_capture') {
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`job ${id} is a ${job.type.replace('_', '-')} job, not ssl-capture`] });
    }
    return job;
  }

  private async jobInfo(jobId: string): Promise<JobInfo> {
    const hit = this.jobs.get(jobId);
    if (hit) return hit;
    const job = await this.prisma.job.findUniqueOrThrow({ where: { id: jobId }, select: { params: true, createdAt: true } });
    const p = job.params as unknown as SslParams;
    const info: JobInfo = {
      limits: { maxEvents: p.maxEvents, maxTotalBytes: p.maxTotalBytes, maxDataBytes: p.maxDataBytes },
      userStacks: p.userStacks,
      expiresAt: new Date(job.createdAt.getTime() + p.retentionHours * 3600_000),
    };
    if (this.jobs.size >= JOB_CACHE) this.jobs.delete(this.jobs.keys().next().value!);
    this.jobs.set(jobId, info);
    return info;
  }

  /** Stores a batch; returns how many events it kept. Over-budget and malformed events are counted on the run. */
  async storeEvents(jobId: string, runId: string, batch: SslEventBatch, inTx?: Tx): Promise<bigint> {
    if (batch.events.length === 0) return 0n;
    const job = await this.jobInfo(jobId);
    // In the caller's transaction the counters read are the ones its seq claim locked.
    const run = await (inTx ?? this.prisma).jobRun.findUniqueOrThrow({
      where: { id: runId },
      select: { samplesReceived: true, sslBytesStored: true, node: { select: { name: true } } },
    });
    const wellFormed = batch.events.filter((e) => directionOf(e) !== undefined);
    const malformed = batch.events.length - wellFormed.length;
    const out = enforceLimits(wellFormed, { eventsStored: run.samplesReceived, bytesStored: run.sslBytesStored }, job.limits);
    const eventsRefused = out.eventsRefused + malformed;
    if (eventsRefused > 0 || out.bytesRefused > 0) {
      this.log.warn(
        `run ${runId} (${run.node.name}): not stored past the job's limits: ${out.eventsRefused} event(s) over maxEvents=${job.limits.maxEvents}, ` +
          `${out.bytesRefused} plaintext byte(s) over maxDataBytes=${job.limits.maxDataBytes}/maxTotalBytes=${job.limits.maxTotalBytes}` +
          (malformed ? `, ${malformed} event(s) with no direction or function` : ''),
      );
    }
    const write = async (tx: Tx): Promise<void> => {
        const originIds = await this.profiles.internOrigins(tx, batch.origins);
        // An origin index the batch does not have is "not known" (the event itself is good).
        const originOf = (e: SslEventMsg): number => (e.origin && e.origin <= originIds.length ? originIds[e.origin - 1] : 0);
        const stackIds = await this.stacks(tx, jobId, runId, batch, out.kept, job.userStacks, originOf);
        await this.insert(tx, jobId, runId, run.node.name, job.expiresAt, out.kept, stackIds, originOf);
        await tx.jobRun.update({
          where: { id: runId },
          data: {
            sslBytesStored: { increment: out.bytesKept },
            ...(eventsRefused ? { eventsRefused: { increment: eventsRefused } } : {}),
            ...(out.bytesRefused ? { sslBytesRefused: { increment: out.bytesRefused } } : {}),
          },
        });
      };
    if (inTx) await write(inTx);
    else await this.prisma.$transaction(write, { timeout: 120_000, maxWait: 30_000 });
    return BigInt(out.kept.length);
  }

  /**
   * Interns the kept events' stacks (Frame/Stack, shared with profiles) and, when the job asked for
   * stacks, adds them to the run's flame graph under the function name. Events whose stack names a
   * string the batch does not have keep no stack.
   */
  private async stacks(
    tx: Tx,
    jobId: string,
    runId: string,
    batch: SslEventBatch,
    kept: Limited<SslEventMsg>[],
    userStacks: boolean,
    originOf: (e: SslEventMsg) => number,
  ): Promise<(number | null)[]> {
    const n = batch.strings.length;
    const usable = kept.map((k) => k.event.stack.length > 0 && k.event.stack.every((f) => f < n));
    const paths = kept.filter((_, i) => usable[i]).map((k) => k.event.stack);
    if (paths.length === 0) return kept.map(() => null);
    const ids = await this.profiles.internStacks(tx, batch.strings, paths);
    if (userStacks) {
      const strings = [...batch.strings];
      const root = new Map<string, number>();
      const stacks = kept
        .filter((_, i) => usable[i])
        .map((k) => {
          const fn = SSL_FUNCTION_NAMES[k.event.function] ?? 'SSL';
          let r = root.get(fn);
          if (r === undefined) root.set(fn, (r = strings.push(fn) - 1));
          return { frames: [r, ...k.event.stack], count: 1n, originId: originOf(k.event) };
        });
      await this.profiles.addCounts(tx, jobId, runId, strings, stacks, false);
    }
    let next = 0;
    return usable.map((u) => (u ? ids[next++] : null));
  }

  private async insert(
    tx: Tx,
    jobId: string,
    runId: string,
    node: string,
    expiresAt: Date,
    kept: Limited<SslEventMsg>[],
    stackIds: (number | null)[],
    originOf: (e: SslEventMsg) => number,
  ): Promise<void> {
    for (let start = 0; start < kept.length; ) {
      let end = start;
      let bytes = 0;
      while (end < kept.length && end - start < INSERT_ROWS && (end === start || bytes + kept[end].data.length <= INSERT_BYTES)) bytes += kept[end++].data.length;
      const rows = kept.slice(start, end);
      const sids = stackIds.slice(start, end);
      const nowUs = BigInt(Date.now()) * 1000n;
      // One statement with array parameters per chunk: 18 parameters, whatever the row count.
      await tx.$executeRaw`
        INSERT INTO "SslEvent" ("jobId", "runId", "nodeName", "pid", "tid", "comm", "function", "direction", "ret", "length", "latencyNs",
                                "sslPtr", "tsNs", "at", "data", "truncated", "redactions", "stackId", "binary", "originId", "skippedBytes", "skippedCalls", "expiresAt")
        SELECT ${jobId}::uuid, ${runId}::uuid, ${node}, pid, tid, comm, fn, dir::"SslDirection", ret, len, lat,
               ptr, ts, 'epoch'::timestamptz + at_us * interval '1 microsecond', decode(d, 'base64'), tr, red, sid, bin, o, sb, sc, ${expiresAt}::timestamptz
        FROM unnest(
          ${rows.map((k) => Math.min(k.event.pid, I32_MAX))}::int[], ${rows.map((k) => Math.min(k.event.tid, I32_MAX))}::int[],
          ${rows.map((k) => text(k.event.comm, 64))}::text[], ${rows.map((k) => SSL_FUNCTION_NAMES[k.event.function] ?? `function#${k.event.function}`)}::text[],
          ${rows.map((k) => directionOf(k.event)!)}::text[], ${rows.map((k) => i64(k.event.ret))}::bigint[],
          ${rows.map((k) => i64(k.event.length))}::bigint[], ${rows.map((k) => i64(k.event.latencyNs))}::bigint[],
          ${rows.map((k) => `0x${k.event.sslPtr.toString(16)}`)}::text[], ${rows.map((k) => i64(k.event.tsNs))}::bigint[],
          ${rows.map((k) => i64(k.event.atUnixNs > 0n ? k.event.atUnixNs / 1000n : nowUs))}::bigint[],
          ${rows.map((k) => Buffer.from(k.data.buffer, k.data.byteOffset, k.data.byteLength).toString('base64'))}::text[],
          ${rows.map((k) => k.truncated)}::bool[], ${rows.map((k) => Math.min(k.event.redactions, I32_MAX))}::int[],
          ${sids}::int[], ${rows.map((k) => text(k.event.binary, 4096))}::text[], ${rows.map((k) => originOf(k.event))}::int[],
          ${rows.map((k) => safe(k.event.skippedBytes).toString())}::bigint[], ${rows.map((k) => Math.min(k.event.skippedCalls ?? 0, I32_MAX))}::int[]
        ) AS t(pid, tid, comm, fn, dir, ret, len, lat, ptr, ts, at_us, d, tr, red, sid, bin, o, sb, sc)`;
      start = end;
    }
  }

  /** The agent's final counters for the run; they also fill the run's samples taken / dropped. */
  async storeReport(runId: string, r: SslReport): Promise<void> {
    const report: SslRunReport = {
      eventsSeen: Number(r.eventsSeen),
      eventsSent: Number(r.eventsSent),
      droppedKernel: Number(r.droppedKernel),
      droppedAgent: Number(r.droppedAgent),
      overBudget: Number(r.overBudget),
      bytesOverBudget: Number(r.bytesOverBudget),
      truncatedEvents: Number(r.truncatedEvents),
      redactions: Number(r.redactions),
      orphanReturns: Number(r.orphanReturns),
      readErrors: Number(r.readErrors),
      filteredCalls: Number(safe(r.filteredCalls)),
      skippedCalls: Number(safe(r.skippedCalls)),
      noSocketCalls: Number(safe(r.noSocketCalls)),
      noOpenssl: r.noOpenssl.slice(0, 256).map((s) => text(s, 1024)),
    };
    await this.prisma.jobRun.update({
      where: { id: runId },
      data: {
        sslReport: report as object,
        attached: r.attached.slice(0, 1024).map((s) => text(s, 1024)),
        samplesTaken: r.eventsSeen,
        samplesDroppedKernel: r.droppedKernel,
        samplesDroppedAgent: r.droppedAgent,
      },
    });
  }
}
