/** The oomkill results' shapes and their text form (libbpf-tools oomkill's line, a NODE first). Pure. */

export interface OomkillCounters {
  kills: string;
  streamed: string;
  overBudget: string;
  dropped: string;
}

export interface OomKillView {
  id: string;
  node: string;
  /** The agent's wall clock when it got the kill (ISO 8601). */
  time: string;
  tsNs: string;
  victimPid: number;
  victimComm: string;
  triggerPid: number;
  triggerTid: number;
  triggerComm: string;
  uid: number;
  oomScoreAdj: number;
  totalVmKb: string;
  anonRssKb: string;
  fileRssKb: string;
  shmemRssKb: string;
  pgtablesKb: string;
  /** anon + file + shmem RSS, in 4 KiB pages. */
  rssPages: string;
  loadavg: string;
}

export interface OomkillResults {
  jobId: string;
  /** Counters merged across runs, and each run's (reported: the agent sent its end-of-run report). */
  totals: { merged: OomkillCounters; nodes: { node: string; status: string; reported: boolean; counters: OomkillCounters }[] };
  /** The stored kills that match the query, whatever the page. */
  count: number;
  kills: OomKillView[];
  /** Pass as ?after= for the next page; null on the last. */
  next: string | null;
}

export interface OomkillRunTotals {
  node: string;
  status: string;
  totals: { kills: bigint; streamed: bigint; overBudget: bigint; dropped: bigint } | null;
}

/** Counters merged across runs, and each run's. */
export function mergeTotals(runs: OomkillRunTotals[]): OomkillResults['totals'] {
  const sum = { kills: 0n, streamed: 0n, overBudget: 0n, dropped: 0n };
  const str = (t: typeof sum | null): OomkillCounters => ({ kills: `${t?.kills ?? 0n}`, streamed: `${t?.streamed ?? 0n}`, overBudget: `${t?.overBudget ?? 0n}`, dropped: `${t?.dropped ?? 0n}` });
  const nodes = runs.map((r) => {
    if (r.totals) for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += r.totals[k];
    return { node: r.node, status: r.status, reported: r.totals !== null, counters: str(r.totals) };
  });
  return { merged: str(sum), nodes };
}

/**
 * libbpf-tools oomkill's line, a NODE column first: `HH:MM:SS Triggered by PID t ("comm"), OOM kill of PID v ("comm"),
 * N pages, loadavg: ...`. oomkill's N is the OOM constraint's size (oc->totalpages, from a kprobe this kernel lacks);
 * here N is the victim's RSS in pages, which the tracepoint carries; the header says so.
 */
export function oomkillText(r: OomkillResults): string {
  const head = `Tracing OOM kills · job ${r.jobId.slice(0, 8)} · ${r.count} kill(s) · pages = the victim's RSS (anon+file+shmem) in 4 KiB pages`;
  const rows = r.kills.map(
    (k) =>
      `${k.node.slice(0, 16).padEnd(16)} ${k.time.slice(11, 19)} Triggered by PID ${k.triggerPid} ("${k.triggerComm}"), OOM kill of PID ${k.victimPid} ("${k.victimComm}"), ${k.rssPages} pages, loadavg: ${k.loadavg}`,
  );
  const more = r.next ? [`(more: ?after=${r.next})`] : [];
  return [head, ...rows, ...more, ''].join('\n');
}
