// Retention of one day of samples: dropping its partition (the partition manager's own code,
// apps/controller/dist/retention/partitions.js) vs deleting its rows the way job retention does (DELETE of
// the day's jobs, 200 per statement, the samples going by ON DELETE CASCADE), each on `rows` sample rows.
//
// In a scratch database migrated with the committed migrations: a day 40 days ago with `jobs` ended jobs
// whose samples are in the partitioned ProfileSample (that day's partition), and as many other jobs whose
// samples are in an unpartitioned copy of the table (same columns, primary key and foreign keys). Measured:
// the time of each retention, the tables' sizes before and after, and how long single-row INSERTs of a
// running job (into today's partition / into the copy) took while each ran. The scratch database is dropped
// at the end, also on failure.
//
//   node bench/fleet-retention.mjs [--rows 5000000] [--jobs 1000]
// Needs: npx turbo run build (the controller's dist), PostgreSQL of .env's DATABASE_URL, and its
// administrator (TRACEFLEET_DB_TEST_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres) to
// create and drop the database and to bulk-fill it without per-row foreign key checks.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const DAY = 86_400_000;
const JOBS_PER_DELETE = 200; // JOB_RETENTION_BATCH

function envUrl() {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  const m = /^DATABASE_URL=(.*)$/m.exec(readFileSync(join(root, '.env'), 'utf8'));
  if (!m) throw new Error('DATABASE_URL is not set and .env has none: run npm run setup');
  return m[1].trim();
}

const ident = (s) => `"${s.replace(/"/g, '""')}"`;

async function withClient(url, work) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

/**
 * Single-row INSERTs, one after another; `ready` resolves after a few (connected and warm). `stop()` ends the
 * loop and resolves with the latencies (ms) of the inserts that started between `mark()` and `stop()`.
 */
function insertLoop(url, sql, params) {
  let stopped = false;
  let from = Infinity;
  let to = Infinity;
  const lat = [];
  let ready;
  const warm = new Promise((r) => (ready = r));
  const done = withClient(url, async (c) => {
    while (!stopped) {
      const t = performance.now();
      await c.query(sql, params());
      lat.push([t, performance.now() - t]);
      if (lat.length === 20) ready();
    }
    ready();
    return lat.filter(([t]) => t >= from && t <= to).map(([, d]) => d);
  });
  return {
    ready: Promise.race([warm, done]),
    mark: () => (from = performance.now()),
    stop: () => ((to = performance.now()), (stopped = true), done),
  };
}

const pct = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] : 0);
const ms = (x) => Math.round(x * 10) / 10;

/**
 * Creates the scratch database, fills it, measures both ways; returns the figures. `databaseUrl`: the role's
 * URL whose database name is replaced by the scratch one.
 */
