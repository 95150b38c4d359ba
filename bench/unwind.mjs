// Unwinding without frame pointers (issue 12): the agent's .eh_frame tables walked in BPF ("tables",
// the default) against perf --call-graph dwarf and against our old frame-pointer walk ("fp", a second
// agent started with TRACEFLEET_AGENT_UNWIND=fp), all in this run:
//   1. share of samples with a whole stack: Debian python3.11, nginx workers, the FP-less chain.c;
//   2. slowdown of an FP-less CPU-bound workload at 99 and 999 Hz;
//   3. BPF time per run of the profile program (kernel.bpf_stats_enabled), tables vs fp;
//   4. table build time and size for libc, python3.11, node and libjvm;
//   5. agent memory and unwinding counters during a 30 s whole-host profile.
// Every process started here is ended here (finally), and kernel.bpf_stats_enabled is restored.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianTools, writeNginxConfig } from './nginx.mjs';
import { LOAD, childrenOf, freePort, killIfComm, nginxVersion, outermostByComm, procStatus, profileBpfTime, sysctl } from './unwind-host.mjs';
import { SHARE_SEC, WHOLE_SEC, renderUnwind } from './unwind-report.mjs';
import { overheadPart, workloadCpu } from './unwind-overhead.mjs';
import { WORK, gcc, harness, machine, median, publish, root, run, sleep, startAgentWithEnv, startJob, stopAgent, waitFor, waitJob } from './lib.mjs';

const require = createRequire(import.meta.url);
const support = require(join(root, 'e2e/dist/unwind-support.js'));
const { DEBIAN_PYTHON, UNWIND_FIXTURES, buildFpless, chainShare, parsePerfScript, sampleCount, startFixture, topStacks } = support;
const { parseFolded } = harness;

const COMM = 'tf_fpless';
const LIBS = {
  libc: '/usr/lib/x86_64-linux-gnu/libc.so.6',
  python3_11: DEBIAN_PYTHON,
  node: '/usr/bin/node',
  libjvm: '/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so',
};
// The eval loop's frame (perf, and ours before Python frames) or the Python frame that takes its place (ours).
const PY_CHAIN = [/^(main|Py_BytesMain)$/, /^(_PyEval_EvalFrameDefault|\S+ \(busy\.py:\d+\))$/];
const CHAIN_C = ['main', 'tf_a', 'tf_b', 'tf_c'];
const CHAIN_SORT = ['main', 'tf_sorter', /qsort/, 'tf_compare'];
const OUTERMOST = [/^(main|__libc_start_main|__libc_start_call_main|_start)$/];
const FPLESS_CHAIN = ['main', 'tf_level1', 'tf_level2', 'tf_level3', 'unit_of_work'];

/** Share (0..1) of samples carrying one of `chains` (disjoint chains: their shares add up). */
function shareOfAny(stacks, chains) {
  const total = sampleCount(stacks);
  if (total === 0) return 0;
  return chains.reduce((a, c) => a + chainShare(stacks, c), 0);
}

// ---- processes this suite starts: every one is ended in the suite's finally -------------------------

const live = new Set();
function track(child, group = false) {
  const entry = { child, group };
  live.add(entry);
  child.once('exit', () => live.delete(entry));
  return child;
}
function killAll() {
  for (const { child, group } of live) {
    try {
      if (group) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
// A crash between a spawn and the finally must not leave them either.
process.once('exit', killAll);

/** The FP-less workload (pinned to `cpu` if given): `done` resolves with its work units and the CPU seconds it was given. */
function startWorkload(bin, seconds, cpu) {
  const r = cpu === undefined ? run(bin, [String(seconds)]) : run('taskset', ['-c', String(cpu), bin, String(seconds)]);
  track(r.child);
  const done = r.done.then((out) => {
    const [units, , cpuSec] = out.trim().split(' ').map(Number);
    return { units, cpuSec };
  });
  done.catch(() => undefined); // killed in a finally after a failure: that failure is the one reported
  return { pid: r.child.pid, done };
}

// ---- perf --call-graph dwarf ------------------------------------------------------------------------

/**
 * perf record of the whole host (FACTS.md: -p records nothing on this kernel) for `seconds`, in its
 * own process group (killing it ends its `sleep` too). Resolves `started` once perf has forked its
 * workload, i.e. once its events are on.
 */
function perfRecord(data, seconds, hz, extra = []) {
  const args = ['record', '-q', '-N', ...extra, '-a', '-e', 'cpu-clock', '-F', String(hz), '--call-graph', 'dwarf,16384', '-o', data, '--', 'sleep', String(seconds)];
  const child = track(spawn('perf', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true }), true);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(`perf ${args.join(' ')} exited ${code ?? sig}: ${stderr}`))));
  });
  const started = waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`perf record exited early: ${stderr}`);
    return childrenOf(child.pid).length > 0;
  }, 15_000, 'perf record to start');
  return { child, done, started };
}

