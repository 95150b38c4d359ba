import { Injectable, Logger, Optional } from '@nestjs/common';
import { RunEventKind, type ProfileBatch, type RunEvent, type RunFinished } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import type { Prisma } from '../generated/prisma/client';
import { ProfilesService, type RunBatches, type Tx } from '../profiles/profiles.service';
import { ACTIVE_RUN, TERMINAL_JOB, jobOutcome } from '../common/run-status';
import { isTransientDbError, STORE_ATTEMPTS, STORE_RETRY_BASE_MS, withDbRetry } from '../prisma/transient';
import { GatedWrites, type ProfileWrite } from './gated-writes';
import { RunStarts } from './run-starts';
import { RunEnds } from './run-ends';
import { isOwnActiveRun } from './own-run';
import { storableDate } from '../common/sanitize';
import { ResultStores } from '../common/result-stores';
import { leaveToAgent, StorageUnavailable, type DeliveryOrigin } from './delivery';
import { ControllerMetrics } from '../metrics/controller-metrics';
import { orAfter } from '../common/or-after';

/** Batches of one run stored by one write at most. */
const MAX_COALESCED_BATCHES = 64;
/** Runs whose waiting batches one write stores at most (GatedWrites). */
const MAX_RUNS_PER_WRITE = 64;

interface ProfileBuffer {
  nodeId: string;
  origin: DeliveryOrigin | undefined;
  batches: ProfileBatch[];
  stored: Promise<boolean>;
}

/** The telling line of an error (Prisma puts the cause last). */
const errorSummary = (err: unknown): string => (err instanceof Error ? err.message : String(err)).trim().split('\n').filter(Boolean).at(-1) ?? 'unknown error';

/**
 * A run's life on the controller side: what the agent reports (started,
 * batches, finished) and what the controller decides (node lost, deadline
 * passed). Messages of one run are applied strictly in arrival order.
 *
 * Each on* method resolves true once the message is applied for good (stored, a duplicate dropped, or
 * refused and counted): the agent may then forget it (AgentGateway acknowledges it). False: it was not
 * applied because storage is unavailable (the origin's session is ended; the agent sends it again).
 */
@Injectable()
export class RunsService {
  private readonly log = new Logger(RunsService.name);
  private readonly chains = new Map<string, Promise<boolean>>();
  /** Per run: profile batches waiting for one write, until that write starts. */
  private readonly openBuffers = new Map<string, ProfileBuffer>();
  /** Profile batches of many runs waiting for a storage slot, written together. */
  private readonly writes: GatedWrites<ProfileWrite>;
  private readonly starts: RunStarts;
  private readonly ends: RunEnds;

  constructor(
    private readonly prisma: PrismaService,
    private readonly profiles: ProfilesService,
    private readonly stores: ResultStores,
    @Optional() private readonly metrics?: ControllerMetrics,
  ) {
    this.writes = new GatedWrites<ProfileWrite>(prisma.storeGate, MAX_RUNS_PER_WRITE, (w, settle) => this.storeProfileWrites(w, settle));
    this.starts = new RunStarts(prisma);
    this.ends = new RunEnds(prisma, (runId) => this.profiles.forgetRun(runId), (jobId) => this.finalizeJob(jobId));
  }

  onEvent(nodeId: string, ev: RunEvent, origin?: DeliveryOrigin): Promise<boolean> {
    if (ev.kind === RunEventKind.RUN_EVENT_KIND_STARTED) {
      // Written with the other runs' starts that wait for a storage slot (run-starts.ts).
      return this.enqueue(ev.runId, origin, () => this.starts.start({ nodeId, runId: ev.runId, at: storableDate(ev.atUnixMs) }));
    }
    return this.enqueue(ev.runId, origin, this.gated(async () => {
      const run = await this.ownRun(nodeId, ev.runId);
      if (!run) return;
      if (ev.kind === RunEventKind.RUN_EVENT_KIND_TARGET_EXITED) {
        await this.prisma.jobRun.update({ where: { id: run.id }, data: { targetExited: true } });
      }
    }));
  }

