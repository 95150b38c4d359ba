/** The tcp results' shapes and their text form (tcplife's columns, tcpconnlat's histogram). Pure. */
import { histogramView, log2Text, type HistogramView } from '../runqlat/runqlat.view';

/** Slots agents send (TCP_SLOTS in packages/bpf/src/tcp/tcp.h): the same log2 µs slots as runqlat's. */
export const TCP_SLOTS = 27;

export interface TcpCounters {
  connects: string;
  closed: string;
  streamed: string;
  noStart: string;
  untracked: string;
  overBudget: string;
  dropped: string;
}

export interface TcpConnectionView {
  id: string;
  node: string;
  pid: number;
  comm: string;
  family: number;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  active: boolean;
  pidSource: string;
  startNs: string;
  lifetimeMs: number;
  connectUs: number | null;
  rxBytes: string;
  txBytes: string;
}

export interface TcpResults {
  jobId: string;
  /** Active connect latency (SYN_SENT -> ESTABLISHED), every connect the filters admitted, µs. */
  connectLatency: { merged: HistogramView; nodes: { node: string; status: string; reported: boolean; counters: TcpCounters; histogram: HistogramView }[] };
  /** The stored connections that match the query, whatever the page. */
  lifetimes: { count: number; meanMs: number; minMs: number; maxMs: number; rxBytes: string; txBytes: string };
  connections: TcpConnectionView[];
  /** Pass as ?after= for the next page; null on the last. */
  next: string | null;
}

export interface TcpRunTotals {
  node: string;
  status: string;
  totals: { connectSlots: bigint[]; connectTotalNs: bigint; connects: bigint; closed: bigint; streamed: bigint; noStart: bigint; untracked: bigint; overBudget: bigint; dropped: bigint } | null;
}

const zeros = (): bigint[] => Array.from({ length: TCP_SLOTS }, () => 0n);

/** The connect-latency histogram merged across runs, and each run's, with its counters. */
export function mergeConnect(runs: TcpRunTotals[]): TcpResults['connectLatency'] {
  const merged = zeros();
  let mergedNs = 0n;
  const nodes = runs.map((r) => {
    const t = r.totals;
    const slots = zeros();
    if (t) t.connectSlots.slice(0, TCP_SLOTS).forEach((c, i) => (slots[i] += c));
    slots.forEach((c, i) => (merged[i] += c));
    mergedNs += t?.connectTotalNs ?? 0n;
    const s = (v: bigint | undefined): string => (v ?? 0n).toString();
    return {
      node: r.node,
      status: r.status,
      reported: t !== null,
      counters: { connects: s(t?.connects), closed: s(t?.closed), streamed: s(t?.streamed), noStart: s(t?.noStart), untracked: s(t?.untracked), overBudget: s(t?.overBudget), dropped: s(t?.dropped) },
      histogram: histogramView(slots, t?.connectTotalNs ?? 0n),
    };
  });
  return { merged: histogramView(merged, mergedNs), nodes };
}

const ms = (ns: bigint): number => Math.round(Number(ns) / 1e4) / 100;

/** tcplife's columns (PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS), a NODE column first and tcpconnlat's LAT(ms) last. */
export function tcplifeText(r: TcpResults): string {
  const head = `${'NODE'.padEnd(16)} ${'PID'.padEnd(7)} ${'COMM'.padEnd(16)} ${'LADDR'.padEnd(26)} ${'LPORT'.padStart(5)} ${'RADDR'.padEnd(26)} ${'RPORT'.padStart(5)} ${'TX_KB'.padStart(7)} ${'RX_KB'.padStart(7)} ${'MS'.padStart(10)} ${'LAT(ms)'.padStart(9)}`;
  const kb = (b: string): string => String(BigInt(b) / 1024n);
  const rows = r.connections.map(
    (c) =>
      `${c.node.slice(0, 16).padEnd(16)} ${String(c.pid).padEnd(7)} ${c.comm.padEnd(16)} ${c.saddr.padEnd(26)} ${String(c.sport).padStart(5)} ${c.daddr.padEnd(26)} ${String(c.dport).padStart(5)} ${kb(c.txBytes).padStart(7)} ${kb(c.rxBytes).padStart(7)} ${c.lifetimeMs.toFixed(2).padStart(10)} ${(c.connectUs === null ? '-' : (c.connectUs / 1000).toFixed(3)).padStart(9)}`,
  );
  const more = r.next ? [`(more: ?after=${r.next})`] : [];
  return [head, ...rows, ...more, '', log2Text(r.connectLatency.merged, `Connect latency (SYN_SENT -> ESTABLISHED) · job ${r.jobId.slice(0, 8)} · merged`)].join('\n');
}

export { ms as nsToMs };
