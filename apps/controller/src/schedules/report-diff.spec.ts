import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderFlameGraphSvg } from '../profiles/flamegraph/flamegraph';
import { diffFrameStyle } from '../profiles/flamegraph/diff';
import { reportDiff } from './report-diff';

describe('reportDiff', () => {
  const base = [
    { frames: ['app', 'main', 'hot_spin'], count: 50 },
    { frames: ['app', 'main', 'parse'], count: 40 },
    { frames: ['app', 'main', 'gone'], count: 10 },
  ];
  // Twice as many samples: shares, not counts, are compared.
  const target = [
    { frames: ['app', 'main', 'hot_spin'], count: 140 },
    { frames: ['app', 'main', 'parse'], count: 40 },
    { frames: ['app', 'main', 'fresh'], count: 20 },
  ];
  it('ranks functions by the change of their self share', () => {
    const d = reportDiff(base, target);
    assert.equal(d.baseTotal, 100);
    assert.equal(d.targetTotal, 200);
    assert.deepEqual(d.grew, [
      { name: 'hot_spin', baseSelf: 50, targetSelf: 140, baseSelfPct: 50, targetSelfPct: 70, deltaPts: 20 },
      { name: 'fresh', baseSelf: 0, targetSelf: 20, baseSelfPct: 0, targetSelfPct: 10, deltaPts: 10 },
    ]);
    assert.deepEqual(d.shrank.map((c) => [c.name, c.deltaPts]), [['parse', -20], ['gone', -10]]);
  });
  it('finds no change between a profile and a scaled copy of it', () => {
    const d = reportDiff(base, base.map((s) => ({ ...s, count: s.count * 3 })));
    assert.deepEqual([d.grew, d.shrank], [[], []]);
  });
  it('colours the report\'s differential flame graph red where the share grew and blue where it shrank', () => {
    const style = diffFrameStyle(base, target);
    const svg = renderFlameGraphSvg(target, { title: 'diff', frameStyle: style.frameStyle });
    assert.match(svg, /<title>hot_spin \(140 samples, 70\.00%\) · base 50 \(50\.00%\) → target 140 \(70\.00%\) · Δ \+90 samples, share \+20\.00 pts<\/title><rect [^>]*fill="rgb\(255,0,0\)"/);
    assert.match(svg, /<title>parse \(40 samples, 20\.00%\)[^<]*share −20\.00 pts<\/title><rect [^>]*fill="rgb\(0,0,255\)"/);
  });
});