  /**
   * Profile batches of a run that arrive while an earlier write of that run is still under way wait
   * together and are stored as one write (counts summed per stack): under load a run's backlog costs
   * one statement instead of one per batch. Runs waiting at the same time are written together too
   * (ProfileWrites: many agents sending a batch each).
   */
  onBatch(nodeId: string, batch: ProfileBatch, origin?: DeliveryOrigin): Promise<boolean> {
    const open = this.openBuffers.get(batch.runId);
    if (open && open.nodeId === nodeId && open.origin === origin && open.batches.length < MAX_COALESCED_BATCHES) {
      open.batches.push(batch);
      return open.stored;
    }
    const buffer: ProfileBuffer = { nodeId, origin, batches: [batch], stored: Promise.resolve(true) };
    this.openBuffers.set(batch.runId, buffer);
    buffer.stored = this.enqueue(
      batch.runId,
      origin,
      // The whole write (the runs' rows, the store, the counters) holds one of the storage gate's
      // connections: results never take the connections kept for heartbeats, dispatch and the API.
      () =>
        this.writes.write({ nodeId, runId: batch.runId, origin, batches: buffer.batches }, () => {
          if (this.openBuffers.get(batch.runId) === buffer) this.openBuffers.delete(batch.runId);
        }),
      { keepBuffer: true },
    );
    return buffer.stored;
  }

  /**
   * Stores what several runs have waiting (ProfileWrites): one read of their rows, one statement for
   * all. If that statement still fails after its retries on a transient error (the database away),
   * every run's batches go the way of a failed store (left to the agent, or counted as not stored); on
   * any other error (one run's bad data, say) each run is stored alone, so a failure stays that run's.
   */
  private async storeProfileWrites(writes: ProfileWrite[], settle: (i: number, err?: unknown) => void): Promise<void> {
    const runs = await this.ownRuns(writes);
    const items = writes.flatMap((w, i) => (runs[i] ? [{ i, w, run: runs[i], ...seqProgress(runs[i].lastSeq, w.batches) }] : []));
    const batchesOf = (x: (typeof items)[number]): RunBatches => ({
      jobId: x.run.jobId,
      runId: x.run.id,
      batches: x.fresh,
      progress: { lastSeq: x.lastSeq, batches: x.fresh.length, gaps: x.gaps },
    });
    const together = items.filter((x) => x.fresh.length > 0);
    let kept: Map<string, bigint | null> | undefined;
    let downErr: unknown;
    if (together.length > 1) {
      const started = process.hrtime.bigint();
      try {
        kept = await this.retried(`${together.length} runs`, together.reduce((a, x) => a + x.fresh.length, 0), () => this.profiles.ingestMany(together.map(batchesOf)));
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        for (const x of together) {
          const n = kept.get(x.run.id);
          if (typeof n === 'bigint') this.metrics?.recordStored(x.fresh.length, n, seconds);
        }
      } catch (err) {
        if (isTransientDbError(err)) downErr = err;
        else this.log.warn(`storing the batches of ${together.length} runs together failed (${errorSummary(err)}); each run is stored alone`);
      }
    }
    for (const x of items) {
      try {
        let added: bigint | null | undefined = kept?.get(x.run.id);
        if (x.fresh.length > 0 && kept === undefined) {
          added =
            downErr === undefined
              ? await this.stored(x.run.id, x.fresh.length, x.lastSeq, x.gaps, x.w.origin, () => this.profiles.ingestMany([batchesOf(x)]).then((m) => m.get(x.run.id)!))
              : await this.notStored(x.run.id, x.fresh.length, x.lastSeq, x.gaps, x.w.origin, downErr);
        }
        // null: another writer had stored them (its claim came first)
        const duplicates = x.duplicates + (added === null ? x.fresh.length : 0);
        if (duplicates > 0) await this.countDuplicates(x.run.id, duplicates);
        settle(x.i);
      } catch (err) {
        settle(x.i, err);
      }
    }
  }

  /** Batches that arrived again after they were stored: dropped, and counted on the run. */
  private async countDuplicates(runId: string, n: number): Promise<void> {
    this.log.warn(`run ${runId}: ${n} batch(es) that were already stored arrived again; dropped`);
    await withDbRetry(() => this.prisma.jobRun.update({ where: { id: runId }, data: { duplicatesDropped: { increment: n } } }), {
      attempts: STORE_ATTEMPTS,
      baseDelayMs: STORE_RETRY_BASE_MS,
    });
  }

  /**
   * A job type's result (common/result-stores.ts): a numbered batch goes through applyBatch (order,
   * duplicates, gaps, retries, counts), a report is stored in the run's order. Undefined when no type
   * stores this message.
   */
  onResult<T extends { runId: string; seq?: bigint }>(nodeId: string, msgCase: string, msg: T, origin?: DeliveryOrigin): Promise<boolean> | undefined {
    const batch = this.stores.batchStore(msgCase);
    if (batch && msg.seq !== undefined) return this.applyBatch(nodeId, msg.runId, msg.seq, origin, (run, tx) => batch(run, msg as never, tx));
    const report = this.stores.reportStore(msgCase);
    if (!report) return undefined;
    return this.enqueue(msg.runId, origin, async () => {
      const run = await this.ownRun(nodeId, msg.runId);
      if (run) await report(run, msg as never);
    });
  }

