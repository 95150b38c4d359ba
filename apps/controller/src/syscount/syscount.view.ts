/** One run's rows as stored, with its node's name and its report totals. */
export interface SyscountRunRows {
  node: string;
  status: string;
  report: Record<string, unknown> | null;
  counts: { pid: number; nr: number; name: string; comm: string; count: bigint }[];
}

export interface SyscountResults {
  jobId: string;
  /** Calls counted on every node, and what was not (full kernel maps, entries the agents left out). */
  totals: { calls: string; uncounted: string; callsLeftOut: string; entriesLeftOut: string };
  /** Syscalls by calls, merged across nodes, largest first (top N). */
  bySyscall: { nr: number; name: string; count: string; byNode: Record<string, string> }[];
  /** Processes by calls, largest first (top N), each with its five most frequent syscalls. */
  byProcess: { node: string; pid: number; comm: string; count: string; top: { name: string; count: string }[] }[];
  nodes: { node: string; status: string; calls: string; uncounted: string; entriesLeftOut: string; callsLeftOut: string }[];
}

const desc = <T extends { count: bigint }>(a: T, b: T): number => (a.count === b.count ? 0 : a.count > b.count ? -1 : 1);
const big = (v: unknown): bigint => (typeof v === 'string' && /^\d+$/.test(v) ? BigInt(v) : 0n);

/** Merges the runs' counts: across nodes by syscall number, per (node, process) by process. */
export function mergeSyscount(jobId: string, runs: SyscountRunRows[], topN: number): SyscountResults {
  const bySyscall = new Map<number, { nr: number; name: string; count: bigint; byNode: Map<string, bigint> }>();
  const byProcess = new Map<string, { node: string; pid: number; comm: string; count: bigint; calls: Map<string, bigint> }>();
  const totals = { calls: 0n, uncounted: 0n, callsLeftOut: 0n, entriesLeftOut: 0n };
  const nodes: SyscountResults['nodes'] = [];
  for (const run of runs) {
    const r = run.report ?? {};
    const t = { calls: big(r.calls), uncounted: big(r.uncounted), callsLeftOut: big(r.callsLeftOut), entriesLeftOut: big(r.entriesLeftOut) };
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += t[k];
    nodes.push({ node: run.node, status: run.status, calls: String(t.calls), uncounted: String(t.uncounted), entriesLeftOut: String(t.entriesLeftOut), callsLeftOut: String(t.callsLeftOut) });
    for (const c of run.counts) {
      const s = bySyscall.get(c.nr) ?? { nr: c.nr, name: c.name, count: 0n, byNode: new Map<string, bigint>() };
      s.count += c.count;
      s.name ||= c.name;
      s.byNode.set(run.node, (s.byNode.get(run.node) ?? 0n) + c.count);
      bySyscall.set(c.nr, s);
      const key = `${run.node}\u0000${c.pid}`;
      const p = byProcess.get(key) ?? { node: run.node, pid: c.pid, comm: c.comm, count: 0n, calls: new Map<string, bigint>() };
      p.count += c.count;
      const label = c.name || `syscall ${c.nr}`;
      p.calls.set(label, (p.calls.get(label) ?? 0n) + c.count);
      byProcess.set(key, p);
    }
  }
  return {
    jobId,
    totals: { calls: String(totals.calls), uncounted: String(totals.uncounted), callsLeftOut: String(totals.callsLeftOut), entriesLeftOut: String(totals.entriesLeftOut) },
    bySyscall: [...bySyscall.values()]
      .sort((a, b) => desc(a, b) || a.nr - b.nr)
      .slice(0, topN)
      .map((s) => ({ nr: s.nr, name: s.name || `syscall ${s.nr}`, count: String(s.count), byNode: Object.fromEntries([...s.byNode].map(([n, c]) => [n, String(c)])) })),
    byProcess: [...byProcess.values()]
      .sort((a, b) => desc(a, b) || a.node.localeCompare(b.node) || a.pid - b.pid)
      .slice(0, topN)
      .map((p) => ({
        node: p.node,
        pid: p.pid,
        comm: p.comm,
        count: String(p.count),
        top: [...p.calls].map(([name, count]) => ({ name, count })).sort((a, b) => desc(a, b) || a.name.localeCompare(b.name)).slice(0, 5).map((c) => ({ name: c.name, count: String(c.count) })),
      })),
    nodes: nodes.sort((a, b) => a.node.localeCompare(b.node)),
  };
}
