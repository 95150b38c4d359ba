import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Paced } from './paced';

const turn = () => new Promise((r) => setImmediate(r));

describe('Paced', () => {
  it('acts on at most perTurn items a turn, in the order added, once per item however often it was added', async () => {
    const seen: number[][] = [[]];
    const p = new Paced<number>(3, (n) => seen.at(-1)!.push(n));
    for (const n of [1, 2, 3, 4, 2, 5, 6, 7]) p.add(n);
    assert.equal(p.waiting, 7);
    assert.deepEqual(seen, [[]], 'nothing runs in the turn that added them');
    for (let i = 0; i < 4; i++) {
      await turn();
      seen.push([]);
    }
    assert.deepEqual(seen.filter((s) => s.length > 0), [[1, 2, 3], [4, 5, 6], [7]]);
    assert.equal(p.waiting, 0);
  });

  it('gives way between its turns: what was queued meanwhile runs before the next items', async () => {
    const order: string[] = [];
    const p = new Paced<number>(1, (n) => order.push(`item ${n}`));
    [1, 2, 3].forEach((n) => p.add(n));
    // Queued after its first turn (setImmediate is first in, first out): runs after item 1, before item 2.
    setImmediate(() => order.push('other'));
    for (let i = 0; i < 4; i++) await turn();
    assert.deepEqual(order, ['item 1', 'other', 'item 2', 'item 3']);
  });

  it('forgets deleted items and refuses fewer than one item a turn', async () => {
    const seen: string[] = [];
    const p = new Paced<string>(10, (s) => seen.push(s));
    p.add('a');
    p.add('b');
    p.delete('a');
    await turn();
    assert.deepEqual(seen, ['b']);
    assert.throws(() => new Paced(0, () => undefined), /at least one item per turn/);
    assert.throws(() => new Paced(1.5, () => undefined), /at least one item per turn/);
  });
});
