import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
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
    const never = new Promise<string>(() => undefined);
    assert.equal(await orAfter(never, 10, () => false), false);
    await assert.rejects(
      orAfter(never, 10, () => {
        throw new Error('no answer within 10 ms');
      }),
      /no answer within 10 ms/,
    );
  });
});
