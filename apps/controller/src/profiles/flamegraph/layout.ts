/**
 * Layout: icicle-up. The synthetic "all" root sits at the bottom, each frame's
 * width is proportional to its inclusive count, children are ordered by name
 * (UTF-16 code unit order, i.e. plain string comparison) and start at their
 * parent's left edge; the parent's self count is the uncovered space on the right.
 *
 * Implementation: the stacks are sorted into path order and swept once, keeping
 * only the currently open path (similar to a depth-first walk of the call
 * tree without ever materialising the tree). A frame is emitted when it closes,
 * and only if it is at least `minWidthPx` wide, so memory stays proportional to
 * the output rather than to the number of distinct tree nodes.
 */

import type { Arith } from './counts';

export interface Item<T> {
  frames: string[];
  c: T;
}

/**
 * Sorts stacks into path order and returns, for each position, the length of
 * the common prefix with the previous stack (LCP), so the sweep never has to
 * compare frame names again.
 *
 * Path order: element-wise string comparison; when one path is a prefix of the
 * other the longer one comes first (so a parent's self count ends up to the
 * right of its children). That is lexicographic order with an end marker
 * greater than every name, hence a total order.
 *
 * Implemented as a most-significant-frame-first radix sort: a range of stacks
 * sharing a prefix of length d is bucketed by frame d only, and only buckets
 * holding several stacks are refined further. Frames past the point where a
 * stack becomes unique are never looked at, and a long shared prefix costs one
 * equality check per stack and level instead of a comparison sort.
 */
function sortPaths<T>(items: Item<T>[]): Int32Array {
  const lcp = new Int32Array(items.length);
  const work: number[] = [0, items.length, 0]; // (lo, hi, depth) triples
  while (work.length > 0) {
    let d = work.pop()!;
    let hi = work.pop()!;
    const lo = work.pop()!;
    for (;;) {
      // Stacks that end at depth d go last (after all their extensions).
      let end = hi;
      for (let i = lo; i < end; ) {
        if (items[i].frames.length <= d) {
          end--;
          const t = items[i];
          items[i] = items[end];
          items[end] = t;
        } else {
          i++;
        }
      }
      for (let k = end > lo ? end : lo + 1; k < hi; k++) lcp[k] = d;
      if (end - lo < 2) break;
      const first = items[lo].frames[d];
      let same = true;
      for (let i = lo + 1; i < end; i++) {
        if (items[i].frames[d] !== first) {
          same = false;
          break;
        }
      }
      if (same) {
        // A single child: descend without regrouping.
        hi = end;
        d++;
        continue;
      }
      // Bucket by frame d (hashing each name once), then order the buckets.
      const buckets = new Map<string, Item<T>[]>();
      for (let i = lo; i < end; i++) {
        const it = items[i];
        const b = buckets.get(it.frames[d]);
        if (b === undefined) buckets.set(it.frames[d], [it]);
        else b.push(it);
      }
      const names = [...buckets.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      let i = lo;
      for (const name of names) {
        const b = buckets.get(name)!;
        if (i > lo) lcp[i] = d;
        for (let k = 0; k < b.length; k++) items[i + k] = b[k];
        if (b.length > 1) work.push(i, i + b.length, d + 1);
        i += b.length;
      }
      break;
    }
  }
  return lcp;
}

export interface Frame<T> {
  name: string;
  /** A stack through this frame; its first `depth` frames are the frame's path. */
  stack: string[];
  depth: number; // 0 = "all"
  start: T; // cumulative count left of the frame
  count: T; // inclusive count
}

/**
 * Sorts the stacks and sweeps them in path order, keeping only the currently
 * open path. Returns the emitted frames in reverse closing order, which is a
 * pre-order (parent before its descendants, subtrees contiguous).
 *
 * Frames below both neighbours' common prefixes belong to a single stack: they
 * all have that stack's count, so they are emitted (or skipped) in one go
 * without being opened. Work is therefore proportional to the shared part of
 * the tree plus the output, not to the total number of frames.
 */
export function layout<T>(items: Item<T>[], total: T, ar: Arith<T>, minRatio: number): Frame<T>[] {
  const lcp = sortPaths(items);
  const closed: Frame<T>[] = [];
  const openName: string[] = [];
  const openStart: T[] = [];
  let top = 0; // number of open frames below "all"
  let cum = ar.zero;
  // The open path is a prefix of the previous stack, so that stack names the closed frames' paths.
  let prev: string[] = [];
  const closeTo = (keep: number): void => {
    for (let d = top - 1; d >= keep; d--) {
      const count = ar.sub(cum, openStart[d]);
      if (ar.ratio(count, total) >= minRatio) {
        closed.push({ name: openName[d], stack: prev, depth: d + 1, start: openStart[d], count });
      }
    }
    top = keep;
  };
  const n = items.length;
  for (let i = 0; i < n; i++) {
    const f = items[i].frames;
    const c = items[i].c;
    const p = lcp[i]; // the open path is the previous stack, sharing exactly p frames with this one
    if (p < top) closeTo(p);
    const next = i + 1 < n ? lcp[i + 1] : 0;
    const shared = p > next ? p : next; // frames [shared, f.length) are this stack's alone
    for (let d = p; d < shared; d++) {
      openName[d] = f[d];
      openStart[d] = cum;
    }
    top = shared;
    if (shared < f.length && ar.ratio(c, total) >= minRatio) {
      for (let d = f.length - 1; d >= shared; d--) {
        closed.push({ name: f[d], stack: f, depth: d + 1, start: cum, count: c });
      }
    }
    cum = ar.add(cum, c);
    prev = f;
  }
  closeTo(0);
  closed.push({ name: 'all', stack: prev, depth: 0, start: ar.zero, count: total });
  closed.reverse();
  return closed;
}
