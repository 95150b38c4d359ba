import { Injectable, NotFoundException } from '@nestjs/common';
import type { ExecOpenEventBatch, ExecOpenReport } from '@tracefleet/proto';
import type { Prisma } from '../generated/prisma/client';
import { PrismaService } from '../prisma/prisma.service';
import { ResultStores } from '../common/result-stores';
import { UUID_RE } from '../common/ids';
import { MAX_ARGS, MAX_BATCH_EVENTS, MAX_STRING_BYTES } from './exec-open.type';
import { execOpenText, mergeCounters, type ExecOpenResults } from './exec-open.view';

type Tx = Prisma.TransactionClient;

/** What GET /jobs/:id/exec-open filters on (checked by the controller). */
export interface ExecOpenQuery {
  node?: string;
  pid?: number;
  comm?: string;
  kind?: 'exec' | 'open';
  /** true: only errors (ret < 0); false: only successes. */
  failed?: boolean;
  /** Substring of the path (an exec's file name or an opened path). */
  path?: string;
  limit: number;
  afterId?: bigint;
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
const U63 = 2n ** 63n - 1n;
const clamp = (v: bigint): bigint => (v > U63 ? U63 : v);
const int32 = (v: number): number => Math.max(I32_MIN, Math.min(I32_MAX, Math.trunc(v)));
const SYSCALLS = new Set(['execve', 'execveat', 'open', 'openat', 'openat2']);
/** PostgreSQL text holds no NUL: the agent escapes control bytes, but a hostile agent may not. */
const text = (s: string): string => s.replace(/\0/g, '\\x00').slice(0, MAX_STRING_BYTES);
/** The args column as a PostgreSQL array literal (text[][] of unequal lengths is not allowed, so one literal per row). */
const arrayLiteral = (args: string[]): string => `{${args.map((a) => `"${a.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;

/** Stores exec-open results (events, a report per run) and answers the job's events and counters. */
@Injectable()
export class ExecOpenService {
  constructor(
    private readonly prisma: PrismaService,
    stores: ResultStores,
  ) {
    stores.batch<ExecOpenEventBatch>('execOpenEvents', (run, batch, tx) => this.storeBatch(run.id, batch, tx));
    stores.report<ExecOpenReport>('execOpenReport', (run, report) => this.storeReport(run.id, report));
  }

  /** One batch in one statement with array parameters (in the order received), inside the transaction that claimed its seq. */
  async storeBatch(runId: string, batch: ExecOpenEventBatch, tx: Tx): Promise<bigint> {
    const rows = batch.events.slice(0, MAX_BATCH_EVENTS).filter((e) => e.tsNs <= U63);
    if (rows.length === 0) return 0n;
    const str = (i: number): string => text(batch.strings[i] ?? '?');
    await tx.$executeRaw`
      INSERT INTO "ExecOpenEvent" ("runId", "kind", "syscall", "pid", "tid", "ppid", "uid", "comm", "ret", "tsNs", "dfd", "path", "args", "flags", "mode", "truncated")
      SELECT ${runId}::uuid, k, sc, pid, tid, ppid, uid, comm, ret, ts, dfd, path, args::text[], flags, mode, tr
      FROM unnest(${rows.map((e) => (e.kind === 0 ? 'exec' : 'open'))}::text[], ${rows.map((e) => (SYSCALLS.has(e.syscall) ? e.syscall : '?'))}::text[],
                  ${rows.map((e) => Math.min(e.pid, I32_MAX))}::int[], ${rows.map((e) => Math.min(e.tid, I32_MAX))}::int[], ${rows.map((e) => Math.min(e.ppid, I32_MAX))}::int[],
                  ${rows.map((e) => String(e.uid))}::bigint[], ${rows.map((e) => str(e.comm))}::text[], ${rows.map((e) => int32(e.ret))}::int[],
                  ${rows.map((e) => e.tsNs.toString())}::bigint[], ${rows.map((e) => int32(e.dfd))}::int[], ${rows.map((e) => text(e.path))}::text[],
                  ${rows.map((e) => (e.kind === 0 ? arrayLiteral(e.args.slice(0, MAX_ARGS).map(text)) : '{}'))}::text[],
                  ${rows.map((e) => String(e.flags))}::bigint[], ${rows.map((e) => String(e.mode))}::bigint[], ${rows.map((e) => e.truncated)}::boolean[])
        WITH ORDINALITY AS t(k, sc, pid, tid, ppid, uid, comm, ret, ts, dfd, path, args, flags, mode, tr, ord)
      ORDER BY ord`;
    return BigInt(rows.length);
  }

