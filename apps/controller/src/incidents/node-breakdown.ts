import { frameColor, mergeStacks, type FrameInfo, type FrameStyle, type StackCount } from '../profiles/flamegraph/flamegraph';

export interface NodeStacks {
  node: string;
  stacks: StackCount[];
}

interface Trie {
  /** Inclusive count per node, indexed like `nodes`. */
  counts: bigint[];
  children: Map<string, Trie>;
}

export interface NodeBreakdown {
  /** All nodes' stacks merged: what the flame graph draws. */
  merged: StackCount[];
  total: bigint;
  /** Samples per node; they add up to `total`. */
  nodeTotals: Record<string, bigint>;
  /** Default colours, plus each node's count of the frame's call path in the tooltip. */
  frameStyle: (frame: FrameInfo) => FrameStyle;
  /** Each node's inclusive count of one call path (root first; [] = everything). */
  countsOf: (path: readonly string[]) => Record<string, bigint>;
}

/**
 * A merged flame graph that still says where its samples came from: one call tree holding a count
 * per node at every path, so the tooltip of any frame lists the nodes (largest first, up to
 * `maxListed`) and the merged width is exactly the sum of theirs.
 */
export function nodeBreakdown(perNode: NodeStacks[], maxListed = 8): NodeBreakdown {
  const nodes = perNode.map((n) => n.node);
  const zero = (): bigint[] => nodes.map(() => 0n);
  const root: Trie = { counts: zero(), children: new Map() };
  perNode.forEach((n, i) => {
    for (const s of n.stacks) {
      const c = BigInt(s.count);
      if (c === 0n) continue;
      root.counts[i] += c;
      let t = root;
      for (const f of s.frames) {
        let next = t.children.get(f);
        if (next === undefined) t.children.set(f, (next = { counts: zero(), children: new Map() }));
        next.counts[i] += c;
        t = next;
      }
    }
  });
  const find = (path: readonly string[], depth: number): Trie | undefined => {
    let t: Trie | undefined = root;
    for (let d = 0; d < depth && t !== undefined; d++) t = t.children.get(path[d]);
    return t;
  };
  const nodeTotals: Record<string, bigint> = {};
  nodes.forEach((n, i) => (nodeTotals[n] = (nodeTotals[n] ?? 0n) + root.counts[i]));
  const total = root.counts.reduce((a, b) => a + b, 0n);

  const frameStyle = (f: FrameInfo): FrameStyle => {
    const fill = frameColor(f.depth === 0 ? 'all' : f.stack[f.depth - 1]);
    const t = find(f.stack, f.depth);
    if (t === undefined || nodes.length === 0) return { fill };
    const listed = nodes
      .map((n, i) => ({ n, c: t.counts[i] }))
      .filter((x) => x.c > 0n)
      .sort((a, b) => (a.c === b.c ? a.n.localeCompare(b.n) : a.c > b.c ? -1 : 1));
    const shown = listed.slice(0, maxListed).map((x) => `${x.n} ${x.c.toLocaleString('en-US')}`);
    const more = listed.length > maxListed ? `, +${listed.length - maxListed} more` : '';
    return { fill, note: ` · by node: ${shown.join(', ')}${more}` };
  };
  const countsOf = (path: readonly string[]): Record<string, bigint> => {
    const t = find(path, path.length);
    const out: Record<string, bigint> = {};
    nodes.forEach((n, i) => (out[n] = t?.counts[i] ?? 0n));
    return out;
  };
  return { merged: mergeStacks(perNode.flatMap((n) => n.stacks)), total, nodeTotals, frameStyle, countsOf };
}
