import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { topFunctions } from './top-functions';

describe('topFunctions', () => {
  const stacks = [
    { frames: ['hot', 'main', 'work', 'hot_spin'], count: 80 },
    { frames: ['hot', 'main', 'work'], count: 10 },
    { frames: ['hot', 'main', 'rec', 'rec', 'rec'], count: 6n },
    { frames: ['hot', 'clock_gettime_[k]'], count: 4 },
    { frames: ['hot', 'idle'], count: 0 },
  ];
  it('counts self at the leaf and total once per stack, with shares of all samples', () => {
    const t = topFunctions(stacks, 3);
    assert.equal(t.totalSamples, 100);
    assert.deepEqual(t.bySelf, [
      { name: 'hot_spin', self: 80, total: 80, selfPct: 80, totalPct: 80 },
      { name: 'work', self: 10, total: 90, selfPct: 10, totalPct: 90 },
      { name: 'rec', self: 6, total: 6, selfPct: 6, totalPct: 6 },
    ]);
    assert.deepEqual(t.byTotal.map((f) => [f.name, f.total]), [['hot', 100], ['main', 96], ['work', 90]]);
  });
  it('leaves out functions with no self samples from bySelf, and handles nothing', () => {
    assert.ok(!topFunctions(stacks, 50).bySelf.some((f) => f.name === 'main' || f.name === 'idle'));
    assert.deepEqual(topFunctions([], 5), { totalSamples: 0, bySelf: [], byTotal: [] });
  });
});
