// tcp: overhead on a connection-churn workload (bench/workloads/tcp_churn.c: loopback connect, accept, one byte
// each way, close; every connection fires sock:inet_sock_set_state three times per socket) untraced, with a
// Tracefleet tcp job (whole host: every connection streamed to the controller and stored), and with
// libbpf-tools' /usr/sbin/tcplife (whole host, a line per connection) — same run, rounds interleaved, medians.
// libbpf-tools' tcpconnlat is tried once: it needs kprobes (tcp_v4_connect), which this kernel lacks.
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { WORK, gcc, interrupt, machine, median, publish, root, run, sleep, startJob, waitFor } from './lib.mjs';

const CONNECTIONS = 50_000;
const ROUNDS = 7;
const CPU = '1';
const TCPLIFE = '/usr/sbin/tcplife';
const TCPCONNLAT = '/usr/sbin/tcpconnlat';
const STATS = '/proc/sys/kernel/bpf_stats_enabled';

/** run_time_ns and run_cnt summed over the loaded BPF programs whose name starts with `prefix` (bpf_stats_enabled). */
function progStats(prefix) {
  const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  const progs = JSON.parse(r.stdout || '[]').filter((p) => (p.name ?? '').startsWith(prefix));
  return { ns: progs.reduce((a, p) => a + (p.run_time_ns ?? 0), 0), cnt: progs.reduce((a, p) => a + (p.run_cnt ?? 0), 0) };
}

/** The churn's BPF run time per program run (ns) of the programs named `prefix`, from bpf_stats around `fn`. */
async function measured(prefix, fn, into) {
  const before = progStats(prefix);
  const value = await fn();
  const after = progStats(prefix);
  if (after.cnt > before.cnt) into.push({ nsPerRun: (after.ns - before.ns) / (after.cnt - before.cnt), runs: after.cnt - before.cnt });
  return value;
}

