import { TERMINAL_JOB } from '../common/run-status';
import { endStatus, pauseUnlessAborted, runSse, sseMessage, type SseSink } from '../common/sse';
import type { JobView, RunView } from './job.view';

/**
 * GET /jobs/:id/progress: the longest a running job's stream stays silent, and how often it reads the job
 * from PostgreSQL. Two polls make 900 ms: the message due every second goes out with 100 ms to spare for
 * the read's own time (at 500 ms a read a few ms slower than the last put a gap past the second).
 */
export const PROGRESS_EVERY_MS = 1000;
export const PROGRESS_POLL_MS = 450;

/** RunView fields a job type adds (job-types/registry.ts `view.run`); progress carries their numeric counters. */
const TYPE_RUN_PARTS = ['ssl'] as const satisfies readonly (keyof RunView)[];
type TypeRunPart = (typeof TYPE_RUN_PARTS)[number];

/** What progress is built from: the job view (JobsService.get) without what it does not show. */
export type ProgressInput = Pick<JobView, 'id' | 'type' | 'status' | 'reason' | 'stoppedBy' | 'createdAt' | 'startedAt' | 'finishedAt' | 'startAt' | 'params' | 'totals'> & {
  runs: Pick<
    RunView,
    'node' | 'status' | 'reason' | 'samplesTaken' | 'samplesStored' | 'samplesDroppedKernel' | 'samplesDroppedAgent' | 'samplesLostTransit' | 'batchesReceived' | 'startedAt' | 'finishedAt' | TypeRunPart
  >[];
};

export type NodeProgress = {
  node: string;
  status: string;
  reason: string | null;
  samplesTaken: number;
  samplesStored: number;
  /** Dropped in the kernel, dropped in the agent, and lost between agent and storage. */
  dropped: number;
  batchesReceived: number;
  startedAt: string | null;
  finishedAt: string | null;
} & Partial<Record<TypeRunPart, Record<string, number>>>;

/** One `event: progress`. Params never: they may hold what only the capture scope sees (redactPatterns). */
export interface JobProgress {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  stoppedBy: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Seconds since the job started (its startAt, else its startedAt) until it finished or now; null before. */
  elapsedSec: number | null;
  /** Of durationSec; null before the job started and once it has ended. */
  remainingSec: number | null;
  totals: JobView['totals'];
  nodes: NodeProgress[];
}

export const isTerminalJob = (status: string): boolean => (TERMINAL_JOB as readonly string[]).includes(status);

const tenths = (ms: number): number => Math.round(ms / 100) / 10;

/** The progress of a job at `now` (ms since the epoch). */
export function toProgress(job: ProgressInput, now: number): JobProgress {
  const duration = (job.params as { durationSec?: unknown } | null)?.durationSec;
  const from = job.startAt ?? job.startedAt;
  const terminal = isTerminalJob(job.status);
  const until = job.finishedAt !== null ? Date.parse(job.finishedAt) : now;
  const elapsedMs = from === null ? null : Math.max(0, until - Date.parse(from));
  const remainingSec = terminal || elapsedMs === null || typeof duration !== 'number' ? null : Math.max(0, tenths(duration * 1000 - elapsedMs));
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    reason: job.reason,
    stoppedBy: job.stoppedBy,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    elapsedSec: elapsedMs === null ? null : tenths(elapsedMs),
    remainingSec,
    totals: { ...job.totals },
    nodes: job.runs.map((r) => ({
      node: r.node,
      status: r.status,
      reason: r.reason,
      samplesTaken: r.samplesTaken,
      samplesStored: r.samplesStored,
      dropped: r.samplesDroppedKernel + r.samplesDroppedAgent + r.samplesLostTransit,
      batchesReceived: r.batchesReceived,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      ...typeCounters(r),
    })),
  };
}

/** The numeric counters of the parts a job type adds to its runs (ssl-capture: events seen, sent, stored, ...). */
function typeCounters(r: Partial<Pick<RunView, TypeRunPart>>): Partial<Record<TypeRunPart, Record<string, number>>> {
  const out: Partial<Record<TypeRunPart, Record<string, number>>> = {};
  for (const part of TYPE_RUN_PARTS) {
    const v = r[part];
    if (v) out[part] = Object.fromEntries(Object.entries(v).filter(([, n]) => typeof n === 'number'));
  }
  return out;
}

/** What progress compares to decide whether something changed: everything but the clock's own fields. */
function changeKey(p: JobProgress): string {
  const { elapsedSec: _e, remainingSec: _r, ...rest } = p;
  return JSON.stringify(rest);
}

export interface ProgressSource {
  /** The job now; undefined once it no longer exists. */
  job(): Promise<ProgressInput | undefined>;
}

export interface ProgressOptions {
  pollMs: number;
  /** While the job runs, a message at least this often even when nothing changed. */
  everyMs: number;
  /** Aborted when the client goes away (or its token's streams are ended). */
  signal: AbortSignal;
  /** The clock and the wait between polls (specs give fake ones). */
  now?: () => number;
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Streams a job's progress: `event: progress` at once, then whenever a poll finds a change and, while the
 * job runs, at least every `everyMs`; once the job has ended a last `event: progress` with the final
 * numbers and `event: status` ({status, reason, finishedAt}), then the end. A job deleted meanwhile ends
 * the stream with status `deleted`. Polls keep a fixed cadence from their start (a slow read does not
 * stretch the interval) and stop as soon as the client goes away.
 */
export async function pumpProgress(source: ProgressSource, sink: SseSink, opts: ProgressOptions): Promise<{ sent: number; status: string }> {
  const now = opts.now ?? Date.now;
  const wait = opts.wait ?? pauseUnlessAborted;
  const { signal } = opts;
  let sent = 0;
  let status = 'aborted';
  const failure = (): Record<string, unknown> => ({ message: 'the progress stream failed on the controller; reconnect' });
  await runSse(sink, { retryMs: Math.max(1000, opts.pollMs * 2), signal, failure, now }, async (w) => {
    let lastKey: string | undefined;
    let lastSentAt = 0;
    let next = now();
    while (!signal.aborted) {
      const polledAt = now();
      const job = await source.job();
      if (signal.aborted) return;
      if (!job) {
        status = 'deleted';
        await w.write(sseMessage('status', endStatus(undefined)));
        return;
      }
      const terminal = isTerminalJob(job.status);
      const progress = toProgress(job, now());
      const key = changeKey(progress);
      // Polls start pollMs apart: the message due by everyMs goes out at the last poll that starts before it is due.
      if (terminal || key !== lastKey || polledAt - lastSentAt >= opts.everyMs - opts.pollMs / 2) {
        await w.write(sseMessage('progress', progress));
        sent++;
        lastKey = key;
        lastSentAt = polledAt;
      }
      if (terminal) {
        status = job.status;
        await w.write(sseMessage('status', endStatus({ terminal, status: job.status, reason: job.reason, finishedAt: job.finishedAt })));
        return;
      }
      next = Math.max(next + opts.pollMs, now());
      await wait(next - now(), signal);
    }
  });
  return { sent, status };
}
