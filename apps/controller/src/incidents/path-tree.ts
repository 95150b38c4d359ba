/**
 * An incident's merged call tree, built from the database's rows without holding them: first each distinct
 * stack once with its count summed over every node (one row per stack id), then each node's (stack id,
 * count) rows, one node at a time, which move what the flame graph's tooltip says of the nodes on every path.
 *
 * What it holds grows with the distinct call paths (capped like a job's merged read, stack-trie.ts), not
 * with nodes × paths: 2,000 nodes of one service each sending the same few thousand stacks are a few
 * thousand paths here. A node's rows are let go once they are counted.
 */
import { frameColor, type FrameInfo, type FrameStyle, type StackCount } from '../profiles/flamegraph/flamegraph';
import { pathStacks, TooManyPathsError } from '../profiles/stack-trie';

/** One call path. */
interface PathNode {
  /** Its place in `PathTree.byIndex` (the root's is 0). */
  index: number;
  name: string;
  parent: PathNode | undefined;
  kids: Map<string, PathNode> | undefined;
  /** Samples (over every node) whose stack ends here. */
  self: bigint;
  /** Nodes with samples on this path (or below it). */
  nodes: number;
  /** Its largest node counts, at most `maxListed`, largest first (ties by node name): [index in nodeNames, count]. */
  top: [number, bigint][] | undefined;
}

/** The largest count a double holds exactly. */
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** One node's count of one stored stack. */
export interface StackRow {
  stack: number;
  count: bigint;
}

export class PathTree {
  private readonly root: PathNode = { index: 0, name: 'all', parent: undefined, kids: undefined, self: 0n, nodes: 0, top: undefined };
  /** Every path by its index. */
  private readonly byIndex: PathNode[] = [this.root];
  /** countExactInDoubles' sums, all 0 between nodes. */
  private acc: Float64Array | undefined;
  /** Where each stored stack (by id) ends. */
  private readonly leaves = new Map<number, PathNode>();
  private size = 0;
  private sum = 0n;
  /** Nodes counted so far, in the order they were (indexes of `top`). */
  private readonly nodeNames: string[] = [];
  private readonly totals = new Map<string, bigint>();

  /**
   * `cap`: the most call paths held before TooManyPathsError (a 422); `maxListed`: the most nodes a
   * tooltip names on one path (the rest are a tally).
   */
  constructor(
    readonly cap: number,
    readonly maxListed = 8,
  ) {}

  /** Samples over every node. */
  get total(): bigint {
    return this.sum;
  }

  /** Call paths held. */
  get paths(): number {
    return this.size;
  }

  /** Adds the stored stack `id` (frames root first) with its count summed over every node. */
  addStack(id: number, frames: readonly string[], count: bigint): void {
    let n = this.root;
    for (const f of frames) {
      if (n.kids === undefined) n.kids = new Map();
      let k = n.kids.get(f);
      if (k === undefined) {
        if (this.size >= this.cap) throw new TooManyPathsError(this.cap);
        k = { index: this.byIndex.length, name: f, parent: n, kids: undefined, self: 0n, nodes: 0, top: undefined };
        n.kids.set(f, k);
        this.byIndex.push(k);
        this.size++;
      }
      n = k;
    }
    n.self += count;
    this.sum += count;
    this.leaves.set(id, n);
  }

  /** The frames of stored stack `id`, root first (undefined: not added). */
  framesOf(id: number): string[] | undefined {
    const out: string[] = [];
    for (let n = this.leaves.get(id); n !== undefined && n !== this.root; n = n.parent) out.push(n.name);
    return this.leaves.has(id) ? out.reverse() : undefined;
  }

  /** One entry per call path with samples of its own (the merged profile the renderer, folded text and top functions take). */
  stacks(): StackCount[] {
    return pathStacks(this.root);
  }

  /**
   * Counts one node's rows (all of them, once): its total, and on every path it has samples on, its place
   * among the path's largest nodes. A stack the tree does not hold (not added) counts in the node's total only.
   */
  countNode(node: string, rows: readonly StackRow[]): void {
    const i = this.nodeNames.push(node) - 1;
    let total = 0n;
    for (const r of rows) if (r.count > 0n) total += r.count;
    this.totals.set(node, (this.totals.get(node) ?? 0n) + total);
    if (total <= MAX_EXACT) this.countExactInDoubles(i, rows);
    else this.countInBigints(i, rows);
  }

