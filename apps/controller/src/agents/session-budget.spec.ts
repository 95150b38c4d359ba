import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeRefusal, SessionBudget } from './session-budget';

const opts = { refusals: 3, windowMs: 1000, maxRunBytes: 100 };

describe('session budget', () => {
  it('refuses a run past its cumulative bytes, per run, and does not count the refused message', () => {
    const b = new SessionBudget(opts);
    assert.equal(b.admit({ type: 'usdtEvents', runId: 'r1', bytes: 60 }), undefined);
    assert.equal(b.admit({ type: 'usdtEvents', runId: 'r2', bytes: 60 }), undefined);
    assert.deepEqual(b.admit({ type: 'usdtEvents', runId: 'r1', bytes: 41 }), { limit: 'bytes per run', value: 101, max: 100 });
    assert.equal(b.admit({ type: 'usdtEvents', runId: 'r1', bytes: 40 }), undefined);
    assert.ok(b.admit({ type: 'usdtEvents', runId: 'r1', bytes: 1 }));
    // Messages without a run (heartbeats) are not counted against any.
    assert.equal(b.admit({ type: 'heartbeat', bytes: 10_000 }), undefined);
  });

  it('ends the session at the Nth refusal inside the window, not for refusals spread out', () => {
    const b = new SessionBudget(opts);
    assert.equal(b.refuse(0), false);
    assert.equal(b.refuse(600), false);
    assert.equal(b.refuse(1200), false); // the first one left the window
    assert.equal(b.refuse(1300), true);
    assert.equal(b.refusedTotal, 4);
  });

  it('keeps a bounded number of runs (random run ids cost no memory growth)', () => {
    const b = new SessionBudget({ ...opts, maxRunBytes: 10 });
    for (let i = 0; i < 10_000; i++) b.admit({ type: 'usdtEvents', runId: `run-${i}`, bytes: 10 });
    assert.ok((b as unknown as { runBytes: Map<string, number> }).runBytes.size <= 256);
  });

  it('describes a refusal with its type, run, limit and value, with hostile run ids made printable', () => {
    assert.equal(
      describeRefusal({ type: 'usdtEvents', runId: 'r\u0000x', bytes: 9 }, { limit: 'events per message', value: 10_001, max: 10_000 }),
      'usdtEvents of run r\uFFFDx refused: events per message 10001 > 10000 (9 bytes)',
    );
  });
});
