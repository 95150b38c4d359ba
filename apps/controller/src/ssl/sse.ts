import { setTimeout as sleep } from 'node:timers/promises';

/** GET /jobs/:id/ssl-events/stream: how often it polls PostgreSQL, and the idle keepalive. */
export const STREAM_POLL_MS = 500;
export const STREAM_HEARTBEAT_MS = 15_000;

/** Where a live stream reads from: the database, so it works whichever replica stored the events. */
export interface SseSource<E extends { id: string }> {
  /** Up to `pageSize` events with id > after, oldest first. */
  fetch(after: bigint, pageSize: number): Promise<E[]>;
  /** The job's state; `terminal` once it has ended (every run reported or failed). Undefined: the job is gone. */
  job(): Promise<{ terminal: boolean; status: string; reason: string | null; finishedAt: string | null } | undefined>;
}

/** Where it writes: an HTTP response. write() returns false when the socket buffer is full. */
export interface SseSink {
  write(chunk: string): boolean;
  drained(): Promise<void>;
  end(): void;
}

export interface SseOptions {
  after: bigint;
  pollMs: number;
  heartbeatMs: number;
  pageSize: number;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/**
 * Sends every event with id > after as `event: ssl`, polling for new ones; a comment line as a
 * heartbeat when nothing was written for heartbeatMs; and once the job has ended (checked before the
 * last fetch, so nothing stored before the end is missed) an `event: status`, then closes.
 * Stops as soon as the client disconnects.
 */
export async function pumpSse<E extends { id: string }>(source: SseSource<E>, sink: SseSink, opts: SseOptions): Promise<{ sent: number; last: bigint }> {
  let last = opts.after;
  let sent = 0;
  let lastWrite = Date.now();
  const write = async (chunk: string): Promise<void> => {
    lastWrite = Date.now();
    if (!sink.write(chunk)) await drainedOrAborted(sink, opts.signal);
  };
  try {
    await write(`retry: ${Math.max(1000, opts.pollMs * 2)}\n\n`);
    while (!opts.signal.aborted) {
      const job = await source.job();
      for (;;) {
        const rows = await source.fetch(last, opts.pageSize);
        for (const r of rows) {
          if (opts.signal.aborted) return { sent, last };
          await write(`id: ${r.id}\nevent: ssl\ndata: ${JSON.stringify(r)}\n\n`);
          last = BigInt(r.id);
          sent++;
        }
        if (rows.length < opts.pageSize || opts.signal.aborted) break;
      }
      if (!job || job.terminal) {
        const status = job ? { status: job.status, reason: job.reason, finishedAt: job.finishedAt } : { status: 'deleted', reason: 'the job no longer exists', finishedAt: null };
        await write(`event: status\ndata: ${JSON.stringify({ ...status, eventsSent: sent, lastEventId: last.toString() })}\n\n`);
        break;
      }
      if (Date.now() - lastWrite >= opts.heartbeatMs) await write(`: keepalive ${new Date().toISOString()}\n\n`);
      await sleep(opts.pollMs, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  } catch (err) {
    // Headers are out; say so in the stream, where an EventSource client will see it.
    if (!opts.signal.aborted) sink.write(`event: error\ndata: ${JSON.stringify({ message: 'the stream failed on the controller; reconnect with Last-Event-ID', lastEventId: last.toString() })}\n\n`);
    throw err;
  } finally {
    sink.end();
  }
  return { sent, last };
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
