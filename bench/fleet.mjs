// fleet: controller replicas against N simulated agents (default 2,000) speaking the real gRPC protocol
// (AgentLink.Session through the generated ts-proto client, mutual TLS, one connection each), in a few
// child processes (fleet-sim.mjs). One stack of FLEET_REPLICAS replicas; the agents first all connect to
// the first replica ("one replica"), then are sent to all of them the way agents pick (firstAddrIndex):
//   memory per connected agent, registration, dispatch latency (POST /jobs → StartRun at every agent) idle,
//   while every agent sends a batch a second and while every agent floods; samples stored per second;
//   peak RSS under a flood of 200 agents and of all; a merged flame graph over every agent (fleet-read.mjs);
//   retention of a day of samples, dropping a partition vs deleting rows (fleet-retention.mjs).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEPTH, now, SAMPLES_PER_BATCH, STACKS, syntheticBatch } from './fleet-sim.mjs';
import { addStepSums, cpuSplitText, CpuSplit, dispatchStepSums, HeapSampler, jobReport, logSummary, metricValue, pct, RssSampler, stepDelta, vmRssMiB, Workers } from './fleet-lib.mjs';
import { fleetTable } from './fleet-report.mjs';

const root = new URL('..', import.meta.url).pathname;
const N = Number(process.env.FLEET_AGENTS ?? 2000);
const REPLICAS = Number(process.env.FLEET_REPLICAS ?? 3);
const WORKERS = Number(process.env.FLEET_WORKERS ?? 2);
const DISPATCH_JOBS = Number(process.env.FLEET_DISPATCH_JOBS ?? 5);
const INGEST_SEC = Number(process.env.FLEET_INGEST_SEC ?? 20);
/** Agents of the small flood (the issue's "≤ 512 MiB at 200 agents flooding"). */
const SMALL = Math.min(200, N);
/** For working on one part: FLEET_PHASES=flood (say) runs only those phases and prints the figures instead of publishing them. */
const PHASES = process.env.FLEET_PHASES?.split(',');
const phase = (name) => !PHASES || PHASES.includes(name);

const summarize = (lat) => ({ p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), maxMs: Math.max(...lat), count: lat.length });
/** Registrations: from the burst's start, and from each agent's connection being up (TCP and TLS done) to its `registered`. */
const registrationOf = (reg) => {
  const afterReady = reg.map((r) => r.afterReadyMs).filter((x) => x !== undefined);
  return { ...summarize(reg.map((r) => r.ms)), afterConnection: afterReady.length === reg.length ? summarize(afterReady) : null };
};

