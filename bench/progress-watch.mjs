// progress-watch: what watching a fleet-wide job's progress costs a controller replica. Jobs of N runs
// (default 2,000, one per node) are written straight into the bench database and set running; then,
// in rounds, for WINDOW_SEC each: nobody watches; one GET /jobs/:id/progress stream; K streams of the
// same job (their reads shared: jobs/job-progress.service.ts); and K streams over K different jobs
// (no read can be shared: each stream reads its own job at every poll, which is what K streams of one
// job cost before the reads were shared). Measured per window: the replica's CPU (utime + stime from
// /proc), the largest event-loop delay (prom-client's, from /metrics), and the progress messages each
// stream received.
//
//   npm run bench -- progress     (PROGRESS_RUNS=2000 PROGRESS_WATCHERS=8 PROGRESS_WINDOW_SEC=15 PROGRESS_ROUNDS=3)
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { cpuTicks, metricValue } from './fleet-lib.mjs';
import { machine, median, publish, root, sleep, startStack } from './lib.mjs';

const require = createRequire(import.meta.url);
const RUNS = Number(process.env.PROGRESS_RUNS ?? 2000);
const WATCHERS = Number(process.env.PROGRESS_WATCHERS ?? 8);
const WINDOW_SEC = Number(process.env.PROGRESS_WINDOW_SEC ?? 15);
const ROUNDS = Number(process.env.PROGRESS_ROUNDS ?? 3);

