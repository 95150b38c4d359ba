import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PairTracker, log2Bucket } from './pairing';

const ev = (probe: number, tid: number, ts: number, str?: string) => ({ probe, pid: 1, tid, tsNs: BigInt(ts), args: [BigInt(ts)], str });

describe('PairTracker', () => {
  it('pairs per thread, nests, and builds a log2 histogram', () => {
    const t = new PairTracker([{ label: 'gc', begin: 0, end: 1 }], 2);
    t.add(ev(0, 1, 100));
    t.add(ev(0, 2, 150)); // another thread in between
    t.add(ev(1, 1, 1124)); // 1024 ns
    t.add(ev(0, 1, 2000));
    t.add(ev(0, 1, 2100)); // nested begin
    t.add(ev(1, 1, 2103)); // 3 ns
    t.add(ev(1, 1, 2010_000)); // ends the outer one: 2,008,000 ns
    t.add(ev(1, 2, 150 + 8)); // 8 ns
    const [gc] = t.results();
    assert.equal(gc.count, 4n);
    assert.equal(gc.totalNs, 1024n + 3n + 2_008_000n + 8n);
    assert.equal(gc.buckets[10], 1n);
    assert.equal(gc.buckets[1], 1n);
    assert.equal(gc.buckets[3], 1n);
    assert.equal(gc.buckets[log2Bucket(2_008_000n)], 1n);
    assert.deepEqual(gc.slowest.map((o) => o.durationNs), [2_008_000n, 1024n]);
    assert.equal(gc.slowest[0].beginArgs[0], 2000n);
  });
  it('counts ends without a begin, and matches on the string argument', () => {
    const t = new PairTracker([{ label: 'pool', begin: 0, end: 1 }], 5);
    t.add(ev(1, 1, 5));
    t.add(ev(0, 1, 10, 'Eden'));
    t.add(ev(0, 1, 11, 'Old'));
    t.add(ev(1, 1, 20, 'Eden'));
    t.add(ev(1, 1, 41, 'Old'));
    const byLabel = Object.fromEntries(t.results().map((s) => [s.label, s]));
    assert.equal(byLabel['pool'].unmatchedEnds, 1n);
    assert.equal(byLabel['pool[Eden]'].totalNs, 10n);
    assert.equal(byLabel['pool[Old]'].totalNs, 30n);
  });
  it('log2 buckets', () => {
    assert.deepEqual([0n, 1n, 2n, 3n, 4n, 1023n, 1024n].map(log2Bucket), [0, 0, 1, 1, 2, 9, 10]);
  });
});
