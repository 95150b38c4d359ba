/**
 * A call tree built as stacks stream in: one node per distinct call path, so what a merged read
 * holds grows with the distinct paths of the profile, not with nodes × stacks. The flame graph and
 * the folded text are both made from it, and come out byte for byte as `renderFlameGraphSvg` and
 * `toFolded` make them from the flat list (flamegraph.spec.ts / stack-trie.spec.ts check it).
 */
import { UnprocessableEntityException } from '@nestjs/common';
import type { StackCount } from './flamegraph/flamegraph';
import { foldedSafeFrame } from './flamegraph/folded';

interface TrieNode {
  /** Samples whose stack ends here. */
  self: bigint;
  kids: Map<string, TrieNode> | undefined;
}

/** Raised when a read would hold more call paths than its cap; the routes answer 422 with this text. */
export class TooManyPathsError extends UnprocessableEntityException {
  constructor(readonly cap: number) {
    super(
      `the profile has more than ${cap.toLocaleString('en-US')} distinct call-path frames, the most one read folds; ` +
        'narrow it with ?node=, ?container= or ?cgroup=',
    );
  }
}

/** A call tree's node as `pathStacks` reads it: samples ending there, and the children by frame name. */
export interface CountedPath<N> {
  self: bigint;
  kids: Map<string, N> | undefined;
}

/** One entry per call path with samples of its own, in tree order (children in insertion order). */
export function pathStacks<N extends CountedPath<N>>(root: N): StackCount[] {
  const out: StackCount[] = [];
  const path: string[] = [];
  const walk = (n: N): void => {
    if (n.self !== 0n) out.push({ frames: path.slice(), count: n.self });
    if (n.kids === undefined) return;
    for (const [name, k] of n.kids) {
      path.push(name);
      walk(k);
      path.pop();
    }
  };
  walk(root);
  return out;
}

export class StackTrie {
  private readonly root: TrieNode = { self: 0n, kids: undefined };
  private nodes = 0;
  private sum = 0n;

  /** `cap`: the most trie nodes (distinct call-path prefixes) this trie takes before throwing TooManyPathsError. */
  constructor(readonly cap: number) {}

  /** Distinct call-path prefixes held (the memory this read holds, roughly 150 bytes each). */
  get size(): number {
    return this.nodes;
  }

  get total(): bigint {
    return this.sum;
  }

  /** Adds `count` samples of the stack `frames` (root first); `prefix` (a grouping frame) goes above it. */
  add(frames: readonly string[], count: bigint, prefix?: string): void {
    let n = this.root;
    if (prefix !== undefined) n = this.child(n, prefix);
    for (let i = 0; i < frames.length; i++) n = this.child(n, frames[i]);
    n.self += count;
    this.sum += count;
  }

  private child(n: TrieNode, name: string): TrieNode {
    if (n.kids === undefined) n.kids = new Map();
    let k = n.kids.get(name);
    if (k === undefined) {
      if (this.nodes >= this.cap) throw new TooManyPathsError(this.cap);
      k = { self: 0n, kids: undefined };
      n.kids.set(name, k);
      this.nodes++;
    }
    return k;
  }

  /**
   * One entry per call path with samples of its own, in tree order (what the flame graph renderer
   * takes; it merges nothing further, so the SVG is the one of the original rows). The frame arrays
   * hold the trie's strings: no copy of a name per stack.
   */
  stacks(): StackCount[] {
    return pathStacks(this.root);
  }

  /**
   * The same entries in path order (children by name, a path before its extensions): speedscope's
   * order, so its output needs no sort of its own.
   */
  sortedStacks(): StackCount[] {
    const out: StackCount[] = [];
    const path: string[] = [];
    const walk = (n: TrieNode): void => {
      if (n.self !== 0n) out.push({ frames: path.slice(), count: n.self });
      if (n.kids === undefined) return;
      for (const name of [...n.kids.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
        path.push(name);
        walk(n.kids.get(name)!);
        path.pop();
      }
    };
    walk(this.root);
    return out;
  }

  /**
   * The folded text, line by line in `toFolded`'s order (plain string order of the lines' paths), each
   * batch of lines handed to `write` as it is made (awaited: the caller's back-pressure). Frames are
   * made folded-safe as `toFolded` does ( ';' → ':', line breaks → ' ', a leaf's trailing blanks cut),
   * and paths that become equal are merged, as there.
   */
  async writeFolded(write: (text: string) => Promise<void>, batchChars = 64 * 1024): Promise<void> {
    let buf = '';
    const line = async (path: string, count: bigint): Promise<void> => {
      if (count === 0n) return;
      buf += `${path} ${count}\n`;
      if (buf.length >= batchChars) {
        const out = buf;
        buf = '';
        await write(out);
      }
    };
    // The root's own samples (an empty stack) make the line "" as a stack of one empty frame does.
    await this.foldedLevel([this.root], '', line, this.root.self);
    if (buf !== '') await write(buf);
  }

  /**
   * The lines below `nodes` (one call path made of trie nodes whose names became equal when made safe).
   * Sorting siblings by "name" for a line ending there and "name;" for the lines below it gives plain
   * string order of whole lines: no sibling name holds ';', so each child's lines below it are one
   * contiguous run that starts with "name;".
   */
  private async foldedLevel(nodes: TrieNode[], prefix: string, line: (path: string, count: bigint) => Promise<void>, rootSelf?: bigint): Promise<void> {
    const below = new Map<string, TrieNode[]>();
    const ends = new Map<string, bigint>();
    if (rootSelf !== undefined && rootSelf !== 0n) ends.set('', rootSelf);
    for (const n of nodes) {
      if (n.kids === undefined) continue;
      for (const [name, k] of n.kids) {
        if (k.self !== 0n) {
          const leaf = foldedSafeFrame(name, true);
          ends.set(leaf, (ends.get(leaf) ?? 0n) + k.self);
        }
        if (k.kids !== undefined) {
          const safe = foldedSafeFrame(name, false);
          const group = below.get(safe);
          if (group === undefined) below.set(safe, [k]);
          else group.push(k);
        }
      }
    }
    const entries: { key: string; self?: bigint; kids?: TrieNode[] }[] = [];
    for (const [key, self] of ends) entries.push({ key, self });
    for (const [safe, kids] of below) entries.push({ key: `${safe};`, kids });
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const e of entries) {
      if (e.kids === undefined) await line(prefix + e.key, e.self!);
      else await this.foldedLevel(e.kids, prefix + e.key, line);
    }
  }
}
