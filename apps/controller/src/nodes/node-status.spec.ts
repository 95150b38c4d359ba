import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveState, sweepTransition } from './node-status';

const t = { unreachableMs: 3000, goneMs: 8000 };
const at = (ms: number): Date => new Date(1_000_000 + ms);
const NOW = 1_000_000;

describe('node status', () => {
  it('moves connected → unreachable → gone as silence grows', () => {
    assert.equal(effectiveState({ status: 'connected', lastSeenAt: at(-2999) }, NOW, t), 'connected');
    assert.equal(effectiveState({ status: 'connected', lastSeenAt: at(-3000) }, NOW, t), 'unreachable');
    assert.equal(effectiveState({ status: 'connected', lastSeenAt: at(-8000) }, NOW, t), 'gone');
    assert.equal(effectiveState({ status: 'unreachable', lastSeenAt: at(-7999) }, NOW, t), 'unreachable');
    assert.equal(effectiveState({ status: 'unreachable', lastSeenAt: at(-8000) }, NOW, t), 'gone');
  });

  it('keeps a stored unreachable or gone even when the last heartbeat is recent (a session that ended)', () => {
    assert.equal(effectiveState({ status: 'unreachable', lastSeenAt: at(-10) }, NOW, t), 'unreachable');
    assert.equal(effectiveState({ status: 'gone', lastSeenAt: at(0) }, NOW, t), 'gone');
  });

  it('the sweep changes only what time has moved on, and says why', () => {
    assert.equal(sweepTransition({ status: 'connected', lastSeenAt: at(-1000) }, NOW, t), undefined);
    assert.deepEqual(sweepTransition({ status: 'connected', lastSeenAt: at(-4100) }, NOW, t), {
      to: 'unreachable',
      reason: 'no heartbeat for 4.1 s (unreachable after 3.0 s)',
    });
    assert.deepEqual(sweepTransition({ status: 'unreachable', lastSeenAt: at(-9000) }, NOW, t), { to: 'gone', reason: 'nothing heard for 9.0 s (gone after 8.0 s)' });
    assert.equal(sweepTransition({ status: 'unreachable', lastSeenAt: at(-5000) }, NOW, t), undefined);
    assert.equal(sweepTransition({ status: 'gone', lastSeenAt: at(-99_000) }, NOW, t), undefined);
    assert.equal(sweepTransition({ status: 'connected', lastSeenAt: at(-20_000) }, NOW, t)?.to, 'gone', 'a node silent past both thresholds goes straight to gone');
  });
});
