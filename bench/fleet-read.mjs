// fleet-read: reading the merged profile of a whole fleet's job. A cpu-profile job of N nodes (default
// 2,000 × 200 shared stacks of depth 20, a fleet of one service, + 5 stacks of each node's own) is
// written straight into the bench database; then the flame graph, the folded text and the pprof file of
// the job are requested one after the other from one controller replica, each measured: time to the first
// byte, time to serve, bytes, and the controller's peak RSS during the request (VmRSS sampled every
// 20 ms; VmHWM cannot be reset between requests). Then the same job is made an incident's one cpu-profile job,
// and the incident's merged flame graph, folded text and top functions (each with every node's counts) are
// measured the same way, and the diff of the job with itself (two merged reads).
//
//   node bench/fleet-read.mjs            standalone: its own stack and seed, results in bench/results/fleet-read.json
//   FLEET_READ_NODES=500 FLEET_READ_STACKS=100 FLEET_READ_DEPTH=20 FLEET_READ_DISTINCT=5 node bench/fleet-read.mjs
//
// measureMergedRead() is the measuring part alone, for a stack someone else started.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
const require = createRequire(import.meta.url);

const OUTPUTS = ['flamegraph.svg', 'flamegraph.folded', 'profile.pprof', 'profile.speedscope.json'];
/** An incident's merged outputs (its cpu-profile jobs over every node). */
const INCIDENT_OUTPUTS = ['flamegraph.svg', 'flamegraph.folded', 'functions'];
/** The differential outputs of two jobs (here the job with itself: two merged reads). */
const DIFF_OUTPUTS = ['flamegraph.svg', 'flamegraph.folded'];

