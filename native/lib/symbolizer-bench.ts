// Symbolizer benchmark (not a test): CPU time the agent spends symbolizing a whole-host profile,
// flush by flush, for one or two builds of the addon, and whether they name frames alike.
//
//   node native/dist/symbolizer-bench.js [--old <tracefleet_native.node>] [--processes 30] [--rounds 10] [--reps 2]
//                                        [--synthetic 8]
//
// It starts --processes workload processes (python3 and node doing a little work every 100 ms,
// and sleep), profiles the whole host for --rounds seconds at 99 Hz and splits the samples into
// one-second rounds, as the agent flushes them: each round holds that second's distinct stacks,
// plus --synthetic stacks (of 12 frames) per workload process made of addresses in its libc and
// main executable (so every process appears in every round; 0 leaves them out). The workload is then stopped (SIGSTOP: alive, maps unchanged,
// CPUs quiet) and each addon symbolizes the rounds in a fresh child process, --reps times,
// alternating builds; CPU time (user + system) is measured around each round.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { Profiler, addonPath, loadAddon, type RawSample, type SymbolizerStats } from './index';
import { profileObject, sleep } from './spec-support';

interface BenchStack {
  pid: number;
  comm: string;
  user: string[]; // hex, leaf first
  kernel: string[];
}

interface Round {
  stacks: BenchStack[];
}

interface WorkerResult {
  addon: string;
  cpuMs: number[];
  wallMs: number[];
  names: string[][][]; // round → stack → user names then kernel names
  stats: SymbolizerStats | null;
}

const PYTHON_WORK = 'import time\nwhile True:\n  end = time.time() + 0.005\n  while time.time() < end: sum(range(200))\n  time.sleep(0.095)\n';
const NODE_WORK = 'setInterval(() => { const end = Date.now() + 5; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); }, 100);';

function startWorkload(count: number): ChildProcess[] {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 3;
    const child =
      kind === 0
        ? spawn('python3', ['-c', PYTHON_WORK], { stdio: 'ignore' })
        : kind === 1
          ? spawn(process.execPath, ['-e', NODE_WORK], { stdio: 'ignore' })
          : spawn('sleep', ['3600'], { stdio: 'ignore' });
    children.push(child);
  }
  return children;
}

