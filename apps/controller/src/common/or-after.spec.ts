import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { orAfter } from './or-after';

const after = <T>(ms: number, v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));

describe('orAfter', () => {
  it("settles with the work's value, or its rejection, when it comes first, and clears the timer", async () => {
    let lateCalls = 0;
    assert.equal(await orAfter(after(5, 'done'), 1000, () => lateCalls++), 'done');
    await assert.rejects(orAfter(Promise.reject(new Error('boom')), 1000, () => lateCalls++), /boom/);
    await after(20, null);
    assert.equal(lateCalls, 0);
    // No timer is left behind to fire later (it would have called late()).
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await orAfter(Promise.resolve(1), 60_000, () => 0);
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before);
  });

  it("answers late()'s value, or rejects with what it throws, once the time passed", async () => {
    // The work takes 300 ms (its timer also keeps this process alive: orAfter's own never does).
    assert.equal(await orAfter(after(300, 'slow'), 10, () => false), false);
    await assert.rejects(
      orAfter(after(300, 'slow'), 10, () => {
        throw new Error('no answer within 10 ms');
      }),
      /no answer within 10 ms/,
    );
  });

  it('does not keep the process alive by itself: work that never settles ends with the process, not after the timeout', () => {
    const child = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(require.resolve('./or-after'))}).orAfter(new Promise(() => {}), 60000, () => 0)`], { timeout: 30_000 });
    assert.equal(child.status, 0, String(child.stderr));
  });
});
