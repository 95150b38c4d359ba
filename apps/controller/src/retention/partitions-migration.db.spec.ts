// The migration that partitions ProfileSample, against a real PostgreSQL: a database with samples stored
// under the migrations before it keeps every row (each in its profile's day's partition) and the foreign keys
// (a profile's delete cascades into its samples, a used stack cannot be deleted); the same for the event tables
// that migration 20261205211000_partitioned_events partitions (rows, ids and their sequence, the run's cascade).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { ROOT, ident, serviceUrl } from '../testing/service-urls';

const NAME = 'tracefleet_partition_migration_test';
const MIGRATION = '20261205210000_partitioned_samples';
const EVENTS_MIGRATION = '20261205211000_partitioned_events';
const SSL_MIGRATION = '20261205212000_partitioned_ssl_events';
const ADMIN_URL = process.env.TRACEFLEET_DB_TEST_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const DIR = join(ROOT, 'apps/controller/prisma/migrations');

async function admin(sql: string): Promise<void> {
  const c = new Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

let db: Client;

describe('migration partitioning ProfileSample (PostgreSQL)', { timeout: 120_000 }, () => {
  before(async () => {
    const u = new URL(serviceUrl('DATABASE_URL'));
    u.pathname = `/${NAME}`;
    await admin(`DROP DATABASE IF EXISTS ${ident(NAME)} WITH (FORCE)`);
    await admin(`CREATE DATABASE ${ident(NAME)} OWNER ${ident(decodeURIComponent(u.username))}`);
    db = new Client({ connectionString: u.toString() });
    await db.connect();
  });

  after(async () => {
    await db?.end();
    await admin(`DROP DATABASE IF EXISTS ${ident(NAME)} WITH (FORCE)`);
  });

  it('keeps every sample, in its profile day\'s partition, with the foreign keys', async () => {
    const all = readdirSync(DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    assert.ok(all.includes(MIGRATION) && all.includes(EVENTS_MIGRATION) && all.includes(SSL_MIGRATION));
    for (const m of all.filter((m) => m < MIGRATION)) await db.query(readFileSync(join(DIR, m, 'migration.sql'), 'utf8'));

    const node = (await db.query(`INSERT INTO "Node" ("id", "name", "kernelRelease", "btf", "protocolVersion", "capabilities", "agentVersion")
      VALUES (gen_random_uuid(), 'n1', '6.1', true, 1, '{cpu-profile}', 't') RETURNING "id"`)).rows[0].id;
    await db.query(`INSERT INTO "Stack" ("key", "frameIds") VALUES ('s1', '{1}'), ('s2', '{1,2}'), ('s3', '{3}')`);
    const days = ['2026-11-01', '2026-11-03'];
    const profiles: string[] = [];
    const runs: string[] = [];
    for (const day of days) {
      const job = (await db.query(`INSERT INTO "Job" ("id", "type", "durationSec", "status", "params", "createdAt") VALUES (gen_random_uuid(), 'cpu_profile', 1, 'completed', '{}', $1) RETURNING "id"`, [`${day} 10:00`])).rows[0].id;
      const run = (await db.query(`INSERT INTO "JobRun" ("id", "jobId", "nodeId") VALUES (gen_random_uuid(), $1, $2) RETURNING "id"`, [job, node])).rows[0].id;
      runs.push(run);
      profiles.push((await db.query(`INSERT INTO "Profile" ("id", "jobId", "runId", "createdAt") VALUES (gen_random_uuid(), $1, $2, $3) RETURNING "id"`, [job, run, `${day} 23:59:59`])).rows[0].id);
    }
    // Two origins of one stack in the first profile, two stacks in the second.
    await db.query(`INSERT INTO "ProfileSample" ("profileId", "stackId", "originId", "count")
      SELECT $1::uuid, s."id", 0, 5 FROM "Stack" s WHERE s."key" = 's1'
      UNION ALL SELECT $1::uuid, s."id", 7, 6 FROM "Stack" s WHERE s."key" = 's1'
      UNION ALL SELECT $2::uuid, s."id", 0, 8 FROM "Stack" s WHERE s."key" IN ('s1', 's2')`, profiles);
    const before = (await db.query(`SELECT "profileId", "stackId", "originId", "count"::int AS "count" FROM "ProfileSample" ORDER BY 1, 2, 3`)).rows;
    assert.equal(before.length, 4);

    // Events of both runs (the migrations in between, if any, run too).
    for (const run of runs) {
      await db.query(`INSERT INTO "UsdtEvent" ("runId", "probe", "pid", "tid", "tsNs", "args") VALUES ($1, 'gc__start', 1, 1, 10, '{1,2}'), ($1, 'gc__done', 1, 1, 20, NULL)`, [run]);
      await db.query(`INSERT INTO "OomKill" ("runId", "tsNs", "unixMs", "victimPid", "victimComm", "triggerPid", "triggerTid", "triggerComm", "uid", "oomScoreAdj",
        "totalVmKb", "anonRssKb", "fileRssKb", "shmemRssKb", "pgtablesKb", "loadavg") VALUES ($1, 1, 2, 3, 'v', 4, 5, 't', 0, 0, 1, 1, 1, 1, 1, '0.1')`, [run]);
    }
    const jobOfRun0 = (await db.query(`SELECT "jobId" FROM "JobRun" WHERE "id" = $1`, [runs[0]])).rows[0].jobId;
    await db.query(`INSERT INTO "SslEvent" ("jobId", "runId", "nodeName", "pid", "tid", "comm", "function", "direction", "ret", "length", "latencyNs", "sslPtr", "tsNs", "at",
      "data", "binary", "expiresAt") VALUES ($1, $2, 'n1', 1, 1, 'curl', 'SSL_read', 'read', 3, 3, 10, '0x1', 1, now(), '\\x616263', '/lib/libssl.so.3', now() + interval '1 day')`, [jobOfRun0, runs[0]]);
    const usdtBefore = (await db.query(`SELECT "id"::int AS "id", "runId", "probe", "args"::text AS "args" FROM "UsdtEvent" ORDER BY "id"`)).rows;

    for (const m of all.filter((m) => m >= MIGRATION && m <= SSL_MIGRATION)) await db.query(readFileSync(join(DIR, m, 'migration.sql'), 'utf8'));

    const rows = (await db.query(`SELECT "profileId", "stackId", "originId", "count"::int AS "count", to_char("day", 'YYYY-MM-DD') AS "day", tableoid::regclass::text AS "part"
      FROM "ProfileSample" ORDER BY 1, 2, 3`)).rows;
    assert.deepEqual(rows.map(({ profileId, stackId, originId, count }) => ({ profileId, stackId, originId, count })), before);
    for (const r of rows) {
      const day = days[profiles.indexOf(r.profileId)];
      assert.equal(r.day, day);
      assert.equal(r.part, `tf_partitions."ProfileSample_p${day.replace(/-/g, '')}"`);
    }
    const kind = (await db.query(`SELECT c.relkind::text AS k FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'ProfileSample'`)).rows;
    assert.deepEqual(kind, [{ k: 'p' }], 'public.ProfileSample is the partitioned table');
    assert.equal((await db.query(`SELECT to_regclass('"ProfileSample_unpartitioned"') AS r`)).rows[0].r, null, 'the old table is gone');

    // Foreign keys: a used stack cannot go; a profile's delete takes its samples.
    await assert.rejects(db.query(`DELETE FROM "Stack" WHERE "key" = 's1'`), /foreign key/);
    await db.query(`DELETE FROM "Profile" WHERE "id" = $1`, [profiles[0]]);
    assert.deepEqual((await db.query(`SELECT DISTINCT "profileId" FROM "ProfileSample"`)).rows, [{ profileId: profiles[1] }]);
    await assert.rejects(db.query(`INSERT INTO "ProfileSample" ("profileId", "stackId", "count") VALUES (gen_random_uuid(), 1, 1)`), /foreign key/);

    // Events: the same rows and ids, each in its job's day; new rows go on with the same sequence (today).
    const usdt = (await db.query(`SELECT "id"::int AS "id", "runId", "probe", "args"::text AS "args", to_char("day", 'YYYY-MM-DD') AS "day", tableoid::regclass::text AS "part"
      FROM "UsdtEvent" ORDER BY "id"`)).rows;
    assert.deepEqual(usdt.map(({ id, runId, probe, args }) => ({ id, runId, probe, args })), usdtBefore);
    for (const r of usdt) assert.equal(r.part, `tf_partitions."UsdtEvent_p${days[runs.indexOf(r.runId)].replace(/-/g, '')}"`);
    const added = (await db.query(`INSERT INTO "UsdtEvent" ("runId", "probe", "pid", "tid", "tsNs") VALUES ($1, 'p', 1, 1, 1) RETURNING "id"::int AS "id", tableoid::regclass::text AS "part"`, [runs[1]])).rows[0];
    assert.equal(added.id, usdtBefore.length + 1);
    assert.equal(added.part, 'tf_partitions."UsdtEvent_default"', 'no partition of today yet (the manager makes it at boot): the DEFAULT one');
    assert.equal((await db.query(`SELECT count(*)::int AS n FROM "OomKill"`)).rows[0].n, 2);
    const ssl = (await db.query(`SELECT "id"::int AS "id", encode("data", 'escape') AS "data", tableoid::regclass::text AS "part" FROM "SslEvent"`)).rows;
    assert.deepEqual(ssl, [{ id: 1, data: 'abc', part: `tf_partitions."SslEvent_p${days[0].replace(/-/g, '')}"` }]);
    await db.query(`DELETE FROM "JobRun" WHERE "id" = $1`, [runs[1]]);
    assert.deepEqual((await db.query(`SELECT DISTINCT "runId" FROM "UsdtEvent"`)).rows, [{ runId: runs[0] }], 'a run\'s delete cascades into its events');
    assert.deepEqual((await db.query(`SELECT DISTINCT "runId" FROM "OomKill"`)).rows, [{ runId: runs[0] }]);
  });
});
