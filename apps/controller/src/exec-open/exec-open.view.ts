/** The exec-open results' shapes and their text form (execsnoop's and opensnoop's columns). Pure. */

export interface ExecOpenCounters {
  execs: string;
  opens: string;
  streamed: string;
  noStart: string;
  overBudget: string;
  dropped: string;
}

export interface ExecOpenEventView {
  id: string;
  node: string;
  kind: string;
  syscall: string;
  pid: number;
  tid: number;
  ppid: number;
  uid: string;
  comm: string;
  ret: number;
  tsNs: string;
  dfd: number;
  path: string;
  args: string[] | null;
  flags: string | null;
  mode: string | null;
  truncated: boolean;
}

export interface ExecOpenResults {
  jobId: string;
  /** Counters merged across nodes, and each node's (reported: its agent sent them at the end of its run). */
  counters: ExecOpenCounters;
  nodes: { node: string; status: string; reported: boolean; counters: ExecOpenCounters }[];
  /** Stored events that match the query, whatever the page. */
  matching: number;
  events: ExecOpenEventView[];
  /** Pass as ?after= for the next page; null on the last. */
  next: string | null;
}

type Totals = { execs: bigint; opens: bigint; streamed: bigint; noStart: bigint; overBudget: bigint; dropped: bigint };
const KEYS = ['execs', 'opens', 'streamed', 'noStart', 'overBudget', 'dropped'] as const;

const counters = (t: Totals | null): ExecOpenCounters =>
  Object.fromEntries(KEYS.map((k) => [k, (t?.[k] ?? 0n).toString()])) as unknown as ExecOpenCounters;

/** Each run's counters, and their sum. */
export function mergeCounters(runs: { node: string; status: string; totals: Totals | null }[]): Pick<ExecOpenResults, 'counters' | 'nodes'> {
  const sum: Totals = { execs: 0n, opens: 0n, streamed: 0n, noStart: 0n, overBudget: 0n, dropped: 0n };
  for (const r of runs) for (const k of KEYS) sum[k] += r.totals?.[k] ?? 0n;
  return { counters: counters(sum), nodes: runs.map((r) => ({ node: r.node, status: r.status, reported: r.totals !== null, counters: counters(r.totals) })) };
}

/** A shell-like rendering of argv: arguments with spaces or quotes quoted. */
const argvText = (args: string[]): string => args.map((a) => (a === '' || /[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ');

/**
 * The page in the classic tools' columns, a NODE column first: execs as execsnoop (PCOMM PID PPID RET ARGS),
 * then opens as opensnoop (PID COMM FD ERR PATH); each section in the order the events returned.
 */
export function execOpenText(r: ExecOpenResults): string {
  const execs = r.events.filter((e) => e.kind === 'exec');
  const opens = r.events.filter((e) => e.kind === 'open');
  const out: string[] = [];
  if (execs.length > 0 || opens.length === 0) {
    out.push(`${'NODE'.padEnd(16)} ${'PCOMM'.padEnd(16)} ${'PID'.padEnd(7)} ${'PPID'.padEnd(7)} ${'RET'.padStart(3)} ARGS`);
    for (const e of execs) {
      out.push(`${e.node.slice(0, 16).padEnd(16)} ${e.comm.padEnd(16)} ${String(e.pid).padEnd(7)} ${String(e.ppid).padEnd(7)} ${String(e.ret).padStart(3)} ${argvText(e.args?.length ? e.args : [e.path])}${e.truncated ? ' ...' : ''}`);
    }
  }
  if (opens.length > 0) {
    if (out.length > 0) out.push('');
    out.push(`${'NODE'.padEnd(16)} ${'PID'.padEnd(7)} ${'COMM'.padEnd(16)} ${'FD'.padStart(3)} ${'ERR'.padStart(3)} PATH`);
    for (const e of opens) {
      const fd = e.ret >= 0 ? e.ret : -1;
      const err = e.ret < 0 ? -e.ret : 0;
      out.push(`${e.node.slice(0, 16).padEnd(16)} ${String(e.pid).padEnd(7)} ${e.comm.padEnd(16)} ${String(fd).padStart(3)} ${String(err).padStart(3)} ${e.path}${e.truncated ? '...' : ''}`);
    }
  }
  if (r.next) out.push(`(more: ?after=${r.next})`);
  const c = r.counters;
  out.push('', `job ${r.jobId.slice(0, 8)} · execs ${c.execs} · opens ${c.opens} · kept ${c.streamed} · over budget ${c.overBudget} · dropped ${c.dropped} · not followed ${c.noStart}`);
  return out.join('\n');
}