export async function fleetBench() {
  const { dropE2eDatabase, machine, publish, sleep, startStack, waitFor, waitJob } = await import('./lib.mjs');
  const tag = Math.random().toString(16).slice(2, 8);
  // An empty bench database every run, so that a run's figures do not depend on the rows earlier runs left (after
  // five runs in a day, 1.1 GB, a full run stored 164k samples/s under the flood of 2,000, where the full run before
  // it, on a fresh database, stored 259k: BENCHMARKS.md, fleet).
  await dropE2eDatabase();
  // Node liveness on its defaults (15 s to unreachable). The result grace is raised: a flood's backlog
  // drains after the sending ends, and the run deadline (duration + 10 s + grace) must not cut it.
  // Heartbeats at the product's default (5 s; the test harness's 1 s would be 2,000 a second here).
  // FLEET_CONTROLLER_NODE_OPTIONS: Node options for the replicas only (say --perf-basic-prof, to profile one with perf).
  const thresholds = { TRACEFLEET_RESULT_GRACE_SEC: '1800', TRACEFLEET_HEARTBEAT_MS: '5000', ...(process.env.FLEET_CONTROLLER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.FLEET_CONTROLLER_NODE_OPTIONS } : {}) };
  const stack = await startStack({ agent: false, replicas: REPLICAS, maxDurationSec: 600, env: thresholds });
  const reps = stack.replicas;
  const pids = reps.map((r) => r.controller.pid);
  const { AgentMessage } = createRequire(join(root, 'apps/node-agent/package.json'))('@tracefleet/proto');
  const { strings, stacks } = syntheticBatch();
  const batchBytes = AgentMessage.encode({ msg: { $case: 'profileBatch', value: { runId: '00000000-0000-0000-0000-000000000000', seq: 1n, strings, stacks, origins: [] } } }).finish().length;
  const results = {
    date: new Date().toISOString(),
    machine: machine(),
    agents: N,
    replicas: REPLICAS,
    workers: WORKERS,
    batch: { stacks: STACKS, depth: DEPTH, samples: SAMPLES_PER_BATCH, frameNames: strings.length, bytes: batchBytes },
    controllerEnv: thresholds,
  };
  let workers;
  const body = (durationSec, labels = { fleet: tag }) => ({ type: 'cpu-profile', durationSec, frequencyHz: 99, target: { all: true }, nodes: { labels } });
  const stepSums = async () => addStepSums(await Promise.all(reps.map((r) => dispatchStepSums(r.base))));
  /** POSTs a job to the first replica; `stepsFrom`: the dispatch step histograms before it (stepsOf). */
  const post = async (b) => {
    const stepsFrom = await stepSums();
    const t0 = now();
    const res = await stack.api('POST', '/jobs', b);
    if (res.status !== 201) throw new Error(`POST /jobs → ${res.status} ${res.text}`);
    const postMs = now() - t0;
    return { id: res.json.id, t0, postMs, stepsFrom };
  };
  /** What the job's dispatch steps took (dispatch_step_duration_seconds): read once every agent has its StartRun, so the other replicas' relays are in. */
  const stepsOf = async (p) => stepDelta(p.stepsFrom, await stepSums());
  const stepsText = (st) => Object.entries(st).map(([k, v]) => `${k} ${v}`).join(', ');
  /** POST → StartRun at each of `count` agents of job `id` (ms), once all have it. */
  const startLatencies = async ({ id, t0 }, count) => {
    let rep;
    await waitFor(async () => (rep = await jobReport(workers, id)).starts.length >= count, 120_000, `StartRun at ${count} agents for job ${id}`);
    return rep.starts.map((s) => s.at - t0);
  };
  const simLag = async () => {
    const xs = await workers.all({ cmd: 'lag' }, 'lag');
    return { p99Ms: Math.max(...xs.map((x) => x.p99Ms)), maxMs: Math.max(...xs.map((x) => x.maxMs)) };
  };

  /** DISPATCH_JOBS short jobs over every agent, one after the other: POST → StartRun latencies. */
  const dispatchRound = async (label, { waitEach = true } = {}) => {
    const all = [];
    const posts = [];
    const lags = [];
    const ids = [];
    const steps = [];
    await simLag();
    for (let j = 0; j < DISPATCH_JOBS; j++) {
      const p = await post(body(2));
      posts.push(p.postMs);
      const lat = await startLatencies(p, N);
      p.steps = await stepsOf(p);
      steps.push(p.steps);
      all.push(...lat);
      ids.push(p.id);
      // While every agent sends for another job, these jobs' results queue behind that job's on each agent's
      // stream: they end once it has drained (waited for after the round).
      const job = waitEach ? await waitJob(stack, p.id, 120_000) : { status: 'running' };
      const l = await simLag();
      lags.push(l);
      const heap = (await metricValue(reps[0].base, 'tracefleet_controller_nodejs_heap_size_used_bytes').catch(() => NaN)) / 1048576;
      console.log(
        `[fleet] dispatch ${label} ${j + 1}/${DISPATCH_JOBS}: POST ${Math.round(p.postMs)} ms (${stepsText(p.steps)} ms), StartRun p50 ${Math.round(pct(lat, 50))} p99 ${Math.round(pct(lat, 99))} ms ` +
          `(load generator loop delay p99 ${Math.round(l.p99Ms)} max ${Math.round(l.maxMs)} ms); job ${job.status}; first replica's V8 heap used ${heap.toFixed(0)} MiB`,
      );
      if (waitEach && job.status !== 'completed') throw new Error(`dispatch job ${p.id} ended ${job.status}: ${job.reason}`);
    }
    return { ...summarize(all), jobIds: ids, medianPostMs: pct(posts, 50), steps, simLag: { p99Ms: Math.max(...lags.map((l) => l.p99Ms)), maxMs: Math.max(...lags.map((l) => l.maxMs)) } };
  };

  /**
   * Every agent of `labels` floods (sends as fast as the link's backpressure lets it) for INGEST_SEC; `probes`
   * short jobs over every agent are posted during it. Throughput from the polls of GET /jobs/:id; RSS of every
   * replica sampled every 50 ms; per replica the samples its metrics say it stored.
   */
  const flood = async (labels, agents, probes) => {
    await workers.all({ cmd: 'mode', mode: { kind: 'flood' } }, 'mode');
    const split = new CpuSplit(pids, workers.children.map((c) => c.pid));
    const stored0 = await Promise.all(reps.map((r) => metricValue(r.base, 'tracefleet_controller_samples_stored_total')));
    const logMark = stack.logs.length;
    const rss = new RssSampler(pids);
    const heap = new HeapSampler(reps.map((r) => r.base));
    const p = await post(body(INGEST_SEC, labels));
    await startLatencies(p, agents);
    await workers.all({ cmd: 'mode', mode: { kind: 'rate' } }, 'mode'); // the probes' runs send at the usual rate
    await simLag();
    // The job's progress is polled from now, beside the probes: the stored rate while the agents send comes
    // from these polls (polled only after the probes, it missed the sending window at 2,000 agents).
    let job;
    let maxSilenceMs = 0;
    const progress = [];
    const ended = waitFor(
      async () => {
        await sleep(800);
        job = (await stack.api('GET', `/jobs/${p.id}`)).json;
        const nodes = (await stack.api('GET', `/nodes?labelSelector=fleet%3D${tag}`)).json;
        const silence = Math.max(...nodes.map((n) => Date.now() - Date.parse(n.lastSeenAt)));
        maxSilenceMs = Math.max(maxSilenceMs, silence);
        progress.push({ t: Math.round(now() - p.t0), stored: job.totals.samplesStored, silenceMs: silence });
        return ['completed', 'partial', 'failed'].includes(job.status);
      },
      (INGEST_SEC + 2400) * 1000,
      `flood job ${p.id} to end`,
    );
    ended.catch(() => {}); // awaited below; a probe failing first must not leave it unhandled
    const probeLat = [];
    const probeJobs = [];
    const probeSteps = [];
    for (let k = 0; k < probes; k++) {
      await sleep(((INGEST_SEC - 4) * 1000) / (probes + 1));
      const q = await post(body(2));
      probeJobs.push(q.id);
      const lat = await startLatencies(q, N);
      q.steps = await stepsOf(q);
      probeLat.push(...lat);
      probeSteps.push({ postMs: Math.round(q.postMs), ...q.steps, startRunP99Ms: Math.round(pct(lat, 99)) });
      console.log(`[fleet] probe ${k + 1}/${probes} under a flood of ${agents}: POST ${Math.round(q.postMs)} ms (${stepsText(q.steps)} ms), StartRun p50 ${Math.round(pct(lat, 50))} p99 ${Math.round(pct(lat, 99))} ms`);
    }
    await ended;
    const mem = rss.stop();
    const heapPeaks = heap.stop();
    const lag = await simLag();
    // The probes' results queue behind each agent's flood on its stream; their jobs end once that drains.
    const probeStatuses = [];
    for (const id of probeJobs) probeStatuses.push((await waitJob(stack, id, 300_000)).status);
    const rep = await jobReport(workers, p.id);
    const cpuSplit = split.stop();
    const storedByReplica = (await Promise.all(reps.map((r) => metricValue(r.base, 'tracefleet_controller_samples_stored_total')))).map((v, i) => v - stored0[i]);
    const windowSec = (Date.parse(job.finishedAt) - rep.firstBatchAt) / 1000;
    const during = progress.filter((x) => x.t >= 5000 && x.t <= INGEST_SEC * 1000);
    const steady = during.length >= 2 ? (during.at(-1).stored - during[0].stored) / ((during.at(-1).t - during[0].t) / 1000) : null;
    const runs = job.runs;
    const out = {
      agents,
      status: job.status,
      failedRunCount: runs.filter((r) => r.status === 'failed').length,
      failedRuns: runs.filter((r) => r.status === 'failed').map((r) => `${r.node}: ${r.reason}`).slice(0, 5),
      samplesSent: rep.samples,
      samplesStored: job.totals.samplesStored,
      samplesLostTransit: job.totals.samplesLostTransit,
      seqGaps: runs.reduce((a, r) => a + r.seqGaps, 0),
      batchesNotStored: runs.reduce((a, r) => a + r.batchesNotStored, 0),
      samplesPerSecStored: job.totals.samplesStored / windowSec,
      samplesPerSecStoredWhileSending: steady,
      drainAfterLastBatchSec: (Date.parse(job.finishedAt) - rep.lastBatchAt) / 1000,
      storedByReplica,
      peakRssMiB: mem.map((m) => m.peakMiB),
      medianRssMiB: mem.map((m) => m.medianMiB),
      heapPeaks,
      cpuPercentOfOneCpu: cpuSplit.replicas,
      cpuSplit,
      maxHeartbeatSilenceSec: maxSilenceMs / 1000,
      startRunUnderFlood: probes ? summarize(probeLat) : null,
      probeSteps,
      probeStatuses,
      simLag: lag,
      controllerLog: logSummary(stack.logs, logMark),
      jobId: p.id,
      progress,
    };
    console.log(
      `[fleet] flood of ${agents}: ${out.samplesStored} samples stored (${Math.round(out.samplesPerSecStored)}/s), lost ${out.samplesLostTransit}, job ${job.status}; ` +
        `peak RSS ${out.peakRssMiB.map((x) => x?.toFixed(0)).join('/')} MiB (heap used/total, external: ${heapPeaks.map((h) => `${h.heapUsedMiB.toFixed(0)}/${h.heapTotalMiB.toFixed(0)}, ${h.externalMiB.toFixed(0)}`).join('; ')}); ` +
        `controller event-loop delay, largest in a second (median) / largest ${heapPeaks.map((h) => `${Math.round(h.loopDelayMedianMaxMs ?? NaN)}/${Math.round(h.loopDelayMaxMs)}`).join('; ')} ms` +
        `; CPU: ${cpuSplitText(cpuSplit)}` +
        (probes ? `; StartRun under flood p50 ${Math.round(out.startRunUnderFlood.p50Ms)} p99 ${Math.round(out.startRunUnderFlood.p99Ms)} ms` : ''),
    );
    if (out.samplesStored !== out.samplesSent) throw new Error(`flood of ${agents}: sent ${out.samplesSent}, stored ${out.samplesStored}`);
    return out;
  };

  /** While every agent sends a batch a second for a long job: DISPATCH_JOBS short jobs over every agent (on `replicas` replicas). */
  const dispatchWhileSending = async (replicas = 1) => {
    await workers.all({ cmd: 'mode', mode: { kind: 'rate' } }, 'mode');
    const split = new CpuSplit(pids, workers.children.map((c) => c.pid));
    const bg = await post(body(DISPATCH_JOBS * 6 + 15));
    await startLatencies(bg, N);
    await sleep(4000);
    const round = await dispatchRound(replicas > 1 ? `while all send, ${replicas} replicas` : 'while all send', { waitEach: false });
    const job = await waitJob(stack, bg.id, 900_000);
    const statuses = [];
    for (const id of round.jobIds) statuses.push((await waitJob(stack, id, 600_000)).status);
    // Steady ingest: what every agent sends at a batch a second against what the replica stored per second
    // (first batch → the job completed, so a backlog that drains late counts against it).
    const rep = await jobReport(workers, bg.id);
    const storedSec = (Date.parse(job.finishedAt) - rep.firstBatchAt) / 1000;
    const cpuSplit = split.stop();
    const backgroundJob = {
      status: job.status,
      samplesStored: job.totals.samplesStored,
      samplesSent: rep.samples,
      samplesPerSecSent: rep.samples / ((rep.lastBatchAt - rep.firstBatchAt) / 1000 + 1),
      samplesPerSecStored: job.totals.samplesStored / storedSec,
      drainAfterLastBatchSec: (Date.parse(job.finishedAt) - rep.lastBatchAt) / 1000,
      cpuPercentByReplica: cpuSplit.replicas.slice(0, replicas),
      cpuSplit,
    };
    backgroundJob.cpuPercentOfOneCpu = backgroundJob.cpuPercentByReplica.reduce((a, x) => a + x, 0);
    console.log(
      `[fleet] while all send: ${Math.round(backgroundJob.samplesPerSecSent)} samples/s sent, ${Math.round(backgroundJob.samplesPerSecStored)}/s stored (first batch → job ${job.status}), ` +
        `drained ${backgroundJob.drainAfterLastBatchSec.toFixed(1)} s after the last batch; controller CPU ${backgroundJob.cpuPercentOfOneCpu.toFixed(0)} %; ${cpuSplitText(backgroundJob.cpuSplit)}`,
    );
    return { ...round, statuses, backgroundJob };
  };

  const connect = async (addrs, agents, ms = 300_000) => {
    const registered = [];
    const off = workers.on((m) => m.ev === 'registered' && registered.push(m));
    const t0 = now();
    workers.children.forEach((c, w) => c.send({ cmd: 'connect', addrs, agents: agents.filter((_, i) => i % WORKERS === w) }));
    await waitFor(async () => registered.length === agents.length, ms, `${agents.length} simulated agents to register (${registered.length} so far; errors: ${workers.errors.slice(0, 3).join('; ')})`);
    off();
    return registered.map((r) => ({ ...r, ms: r.at - t0, afterReadyMs: r.readyAt === undefined ? undefined : r.at - r.readyAt }));
  };
  const rssFloor = async (pid, n = 20, everyMs = 500) => {
    const xs = [];
    for (let i = 0; i < n; i++) {
      xs.push(vmRssMiB(pid));
      await sleep(everyMs);
    }
    return { floorMiB: Math.min(...xs), medianMiB: pct(xs, 50) };
  };

  try {
    // Enrollment through the real path: one bootstrap token of N uses, a few at a time.
    const bootstrap = await stack.api('POST', '/enrollment-tokens', { maxUses: N, ttlSec: 7200, description: 'fleet bench' }, stack.captureToken);
    if (bootstrap.status !== 201) throw new Error(`POST /enrollment-tokens → ${bootstrap.status} ${bootstrap.text}`);
    const names = Array.from({ length: N }, (_, i) => ({
      // Fixed names: a run reuses the Node rows of the previous one; the tag label selects this run's.
      name: `fleet-sim-${String(i).padStart(4, '0')}`,
      labels: { fleet: tag, zone: `z${i % 3}`, rack: `r${i % 10}`, ...(i < SMALL ? { small: tag } : {}) },
    }));
    const enrollStart = now();
    for (let i = 0; i < N; i += 8) {
      await Promise.all(
        names.slice(i, i + 8).map(async (a) => {
          const e = await stack.enroll(a.name, bootstrap.json.token);
          a.tls = { keyPem: e.keyPem, certPem: e.certPem, caPem: e.caPem };
        }),
      );
    }
    results.enrollSec = (now() - enrollStart) / 1000;
    console.log(`[fleet] ${N} nodes enrolled in ${results.enrollSec.toFixed(0)} s`);
    await stack.api('GET', '/nodes?status=connected');
    await sleep(2000);
    const idle = await rssFloor(pids[0]);

    workers = new Workers(WORKERS);
    await workers.all(null, 'ready');

    // ---- One replica: every agent is given only the first replica's address.
    const one = { memorySteps: [{ agents: 0, ...idle }], registration: [] };
    let soFar = 0;
    for (const target of [1, 2, 3, 4].map((k) => Math.round((N * k) / 4))) {
      const reg = await connect([reps[0].grpcAddr], names.slice(soFar, target));
      one.registration.push({ burst: target - soFar, ...registrationOf(reg) });
      soFar = target;
      await sleep(6000);
      const heapUsedMiB = (await metricValue(reps[0].base, 'tracefleet_controller_nodejs_heap_size_used_bytes')) / 1048576;
      one.memorySteps.push({ agents: target, ...(await rssFloor(pids[0])), heapUsedMiB });
      console.log(`[fleet] ${target} agents on one replica: RSS floor ${one.memorySteps.at(-1).floorMiB.toFixed(1)} MiB, V8 heap used ${heapUsedMiB.toFixed(1)} MiB`);
    }
    const listed = (await stack.api('GET', `/nodes?labelSelector=fleet%3D${tag}&status=connected`)).json;
    if (listed.length !== N) throw new Error(`GET /nodes lists ${listed.length} of ${N} simulated agents connected`);
    const pts = one.memorySteps.slice(1);
    const mx = pts.reduce((a, p) => a + p.agents, 0) / pts.length;
    const my = pts.reduce((a, p) => a + p.floorMiB, 0) / pts.length;
    one.marginalPerAgentKiB = (pts.reduce((a, p) => a + (p.agents - mx) * (p.floorMiB - my), 0) / pts.reduce((a, p) => a + (p.agents - mx) ** 2, 0)) * 1024;
    results.one = one;
    // Published after each phase (a run cut short keeps what it measured, marked partial).
    const checkpoint = (what) => {
      if (!PHASES) publish('fleet', { ...results, partial: `ended after ${what}` }, fleetTable({ ...results, partial: `the run was cut short after ${what}; the rows below are what it measured` }));
    };
    if (phase('dispatch')) {
      one.dispatchIdle = await dispatchRound('idle');
      checkpoint('idle dispatch');
      one.dispatchWhileSending = await dispatchWhileSending();
      checkpoint('dispatch while sending');
    }
    if (phase('flood')) {
      one.floodSmall = await flood({ small: tag }, SMALL, 2);
      checkpoint(`the flood of ${SMALL} agents`);
      one.floodAll = await flood({ fleet: tag }, N, 3);
      checkpoint(`the flood of all ${N} agents on one replica`);
    }
    if (phase('read') && one.floodAll && existsSync(new URL('./fleet-read.mjs', import.meta.url))) {
      const { measureMergedRead } = await import('./fleet-read.mjs');
      const mr = await measureMergedRead({ baseUrl: reps[0].base, token: stack.apiToken, jobId: one.floodAll.jobId, controllerPid: pids[0], log: (m) => console.log(`[fleet] ${m}`) });
      const line = ([out, r]) => `${out} ${r.status}: first byte ${r.ttfbMs} ms, served in ${r.totalMs} ms, ${(r.bytes / 1048576).toFixed(1)} MiB, RSS ${r.rssBeforeMiB} → peak ${r.peakRssMiB} MiB`;
      one.mergedRead = { ...mr, summary: Object.entries(mr).map(line).join('; ') };
    }
    results.one = one;

    // ---- Several replicas: the agents reconnect with every replica's address and spread as agents do.
    if (REPLICAS > 1 && phase('replicas')) {
      await workers.all({ cmd: 'disconnect' }, 'disconnected');
      await sleep(3000);
      const several = {};
      const reg = await connect(reps.map((r) => r.grpcAddr), names);
      several.registration = registrationOf(reg);
      several.agentsPerReplica = reps.map((r) => reg.filter((x) => x.addr === r.grpcAddr).length);
      await sleep(6000);
      several.rssPerReplica = [];
      for (const pid of pids) several.rssPerReplica.push(await rssFloor(pid, 10, 500));
      several.dispatchIdle = await dispatchRound(`idle, ${REPLICAS} replicas`);
      several.dispatchWhileSending = await dispatchWhileSending(REPLICAS);
      several.floodAll = await flood({ fleet: tag }, N, 3);
      // Each replica's holds for the others' commands (FleetCommands), by how they ended: through all three phases.
      several.remoteCommandHolds = [];
      for (const r of reps) {
        const [ended, bound, refused] = await Promise.all(['ended', 'bound', 'refused'].map((outcome) => metricValue(r.base, 'tracefleet_controller_remote_command_holds_total', { outcome })));
        several.remoteCommandHolds.push({ ended, bound, refused });
      }
      console.log(`[fleet] holds for other replicas' commands, ended / bound / refused by replica: ${several.remoteCommandHolds.map((h) => `${h.ended} / ${h.bound} / ${h.refused}`).join('; ')}`);
      results.several = several;
    }
    if (phase('retention') && existsSync(new URL('./fleet-retention.mjs', import.meta.url))) {
      // Its own section in BENCHMARKS.md (fleet-retention); a line of it in this table.
      const { fleetRetentionBench } = await import('./fleet-retention.mjs');
      const f = await fleetRetentionBench();
      results.retention = { ...f, summary: `${f.rows.partitioned.toLocaleString('en-US')} rows of one day over ${f.jobs} jobs: dropping its partition ${(f.drop.totalMs / 1000).toFixed(2)} s (jobs' rows included) vs deleting the rows ${(f.delete.ms / 1000).toFixed(1)} s` };
    }
    results.linkErrors = workers.errors.slice(0, 20);
    results.registrationRetries = workers.retries;
    results.registrationRetryReasons = workers.retryReasons;
  } catch (err) {
    // What the replicas said last (a replica that died says why: its heap limit, say).
    console.error(`[fleet] failed: ${err.message}; the controllers' last lines:\n${stack.logs.slice(-40).join('').slice(-8000)}`);
    throw err;
  } finally {
    await workers?.close();
    await stack.stop();
  }
  if (PHASES) console.log(JSON.stringify(results, (k, v) => (k === 'progress' ? undefined : v), 1));
  else publish('fleet', results, fleetTable(results));
  return results;
}