/** Stacks of `pids` from perf's own DWARF unwinder over a window of `seconds` (perf script --pid). */
async function perfStacks(dir, pids, seconds, hz = 99) {
  const data = join(dir, `perf-${Date.now()}.data`);
  try {
    const rec = perfRecord(data, seconds, hz);
    await rec.done;
    const r = spawnSync('perf', ['script', '-i', data, `--pid=${pids.join(',')}`, '--no-inline', '-F', 'comm,tid,ip,sym'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`perf script: ${r.stderr}`);
    return parsePerfScript(r.stdout);
  } finally {
    rmSync(data, { force: true });
  }
}

// ---- our profiles ------------------------------------------------------------------------------------

async function profile(stack, node, target, durationSec, hz) {
  const id = await startJob(stack, { type: 'cpu-profile', durationSec, frequencyHz: hz, target, nodes: { names: [node] } });
  return id;
}

async function profileStacks(stack, id) {
  const job = await waitJob(stack, id, 90_000);
  if (job.status !== 'completed') throw new Error(`job ${id} ${job.status}: ${JSON.stringify(job.runs)}`);
  const folded = await stack.api('GET', `/jobs/${id}/flamegraph.folded`);
  return { job, stacks: parseFolded(folded.text) };
}

function shareRow(stacks, chains) {
  return { share: shareOfAny(stacks, chains), samples: sampleCount(stacks), top: topStacks(stacks, 5).split('\n') };
}

/** Ours (tables), ours (fp) and perf over the same window on the same process(es). */
async function shares(stack, nodes, dir, target, perfPids, chains) {
  const [tbl, fp, perf] = await Promise.all([
    profile(stack, nodes.tables, target, SHARE_SEC, 99).then((id) => profileStacks(stack, id)),
    profile(stack, nodes.fp, target, SHARE_SEC, 99).then((id) => profileStacks(stack, id)),
    perfStacks(dir, perfPids, SHARE_SEC + 1),
  ]);
  const u = tbl.job.runs[0].unwind;
  return {
    tables: { ...shareRow(tbl.stacks, chains), unwind: u },
    perf: shareRow(perf, chains),
    fp: shareRow(fp.stacks, chains),
  };
}

// ---- the suite ---------------------------------------------------------------------------------------

/**
 * What table builds cost the agent's event loop: an Unwinder in this process builds the tables of a
 * node and a python3.11 process (node's is the largest file here) while monitorEventLoopDelay samples
 * the loop every millisecond. Builds run on libuv's pool, so the loop should only see the handoffs.
 */
async function eventLoopDuringBuilds() {
  const { Unwinder } = require(join(root, 'native/dist/index.js'));
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const kids = [
    track(spawn('/usr/bin/node', ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })),
    track(spawn(DEBIAN_PYTHON, ['-c', 'import time; time.sleep(60)'], { stdio: 'ignore' })),
  ];
  await sleep(500);
  const unwinder = new Unwinder();
  const h = monitorEventLoopDelay({ resolution: 1 });
  let built;
  try {
    h.enable();
    const t0 = performance.now();
    const results = await Promise.all(kids.map((k) => unwinder.addProcess(k.pid)));
    const wallMs = performance.now() - t0;
    h.disable();
    built = { tablesBuilt: results.reduce((a, r) => a + r.tablesBuilt, 0), buildMs: results.reduce((a, r) => a + r.buildMs, 0), wallMs, tableBytes: unwinder.stats().tableBytes };
  } finally {
    unwinder.close();
    for (const k of kids) k.kill('SIGKILL');
  }
  return {
    measures: 'event-loop delay (monitorEventLoopDelay, 1 ms resolution) in a process whose Unwinder builds the tables of /usr/bin/node and python3.11 processes (all their mapped files) on libuv\'s pool',
    ...built,
    maxDelayMs: h.max / 1e6,
    p99DelayMs: h.percentile(99) / 1e6,
    meanDelayMs: h.mean / 1e6,
  };
}

