import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderFlameGraphSvg, toFolded } from '../profiles/flamegraph/flamegraph';
import { nodeBreakdown, totalsByNode, type NodeStacks } from './node-breakdown';
import { functionCounts } from '../profiles/top-functions';

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
  it('says of every path what counting every node on it would say, with many nodes, ties and a small limit', () => {
    // A reference that counts every node on every path (what the breakdown did before), against the
    // bounded one, over random stacks of 60 nodes on a small alphabet, so that paths, counts and ties repeat.
    let seed = 7;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) >>> 16) % n;
    const nodes: NodeStacks[] = Array.from({ length: 60 }, (_, i) => ({
      node: `n${String(rnd(40)).padStart(2, '0')}-${i}`,
      stacks: Array.from({ length: 1 + rnd(6) }, () => ({ frames: Array.from({ length: 1 + rnd(4) }, () => 'abc'[rnd(3)]), count: rnd(4) })),
    }));
    const b = nodeBreakdown(nodes, 3);
    const paths = new Set<string>(['']);
    for (const n of nodes) for (const s of n.stacks) for (let d = 1; d <= s.frames.length; d++) paths.add(s.frames.slice(0, d).join(';'));
    let listedSome = 0;
    for (const key of paths) {
      const path = key === '' ? [] : key.split(';');
      const counts = nodes.map((n, i) => ({ n: n.node, i, c: n.stacks.filter((s) => path.every((f, d) => s.frames[d] === f)).reduce((a, s) => a + BigInt(s.count), 0n) }));
      const listed = counts.filter((x) => x.c > 0n).sort((x, y) => (x.c === y.c ? x.n.localeCompare(y.n) : x.c > y.c ? -1 : 1));
      const style = b.frameStyle({ stack: path, depth: path.length, count: 0 });
      if (listed.length === 0) {
        assert.equal(style.note, undefined, `path ${key}`);
        continue;
      }
      listedSome++;
      const more = listed.length > 3 ? `, +${listed.length - 3} more` : '';
      assert.equal(style.note, ` · by node: ${listed.slice(0, 3).map((x) => `${x.n} ${x.c.toLocaleString('en-US')}`).join(', ')}${more}`, `path ${key}`);
      const want: Record<string, bigint> = {};
      for (const x of counts) want[x.n] = (want[x.n] ?? 0n) + x.c;
      assert.deepEqual(b.countsOf(path), want, `countsOf ${key}`);
    }
    assert.ok(listedSome > 20, `only ${listedSome} paths had samples: the data tests too little`);
    assert.equal(Object.values(totalsByNode(nodes)).reduce((x, y) => x + y, 0n), b.total);
  });

  it('counts only the functions asked for when given a set, the same counts as counting all', () => {
    const stacks = [
      { frames: ['main', 'a', 'b', 'a'], count: 3 },
      { frames: ['main', 'c'], count: 2 },
      { frames: ['main', 'b'], count: 0 },
    ];
    const all = functionCounts(stacks);
    const some = functionCounts(stacks, new Set(['a', 'c', 'absent']));
    assert.deepEqual([...some.counts.keys()].sort(), ['a', 'c']);
    assert.deepEqual(some.counts.get('a'), all.counts.get('a'));
    assert.deepEqual(some.counts.get('a'), { self: 3, total: 3 });
    assert.deepEqual(some.counts.get('c'), all.counts.get('c'));
    assert.equal(some.totalSamples, all.totalSamples);
  });
});
