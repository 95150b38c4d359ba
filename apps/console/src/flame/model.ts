/**
 * Flame graph data in the browser: folded stacks ("a;b;c 12", or the diff's "a;b;c 10 14") into a tree
 * whose nodes know their offset, so drawing, zooming, searching and hit-testing need no second pass over
 * the stacks. Kept apart from the canvas so it is tested in node.
 */
export interface FlameNode {
  name: string;
  /** Samples in this frame and below it (in a diff: the target's). */
  value: number;
  /** Diff only: the base's samples in this frame and below. */
  base: number;
  /** Offset of the frame's left edge in samples from the root's left edge. */
  x: number;
  depth: number;
  children: FlameNode[];
  parent: FlameNode | undefined;
}

export interface FlameTree {
  root: FlameNode;
  maxDepth: number;
  /** Frames in the tree (the root excluded). */
  frames: number;
  /** The diff's base total, when the input had two counts per line. */
  baseTotal: number;
  diff: boolean;
}

interface Building {
  name: string;
  value: number;
  base: number;
  kids: Map<string, Building>;
}

const LINE = /^(.*?)\s+(\d+)(?:\s+(\d+))?\s*$/;

/** Parses folded text; lines that are not `stack count [count]` are skipped and counted. */
export function parseFolded(text: string): { tree: FlameTree; skipped: number } {
  const top: Building = { name: 'all', value: 0, base: 0, kids: new Map() };
  let skipped = 0;
  let diff = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const m = LINE.exec(line);
    if (!m || !m[1]) {
      skipped++;
      continue;
    }
    // Diff lines are "stack base target" (difffolded.pl): the graph is drawn by the target.
    const two = m[3] !== undefined;
    if (two) diff = true;
    const base = two ? Number(m[2]) : 0;
    const value = two ? Number(m[3]) : Number(m[2]);
    let at = top;
    at.value += value;
    at.base += base;
    for (const frame of m[1].split(';')) {
      let kid = at.kids.get(frame);
      if (!kid) {
        kid = { name: frame, value: 0, base: 0, kids: new Map() };
        at.kids.set(frame, kid);
      }
      kid.value += value;
      kid.base += base;
      at = kid;
    }
  }
  let frames = 0;
  let maxDepth = 0;
  const finish = (b: Building, depth: number, x: number, parent: FlameNode | undefined): FlameNode => {
    const node: FlameNode = { name: b.name, value: b.value, base: b.base, x, depth, children: [], parent };
    if (depth > maxDepth) maxDepth = depth;
    let cx = x;
    // Alphabetical, like flamegraph.pl: the same stacks always land in the same place, so two graphs compare by eye.
    for (const kid of [...b.kids.values()].sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : 0))) {
      frames++;
      const child = finish(kid, depth + 1, cx, node);
      node.children.push(child);
      cx += diff ? Math.max(kid.value, 0) : kid.value;
    }
    return node;
  };
  const root = finish(top, 0, 0, undefined);
  return { tree: { root, maxDepth, frames, baseTotal: top.base, diff }, skipped };
}

/** Adds the folded text of several profiles (each node's, say) into one. */
export function mergeFolded(texts: string[]): string {
  return texts.filter(Boolean).join('\n');
}

export interface SearchResult {
  matches: Set<FlameNode>;
  /** Samples under a matching frame, each counted once (a match inside a match adds nothing). */
  matchedValue: number;
  /** matchedValue as a share of the root (0..100). */
  percent: number;
}

/** Case-insensitive substring search, or a regular expression when the query is /like this/. */
export function search(tree: FlameTree, query: string): SearchResult {
  const matches = new Set<FlameNode>();
  if (!query) return { matches, matchedValue: 0, percent: 0 };
  let test: (name: string) => boolean;
  const re = /^\/(.+)\/$/.exec(query);
  if (re) {
    let rx: RegExp;
    try {
      rx = new RegExp(re[1], 'i');
    } catch {
      return { matches, matchedValue: 0, percent: 0 };
    }
    test = (n) => rx.test(n);
  } else {
    const q = query.toLowerCase();
    test = (n) => n.toLowerCase().includes(q);
  }
  let matchedValue = 0;
  const walk = (n: FlameNode, inside: boolean): void => {
    const hit = n.depth > 0 && test(n.name);
    if (hit) {
      matches.add(n);
      if (!inside) matchedValue += n.value;
    }
    for (const c of n.children) walk(c, inside || hit);
  };
  walk(tree.root, false);
  const total = tree.root.value;
  return { matches, matchedValue, percent: total > 0 ? (100 * matchedValue) / total : 0 };
}

/** The path of frame names from the root's child down to n ("a;b;c"), for links and tests. */
export function pathOf(n: FlameNode): string {
  const names: string[] = [];
  for (let at: FlameNode | undefined = n; at && at.depth > 0; at = at.parent) names.push(at.name);
  return names.reverse().join(';');
}

/** Finds the frame at this path, or undefined. */
export function findPath(tree: FlameTree, path: string): FlameNode | undefined {
  let at: FlameNode | undefined = tree.root;
  for (const name of path.split(';').filter(Boolean)) {
    at = at?.children.find((c) => c.name === name);
    if (!at) return undefined;
  }
  return at;
}

/** The heaviest frame whose name matches (by samples), for "zoom to the first match". */
export function heaviestMatch(result: SearchResult): FlameNode | undefined {
  let best: FlameNode | undefined;
  for (const n of result.matches) if (!best || n.value > best.value) best = n;
  return best;
}

/** A stable warm colour per function name (flamegraph.pl's palette family), or red/blue by change in a diff. */
export function colourOf(n: FlameNode, tree: FlameTree): string {
  if (tree.diff) {
    const t = tree.root.value || 1;
    const b = tree.baseTotal || 1;
    const delta = n.value / t - n.base / b;
    const strength = Math.min(1, Math.abs(delta) * 20);
    const light = Math.round(95 - 45 * strength);
    return delta >= 0 ? `hsl(0, 80%, ${light}%)` : `hsl(220, 80%, ${light}%)`;
  }
  let h = 0;
  for (let i = 0; i < n.name.length; i++) h = (h * 31 + n.name.charCodeAt(i)) | 0;
  const r = (h >>> 0) % 1000;
  return `hsl(${10 + (r % 45)}, ${75 + (r % 20)}%, ${52 + ((r >> 3) % 12)}%)`;
}
