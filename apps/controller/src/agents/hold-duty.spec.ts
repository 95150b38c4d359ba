import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HoldDuty } from './hold-duty';

describe('HoldDuty', () => {
  it('holds for a command and releases when it is done, then reads for as long as it held before the next hold', () => {
    let t = 0;
    const calls: boolean[] = [];
    const d = new HoldDuty(2000, (on) => calls.push(on), () => t);
    d.commands(true);
    t = 300;
    d.commands(false);
    assert.deepEqual(calls, [true, false]);
    t = 500; // 200 ms after a 300 ms hold: the sessions are owed 100 ms more
    d.commands(true);
    d.commands(false);
    assert.deepEqual(calls, [true, false], 'no hold, nothing to release');
    assert.equal(d.skipped, 1);
    t = 600;
    d.commands(true);
    assert.deepEqual(calls, [true, false, true], 'owed time read: the next command holds again');
    d.commands(true);
    assert.deepEqual(calls, [true, false, true], 'already held');
    d.commands(false);
    d.commands(false);
    assert.deepEqual(calls, [true, false, true, false]);
  });

  it('ends a hold at maxMs however long the command runs, and the owed time counts from then', async () => {
    let t = 0;
    const calls: boolean[] = [];
    const d = new HoldDuty(20, (on) => calls.push(on), () => t);
    d.commands(true);
    t = 20; // the clock the duty reads when its (real) 20 ms timer fires
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(calls, [true, false], 'released by its timer while the command still runs');
    d.commands(false);
    assert.deepEqual(calls, [true, false], 'the command ending later releases nothing more');
    t = 30;
    d.commands(true);
    assert.deepEqual(calls, [true, false], 'a 20 ms hold owes 20 ms of reading: none at 30');
    d.commands(false);
    t = 40;
    d.commands(true);
    assert.deepEqual(calls, [true, false, true]);
    d.commands(false);
    assert.deepEqual(calls, [true, false, true, false]);
  });
});
