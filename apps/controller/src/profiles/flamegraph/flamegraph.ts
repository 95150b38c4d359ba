/**
 * Flame graph rendering for stored profiles.
 *
 * Pure and dependency-free: turns a list of sampled call stacks into
 *  - a standalone, interactive SVG flame graph (`renderFlameGraphSvg`), and
 *  - Brendan Gregg's "folded" text format (`toFolded` / `parseFolded`),
 * so the controller can serve both from the REST API. Frames take a name-hashed palette, or
 * whatever `frameStyle` says (diff.ts colours a differential graph by call path with it).
 *
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

export interface StackCount {
  /** Frames, root first, e.g. `['main', 'work', 'hot_spin']`. */
  frames: string[];
  /** Non-negative integer weight (samples, bytes, ...). */
  count: number | bigint;
}

export interface FlameGraphOptions {
  title: string;
  /** e.g. "node-a · 4,951 samples · 99 Hz · 5 s" */
  subtitle?: string;
  /** Image width in px, default 1200. */
  width?: number;
  /** Height of one frame row in px, default 16. */
  frameHeight?: number;
  /** Frames narrower than this are omitted (their counts still count in their parents), default 0.1. */
  minWidthPx?: number;
  /** Unit of the counts, "samples" by default ("bytes" for memory profiles). */
  countName?: string;
  /**
   * Colours a frame (and may add to its tooltip) instead of the name-hashed palette of
   * `frameColor`: differential flame graphs colour a frame by how its call path changed.
   * Called once per drawn frame, in document order.
   */
  frameStyle?: (frame: FrameInfo) => FrameStyle;
}

/** A drawn frame, as `FlameGraphOptions.frameStyle` sees it. */
export interface FrameInfo {
  /**
   * One of the stacks through this frame: the frame's call path is `stack.slice(0, depth)`,
   * root first (the array is shared, not a copy; do not modify it).
   */
  stack: readonly string[];
  /** 0 for the synthetic root "all", 1 for the stacks' root frames, ... */
  depth: number;
  /** Inclusive count of the frame's call path. */
  count: number | bigint;
}

