/** Block I/O latency and size histograms: merging across nodes, per node, per disk and per process; text and SVG. Pure. */
import { addSlots, log2SvgChart, log2Text, log2View, svgDocument, total, zeros, type Log2Scale, type Log2View } from './log2';

/** Slots agents send (BIOLAT_LAT_SLOTS and BIOLAT_SIZE_SLOTS in packages/bpf/src/biolatency/biolatency.h). */
export const LAT_SLOTS = 27;
export const SIZE_SLOTS = 24;
export const LATENCY: Log2Scale = { slots: LAT_SLOTS, unit: 'us', column: 'usecs' };
export const SIZE: Log2Scale = { slots: SIZE_SLOTS, unit: 'KiB', column: 'Kbytes' };
/** Per-process rows the JSON view lists at most (the largest); the text view lists 20. */
export const MAX_PROCESS_ROWS = 200;

export interface BiolatencyHistRow {
  disk: string;
  major: number;
  minor: number;
  pid: number;
  comm: string;
  latency: bigint[];
  size: bigint[];
  totalNs: bigint;
  totalBytes: bigint;
}

/** One run's rows as stored, with its node's name. */
export interface BiolatencyRunRows {
  node: string;
  status: string;
  totals: { ios: bigint; startFull: bigint; noStart: bigint; noHist: bigint; histogramsLeftOut: bigint; final: boolean } | null;
  histograms: BiolatencyHistRow[];
}

/** Latency (µs) and size (KiB) of the same requests. */
export interface BioPair {
  latency: Log2View;
  size: Log2View;
  totalBytes: string;
}

export interface BiolatencyResults {
  jobId: string;
  merged: BioPair;
  /** Requests not measured (a full kernel map: raise maxRequests), not counted (histogram map full), and histograms left out of reports. */
  notMeasured: { startFull: string; noHist: string; histogramsLeftOut: string };
  nodes: ({ node: string; status: string; final: boolean; startFull: string; noHist: string } & BioPair)[];
  /** Every disk merged across the nodes (by its name), most requests first. */
  disks: ({ disk: string } & BioPair)[];
  /** Each node's disks. */
  byNodeDisk: ({ node: string; disk: string; major: number; minor: number } & BioPair)[];
  /** perProcess: each (node, disk, process), most requests first, at most MAX_PROCESS_ROWS. */
  byProcess: ({ node: string; disk: string; pid: number; comm: string } & BioPair)[];
  byProcessLeftOut: number;
}

class Acc {
  latency = zeros(LATENCY);
  size = zeros(SIZE);
  ns = 0n;
  bytes = 0n;

  add(h: { latency: bigint[]; size: bigint[]; totalNs: bigint; totalBytes: bigint }): this {
    addSlots(this.latency, h.latency);
    addSlots(this.size, h.size);
    this.ns += h.totalNs;
    this.bytes += h.totalBytes;
    return this;
  }

  get count(): bigint {
    return total(this.latency);
  }

  view(): BioPair {
    const n = this.count;
    return {
      latency: log2View(LATENCY, this.latency, n === 0n ? 0 : Number(this.ns / n) / 1000),
      size: log2View(SIZE, this.size, n === 0n ? 0 : Number(this.bytes / n) / 1024),
      totalBytes: String(this.bytes),
    };
  }
}

const diskLabel = (h: { disk: string; major: number; minor: number }): string => h.disk || `${h.major}:${h.minor}`;
const byCount = <T extends { a: Acc }>(x: T, y: T): number => (x.a.count === y.a.count ? 0 : x.a.count > y.a.count ? -1 : 1);

