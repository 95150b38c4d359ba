// The node agent's resident memory during a whole-host CPU profile (issue 21): this build's agent and the
// agent as it was before the reductions (commit BASE, built in a temporary git worktree by this suite), both
// connected to the same controller and sampling the same host in one job, so both see the same processes and
// the same load. Each agent's VmRSS (RssAnon + RssFile + RssShmem) is read every 0.5 s from /proc; the
// figures are the median and peak after a warm-up, and the RSS once the run ended and the agent gave back
// what it could. Every process started here is ended here. The old build stays in OLD_DIR for the next run
// (`git worktree remove --force /tmp/agent-old` drops it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine, median, publish, root, run, sleep, startJob, stopAgent, waitJob } from './lib.mjs';
import { freePort } from './unwind-host.mjs';

/** The commit the comparison is made against: main before the agent-memory work. */
const BASE = 'bef1267';
const OLD_DIR = process.env.TRACEFLEET_BENCH_OLD_AGENT_DIR ?? '/tmp/agent-old';
const DURATION_SEC = 60;
const HZ = 99;
const WARMUP_SEC = 10;
const JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64';
const DEBIAN_PYTHON = '/usr/bin/python3.11';

function git(args, cwd = root) {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * BASE checked out in OLD_DIR (a detached worktree of this repository) and built: its own workspace packages
 * (native addon, BPF objects, agent), this checkout's third-party node_modules (the lock file did not change
 * in between; checked). Turbo's cache is shared between worktrees, so an unchanged package is not rebuilt.
 */
function prepareOldAgent() {
  const sha = git(['rev-parse', `${BASE}^{commit}`]);
  const main = join(OLD_DIR, 'apps/node-agent/dist/main.js');
  // Reused only when built for this checkout: its node_modules links point into this checkout's.
  const marker = join(OLD_DIR, '.tracefleet-bench-root');
  const builtFor = existsSync(marker) ? readFileSync(marker, 'utf8') : '';
  if (existsSync(OLD_DIR) && builtFor === root && git(['rev-parse', 'HEAD'], OLD_DIR) === sha && existsSync(main)) return { sha, main, reused: true };
  if (existsSync(OLD_DIR)) {
    spawnSync('git', ['worktree', 'remove', '--force', OLD_DIR], { cwd: root });
    rmSync(OLD_DIR, { recursive: true, force: true });
    git(['worktree', 'prune']);
  }
  git(['worktree', 'add', '--detach', OLD_DIR, sha]);
  const lockNow = readFileSync(join(root, 'package-lock.json'), 'utf8');
  if (readFileSync(join(OLD_DIR, 'package-lock.json'), 'utf8') !== lockNow) throw new Error(`package-lock.json changed since ${BASE}: the old agent needs its own npm ci`);
  // node_modules: a link per third-party package to this checkout's, and @tracefleet/* to the old tree's own packages.
  const nm = join(OLD_DIR, 'node_modules');
  mkdirSync(join(nm, '@tracefleet'), { recursive: true });
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name !== '@tracefleet') symlinkSync(join(root, 'node_modules', name), join(nm, name));
  }
  for (const name of readdirSync(join(root, 'node_modules/@tracefleet'))) {
    symlinkSync(readlinkSync(join(root, 'node_modules/@tracefleet', name)), join(nm, '@tracefleet', name));
  }
  const build = spawnSync('npx', ['turbo', 'run', 'build', '--filter=@tracefleet/node-agent...'], { cwd: OLD_DIR, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (build.status !== 0 || !existsSync(main)) throw new Error(`building the agent of ${BASE} in ${OLD_DIR} failed:\n${(build.stdout + build.stderr).slice(-4000)}`);
  writeFileSync(marker, root);
  return { sha, main, reused: false };
}

function status(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), anonKb: kb('RssAnon'), fileKb: kb('RssFile'), shmemKb: kb('RssShmem') };
}

