/** Log2 histograms in any unit (µs, KiB): the view, percentiles, bcc's text layout and an SVG bar chart. Pure. */

/** A log2 histogram's unit: its slot count (the last slot is open-ended), its label in text and SVG, and bcc's column title. */
export interface Log2Scale {
  slots: number;
  unit: string;
  column: string;
}

export interface Log2View {
  /** Requests counted. */
  count: string;
  /** Mean (from the exact sum), in the unit. */
  mean: number;
  /** Percentiles estimated from the log2 slots (linear within a slot), in the unit. */
  p50: number;
  p90: number;
  p99: number;
  /** Non-empty slots only: [low, high) in the unit (slot 0 from 0; the last slot's high is null: unbounded). */
  slots: { low: number; high: number | null; count: string }[];
}

const lowOf = (i: number): number => (i === 0 ? 0 : 2 ** i);
const highOf = (s: Log2Scale, i: number): number | null => (i === s.slots - 1 ? null : 2 ** (i + 1));

export const zeros = (s: Log2Scale): bigint[] => Array.from({ length: s.slots }, () => 0n);

/** Adds `b` into `a` slot by slot. */
export function addSlots(a: bigint[], b: bigint[]): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i] ?? 0n;
}

export const total = (slots: bigint[]): bigint => slots.reduce((s, c) => s + c, 0n);

/** The value at quantile q (0..1), linear within its slot; the open last slot answers its low edge. */
export function percentile(s: Log2Scale, slots: bigint[], q: number): number {
  const n = total(slots);
  if (n === 0n) return 0;
  const rank = q * Number(n);
  let seen = 0;
  for (let i = 0; i < slots.length; i++) {
    const c = Number(slots[i]);
    if (c > 0 && seen + c >= rank) {
      const low = lowOf(i);
      const high = highOf(s, i);
      if (high === null) return low;
      return Math.round((low + ((rank - seen) / c) * (high - low)) * 10) / 10;
    }
    seen += c;
  }
  return lowOf(slots.length - 1);
}

/** The view of one histogram; `mean` comes from the exact sum, in the unit. */
export function log2View(s: Log2Scale, slots: bigint[], mean: number): Log2View {
  return {
    count: String(total(slots)),
    mean: Math.round(mean * 10) / 10,
    p50: percentile(s, slots, 0.5),
    p90: percentile(s, slots, 0.9),
    p99: percentile(s, slots, 0.99),
    slots: slots.flatMap((c, i) => (c > 0n ? [{ low: lowOf(i), high: highOf(s, i), count: String(c) }] : [])),
  };
}

/** The slot index range from the first to the last non-empty slot, with each slot's count. */
function rows(v: Log2View): { i: number; c: bigint }[] {
  if (v.slots.length === 0) return [];
  const from = Math.log2(Math.max(v.slots[0].low, 1));
  const to = Math.log2(Math.max(v.slots[v.slots.length - 1].low, 1));
  const byLow = new Map(v.slots.map((x) => [x.low, BigInt(x.count)]));
  return Array.from({ length: to - from + 1 }, (_, k) => ({ i: from + k, c: byLow.get(lowOf(from + k)) ?? 0n }));
}

/** bcc's print_log2_hist: "     usecs : count    distribution" lines with a 40-column bar. */
export function log2Text(s: Log2Scale, v: Log2View, title: string): string {
  const lines = [title, `${s.column.padStart(10)}               : count        distribution`];
  const rs = rows(v);
  if (rs.length === 0) return [...lines, '     (none)', ''].join('\n');
  const max = rs.reduce((m, r) => (r.c > m ? r.c : m), 1n);
  for (const { i, c } of rs) {
    const high = highOf(s, i);
    const range = `${String(lowOf(i)).padStart(10)} -> ${high === null ? 'inf'.padEnd(10) : String(high - 1).padEnd(10)}`;
    lines.push(`${range} : ${String(c).padEnd(12)} |${'*'.repeat(Number((c * 40n) / max)).padEnd(40)}|`);
  }
  lines.push(`count ${v.count}, mean ${v.mean} ${s.unit}, p50 ~${v.p50} ${s.unit}, p90 ~${v.p90} ${s.unit}, p99 ~${v.p99} ${s.unit}`, '');
  return lines.join('\n');
}

const esc = (t: string): string => t.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** One bar chart (one bar per log2 slot, counts on a linear axis) as SVG elements from y = top; returns them and the height used. */
export function log2SvgChart(s: Log2Scale, v: Log2View, title: string, top: number, color: string): { body: string[]; height: number } {
  const rowH = 18;
  const rs = rows(v);
  const max = rs.reduce((m, r) => (r.c > m ? r.c : m), 1n);
  const body = [`<text x="20" y="${top + 14}" font-size="14">${esc(title)}</text>`];
  rs.forEach((r, k) => {
    const y = top + 24 + k * rowH;
    const w = Number((r.c * 600n) / max);
    const high = highOf(s, r.i);
    const label = `${lowOf(r.i)} – ${high === null ? '∞' : high - 1} ${s.unit}`;
    body.push(
      `<text x="170" y="${y + 13}" text-anchor="end">${esc(label)}</text><rect x="180" y="${y + 2}" width="${w}" height="${rowH - 4}" fill="${color}"><title>${esc(label)}: ${r.c}</title></rect><text x="${186 + w}" y="${y + 13}">${r.c}</text>`,
    );
  });
  const foot = `count ${v.count} · mean ${v.mean} ${s.unit} · p50 ~${v.p50} ${s.unit} · p90 ~${v.p90} ${s.unit} · p99 ~${v.p99} ${s.unit}`;
  const y = top + 24 + Math.max(rs.length, 1) * rowH + 14;
  body.push(`<text x="20" y="${y}">${esc(rs.length === 0 ? 'no requests' : foot)}</text>`);
  return { body, height: y - top + 16 };
}

export function svgDocument(title: string, charts: { body: string[]; height: number }[]): string {
  const W = 900;
  const H = 44 + charts.reduce((h, c) => h + c.height, 0);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Verdana, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">${esc(title)}</text>`,
    ...charts.flatMap((c) => c.body),
    `</svg>`,
    '',
  ].join('\n');
}
