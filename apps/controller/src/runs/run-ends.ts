import { Logger } from '@nestjs/common';
import type { RunFinished } from '@tracefleet/proto';
import type { PrismaService } from '../prisma/prisma.service';
import { UUID_RE } from '../common/ids';
import { isTransientDbError, STORE_ATTEMPTS, STORE_RETRY_BASE_MS, withDbRetry } from '../prisma/transient';
import { GatedWrites } from './gated-writes';
import { isOwnActiveRun } from './own-run';
import { unwindStatsOf } from './unwind-stats';

/** One agent's RunFinished for its run. */
export interface RunEnd {
  nodeId: string;
  fin: RunFinished;
}

/** What a run's row holds that its end is computed from. */
export interface EndingRun {
  id: string;
  jobId: string;
  nodeId: string;
  status: string;
  samplesReceived: bigint;
  eventsRefused: bigint;
  lastSeq: bigint;
  batchesReceived: number;
  batchesNotStored: number;
  storeError: string | null;
  targetExited: boolean;
  samplesTaken: bigint;
  samplesDroppedKernel: bigint;
  samplesDroppedAgent: bigint;
}

/** The columns a RunFinished sets on its run. */
export interface RunEndUpdate {
  status: 'completed' | 'failed';
  reason: string | null;
  targetExited: boolean;
  samplesTaken: bigint;
  samplesDroppedKernel: bigint;
  samplesDroppedAgent: bigint;
  samplesLostTransit: bigint;
  batchesSpooled: bigint;
  batchesOverflowed: bigint;
  /** JSON text; null keeps what the column holds (a run without user stacks has nothing to show). */
  unwindStats: string | null;
}

/** Ends one statement writes at most. */
const MAX_ENDS_PER_WRITE = 500;

/**
 * A run's end from what the agent reports and what arrived: lost in transit is what the agent sent and
 * the controller neither stored nor refused past the job's limits; the reason lists what went wrong.
 */
export function endUpdate(fin: RunFinished, run: EndingRun): RunEndUpdate {
  const arrived = run.samplesReceived + run.eventsRefused;
  const lost = fin.samplesSent > arrived ? fin.samplesSent - arrived : 0n;
  const notes: string[] = [];
  if (fin.reason) notes.push(fin.reason);
  if (fin.lastSeq !== run.lastSeq) notes.push(`agent sent ${fin.lastSeq} batches, ${run.batchesReceived} arrived`);
  if (run.batchesNotStored > 0) notes.push(`${run.batchesNotStored} batch(es) could not be stored (${run.storeError ?? 'database error'})`);
  if (fin.batchesOverflowed > 0n) notes.push(`${fin.batchesOverflowed} batch(es) were dropped on the node: its spool was full while the controller could not be reached`);
  if (lost > 0n) notes.push(`${lost} sample(s) or event(s) sent by the agent were not stored`);
  const unwind = unwindStatsOf(fin.unwind);
  return {
    status: fin.ok ? 'completed' : 'failed',
    reason: notes.join('; ') || null,
    targetExited: fin.targetExited || run.targetExited,
    // A report that came before (SslReport) may already hold these; zeros do not erase it.
    samplesTaken: fin.samplesTaken || run.samplesTaken,
    samplesDroppedKernel: fin.samplesDroppedKernel || run.samplesDroppedKernel,
    samplesDroppedAgent: fin.samplesDroppedAgent || run.samplesDroppedAgent,
    samplesLostTransit: lost,
    batchesSpooled: fin.batchesSpooled,
    batchesOverflowed: fin.batchesOverflowed,
    unwindStats: unwind ? JSON.stringify(unwind) : null,
  };
}

/**
 * RunFinished of many runs written together. A job ends on every node at once, and each end cost four
 * statements (the run's row read twice, its update, the job's "any run still active?"): 8,000 for a job
 * over 2,000 nodes. Here the ends that wait for a storage slot take one read of their rows, one update,
 * and one check per job (`finalize`). A statement that fails on anything but a transient error is
 * retried run by run, so one run's bad end stays its own. An end is applied only to the reporting node's
 * own active run, as every agent message is.
 */
export class RunEnds {
  private readonly log = new Logger('RunEnds');
  private readonly writes: GatedWrites<RunEnd>;