/** One progress stream read until `signal` aborts: the `event: progress` messages it received. */
async function watch(base, token, jobId, signal) {
  const res = await fetch(`${base}/jobs/${jobId}/progress`, { headers: { authorization: `Bearer ${token}` }, signal });
  if (res.status !== 200) throw new Error(`GET /jobs/${jobId}/progress → ${res.status} ${await res.text()}`);
  let messages = 0;
  let tail = '';
  try {
    for await (const chunk of res.body) {
      const text = tail + Buffer.from(chunk).toString('utf8');
      const parts = text.split('\n\n');
      tail = parts.pop();
      for (const p of parts) {
        if (p.startsWith('event: progress\n')) messages++;
        else if (/^event: (status|error)\n/.test(p)) throw new Error(`job ${jobId}'s progress stream ended: ${p.slice(0, 300)}`);
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
  return messages;
}

/** The largest event-loop delay since the previous scrape (prom-client resets it per scrape), ms. */
const loopDelayMaxMs = async (base) => Math.round((await metricValue(base, 'tracefleet_controller_nodejs_eventloop_lag_max_seconds')) * 1000);

/** One window: `jobIds` watched by one stream each (none: nobody watches). */
async function windowOf(stack, jobIds) {
  const ctl = new AbortController();
  const streams = jobIds.map((id) => watch(stack.base, stack.apiToken, id, ctl.signal));
  await sleep(1000); // the streams' first reads (the 404 check) are not the steady state
  await loopDelayMaxMs(stack.base);
  const t0 = cpuTicks(stack.controller.pid);
  const at = performance.now();
  await sleep(WINDOW_SEC * 1000);
  const cpu = ((cpuTicks(stack.controller.pid) - t0) / ((performance.now() - at) / 1000)) | 0; // ticks/s = % of one CPU
  const delay = await loopDelayMaxMs(stack.base);
  ctl.abort();
  const msgs = await Promise.all(streams);
  return { cpuPct: cpu, loopDelayMaxMs: delay, messagesPerStreamPerSec: msgs.length ? +(msgs.reduce((a, b) => a + b, 0) / msgs.length / (WINDOW_SEC + 1)).toFixed(2) : null };
}

export async function progressWatchBench() {
  const { Pool } = require(join(root, 'node_modules/pg'));
  const { seedFleetProfile, dropFleetProfile } = require(join(root, 'apps/controller/dist/testing/fleet-profile-seed.js'));
  // The seeded nodes have no agent: their runs must not fail as silent while the streams watch them.
  const stack = await startStack({ agent: false, env: { TRACEFLEET_SSE_STREAMS_PER_TOKEN: String(WATCHERS + 2), TRACEFLEET_RUN_GRACE_MS: '86400000' } });
  const pool = new Pool({ connectionString: stack.databaseUrl, max: 2 });
  const seeds = [];
  try {
    const prefix = `pw${Date.now().toString(36)}`;
    for (let k = 0; k < WATCHERS; k++) seeds.push(await seedFleetProfile(pool, { nodes: RUNS, shared: 1, depth: 2, distinct: 0, prefix: `${prefix}j${k}` }));
    const ids = seeds.map((s) => s.jobId);
    await pool.query(`UPDATE "Job" SET "status" = 'running', "finishedAt" = NULL, "durationSec" = 3600, "startedAt" = now() WHERE "id" = ANY($1::uuid[])`, [ids]);
    await pool.query(`UPDATE "JobRun" SET "status" = 'running', "finishedAt" = NULL WHERE "jobId" = ANY($1::uuid[])`, [ids]);
    console.log(`[progress] ${WATCHERS} running jobs of ${RUNS} runs seeded`);
    const conditions = {
      idle: [],
      one: [ids[0]],
      sameJob: Array(WATCHERS).fill(ids[0]),
      ownJobs: ids,
    };
    const runs = Object.fromEntries(Object.keys(conditions).map((c) => [c, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, jobIds] of Object.entries(conditions)) {
        const w = await windowOf(stack, jobIds);
        runs[name].push(w);
        console.log(`[progress] round ${r + 1} ${name}: CPU ${w.cpuPct} % of one, loop delay max ${w.loopDelayMaxMs} ms, ${w.messagesPerStreamPerSec ?? '-'} messages/s a stream`);
      }
    }
    const fig = Object.fromEntries(
      Object.entries(runs).map(([name, ws]) => [name, { cpuPct: median(ws.map((w) => w.cpuPct)), loopDelayMaxMs: Math.max(...ws.map((w) => w.loopDelayMaxMs ?? 0)), messagesPerStreamPerSec: ws[0].messagesPerStreamPerSec }]),
    );
    const added = (c) => Math.max(0, fig[c].cpuPct - fig.idle.cpuPct);
    const results = { machine: machine(), runs: RUNS, watchers: WATCHERS, windowSec: WINDOW_SEC, rounds: ROUNDS, figures: fig, every: runs };
    const row = (label, c) => `| ${label} | ${fig[c].cpuPct} % | ${c === 'idle' ? '-' : `${added(c)} %`} | ${fig[c].loopDelayMaxMs} ms | ${fig[c].messagesPerStreamPerSec ?? '-'} |`;
    const table = [
      `## Watching a fleet-wide job's progress`,
      '',
      `Run ${new Date().toISOString()} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/progress.json. \`npm run bench -- progress\`: ${WATCHERS} running jobs of ${RUNS.toLocaleString('en-US')} runs each written into the bench database (no agents); one controller replica; GET /jobs/:id/progress streams held for ${WINDOW_SEC} s windows, ${ROUNDS} rounds of the four cases in turn. CPU: the replica's utime + stime over the window (median of the rounds), % of one CPU; added: above nobody watching. Loop delay: the largest over the rounds. ${WATCHERS} streams over ${WATCHERS} different jobs cannot share a read: each reads its own job at every poll, which is what ${WATCHERS} streams of one job cost before their reads were shared.`,
      '',
      '| watching | replica CPU | added | event-loop delay, max | progress messages a stream per second (first round) |',
      '|---|---|---|---|---|',
      row('nobody', 'idle'),
      row('1 stream', 'one'),
      row(`${WATCHERS} streams of the same job (reads shared)`, 'sameJob'),
      row(`${WATCHERS} streams of ${WATCHERS} different jobs (a read each)`, 'ownJobs'),
    ].join('\n');
    publish('progress', results, table);
    return results;
  } finally {
    for (const s of seeds) await dropFleetProfile(pool, s).catch((e) => console.error(`[progress] could not remove job ${s.jobId}: ${e.message}`));
    await pool.end().catch(() => undefined);
    await stack.stop();
  }
}
