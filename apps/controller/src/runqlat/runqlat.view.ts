/** Log2 histograms of run-queue waits: merging, percentiles and the bcc-style text form. Pure. */

/** Slots agents send (RUNQLAT_SLOTS in packages/bpf/src/runqlat/runqlat.h). */
export const RUNQLAT_SLOTS = 27;

/** One run's rows as stored, with its node's name. */
export interface RunqlatRunRows {
  node: string;
  status: string;
  totals: { latencies: bigint; noStart: bigint; noHist: bigint; final: boolean } | null;
  histograms: { cgroupId: bigint; slots: bigint[]; totalNs: bigint }[];
}

export interface HistogramView {
  /** Waits counted. */
  count: string;
  /** Mean wait, µs (from the exact sum). */
  meanUs: number;
  /** Percentiles estimated from the log2 slots (linear within a slot), µs. */
  p50Us: number;
  p90Us: number;
  p99Us: number;
  /** Non-empty slots only: waits of [lowUs, highUs) µs (the last slot's highUs is null: unbounded). */
  slots: { lowUs: number; highUs: number | null; count: string }[];
}

export interface RunqlatResults {
  jobId: string;
  /** Every node's histograms merged. */
  merged: HistogramView;
  /** Enqueues not measured (a full kernel map: raise maxTasks) and waits not counted (over 1024 cgroups). */
  notMeasured: { noStart: string; noHist: string };
  nodes: { node: string; status: string; final: boolean; noStart: string; noHist: string; histogram: HistogramView }[];
  /** perCgroup: each (node, cgroup)'s histogram, largest count first. */
  byCgroup: { node: string; cgroupId: string; histogram: HistogramView }[];
}

const lowOf = (i: number): number => (i === 0 ? 0 : 2 ** i);
const highOf = (i: number): number | null => (i === RUNQLAT_SLOTS - 1 ? null : 2 ** (i + 1));

/** Adds `b` into `a` slot by slot (both RUNQLAT_SLOTS long). */
function addSlots(a: bigint[], b: bigint[]): void {
  for (let i = 0; i < RUNQLAT_SLOTS; i++) a[i] += b[i] ?? 0n;
}

const zeros = (): bigint[] => Array.from({ length: RUNQLAT_SLOTS }, () => 0n);

/** The wait at quantile q (0..1), linear within the log2 slot it falls in; the open last slot answers its low edge. */
export function percentileUs(slots: bigint[], q: number): number {
  const total = slots.reduce((s, c) => s + c, 0n);
  if (total === 0n) return 0;
  const rank = q * Number(total);
  let seen = 0;
  for (let i = 0; i < slots.length; i++) {
    const c = Number(slots[i]);
    if (c > 0 && seen + c >= rank) {
      const low = lowOf(i);
      const high = highOf(i);
      if (high === null) return low;
      return Math.round((low + ((rank - seen) / c) * (high - low)) * 10) / 10;
    }
    seen += c;
  }
  return lowOf(slots.length - 1);
}

export function histogramView(slots: bigint[], totalNs: bigint): HistogramView {
  const count = slots.reduce((s, c) => s + c, 0n);
  return {
    count: String(count),
    meanUs: count === 0n ? 0 : Math.round(Number(totalNs / count) / 100) / 10,
    p50Us: percentileUs(slots, 0.5),
    p90Us: percentileUs(slots, 0.9),
    p99Us: percentileUs(slots, 0.99),
    slots: slots.flatMap((c, i) => (c > 0n ? [{ lowUs: lowOf(i), highUs: highOf(i), count: String(c) }] : [])),
  };
}

