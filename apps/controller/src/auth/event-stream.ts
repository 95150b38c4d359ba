import { once } from 'node:events';
import type { Response } from 'express';
import type { SseSink } from '../common/sse';
import type { TokenIdentity } from './scopes';
import type { StreamLimiter } from './stream-limiter';

const SSE_HEADERS = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' };

/**
 * Serves one text/event-stream response for a token: its slot from the StreamLimiter (a 429 past the
 * token's limit, before any header goes out: call it once the request has been checked), headers, and a
 * sink on the response for `pump`. The signal `pump` gets is aborted when the client goes away or the
 * limiter ends the token's streams; the slot is released on every way out (the pump ending, and the
 * socket closing even if a poll hangs). A failure after the headers went out cannot be a status code:
 * it goes to `onError` and the response ends.
 */
export async function serveEventStream(
  res: Response,
  limits: StreamLimiter,
  token: TokenIdentity,
  pump: (sink: SseSink, signal: AbortSignal) => Promise<unknown>,
  onError: (err: Error) => void,
): Promise<void> {
  const lease = limits.acquire(token.fingerprint);
  res.once('close', () => lease.release());
  const ac = new AbortController();
  res.once('close', () => ac.abort());
  const signal = AbortSignal.any([ac.signal, lease.signal]);
  try {
    res.status(200);
    res.set(SSE_HEADERS);
    res.flushHeaders();
    await pump(
      {
        write: (chunk) => res.write(chunk),
        drained: async () => {
          await once(res, 'drain', { signal }).catch(() => undefined);
        },
        end: () => {
          if (!res.writableEnded) res.end();
        },
      },
      signal,
    );
  } catch (err) {
    onError(err as Error);
    if (!res.writableEnded) res.end();
  } finally {
    lease.release();
  }
}