export async function tcpBench(stack) {
  const bin = gcc(join(root, 'bench/workloads/tcp_churn.c'), join(WORK, 'tcp_churn'));
  const churn = async () => Number((await run('taskset', ['-c', CPU, bin, String(CONNECTIONS)]).done).trim());
  const results = { date: new Date().toISOString(), machine: machine(), connections: CONNECTIONS, rounds: ROUNDS };

  // tcpconnlat: does it run here at all?
  const connlat = spawnSync('timeout', ['-s', 'INT', '2', TCPCONNLAT], { encoding: 'utf8' });
  results.tcpconnlat = { exitStatus: connlat.status, output: `${connlat.stdout}${connlat.stderr}`.trim().split('\n').slice(0, 6).join('\n') };
  const connlatRuns = connlat.status === 0 || connlat.status === 124 ? !/failed/.test(results.tcpconnlat.output) : false;

  // The probes' own cost, apart from what their user space takes from the workload's CPU: the kernel's BPF
  // run-time statistics (on for this suite only, then set back).
  let lastOurs;
  let tcplifeLines = 0;
  const statsWas = readFileSync(STATS, 'utf8').trim();
  writeFileSync(STATS, '1');
  const oursBpf = [];
  const theirsBpf = [];
  try {
    await rounds();
  } finally {
    writeFileSync(STATS, statsWas);
  }
  results.bpfNsPerRun = { tracefleet: median(oursBpf.map((x) => x.nsPerRun)), libbpfTools: median(theirsBpf.map((x) => x.nsPerRun)), runsPerRound: { tracefleet: oursBpf.map((x) => x.runs), libbpfTools: theirsBpf.map((x) => x.runs) } };

  async function rounds() {
  const plain = [];
  const ours = [];
  const libbpf = [];
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(await churn());

    const id = await startJob(stack, { type: 'tcp', durationSec: 120, target: { all: true }, maxEvents: 1_000_000 });
    ours.push(await measured('on_state', churn, oursBpf));
    const stop = await stack.api('POST', `/jobs/${id}/stop`);
    if (stop.status !== 202) throw new Error(`POST /jobs/${id}/stop → ${stop.status} ${stop.text}`);
    await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json.status === 'stopped', 120_000, `job ${id} to stop`);
    const r = (await stack.api('GET', `/jobs/${id}/tcp?limit=1`)).json;
    lastOurs = { stored: r.lifetimes.count, counters: r.connectLatency.nodes[0]?.counters, connects: r.connectLatency.merged.count };

    const t = run('stdbuf', ['-oL', TCPLIFE]);
    for (let i = 0; i < 100 && !/PID\s+COMM/.test(t.output()); i++) await sleep(100);
    if (!/PID\s+COMM/.test(t.output())) {
      t.child.kill('SIGKILL');
      throw new Error(`${TCPLIFE} did not attach: ${t.output()}`);
    }
    libbpf.push(await measured('inet_sock_set', churn, theirsBpf));
    const out = await interrupt(t, 'tcplife');
    tcplifeLines = out.split('\n').filter((l) => /tcp_churn/.test(l)).length;
  }
  results.connectionsPerSec = { plain, tracefleet: ours, libbpfTools: libbpf };
  }
  const { plain, tracefleet: ours, libbpfTools: libbpf } = results.connectionsPerSec;
  const base = median(plain);
  results.slowdown = { tracefleet: base / median(ours), libbpfTools: base / median(libbpf) };
  const addedNs = (cps) => 1e9 / cps - 1e9 / base;
  results.addedNsPerConnection = { tracefleet: addedNs(median(ours)), libbpfTools: addedNs(median(libbpf)) };
  results.lastTracefleetJob = lastOurs;
  results.lastTcplifeChurnLines = tcplifeLines;
  const x = results.slowdown;
  publish(
    'tcp',
    results,
    `## tcp (connection lifetimes and connect latency)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/tcp.json. Workload: \`taskset -c ${CPU} tcp_churn ${CONNECTIONS.toLocaleString('en-US')}\` (bench/workloads/tcp_churn.c: loopback connect, accept, one byte each way, close with a reset; each connection fires sock:inet_sock_set_state three times per socket); connections/s, median of ${ROUNDS} interleaved rounds. Both tracers watch the whole host and report every connection (Tracefleet: streamed to the controller and stored, ${lastOurs?.stored?.toLocaleString('en-US') ?? '?'} rows in the last round; tcplife: a line each, ${tcplifeLines.toLocaleString('en-US')} in its last round).

| tracing | connections/s | slowdown | added ns per connection |
|---|---|---|---|
| none | ${Math.round(base).toLocaleString('en-US')} | 1× | – |
| Tracefleet tcp job (tp_btf sock:inet_sock_set_state; connect-latency histogram too) | ${Math.round(median(ours)).toLocaleString('en-US')} | ${x.tracefleet.toFixed(3)}× | ${results.addedNsPerConnection.tracefleet.toFixed(0)} |
| libbpf-tools \`/usr/sbin/tcplife\` (same tracepoint) | ${Math.round(median(libbpf)).toLocaleString('en-US')} | ${x.libbpfTools.toFixed(3)}× | ${results.addedNsPerConnection.libbpfTools.toFixed(0)} |

The slowdown is mostly the tracers' user space (tcplife formatting and printing 100,000 lines; the agent streaming 100,000 rows to the controller, which stores them) taking CPU time on a 2-CPU machine, and other work on the machine moves single rounds by tens of % (per-round figures in the JSON). The probes themselves, from the kernel's BPF run-time statistics during the traced rounds (median ns per program run): Tracefleet's \`on_state\` ${results.bpfNsPerRun.tracefleet?.toFixed(0)} ns, tcplife's \`inet_sock_set_state\` ${results.bpfNsPerRun.libbpfTools?.toFixed(0)} ns.

libbpf-tools \`/usr/sbin/tcpconnlat\` ${connlatRuns ? 'ran' : 'does not run on this kernel'}: ${connlatRuns ? '' : `it attaches kprobes (tcp_v4_connect, tcp_rcv_state_process) and CONFIG_KPROBES is off — \`${results.tcpconnlat.output.split('\n')[0]}\`. `}The tcp job measures connect latency from the same tracepoint (SYN_SENT → ESTABLISHED), so it costs nothing beyond the row above.`,
  );
}
