import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureBudget, checkLimits, MAX_DATA_BYTES_LIMIT } from './budget';

describe('CaptureBudget', () => {
  it('admits maxEvents events and counts the rest as over budget', () => {
    const b = new CaptureBudget(3, 1000n);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => b.admitEvent()), [true, true, true, false, false]);
    assert.equal(b.eventsAdmitted, 3);
    assert.equal(b.overBudget, 2n);
  });

  it('gives the crossing event the bytes that fit, later ones none, and counts what it withheld', () => {
    const b = new CaptureBudget(100, 10n);
    const a = b.takeBytes(Buffer.from('123456'));
    assert.equal(a.cut, false);
    assert.equal(a.data.toString(), '123456');
    const c = b.takeBytes(Buffer.from('abcdef'));
    assert.equal(c.cut, true);
    assert.equal(c.data.toString(), 'abcd');
    assert.equal(b.bytesExhausted, true);
    const d = b.takeBytes(Buffer.from('xyz'));
    assert.equal(d.cut, true);
    assert.equal(d.data.length, 0);
    assert.equal(b.bytesAdmitted, 10n);
    assert.equal(b.bytesOverBudget, 2n + 3n);
    // an event without data is never "cut"
    assert.equal(b.takeBytes(Buffer.alloc(0)).cut, false);
  });

  it('sends no plaintext at all with a byte budget of 0', () => {
    const b = new CaptureBudget(10, 0n);
    const r = b.takeBytes(Buffer.from('x'));
    assert.equal(r.data.length, 0);
    assert.equal(r.cut, true);
    assert.equal(b.bytesOverBudget, 1n);
  });
});

describe('checkLimits', () => {
  it('refuses per-call captures past one TLS record, and an empty event budget', () => {
    assert.equal(checkLimits({ maxDataBytes: MAX_DATA_BYTES_LIMIT, maxEvents: 1 }), undefined);
    assert.match(checkLimits({ maxDataBytes: 16385, maxEvents: 1 })!, /maxDataBytes 16385 is outside this agent's limit \[1, 16384\]/);
    assert.match(checkLimits({ maxDataBytes: 0, maxEvents: 1 })!, /maxDataBytes 0/);
    assert.match(checkLimits({ maxDataBytes: 100, maxEvents: 0 })!, /maxEvents 0 must be at least 1/);
  });
});