function vmRssKiB(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

/** One GET, measured: ms to the response head's first body byte, ms to the end, bytes, and the peak RSS of `pid` meanwhile. */
async function measureOne(url, token, pid) {
  const before = vmRssKiB(pid);
  let peak = before;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, vmRssKiB(pid));
    } catch {
      // the controller exited: the request fails below
    }
  }, 20);
  const t0 = performance.now();
  let ttfb;
  let bytes = 0;
  let status;
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity' } });
    status = res.status;
    for await (const chunk of res.body) {
      ttfb ??= performance.now() - t0;
      bytes += chunk.length;
    }
  } finally {
    clearInterval(timer);
  }
  const totalMs = performance.now() - t0;
  peak = Math.max(peak, vmRssKiB(pid));
  return { status, ttfbMs: Math.round(ttfb ?? totalMs), totalMs: Math.round(totalMs), bytes, rssBeforeMiB: +(before / 1024).toFixed(1), peakRssMiB: +(peak / 1024).toFixed(1), rssGrowthMiB: +((peak - before) / 1024).toFixed(1) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Requests each merged output of `jobId` from `baseUrl` (the controller's REST base) `repeat` times, one
 * request at a time, and returns per output: status, ttfbMs and totalMs (medians), bytes, rssBeforeMiB
 * (before the first), peakRssMiB and rssGrowthMiB (the highest over the repeats), and every run.
 */
export async function measureMergedRead({ baseUrl, token, jobId, controllerPid, log = console.log, outputs = OUTPUTS, repeat = 1, urlOf = (out) => `${baseUrl}/jobs/${jobId}/${out}`, label = '' }) {
  const results = {};
  for (const out of outputs) {
    const runs = [];
    for (let i = 0; i < repeat; i++) runs.push(await measureOne(urlOf(out), token, controllerPid));
    const r = {
      status: runs[0].status,
      ttfbMs: median(runs.map((x) => x.ttfbMs)),
      totalMs: median(runs.map((x) => x.totalMs)),
      bytes: runs[0].bytes,
      rssBeforeMiB: runs[0].rssBeforeMiB,
      peakRssMiB: Math.max(...runs.map((x) => x.peakRssMiB)),
      rssGrowthMiB: Math.max(...runs.map((x) => x.rssGrowthMiB)),
      runs,
    };
    results[`${label}${out}`] = r;
    log(`[fleet-read] ${label}${out}: ${r.status} · first byte ${r.ttfbMs} ms · served in ${r.totalMs} ms (median of ${repeat}) · ${(r.bytes / 1024 / 1024).toFixed(2)} MiB · RSS ${r.rssBeforeMiB} → peak ${r.peakRssMiB} MiB`);
  }
  return results;
}

async function standalone() {
  const { machine, publish, startStack } = await import('./lib.mjs');
  const { Pool } = require(join(root, 'node_modules/pg'));
  const { seedFleetProfile, dropFleetProfile } = require(join(root, 'apps/controller/dist/testing/fleet-profile-seed.js'));
  const nodes = Number(process.env.FLEET_READ_NODES ?? 2000);
  const shared = Number(process.env.FLEET_READ_STACKS ?? 200);
  const depth = Number(process.env.FLEET_READ_DEPTH ?? 20);
  const distinct = Number(process.env.FLEET_READ_DISTINCT ?? 5);
  const label = process.env.FLEET_READ_LABEL ?? 'streamed';
  const stack = await startStack({ agent: false, maxDurationSec: 600 });
  const pool = new Pool({ connectionString: stack.databaseUrl, max: 2 });
  let seed;
  let incidentId;
  try {
    const t0 = performance.now();
    const prefix = `fr${Date.now().toString(36)}`;
    seed = await seedFleetProfile(pool, { nodes, shared, depth, distinct, prefix });
    console.log(`[fleet-read] seeded job ${seed.jobId}: ${nodes} nodes, ${seed.rows} sample rows in ${Math.round(performance.now() - t0)} ms`);
    // A first read warms caches (frame names, the database's pages); the second is the figure.
    await measureMergedRead({ baseUrl: stack.base, token: stack.apiToken, jobId: seed.jobId, controllerPid: stack.controller.pid, log: () => undefined, outputs: ['flamegraph.folded'] });
    const repeat = Number(process.env.FLEET_READ_REPEAT ?? 3);
    const figures = await measureMergedRead({ baseUrl: stack.base, token: stack.apiToken, jobId: seed.jobId, controllerPid: stack.controller.pid, repeat });
    // The same job as an incident's one cpu-profile job: the incident's flame graph says per frame which nodes
    // have its samples (incidents/path-tree.ts), and its functions each node's count of the top ones; both read
    // through cursors (incidents/incident-reader.ts).
    incidentId = (await pool.query(`INSERT INTO "Incident" ("id", "name", "nodes", "bundle", "startAt") VALUES (gen_random_uuid(), 'fleet-read', '"all"', '[]', now()) RETURNING "id"`)).rows[0].id;
    await pool.query('UPDATE "Job" SET "incidentId" = $1::uuid WHERE "id" = $2::uuid', [incidentId, seed.jobId]);
    Object.assign(
      figures,
      await measureMergedRead({ baseUrl: stack.base, token: stack.apiToken, controllerPid: stack.controller.pid, repeat, outputs: INCIDENT_OUTPUTS, label: 'incident ', urlOf: (out) => `${stack.base}/incidents/${incidentId}/${out}` }),
    );
    // The diff of the job with itself: both sides merged reads of 2,000 nodes (diff/diff.service.ts).
    Object.assign(
      figures,
      await measureMergedRead({ baseUrl: stack.base, token: stack.apiToken, controllerPid: stack.controller.pid, repeat, outputs: DIFF_OUTPUTS, label: 'diff ', urlOf: (out) => `${stack.base}/diff/${out}?base=${seed.jobId}&target=${seed.jobId}` }),
    );
    const results = { machine: machine(), load: loadavg(), label, repeat, nodes, sharedStacks: shared, depth, distinctPerNode: distinct, sampleRows: seed.rows, figures };
    const rows = Object.entries(figures).map(
      ([out, r]) => `| ${out} | ${r.status} | ${r.ttfbMs} | ${r.totalMs} | ${(r.bytes / 1024 / 1024).toFixed(2)} | ${r.rssBeforeMiB} | ${r.peakRssMiB} | +${r.rssGrowthMiB} |`,
    );
    const table = [
      `### Merged profile reads (${label}): ${nodes.toLocaleString('en-US')} nodes × ${shared} shared stacks of depth ${depth} + ${distinct} per node (${seed.rows.toLocaleString('en-US')} sample rows)`,
      '',
      `One controller replica; after a warm-up read, each output of the job, then of an incident holding that job (rows \"incident …\"), then the diff of the job with itself (rows \"diff …\"), requested ${repeat} times, one request at a time (\`node bench/fleet-read.mjs\`); times are medians, RSS the controller's VmRSS sampled every 20 ms (peak over the requests, growth over the RSS before each). Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(', ')} (a shared machine: times vary with it, memory much less).`,
      '',
      '| output | status | first byte ms | served ms | MiB | RSS before MiB | peak RSS MiB | growth MiB |',
      '|---|---|---|---|---|---|---|---|',
      ...rows,
    ].join('\n');
    publish(process.env.FLEET_READ_RESULT ?? 'fleet-read', results, table);
    return results;
  } finally {
    // The bench database is shared with the other suites: leave no job or node of this one behind.
    try {
      if (seed) await dropFleetProfile(pool, seed);
      if (incidentId) await pool.query('DELETE FROM "Incident" WHERE "id" = $1::uuid', [incidentId]);
    } catch (e) {
      console.error(`[fleet-read] could not remove the seeded job ${seed.jobId}: ${e.message}`);
    }
    await pool.end().catch(() => undefined);
    await stack.stop();
  }
}

export { standalone as fleetReadBench };

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  standalone().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
