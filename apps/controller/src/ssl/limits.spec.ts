import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { enforceLimits } from './limits';

const ev = (n: number, truncated = false) => ({ data: new Uint8Array(n).fill(0x61), truncated });

describe('enforceLimits', () => {
  it('keeps what fits and counts nothing when within budget', () => {
    const out = enforceLimits([ev(10), ev(20)], { eventsStored: 0n, bytesStored: 0n }, { maxEvents: 10, maxTotalBytes: 100, maxDataBytes: 50 });
    assert.equal(out.kept.length, 2);
    assert.deepEqual([out.eventsRefused, out.bytesRefused, out.bytesKept], [0, 0, 30]);
    assert.equal(out.kept[0].truncated, false);
  });

  it('refuses events past maxEvents, counting them and their bytes', () => {
    const out = enforceLimits([ev(5), ev(6), ev(7)], { eventsStored: 9n, bytesStored: 0n }, { maxEvents: 10, maxTotalBytes: 1000, maxDataBytes: 100 });
    assert.equal(out.kept.length, 1);
    assert.deepEqual([out.eventsRefused, out.bytesRefused, out.bytesKept], [2, 13, 5]);
    const none = enforceLimits([ev(1)], { eventsStored: 50n, bytesStored: 0n }, { maxEvents: 10, maxTotalBytes: 1000, maxDataBytes: 100 });
    assert.deepEqual([none.kept.length, none.eventsRefused], [0, 1]);
  });

  it('cuts data past maxDataBytes and past maxTotalBytes, marking events truncated', () => {
    const out = enforceLimits([ev(300), ev(50), ev(50), ev(0)], { eventsStored: 0n, bytesStored: 850n }, { maxEvents: 100, maxTotalBytes: 1000, maxDataBytes: 100 });
    assert.deepEqual(out.kept.map((k) => k.data.length), [100, 50, 0, 0]);
    assert.deepEqual(out.kept.map((k) => k.truncated), [true, false, true, false]);
    assert.deepEqual([out.eventsRefused, out.bytesRefused, out.bytesKept], [0, 200 + 50, 150]);
  });

  it('keeps the agent\'s own truncated flag', () => {
    const out = enforceLimits([ev(4, true)], { eventsStored: 0n, bytesStored: 0n }, { maxEvents: 1, maxTotalBytes: 10, maxDataBytes: 10 });
    assert.equal(out.kept[0].truncated, true);
  });

  it('lets redaction markers grow an event past maxDataBytes, but not past maxTotalBytes', () => {
    const redacted = { data: new Uint8Array(100 + 2 * 10), truncated: false, redactions: 2 };
    const out = enforceLimits([redacted, { ...redacted }], { eventsStored: 0n, bytesStored: 0n }, { maxEvents: 10, maxTotalBytes: 200, maxDataBytes: 100 });
    assert.deepEqual(out.kept.map((k) => [k.data.length, k.truncated]), [
      [120, false],
      [80, true],
    ]);
    assert.equal(out.bytesRefused, 40);
    const liar = enforceLimits([{ ...redacted, redactions: 1 }], { eventsStored: 0n, bytesStored: 0n }, { maxEvents: 10, maxTotalBytes: 1000, maxDataBytes: 100 });
    assert.equal(liar.kept[0].data.length, 110);
  });
});
