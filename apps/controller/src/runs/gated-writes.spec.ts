import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StoreGate } from '../prisma/store-gate';
import { GatedWrites } from './gated-writes';
import type { ProfileWrite } from './gated-writes';

const w = (runId: string): ProfileWrite => ({ nodeId: 'n', runId, origin: undefined, batches: [] });
const tick = () => new Promise((r) => setImmediate(r));

describe('GatedWrites', () => {
  it('writes what waits together, at most perWrite runs a write, each taken once, in arrival order', async () => {
    const gate = new StoreGate(1);
    let release!: () => void;
    void gate.run(() => new Promise<void>((r) => (release = r)));
    const writes: string[][] = [];
    const q = new GatedWrites<ProfileWrite>(gate, 3, async (ws) => {
      writes.push(ws.map((x) => x.runId));
    });
    const taken: string[] = [];
    const done = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => q.write(w(id), () => taken.push(id)));
    assert.equal(q.queued, 7);
    await tick();
    assert.deepEqual(taken, [], 'nothing is taken while the gate is busy');
    release();
    await Promise.all(done);
    assert.deepEqual(writes, [['a', 'b', 'c'], ['d', 'e', 'f'], ['g']]);
    assert.deepEqual(taken, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    assert.equal(q.queued, 0);
  });

  it("settles each run with its own outcome, and rejects all of a write that threw", async () => {
    const gate = new StoreGate(1);
    const q = new GatedWrites<ProfileWrite>(gate, 10, async (ws, settle) => {
      if (ws[0].runId === 'boom') throw new Error('write failed');
      settle(1, new Error('only b'));
      settle(1); // a second settle is ignored
    });
    let release!: () => void;
    void gate.run(() => new Promise<void>((r) => (release = r)));
    const outcomes = ['a', 'b', 'c'].map((id) => q.write(w(id), () => undefined).then(() => 'ok', (e: Error) => e.message));
    release();
    assert.deepEqual(await Promise.all(outcomes), ['ok', 'only b', 'ok']);
    const failed = await q.write(w('boom'), () => undefined).then(() => 'ok', (e: Error) => e.message);
    assert.equal(failed, 'write failed');
  });

  it('refuses a write size below one run', () => {
    assert.throws(() => new GatedWrites<ProfileWrite>(new StoreGate(1), 0, async () => undefined), /at least one run/);
  });
});
