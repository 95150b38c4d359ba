// Shared pieces of the benchmarks: the e2e harness (a real controller and agent),
// compiling workloads, medians, and writing results and BENCHMARKS.md tables.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, release } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
export const root = new URL('..', import.meta.url).pathname;
// Benchmarks store a lot (every captured event): their own database, apart from the tests'. The harness
// makes it the tracefleet role's and starts controllers with the .env's DATABASE_URL / REDIS_URL credentials.
process.env.TRACEFLEET_E2E_DB ??= 'tracefleet_bench';
export const harness = require(join(root, 'e2e/dist/harness.js'));
// startJob: post a job and resolve with its id once the agent reports it running (the e2e tests' helper).
export const { sleep, waitJob, waitFor, startStack, startRunningJob: startJob, dropE2eDatabase } = harness;
export const WORK = join(root, 'e2e/.work');
mkdirSync(WORK, { recursive: true });
mkdirSync(join(root, 'bench/results'), { recursive: true });

export const machine = () => ({ cpus: cpus().length, kernel: release() });

export function gcc(src, out, flags = []) {
  const r = spawnSync('gcc', ['-O2', '-fno-omit-frame-pointer', ...flags, '-o', out, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc ${src}: ${r.stderr}`);
  return out;
}

/**
 * What one uprobe trap costs on this machine (bench/uprobe-traps.sh --brief): an emulated one (a jcc)
 * and a single-stepped one, in ns. Machines of one kind differ by 10× here, so the uprobe benches print
 * it beside their tables. Measured once per bench run.
 */
let traps;
export function trapCost() {
  if (traps) return traps;
  const r = spawnSync('bash', [join(root, 'bench/uprobe-traps.sh'), '--brief', '200000'], { encoding: 'utf8' });
  const emulatedNs = Number(/^emulated (-?\d+)$/m.exec(r.stdout)?.[1]);
  const singleSteppedNs = Number(/^single-stepped (-?\d+)$/m.exec(r.stdout)?.[1]);
  if (r.status !== 0 || !Number.isFinite(emulatedNs) || !Number.isFinite(singleSteppedNs)) throw new Error(`bench/uprobe-traps.sh --brief failed: ${r.stderr}${r.stdout}`);
  return (traps = { emulatedNs, singleSteppedNs });
}

export const trapLine = (t) =>
  `Trap cost of this machine, same run (\`bash bench/uprobe-traps.sh --brief\`): an emulated uprobe ${(t.emulatedNs / 1000).toFixed(2)} µs, a single-stepped one ${(t.singleSteppedNs / 1000).toFixed(1)} µs.`;

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs a command to completion; resolves with its stdout (rejects with its output on failure). */
export function run(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise((resolve, reject) =>
    // 'close': after stdout and stderr were read to the end ('exit' can come before their last chunks).
    child.on('close', (code, signal) => (code === 0 || signal === 'SIGINT' ? resolve(out) : reject(new Error(`${cmd} exited ${code ?? signal}: ${err || out}`)))),
  );
  return { child, done, output: () => out + err };
}

/**
 * Ends a tracer started with run() by SIGINT (bpftrace and libbpf-tools print their maps on it) and
 * resolves with its output. A SIGINT that lands while the tracer is still busy can go unanswered
 * (seen with bpftrace 0.17 after a heavy run), so it is repeated every 5 s; after 30 s the tracer
 * is killed and the promise rejects, naming it.
 */
export async function interrupt(handle, what = 'tracer') {
  let closed = false;
  const done = handle.done.finally(() => (closed = true));
  for (let waited = 0; !closed && waited < 30_000; waited += 5_000) {
    if (handle.child.exitCode === null && handle.child.signalCode === null) handle.child.kill('SIGINT');
    await Promise.race([done.catch(() => undefined), sleep(5_000)]);
  }
  if (!closed) {
    handle.child.kill('SIGKILL');
    throw new Error(`${what} did not end within 30 s of SIGINT: ${handle.output().slice(-2000)}`);
  }
  return done;
}

/** Starts a bpftrace script and resolves once it has attached its probes. */
export async function startBpftrace(prog) {
  const r = run('bpftrace', ['-e', prog]);
  for (let i = 0; i < 150 && !/Attaching/.test(r.output()); i++) await sleep(100);
  if (!/Attaching/.test(r.output())) throw new Error(`bpftrace did not attach: ${r.output()}`);
  await sleep(300);
  return r;
}

/** Writes the raw results and replaces this suite's table in BENCHMARKS.md. */
export function publish(name, results, table) {
  writeFileSync(join(root, `bench/results/${name}.json`), JSON.stringify(results, null, 2) + '\n');
  const block = `<!-- ${name}:start -->\n${table}\n<!-- ${name}:end -->`;
  const mdPath = join(root, 'BENCHMARKS.md');
  let md;
  try {
    md = readFileSync(mdPath, 'utf8');
  } catch {
    md = '# Benchmarks\n\nEvery figure comes from `npm run bench` on this project\'s machine kind and compares within one run.\n';
  }
  const re = new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`);
  md = re.test(md) ? md.replace(re, block) : `${md.trimEnd()}\n\n${block}\n`;
  writeFileSync(mdPath, md);
  console.log(block);
}

/**
 * Starts one more agent on `stack` under its own node name with extra environment (e.g.
 * TRACEFLEET_AGENT_UNWIND=fp, to compare with the default agent in the same run); stack.agent stays
 * the first agent. Post jobs to it with nodes: { names: [nodeName] }, and stop it with stopAgent
 * before the suite returns: the other suites post their jobs to every node.
 */
export async function startAgentWithEnv(stack, nodeName, env, labels = 'role=bench') {
  const first = stack.agent;
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  let started;
  try {
    // The harness spawns the agent with process.env before its first await, so only this agent sees `env`.
    started = stack.startAgent(nodeName, labels);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    stack.agent = first;
  }
  return started;
}

/** Stops an agent started with startAgentWithEnv (SIGTERM, SIGKILL after 8 s) and takes it off the stack. */
export async function stopAgent(stack, nodeName) {
  const p = stack.agents.get(nodeName);
  stack.agents.delete(nodeName);
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await Promise.race([exited, sleep(8000)]);
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGKILL');
    await Promise.race([exited, sleep(2000)]);
  }
}
