/**
 * Differential flame graphs, after Brendan Gregg's difffolded.pl + flamegraph.pl: the target
 * profile is laid out as usual and each frame (a call path) is coloured by how its share of all
 * samples changed from base to target — red grew, blue shrank, grey unchanged, the deeper the
 * colour the larger the change relative to the largest one. Shares (count / that profile's
 * total) make profiles of different lengths or rates comparable.
 *
 * Paths only in the base are not drawn (the layout is the target's); swap base and target to
 * see what disappeared.
 */
import { toFolded, type FrameInfo, type FrameStyle, type StackCount } from './flamegraph';

/** Fill of frames whose share did not change. */
export const DIFF_NEUTRAL = 'rgb(221,221,221)';

interface TrieNode {
  count: bigint;
  children: Map<string, TrieNode>;
}

function trie(stacks: StackCount[]): { root: TrieNode; total: bigint } {
  const root: TrieNode = { count: 0n, children: new Map() };
  for (const s of stacks) {
    const c = BigInt(s.count);
    if (c === 0n) continue;
    root.count += c;
    let n = root;
    for (const f of s.frames) {
      let next = n.children.get(f);
      if (next === undefined) {
        next = { count: 0n, children: new Map() };
        n.children.set(f, next);
      }
      next.count += c;
      n = next;
    }
  }
  return { root, total: root.count };
}

function lookup(root: TrieNode, stack: readonly string[], depth: number): bigint {
  let n: TrieNode | undefined = root;
  for (let i = 0; i < depth && n !== undefined; i++) n = n.children.get(stack[i]);
  return n === undefined ? 0n : n.count;
}

/** Share of `c` in `total` as a float (0 when total is 0). */
function share(c: bigint, total: bigint): number {
  return total === 0n ? 0 : Number((c * 1_000_000_000_000n) / total) / 1e12;
}

/** Sign of target/targetTotal − base/baseTotal, exactly. */
function sign(base: bigint, baseTotal: bigint, target: bigint, targetTotal: bigint): -1 | 0 | 1 {
  const a = target * (baseTotal === 0n ? 1n : baseTotal);
  const b = baseTotal === 0n ? 0n : base * targetTotal;
  return a > b ? 1 : a < b ? -1 : 0;
}

/**
 * Red for growth, blue for shrinkage; `t` in (0, 1] is the change relative to the largest
 * change in the graph. Even the smallest change is tinted (channel 215 of 255), so it stays
 * distinguishable from the neutral grey.
 */
export function diffColor(direction: -1 | 0 | 1, t: number): string {
  if (direction === 0) return DIFF_NEUTRAL;
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 1));
  const c = Math.round(215 * (1 - x));
  return direction > 0 ? `rgb(255,${c},${c})` : `rgb(${c},${c},255)`;
}

function pct(v: number): string {
  return (v * 100).toFixed(2);
}

function signed(v: bigint | string): string {
  const s = v.toString();
  return s.startsWith('-') ? `−${s.slice(1)}` : `+${s}`;
}

export interface DiffStyle {
  frameStyle: (frame: FrameInfo) => FrameStyle;
  baseTotal: bigint;
  targetTotal: bigint;
}

/**
 * The colour function for `renderFlameGraphSvg(target, { frameStyle })`: compares each drawn
 * frame's inclusive count in the target with the same call path's in the base.
 */
export function diffFrameStyle(base: StackCount[], target: StackCount[], countName = 'samples'): DiffStyle {
  const b = trie(base);
  const t = trie(target);
  // The largest change of any path in the target, drawn or not, scales the colours.
  let maxAbs = 0;
  // Iterative: stacks can be hundreds of frames deep.
  const stack: [TrieNode, TrieNode | undefined][] = [[t.root, b.root]];
  while (stack.length > 0) {
    const [tn, bn] = stack.pop()!;
    const d = Math.abs(share(tn.count, t.total) - share(bn?.count ?? 0n, b.total));
    if (d > maxAbs) maxAbs = d;
    for (const [name, child] of tn.children) stack.push([child, bn?.children.get(name)]);
  }

  const frameStyle = (f: FrameInfo): FrameStyle => {
    const tc = BigInt(f.count);
    const bc = lookup(b.root, f.stack, f.depth);
    const ts = share(tc, t.total);
    const bs = share(bc, b.total);
    const dir = sign(bc, b.total, tc, t.total);
    const delta = ts - bs;
    const fill = diffColor(dir, maxAbs > 0 ? Math.abs(delta) / maxAbs : 0);
    const pts = dir === 0 ? '±0.00' : `${delta >= 0 ? '+' : '−'}${pct(Math.abs(delta))}`;
    return {
      fill,
      note: ` · base ${bc.toString()} (${pct(bs)}%) → target ${tc.toString()} (${pct(ts)}%) · Δ ${signed(tc - bc)} ${countName}, share ${pts} pts`,
    };
  };
  return { frameStyle, baseTotal: b.total, targetTotal: t.total };
}

/**
 * difffolded.pl's output: "path base_count target_count" per path found in either profile,
 * sorted by path, with frames made folded-safe exactly as `toFolded` does. Counts are raw (not
 * normalized).
 */
export function diffFolded(base: StackCount[], target: StackCount[]): string {
  const rows = new Map<string, [bigint, bigint]>();
  const add = (stacks: StackCount[], side: 0 | 1): void => {
    for (const line of toFolded(stacks).split('\n')) {
      if (line === '') continue;
      const sp = line.lastIndexOf(' ');
      const path = line.slice(0, sp);
      let r = rows.get(path);
      if (r === undefined) {
        r = [0n, 0n];
        rows.set(path, r);
      }
      r[side] += BigInt(line.slice(sp + 1));
    }
  };
  add(base, 0);
  add(target, 1);
  const paths = [...rows.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  return paths.map((p) => `${p} ${rows.get(p)![0]} ${rows.get(p)![1]}\n`).join('');
}