function textMappings(pid: number): { libc?: [bigint, bigint]; exe?: [bigint, bigint] } {
  const exe = fs.readlinkSync(`/proc/${pid}/exe`);
  const result: { libc?: [bigint, bigint]; exe?: [bigint, bigint] } = {};
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = line.match(/^([0-9a-f]+)-([0-9a-f]+) r-xp \S+ \S+ \S+\s+(\S.*)$/);
    if (!m) continue;
    const range: [bigint, bigint] = [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`)];
    if (/\/libc\.so\.6$/.test(m[3]) && !result.libc) result.libc = range;
    if (m[3] === exe && !result.exe) result.exe = range; // the first text mapping of the executable
  }
  return result;
}

/** Deterministic stacks of libc and executable addresses for each workload process. */
function syntheticStacks(children: ChildProcess[], perProcess: number, depth: number): BenchStack[] {
  let seed = 0x2545f491;
  const random = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const pick = ([start, end]: [bigint, bigint]): string =>
    (start + BigInt(Math.floor(random() * Number(end - start)))).toString(16);
  const stacks: BenchStack[] = [];
  for (const child of children) {
    const { libc, exe } = textMappings(child.pid!);
    if (!libc) throw new Error(`pid ${child.pid} maps no libc.so.6 text`);
    for (let s = 0; s < perProcess; s++) {
      const user: string[] = [];
      for (let f = 0; f < depth; f++) user.push(pick(exe && random() < 0.3 ? exe : libc));
      stacks.push({ pid: child.pid!, comm: path.basename(fs.readlinkSync(`/proc/${child.pid}/exe`)), user, kernel: [] });
    }
  }
  return stacks;
}

function roundsFromSamples(samples: { sample: RawSample; at: number }[], rounds: number, synthetic: BenchStack[]): Round[] {
  const result: Round[] = Array.from({ length: rounds }, () => ({ stacks: [...synthetic] }));
  const seen: Set<string>[] = Array.from({ length: rounds }, () => new Set());
  for (const { sample, at } of samples) {
    const r = Math.min(rounds - 1, Math.floor(at / 1000));
    const user = [...sample.userStack].map((a) => a.toString(16));
    const kernel = [...sample.kernelStack].map((a) => a.toString(16));
    const key = `${sample.pid}/${user.join(',')}|${kernel.join(',')}`; // what StackAggregator dedupes on
    if (seen[r].has(key)) continue;
    seen[r].add(key);
    result[r].stacks.push({ pid: sample.pid, comm: sample.comm, user, kernel });
  }
  return result;
}

function runWorker(addon: string, input: string, output: string): WorkerResult {
  const run = spawnSync(process.execPath, [__filename, '--worker', addon, input, output], { stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`worker for ${addon} exited with ${run.status ?? run.signal}`);
  return JSON.parse(fs.readFileSync(output, 'utf8')) as WorkerResult;
}

function worker(addon: string, input: string, output: string): void {
  const rounds = JSON.parse(fs.readFileSync(input, 'utf8')) as Round[];
  const toArray = (hex: string[]) => BigUint64Array.from(hex.map((h) => BigInt(`0x${h}`)));
  const prepared = rounds.map((r) => r.stacks.map((s) => ({ pid: s.pid, user: toArray(s.user), kernel: toArray(s.kernel) })));
  const symbolizer = new (loadAddon(addon).Symbolizer)();
  const result: WorkerResult = { addon, cpuMs: [], wallMs: [], names: [], stats: null };
  for (const stacks of prepared) {
    const names: string[][] = [];
    const cpu = process.cpuUsage();
    const wall = process.hrtime.bigint();
    for (const s of stacks) {
      const user = s.user.length > 0 ? symbolizer.symbolizeUser(s.pid, s.user) : [];
      const kernel = s.kernel.length > 0 ? symbolizer.symbolizeKernel(s.kernel) : [];
      names.push([...user, ...kernel]);
    }
    const used = process.cpuUsage(cpu);
    result.wallMs.push(Number(process.hrtime.bigint() - wall) / 1e6);
    result.cpuMs.push((used.user + used.system) / 1000);
    result.names.push(names);
  }
  if (typeof symbolizer.stats === 'function') result.stats = symbolizer.stats();
  symbolizer.close();
  fs.writeFileSync(output, JSON.stringify(result));
}

function compare(rounds: Round[], a: WorkerResult, b: WorkerResult): void {
  let frames = 0;
  let different = 0;
  const differences = new Map<string, string>(); // distinct (pid, address, user or kernel) that differ
  rounds.forEach((round, r) =>
    round.stacks.forEach((stack, s) => {
      const addrs = [...stack.user.map((x, i) => [x, i === 0] as const), ...stack.kernel.map((x, i) => [x, i === 0] as const)];
      addrs.forEach(([addr, leaf], f) => {
        frames++;
        const [x, y] = [a.names[r][s][f], b.names[r][s][f]];
        if (x === y) return;
        different++;
        const kind = f < stack.user.length ? 'user' : 'kernel';
        differences.set(`${stack.pid}/${addr}/${leaf}/${kind}`, `  pid ${stack.pid} (${stack.comm}) ${kind} 0x${addr}${leaf ? ' (leaf)' : ''}: ${x}  |  ${y}`);
      });
    }),
  );
  console.log(`\nnames: ${frames - different} of ${frames} frames named alike by both builds, ${different} differ (${differences.size} distinct)`);
  if (differences.size > 0) console.log(`differences (old | new):\n${[...differences.values()].slice(0, 40).join('\n')}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      old: { type: 'string' },
      processes: { type: 'string', default: '30' },
      rounds: { type: 'string', default: '10' },
      reps: { type: 'string', default: '2' },
      synthetic: { type: 'string', default: '8' },
    },
  });
  const processes = Number(values.processes);
  const rounds = Number(values.rounds);
  const reps = Number(values.reps);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracefleet-symbench-'));
  const children = startWorkload(processes);
  try {
    await sleep(1500); // let python3 and node start up
    const timed: { sample: RawSample; at: number }[] = [];
    const started = Date.now();
    const profiler = new Profiler({
      objectPath: profileObject(),
      frequencyHz: 99,
      onSamples: (batch) => timed.push(...batch.map((sample) => ({ sample, at: Date.now() - started }))),
    });
    try {
      profiler.start();
      await sleep(rounds * 1000);
      await profiler.stop();
    } finally {
      profiler.close();
    }
    for (const child of children) child.kill('SIGSTOP');
    const input = roundsFromSamples(timed, rounds, syntheticStacks(children, Number(values.synthetic), 12));
    const inputFile = path.join(dir, 'rounds.json');
    fs.writeFileSync(inputFile, JSON.stringify(input));
    const pids = new Set(input.flatMap((r) => r.stacks.map((s) => s.pid)));
    console.log(
      `profiled the host for ${rounds} s: ${timed.length} samples, ${pids.size} processes; ` +
        `${processes} workload processes stopped for the measurement`,
    );
    for (const [i, round] of input.entries()) {
      const frames = round.stacks.reduce((n, s) => n + s.user.length + s.kernel.length, 0);
      if (i === 0 || i === input.length - 1) console.log(`round ${i + 1}: ${round.stacks.length} distinct stacks, ${frames} frames`);
    }

    const builds = values.old ? [values.old, addonPath] : [addonPath];
    const results = new Map<string, WorkerResult[]>(builds.map((b) => [b, []]));
    for (let rep = 0; rep < reps; rep++) {
      for (const build of builds) results.get(build)!.push(runWorker(build, inputFile, path.join(dir, `out-${results.get(build)!.length}.json`)));
    }

    const label = (b: string) => (b === addonPath ? 'this build' : b);
    for (const build of builds) {
      const runs = results.get(build)!;
      console.log(`\n${label(build)}: CPU ms per round (user + system), ${runs.length} runs`);
      for (const run of runs) {
        const total = run.cpuMs.reduce((a, b) => a + b, 0);
        console.log(`  ${run.cpuMs.map((ms) => ms.toFixed(1).padStart(7)).join('')}   total ${total.toFixed(1)} ms`);
      }
      const stats = runs[runs.length - 1].stats;
      if (stats) console.log(`  stats after the last run: ${JSON.stringify(stats)}`);
    }
    if (builds.length === 2) compare(input, results.get(builds[0])![0], results.get(builds[1])![0]);
  } finally {
    for (const child of children) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--worker') {
  worker(process.argv[3], process.argv[4], process.argv[5]);
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
