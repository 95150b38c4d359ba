// fleet: one controller replica against N simulated agents (default 200) speaking the real gRPC protocol
// (AgentLink.Session through the generated ts-proto client), in a few child processes so the load
// generator is not the bottleneck on a small machine. Measures controller memory per connected agent,
// dispatch latency (POST /jobs → StartRun at every agent) and ingest throughput (samples stored per second
// while every agent sends profile batches as fast as the link's backpressure lets it).
//
// The simulated agents live in fleet-sim.mjs, forked by Workers below.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEPTH, now, SAMPLES_PER_BATCH, STACKS, syntheticBatch } from './fleet-sim.mjs';

const root = new URL('..', import.meta.url).pathname;
const N = Number(process.env.FLEET_AGENTS ?? 200);
const WORKERS = Number(process.env.FLEET_WORKERS ?? 2);
const DISPATCH_JOBS = Number(process.env.FLEET_DISPATCH_JOBS ?? 5);
const INGEST_SEC = Number(process.env.FLEET_INGEST_SEC ?? 20);

// ---------------------------------------------------------------------------------------------
// Orchestration (the bench process)

function vmRssMiB(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
}
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const fmt = (ms) => `${Math.round(ms)} ms`;

class Workers {
  constructor(count) {
    const self = fileURLToPath(new URL('./fleet-sim.mjs', import.meta.url));
    this.children = Array.from({ length: count }, () => fork(self, [], { env: { ...process.env, TRACEFLEET_FLEET_SIM: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    this.listeners = new Set();
    this.errors = [];
    for (const c of this.children) {
      c.on('message', (m) => {
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
function logSummary(logs, from) {
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

function errorCell(summary) {
  const first = summary.top.find((x) => x.line.startsWith('ERROR'));
  if (!first) return 'none';
  return `${summary.errors} (${first.count}× \`${first.line.slice(6, 130).replace(/\|/g, '/')}\`)`;
}

async function jobReport(workers, jobId) {
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

export async function fleetBench() {
  const { machine, publish, sleep, startStack, waitFor, waitJob } = await import('./lib.mjs');
  const tag = Math.random().toString(16).slice(2, 8);
  // Node liveness runs on its defaults (15 s to unreachable): a replica counts agents whose streams it has
  // paused (it is behind on their batches) as alive, so a flood must not make nodes unreachable — the bench
  // reports the longest silence the registry showed. The result grace is raised: the ingest phase measures
  // how long the backlog takes to drain, and the run deadline (duration + 10 s + grace) must not cut it.
  const thresholds = { TRACEFLEET_RESULT_GRACE_SEC: '1800' };
  const stack = await startStack({ agent: false, maxDurationSec: 600, env: thresholds });
  const ctlPid = stack.controller.pid;
  let workers;
  const { AgentMessage } = createRequire(join(root, 'apps/node-agent/package.json'))('@tracefleet/proto');
  const { strings, stacks } = syntheticBatch();
  const batchBytes = AgentMessage.encode({ msg: { $case: 'profileBatch', value: { runId: '00000000-0000-0000-0000-000000000000', seq: 1n, strings, stacks, origins: [] } } }).finish().length;
  const results = {
    date: new Date().toISOString(),
    machine: machine(),
    agents: N,
    workers: WORKERS,
    batch: { stacks: STACKS, depth: DEPTH, samples: SAMPLES_PER_BATCH, frameNames: strings.length, bytes: batchBytes },
    controllerEnv: thresholds,
  };
  try {
    // 1. Memory: controller RSS idle (after a warm-up request), then with N agents connected and heartbeating.
    await stack.api('GET', '/nodes?status=connected');
    const rssSamples = async (n, everyMs) => {
      const xs = [];
      for (let i = 0; i < n; i++) {
        xs.push(vmRssMiB(ctlPid));
        await sleep(everyMs);
      }
      return xs;
    };
    await sleep(2000);
    const idle = await rssSamples(20, 500);

    workers = new Workers(WORKERS);
    await workers.all(null, 'ready');
    const registered = [];
    const offRegistered = workers.on((m) => m.ev === 'registered' && registered.push(m.at));
    const names = Array.from({ length: N }, (_, i) => ({
      // Fixed names: a run reuses the Node rows of the previous one instead of adding N more; the tag label selects this run's.
      name: `fleet-sim-${String(i).padStart(3, '0')}`,
      labels: { fleet: tag, zone: `z${i % 3}`, rack: `r${i % 10}` },
    }));
    // Connect in four steps: the RSS slope between steps is the marginal cost of an agent, apart from
    // what the first connections warm up (JIT, Prisma, V8 heap growth).
    // Each simulated node enrolls through the real enrollment path (one bootstrap token of N uses).
    const bootstrap = await stack.api('POST', '/enrollment-tokens', { maxUses: N, ttlSec: 3600, description: 'fleet bench' }, stack.captureToken);
    if (bootstrap.status !== 201) throw new Error(`POST /enrollment-tokens → ${bootstrap.status} ${bootstrap.text}`);
    for (const a of names) {
      const e = await stack.enroll(a.name, bootstrap.json.token);
      a.tls = { keyPem: e.keyPem, certPem: e.certPem, caPem: e.caPem };
    }
    const steps = [1, 2, 3, 4].map((k) => Math.round((N * k) / 4));
    const memorySteps = [{ agents: 0, medianMiB: pct(idle, 50), floorMiB: Math.min(...idle), samples: idle }];
    const regMs = [];
    let soFar = 0;
    for (const target of steps) {
      const batch = names.slice(soFar, target);
      registered.length = 0;
      const stepStart = now();
      workers.children.forEach((c, w) => c.send({ cmd: 'connect', addr: stack.grpcAddr, agents: batch.filter((_, i) => i % WORKERS === w) }));
      await waitFor(async () => registered.length === batch.length, 120_000, `${batch.length} simulated agents to register (${registered.length} so far; errors: ${workers.errors.slice(0, 3).join('; ')})`);
      regMs.push(...registered.map((t) => t - stepStart));
      soFar = target;
      await sleep(6000); // several heartbeats, sessions settled
      const xs = await rssSamples(20, 500);
      memorySteps.push({ agents: target, medianMiB: pct(xs, 50), floorMiB: Math.min(...xs), samples: xs });
      console.log(`[fleet] ${target} agents connected: controller RSS ${pct(xs, 50).toFixed(1)} MiB`);
    }
    offRegistered();
    const listed = (await stack.api('GET', `/nodes?labelSelector=fleet%3D${tag}&status=connected`)).json;
    if (listed.length !== N) throw new Error(`GET /nodes lists ${listed.length} of ${N} simulated agents connected`);
    // Least-squares slope of median RSS over the connected steps (MiB per agent).
    const pts = memorySteps.slice(1);
    const mx = pts.reduce((a, p) => a + p.agents, 0) / pts.length;
    // The floor (lowest of 20 samples over 10 s) rather than the median: RSS swings with the V8 heap's
    // collections by tens of MiB, and the floor after a collection is what the sessions keep.
    const my = pts.reduce((a, p) => a + p.floorMiB, 0) / pts.length;
    const slope = pts.reduce((a, p) => a + (p.agents - mx) * (p.floorMiB - my), 0) / pts.reduce((a, p) => a + (p.agents - mx) ** 2, 0);
    const idleMiB = memorySteps[0].floorMiB;
    const connectedMiB = memorySteps.at(-1).floorMiB;
    results.memory = {
      idleRssMiB: idleMiB,
      connectedRssMiB: connectedMiB,
      perAgentKiB: ((connectedMiB - idleMiB) * 1024) / N,
      marginalPerAgentKiB: slope * 1024,
      steps: memorySteps,
      registration: { burst: N / 4, p50Ms: pct(regMs, 50), p99Ms: pct(regMs, 99), maxMs: Math.max(...regMs) },
    };
    console.log(`[fleet] controller RSS ${idleMiB.toFixed(1)} → ${connectedMiB.toFixed(1)} MiB with ${N} agents; marginal ${(slope * 1024).toFixed(0)} KiB per agent`);

    // 2. Dispatch latency: POST → StartRun at each agent. Agents send a batch a second, like real ones.
    await workers.all({ cmd: 'mode', mode: { kind: 'rate' } }, 'mode');
    const body = (durationSec) => ({ type: 'cpu-profile', durationSec, frequencyHz: 99, target: { all: true }, nodes: { labels: { fleet: tag } } });
    const dispatch = [];
    const dispatchLogMark = stack.logs.length;
    for (let j = 0; j < DISPATCH_JOBS; j++) {
      const t0 = now();
      const res = await stack.api('POST', '/jobs', body(2));
      const postMs = now() - t0;
      if (res.status !== 201) throw new Error(`POST /jobs → ${res.status} ${res.text}`);
      const id = res.json.id;
      let rep;
      await waitFor(async () => (rep = await jobReport(workers, id)).starts.length >= N, 60_000, `StartRun at all ${N} agents for job ${id}`);
      const job = await waitJob(stack, id, 90_000);
      const lat = rep.starts.map((s) => s.at - t0);
      rep = await jobReport(workers, id); // now with every run's batches
      dispatch.push({
        jobId: id,
        postMs,
        p50Ms: pct(lat, 50),
        p99Ms: pct(lat, 99),
        maxMs: Math.max(...lat),
        status: job.status,
        runs: job.runs.length,
        samplesStored: job.totals.samplesStored,
        samplesSent: rep.samples,
        latenciesMs: lat.map((x) => Math.round(x * 10) / 10),
      });
      console.log(`[fleet] dispatch ${j + 1}/${DISPATCH_JOBS}: POST ${fmt(postMs)}, StartRun p50 ${fmt(pct(lat, 50))} p99 ${fmt(pct(lat, 99))} max ${fmt(Math.max(...lat))}; job ${job.status}`);
      await sleep(1000);
    }
    const allLat = dispatch.flatMap((d) => d.latenciesMs);
    results.dispatch = {
      jobs: DISPATCH_JOBS,
      p50Ms: pct(allLat, 50),
      p99Ms: pct(allLat, 99),
      maxMs: Math.max(...allLat),
      medianJobMaxMs: pct(dispatch.map((d) => d.maxMs), 50),
      medianPostMs: pct(dispatch.map((d) => d.postMs), 50),
      statuses: dispatch.map((d) => d.status),
      perJob: dispatch.map(({ latenciesMs, ...rest }) => rest),
      controllerLog: logSummary(stack.logs, dispatchLogMark),
    };

    // 3. Ingest: every agent sends batches as fast as backpressure allows for INGEST_SEC; throughput =
    //    samples stored ÷ (first batch sent → job completed, i.e. the backlog drained and every run finished).
    await workers.all({ cmd: 'mode', mode: { kind: 'flood' } }, 'mode');
    const cpu0 = cpuTicks(ctlPid);
    const logMark = stack.logs.length;
    const t0 = now();
    const res = await stack.api('POST', '/jobs', body(INGEST_SEC));
    if (res.status !== 201) throw new Error(`POST /jobs → ${res.status} ${res.text}`);
    const id = res.json.id;
    let peakRss = 0;
    let job;
    let maxSilenceMs = 0;
    const progress = [];
    await waitFor(
      async () => {
        await sleep(800); // with waitFor's 200 ms: a poll a second, light next to the ingest
        peakRss = Math.max(peakRss, vmRssMiB(ctlPid));
        job = (await stack.api('GET', `/jobs/${id}`)).json;
        // How long since the controller last heard a heartbeat from the most silent agent.
        const nodes = (await stack.api('GET', `/nodes?labelSelector=fleet%3D${tag}`)).json;
        const silence = Math.max(...nodes.map((n) => Date.now() - Date.parse(n.lastSeenAt)));
        maxSilenceMs = Math.max(maxSilenceMs, silence);
        progress.push({ t: Math.round(now() - t0), stored: job.totals.samplesStored, silenceMs: silence });
        return ['completed', 'partial', 'failed'].includes(job.status);
      },
      (INGEST_SEC + 2400) * 1000,
      `ingest job ${id} to end`,
    );
    const cpuSec = (cpuTicks(ctlPid) - cpu0) / 100;
    const rep = await jobReport(workers, id);
    const runs = job.runs;
    const finishedAt = Date.parse(job.finishedAt);
    const windowSec = (finishedAt - rep.firstBatchAt) / 1000;
    const sendSec = (rep.lastBatchAt - rep.firstBatchAt) / 1000;
    const stored = job.totals.samplesStored;
    const batchesStored = runs.reduce((a, r) => a + r.batchesReceived, 0);
    const atEnd = progress.filter((p) => t0 + p.t <= rep.lastBatchAt).at(-1);
    // The storing rate while every agent was still sending (from 5 s in to the end of sending), from the polls.
    const during = progress.filter((p) => p.t >= 5000 && p.t <= INGEST_SEC * 1000);
    const steady = during.length >= 2 ? (during.at(-1).stored - during[0].stored) / ((during.at(-1).t - during[0].t) / 1000) : null;
    results.ingest = {
      durationSec: INGEST_SEC,
      status: job.status,
      failedRuns: runs.filter((r) => r.status === 'failed').map((r) => `${r.node}: ${r.reason}`).slice(0, 10),
      failedRunCount: runs.filter((r) => r.status === 'failed').length,
      samplesSent: rep.samples,
      batchesSent: rep.batches,
      samplesStored: stored,
      batchesStored,
      seqGaps: runs.reduce((a, r) => a + r.seqGaps, 0),
      batchesNotStored: runs.reduce((a, r) => a + r.batchesNotStored, 0),
      samplesLostTransit: job.totals.samplesLostTransit,
      samplesDroppedAgent: job.totals.samplesDroppedAgent,
      firstBatchToCompletedSec: windowSec,
      sendWindowSec: sendSec,
      drainAfterLastBatchSec: (finishedAt - rep.lastBatchAt) / 1000,
      samplesPerSecStored: stored / windowSec,
      samplesPerSecStoredWhileSending: steady,
      batchesPerSecStored: batchesStored / windowSec,
      stackRowsPerSecStored: (batchesStored * STACKS) / windowSec,
      samplesPerSecSentDuringWindow: rep.samples / sendSec,
      controllerCpuSec: cpuSec,
      controllerCpuPercentOfOneCpu: (cpuSec / ((now() - t0) / 1000)) * 100,
      controllerPeakRssMiB: peakRss,
      maxHeartbeatSilenceSec: maxSilenceMs / 1000,
      // Written by the agents but not yet stored when they stopped sending (from the last poll before): the link's buffering.
      backlogAtEndOfSendingBatchesPerAgent: atEnd ? (rep.samples - atEnd.stored) / SAMPLES_PER_BATCH / N : null,
      controllerLog: logSummary(stack.logs, logMark),
      // POST → StartRun for this job, while the agents started first were already flooding.
      startRunUnderLoadMs: { p50: pct(rep.starts.map((x) => x.at - t0), 50), max: Math.max(...rep.starts.map((x) => x.at - t0)) },
      progress,
    };
    console.log(
      `[fleet] ingest: ${stored} samples (${batchesStored} batches) stored in ${windowSec.toFixed(1)} s = ${Math.round(stored / windowSec)} samples/s; ` +
        `seq gaps ${results.ingest.seqGaps}, lost ${results.ingest.samplesLostTransit}; job ${job.status}`,
    );
    results.linkErrors = workers.errors.slice(0, 20);
  } finally {
    await workers?.close();
    await stack.stop();
  }

  const m = results.memory;
  const d = results.dispatch;
  const g = results.ingest;
  const table = [
    `## Fleet: ${N} simulated agents, one controller replica`,
    '',
    `Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; the controller, PostgreSQL, Redis and the load generator (${WORKERS} processes of`,
    `grpc-js clients of AgentLink.Session, one TCP connection each) share the machine; raw figures in bench/results/fleet.json. Each agent's`,
    `ProfileBatch holds ${STACKS} stacks of depth ${DEPTH} (${SAMPLES_PER_BATCH} samples, ${results.batch.frameNames} frame names, ${results.batch.bytes} bytes; the same service on every node).`,
    '',
    '| measure | figure |',
    '|---|---|',
    `| Controller RSS idle → ${N / 4}, ${N / 2}, ${(3 * N) / 4}, ${N} agents connected and heartbeating (lowest of 20 samples over 10 s, 6 s after each step; median in brackets) | ${m.steps.map((x) => `${x.floorMiB.toFixed(1)} (${x.medianMiB.toFixed(1)})`).join(' → ')} MiB |`,
    `| Memory per connected agent: slope of RSS over the four connected steps (the idle figure still holds start-up garbage V8 has not returned, so (RSS with ${N} − idle) / ${N} is shown only for reference) | ${m.marginalPerAgentKiB.toFixed(0)} KiB (${m.perAgentKiB.toFixed(0)} KiB) |`,
    `| Registration, ${m.registration.burst} agents connecting at once: p50 / p99 / max | ${fmt(m.registration.p50Ms)} / ${fmt(m.registration.p99Ms)} / ${fmt(m.registration.maxMs)} |`,
    `| Dispatch: POST /jobs (nodes by label, ${N} nodes) → StartRun at each agent, ${d.jobs} jobs: p50 / p99 / max | ${fmt(d.p50Ms)} / ${fmt(d.p99Ms)} / ${fmt(d.maxMs)} |`,
    `| Dispatch: POST /jobs answered (median) / last agent started (median over jobs) | ${fmt(d.medianPostMs)} / ${fmt(d.medianJobMaxMs)} |`,
    `| Ingest: samples stored per second by one replica (first batch → job completed) | ${Math.round(g.samplesPerSecStored).toLocaleString('en-US')} (${Math.round(g.batchesPerSecStored)} batches/s) |`,
    `| Ingest: samples stored per second while all agents were sending (from the 1 s polls of GET /jobs/:id) | ${g.samplesPerSecStoredWhileSending === null ? 'n/a' : Math.round(g.samplesPerSecStoredWhileSending).toLocaleString('en-US')} |`,
    `| Ingest: sent / stored over ${g.durationSec} s of sending, drain after the last batch | ${g.samplesSent.toLocaleString('en-US')} / ${g.samplesStored.toLocaleString('en-US')} samples, ${g.drainAfterLastBatchSec.toFixed(1)} s |`,
    `| Ingest: written by the agents but not yet stored when they stopped sending, per agent | ${g.backlogAtEndOfSendingBatchesPerAgent === null ? 'n/a' : `${g.backlogAtEndOfSendingBatchesPerAgent.toFixed(0)} batches (~${((g.backlogAtEndOfSendingBatchesPerAgent * results.batch.bytes) / 1048576).toFixed(1)} MiB)`} |`,
    `| Ingest: seq gaps / lost in transit / failed runs | ${g.seqGaps} / ${g.samplesLostTransit} / ${g.failedRunCount} (job ${g.status}) |`,
    `| Ingest: POST → StartRun while the agents started first were already sending: p50 / max | ${fmt(g.startRunUnderLoadMs.p50)} / ${fmt(g.startRunUnderLoadMs.max)} |`,
    `| Controller CPU / peak RSS during ingest | ${g.controllerCpuPercentOfOneCpu.toFixed(0)} % of one CPU / ${g.controllerPeakRssMiB.toFixed(1)} MiB |`,
    `| Controller log during ingest: ERROR lines (most frequent) | ${errorCell(g.controllerLog)} |`,
    `| Longest silence in the node registry during ingest (lastSeenAt; a node is unreachable after 15 s, the default used here) / runs failed | ${g.maxHeartbeatSilenceSec.toFixed(1)} s / ${g.failedRunCount} |`,
    `| Ingest: batches not stored after retries | ${g.batchesNotStored} |`,
  ].join('\n');
  publish('fleet', results, table);
  return results;
}
