import { setTimeout as sleep } from 'node:timers/promises';

/** Where an event stream writes: an HTTP response. write() returns false when the socket buffer is full. */
export interface SseSink {
  write(chunk: string): boolean;
  drained(): Promise<void>;
  end(): void;
}

/** A job as a stream sees it: `terminal` once it has ended (every run reported or failed). */
export interface StreamJobState {
  terminal: boolean;
  status: string;
  reason: string | null;
  finishedAt: string | null;
}

/** One message: an optional `id:`, the event name, and the data as one line of JSON. */
export function sseMessage(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The data of a stream's last message, `event: status`: how the job ended, or `deleted` once it is gone. */
export function endStatus(job: StreamJobState | undefined): { status: string; reason: string | null; finishedAt: string | null } {
  return job ? { status: job.status, reason: job.reason, finishedAt: job.finishedAt } : { status: 'deleted', reason: 'the job no longer exists', finishedAt: null };
}

/** Resolves after ms, or at once when the client has gone away. */
export const pauseUnlessAborted = (ms: number, signal: AbortSignal): Promise<void> => sleep(ms, undefined, { signal }).then(
  () => undefined,
  () => undefined,
);

/**
 * Writes one stream. A full socket buffer makes write() wait until it drains (or the client leaves), so a
 * slow client slows the stream's polling instead of the controller buffering without bound.
 */
export class SseWriter {
  /** When something was last written (the clock of `now`). */
  lastWrite: number;

  constructor(
    private readonly sink: SseSink,
    private readonly signal: AbortSignal,
    private readonly now: () => number = Date.now,
  ) {
    this.lastWrite = now();
  }

  async write(chunk: string): Promise<void> {
    this.lastWrite = this.now();
    if (!this.sink.write(chunk)) await drainedOrAborted(this.sink, this.signal);
  }
}

export interface SseRunOptions {
  /** How long an EventSource waits before it reconnects: the stream's first line. */
  retryMs: number;
  signal: AbortSignal;
  /** The data of the `event: error` sent when the stream fails after its headers went out. */
  failure: () => Record<string, unknown>;
  now?: () => number;
}

/**
 * Runs a stream's body on a sink: `retry:` first; on a failure an `event: error` (the headers are out:
 * the stream is the only place an EventSource client sees it) and the error rethrown; the sink ended on
 * every way out.
 */
export async function runSse<T>(sink: SseSink, opts: SseRunOptions, body: (w: SseWriter) => Promise<T>): Promise<T> {
  const w = new SseWriter(sink, opts.signal, opts.now);
  try {
    await w.write(`retry: ${opts.retryMs}\n\n`);
    return await body(w);
  } catch (err) {
    if (!opts.signal.aborted) sink.write(sseMessage('error', opts.failure()));
    throw err;
  } finally {
    sink.end();
  }
}

function drainedOrAborted(sink: SseSink, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    void sink.drained().then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
