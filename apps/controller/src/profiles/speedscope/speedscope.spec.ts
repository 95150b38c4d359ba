import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFolded, toFolded, type StackCount } from '../flamegraph/flamegraph';
import { SPEEDSCOPE_SCHEMA, toSpeedscope, type SpeedscopeFile, type SpeedscopeSampledProfile } from './speedscope';

const NODE_A: StackCount[] = [
  { frames: ['hot', 'main', 'work', 'hot_spin'], count: 400 },
  { frames: ['hot', 'main', 'work', 'hot_spin', 'page_fault_[k]'], count: 12 },
  { frames: ['hot', 'main', 'idle'], count: 7n },
  { frames: ['hot'], count: 2 },
];
const NODE_B: StackCount[] = [
  { frames: ['node', 'burn_[j]'], count: 90 },
  { frames: ['hot', 'main', 'work', 'hot_spin'], count: 100 },
  { frames: ['hot', 'main', 'work', 'hot_spin'], count: 1 }, // repeated path: merged
  { frames: ['node', 'gone'], count: 0 },
];

/** Back to stacks (root first) through the shared frame table. */
function stacksOf(file: SpeedscopeFile, p: SpeedscopeSampledProfile): StackCount[] {
  return p.samples.map((s, i) => ({ frames: s.map((f) => file.shared.frames[f].name), count: p.weights[i] }));
}

describe('toSpeedscope', () => {
  const file = toSpeedscope({ name: 'job', nodes: [{ node: 'node-a', stacks: NODE_A }, { node: 'node-b', stacks: NODE_B }], merged: true });

  it('writes the file format: $schema, shared frames, sampled profiles', () => {
    const json = JSON.parse(JSON.stringify(file)) as SpeedscopeFile;
    assert.equal(json.$schema, SPEEDSCOPE_SCHEMA);
    assert.deepEqual(json.profiles.map((p) => p.name), ['all 2 nodes', 'node-a', 'node-b']);
    assert.equal(json.activeProfileIndex, 0);
    const names = json.shared.frames.map((f) => f.name);
    assert.equal(new Set(names).size, names.length, 'each frame once');
    for (const p of json.profiles) {
      assert.equal(p.type, 'sampled');
      assert.equal(p.unit, 'none');
      assert.equal(p.samples.length, p.weights.length);
      assert.equal(p.startValue, 0);
      assert.equal(p.endValue, p.weights.reduce((a, b) => a + b, 0));
      for (const s of p.samples) for (const f of s) assert.ok(Number.isInteger(f) && f >= 0 && f < names.length);
      for (const w of p.weights) assert.ok(Number.isInteger(w) && w > 0);
    }
  });

  it('sums to the folded totals, per node and merged, with stacks root first', () => {
    const [merged, a, b] = file.profiles;
    assert.equal(toFolded(stacksOf(file, a)), toFolded(NODE_A));
    assert.equal(toFolded(stacksOf(file, b)), toFolded(NODE_B));
    assert.equal(toFolded(stacksOf(file, merged)), toFolded([...NODE_A, ...NODE_B]));
    const foldedTotal = parseFolded(toFolded([...NODE_A, ...NODE_B])).reduce((acc, s) => acc + Number(s.count), 0);
    assert.equal(merged.endValue, foldedTotal);
    assert.equal(merged.endValue, a.endValue + b.endValue);
    const fault = stacksOf(file, a).find((s) => s.count === 12)!;
    assert.deepEqual(fault.frames, ['hot', 'main', 'work', 'hot_spin', 'page_fault_[k]']);
  });

  it('writes one profile for one node, and is deterministic', () => {
    const one = toSpeedscope({ name: 'job', nodes: [{ node: 'node-a', stacks: NODE_A }], merged: true });
    assert.deepEqual(one.profiles.map((p) => p.name), ['node-a']);
    const again = toSpeedscope({ name: 'job', nodes: [{ node: 'node-a', stacks: [...NODE_A].reverse() }], merged: true });
    assert.equal(JSON.stringify(again), JSON.stringify(one));
  });
});
