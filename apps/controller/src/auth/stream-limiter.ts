import { HttpException, Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';

export const DEFAULT_STREAMS_PER_TOKEN = 4;

/** One open event stream: aborted when the limiter closes it (token session ended, shutdown); release() is idempotent. */
export interface StreamLease {
  readonly signal: AbortSignal;
  release(): void;
}

/**
 * Counts the event streams (text/event-stream) each token holds open, keyed by token fingerprint, and
 * refuses one past TRACEFLEET_SSE_STREAMS_PER_TOKEN with a 429: a stream holds a socket and polls
 * PostgreSQL every 500 ms, so an unbounded number of them is a cheap way to wear a replica down.
 * Every lease ends released: the route releases it in `finally` and on the socket's close, and at
 * shutdown every stream is aborted and released.
 */
@Injectable()
export class StreamLimiter implements BeforeApplicationShutdown {
  private readonly log = new Logger(StreamLimiter.name);
  private readonly open = new Map<string, Set<AbortController>>();
  readonly perToken: number;

  constructor(@Inject(ENV) env: ControllerEnv) {
    this.perToken = env.sseStreamsPerToken ?? DEFAULT_STREAMS_PER_TOKEN;
  }

  /** A lease for one more stream of this token, or a 429 naming the limit. */
  acquire(token: string): StreamLease {
    const mine = this.open.get(token) ?? new Set<AbortController>();
    if (mine.size >= this.perToken) {
      throw new HttpException(
        {
          statusCode: 429,
          error: 'Too Many Requests',
          message: [`this token already has ${mine.size} open event stream(s), the most one token may hold (TRACEFLEET_SSE_STREAMS_PER_TOKEN=${this.perToken}); close one first`],
        },
        429,
      );
    }
    const ac = new AbortController();
    mine.add(ac);
    this.open.set(token, mine);
    let released = false;
    return {
      signal: ac.signal,
      release: () => {
        if (released) return;
        released = true;
        mine.delete(ac);
        if (mine.size === 0 && this.open.get(token) === mine) this.open.delete(token);
      },
    };
  }

  /** Streams this token holds open now. */
  count(token: string): number {
    return this.open.get(token)?.size ?? 0;
  }

  /** Streams open now, all tokens together (metrics). */
  total(): number {
    let n = 0;
    for (const mine of this.open.values()) n += mine.size;
    return n;
  }

  /** Ends every stream of a token whose session has ended (its holders see the stream close). */
  closeToken(token: string, reason: string): number {
    const mine = [...(this.open.get(token) ?? [])];
    for (const ac of mine) ac.abort(new Error(reason));
    return mine.length;
  }

  /** Streams would otherwise hold the HTTP server open (and poll a closing database) past shutdown. */
  beforeApplicationShutdown(): void {
    let n = 0;
    for (const token of [...this.open.keys()]) n += this.closeToken(token, 'the controller is shutting down');
    if (n > 0) this.log.log(`closed ${n} event stream(s) for shutdown`);
  }
}