  /**
   * The node's count on each of its paths, summed in one array indexed by path (reset after): no sum can
   * pass the node's total, which fits a double exactly. A few times faster than a map of bigints, which
   * 410,000 rows of depth 20 made the larger part of an incident's flame graph.
   */
  private countExactInDoubles(i: number, rows: readonly StackRow[]): void {
    if (this.acc === undefined || this.acc.length < this.byIndex.length) this.acc = new Float64Array(this.byIndex.length);
    const acc = this.acc;
    const touched: number[] = [];
    for (const r of rows) {
      if (r.count <= 0n) continue;
      const c = Number(r.count);
      for (let n = this.leaves.get(r.stack); n !== undefined; n = n.parent) {
        if (acc[n.index] === 0) touched.push(n.index);
        acc[n.index] += c;
      }
    }
    for (const k of touched) {
      const p = this.byIndex[k];
      const c = acc[k];
      acc[k] = 0;
      // Most nodes are not among a path's largest: counted in its tally without making a bigint.
      const top = p.top;
      if (top !== undefined && top.length >= this.maxListed && c < Number(top[top.length - 1][1])) p.nodes++;
      else this.offer(p, i, BigInt(c));
    }
  }

  /** The same with bigints, for a node whose total a double would not hold exactly. */
  private countInBigints(i: number, rows: readonly StackRow[]): void {
    const mine = new Map<PathNode, bigint>();
    for (const r of rows) {
      if (r.count <= 0n) continue;
      for (let n = this.leaves.get(r.stack); n !== undefined; n = n.parent) mine.set(n, (mine.get(n) ?? 0n) + r.count);
    }
    for (const [p, c] of mine) this.offer(p, i, c);
  }

  /** Samples per node counted, in the order they were. */
  get nodeTotals(): Record<string, bigint> {
    return Object.fromEntries(this.totals);
  }

  /** Default colours, plus the nodes with the most samples on the frame's call path in its tooltip. */
  readonly frameStyle = (f: FrameInfo): FrameStyle => {
    const fill = frameColor(f.depth === 0 ? 'all' : f.stack[f.depth - 1]);
    let t: PathNode | undefined = this.root;
    for (let d = 0; d < f.depth && t !== undefined; d++) t = t.kids?.get(f.stack[d]);
    if (t === undefined || t.nodes === 0 || t.top === undefined) return { fill };
    const shown = t.top.map(([i, c]) => `${this.nodeNames[i]} ${c.toLocaleString('en-US')}`);
    const more = t.nodes > shown.length ? `, +${t.nodes - shown.length} more` : '';
    return { fill, note: ` · by node: ${shown.join(', ')}${more}` };
  };

  /** Counts node `i` on path `p`, keeping the path's `maxListed` largest in order. */
  private offer(p: PathNode, i: number, c: bigint): void {
    p.nodes++;
    const top = (p.top ??= []);
    const name = this.nodeNames[i];
    const before = (x: [number, bigint]): boolean => c > x[1] || (c === x[1] && name < this.nodeNames[x[0]]);
    let at = top.length;
    while (at > 0 && before(top[at - 1])) at--;
    if (at >= this.maxListed) return;
    top.splice(at, 0, [i, c]);
    if (top.length > this.maxListed) top.pop();
  }
}

/**
 * Each node's self and total samples of a few functions (`only`: the ones an answer lists), from its rows and
 * the stacks' frames in the tree. What each stack holds of them is worked out once per stack, not per node.
 */
export class ListedFunctionCounts {
  private readonly ofStack = new Map<number, { self: string | undefined; total: string[] }>();
  readonly byNode = new Map<string, Map<string, { self: number; total: number }>>();

  constructor(
    private readonly tree: PathTree,
    private readonly only: ReadonlySet<string>,
  ) {}

  countNode(node: string, rows: readonly StackRow[]): void {
    let counts = this.byNode.get(node);
    if (counts === undefined) this.byNode.set(node, (counts = new Map()));
    const at = (name: string): { self: number; total: number } => {
      let c = counts!.get(name);
      if (c === undefined) counts!.set(name, (c = { self: 0, total: 0 }));
      return c;
    };
    for (const r of rows) {
      if (r.count <= 0n) continue;
      const fns = this.functionsOf(r.stack);
      const n = Number(r.count);
      if (fns.self !== undefined) at(fns.self).self += n;
      for (const name of fns.total) at(name).total += n;
    }
  }

  /** The listed functions on stack `id` (each once, recursion or not) and its leaf if listed. */
  private functionsOf(id: number): { self: string | undefined; total: string[] } {
    let fns = this.ofStack.get(id);
    if (fns !== undefined) return fns;
    const frames = this.tree.framesOf(id) ?? [];
    const leaf = frames.length > 0 ? frames[frames.length - 1] : undefined;
    fns = { self: leaf !== undefined && this.only.has(leaf) ? leaf : undefined, total: [...new Set(frames.filter((f) => this.only.has(f)))] };
    this.ofStack.set(id, fns);
    return fns;
  }
}
