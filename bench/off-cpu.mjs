// off-cpu: overhead on a context-switch-heavy workload (`perf bench sched pipe`: two tasks ping-pong over pipes,
// every op two blocking reads, i.e. two switch-outs that take a user and a kernel stack and two switch-ins that
// count a block) untraced, with a Tracefleet off-cpu job (whole host, .eh_frame user stacks, kernel stacks), and
// with libbpf-tools' /usr/sbin/offcputime (whole host, frame-pointer user stacks, kernel stacks) — all in the same
// run, rounds interleaved, medians.
import { readdirSync, readlinkSync } from 'node:fs';
import { harness, median, machine, publish, run, sleep, waitFor, startJob } from './lib.mjs';

const { parseFolded } = harness;

const LOOPS = 1_000_000; // a few seconds: the agent's unwind tables for perf are built early in the run
const ROUNDS = 5;
const CPU = '1'; // both tasks on one CPU: every op is two context switches there, and less noise from the other CPU
const OFFCPUTIME = '/usr/sbin/offcputime';

/** Whether the process has a BPF link open (it attached its programs). */
function holdsBpfLink(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:bpf_link';
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** ops/s of one `perf bench sched pipe` run. */
async function pipeOps(loops = LOOPS) {
  const out = await run('taskset', ['-c', CPU, 'perf', 'bench', 'sched', 'pipe', '-l', String(loops)]).done;
  const m = /([\d.]+)\s+ops\/sec/.exec(out);
  if (!m) throw new Error(`perf bench sched pipe: no ops/sec in ${out}`);
  return Number(m[1]);
}

export async function offCpuBench(stack) {
  const results = { date: new Date().toISOString(), machine: machine(), loops: LOOPS, rounds: ROUNDS };
  const plain = [];
  const ours = [];
  const libbpf = [];
  const oursPerfUs = [];
  const oursUnwind = [];
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(await pipeOps());

    const id = await startJob(stack, { type: 'off-cpu', durationSec: 120, target: { all: true } });
    // Steady state: a whole-host job first builds the tables of every running process (seconds on this machine),
    // and a short unmeasured run has the agent build perf's; the measured perf processes then need only their
    // mappings (one miss each, polled every 200 ms).
    await sleep(3000);
    await pipeOps(100_000);
    ours.push(await pipeOps());
    const stop = await stack.api('POST', `/jobs/${id}/stop`);
    if (stop.status !== 202) throw new Error(`POST /jobs/${id}/stop → ${stop.status} ${stop.text}`);
    await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json.status === 'stopped', 60_000, `job ${id} to stop`);
    const folded = parseFolded((await stack.api('GET', `/jobs/${id}/flamegraph.folded`)).text);
    oursPerfUs.push(folded.filter((s) => s.frames[0].startsWith('sched-')).reduce((a, s) => a + s.count, 0));
    oursUnwind.push((await stack.api('GET', `/jobs/${id}`)).json.runs[0]?.unwind ?? null);

    // offcputime prints nothing until it ends: it is attached once it holds a BPF link. It is killed after the
    // workload rather than interrupted: on SIGINT it symbolizes every stack it kept, which took minutes here
    // (work after the measured window, not the workload's).
    const t = run(OFFCPUTIME, []);
    const ended = t.done.catch(() => undefined);
    for (let i = 0; i < 100 && !holdsBpfLink(t.child.pid); i++) await sleep(100);
    if (!holdsBpfLink(t.child.pid)) {
      t.child.kill('SIGKILL');
      await ended;
      throw new Error(`${OFFCPUTIME} did not attach: ${t.output()}`);
    }
    libbpf.push(await pipeOps());
    t.child.kill('SIGKILL');
    await ended;
  }
  const base = median(plain);
  results.opsPerSec = { plain, tracefleet: ours, libbpfTools: libbpf };
  results.slowdown = { tracefleet: base / median(ours), libbpfTools: base / median(libbpf) };
  // Added time per op (ns): 1/ops traced − 1/ops untraced; each op is two blocks (two switch-outs, two switch-ins).
  const addedNs = (ops) => 1e9 / ops - 1e9 / base;
  results.addedNsPerOp = { tracefleet: addedNs(median(ours)), libbpfTools: addedNs(median(libbpf)) };
  results.tracefleetPerfBlockedUs = oursPerfUs;
  results.tracefleetUnwind = oursUnwind;
  const sum = (k) => oursUnwind.reduce((a, u) => a + Number(u?.[k] ?? 0), 0);
  const unwound = { complete: sum('stacksComplete') / Math.max(1, sum('stacks')), pending: sum('unwindPending') / Math.max(1, sum('stacks')), frames: (sum('framesTable') / Math.max(1, sum('stacksComplete'))).toFixed(1) };
  const pct = (v) => (100 * v).toFixed(0);
  results.unwound = unwound;
  const x = results.slowdown;
  publish(
    'off-cpu',
    results,
    `## off-cpu (time blocked off-CPU by stack)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/off-cpu.json. Workload: \`taskset -c ${CPU} perf bench sched pipe -l ${LOOPS.toLocaleString('en-US')}\` (a pipe ping-pong of two tasks on one CPU: every op is two blocking reads, so two switch-outs that take stacks and two switch-ins that count a block); ops/s, median of ${ROUNDS} interleaved rounds. Both tracers watch the whole host with user and kernel stacks and the default minimum block (1 µs). Tracefleet walks user stacks with the agent's .eh_frame tables (perf has no frame pointers); offcputime walks frame pointers (\`bpf_get_stackid\`), so its user stacks of perf stop after a frame or two.

| tracing | ops/s | slowdown | added ns per op |
|---|---|---|---|
| none | ${Math.round(base).toLocaleString('en-US')} | 1× | – |
| Tracefleet off-cpu job (tp_btf sched_switch, .eh_frame user stacks) | ${Math.round(median(ours)).toLocaleString('en-US')} | ${x.tracefleet.toFixed(3)}× | ${results.addedNsPerOp.tracefleet.toFixed(0)} |
| libbpf-tools \`/usr/sbin/offcputime\` (tp_btf sched_switch, frame-pointer stacks) | ${Math.round(median(libbpf)).toLocaleString('en-US')} | ${x.libbpfTools.toFixed(3)}× | ${results.addedNsPerOp.libbpfTools.toFixed(0)} |

Tracefleet's job starts 3 s before the measured run and a short unmeasured perf run lets the agent build perf's unwind tables (a whole-host job builds the tables of every running process first); over the whole jobs, ${pct(unwound.complete)} % of its switch-outs walked a whole user stack with the tables (${unwound.frames} frames each on average) and ${pct(unwound.pending)} % met a process whose tables or mappings were not loaded yet (such a walk stops at once). Per-round figures, the µs Tracefleet counted under perf's threads and its unwinding counters are in the JSON; other work on the machine during the run moves single rounds by a few %.`,
  );
}