  constructor(
    private readonly prisma: PrismaService,
    /** After its runs' ends are written: forget what was kept for the run (its profile id). */
    private readonly ended: (runId: string) => void,
    /** Once per job with a run ended: the job takes its end state if no run of it is active. */
    private readonly finalize: (jobId: string) => Promise<void>,
  ) {
    this.writes = new GatedWrites<RunEnd>(prisma.storeGate, MAX_ENDS_PER_WRITE, (ends, settle) => this.writeMany(ends, settle));
  }

  /** Applies `e` with the other ends waiting; rejects with the write's error (the caller's retry rules apply). */
  end(e: RunEnd): Promise<void> {
    if (!UUID_RE.test(e.fin.runId)) {
      isOwnActiveRun(this.log, e.nodeId, e.fin.runId, undefined); // no such run: says so
      return Promise.resolve();
    }
    return this.writes.write(e);
  }

  private async writeMany(ends: RunEnd[], settle: (i: number, err?: unknown) => void): Promise<void> {
    try {
      await this.apply(ends);
    } catch (err) {
      if (ends.length === 1 || isTransientDbError(err)) throw err;
      this.log.warn(`ending ${ends.length} runs together failed (${(err as Error).message?.split('\n')[0]}); each run is ended alone`);
      for (let i = 0; i < ends.length; i++) {
        try {
          await this.apply([ends[i]]);
          settle(i);
        } catch (one) {
          settle(i, one);
        }
      }
    }
  }

  private async apply(ends: RunEnd[]): Promise<void> {
    const ids = [...new Set(ends.map((e) => e.fin.runId.toLowerCase()))];
    const rows = await withDbRetry(
      () =>
        this.prisma.jobRun.findMany({
          where: { id: { in: ids } },
          select: {
            id: true, jobId: true, nodeId: true, status: true, samplesReceived: true, eventsRefused: true, lastSeq: true, batchesReceived: true,
            batchesNotStored: true, storeError: true, targetExited: true, samplesTaken: true, samplesDroppedKernel: true, samplesDroppedAgent: true,
          },
        }),
      { attempts: STORE_ATTEMPTS, baseDelayMs: STORE_RETRY_BASE_MS },
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const updates: (RunEndUpdate & { id: string })[] = [];
    const jobs = new Set<string>();
    for (const { nodeId, fin } of ends) {
      const run = byId.get(fin.runId.toLowerCase());
      if (!isOwnActiveRun(this.log, nodeId, fin.runId, run)) continue;
      updates.push({ id: run.id, ...endUpdate(fin, run) });
      jobs.add(run.jobId);
    }
    if (updates.length > 0) {
      const col = <K extends keyof RunEndUpdate>(k: K) => updates.map((u) => u[k]);
      const big = (k: 'samplesTaken' | 'samplesDroppedKernel' | 'samplesDroppedAgent' | 'samplesLostTransit' | 'batchesSpooled' | 'batchesOverflowed') =>
        col(k).map(String);
      // finishedAt: this process's clock as UTC text into timestamp(3), as the ORM writes it.
      await this.prisma.$executeRaw`
        UPDATE "JobRun" j SET "status" = u.status::"RunStatus", "reason" = u.reason, "targetExited" = u.te, "samplesTaken" = u.taken,
          "samplesDroppedKernel" = u.dk, "samplesDroppedAgent" = u.da, "samplesLostTransit" = u.lost, "batchesSpooled" = u.spooled,
          "batchesOverflowed" = u.overflowed, "unwindStats" = COALESCE(u.unwind::jsonb, j."unwindStats"),
          "finishedAt" = ${new Date().toISOString()}::timestamp(3)
        FROM unnest(${updates.map((u) => u.id)}::uuid[], ${col('status')}::text[], ${col('reason')}::text[], ${col('targetExited')}::boolean[],
          ${big('samplesTaken')}::bigint[], ${big('samplesDroppedKernel')}::bigint[], ${big('samplesDroppedAgent')}::bigint[],
          ${big('samplesLostTransit')}::bigint[], ${big('batchesSpooled')}::bigint[], ${big('batchesOverflowed')}::bigint[],
          ${col('unwindStats')}::text[]) AS u(id, status, reason, te, taken, dk, da, lost, spooled, overflowed, unwind)
        WHERE j."id" = u.id AND j."status" IN ('pending', 'dispatched', 'running')`;
    }
    for (const u of updates) this.ended(u.id);
    for (const jobId of jobs) await this.finalize(jobId);
  }
}