/** Merges the runs: all into one, each node's, each disk's (by name, across nodes), each node's disk's and each process's. */
export function mergeBiolatency(jobId: string, runs: BiolatencyRunRows[]): BiolatencyResults {
  const all = new Acc();
  let startFull = 0n;
  let noHist = 0n;
  let leftOut = 0n;
  const nodes: BiolatencyResults['nodes'] = [];
  const disks = new Map<string, Acc>();
  const nodeDisks: { node: string; disk: string; major: number; minor: number; a: Acc }[] = [];
  const procs: { node: string; disk: string; pid: number; comm: string; a: Acc }[] = [];
  const perProcess = runs.some((r) => r.histograms.some((h) => h.pid !== 0 || h.comm !== ''));
  for (const run of runs) {
    const mine = new Acc();
    const mineDisks = new Map<string, { node: string; disk: string; major: number; minor: number; a: Acc }>();
    for (const h of run.histograms) {
      mine.add(h);
      const label = diskLabel(h);
      (disks.get(label) ?? disks.set(label, new Acc()).get(label)!).add(h);
      const nd = mineDisks.get(label) ?? mineDisks.set(label, { node: run.node, disk: label, major: h.major, minor: h.minor, a: new Acc() }).get(label)!;
      nd.a.add(h);
      if (perProcess) procs.push({ node: run.node, disk: label, pid: h.pid, comm: h.comm, a: new Acc().add(h) });
    }
    nodeDisks.push(...mineDisks.values());
    all.add({ latency: mine.latency, size: mine.size, totalNs: mine.ns, totalBytes: mine.bytes });
    startFull += run.totals?.startFull ?? 0n;
    noHist += run.totals?.noHist ?? 0n;
    leftOut += run.totals?.histogramsLeftOut ?? 0n;
    nodes.push({
      node: run.node,
      status: run.status,
      final: run.totals?.final ?? false,
      startFull: String(run.totals?.startFull ?? 0n),
      noHist: String(run.totals?.noHist ?? 0n),
      ...mine.view(),
    });
  }
  const sortedProcs = procs.sort((x, y) => byCount(x, y) || x.node.localeCompare(y.node) || x.disk.localeCompare(y.disk) || x.pid - y.pid);
  return {
    jobId,
    merged: all.view(),
    notMeasured: { startFull: String(startFull), noHist: String(noHist), histogramsLeftOut: String(leftOut) },
    nodes: nodes.sort((a, b) => a.node.localeCompare(b.node)),
    disks: [...disks.entries()].map(([disk, a]) => ({ disk, a })).sort((x, y) => byCount(x, y) || x.disk.localeCompare(y.disk)).map(({ disk, a }) => ({ disk, ...a.view() })),
    byNodeDisk: nodeDisks.sort((x, y) => x.node.localeCompare(y.node) || byCount(x, y) || x.disk.localeCompare(y.disk)).map(({ a, ...k }) => ({ ...k, ...a.view() })),
    byProcess: sortedProcs.slice(0, MAX_PROCESS_ROWS).map(({ a, ...k }) => ({ ...k, ...a.view() })),
    byProcessLeftOut: Math.max(0, sortedProcs.length - MAX_PROCESS_ROWS),
  };
}

/** bcc's layout: per disk ("disk = sda"), the latency histogram then the size histogram; first every disk merged. */
export function biolatencyText(r: BiolatencyResults, title: string): string {
  const pair = (p: BioPair, head: string): string[] => [log2Text(LATENCY, p.latency, `${head} · latency`), log2Text(SIZE, p.size, `${head} · size`)];
  const parts = [...pair(r.merged, `${title} · every disk`)];
  for (const d of r.disks) parts.push(...pair(d, `disk = ${d.disk}`));
  if (r.nodes.length > 1) for (const n of r.byNodeDisk) parts.push(...pair(n, `node ${n.node} · disk = ${n.disk}`));
  for (const p of r.byProcess.slice(0, 20)) parts.push(...pair(p, `Process Name = ${p.comm} · pid ${p.pid} · node ${p.node} · disk = ${p.disk}`));
  return parts.join('\n');
}

/** The merged latency and size histograms as two bar charts. */
export function biolatencySvg(r: BiolatencyResults, title: string): string {
  const lat = log2SvgChart(LATENCY, r.merged.latency, 'Latency (µs, log2 slots)', 40, '#e8743b');
  const size = log2SvgChart(SIZE, r.merged.size, 'Size (KiB, log2 slots)', 40 + lat.height, '#3b82e8');
  return svgDocument(title, [lat, size]);
}
