/**
 * Flame graph rendering for stored profiles.
 *
 * Pure and dependency-free: turns a list of sampled call stacks into
 *  - a standalone, interactive SVG flame graph (`renderFlameGraphSvg`), and
 *  - Brendan Gregg's "folded" text format (`toFolded` / `parseFolded`),
 * so the controller can serve both from the REST API. Frames take a name-hashed palette, or
 * whatever `frameStyle` says (diff.ts colours a differential graph by call path with it).
 *
 * The parts: counts.ts (checked counts, number/bigint arithmetic), folded.ts (the folded format,
 * merging), layout.ts (path order and frame placement), colors.ts, escape.ts, and client-script.ts
 * (zoom and search in the browser). This file writes the SVG and is the module callers import.
 */

import { CLIENT_SCRIPT } from './client-script';
import { frameColor, HIGHLIGHT } from './colors';
import { bigintArith, checkedCount, checkedFrames, groupDigits, isZero, MAX_SAFE, numberArith } from './counts';
import { escapeAttr, escapeText, px, scriptJson } from './escape';
import { layout, type Frame } from './layout';

export { frameColor } from './colors';
export { mergeStacks, parseFolded, toFolded } from './folded';

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
