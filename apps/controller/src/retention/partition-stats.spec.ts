// The partition stats the metrics show: one read serves every scrape of the next 10 s (a scraper polling
// several times a second cost a transaction per table each time, on the pool results share).
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionService, STATS_FOR_MS, type PartitionStats } from './partition.service';

function service() {
  const svc = new PartitionService({ pool: {} } as never);
  let reads = 0;
  let fail = false;
  svc.stats = async (): Promise<PartitionStats[]> => {
    reads++;
    if (fail) throw new Error('database away');
    return [{ table: 'ProfileSample', partitions: reads, defaultRows: 0 }];
  };
  return { svc, reads: () => reads, failNext: (f: boolean) => (fail = f) };
}

describe('PartitionService.recentStats', () => {
  it('reads once for every scrape within 10 s, and again after', async () => {
    const { svc, reads } = service();
    const t0 = 1_000_000;
    const [a, b] = await Promise.all([svc.recentStats(t0), svc.recentStats(t0 + 1)]);
    assert.equal(reads(), 1, 'two gauges of one scrape: one read');
    assert.equal(a, b);
    await svc.recentStats(t0 + STATS_FOR_MS - 1);
    assert.equal(reads(), 1);
    assert.equal((await svc.recentStats(t0 + STATS_FOR_MS))[0].partitions, 2, 'read again once 10 s have passed');
    await svc.recentStats(t0);
    assert.equal(reads(), 3, 'a clock that went back reads again rather than keep a stale read forever');
  });

  it('does not keep a failed read', async () => {
    const { svc, reads, failNext } = service();
    failNext(true);
    await assert.rejects(svc.recentStats(5_000), /database away/);
    failNext(false);
    assert.equal((await svc.recentStats(5_001))[0].partitions, 2);
    assert.equal(reads(), 2);
  });
});
