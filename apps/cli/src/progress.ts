/**
 * Following a job: GET /jobs/:id/progress (Server-Sent Events: `event: progress` with per-node state
 * and counters, then `event: status`, then the end), shown on stderr as per-node bars on a terminal, or
 * as plain lines (one per change of state, not per tick) when stderr is not one.
 */
import { MultiBar, type SingleBar } from 'cli-progress';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, type ApiClient } from './api';
import { CliError, clean, isTerminal, type Io } from './output';

export interface NodeProgress {
  node: string;
  status: string;
  reason: string | null;
  samplesTaken: number;
  samplesStored: number;
  dropped: number;
  batchesReceived: number;
  startedAt: string | null;
  finishedAt: string | null;
  ssl?: Record<string, number>;
}

export interface JobProgress {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  elapsedSec: number | null;
  remainingSec: number | null;
  totals?: Record<string, number>;
  nodes: NodeProgress[];
}

export interface EndStatus {
  status: string;
  reason: string | null;
  finishedAt?: string | null;
}

export interface ProgressView {
  update(p: JobProgress): void;
  /** Stops drawing while the CLI asks a question; resume() draws again. */
  pause(): void;
  resume(): void;
  stop(): void;
}

/** Per-node counters in a few words: samples for profiles, events for ssl-capture. */
export function counters(n: NodeProgress): string {
  if (n.ssl && typeof n.ssl.eventsSeen === 'number') return `${n.ssl.eventsSeen} events seen, ${n.ssl.eventsStored ?? 0} stored`;
  return `${n.samplesStored} samples${n.dropped ? `, ${n.dropped} dropped` : ''}`;
}

/** Lines for a non-terminal: the job's state and each node's state when they change, never per tick. */
export function plainView(io: Io, id: string): ProgressView {
  let jobStatus = '';
  const nodeStatus = new Map<string, string>();
  return {
    update(p) {
      if (p.status !== jobStatus) {
        jobStatus = p.status;
        io.err(`job ${clean(id)}: ${clean(p.status)}${p.reason ? ` (${clean(p.reason)})` : ''}\n`);
      }
      for (const n of p.nodes) {
        const key = `${n.status}|${n.reason ?? ''}`;
        if (nodeStatus.get(n.node) === key) continue;
        nodeStatus.set(n.node, key);
        io.err(`  ${clean(n.node)}: ${clean(n.status)}${n.reason ? ` (${clean(n.reason)})` : ''}, ${counters(n)}\n`);
      }
    },
    pause() {},
    resume() {},
    stop() {},
  };
}

/** Bars on a terminal: one for the job's clock, one per node with its state and counters. */
export function ttyView(id: string, durationSec: number | undefined, stream: NodeJS.WritableStream = process.stderr): ProgressView {
  let multi: MultiBar | undefined;
  let head: SingleBar | undefined;
  const bars = new Map<string, SingleBar>();
  let last: JobProgress | undefined;
  let paused = false;
  const total = Math.max(1, durationSec ?? 1);
  const start = (): void => {
    multi = new MultiBar(
      { stream: stream as NodeJS.WritableStream & { isTTY: boolean }, format: ' {label} {bar} {state} {info}', barsize: 20, hideCursor: true, clearOnComplete: false, autopadding: true, gracefulExit: false, fps: 5 },
      { barCompleteChar: '\u2588', barIncompleteChar: '\u2591', format: '' },
    );
    head = multi.create(total, 0, { label: `job ${clean(id).slice(0, 8)}`, state: 'queued', info: '' });
    bars.clear();
    if (last) draw(last);
  };
  const width = (): number => Math.min(32, Math.max(12, ...(last?.nodes ?? []).map((n) => clean(n.node).length)));
  const draw = (p: JobProgress): void => {
    if (!multi || !head) return;
    const elapsed = p.elapsedSec ?? 0;
    const clock = p.remainingSec !== null ? `${elapsed.toFixed(0)}s, ${p.remainingSec.toFixed(0)}s left` : p.elapsedSec !== null ? `${elapsed.toFixed(0)}s` : '';
    head.update(isTerminal(p.status) ? total : Math.min(total, elapsed), { label: `job ${clean(id).slice(0, 8)}`.padEnd(width()), state: clean(p.status), info: clock });
    for (const n of p.nodes) {
      let bar = bars.get(n.node);
      if (!bar) {
        bar = multi.create(total, 0, {});
        bars.set(n.node, bar);
      }
      const done = n.status === 'completed' || n.status === 'failed';
      const since = n.startedAt ? Math.max(0, ((n.finishedAt ? Date.parse(n.finishedAt) : Date.now()) - Date.parse(n.startedAt)) / 1000) : 0;
      bar.update(done ? total : Math.min(total, since), {
        label: clean(n.node).slice(0, 32).padEnd(width()),
        state: clean(n.status),
        info: `${counters(n)}${n.reason ? ` (${clean(n.reason).slice(0, 80)})` : ''}`,
      });
    }
  };
  start();
  return {
    update(p) {
      last = p;
      if (!paused) draw(p);
    },
    pause() {
      if (paused) return;
      paused = true;
      multi?.stop();
      multi = undefined;
    },
    resume() {
      if (!paused) return;
      paused = false;
      start();
    },
    stop() {
      if (last) draw(last);
      multi?.stop();
      multi = undefined;
      paused = true;
    },
  };
}

