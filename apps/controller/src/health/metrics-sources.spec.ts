import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { countsByKnown } from './metrics-sources';

describe('countsByKnown', () => {
  it('gives every known combination, zeros included, and folds unknown values into "other"', () => {
    const out = countsByKnown(
      [
        { key: ['cpu-profile', 'completed'], n: 3 },
        { key: ['cpu-profile', 'weird'], n: 1 },
        { key: ['new-type', 'weirder'], n: 2 },
      ],
      [['cpu-profile', 'usdt'], ['queued', 'completed']],
      ['type', 'status'],
    );
    const get = (type: string, status: string) => out.find((s) => s.labels?.type === type && s.labels?.status === status)?.value;
    assert.equal(get('cpu-profile', 'completed'), 3);
    assert.equal(get('usdt', 'queued'), 0);
    assert.equal(get('cpu-profile', 'other'), 1);
    assert.equal(get('other', 'other'), 2);
    assert.equal(out.length, 6);
  });
});
