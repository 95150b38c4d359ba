import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryReleaser } from './memory';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MemoryReleaser', () => {
  it('releases once, after the last of several runs that end close together', async () => {
    let trims = 0;
    const logs: string[] = [];
    const m = new MemoryReleaser(() => (trims++, true), (l) => logs.push(l), 40);
    m.afterRun();
    await sleep(15);
    m.afterRun();
    await sleep(15);
    m.afterRun();
    assert.equal(trims, 0, 'nothing while runs keep ending');
    await sleep(80);
    assert.equal(trims, 1);
    assert.match(logs.join('\n'), /memory released, RSS [\d.]+ -> [\d.]+ MiB in [\d.]+ ms/);
  });

  it('waits while other runs are going, and a run that starts cancels a pending release', async () => {
    let trims = 0;
    const m = new MemoryReleaser(() => (trims++, true), () => undefined, 20);
    m.afterRun(2);
    await sleep(50);
    assert.equal(trims, 0, 'two runs still going');
    m.afterRun(0);
    m.runStarted();
    await sleep(50);
    assert.equal(trims, 0, 'a run started before the delay ran out');
    m.afterRun(0);
    await sleep(50);
    assert.equal(trims, 1, 'released once the last run ended');
  });

  it('reports the RSS it measured before and after', () => {
    const rss = [200 * 1048576, 150 * 1048576];
    const m = new MemoryReleaser(() => true, () => undefined, 10, () => rss.shift() ?? 0);
    const r = m.releaseNow();
    assert.equal(r.rssBeforeMiB, 200);
    assert.equal(r.rssAfterMiB, 150);
    assert.ok(r.ms >= 0);
  });

  it('logs a failing trim and goes on', () => {
    const logs: string[] = [];
    const m = new MemoryReleaser(() => {
      throw new Error('no malloc_trim here');
    }, (l) => logs.push(l));
    m.releaseNow();
    assert.match(logs[0], /releasing memory failed: no malloc_trim here/);
  });

  it('close cancels a pending release', async () => {
    let trims = 0;
    const m = new MemoryReleaser(() => (trims++, true), () => undefined, 20);
    m.afterRun();
    m.close();
    await sleep(50);
    assert.equal(trims, 0);
  });

  it('a full collection really frees what dead Buffers held (V8 gc obtained without --expose-gc)', async () => {
    // 64 MiB of Buffers made unreachable; external memory only falls once V8 has collected them.
    let bufs: Buffer[] | undefined = Array.from({ length: 64 }, () => Buffer.alloc(1 << 20, 1));
    assert.equal(bufs.length, 64);
    const before = process.memoryUsage().arrayBuffers;
    bufs = undefined;
    new MemoryReleaser(() => true, () => undefined).releaseNow();
    await sleep(50); // backing stores are freed right after the collection's finalisation
    const after = process.memoryUsage().arrayBuffers;
    assert.ok(before - after >= 60 * 1048576, `arrayBuffers ${before} -> ${after}`);
  });
});
