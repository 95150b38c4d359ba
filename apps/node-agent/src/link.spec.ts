import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, firstAddrIndex, nextAddrIndex } from './link';

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

  it('starts each node on the replica its name picks, spreading a fleet evenly', () => {
    assert.equal(firstAddrIndex('any', 1), 0);
    assert.equal(firstAddrIndex('node-7', 3), firstAddrIndex('node-7', 3), 'the same node always starts on the same replica');
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[firstAddrIndex(`node-${i}`, 3)]++;
    for (const c of counts) assert.ok(c > 900 && c < 1100, `3000 nodes over 3 replicas: ${counts.join(' / ')}`);
    // Names that differ only in a non-ASCII character still land in range.
    for (const n of ['ñ', '节点', '']) assert.ok(firstAddrIndex(n, 5) >= 0 && firstAddrIndex(n, 5) < 5);
  });
});
