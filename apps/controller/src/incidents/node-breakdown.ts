import { frameColor, mergeStacks, type FrameInfo, type FrameStyle, type StackCount } from '../profiles/flamegraph/flamegraph';

export interface NodeStacks {
  node: string;
  stacks: StackCount[];
}

/** One call path of the merged tree, with what its tooltip says of the nodes. */
interface PathNodes {
  children: Map<string, PathNodes>;
  /** Nodes with samples on this path (or below it). */
  nodes: number;
  /** Its largest counts, at most `maxListed`, largest first (ties by node name): [index in perNode, count]. */
  top: [number, bigint][];
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

/** All nodes' stacks merged into one profile (what the flame graph, the folded text and top functions read). */
export function mergedOf(perNode: NodeStacks[]): StackCount[] {
  return mergeStacks(perNode.flatMap((n) => n.stacks));
}

/** Samples per node, over all its stacks. */
export function totalsByNode(perNode: NodeStacks[]): Record<string, bigint> {
  const totals: Record<string, bigint> = {};
  for (const n of perNode) {
    let c = 0n;
    for (const s of n.stacks) c += BigInt(s.count);
    totals[n.node] = (totals[n.node] ?? 0n) + c;
  }
  return totals;
}

/**
 * A merged flame graph that still says where its samples came from: the tooltip of any frame lists the nodes
 * with the most samples on its call path (largest first, up to `maxListed`) and how many more have some.
 *
 * An incident's flame graph covers its whole fleet: thousands of nodes. A call tree holding a count for every
 * node at every path (what this did before) grew as paths × nodes: 2,000 nodes of one service, each with the
 * same few thousand paths, made millions of counts and took the replica past its heap. Now each node's stacks are
 * counted on their own, one node at a time, and every path keeps only its `maxListed` largest and a tally of
 * nodes: memory grows with the paths, not with paths × nodes. The tree is built at the first tooltip asked for
 * (reports and the folded text never ask). `countsOf`, every node's count on one path, reads the stacks again.
 */
export function nodeBreakdown(perNode: NodeStacks[], maxListed = 8): NodeBreakdown {
  const nodeTotals = totalsByNode(perNode);
  const total = Object.values(nodeTotals).reduce((a, b) => a + b, 0n);
  let tree: PathNodes | undefined;

  const frameStyle = (f: FrameInfo): FrameStyle => {
    const fill = frameColor(f.depth === 0 ? 'all' : f.stack[f.depth - 1]);
    tree ??= pathNodes(perNode, maxListed);
    let t: PathNodes | undefined = tree;
    for (let d = 0; d < f.depth && t !== undefined; d++) t = t.children.get(f.stack[d]);
    if (t === undefined || t.nodes === 0) return { fill };
    const shown = t.top.map(([i, c]) => `${perNode[i].node} ${c.toLocaleString('en-US')}`);
    const more = t.nodes > shown.length ? `, +${t.nodes - shown.length} more` : '';
    return { fill, note: ` · by node: ${shown.join(', ')}${more}` };
  };
  const countsOf = (path: readonly string[]): Record<string, bigint> => {
    const out: Record<string, bigint> = {};
    for (const n of perNode) {
      let c = 0n;
      for (const s of n.stacks) if (s.frames.length >= path.length && path.every((f, d) => s.frames[d] === f)) c += BigInt(s.count);
      out[n.node] = (out[n.node] ?? 0n) + c;
    }
    return out;
  };
  return { merged: mergedOf(perNode), total, nodeTotals, frameStyle, countsOf };
}

/** The merged call tree with, at every path, its largest nodes and how many have samples there. */
function pathNodes(perNode: NodeStacks[], maxListed: number): PathNodes {
  const fresh = (): PathNodes => ({ children: new Map(), nodes: 0, top: [] });
  const root = fresh();
  perNode.forEach((n, i) => {
    // This node's count on each path it has samples on: a node's own paths, held while it is read.
    const mine = new Map<PathNodes, bigint>();
    const add = (p: PathNodes, c: bigint): void => void mine.set(p, (mine.get(p) ?? 0n) + c);
    for (const s of n.stacks) {
      const c = BigInt(s.count);
      if (c <= 0n) continue;
      add(root, c);
      let t = root;
      for (const f of s.frames) {
        let next = t.children.get(f);
        if (next === undefined) t.children.set(f, (next = fresh()));
        add(next, c);
        t = next;
      }
    }
    for (const [p, c] of mine) offer(p, i, c);
  });
  return root;

  /** Counts node `i` on path `p`, keeping the path's `maxListed` largest in order. */
  function offer(p: PathNodes, i: number, c: bigint): void {
    p.nodes++;
    const before = (x: [number, bigint]): boolean => c > x[1] || (c === x[1] && perNode[i].node < perNode[x[0]].node);
    let at = p.top.length;
    while (at > 0 && before(p.top[at - 1])) at--;
    if (at >= maxListed) return;
    p.top.splice(at, 0, [i, c]);
    if (p.top.length > maxListed) p.top.pop();
  }
}
