// Pieces of the fleet bench (fleet.mjs): the simulated agents' processes (fleet-sim.mjs) and what is
// measured of the controller replicas (RSS, CPU, log lines, Prometheus counters).
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function vmRssMiB(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
}
export function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}
/** The machine's busy CPU time in clock ticks (every CPU, from /proc/stat: all but idle and iowait). */
function machineBusyTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((a, x) => a + x, 0) - f[3] - f[4];
}

/**
 * Where the machine's CPUs went over a phase, in % of one CPU: the controller replicas, the load generator's
 * processes, and the rest (PostgreSQL, Redis, the bench itself, the kernel's softirq work). On one machine they
 * take from each other; in a real fleet the agents are on their own hosts.
 */
export class CpuSplit {
  constructor(replicaPids, simPids) {
    this.replicaPids = replicaPids;
    this.simPids = simPids;
    this.t0 = Date.now();
    this.machine0 = machineBusyTicks();
    this.replicas0 = replicaPids.map(cpuTicks);
    this.sim0 = simPids.map(cpuTicks);
  }
  stop() {
    const sec = (Date.now() - this.t0) / 1000;
    const share = (ticks) => (ticks / 100 / sec) * 100;
    const replicas = this.replicaPids.map((pid, i) => share(cpuTicks(pid) - this.replicas0[i]));
    const loadGenerator = share(this.simPids.reduce((a, pid, i) => a + cpuTicks(pid) - this.sim0[i], 0));
    const machine = share(machineBusyTicks() - this.machine0);
    return { replicas, loadGenerator, rest: Math.max(0, machine - loadGenerator - replicas.reduce((a, x) => a + x, 0)), machine };
  }
}
export const cpuSplitText = (c, { replicas = true } = {}) =>
  `${replicas ? `replicas ${c.replicas.map((x) => `${x.toFixed(0)} %`).join(' / ')}, ` : ''}load generator ${c.loadGenerator.toFixed(0)} %, rest ${c.rest.toFixed(0)} % (of ${c.machine.toFixed(0)} % busy)`;

export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
export const fmt = (ms) => `${Math.round(ms)} ms`;