export async function unwindBench(stack) {
  // TRACEFLEET_BENCH_UNWIND_PARTS=1,4 runs only those parts and publishes nothing (for working on the suite).
  const only = process.env.TRACEFLEET_BENCH_UNWIND_PARTS?.split(',').map(Number);
  const want = (n) => !only || only.includes(n);
  const results = { date: new Date().toISOString(), machine: machine() };
  const nodes = { tables: stack.nodeName, fp: `${stack.nodeName}-fp` };
  const dir = mkdtempSync(join(tmpdir(), 'tf-bench-unwind-'));
  const bin = gcc(join(root, 'bench/workloads/cpu_bound_fpless.c'), join(WORK, COMM), ['-fomit-frame-pointer', '-g']);
  let nginxWorkers = [];
  let statsOld;
  try {
    await startAgentWithEnv(stack, nodes.fp, { TRACEFLEET_AGENT_UNWIND: 'fp' }, 'role=bench-fp');
    const agentPids = { tables: stack.agent.pid, fp: stack.agents.get(nodes.fp).pid };

    // 4. Table build time and size (in this process, no agent): runs first, on a quiet machine.
    if (want(4)) {
      const { unwindTable } = require(join(root, 'native/dist/index.js'));
      const rows = {};
      for (const [name, path] of Object.entries(LIBS)) {
        const ms = [];
        let t;
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now();
          t = unwindTable(path);
          ms.push(performance.now() - t0);
        }
        rows[name] = { path, source: t.source, fdes: t.fdes, expressions: t.expressions, rows: t.rows.length, bytes: t.rows.length * 16, buildMs: median(ms), buildMsRuns: ms };
        t = undefined;
      }
      results.tables = {
        measures: 'unwindTable(path) from native/dist/index.js in the bench process: rows of the table the BPF program searches, bytes = rows × 16 (struct unwind_row), build ms = median of 3 calls (includes making the JS row objects the call returns)',
        files: rows,
      };
      results.eventLoop = await eventLoopDuringBuilds();
    }

    // 1. Whole-stack share: ours (tables), perf --call-graph dwarf, ours (fp) over the same window.
    if (want(1)) {
      const share = { measures: `share of a process's samples whose stack holds the named chain, root first; ${SHARE_SEC} s windows at 99 Hz, the three profilers sampling the same process at once (perf: perf record -a -e cpu-clock -F 99 --call-graph dwarf,16384, perf script --pid)` };
      const py = track(await startFixture(DEBIAN_PYTHON, [join(UNWIND_FIXTURES, 'busy.py'), '0']));
      try {
        share.python = { what: `${DEBIAN_PYTHON} e2e/fixtures/unwind/busy.py: (main|Py_BytesMain) → _PyEval_EvalFrameDefault`, ...(await shares(stack, nodes, dir, { pid: py.pid }, [py.pid], [PY_CHAIN])) };
      } finally {
        py.kill('SIGKILL');
      }
      const chainBin = buildFpless('unwind-chain', ['unwind/chain.c']);
      const chain = track(await startFixture(chainBin, ['0']));
      try {
        share.chain = { what: 'e2e/fixtures/unwind/chain.c (-O2 -fomit-frame-pointer): main → tf_a → tf_b → tf_c or main → tf_sorter → qsort → tf_compare', ...(await shares(stack, nodes, dir, { pid: chain.pid }, [chain.pid], [CHAIN_C, CHAIN_SORT])) };
      } finally {
        chain.kill('SIGKILL');
      }

      ensureDebianTools(['nginx']);
      const ndir = join(WORK, `unwind-nginx-${process.pid}`);
      const port = await freePort();
      const nginx = run('nginx', ['-c', writeNginxConfig(ndir, port, { files: { 'index.html': 'a'.repeat(4095) + '\n' }, workers: 2 })]);
      track(nginx.child);
      nginx.done.catch(() => undefined); // stopped on purpose
      try {
        await waitFor(async () => {
          if (nginx.child.exitCode !== null) throw new Error(`nginx exited: ${nginx.output()}`);
          nginxWorkers = childrenOf(nginx.child.pid).filter((c) => c.comm === 'nginx').map((c) => c.pid);
          return nginxWorkers.length === 2;
        }, 10_000, 'nginx workers');
        const res = await fetch(`http://127.0.0.1:${port}/`);
        if (res.status !== 200) throw new Error(`nginx answered ${res.status}: ${await res.text()}`);
        const load = run(process.execPath, ['-e', LOAD, `http://127.0.0.1:${port}/`, '8', String(SHARE_SEC + 6), '5000000']);
        track(load.child);
        await sleep(1000);
        share.nginx = {
          what: `nginx ${nginxVersion()} (Debian, 2 workers) serving a 4 KiB static file over HTTP on 127.0.0.1 to a node keep-alive loop (8 connections); profiled by comm 'nginx' (ours) and by the workers' pids (perf): the stack reaches main, __libc_start_main or _start`,
          ...(await shares(stack, nodes, dir, { comm: 'nginx' }, nginxWorkers, [OUTERMOST])),
        };
        const [ok, bad] = (await load.done).trim().split(' ').map(Number);
        share.nginx.load = { requests: ok, failed: bad, seconds: SHARE_SEC + 6 };
      } finally {
        nginx.child.kill('SIGQUIT');
        await Promise.race([nginx.done.catch(() => undefined), sleep(5000)]);
        for (const pid of [nginx.child.pid, ...nginxWorkers]) killIfComm(pid, 'nginx');
        rmSync(ndir, { recursive: true, force: true });
      }
      results.share = share;
    }

    // 2. Overhead on the FP-less CPU-bound workload (bench/unwind-overhead.mjs).
    if (want(2)) {
      results.overhead = await overheadPart({
        stack, nodes, agentPids, bin, dir, comm: COMM, chain: FPLESS_CHAIN, sleep, profile, profileStacks, perfRecord,
        startWorkload: (b, secs) => startWorkload(b, secs, workloadCpu()),
        shareOf: shareOfAny,
      });
    }

    // 3. BPF time per run of the profile program, tables vs fp, on the FP-less workload at 999 Hz.
    if (want(3)) {
      statsOld = sysctl('kernel.bpf_stats_enabled');
      sysctl('kernel.bpf_stats_enabled', 1);
      const bpf = {
        measures: 'run_time_ns / run_cnt of the agent\'s BPF program \'profile\' (bpftool prog show, kernel.bpf_stats_enabled=1) over 5 s of a 999 Hz cpu-profile job on the FP-less workload (by pid, tables built before sampling); run_cnt counts every CPU-clock sample on both CPUs, the filtered-out ones of other processes included; nsPerWorkloadSample puts all that time on the workload\'s own samples (samplesTaken of the job / 8 s × window)',
      };
      for (const mode of ['tables', 'fp']) {
        const { job, ...m } = await profileBpfTime({
          agentPid: agentPids[mode],
          workload: startWorkload(bin, 12),
          startProfile: (pid) => profile(stack, nodes[mode], { pid }, 8, 999),
          finish: async (id) => (await profileStacks(stack, id)).job,
          sleep,
        });
        bpf[mode] = { ...m, unwind: job.runs[0].unwind };
      }
      sysctl('kernel.bpf_stats_enabled', statsOld);
      statsOld = undefined;
      results.bpfTime = bpf;
    }

    // 5. Agent memory during a 30 s whole-host profile, both CPUs busy.
    if (want(5)) {
      const pid = agentPids.tables;
      const hwmBefore = procStatus(pid).hwmKb;
      let hwmReset = true;
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := VmRSS, so the peak below is this run's
      } catch {
        hwmReset = false;
      }
      const rssStart = procStatus(pid).rssKb;
      const py = track(await startFixture(DEBIAN_PYTHON, [join(UNWIND_FIXTURES, 'busy.py'), String(WHOLE_SEC + 4)]));
      const w = startWorkload(bin, WHOLE_SEC + 4);
      const id = await profile(stack, nodes.tables, { all: true }, WHOLE_SEC, 99);
      let rssPeakSampled = 0;
      let job;
      for (;;) {
        rssPeakSampled = Math.max(rssPeakSampled, procStatus(pid).rssKb);
        job = (await stack.api('GET', `/jobs/${id}`)).json;
        if (['completed', 'partial', 'failed'].includes(job.status)) break;
        await sleep(500);
      }
      const end = procStatus(pid);
      await w.done;
      await new Promise((r) => (py.exitCode !== null ? r() : py.once('exit', r)));
      const u = job.runs[0].unwind;
      const { stacks } = await profileStacks(stack, id);
      results.wholeHost = {
        measures: `a ${WHOLE_SEC} s cpu-profile job with target all at 99 Hz on the tables agent, with the FP-less workload and python3.11 busy.py running (both CPUs busy): the agent's VmHWM (reset with clear_refs before the run${hwmReset ? '' : ' — refused, so the peak is since the agent started'}), its VmRSS sampled every 0.5 s, and the run's unwind counters`,
        status: job.status,
        samplesStored: job.totals.samplesStored,
        agentHwmKbBeforeRun: hwmBefore,
        hwmReset,
        agentRssKbAtStart: rssStart,
        // VmHWM can lag the sampled VmRSS by a few pages (the kernel batches its RSS counters): the larger of the two.
        agentPeakRssKb: Math.max(end.hwmKb, rssPeakSampled),
        agentHwmKbAtEnd: end.hwmKb,
        agentRssPeakSampledKb: rssPeakSampled,
        agentRssKbAtEnd: end.rssKb,
        unwind: u,
        completeShare: u ? u.stacksComplete / u.stacks : null,
        byComm: outermostByComm(stacks),
      };
    }
  } finally {
    if (statsOld !== undefined) {
      try {
        sysctl('kernel.bpf_stats_enabled', statsOld);
      } catch (err) {
        console.error(`[bench] could not restore kernel.bpf_stats_enabled=${statsOld}: ${err.message}`);
      }
    }
    killAll();
    for (const pid of nginxWorkers) killIfComm(pid, 'nginx');
    await stopAgent(stack, nodes.fp);
    rmSync(dir, { recursive: true, force: true });
  }

  if (only) {
    console.log(JSON.stringify(results, null, 2));
    return results;
  }
  publish('unwind', results, renderUnwind(results));
  return results;
}