  /**
   * Stores one numbered batch of a run: a repeated seq is dropped and counted, a skipped one is counted
   * as a gap; `store` writes inside the transaction that claims the seq and returns how many samples or
   * events it kept. The claim (the run's seq moves only forward) makes a batch stored once whoever
   * sends it again, and the counters move in the same transaction.
   */
  private applyBatch(
    nodeId: string,
    runId: string,
    seq: bigint,
    origin: DeliveryOrigin | undefined,
    store: (run: { id: string; jobId: string }, tx: Tx) => Promise<bigint>,
  ): Promise<boolean> {
    return this.enqueue(runId, origin, () => this.prisma.storeGate.run(() => this.applyBatchNow(nodeId, runId, seq, origin, store)));
  }

  private async applyBatchNow(
    nodeId: string,
    runId: string,
    seq: bigint,
    origin: DeliveryOrigin | undefined,
    store: (run: { id: string; jobId: string }, tx: Tx) => Promise<bigint>,
  ): Promise<void> {
    const run = await this.ownRun(nodeId, runId);
    if (!run) return;
    const gaps = seq !== run.lastSeq + 1n ? 1 : 0;
    const kept =
      seq <= run.lastSeq
        ? null
        : await this.stored(run.id, 1, seq, gaps, origin, () =>
            this.prisma.$transaction(
              async (tx) => {
                const claimed = await tx.$executeRaw`UPDATE "JobRun" SET "lastSeq" = ${String(seq)}::bigint WHERE "id" = ${run.id}::uuid AND "lastSeq" < ${String(seq)}::bigint`;
                if (claimed === 0) return null;
                const n = await store(run, tx);
                await tx.jobRun.update({
                  where: { id: run.id },
                  data: { batchesReceived: { increment: 1 }, samplesReceived: { increment: n }, ...(gaps ? { seqGaps: { increment: gaps } } : {}) },
                });
                return n;
              },
              { timeout: 120_000, maxWait: 30_000 },
            ),
          );
    if (kept === null) await this.countDuplicates(run.id, 1);
  }

  /**
   * Runs one atomic store of `batches` batches (ending at `lastSeq`; the caller holds a storage gate
   * slot), again after transient database errors. When every attempt fails the batches are not silently gone: the
   * run counts them as not stored, with the error, its seq moves past them (they are not a link gap),
   * and their samples show as lost when the run finishes, which makes the job partial. Returns what
   * `store` returned, or undefined when it never succeeded.
   */
  private async stored<T>(runId: string, batches: number, lastSeq: bigint, gaps: number, origin: DeliveryOrigin | undefined, store: () => Promise<T>): Promise<T | undefined> {
    const started = process.hrtime.bigint();
    let kept: T;
    try {
      // Called inside the storage gate (onBatch, applyBatch).
      kept = await this.retried(`run ${runId}`, batches, store);
    } catch (err) {
      return this.notStored(runId, batches, lastSeq, gaps, origin, err);
    }
    // null: another writer had claimed them (duplicates, counted by the caller).
    if (typeof kept === 'bigint') this.metrics?.recordStored(batches, kept, Number(process.hrtime.bigint() - started) / 1e9);
    return kept;
  }

  /** `store`, again after transient database errors (STORE_ATTEMPTS in all); the last error is thrown. */
  private retried<T>(what: string, batches: number, store: () => Promise<T>): Promise<T> {
    return withDbRetry(store, {
      attempts: STORE_ATTEMPTS,
      baseDelayMs: STORE_RETRY_BASE_MS,
      onRetry: (err, attempt, delayMs) => {
        this.metrics?.storeRetries.inc();
        this.log.warn(`${what}: storing ${batches} batch(es) failed (attempt ${attempt}): ${errorSummary(err)}; again in ${delayMs} ms`);
      },
    });
  }

