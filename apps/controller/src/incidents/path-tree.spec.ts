import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mergeStacks, renderFlameGraphSvg, toFolded, type StackCount } from '../profiles/flamegraph/flamegraph';
import { functionCounts } from '../profiles/top-functions';
import { TooManyPathsError } from '../profiles/stack-trie';
import { ListedFunctionCounts, PathTree, type StackRow } from './path-tree';

interface NodeStacks {
  node: string;
  stacks: StackCount[];
}

const perNode: NodeStacks[] = [
  { node: 'a', stacks: [{ frames: ['hot', 'main', 'hot_spin'], count: 90 }, { frames: ['hot', 'main'], count: 10 }] },
  { node: 'b', stacks: [{ frames: ['hot', 'main', 'hot_spin'], count: 70 }, { frames: ['hot', 'other'], count: 5 }] },
  { node: 'c', stacks: [{ frames: ['hot', 'main', 'hot_spin'], count: 80n }] },
];

/** What the database gives the reader: stack ids, each stack once with its sum, then each node's (id, count) rows. */
function rowsOf(nodes: NodeStacks[]): { stacks: { id: number; frames: string[]; count: bigint }[]; byNode: { node: string; rows: StackRow[] }[] } {
  const ids = new Map<string, number>();
  const stacks: { id: number; frames: string[]; count: bigint }[] = [];
  const byNode = nodes.map((n) => ({
    node: n.node,
    rows: n.stacks.map((s) => {
      const key = s.frames.join('\0');
      let id = ids.get(key);
      if (id === undefined) {
        ids.set(key, (id = 100 + ids.size));
        stacks.push({ id, frames: s.frames, count: 0n });
      }
      stacks.find((x) => x.id === id)!.count += BigInt(s.count);
      return { stack: id, count: BigInt(s.count) };
    }),
  }));
  return { stacks, byNode };
}

function treeOf(nodes: NodeStacks[], maxListed?: number): PathTree {
  const { stacks, byNode } = rowsOf(nodes);
  const tree = new PathTree(1000, maxListed);
  for (const s of stacks) tree.addStack(s.id, s.frames, s.count);
  for (const n of byNode) tree.countNode(n.node, n.rows);
  return tree;
}

