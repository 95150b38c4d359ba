/** Begin/end pairing of USDT events per thread, with log2 histograms and the slowest occurrences. */

export interface PairDef {
  label: string;
  begin: number; // probe index
  end: number;
}

export interface PairEvent {
  probe: number;
  pid: number;
  tid: number;
  tsNs: bigint;
  args: bigint[];
  /** A string argument (e.g. a JVM memory pool name): begin and end match on it too, and it names the pair. */
  str?: string;
  stack?: string[];
}

export interface Occurrence {
  pid: number;
  tid: number;
  beginNs: bigint;
  durationNs: bigint;
  beginArgs: bigint[];
  stack: string[];
}

export interface PairStats {
  label: string;
  count: bigint;
  totalNs: bigint;
  buckets: bigint[];
  slowest: Occurrence[];
  unmatchedEnds: bigint;
}

/** Index of the log2 bucket [2^i, 2^(i+1)) holding d; 0 ns and 1 ns share bucket 0. */
export function log2Bucket(d: bigint): number {
  let i = 0;
  while (d > 1n) {
    d >>= 1n;
    i++;
  }
  return i;
}

export class PairTracker {
  private readonly open = new Map<string, PairEvent[]>();
  private readonly stats = new Map<string, PairStats>();

  constructor(
    private readonly pairs: PairDef[],
    private readonly slowestN: number,
  ) {}

  add(e: PairEvent): void {
    this.pairs.forEach((p, i) => {
      if (e.probe !== p.begin && e.probe !== p.end) return;
      const key = `${i}/${e.pid}/${e.tid}/${e.str ?? ''}`;
      if (e.probe === p.begin) {
        const stack = this.open.get(key) ?? [];
        stack.push(e);
        this.open.set(key, stack);
        return;
      }
      const label = e.str ? `${p.label}[${e.str}]` : p.label;
      const st = this.statsFor(label);
      const begin = this.open.get(key)?.pop();
      if (!begin || e.tsNs < begin.tsNs) {
        st.unmatchedEnds++;
        return;
      }
      const d = e.tsNs - begin.tsNs;
      st.count++;
      st.totalNs += d;
      const b = log2Bucket(d);
      while (st.buckets.length <= b) st.buckets.push(0n);
      st.buckets[b]++;
      if (this.slowestN > 0) {
        const occ: Occurrence = { pid: e.pid, tid: e.tid, beginNs: begin.tsNs, durationNs: d, beginArgs: begin.args, stack: begin.stack ?? [] };
        const at = st.slowest.findIndex((o) => o.durationNs < d);
        if (at >= 0) st.slowest.splice(at, 0, occ);
        else st.slowest.push(occ);
        if (st.slowest.length > this.slowestN) st.slowest.pop();
      }
    });
  }

  /** Every label seen, including pairs whose begin never ended (count 0). */
  results(): PairStats[] {
    for (const p of this.pairs) if (![...this.stats.keys()].some((l) => l === p.label || l.startsWith(`${p.label}[`))) this.statsFor(p.label);
    return [...this.stats.values()];
  }

  private statsFor(label: string): PairStats {
    let st = this.stats.get(label);
    if (!st) {
      st = { label, count: 0n, totalNs: 0n, buckets: [], slowest: [], unmatchedEnds: 0n };
      this.stats.set(label, st);
    }
    return st;
  }
}
