// runqlat: overhead on a context-switch-heavy workload (`perf bench sched pipe`: two tasks ping-pong over
// pipes, every op a wakeup and a switch, i.e. every op fires each of runqlat's tracepoints) untraced, with a
// Tracefleet runqlat job (whole host, one histogram), and with libbpf-tools' /usr/sbin/runqlat (whole host)
// — all in the same run, rounds interleaved, medians of 5.
import { median, machine, publish, run, sleep, waitFor, startJob, interrupt } from './lib.mjs';

const LOOPS = 300_000;
const ROUNDS = 7;
const CPU = '1'; // both tasks on one CPU: every op is two context switches there, and less noise from the other CPU
const RUNQLAT = '/usr/sbin/runqlat';

/** ops/s of one `perf bench sched pipe` run. */
async function pipeOps() {
  const out = await run('taskset', ['-c', CPU, 'perf', 'bench', 'sched', 'pipe', '-l', String(LOOPS)]).done;
  const m = /([\d.]+)\s+ops\/sec/.exec(out);
  if (!m) throw new Error(`perf bench sched pipe: no ops/sec in ${out}`);
  return Number(m[1]);
}

export async function runqlatBench(stack) {
  const results = { date: new Date().toISOString(), machine: machine(), loops: LOOPS, rounds: ROUNDS };
  const plain = [];
  const ours = [];
  const libbpf = [];
  let oursHist;
  let theirsOut = '';
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(await pipeOps());

    const id = await startJob(stack, { type: 'runqlat', durationSec: 120, target: { all: true } });
    ours.push(await pipeOps());
    const stop = await stack.api('POST', `/jobs/${id}/stop`);
    if (stop.status !== 202) throw new Error(`POST /jobs/${id}/stop → ${stop.status} ${stop.text}`);
    // A stopped job ends `stopped` (harness waitJob waits for completed/partial/failed only).
    await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json.status === 'stopped', 60_000, `job ${id} to stop`);
    oursHist = (await stack.api('GET', `/jobs/${id}/runqlat`)).json.merged;

    // libbpf-tools' runqlat prints "Tracing run queue latency..." once attached; stdbuf (which execs it)
    // line-buffers its stdout so the line reaches the pipe at once.
    const t = run('stdbuf', ['-oL', RUNQLAT]);
    for (let i = 0; i < 100 && !/Tracing/.test(t.output()); i++) await sleep(100);
    if (!/Tracing/.test(t.output())) {
      t.child.kill('SIGKILL');
      throw new Error(`${RUNQLAT} did not attach: ${t.output()}`);
    }
    libbpf.push(await pipeOps());
    theirsOut = await interrupt(t, 'runqlat');
  }
  const base = median(plain);
  results.opsPerSec = { plain, tracefleet: ours, libbpfTools: libbpf };
  results.slowdown = { tracefleet: base / median(ours), libbpfTools: base / median(libbpf) };
  // Added time per op (ns): 1/ops traced − 1/ops untraced; each op is two wakeups and two switches.
  const addedNs = (ops) => 1e9 / ops - 1e9 / base;
  results.addedNsPerOp = { tracefleet: addedNs(median(ours)), libbpfTools: addedNs(median(libbpf)) };
  results.lastTracefleetHistogram = { count: oursHist?.count, p50Us: oursHist?.p50Us, p99Us: oursHist?.p99Us };
  results.lastLibbpfToolsOutput = theirsOut.split('\n').slice(-30).join('\n');
  const x = results.slowdown;
  publish(
    'runqlat',
    results,
    `## runqlat (scheduler run-queue latency)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/runqlat.json. Workload: \`taskset -c ${CPU} perf bench sched pipe -l ${LOOPS.toLocaleString('en-US')}\` (a pipe ping-pong of two tasks on one CPU: every op is two wakeups and two context switches, each firing the probes); ops/s, median of ${ROUNDS} interleaved rounds. Both tracers watch the whole host with one histogram.

| tracing | ops/s | slowdown | added ns per op |
|---|---|---|---|
| none | ${Math.round(base).toLocaleString('en-US')} | 1× | – |
| Tracefleet runqlat job (tp_btf sched_wakeup, sched_wakeup_new, sched_switch) | ${Math.round(median(ours)).toLocaleString('en-US')} | ${x.tracefleet.toFixed(3)}× | ${results.addedNsPerOp.tracefleet.toFixed(0)} |
| libbpf-tools \`/usr/sbin/runqlat\` (same tracepoints, tp_btf) | ${Math.round(median(libbpf)).toLocaleString('en-US')} | ${x.libbpfTools.toFixed(3)}× | ${results.addedNsPerOp.libbpfTools.toFixed(0)} |

Per-round figures are in the JSON; other work on the machine during the run moves single rounds by a few %.`,
  );
}