describe('PathTree (an incident\'s merged profile and per-node breakdown)', () => {
  it('merges so that every path and the total are the sums of the nodes', () => {
    const t = treeOf(perNode);
    assert.equal(t.total, 255n);
    assert.deepEqual(t.nodeTotals, { a: 100n, b: 75n, c: 80n });
    assert.equal(toFolded(t.stacks()), 'hot;main 10\nhot;main;hot_spin 240\nhot;other 5\n');
    assert.equal(t.paths, 4);
    assert.deepEqual(t.framesOf(100), ['hot', 'main', 'hot_spin']);
    assert.equal(t.framesOf(7), undefined);
  });

  it('lists each node\'s count in the tooltip, largest first, with a limit', () => {
    const t = treeOf(perNode, 2);
    const svg = renderFlameGraphSvg(t.stacks(), { title: 't', frameStyle: t.frameStyle });
    assert.match(svg, /<title>hot_spin \(240 samples, 94\.12%\) · by node: a 90, c 80, \+1 more<\/title>/);
    assert.match(svg, /<title>other \(5 samples, 1\.96%\) · by node: b 5<\/title>/);
    assert.match(svg, /<title>all \(255 samples, 100(\.00)?%\) · by node: a 100, c 80, \+1 more<\/title>/);
    // The same picture as the flat list of every node's stacks draws.
    assert.equal(svg, renderFlameGraphSvg(mergeStacks(perNode.flatMap((n) => n.stacks)), { title: 't', frameStyle: t.frameStyle }));
  });

  it('says of every path what counting every node on it would say, with many nodes, ties and a small limit', () => {
    // A reference that counts every node on every path, against the bounded tree, over random stacks of 60
    // nodes on a small alphabet, so that paths, counts and ties repeat.
    let seed = 7;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) >>> 16) % n;
    const nodes: NodeStacks[] = Array.from({ length: 60 }, (_, i) => ({
      node: `n${String(rnd(40)).padStart(2, '0')}-${i}`,
      stacks: Array.from({ length: 1 + rnd(6) }, () => ({ frames: Array.from({ length: 1 + rnd(4) }, () => 'abc'[rnd(3)]), count: rnd(4) })),
    }));
    const t = treeOf(nodes, 3);
    const paths = new Set<string>(['']);
    for (const n of nodes) for (const s of n.stacks) for (let d = 1; d <= s.frames.length; d++) paths.add(s.frames.slice(0, d).join(';'));
    let listedSome = 0;
    for (const key of paths) {
      const path = key === '' ? [] : key.split(';');
      const counts = nodes.map((n) => ({ n: n.node, c: n.stacks.filter((s) => path.every((f, d) => s.frames[d] === f)).reduce((a, s) => a + BigInt(s.count), 0n) }));
      const listed = counts.filter((x) => x.c > 0n).sort((x, y) => (x.c === y.c ? (x.n < y.n ? -1 : 1) : x.c > y.c ? -1 : 1));
      const style = t.frameStyle({ stack: path, depth: path.length, count: 0 });
      if (listed.length === 0) {
        assert.equal(style.note, undefined, `path ${key}`);
        continue;
      }
      listedSome++;
      const more = listed.length > 3 ? `, +${listed.length - 3} more` : '';
      assert.equal(style.note, ` · by node: ${listed.slice(0, 3).map((x) => `${x.n} ${x.c.toLocaleString('en-US')}`).join(', ')}${more}`, `path ${key}`);
    }
    assert.ok(listedSome > 20, `only ${listedSome} paths had samples: the data tests too little`);
    assert.equal(Object.values(t.nodeTotals).reduce((x, y) => x + y, 0n), t.total);
    assert.equal(toFolded(t.stacks()), toFolded(mergeStacks(nodes.flatMap((n) => n.stacks))));
  });

  it('counts exactly past what a double holds: a node whose total is beyond 2^53 beside ordinary ones', () => {
    const big = 2n ** 60n + 1n;
    const nodes: NodeStacks[] = [
      { node: 'huge', stacks: [{ frames: ['a', 'b'], count: big }, { frames: ['a', 'c'], count: 3n }] },
      ...Array.from({ length: 10 }, (_, i) => ({ node: `small${i}`, stacks: [{ frames: ['a', 'b'], count: 10 + i }, { frames: ['a', 'c'], count: 2 ** 52 + i }] })),
    ];
    const t = treeOf(nodes, 3);
    assert.equal(t.nodeTotals.huge, big + 3n);
    assert.equal(t.frameStyle({ stack: ['a', 'b'], depth: 2, count: 0 }).note, ` · by node: huge ${big.toLocaleString('en-US')}, small9 19, small8 18, +8 more`);
    const c = (i: number): string => (2 ** 52 + i).toLocaleString('en-US');
    assert.equal(t.frameStyle({ stack: ['a', 'c'], depth: 2, count: 0 }).note, ` · by node: small9 ${c(9)}, small8 ${c(8)}, small7 ${c(7)}, +8 more`);
    assert.equal(t.frameStyle({ stack: ['a'], depth: 1, count: 0 }).note, ` · by node: huge ${(big + 3n).toLocaleString('en-US')}, small9 ${(2 ** 52 + 28).toLocaleString('en-US')}, small8 ${(2 ** 52 + 26).toLocaleString('en-US')}, +8 more`);
  });

  it('refuses past its cap of call paths (a 422 naming it)', () => {
    const t = new PathTree(3);
    t.addStack(1, ['a', 'b', 'c'], 1n);
    t.addStack(2, ['a', 'b'], 1n);
    assert.throws(() => t.addStack(3, ['a', 'x'], 1n), (e: unknown) => e instanceof TooManyPathsError && /more than 3 distinct call-path frames/.test(e.message));
  });

  it('counts a node\'s stack the tree does not hold in its total only', () => {
    const t = new PathTree(10);
    t.addStack(1, ['a'], 2n);
    t.countNode('n1', [{ stack: 1, count: 2n }, { stack: 99, count: 5n }]);
    assert.deepEqual(t.nodeTotals, { n1: 7n });
    assert.equal(t.frameStyle({ stack: ['a'], depth: 1, count: 2 }).note, ' · by node: n1 2');
  });
});

describe('ListedFunctionCounts', () => {
  it('gives each node the counts functionCounts gives its stacks, for the listed functions only', () => {
    const nodes: NodeStacks[] = [
      { node: 'x', stacks: [{ frames: ['main', 'a', 'b', 'a'], count: 3 }, { frames: ['main', 'c'], count: 2 }, { frames: ['main', 'b'], count: 0 }] },
      { node: 'y', stacks: [{ frames: ['main', 'c'], count: 4 }, { frames: ['main', 'a'], count: 1 }] },
    ];
    const { stacks, byNode } = rowsOf(nodes);
    const tree = new PathTree(100);
    for (const s of stacks) tree.addStack(s.id, s.frames, s.count);
    const only = new Set(['a', 'c', 'absent']);
    const counts = new ListedFunctionCounts(tree, only);
    for (const n of byNode) counts.countNode(n.node, n.rows);
    for (const n of nodes) {
      const want = [...functionCounts(n.stacks).counts].filter(([name]) => only.has(name));
      assert.deepEqual(Object.fromEntries(counts.byNode.get(n.node)!), Object.fromEntries(want), n.node);
    }
    assert.deepEqual(counts.byNode.get('x')!.get('a'), { self: 3, total: 3 });
  });
});
