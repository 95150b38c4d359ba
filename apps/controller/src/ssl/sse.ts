import { endStatus, pauseUnlessAborted, runSse, sseMessage, type SseSink, type StreamJobState } from '../common/sse';

export type { SseSink };

/** GET /jobs/:id/ssl-events/stream: how often it polls PostgreSQL, and the idle keepalive. */
export const STREAM_POLL_MS = 500;
export const STREAM_HEARTBEAT_MS = 15_000;

/** Where a live stream reads from: the database, so it works whichever replica stored the events. */
export interface SseSource<E extends { id: string }> {
  /** Up to `pageSize` events with id > after, oldest first. */
  fetch(after: bigint, pageSize: number): Promise<E[]>;
  /** The job's state; `terminal` once it has ended (every run reported or failed). Undefined: the job is gone. */
  job(): Promise<StreamJobState | undefined>;
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
  const failure = (): Record<string, unknown> => ({ message: 'the stream failed on the controller; reconnect with Last-Event-ID', lastEventId: last.toString() });
  await runSse(sink, { retryMs: Math.max(1000, opts.pollMs * 2), signal: opts.signal, failure }, async (w) => {
    while (!opts.signal.aborted) {
      const job = await source.job();
      for (;;) {
        const rows = await source.fetch(last, opts.pageSize);
        for (const r of rows) {
          if (opts.signal.aborted) return;
          await w.write(sseMessage('ssl', r, r.id));
          last = BigInt(r.id);
          sent++;
        }
        if (rows.length < opts.pageSize || opts.signal.aborted) break;
      }
      if (!job || job.terminal) {
        await w.write(sseMessage('status', { ...endStatus(job), eventsSent: sent, lastEventId: last.toString() }));
        return;
      }
      if (Date.now() - w.lastWrite >= opts.heartbeatMs) await w.write(`: keepalive ${new Date().toISOString()}\n\n`);
      await pauseUnlessAborted(opts.pollMs, opts.signal);
    }
  });
  return { sent, last };
}
