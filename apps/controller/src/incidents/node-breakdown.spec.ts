import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderFlameGraphSvg, toFolded } from '../profiles/flamegraph/flamegraph';
import { nodeBreakdown } from './node-breakdown';

const perNode = [
  { node: 'a', stacks: [{ frames: ['hot', 'main', 'hot_spin'], count: 90 }, { frames: ['hot', 'main'], count: 10 }] },
  { node: 'b', stacks: [{ frames: ['hot', 'main', 'hot_spin'], count: 70 }, { frames: ['hot', 'other'], count: 5 }] },
  { node: 'c', stacks: [{ frames: ['hot', 'main', 'hot_spin'], count: 80n }] },
];

describe('nodeBreakdown', () => {
  it('merges so that every path and the total are the sums of the nodes', () => {
    const b = nodeBreakdown(perNode);
    assert.equal(b.total, 255n);
    assert.deepEqual(b.nodeTotals, { a: 100n, b: 75n, c: 80n });
    assert.equal(Object.values(b.nodeTotals).reduce((x, y) => x + y, 0n), b.total);
    assert.equal(toFolded(b.merged), 'hot;main 10\nhot;main;hot_spin 240\nhot;other 5\n');
    assert.deepEqual(b.countsOf(['hot', 'main']), { a: 100n, b: 70n, c: 80n });
    assert.deepEqual(b.countsOf(['hot', 'main', 'hot_spin']), { a: 90n, b: 70n, c: 80n });
    assert.deepEqual(b.countsOf(['nope']), { a: 0n, b: 0n, c: 0n });
  });
  it('lists each node\'s count in the tooltip, largest first, with a limit', () => {
    const b = nodeBreakdown(perNode, 2);
    const svg = renderFlameGraphSvg(b.merged, { title: 't', frameStyle: b.frameStyle });
    assert.match(svg, /<title>hot_spin \(240 samples, 94\.12%\) · by node: a 90, c 80, \+1 more<\/title>/);
    assert.match(svg, /<title>other \(5 samples, 1\.96%\) · by node: b 5<\/title>/);
    assert.match(svg, /<title>all \(255 samples, 100(\.00)?%\) · by node: a 100, c 80, \+1 more<\/title>/);
  });
});
