// Host readings for the unwind suite (bench/unwind.mjs): /proc, sysctl, bpftool, a bounded HTTP load
// script, nginx's version, and the share of whole-host stacks that reach an outermost frame.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function childrenOf(ppid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === ppid) out.push({ pid: Number(d), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // exited while listed
    }
  }
  return out;
}

/** Interrupt counts since boot, summed over CPUs: irq_work (IWI), local timer (LOC), rescheduling (RES), function call (CAL). */
export function interrupts() {
  const out = {};
  for (const line of readFileSync('/proc/interrupts', 'utf8').split('\n')) {
    const m = /^\s*(IWI|LOC|RES|CAL):((?:\s+\d+)+)/.exec(line);
    if (m) out[m[1]] = m[2].trim().split(/\s+/).reduce((a, x) => a + Number(x), 0);
  }
  return out;
}

export function procStatus(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

// Ports from below the ephemeral range, as the e2e harness gives them (e2e/src/ports.ts says why).
export const { freePort } = createRequire(import.meta.url)(join(dirname(fileURLToPath(import.meta.url)), '..', 'e2e', 'dist', 'ports.js'));

// A bounded load loop in its own process: keep-alive GETs from `conc` connections until `secs` pass or `max` requests are done.
export const LOAD = `
const http = require('node:http');
const [url, conc, secs, max] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conc) });
const end = Date.now() + Number(secs) * 1000;
let ok = 0, bad = 0;
const one = () => new Promise((res) => {
  http.get(url, { agent }, (r) => { r.resume(); r.on('end', () => { r.statusCode === 200 ? ok++ : bad++; res(); }); })
    .on('error', () => { bad++; res(); });
});
async function loop() { while (Date.now() < end && ok + bad < Number(max)) await one(); }
Promise.all(Array.from({ length: Number(conc) }, loop)).then(() => { console.log(ok + ' ' + bad); agent.destroy(); });
`;

export function sysctl(name, value) {
  const args = value === undefined ? ['-n', name] : ['-q', '-w', `${name}=${value}`];
  const r = spawnSync('sysctl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sysctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** run_time_ns and run_cnt of the BPF program named 'profile' that process `pid` holds. */
export function profileProgStats(pid) {
  const ids = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /prog_id:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      // closed while read
    }
  }
  const r = spawnSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`bpftool prog show: ${r.stderr}`);
  const progs = JSON.parse(r.stdout).filter((p) => p.name === 'profile' && (ids.has(p.id) || p.pids?.some((x) => x.pid === pid)));
  if (progs.length !== 1) throw new Error(`expected one 'profile' program in pid ${pid}, found ${progs.length}`);
  return { id: progs[0].id, runTimeNs: progs[0].run_time_ns ?? 0, runCnt: progs[0].run_cnt ?? 0 };
}

// Where a user stack ends when it is whole: the program's entry, or a thread's start.

const OUTERMOST_FRAME = /^(_start|__libc_start_main|__libc_start_call_main|main|_?_?clone3?|start_thread)$/;

/** Per comm (the folded stacks' root), samples and the share whose user stack reaches an outermost frame; the 12 busiest. */
export function outermostByComm(stacks) {
  const by = new Map();
  for (const { frames, count } of stacks) {
    const [comm, ...rest] = frames;
    const user = rest.filter((f) => !f.endsWith('_[k]'));
    const e = by.get(comm) ?? { comm, samples: 0, outermost: 0, noUserFrames: 0, top: new Map() };
    e.samples += count;
    if (user.length === 0) e.noUserFrames += count;
    else if (OUTERMOST_FRAME.test(user[0])) e.outermost += count;
    else e.top.set(user.slice(0, 3).join(';'), (e.top.get(user.slice(0, 3).join(';')) ?? 0) + count);
    by.set(comm, e);
  }
  return [...by.values()]
    .sort((a, b) => b.samples - a.samples)
    .slice(0, 12)
    .map((e) => ({
      comm: e.comm,
      samples: e.samples,
      outermostShare: e.outermost / e.samples,
      noUserFrames: e.noUserFrames,
      // The commonest roots of the stacks that stop short (their first three user frames).
      cutRoots: [...e.top.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, n]) => `${n} ${k}`),
    }));
}

export function killIfComm(pid, comm) {
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

export function nginxVersion() {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  return /nginx\/([\w.]+)/.exec(r.stderr)?.[1] ?? '?';
}
/**
 * BPF time of an agent's 'profile' program over 5 s of a 999 Hz cpu-profile job by pid on a running workload
 * (kernel.bpf_stats_enabled must be on). `startProfile(pid)` posts an 8 s job and resolves with its id once
 * running; `finish(id)` waits for it and resolves with the job. run_cnt counts every CPU-clock sample on every
 * CPU (other processes' are filtered out first); nsPerWorkloadSample puts all that time on the workload's own
 * samples (samplesTaken of the job / 8 s × window).
 */
export async function profileBpfTime({ agentPid, workload, startProfile, finish, sleep }) {
  await sleep(300);
  const id = await startProfile(workload.pid);
  await sleep(1000);
  const a = profileProgStats(agentPid);
  const t0 = performance.now();
  await sleep(5000);
  const b = profileProgStats(agentPid);
  const windowSec = (performance.now() - t0) / 1000;
  const job = await finish(id);
  await workload.done;
  const runCnt = b.runCnt - a.runCnt;
  const runTimeNs = b.runTimeNs - a.runTimeNs;
  const workloadSamples = (job.totals.samplesTaken / 8) * windowSec;
  return { job, windowSec, runCnt, runTimeNs, nsPerRun: runTimeNs / runCnt, workloadSamples, nsPerWorkloadSample: runTimeNs / workloadSamples };
}
