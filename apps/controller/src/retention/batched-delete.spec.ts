import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deleteInBatches } from './batched-delete';

describe('deleteInBatches', () => {
  it('stops at the first short batch', async () => {
    const left = [10, 10, 3];
    const asked: number[] = [];
    const r = await deleteInBatches(async (n) => (asked.push(n), left.shift() ?? 0), 10, 50);
    assert.deepEqual(r, { deleted: 23, batches: 3, more: false });
    assert.deepEqual(asked, [10, 10, 10]);
  });

  it('stops after maxBatches full batches and says more is left', async () => {
    let calls = 0;
    const r = await deleteInBatches(async (n) => (calls++, n), 5, 4);
    assert.deepEqual(r, { deleted: 20, batches: 4, more: true });
    assert.equal(calls, 4);
  });

  it('passes a failing statement on, having deleted what it did', async () => {
    let calls = 0;
    await assert.rejects(
      deleteInBatches(async (n) => {
        if (++calls === 2) throw new Error('deadlock detected');
        return n;
      }, 5, 4),
      /deadlock detected/,
    );
  });
});
