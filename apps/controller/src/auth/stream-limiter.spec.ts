import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpException } from '@nestjs/common';
import type { ControllerEnv } from '../config/env';
import { DEFAULT_STREAMS_PER_TOKEN, StreamLimiter } from './stream-limiter';

const status = (f: () => unknown): number | 'ok' => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof HttpException) return e.getStatus();
    throw e;
  }
};

describe('event streams per token', () => {
  it('defaults to 4', () => {
    assert.equal(new StreamLimiter({} as ControllerEnv).perToken, DEFAULT_STREAMS_PER_TOKEN);
    assert.equal(DEFAULT_STREAMS_PER_TOKEN, 4);
  });

  it('refuses the (N+1)th stream of a token with a 429 that says why, while another token still gets one', () => {
    const l = new StreamLimiter({ sseStreamsPerToken: 2 } as ControllerEnv);
    const a1 = l.acquire('aaaa');
    l.acquire('aaaa');
    try {
      l.acquire('aaaa');
      assert.fail('expected 429');
    } catch (e) {
      assert.ok(e instanceof HttpException);
      assert.equal(e.getStatus(), 429);
      assert.match(JSON.stringify(e.getResponse()), /already has 2 open event stream\(s\).*TRACEFLEET_SSE_STREAMS_PER_TOKEN=2/);
    }
    assert.equal(status(() => l.acquire('bbbb')), 'ok');
    a1.release();
    assert.equal(status(() => l.acquire('aaaa')), 'ok', 'a released stream makes room');
    assert.equal(status(() => l.acquire('aaaa')), 429);
  });

  it('releases once however often release is called (error path and close event both release)', () => {
    const l = new StreamLimiter({ sseStreamsPerToken: 2 } as ControllerEnv);
    const a = l.acquire('t');
    l.acquire('t');
    a.release();
    a.release();
    a.release();
    assert.equal(l.count('t'), 1, 'a double release must not free a slot it does not hold');
    l.acquire('t');
    assert.equal(status(() => l.acquire('t')), 429);
  });

  it('aborts the streams of a token whose session ended, and every stream at shutdown', () => {
    const l = new StreamLimiter({ sseStreamsPerToken: 4 } as ControllerEnv);
    const [a, b, c] = [l.acquire('a'), l.acquire('a'), l.acquire('b')];
    assert.equal(l.closeToken('a', 'token revoked'), 2);
    assert.ok(a.signal.aborted && b.signal.aborted && !c.signal.aborted);
    assert.equal((a.signal.reason as Error).message, 'token revoked');
    l.beforeApplicationShutdown();
    assert.ok(c.signal.aborted);
    for (const x of [a, b, c]) x.release();
    assert.equal(l.count('a') + l.count('b'), 0);
  });
});
