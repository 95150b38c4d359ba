import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SharedReads } from './shared-read';

/** A clock the spec moves, and a read whose calls are counted and settled by hand. */
function setup(freshMs = 400) {
  let t = 1_000;
  const reads = new SharedReads<string, string>(freshMs, () => t);
  const calls: { key: string; resolve: (v: string) => void; reject: (e: Error) => void }[] = [];
  const read = (key: string) => () => new Promise<string>((resolve, reject) => calls.push({ key, resolve, reject }));
  return { reads, calls, read, advance: (ms: number) => (t += ms) };
}

describe('SharedReads', () => {
  it('answers every caller within the window with the one read, under way or done', async () => {
    const { reads, calls, read, advance } = setup();
    const a = reads.get('job', read('job'));
    advance(100);
    const b = reads.get('job', read('job'));
    assert.equal(calls.length, 1, 'the second caller joins the read under way');
    calls[0].resolve('v1');
    assert.deepEqual(await Promise.all([a, b]), ['v1', 'v1']);
    advance(299);
    assert.equal(await reads.get('job', read('job')), 'v1', 'done, and still within 400 ms of its start');
    assert.equal(calls.length, 1);
  });

  it('reads again once the window from the last read\'s start has passed, and per key', async () => {
    const { reads, calls, read, advance } = setup();
    void reads.get('job', read('job'));
    calls[0].resolve('v1');
    void reads.get('other', read('other'));
    assert.deepEqual(calls.map((c) => c.key), ['job', 'other'], 'another key is its own read');
    advance(400);
    const c = reads.get('job', read('job'));
    assert.equal(calls.length, 3);
    calls[2].resolve('v2');
    assert.equal(await c, 'v2');
  });

  it('does not keep a failed read: its joiners share the failure, the next caller reads again', async () => {
    const { reads, calls, read } = setup();
    const a = reads.get('job', read('job'));
    const b = reads.get('job', read('job'));
    calls[0].reject(new Error('connection reset'));
    await assert.rejects(a, /connection reset/);
    await assert.rejects(b, /connection reset/);
    const c = reads.get('job', read('job'));
    assert.equal(calls.length, 2, 'a new read, within the window');
    calls[1].resolve('v2');
    assert.equal(await c, 'v2');
  });

  it('holds only the keys read within the window', async () => {
    const { reads, calls, read, advance } = setup();
    for (let i = 0; i < 1000; i++) void reads.get(`job-${i}`, read(`job-${i}`));
    for (const c of calls) c.resolve('v');
    assert.equal(reads.size, 1000);
    advance(400);
    void reads.get('next', read('next'));
    assert.equal(reads.size, 1, 'the reads past their window are gone');
  });

  it('refuses a window that is not above 0 ms', () => {
    for (const ms of [0, -1, Number.NaN]) assert.throws(() => new SharedReads(ms), /above 0 ms/);
  });
});