export class Workers {
  constructor(count) {
    const self = fileURLToPath(new URL('./fleet-sim.mjs', import.meta.url));
    // FLEET_SIM_NODE_ARGS: Node options for the load generator's processes only (say --cpu-prof, which NODE_OPTIONS refuses).
    const execArgv = [...process.execArgv, ...(process.env.FLEET_SIM_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
    const env = { ...process.env, TRACEFLEET_FLEET_SIM: '1' };
    // FLEET_SIM_NICE: the load generator's processes run under nice(1) with this niceness (all their threads: set
    // at exec, before Node starts any), so that what they timestamp waits less for a CPU the replicas hold.
    const nice = process.env.FLEET_SIM_NICE;
    if (nice !== undefined && !/^-?\d{1,2}$/.test(nice)) throw new Error(`FLEET_SIM_NICE=${nice}: a niceness, -20..19`);
    const how = nice === undefined ? { execArgv } : { execPath: 'nice', execArgv: ['-n', nice, process.execPath, ...execArgv] };
    this.children = Array.from({ length: count }, () => fork(self, [], { env, ...how, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    this.listeners = new Set();
    this.errors = [];
    this.retries = 0;
    /** Registration retries by the controller's answer. */
    this.retryReasons = {};
    for (const c of this.children) {
      c.on('message', (m) => {
        if (m.ev === 'retry') {
          this.retries++;
          this.retryReasons[m.message] = (this.retryReasons[m.message] ?? 0) + 1;
          if (!m.message.startsWith('14 ') && this.retryReasons[m.message] === 1) console.log(`[fleet] registration retried: ${m.name}: ${m.message}`);
        }
        if (m.ev === 'error') {
          this.errors.push(`${m.name}: ${m.message}`);
          if (this.errors.length <= 5) console.log(`[fleet] link error: ${m.name}: ${m.message}`);
        }
        for (const l of this.listeners) l(m, c);
      });
    }
  }
  /** Sends a command to every child and resolves with each child's first answer matching `ev`. */
  async all(cmd, ev, match = () => true) {
    const answers = new Map();
    const done = new Promise((resolve) => {
      const l = (m, c) => {
        if (m.ev === ev && match(m)) {
          answers.set(c, m);
          if (answers.size === this.children.length) {
            this.listeners.delete(l);
            resolve([...answers.values()]);
          }
        }
      };
      this.listeners.add(l);
    });
    if (cmd) for (const c of this.children) c.send(cmd);
    return done;
  }
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  /** Each child closes its streams and clients and exits; one that does not within 10 s is killed. */
  async close() {
    const alive = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    const exited = Promise.all(alive.map((c) => new Promise((r) => c.once('exit', r))));
    for (const c of alive) if (c.connected) c.send({ cmd: 'close' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    for (const c of alive) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

/** Controller ERROR and WARN lines since `from`, grouped with ids and numbers masked: what went wrong under load. */
export function logSummary(logs, from) {
  const groups = new Map();
  const text = logs.slice(from).join('').replace(/\x1b\[[0-9;]*m/g, '');
  for (const line of text.split('\n')) {
    const m = /\b(ERROR|WARN)\b\s+(.*)$/.exec(line);
    if (!m) continue;
    const key = `${m[1]} ${m[2].replace(/[0-9a-f]{8}-[0-9a-f-]{27}/gi, '<id>').replace(/\d+/g, 'N').slice(0, 200)}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  const total = (level) => [...groups].filter(([k]) => k.startsWith(level)).reduce((a, [, c]) => a + c, 0);
  return { errors: total('ERROR'), warnings: total('WARN'), top: [...groups].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([line, count]) => ({ count, line })) };
}

export function errorCell(summary) {
  const first = summary.top.find((x) => x.line.startsWith('ERROR'));
  if (!first) return 'none';
  return `${summary.errors} (${first.count}× \`${first.line.slice(6, 130).replace(/\|/g, '/')}\`)`;
}

export async function jobReport(workers, jobId) {
  const parts = await workers.all({ cmd: 'report', jobId }, 'report', (m) => m.jobId === jobId);
  const merged = { starts: [], batches: 0, samples: 0, firstBatchAt: null, lastBatchAt: null, finished: 0, stopped: 0 };
  for (const p of parts) {
    merged.starts.push(...p.starts);
    merged.batches += p.batches;
    merged.samples += p.samples;
    merged.finished += p.finished;
    merged.stopped += p.stopped;
    if (p.firstBatchAt !== null) merged.firstBatchAt = Math.min(merged.firstBatchAt ?? p.firstBatchAt, p.firstBatchAt);
    if (p.lastBatchAt !== null) merged.lastBatchAt = Math.max(merged.lastBatchAt ?? p.lastBatchAt, p.lastBatchAt);
  }
  return merged;
}


/** Samples the VmRSS of some processes every `everyMs` until stopped: peak and median per process. */
export class RssSampler {
  constructor(pids, everyMs = 50) {
    this.pids = pids;
    this.samples = pids.map(() => []);
    this.timer = setInterval(() => {
      pids.forEach((pid, i) => {
        try {
          this.samples[i].push(vmRssMiB(pid));
        } catch {
          // the process ended: its samples stop
        }
      });
    }, everyMs);
  }
  stop() {
    clearInterval(this.timer);
    return this.samples.map((xs) => ({ peakMiB: xs.length ? Math.max(...xs) : null, medianMiB: xs.length ? pct(xs, 50) : null, samples: xs.length }));
  }
}

/** One Prometheus series of a replica's GET /metrics (no token needed from this machine), summed over its label sets that match. */
export async function metricValue(base, name, labels = {}) {
  return (await metricValues(base, [name], labels))[0];
}

/** One scrape of a replica's /metrics: every sample as { name, labels, value }. */
async function scrape(base) {
  const root = base.replace(/\/api\/v1\/?$/, '');
  const text = await (await fetch(`${root}/metrics`)).text();
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$/.exec(line);
    if (m) out.push({ name: m[1], labels: Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]])), value: Number(m[3]) });
  }
  return out;
}

/** Several series from one scrape (metricValue's sums): a scrape is work for the replica measured. */
export async function metricValues(base, names, labels = {}) {
  const sums = new Map(names.map((n) => [n, 0]));
  for (const x of await scrape(base)) {
    if (sums.has(x.name) && Object.entries(labels).every(([k, v]) => x.labels[k] === v)) sums.set(x.name, sums.get(x.name) + x.value);
  }
  return names.map((n) => sums.get(n));
}

export const DISPATCH_STEPS = ['plan', 'store', 'send', 'flush', 'forward', 'answer'];

/**
 * A replica's dispatch_step_duration_seconds by step, from one scrape: sums (ms) of the steps on the replica that
 * took a job, and sum (ms) and count of `relay` (another replica's starts written here): deltas around one POST.
 */
export async function dispatchStepSums(base) {
  const sums = Object.fromEntries([...DISPATCH_STEPS, 'relay', 'relayWait', 'relayCount'].map((s) => [s, 0]));
  for (const x of await scrape(base)) {
    const step = x.labels.step === 'relay_wait' ? 'relayWait' : x.labels.step;
    if (x.name === 'tracefleet_controller_dispatch_step_duration_seconds_sum' && step in sums) sums[step] += x.value * 1000;
    if (x.name === 'tracefleet_controller_dispatch_step_duration_seconds_count' && step === 'relay') sums.relayCount += x.value;
  }
  return sums;
}

/** dispatchStepSums of several replicas added up. */
export const addStepSums = (all) => Object.fromEntries(Object.keys(all[0]).map((k) => [k, all.reduce((a, x) => a + x[k], 0)]));

/** `after − before` of dispatchStepSums, rounded ms; `relayWait`, `relay`: the means of the relays in between (none: absent). */
export function stepDelta(before, after) {
  const d = Object.fromEntries(DISPATCH_STEPS.map((s) => [s, Math.round(after[s] - before[s])]));
  const relays = (after.relayCount ?? 0) - (before.relayCount ?? 0);
  if (relays > 0) for (const k of ['relayWait', 'relay']) d[k] = Math.round((after[k] - before[k]) / relays);
  return d;
}

/** Polls replicas' V8 heap (prom-client's default metrics) every `everyMs`: the peak of used and total heap and external memory, MiB. */
export class HeapSampler {
  constructor(bases, everyMs = 1000) {
    this.peaks = bases.map(() => ({ heapUsedMiB: 0, heapTotalMiB: 0, externalMiB: 0, loopDelayMaxMs: 0, loopDelayMaxes: [] }));
    const poll = async () => {
      await Promise.all(
        bases.map(async (base, i) => {
          try {
            // The event-loop delay is prom-client's: the largest since its previous scrape (it resets the histogram).
            // Its percentiles say little: a loop blocked for 500 ms is one sample among a second's ~100 of 10 ms.
            const [used, total, ext, lagMax] = await metricValues(
              base,
              ['nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes', 'nodejs_eventloop_lag_max_seconds'].map(
                (m) => `tracefleet_controller_${m}`,
              ),
            );
            const p = this.peaks[i];
            p.heapUsedMiB = Math.max(p.heapUsedMiB, used / 1048576);
            p.heapTotalMiB = Math.max(p.heapTotalMiB, total / 1048576);
            p.externalMiB = Math.max(p.externalMiB, ext / 1048576);
            p.loopDelayMaxMs = Math.max(p.loopDelayMaxMs, lagMax * 1000);
            p.loopDelayMaxes.push(lagMax * 1000);
          } catch {
            // a scrape that fails under load is skipped
          }
        }),
      );
    };
    this.timer = setInterval(() => void poll(), everyMs);
  }
  /** Peaks per replica; the event loop's delay: the median of each scrape's largest, and the largest seen. */
  stop() {
    clearInterval(this.timer);
    return this.peaks.map(({ loopDelayMaxes, ...p }) => ({ ...p, loopDelayMedianMaxMs: loopDelayMaxes.length ? pct(loopDelayMaxes, 50) : null }));
  }
}