export interface FrameStyle {
  /** An SVG paint, e.g. "rgb(255,120,120)". */
  fill: string;
  /** Appended to the tooltip after "name (count unit, percent%)". */
  note?: string;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// ---------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------

function checkedCount(c: unknown, index: number): number | bigint {
  if (typeof c === 'bigint') {
    if (c < 0n) throw new RangeError(`stack ${index}: count must not be negative (got ${c})`);
    return c;
  }
  if (typeof c === 'number') {
    if (!Number.isInteger(c) || c < 0) {
      throw new RangeError(`stack ${index}: count must be a non-negative integer (got ${c})`);
    }
    return c;
  }
  throw new TypeError(`stack ${index}: count must be a number or bigint (got ${typeof c})`);
}

function checkedFrames(frames: unknown, index: number): string[] {
  if (!Array.isArray(frames)) throw new TypeError(`stack ${index}: frames must be an array of strings`);
  for (let i = 0; i < frames.length; i++) {
    if (typeof frames[i] !== 'string') {
      throw new TypeError(`stack ${index}: frame ${i} must be a string (got ${typeof frames[i]})`);
    }
  }
  return frames as string[];
}

function isZero(c: number | bigint): boolean {
  return c === 0 || c === 0n;
}

/** "1234567" -> "1,234,567" */
function groupDigits(v: number | bigint): string {
  const s = v.toString();
  if (s.length <= 3) return s;
  let out = s.slice(0, ((s.length - 1) % 3) + 1);
  for (let i = out.length; i < s.length; i += 3) out += ',' + s.slice(i, i + 3);
  return out;
}

interface Arith<T> {
  zero: T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  /** a / b as a float */
  ratio(a: T, b: T): number;
  /** 100 * a / b formatted with two decimals */
  percent(a: T, b: T): string;
}

const numberArith: Arith<number> = {
  zero: 0,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  ratio: (a, b) => a / b,
  percent: (a, b) => ((a / b) * 100).toFixed(2),
};

const bigintArith: Arith<bigint> = {
  zero: 0n,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  ratio: (a, b) => Number(a) / Number(b),
  percent: (a, b) => (Number((a * 1000000n) / b) / 10000).toFixed(2),
};

// ---------------------------------------------------------------------------
// mergeStacks / folded format
// ---------------------------------------------------------------------------

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
function foldedSafeFrame(name: string, isLeaf: boolean): string {
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

// ---------------------------------------------------------------------------
// XML helpers
// ---------------------------------------------------------------------------

// Characters XML 1.0 does not allow at all (not even as references), plus
// unpaired surrogates. Replaced one-for-one by U+FFFD so lengths are kept.
const XML_INVALID =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const NEEDS_TEXT_ESCAPE = /[&<>\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;

/** Keeps the UTF-16 length of `s` unchanged except for the entities. */
function escapeText(s: string): string {
  if (!NEEDS_TEXT_ESCAPE.test(s)) return s;
  return s
    .replace(XML_INVALID, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r/g, '&#13;'); // a literal CR would be normalised away by the parser
}

/** For attribute values in double quotes. */
function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;');
}

/** JSON that is safe inside <![CDATA[ ]]> and a <script> element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Compact coordinate: at most two decimals, no trailing zeros. */
function px(n: number): string {
  return String(Math.round(n * 100) / 100);
}

// ---------------------------------------------------------------------------
// Colours
// ---------------------------------------------------------------------------

/** 32-bit FNV-1a over UTF-16 code units. */
function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche so that similar names spread over the palette
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

function hsl(h: number, s: number, l: number): string {
  // h in degrees, s and l in [0, 1]
  const a = s * Math.min(l, 1 - l);
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return `rgb(${f(0)},${f(8)},${f(4)})`;
}

/** Search matches; hue 300 is used by none of the palettes below. */
const HIGHLIGHT = 'rgb(224,40,224)';

/**
 * Deterministic colour for a frame name: warm reds/oranges/yellows for user
 * code, blues for kernel frames (`_[k]`), greens for JIT frames (`_[j]`).
 */
export function frameColor(name: string): string {
  const h = hashName(name);
  const v1 = (h & 0xffff) / 0xffff;
  const v2 = ((h >>> 16) & 0xff) / 0xff;
  const v3 = (h >>> 24) / 0xff;
  if (name.endsWith('_[k]')) return hsl(192 + 24 * v1, 0.5 + 0.25 * v2, 0.58 + 0.12 * v3);
  if (name.endsWith('_[j]')) return hsl(88 + 50 * v1, 0.45 + 0.25 * v2, 0.5 + 0.12 * v3);
  return hsl(2 + 48 * v1, 0.78 + 0.17 * v2, 0.55 + 0.1 * v3);
}

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

interface Item<T> {
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

interface Frame<T> {
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
function layout<T>(items: Item<T>[], total: T, ar: Arith<T>, minRatio: number): Frame<T>[] {
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

// ---------------------------------------------------------------------------
// SVG
// ---------------------------------------------------------------------------

const PAD = 10;
const FONT_FAMILY = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';
/** Advance width of one monospace glyph relative to the font size (slightly generous). */
const CHAR_WIDTH_EM = 0.62;

/** Truncates `name` with ".." to at most `maxChars` characters; "" if fewer than 3 fit. */
function fitLabel(name: string, maxChars: number): string {
  if (maxChars < 3) return '';
  if (name.length <= maxChars) return name;
  let cut = maxChars - 2;
  const cc = name.charCodeAt(cut - 1);
  if (cc >= 0xd800 && cc <= 0xdbff) cut--; // don't split a surrogate pair
  return name.slice(0, cut) + '..';
}

function positiveNumber(v: number | undefined, dflt: number, what: string, allowZero = false): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new RangeError(`renderFlameGraphSvg: ${what} must be a ${allowZero ? 'non-negative' : 'positive'} finite number (got ${v})`);
  }
  return v;
}

/**
 * Renders an interactive, standalone SVG flame graph (serve as image/svg+xml).
 * Hover shows details, click zooms, "Search" (or Ctrl-F, '/') highlights
 * frames matching a string or regular expression, Escape resets.
 */
export function renderFlameGraphSvg(stacks: StackCount[], opts: FlameGraphOptions): string {
  const width = positiveNumber(opts.width, 1200, 'width');
  const fh = positiveNumber(opts.frameHeight, 16, 'frameHeight');
  const minWidthPx = positiveNumber(opts.minWidthPx, 0.1, 'minWidthPx', true);
  const countName = opts.countName ?? 'samples';
  const title = String(opts.title ?? '');
  const subtitle = opts.subtitle ? String(opts.subtitle) : '';
  const plotW = Math.max(1, width - 2 * PAD);
  const fontSize = Math.max(6, Math.min(12, fh - 4));
  // Rows shorter than 10px get no labels (a huge glyph width makes nothing fit).
  const charW = fh >= 10 ? fontSize * CHAR_WIDTH_EM : 1e9;

  // Validate, total as bigint, then pick exact number arithmetic when safe.
  let totalBig = 0n;
  const valid: { frames: string[]; c: number | bigint }[] = [];
  for (let i = 0; i < stacks.length; i++) {
    const frames = checkedFrames(stacks[i].frames, i);
    const c = checkedCount(stacks[i].count, i);
    if (isZero(c)) continue;
    totalBig += typeof c === 'bigint' ? c : BigInt(c);
    valid.push({ frames, c });
  }

  const headerH = subtitle ? 56 : 38;
  const footerH = 28;
  const out: string[] = [];
  const open = (height: number): void => {
    out.push(
      '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n',
      `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${px(width)}" height="${px(height)}" viewBox="0 0 ${px(width)} ${px(height)}" role="img" aria-labelledby="fg-doc-title">\n`,
      `<title id="fg-doc-title">${escapeText(subtitle ? `${title} (${subtitle})` : title)}</title>\n`,
      '<defs><linearGradient id="fg-bg" x1="0" y1="0" x2="0" y2="1">',
      '<stop offset="0%" stop-color="#f7f7f2"/><stop offset="100%" stop-color="#ecebe0"/></linearGradient></defs>\n',
      `<style type="text/css">
text { font-family: ${FONT_FAMILY}; font-size: 12px; fill: #222; }
#fg-title { font-size: 17px; font-weight: bold; text-anchor: middle; }
#fg-subtitle { font-size: 12px; fill: #666; text-anchor: middle; }
.fg-btn { fill: #1f4fa8; cursor: pointer; }
.fg-btn:hover { text-decoration: underline; }
.fg-off { opacity: 0; pointer-events: none; }
#fg-frames g { cursor: pointer; }
#fg-frames text { font-size: ${px(fontSize)}px; fill: #111; pointer-events: none; }
#fg-frames g:hover rect { stroke: #222; stroke-width: 0.6; }
#fg-frames .fg-dim { opacity: 0.45; }
#fg-frames .fg-hide { display: none; }
</style>\n`,
      `<rect x="0" y="0" width="100%" height="100%" fill="url(#fg-bg)"/>\n`,
      `<text id="fg-title" x="${px(width / 2)}" y="24">${escapeText(title)}</text>\n`,
    );
    if (subtitle) out.push(`<text id="fg-subtitle" x="${px(width / 2)}" y="42">${escapeText(subtitle)}</text>\n`);
  };

  if (totalBig === 0n) {
    const boxH = 80;
    const height = headerH + boxH + footerH;
    open(height);
    out.push(
      `<rect x="${PAD}" y="${headerH}" width="${px(plotW)}" height="${boxH}" fill="#ffffff" fill-opacity="0.6" stroke="#bbbbbb" stroke-dasharray="4 3"/>\n`,
      `<text id="fg-empty" x="${px(width / 2)}" y="${headerH + boxH / 2 + 6}" text-anchor="middle" style="font-size:16px;fill:#777">No samples</text>\n`,
      '</svg>\n',
    );
    return out.join('');
  }

  const minRatio = minWidthPx / plotW;
  const big = totalBig > MAX_SAFE;
  // Same markup for both arithmetic modes; only the frame list type differs.
  type AnyFrame = Frame<number> | Frame<bigint>;
  let frames: AnyFrame[];
  let pct: (c: AnyFrame['count']) => string;
  let ratio: (c: AnyFrame['count']) => number;
  if (big) {
    const items = valid.map((v) => ({ frames: v.frames, c: BigInt(v.c) }));
    frames = layout(items, totalBig, bigintArith, minRatio);
    pct = (c) => bigintArith.percent(c as bigint, totalBig);
    ratio = (c) => bigintArith.ratio(c as bigint, totalBig);
  } else {
    const total = Number(totalBig);
    const items = valid.map((v) => ({ frames: v.frames, c: Number(v.c) }));
    frames = layout(items, total, numberArith, minRatio);
    pct = (c) => numberArith.percent(c as number, total);
    ratio = (c) => numberArith.ratio(c as number, total);
  }

  let maxDepth = 0;
  for (const f of frames) if (f.depth > maxDepth) maxDepth = f.depth;
  const height = headerH + (maxDepth + 1) * fh + footerH;
  const rootY = headerH + maxDepth * fh;
  const unit = escapeText(countName);

  open(height);
  out.push(
    `<text id="fg-unzoom" class="fg-btn fg-off" x="${PAD}" y="24">Reset Zoom</text>\n`,
    `<text id="fg-search" class="fg-btn" x="${px(width - PAD)}" y="24" text-anchor="end">Search</text>\n`,
    `<text id="fg-details" x="${PAD}" y="${px(height - 10)}"> </text>\n`,
    `<text id="fg-matched" x="${px(width - PAD)}" y="${px(height - 10)}" text-anchor="end"> </text>\n`,
    '<g id="fg-frames">\n',
  );

  const rectH = px(Math.max(fh - 1, 0.5));
  const textDy = fh / 2 + fontSize * 0.35 - 0.5;
  // Names repeat a lot across frames: escape and colour each one once.
  const perName = new Map<string, { esc: string; fill: string }>();
  // Frame markup is joined into flat chunks as it goes: keeping hundreds of
  // thousands of concatenation trees alive until the end costs far more (GC).
  let chunk: string[] = [];
  const styleOf = opts.frameStyle;
  for (const f of frames) {
    const x = PAD + ratio(f.start) * plotW;
    const w = ratio(f.count) * plotW;
    const y = rootY - f.depth * fh;
    const name = f.name;
    let info = perName.get(name);
    if (info === undefined) {
      info = { esc: escapeText(name), fill: frameColor(name) };
      perName.set(name, info);
    }
    let fill = info.fill;
    let note = '';
    if (styleOf !== undefined) {
      const style = styleOf({ stack: f.stack, depth: f.depth, count: f.count });
      fill = escapeAttr(String(style.fill));
      if (style.note) note = escapeText(String(style.note));
    }
    const label = fitLabel(name, Math.floor((w - 6) / charW));
    chunk.push(
      `<g data-c="${f.count.toString()}" data-l="${name.length}"><title>${info.esc} (${groupDigits(f.count)} ${unit}, ${pct(f.count)}%)${note}</title>` +
        `<rect x="${px(x)}" y="${px(y)}" width="${px(w)}" height="${rectH}" rx="2" fill="${fill}"/>` +
        (label ? `<text x="${px(x + 3)}" y="${px(y + textDy)}">${label === name ? info.esc : escapeText(label)}</text></g>\n` : '</g>\n'),
    );
    if (chunk.length === 512) {
      out.push(chunk.join(''));
      chunk = [];
    }
  }
  out.push(chunk.join(''), '</g>\n');

  const config = {
    fh,
    pad: PAD,
    plotW,
    rootY,
    charW,
    textDy,
    total: Number(totalBig),
    highlight: HIGHLIGHT,
  };
  out.push(
    '<script type="text/ecmascript"><![CDATA[\n',
    CLIENT_SCRIPT.replace('/*CONFIG*/null', () => scriptJson(config)),
    '\n]]></script>\n</svg>\n',
  );
  return out.join('');
}

/**
 * Browser-side behaviour. Plain ES2015, no external resources. Relies on the
 * document order of `#fg-frames > g` being a pre-order of the call tree
 * (parent first, subtrees contiguous) and on each <g> carrying `data-c`
 * (inclusive count) and `data-l` (length of the name prefix of its <title>).
 * Must never contain the CDATA terminator.
 */
const CLIENT_SCRIPT = String.raw`(function () {
  'use strict';
  var C = /*CONFIG*/null;
  var doc = document;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var root = doc.getElementById('fg-frames');
  if (!root) return;
  var details = doc.getElementById('fg-details');
  var unzoomBtn = doc.getElementById('fg-unzoom');
  var searchBtn = doc.getElementById('fg-search');
  var matchedEl = doc.getElementById('fg-matched');

  function child(el, tag) {
    for (var n = el.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === 1 && (n.localName || n.nodeName) === tag) return n;
    }
    return null;
  }
  function setClass(el, cls, on) {
    if (on) el.classList.add(cls); else el.classList.remove(cls);
  }
  function r2(v) { return String(Math.round(v * 100) / 100); }

  // Build the frame table; document order is a pre-order of the tree.
  var F = [];
  var open = [];
  for (var n = root.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== 1) continue;
    var rect = child(n, 'rect');
    var title = child(n, 'title');
    if (!rect || !title) continue;
    var label = title.textContent;
    var y = parseFloat(rect.getAttribute('y'));
    var f = {
      g: n, rect: rect, text: child(n, 'text'), label: label,
      name: label.substring(0, +n.getAttribute('data-l')),
      count: +n.getAttribute('data-c'),
      x: parseFloat(rect.getAttribute('x')), w: parseFloat(rect.getAttribute('width')), y: y,
      depth: Math.round((C.rootY - y) / C.fh),
      fill: rect.getAttribute('fill'), parent: -1, end: 0, index: F.length
    };
    while (open.length && F[open[open.length - 1]].depth >= f.depth) F[open.pop()].end = f.index;
    if (open.length) f.parent = open[open.length - 1];
    open.push(f.index);
    n.fgIndex = f.index;
    F.push(f);
  }
  while (open.length) F[open.pop()].end = F.length;

  function fitLabel(name, w) {
    var max = Math.floor((w - 6) / C.charW);
    if (max < 3) return '';
    if (name.length <= max) return name;
    var cut = max - 2, cc = name.charCodeAt(cut - 1);
    if (cc >= 0xd800 && cc <= 0xdbff) cut--;
    return name.slice(0, cut) + '..';
  }
  function place(f, x, w) {
    f.rect.setAttribute('x', r2(x));
    f.rect.setAttribute('width', r2(w));
    var s = fitLabel(f.name, w);
    if (!f.text) {
      if (!s) return;
      f.text = doc.createElementNS(SVGNS, 'text');
      f.text.setAttribute('y', r2(f.y + C.textDy));
      f.g.appendChild(f.text);
    }
    f.text.setAttribute('x', r2(x + 3));
    f.text.textContent = s;
  }

  var zoomed = -1;
  function zoom(i) {
    var z = F[i];
    if (z.parent < 0) { unzoom(); return; }
    var anc = {};
    for (var p = z.parent; p >= 0; p = F[p].parent) anc[p] = true;
    var scale = C.plotW / z.w;
    for (var j = 0; j < F.length; j++) {
      var f = F[j];
      if (j >= i && j < z.end) {
        place(f, C.pad + (f.x - z.x) * scale, f.w * scale);
        setClass(f.g, 'fg-hide', false); setClass(f.g, 'fg-dim', false);
      } else if (anc[j]) {
        place(f, C.pad, C.plotW);
        setClass(f.g, 'fg-hide', false); setClass(f.g, 'fg-dim', true);
      } else {
        setClass(f.g, 'fg-hide', true);
      }
    }
    zoomed = i;
    setClass(unzoomBtn, 'fg-off', false);
  }
  function unzoom() {
    if (zoomed >= 0) {
      for (var j = 0; j < F.length; j++) {
        var f = F[j];
        place(f, f.x, f.w);
        setClass(f.g, 'fg-hide', false); setClass(f.g, 'fg-dim', false);
      }
    }
    zoomed = -1;
    setClass(unzoomBtn, 'fg-off', true);
  }

  var searchText = '';
  var searching = false;
  function escapeRegExp(s) { return s.replace(/[.*+?^$(){}|[\]\\]/g, '\\$&'); }
  function search(term) {
    if (term === undefined) {
      if (typeof prompt !== 'function') return;
      term = prompt('Search frames (string or regular expression; lowercase = case-insensitive):', searchText);
    }
    if (term === null || term === undefined) return;
    if (term === '') { resetSearch(); return; }
    var flags = term.toLowerCase() === term ? 'i' : '';
    var re;
    try { re = new RegExp(term, flags); } catch (e) { re = new RegExp(escapeRegExp(term), flags); }
    // Each sample counts once: only matches without a matching ancestor add up.
    var covered = new Array(F.length);
    var sum = 0;
    for (var j = 0; j < F.length; j++) {
      var f = F[j];
      var m = re.test(f.name);
      var above = f.parent >= 0 && covered[f.parent];
      covered[j] = m || above;
      if (m && !above) sum += f.count;
      f.rect.setAttribute('fill', m ? C.highlight : f.fill);
    }
    searchText = term;
    searching = true;
    searchBtn.textContent = 'Reset Search';
    var pct = C.total > 0 ? (100 * sum / C.total) : 0;
    matchedEl.textContent = 'Matched: ' + pct.toFixed(2) + '%';
  }
  function resetSearch() {
    for (var j = 0; j < F.length; j++) F[j].rect.setAttribute('fill', F[j].fill);
    searching = false;
    searchBtn.textContent = 'Search';
    matchedEl.textContent = ' ';
  }

  function frameOf(e) {
    for (var n = e.target; n; n = n.parentNode) {
      if (n.parentNode === root) return typeof n.fgIndex === 'number' ? n.fgIndex : -1;
      if (n === root) break;
    }
    return -1;
  }
  root.addEventListener('mouseover', function (e) {
    var i = frameOf(e);
    if (i >= 0) details.textContent = F[i].label;
  });
  root.addEventListener('mouseout', function (e) {
    if (frameOf(e) >= 0) details.textContent = ' ';
  });
  root.addEventListener('click', function (e) {
    var i = frameOf(e);
    if (i >= 0) zoom(i);
  });
  unzoomBtn.addEventListener('click', function () { unzoom(); });
  searchBtn.addEventListener('click', function () {
    if (searching) resetSearch(); else search();
  });
  doc.addEventListener('keydown', function (e) {
    var k = e.key;
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (k === 'f' || k === 'F')) {
      e.preventDefault(); search();
    } else if (k === '/' && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault(); search();
    } else if (k === 'Escape' || k === 'Esc') {
      unzoom(); resetSearch();
    }
  });
})();`;