export async function measureRetention({ databaseUrl = envUrl(), rows = 5_000_000, jobs = 1000, log = console.log, adminUrl } = {}) {
  const partitions = require(join(root, 'apps/controller/dist/retention/partitions.js'));
  const admin = adminUrl ?? process.env.TRACEFLEET_DB_TEST_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const name = 'tracefleet_bench_retention';
  const u = new URL(databaseUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const role = decodeURIComponent(u.username);
  const au = new URL(admin);
  au.pathname = `/${name}`;
  const adminDb = au.toString();
  const perJob = Math.ceil(rows / jobs);

  await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`));
  await withClient(admin, (c) => c.query(`CREATE DATABASE ${ident(name)} OWNER ${ident(role)}`));
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  try {
    const mig = spawnSync(process.execPath, [join(root, 'infra/prisma-offline/prisma.mjs'), 'migrate', 'deploy', '--config', join(root, 'apps/controller/prisma.config.ts')], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: url },
      encoding: 'utf8',
    });
    if (mig.status !== 0) throw new Error(`migrate deploy failed:\n${mig.stdout}\n${mig.stderr}`);
    const db = partitions.poolPartitionDb(pool);
    const now = new Date();
    const oldDay = partitions.isoDay(new Date(now.getTime() - 40 * DAY));
    const cutoff = new Date(now.getTime() - 30 * DAY);
    await partitions.ensureAhead(db, partitions.PROFILE_SAMPLES, now);
    await partitions.ensurePartition(db, partitions.PROFILE_SAMPLES, oldDay);

    log(`filling: ${jobs} + ${jobs} ended jobs of ${oldDay}, ${perJob} sample rows each (${perJob * jobs} per table)`);
    const t0 = performance.now();
    await withClient(adminDb, async (c) => {
      // The fill only: foreign keys are not checked row by row (they hold by construction).
      await c.query('SET session_replication_role = replica');
      await c.query(`SET ROLE ${ident(role)}`);
      await c.query(`INSERT INTO "Node" ("id", "name", "kernelRelease", "btf", "protocolVersion", "capabilities", "agentVersion")
        VALUES (gen_random_uuid(), 'bench', '6.1', true, 1, '{cpu-profile}', 'bench')`);
      await c.query(`INSERT INTO "Stack" ("key", "frameIds") SELECT 'bench-' || i, ARRAY[i] FROM generate_series(1, $1::int) i`, [perJob]);
      // Set A (partitioned) and set B (the unpartitioned copy): jobs, runs and profiles of the old day.
      for (const set of ['a', 'b']) {
        await c.query(
          `WITH j AS (INSERT INTO "Job" ("id", "type", "durationSec", "status", "params", "createdAt")
             SELECT gen_random_uuid(), 'cpu_profile', 60, 'completed', jsonb_build_object('set', $1::text), $2::date + interval '1 hour'
             FROM generate_series(1, $3::int) RETURNING "id"),
           r AS (INSERT INTO "JobRun" ("id", "jobId", "nodeId", "status") SELECT gen_random_uuid(), j."id", (SELECT "id" FROM "Node"), 'completed' FROM j RETURNING "id", "jobId")
           INSERT INTO "Profile" ("id", "jobId", "runId", "createdAt") SELECT gen_random_uuid(), r."jobId", r."id", $2::date + interval '2 hours' FROM r`,
          [set, oldDay, jobs],
        );
      }
      await c.query(`CREATE TABLE "ProfileSampleFlat" (LIKE "ProfileSample" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
      await c.query(`ALTER TABLE "ProfileSampleFlat" ADD PRIMARY KEY ("profileId", "stackId", "originId", "day"),
        ADD FOREIGN KEY ("profileId") REFERENCES "Profile"("id") ON DELETE CASCADE ON UPDATE CASCADE,
        ADD FOREIGN KEY ("stackId") REFERENCES "Stack"("id") ON DELETE RESTRICT ON UPDATE CASCADE`);
      for (const [set, table] of [['a', '"ProfileSample"'], ['b', '"ProfileSampleFlat"']]) {
        await c.query(
          `INSERT INTO ${table} ("profileId", "stackId", "originId", "count", "day")
           SELECT p."id", s, 0, 1 + (s % 97), $2::date FROM "Profile" p JOIN "Job" j ON j."id" = p."jobId" CROSS JOIN generate_series(1, $3::int) s
           WHERE j."params"->>'set' = $1`,
          [set, oldDay, perJob],
        );
      }
      await c.query('RESET ROLE');
      await c.query('RESET session_replication_role');
      await c.query('ANALYZE');
    });
    // A running job of today, for the concurrent inserts.
    const live = await withClient(url, async (c) => {
      const job = await c.query(`INSERT INTO "Job" ("id", "type", "durationSec", "status", "params") VALUES (gen_random_uuid(), 'cpu_profile', 60, 'running', '{}') RETURNING "id"`);
      const run = await c.query(`INSERT INTO "JobRun" ("id", "jobId", "nodeId", "status") SELECT gen_random_uuid(), $1, "id", 'running' FROM "Node" RETURNING "id"`, [job.rows[0].id]);
      const prof = await c.query(`INSERT INTO "Profile" ("id", "jobId", "runId") VALUES (gen_random_uuid(), $1, $2) RETURNING "id"`, [job.rows[0].id, run.rows[0].id]);
      return prof.rows[0].id;
    });
    const fillSec = (performance.now() - t0) / 1000;
    log(`filled in ${fillSec.toFixed(1)} s`);

    const size = (rel) => withClient(url, async (c) => Number((await c.query(`SELECT coalesce(pg_total_relation_size(to_regclass($1)), 0)::bigint AS n`, [rel])).rows[0].n));
    const count = (rel) => withClient(url, async (c) => Number((await c.query(`SELECT count(*)::bigint AS n FROM ${rel}`)).rows[0].n));
    const part = `${ident(partitions.PARTITION_SCHEMA)}.${ident(partitions.partitionName(partitions.PROFILE_SAMPLES, oldDay))}`;
    const jobIds = (set) => withClient(url, async (c) => (await c.query(`SELECT "id" FROM "Job" WHERE "params"->>'set' = $1 ORDER BY "createdAt"`, [set])).rows.map((r) => r.id));
    const deleteJobs = async (ids) => {
      let statements = 0;
      await withClient(url, async (c) => {
        for (let i = 0; i < ids.length; i += JOBS_PER_DELETE) {
          await c.query(`DELETE FROM "Job" WHERE "id" = ANY($1::uuid[])`, [ids.slice(i, i + JOBS_PER_DELETE)]);
          statements++;
        }
      });
      return statements;
    };
    let stack = 0;
    // An upsert, as the controller's ingest writes (a loop of more than perJob inserts meets its first keys again).
    const insertInto = (table) =>
      insertLoop(
        url,
        `INSERT INTO ${table} AS t ("profileId", "stackId", "originId", "count", "day") VALUES ($1, $2, 0, 1, (now() AT TIME ZONE 'UTC')::date)
         ON CONFLICT ("profileId", "stackId", "originId", "day") DO UPDATE SET "count" = t."count" + 1`,
        () => [live, 1 + (stack++ % perJob)],
      );

    const rowsA = await count(part);
    const rowsB = await count('"ProfileSampleFlat"');
    const before = { partition: await size(part), flat: await size('"ProfileSampleFlat"') };

    // 1. Partitioned: the manager's drop, then the job deletes (nothing left to cascade into samples).
    let ins = insertInto('"ProfileSample"');
    await ins.ready;
    ins.mark();
    let t = performance.now();
    const dropped = await partitions.dropBefore(db, partitions.PROFILE_SAMPLES, cutoff);
    const dropMs = performance.now() - t;
    const dropInserts = await ins.stop();
    if (!dropped.dropped.includes(partitions.partitionName(partitions.PROFILE_SAMPLES, oldDay))) throw new Error(`the old day was not dropped: ${JSON.stringify(dropped)}`);
    const idsA = await jobIds('a');
    t = performance.now();
    await deleteJobs(idsA);
    const jobsAfterDropMs = performance.now() - t;

    // 2. Unpartitioned: the job deletes take the rows by cascade.
    const idsB = await jobIds('b');
    ins = insertInto('"ProfileSampleFlat"');
    await ins.ready;
    ins.mark();
    t = performance.now();
    const statements = await deleteJobs(idsB);
    const deleteMs = performance.now() - t;
    const deleteInserts = await ins.stop();
    const leftB = await count(`"ProfileSampleFlat" WHERE "day" = '${oldDay}'`);
    const after = { partition: await size(part), flat: await size('"ProfileSampleFlat"') };

    const figures = {
      rows: { partitioned: rowsA, unpartitioned: rowsB, leftAfterDelete: leftB },
      jobs,
      fillSec: Math.round(fillSec),
      drop: { ms: ms(dropMs), jobDeletesAfterMs: ms(jobsAfterDropMs), totalMs: ms(dropMs + jobsAfterDropMs) },
      delete: { ms: ms(deleteMs), statements },
      bytes: { partitionBefore: before.partition, partitionAfter: after.partition, flatBefore: before.flat, flatAfter: after.flat },
      concurrentInsert: {
        duringDrop: { inserts: dropInserts.length, maxMs: ms(Math.max(0, ...dropInserts)), p99Ms: ms(pct(dropInserts, 99)) },
        duringDelete: { inserts: deleteInserts.length, maxMs: ms(Math.max(0, ...deleteInserts)), p99Ms: ms(pct(deleteInserts, 99)) },
      },
    };
    log(JSON.stringify(figures, null, 2));
    return figures;
  } finally {
    await pool.end();
    await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`));
  }
}

/** Measures (measureRetention), then writes bench/results/fleet-retention.json and the table in BENCHMARKS.md. */
export async function fleetRetentionBench({ rows = 5_000_000, jobs = 1000 } = {}) {
  const f = await measureRetention({ rows, jobs });
  const { publish, machine } = await import('./lib.mjs');
  const mb = (b) => `${Math.round(b / 1048576)} MB`;
  const s = (x) => `${(x / 1000).toFixed(2)} s`;
  const table = [
    '## Retention of a day of samples: dropping its partition vs deleting its rows',
    '',
    `One day of ${f.rows.partitioned.toLocaleString('en')} ProfileSample rows over ${f.jobs} ended jobs, and the same in an unpartitioned copy of the table; a single-row INSERT loop of a running job writes into today meanwhile. \`node bench/fleet-retention.mjs\` (${machine().cpus} CPUs, PostgreSQL 15).`,
    '',
    '| way | retention took | the day\'s table size before → after | concurrent INSERT: p99 / max |',
    '| --- | --- | --- | --- |',
    `| DROP of the day's partition (partition manager), then the jobs' row deletes | ${s(f.drop.ms)} + ${s(f.drop.jobDeletesAfterMs)} = ${s(f.drop.totalMs)} | ${mb(f.bytes.partitionBefore)} → ${mb(f.bytes.partitionAfter)} | ${f.concurrentInsert.duringDrop.p99Ms} / ${f.concurrentInsert.duringDrop.maxMs} ms (${f.concurrentInsert.duringDrop.inserts} inserts) |`,
    `| DELETE of the jobs, ${JOBS_PER_DELETE} per statement (${f.delete.statements} statements), samples by cascade | ${s(f.delete.ms)} | ${mb(f.bytes.flatBefore)} → ${mb(f.bytes.flatAfter)} (dead rows until VACUUM) | ${f.concurrentInsert.duringDelete.p99Ms} / ${f.concurrentInsert.duringDelete.maxMs} ms (${f.concurrentInsert.duringDelete.inserts} inserts) |`,
  ].join('\n');
  publish('fleet-retention', { date: new Date().toISOString(), machine: machine(), ...f }, table);
  return f;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (flag, dflt) => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const rows = arg('--rows', 5_000_000);
  const jobs = arg('--jobs', 1000);
  if (!(rows > 0 && jobs > 0)) throw new Error('usage: node bench/fleet-retention.mjs [--rows N] [--jobs N]');
  fleetRetentionBench({ rows, jobs }).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
