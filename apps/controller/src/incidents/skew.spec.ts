import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSkew } from './skew';

const at = new Date('2026-01-01T00:00:00.000Z');
const t = (ms: number): Date => new Date(at.getTime() + ms);

describe('startSkew', () => {
  it('is max − min over the runs that started, across jobs and nodes', () => {
    const s = startSkew(
      [
        { job: 'a', node: 'n1', startedAt: t(12) },
        { job: 'a', node: 'n2', startedAt: t(40) },
        { job: 'b', node: 'n1', startedAt: t(-3) },
        { job: 'b', node: 'n2', startedAt: null },
      ],
      at,
    );
    assert.equal(s.startSkewMs, 43);
    assert.equal(s.earliest, '2025-12-31T23:59:59.997Z');
    assert.equal(s.latest, '2026-01-01T00:00:00.040Z');
    assert.equal(s.started, 3);
    assert.equal(s.runs, 4);
    assert.equal(s.maxDelayMs, 40);
  });
  it('is 0 for one started run and null for none', () => {
    assert.equal(startSkew([{ job: 'a', node: 'n1', startedAt: t(5) }], at).startSkewMs, 0);
    const none = startSkew([{ job: 'a', node: 'n1', startedAt: null }], at);
    assert.equal(none.startSkewMs, null);
    assert.equal(none.maxDelayMs, null);
    assert.equal(none.started, 0);
  });
});