/** Merges the runs: every histogram of every node into one, each node's into its own, and per (node, cgroup). */
export function mergeRunqlat(jobId: string, runs: RunqlatRunRows[]): RunqlatResults {
  const all = zeros();
  let allNs = 0n;
  let noStart = 0n;
  let noHist = 0n;
  const nodes: RunqlatResults['nodes'] = [];
  const byCgroup: (RunqlatResults['byCgroup'][number] & { n: bigint })[] = [];
  const perCgroup = runs.some((r) => r.histograms.some((h) => h.cgroupId !== 0n));
  for (const run of runs) {
    const mine = zeros();
    let mineNs = 0n;
    for (const h of run.histograms) {
      addSlots(mine, h.slots);
      mineNs += h.totalNs;
      if (perCgroup) byCgroup.push({ node: run.node, cgroupId: String(h.cgroupId), histogram: histogramView(h.slots, h.totalNs), n: h.slots.reduce((s, c) => s + c, 0n) });
    }
    addSlots(all, mine);
    allNs += mineNs;
    noStart += run.totals?.noStart ?? 0n;
    noHist += run.totals?.noHist ?? 0n;
    nodes.push({
      node: run.node,
      status: run.status,
      final: run.totals?.final ?? false,
      noStart: String(run.totals?.noStart ?? 0n),
      noHist: String(run.totals?.noHist ?? 0n),
      histogram: histogramView(mine, mineNs),
    });
  }
  return {
    jobId,
    merged: histogramView(all, allNs),
    notMeasured: { noStart: String(noStart), noHist: String(noHist) },
    nodes: nodes.sort((a, b) => a.node.localeCompare(b.node)),
    byCgroup: byCgroup
      .sort((a, b) => (a.n === b.n ? a.node.localeCompare(b.node) || a.cgroupId.localeCompare(b.cgroupId) : a.n > b.n ? -1 : 1))
      .map(({ n: _n, ...c }) => c),
  };
}

/** bcc's print_log2_hist: "     usecs : count    distribution" lines with a 40-column bar. */
export function log2Text(h: HistogramView, title: string): string {
  const lines = [title, '     usecs               : count        distribution'];
  if (h.slots.length === 0) return [...lines, '     (no waits)', ''].join('\n');
  const max = h.slots.reduce((m, s) => (BigInt(s.count) > m ? BigInt(s.count) : m), 0n);
  const first = Math.max(0, Math.log2(Math.max(h.slots[0].lowUs, 1)));
  const last = Math.log2(Math.max(h.slots[h.slots.length - 1].lowUs, 1));
  const byLow = new Map(h.slots.map((s) => [s.lowUs, BigInt(s.count)]));
  for (let i = first; i <= last; i++) {
    const low = lowOf(i);
    const high = highOf(i);
    const c = byLow.get(low) ?? 0n;
    const bar = '*'.repeat(Number((c * 40n) / max));
    const range = `${String(low).padStart(10)} -> ${high === null ? 'inf'.padEnd(10) : String(high - 1).padEnd(10)}`;
    lines.push(`${range} : ${String(c).padEnd(12)} |${bar.padEnd(40)}|`);
  }
  lines.push(`count ${h.count}, mean ${h.meanUs} us, p50 ~${h.p50Us} us, p90 ~${h.p90Us} us, p99 ~${h.p99Us} us`, '');
  return lines.join('\n');
}

const esc = (s: string): string => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** A bar chart of the merged histogram (one bar per log2 slot, count on a linear axis), standalone SVG. */
export function log2Svg(h: HistogramView, title: string): string {
  const W = 900;
  const rowH = 18;
  const top = 50;
  const rows = h.slots.length === 0 ? [] : (() => {
    const from = Math.log2(Math.max(h.slots[0].lowUs, 1));
    const to = Math.log2(Math.max(h.slots[h.slots.length - 1].lowUs, 1));
    const byLow = new Map(h.slots.map((s) => [s.lowUs, BigInt(s.count)]));
    return Array.from({ length: to - from + 1 }, (_, k) => ({ i: from + k, c: byLow.get(lowOf(from + k)) ?? 0n }));
  })();
  const max = rows.reduce((m, r) => (r.c > m ? r.c : m), 1n);
  const H = top + rows.length * rowH + 40;
  const bars = rows.map((r, k) => {
    const y = top + k * rowH;
    const w = Number((r.c * 600n) / max);
    const high = highOf(r.i);
    const label = `${lowOf(r.i)} – ${high === null ? '∞' : high - 1} µs`;
    return `<text x="170" y="${y + 13}" text-anchor="end">${esc(label)}</text><rect x="180" y="${y + 2}" width="${w}" height="${rowH - 4}" fill="#e8743b"><title>${esc(label)}: ${r.c}</title></rect><text x="${186 + w}" y="${y + 13}">${r.c}</text>`;
  });
  const foot = `count ${h.count} · mean ${h.meanUs} µs · p50 ~${h.p50Us} µs · p90 ~${h.p90Us} µs · p99 ~${h.p99Us} µs`;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Verdana, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">${esc(title)}</text>`,
    ...bars,
    `<text x="${W / 2}" y="${H - 14}" text-anchor="middle">${esc(foot)}</text>`,
    `</svg>`,
    '',
  ].join('\n');
}
