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
/** Where the tracers' user space runs (the agent and controller processes, tcplife): off the workload's CPU. */
const TRACER_CPU = '0';

/** Pins every thread of `pid` to `cpus` (taskset -a -p). */
function pin(pid, cpus) {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset ${pid}: ${r.stderr}`);
}
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

const LABELS = {
  plain: 'none',
  tracefleet: 'Tracefleet tcp job (tp_btf sock:inet_sock_set_state; every connection streamed and stored, histogram)',
  tracefleetCountOnly: 'Tracefleet tcp job, maxEvents 0 (histogram and counters only)',
  libbpfTools: 'libbpf-tools `/usr/sbin/tcplife` (tracepoint sock:inet_sock_set_state, a line per connection)',
};

export async function tcpBench(stack) {
  const bin = gcc(join(root, 'bench/workloads/tcp_churn.c'), join(WORK, 'tcp_churn'));
  /** One churn: { cps: connections/s (wall clock), cpuNs: the workload's own CPU ns per connection }. */
  const churn = async () => {
    const [cps, cpuNs] = (await run('taskset', ['-c', CPU, bin, String(CONNECTIONS)]).done).trim().split(' ').map(Number);
    return { cps, cpuNs };
  };
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
  // The workload runs on CPU 1 and both tracers' user space on CPU 0, so that the figures are the probes' cost
  // on the workload more than a contest for one CPU (this stack's PostgreSQL, and the machine's other work, are
  // not pinned).
  const ownPids = [...stack.agents.values(), ...stack.replicas.map((r) => r.controller)].map((c) => c.pid);
  for (const pid of ownPids) pin(pid, TRACER_CPU);
  try {
    await rounds();
  } finally {
    writeFileSync(STATS, statsWas);
    for (const pid of ownPids) pin(pid, `0-${machine().cpus - 1}`);
  }
  results.bpfNsPerRun = { tracefleet: median(oursBpf.map((x) => x.nsPerRun)), libbpfTools: median(theirsBpf.map((x) => x.nsPerRun)), runsPerRound: { tracefleet: oursBpf.map((x) => x.runs), libbpfTools: theirsBpf.map((x) => x.runs) } };

  async function rounds() {
    const plain = [];
    const ours = [];
    const oursCounting = [];
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

      // maxEvents 0: the histogram and the counters only, nothing streamed: the probe without the row pipeline.
      const counting = await startJob(stack, { type: 'tcp', durationSec: 120, target: { all: true }, maxEvents: 0 });
      oursCounting.push(await churn());
      await stack.api('POST', `/jobs/${counting}/stop`);
      await waitFor(async () => (await stack.api('GET', `/jobs/${counting}`)).json.status === 'stopped', 120_000, `job ${counting} to stop`);

      const t = run('taskset', ['-c', TRACER_CPU, 'stdbuf', '-oL', TCPLIFE]);
      for (let i = 0; i < 100 && !/PID\s+COMM/.test(t.output()); i++) await sleep(100);
      if (!/PID\s+COMM/.test(t.output())) {
        t.child.kill('SIGKILL');
        throw new Error(`${TCPLIFE} did not attach: ${t.output()}`);
      }
      libbpf.push(await measured('inet_sock_set', churn, theirsBpf));
      const out = await interrupt(t, 'tcplife');
      tcplifeLines = out.split('\n').filter((l) => /tcp_churn/.test(l)).length;
    }
    results.rounds = { plain, tracefleet: ours, tracefleetCountOnly: oursCounting, libbpfTools: libbpf };
  }
  const cols = ['plain', 'tracefleet', 'tracefleetCountOnly', 'libbpfTools'];
  const cps = Object.fromEntries(cols.map((c) => [c, median(results.rounds[c].map((r) => r.cps))]));
  const cpuNs = Object.fromEntries(cols.map((c) => [c, median(results.rounds[c].map((r) => r.cpuNs))]));
  results.connectionsPerSec = cps;
  results.cpuNsPerConnection = cpuNs;
  results.slowdown = Object.fromEntries(cols.map((c) => [c, cps.plain / cps[c]]));
  results.cpuRatio = Object.fromEntries(cols.map((c) => [c, cpuNs[c] / cpuNs.plain]));
  results.lastTracefleetJob = lastOurs;
  results.lastTcplifeChurnLines = tcplifeLines;
  publish(
    'tcp',
    results,
    `## tcp (connection lifetimes and connect latency)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/tcp.json. Workload: \`taskset -c ${CPU} tcp_churn ${CONNECTIONS.toLocaleString('en-US')}\` (bench/workloads/tcp_churn.c: loopback connect, accept, one byte each way, close with a reset; each connection fires sock:inet_sock_set_state three times per socket); connections/s by the wall clock and the workload's own CPU time per connection (getrusage: user + system, which includes the probes, run in its context, and which the machine's other work inflates far less than the wall clock), medians of ${ROUNDS} interleaved rounds. The tracers' user space runs on CPU ${TRACER_CPU} (\`taskset\`: the agent, the controller, tcplife). Both tracers watch the whole host and report every connection (Tracefleet: streamed to the controller and stored, ${lastOurs?.stored?.toLocaleString('en-US') ?? '?'} rows in the last round; tcplife: a line each, ${tcplifeLines.toLocaleString('en-US')} in its last round).

| tracing | connections/s (wall) | slowdown | workload CPU ns per connection | CPU ratio |
|---|---|---|---|---|
${cols.map((c) => `| ${LABELS[c]} | ${Math.round(cps[c]).toLocaleString('en-US')} | ${results.slowdown[c].toFixed(3)}× | ${Math.round(cpuNs[c]).toLocaleString('en-US')} | ${results.cpuRatio[c].toFixed(3)}× |`).join('\n')}

The wall-clock slowdown is mostly the tracers' user space (tcplife formatting and printing 100,000 lines; the agent streaming 100,000 rows to the controller, which stores them) taking CPU time (this stack's PostgreSQL is not pinned), and other work on the machine moves single rounds by tens of % (per-round figures in the JSON). The probes themselves, from the kernel's BPF run-time statistics during the traced rounds (median ns per program run): Tracefleet's \`on_state\` ${results.bpfNsPerRun.tracefleet?.toFixed(0)} ns, tcplife's \`inet_sock_set_state\` ${results.bpfNsPerRun.libbpfTools?.toFixed(0)} ns.

libbpf-tools \`/usr/sbin/tcpconnlat\` ${connlatRuns ? 'ran' : 'does not run on this kernel'}: ${connlatRuns ? '' : `it attaches kprobes (tcp_v4_connect, tcp_rcv_state_process) and CONFIG_KPROBES is off — \`${results.tcpconnlat.output.split('\n')[0]}\`. `}The tcp job measures connect latency from the same tracepoint (SYN_SENT → ESTABLISHED), so it costs nothing beyond the tcp job rows above.`,
  );
}