  /**
   * Batches whose store failed for good (`err`): left to the agent, which sends them again (StorageUnavailable
   * is thrown), or counted on the run as not stored (undefined is returned).
   */
  private async notStored(runId: string, batches: number, lastSeq: bigint, gaps: number, origin: DeliveryOrigin | undefined, err: unknown): Promise<undefined> {
    const why = errorSummary(err);
    const leftToAgent = leaveToAgent(err, origin);
    this.metrics?.storeFailures.inc({ outcome: leftToAgent ? 'left_to_agent' : 'not_stored' });
    if (leftToAgent) {
      // The agent keeps them and sends them again (acknowledged delivery): nothing is lost or counted.
      this.log.warn(`run ${runId}: ${batches} batch(es) up to seq ${lastSeq} not stored yet (${why}); left to the agent, which sends them again`);
      throw new StorageUnavailable(`storing results failed: ${why}`);
    }
    this.log.error(`run ${runId}: ${batches} batch(es) up to seq ${lastSeq} could not be stored: ${why}`);
    await withDbRetry(
      () =>
        this.prisma.jobRun.update({
          where: { id: runId },
          data: { lastSeq, batchesNotStored: { increment: batches }, storeError: why.slice(0, 500), ...(gaps ? { seqGaps: { increment: gaps } } : {}) },
        }),
      { attempts: STORE_ATTEMPTS, baseDelayMs: STORE_RETRY_BASE_MS },
    );
    return undefined;
  }

  onFinished(nodeId: string, fin: RunFinished, origin?: DeliveryOrigin): Promise<boolean> {
    // Written with the other runs' ends that wait for a storage slot (run-ends.ts).
    return this.enqueue(fin.runId, origin, () => this.ends.end({ nodeId, fin }));
  }

  /**
   * Active runs of a node fail with the reason (its agent went away). `sessionId`: only the runs
   * started on that session; `notSessionId`: only runs started on another session; `startedOnly`:
   * not the pending ones (a pending run still follows the node to a new session).
   */
  async failNodeRuns(nodeId: string, reason: string, opts: { sessionId?: string; notSessionId?: string; startedOnly?: boolean } = {}): Promise<string[]> {
    const where: Prisma.JobRunWhereInput = { nodeId, status: { in: opts.startedOnly ? ['dispatched', 'running'] : [...ACTIVE_RUN] } };
    if (opts.sessionId) where.sessionId = opts.sessionId;
    if (opts.notSessionId) where.AND = [{ sessionId: { not: null } }, { sessionId: { not: opts.notSessionId } }];
    const runs = await this.prisma.jobRun.findMany({ where, select: { id: true, jobId: true } });
    await this.failRuns(runs, reason);
    return runs.map((r) => r.id);
  }

  /** These runs fail with the reason (those still active), and their jobs end once no run is active. */
  async failRuns(runs: { id: string; jobId: string }[], reason: string): Promise<void> {
    for (const r of runs) {
      await this.enqueue(r.id, undefined, async () => {
        await this.failRun(r.id, reason);
        await this.finalizeJob(r.jobId);
      });
    }
  }

  /** Runs of a node waiting to be started. */
  async pendingRunIds(nodeId: string): Promise<string[]> {
    return (await this.pendingRunIdsOf([nodeId])).get(nodeId) ?? [];
  }

  /** The pending runs of many nodes in one read (a fleet registering at once), by node id. */
  async pendingRunIdsOf(nodeIds: string[]): Promise<Map<string, string[]>> {
    const runs = await this.prisma.jobRun.findMany({ where: { nodeId: { in: nodeIds }, status: 'pending' }, select: { id: true, nodeId: true } });
    const out = new Map<string, string[]>();
    for (const r of runs) {
      const ids = out.get(r.nodeId);
      if (ids) ids.push(r.id);
      else out.set(r.nodeId, [r.id]);
    }
    return out;
  }

  /** Runs still active past their deadline fail (not the `spared` ones); returns the ids of those runs. */
  async expireJob(jobId: string, reason: string, spared: string[] = []): Promise<string[]> {
    const runs = await this.prisma.jobRun.findMany({ where: { jobId, status: { in: [...ACTIVE_RUN] }, id: { notIn: spared } }, select: { id: true } });
    for (const r of runs) await this.enqueue(r.id, undefined, () => this.failRun(r.id, reason));
    await this.finalizeJob(jobId);
    return runs.map((r) => r.id);
  }

  async failRun(runId: string, reason: string): Promise<void> {
    await this.prisma.jobRun.updateMany({
      where: { id: runId, status: { in: [...ACTIVE_RUN] } },
      data: { status: 'failed', reason, finishedAt: new Date() },
    });
  }