  async storeReport(runId: string, r: ExecOpenReport): Promise<void> {
    const data = {
      execs: clamp(r.execs),
      opens: clamp(r.opens),
      streamed: clamp(r.streamed),
      noStart: clamp(r.noStart),
      overBudget: clamp(r.overBudget),
      dropped: clamp(r.dropped),
    };
    await this.prisma.execOpenTotals.upsert({ where: { runId }, create: { runId, ...data }, update: data });
  }

  private async requireJob(jobId: string): Promise<void> {
    const job = UUID_RE.test(jobId) ? await this.prisma.job.findUnique({ where: { id: jobId }, select: { type: true } }) : null;
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (job.type !== 'exec_open') throw new NotFoundException(`job ${jobId} is a ${job.type.replace('_', '-')} job, not exec-open`);
  }

  /** The counters (merged and per node), the number of matching events, and one page of them (per node in the order they returned). */
  async results(jobId: string, q: ExecOpenQuery): Promise<ExecOpenResults> {
    await this.requireJob(jobId);
    const runs = await this.prisma.jobRun.findMany({
      where: { jobId, ...(q.node ? { node: { name: q.node } } : {}) },
      select: { status: true, node: { select: { name: true } }, execOpenTotals: true },
      orderBy: { node: { name: 'asc' } },
    });
    const where: Prisma.ExecOpenEventWhereInput = {
      run: { jobId, ...(q.node ? { node: { name: q.node } } : {}) },
      ...(q.pid !== undefined ? { pid: q.pid } : {}),
      ...(q.comm !== undefined ? { comm: q.comm } : {}),
      ...(q.kind !== undefined ? { kind: q.kind } : {}),
      ...(q.failed !== undefined ? { ret: q.failed ? { lt: 0 } : { gte: 0 } } : {}),
      ...(q.path !== undefined ? { path: { contains: q.path } } : {}),
    };
    const [matching, rows] = await Promise.all([
      this.prisma.execOpenEvent.count({ where }),
      this.prisma.execOpenEvent.findMany({
        where: { ...where, ...(q.afterId !== undefined ? { id: { gt: q.afterId } } : {}) },
        include: { run: { select: { node: { select: { name: true } } } } },
        orderBy: { id: 'asc' },
        take: q.limit,
      }),
    ]);
    return {
      jobId,
      ...mergeCounters(runs.map((r) => ({ node: r.node.name, status: r.status, totals: r.execOpenTotals }))),
      matching,
      events: rows.map((e) => ({
        id: e.id.toString(),
        node: e.run.node.name,
        kind: e.kind,
        syscall: e.syscall,
        pid: e.pid,
        tid: e.tid,
        ppid: e.ppid,
        uid: e.uid.toString(),
        comm: e.comm,
        ret: e.ret,
        tsNs: e.tsNs.toString(),
        dfd: e.dfd,
        path: e.path,
        args: e.kind === 'exec' ? e.args : null,
        flags: e.kind === 'open' ? e.flags.toString() : null,
        mode: e.kind === 'open' ? e.mode.toString() : null,
        truncated: e.truncated,
      })),
      next: rows.length === q.limit ? rows[rows.length - 1].id.toString() : null,
    };
  }

  async text(jobId: string, q: ExecOpenQuery): Promise<string> {
    return execOpenText(await this.results(jobId, q));
  }
}
