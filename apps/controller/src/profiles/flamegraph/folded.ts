/**
 * Brendan Gregg's "folded" text format (`toFolded` / `parseFolded`) and merging identical paths
 * (`mergeStacks`), which the exports and diffs share with the SVG.
 */

import { checkedCount, checkedFrames, MAX_SAFE } from './counts';
import type { StackCount } from './flamegraph';

/**
 * Injective string key for a path: frames joined by NUL, or (in the rare case
 * a frame itself contains NUL) a JSON encoding, in a separate key namespace.
 */
function pathKey(frames: string[]): string {
  for (let i = 0; i < frames.length; i++) {
    if (frames[i].includes('\u0000')) return 'j' + JSON.stringify(frames);
  }
  return 'p' + frames.join('\u0000');
}

/**
 * Sums the counts of identical paths. Output keeps first-appearance order; a
 * merged count is a bigint if any contributing count was a bigint or the sum
 * is not a safe integer, otherwise a number. Frame arrays are copied.
 */
export function mergeStacks(stacks: StackCount[]): StackCount[] {
  const byPath = new Map<string, { frames: string[]; sum: bigint; big: boolean }>();
  for (let i = 0; i < stacks.length; i++) {
    const s = stacks[i];
    const frames = checkedFrames(s.frames, i);
    const c = checkedCount(s.count, i);
    const key = pathKey(frames);
    let e = byPath.get(key);
    if (e === undefined) {
      e = { frames: frames.slice(), sum: 0n, big: false };
      byPath.set(key, e);
    }
    e.sum += BigInt(c);
    if (typeof c === 'bigint') e.big = true;
  }
  const out: StackCount[] = [];
  for (const e of byPath.values()) {
    out.push({ frames: e.frames, count: e.big || e.sum > MAX_SAFE ? e.sum : Number(e.sum) });
  }
  return out;
}

/**
 * Makes a frame name representable in the folded format: ';' (the frame
 * separator) becomes ':', line breaks become spaces, and trailing whitespace
 * of the leaf frame is dropped (it would merge with the count separator).
 */
export function foldedSafeFrame(name: string, isLeaf: boolean): string {
  let s = name;
  if (FOLDED_UNSAFE.test(s)) s = s.replace(/;/g, ':').replace(/\r\n|[\r\n]/g, ' ');
  if (isLeaf && s.length > 0 && isWs(s.charCodeAt(s.length - 1))) s = s.replace(/\s+$/, '');
  return s;
}
const FOLDED_UNSAFE = /[;\r\n]/;

/**
 * Brendan Gregg's folded format: one "frame;frame;frame count" line per
 * distinct path, sorted by path (plain string order), each line terminated by
 * "\n". Paths that become identical after making frames safe are merged; zero
 * counts are skipped. An empty frame list (samples on the root itself) becomes
 * " count".
 */
export function toFolded(stacks: StackCount[]): string {
  const rows: { path: string; sum: bigint }[] = new Array(stacks.length);
  for (let i = 0; i < stacks.length; i++) {
    const frames = checkedFrames(stacks[i].frames, i);
    const c = checkedCount(stacks[i].count, i);
    let path = '';
    for (let j = 0; j < frames.length; j++) {
      path += (j > 0 ? ';' : '') + foldedSafeFrame(frames[j], j === frames.length - 1);
    }
    rows[i] = { path, sum: BigInt(c) };
  }
  rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const lines: string[] = [];
  for (let i = 0; i < rows.length; ) {
    const path = rows[i].path;
    let sum = 0n;
    for (; i < rows.length && rows[i].path === path; i++) sum += rows[i].sum;
    if (sum !== 0n) lines.push(`${path} ${sum}\n`);
  }
  return lines.join('');
}

function isWs(ch: number): boolean {
  // space, tab, CR, LF, VT, FF
  return ch === 32 || (ch >= 9 && ch <= 13);
}

/**
 * Parses the folded format. Blank lines, CRLF line endings, a leading BOM and
 * several spaces/tabs before the count are tolerated; duplicate paths are NOT
 * merged (use `mergeStacks`). Counts beyond Number.MAX_SAFE_INTEGER become
 * bigints. Malformed lines throw an Error naming the 1-based line number.
 */
export function parseFolded(text: string): StackCount[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = src.split('\n');
  const out: StackCount[] = [];
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    let end = line.length;
    while (end > 0 && isWs(line.charCodeAt(end - 1))) end--;
    if (end === 0) continue; // blank line
    let sep = end - 1;
    while (sep >= 0 && !isWs(line.charCodeAt(sep))) sep--;
    const countText = line.slice(sep + 1, end);
    if (sep < 0) {
      throw new Error(`parseFolded: line ${n + 1}: expected "<frame;frame;...> <count>", found no count`);
    }
    if (!/^\d+$/.test(countText)) {
      throw new Error(`parseFolded: line ${n + 1}: invalid count ${JSON.stringify(countText)} (expected a non-negative integer)`);
    }
    let stackEnd = sep;
    while (stackEnd > 0 && isWs(line.charCodeAt(stackEnd - 1))) stackEnd--;
    const path = line.slice(0, stackEnd);
    const big = BigInt(countText);
    out.push({ frames: path === '' ? [] : path.split(';'), count: big > MAX_SAFE ? big : Number(big) });
  }
  return out;
}