  /** Once no run is active, the job takes its end state from its runs. */
  async finalizeJob(jobId: string): Promise<void> {
    // Every run that ends asks; only the last finds none active and reads them all (a job over thousands
    // of nodes would otherwise read all its runs once per run).
    const active = await this.prisma.jobRun.findFirst({ where: { jobId, status: { in: [...ACTIVE_RUN] } }, select: { id: true } });
    if (active) return;
    const runs = await this.prisma.jobRun.findMany({ where: { jobId }, include: { node: { select: { name: true } } } });
    if (runs.some((r) => (ACTIVE_RUN as readonly string[]).includes(r.status))) return;
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { stoppedBy: true } });
    const outcome = jobOutcome(
      runs.map((r) => ({ status: r.status, reason: r.reason, nodeName: r.node.name, lostData: r.samplesLostTransit > 0n || r.batchesNotStored > 0 })),
      job?.stoppedBy,
    );
    await this.prisma.job.updateMany({
      where: { id: jobId, status: { notIn: [...TERMINAL_JOB] } },
      data: { status: outcome.status, reason: outcome.reason, finishedAt: new Date() },
    });
  }

  /**
   * `work` holding a storage gate slot: a run's events and its end are results too, and thousands of
   * runs ending at once (a job over the whole fleet) must not queue thousands of statements in the pool
   * ahead of dispatch and heartbeats.
   */
  private gated(work: () => Promise<void>): () => Promise<void> {
    return () => this.prisma.storeGate.run(work);
  }

  /** Waits until every message received so far (any run) has been applied; false when timeoutMs passed first. */
  async idle(timeoutMs: number): Promise<boolean> {
    const all = Promise.all([...this.chains.values()]).then(() => true);
    return orAfter(all, timeoutMs, () => false);
  }

  /** Waits until every message received so far for the run has been applied. */
  async settled(runId: string): Promise<void> {
    await this.chains.get(runId);
  }

  /**
   * Chains `work` after everything queued for the run. Any other message than a profile batch closes
   * the run's open batch buffer, so batches arriving after it are stored after it too. Resolves whether
   * the work was applied for good (see the class comment): a failure storage may get over, from a
   * session with acknowledged delivery, marks that session unavailable and skips the rest of its work.
   */
  private enqueue(runId: string, origin: DeliveryOrigin | undefined, work: () => Promise<void>, opts: { keepBuffer?: boolean } = {}): Promise<boolean> {
    if (!opts.keepBuffer) this.openBuffers.delete(runId);
    const prev = this.chains.get(runId) ?? Promise.resolve(true);
    const next = prev.then(async () => {
      if (origin?.unavailable) return false;
      try {
        await work();
        return true;
      } catch (err) {
        if (leaveToAgent(err, origin)) {
          origin!.unavailable ??= errorSummary(err);
          return false;
        }
        // A definitive failure (a bug, a constraint): logged; the message is not asked for again.
        this.log.error(`run ${runId}: ${(err as Error).stack ?? String(err)}`);
        return true;
      }
    });
    this.chains.set(runId, next);
    void next.then(() => {
      if (this.chains.get(runId) === next) this.chains.delete(runId);
    });
    return next;
  }

  /** The run, if it exists and belongs to this node: an agent may report only on its own runs. */
  private async ownRun(nodeId: string, runId: string): Promise<OwnRun | undefined> {
    return (await this.ownRuns([{ nodeId, runId }]))[0];
  }

  /** ownRun of each (one read for all). */
  private async ownRuns(of: { nodeId: string; runId: string }[]): Promise<(OwnRun | undefined)[]> {
    const ids = [...new Set(of.map((o) => o.runId).filter((id) => /^[0-9a-f-]{36}$/i.test(id)))];
    const rows =
      ids.length === 0
        ? []
        : await withDbRetry(
            () => this.prisma.jobRun.findMany({ where: { id: { in: ids } }, select: { id: true, jobId: true, nodeId: true, lastSeq: true, status: true } }),
            { attempts: STORE_ATTEMPTS, baseDelayMs: STORE_RETRY_BASE_MS },
          );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return of.map(({ nodeId, runId }) => {
      const run = byId.get(runId);
      return isOwnActiveRun(this.log, nodeId, runId, run) ? run : undefined;
    });
  }
}

/** A run an agent may report on (ownRun). */
interface OwnRun {
  id: string;
  jobId: string;
  lastSeq: bigint;
}

/**
 * What a run's batches do to its seq, in order: the ones at or below the seq reached are duplicates, the
 * rest are fresh, a jump past the next seq counts as a gap; lastSeq is where the fresh ones end.
 */
function seqProgress(reached: bigint, batches: ProfileBatch[]): { fresh: ProfileBatch[]; lastSeq: bigint; gaps: number; duplicates: number } {
  let lastSeq = reached;
  let gaps = 0;
  let duplicates = 0;
  const fresh: ProfileBatch[] = [];
  for (const b of batches) {
    if (b.seq <= lastSeq) {
      duplicates++;
      continue;
    }
    if (b.seq !== lastSeq + 1n) gaps++;
    lastSeq = b.seq;
    fresh.push(b);
  }
  return { fresh, lastSeq, gaps, duplicates };
}