/** V8's share, from the agent's own /metrics (prom-client's default metrics). */
async function v8Heap(port) {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { heapTotalKb: Math.round(value('nodejs_heap_size_total_bytes') / 1024), externalKb: Math.round(value('nodejs_external_memory_bytes') / 1024) };
  } catch {
    return undefined;
  }
}

const mib = (kb) => Math.round((kb / 1024) * 10) / 10;

export async function agentMemBench(stack) {
  const results = { date: new Date().toISOString(), machine: machine(), base: BASE };
  const old = prepareOldAgent();
  results.oldAgent = { commit: old.sha, dir: OLD_DIR, reusedBuild: old.reused };
  const labels = 'role=bench-mem';
  const first = stack.agent;
  const names = { new: `mem-new-${process.pid}`, old: `mem-old-${process.pid}` };
  const ports = { new: await freePort(), old: await freePort() };
  const children = [];
  const classes = mkdtempSync(join(tmpdir(), 'tf-agent-mem-'));
  try {
    // Both agents fresh, the same environment but the metrics port; the old one as it was launched then (no V8 flags).
    const agents = {
      new: await stack.startAgent(names.new, labels, undefined, { TRACEFLEET_AGENT_METRICS_ADDR: `127.0.0.1:${ports.new}` }),
      old: await stack.startAgent(names.old, labels, undefined, { TRACEFLEET_AGENT_METRICS_ADDR: `127.0.0.1:${ports.old}` }, { main: old.main, nodeFlags: [] }),
    };
    stack.agent = first;
    const pids = { new: agents.new.pid, old: agents.old.pid };
    results.idle = { new: status(pids.new), old: status(pids.old) };

    // The host's processes beside the usual ones: an FP-less CPython, a JIT with a perf map, a JVM.
    const secs = String(DURATION_SEC + 30);
    const javac = spawnSync(`${JAVA_HOME}/bin/javac`, ['-d', classes, join(root, 'e2e/fixtures/HotLoop.java')], { encoding: 'utf8' });
    if (javac.status !== 0) throw new Error(`javac HotLoop.java: ${javac.stderr}`);
    // In a directory of their own: the JVM's attach trigger (.attach_pid*) lands in its working directory.
    for (const [cmd, args] of [
      [DEBIAN_PYTHON, [join(root, 'e2e/fixtures/unwind/busy.py'), secs]],
      [process.execPath, ['--perf-basic-prof', join(root, 'e2e/fixtures/burn.js'), secs]],
      [`${JAVA_HOME}/bin/java`, ['-Xmx128m', '-cp', classes, 'HotLoop']],
    ]) {
      const r = run(cmd, args, { cwd: classes });
      r.done.catch(() => undefined); // killed in the finally
      children.push(r.child);
    }
    await sleep(3000);

    const id = await startJob(stack, { type: 'cpu-profile', durationSec: DURATION_SEC, frequencyHz: HZ, target: { all: true }, nodes: { names: [names.new, names.old] } });
    const t0 = performance.now();
    const samples = { new: [], old: [] };
    const heaps = { new: [], old: [] };
    let tick = 0;
    while (performance.now() - t0 < DURATION_SEC * 1000) {
      const t = (performance.now() - t0) / 1000;
      for (const k of ['new', 'old']) samples[k].push({ t, ...status(pids[k]) });
      if (tick++ % 10 === 0 && t >= WARMUP_SEC) for (const k of ['new', 'old']) heaps[k].push(await v8Heap(ports[k]));
      await sleep(500);
    }
    const job = await waitJob(stack, id, 120_000);
    if (job.status !== 'completed') throw new Error(`job ${id} ${job.status}: ${JSON.stringify(job.runs)}`);
    // The agents give memory back 2 s after their last run ended (memory.ts).
    await sleep(5000);
    const after = { new: status(pids.new), old: status(pids.old) };

    const summary = (k) => {
      const steady = samples[k].filter((s) => s.t >= WARMUP_SEC);
      const heap = heaps[k].filter(Boolean);
      const runOf = job.runs.find((r) => r.node === names[k]) ?? {};
      return {
        rssMedianMiB: mib(median(steady.map((s) => s.rssKb))),
        rssPeakMiB: mib(Math.max(...steady.map((s) => s.rssKb))),
        anonMedianMiB: mib(median(steady.map((s) => s.anonKb))),
        fileMedianMiB: mib(median(steady.map((s) => s.fileKb + s.shmemKb))),
        v8HeapMedianMiB: heap.length ? mib(median(heap.map((h) => h.heapTotalKb))) : null,
        idleMiB: mib(results.idle[k].rssKb),
        afterRunMiB: mib(after[k].rssKb),
        readings: steady.length,
        samplesTaken: Number(runOf.samplesTaken ?? 0),
        samplesDropped: Number(runOf.samplesDroppedKernel ?? 0) + Number(runOf.samplesDroppedAgent ?? 0) + Number(runOf.samplesLostTransit ?? 0),
        samplesStored: Number(runOf.samplesStored ?? 0),
      };
    };
    results.measures = `one ${DURATION_SEC} s cpu-profile job, target all, ${HZ} Hz, on both agents at once (python3.11 busy.py, node --perf-basic-prof burn.js and a JVM running beside the host's own processes); VmRSS read every 0.5 s from /proc/PID/status, the first ${WARMUP_SEC} s left out; V8 heap from each agent's /metrics every 5 s`;
    results.new = summary('new');
    results.old = summary('old');
    results.series = { new: samples.new.map((s) => [Math.round(s.t * 10) / 10, s.rssKb]), old: samples.old.map((s) => [Math.round(s.t * 10) / 10, s.rssKb]) };

    const n = results.new;
    const o = results.old;
    const pct = (a, b) => `${(((a - b) / b) * 100).toFixed(0)} %`;
    const table = [
      '## Agent memory (issue 21)',
      '',
      `\`npm run bench -- agent-mem\`: ${results.measures}. "before" is the agent of \`${BASE}\` (built by the suite in ${OLD_DIR}, launched as it was then), "after" this build's, launched with its V8 flags.`,
      '',
      '| agent | RSS median | RSS peak | anon (median) | file + ring (median) | V8 heap (median) | idle before | after the run | samples taken / dropped / stored |',
      '|---|---|---|---|---|---|---|---|---|',
      `| before (${BASE}) | ${o.rssMedianMiB} MiB | ${o.rssPeakMiB} MiB | ${o.anonMedianMiB} MiB | ${o.fileMedianMiB} MiB | ${o.v8HeapMedianMiB} MiB | ${o.idleMiB} MiB | ${o.afterRunMiB} MiB | ${o.samplesTaken} / ${o.samplesDropped} / ${o.samplesStored} |`,
      `| after | ${n.rssMedianMiB} MiB | ${n.rssPeakMiB} MiB | ${n.anonMedianMiB} MiB | ${n.fileMedianMiB} MiB | ${n.v8HeapMedianMiB} MiB | ${n.idleMiB} MiB | ${n.afterRunMiB} MiB | ${n.samplesTaken} / ${n.samplesDropped} / ${n.samplesStored} |`,
      '',
      `Median RSS ${pct(n.rssMedianMiB, o.rssMedianMiB)}, peak ${pct(n.rssPeakMiB, o.rssPeakMiB)} (${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; the host is shared, so absolute figures move with what else runs — the two agents are compared within the same run).`,
    ].join('\n');
    publish('agent-mem', results, table);
    return results;
  } finally {
    for (const c of children) c.kill('SIGKILL');
    for (const name of Object.values(names)) await stopAgent(stack, name);
    stack.agent = first;
    rmSync(classes, { recursive: true, force: true });
  }
}