/** GET /jobs/:id (a JobView) as progress: what the fallback poll shows when a stream is refused (429). */
export function jobAsProgress(job: any): JobProgress {
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    reason: job.reason ?? null,
    elapsedSec: null,
    remainingSec: null,
    totals: job.totals,
    nodes: (job.runs ?? []).map((r: any) => ({
      node: r.node,
      status: r.status,
      reason: r.reason ?? null,
      samplesTaken: r.samplesTaken ?? 0,
      samplesStored: r.samplesStored ?? 0,
      dropped: (r.samplesDroppedKernel ?? 0) + (r.samplesDroppedAgent ?? 0) + (r.samplesLostTransit ?? 0),
      batchesReceived: r.batchesReceived ?? 0,
      startedAt: r.startedAt ?? null,
      finishedAt: r.finishedAt ?? null,
      ...(r.ssl ? { ssl: r.ssl } : {}),
    })),
  };
}

/**
 * Follows a job until it ends: its progress stream, reconnected when it drops before `event: status`
 * (a controller restart), or GET /jobs/:id each second when the token has too many streams open (429).
 */
export async function followJob(api: ApiClient, id: string, onProgress: (p: JobProgress) => void, signal: AbortSignal): Promise<EndStatus> {
  let failures = 0;
  let poll = false;
  for (;;) {
    if (signal.aborted) throw signal.reason ?? new Error('aborted');
    try {
      if (poll) {
        const job = await api.get(`/jobs/${encodeURIComponent(id)}`);
        onProgress(jobAsProgress(job));
        if (isTerminal(job.status)) return { status: job.status, reason: job.reason ?? null, finishedAt: job.finishedAt ?? null };
        await sleep(1000, undefined, { signal });
        continue;
      }
      for await (const ev of api.events(`/jobs/${encodeURIComponent(id)}/progress`, { signal })) {
        failures = 0;
        if (ev.event === 'progress') onProgress(JSON.parse(ev.data) as JobProgress);
        else if (ev.event === 'status') return JSON.parse(ev.data) as EndStatus;
        else if (ev.event === 'error') throw new CliError(`the progress stream of job ${id} failed: ${clean((JSON.parse(ev.data) as { message?: string }).message)}`);
      }
      // Ended before `event: status`: the controller went away mid-stream; reconnect a few times.
      if (++failures > 5) throw new CliError(`the progress stream of job ${id} keeps ending before the job does`);
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof ApiError && err.status === 429) {
        poll = true;
        continue;
      }
      if (err instanceof ApiError) throw err;
      if (++failures > 5) throw err;
    }
    await sleep(Math.min(5000, 500 * 2 ** failures), undefined, { signal });
  }
}
