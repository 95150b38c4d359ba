import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, nextAddrIndex } from './link';

describe('reconnect backoff', () => {
  it('grows exponentially, is capped, and is jittered', () => {
    assert.equal(backoffMs(0, () => 1), 500);
    assert.equal(backoffMs(3, () => 1), 4000);
    assert.equal(backoffMs(30, () => 1), 30_000);
    assert.equal(backoffMs(30, () => 0), 250, 'never zero: a floor keeps a flapping controller from a reconnect storm');
    const draws = new Set(Array.from({ length: 20 }, () => backoffMs(5)));
    assert.ok(draws.size > 5, 'jitter spreads agents apart');
  });
});

describe('controller replicas', () => {
  it('moves to the next address on each reconnect, round robin', () => {
    assert.deepEqual([0, 1, 2].map((i) => nextAddrIndex(i, 3)), [1, 2, 0]);
    assert.equal(nextAddrIndex(0, 1), 0, 'a single controller is retried');
  });
});
