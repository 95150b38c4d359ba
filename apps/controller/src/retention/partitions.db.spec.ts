// Day partitions of ProfileSample against a real PostgreSQL: made ahead (idempotent, also with several
// replicas at once), samples land in their profile's day, the upsert still sums, retention drops an old day
// and keeps today's and a day a running job still writes into, and a row for a day with no partition lands in
// the DEFAULT partition and moves into the day's partition when it is made. Reads give the same answers.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PrismaService } from '../prisma/prisma.service';
import { ProfilesService } from '../profiles/profiles.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { sweepOldJobs } from './job-retention';
import { sweepExpired } from '../ssl/ssl-retention.service';
import {
  EVENT_TABLES,
  SSL_EVENTS,
  dropExpired,
  PARTITION_AHEAD_DAYS,
  PROFILE_SAMPLES,
  dropBefore,
  ensureAhead,
  ensurePartition,
  isoDay,
  listPartitions,
  partitionName,
  partitionStats,
  poolPartitionDb,
  type PartitionDb,
} from './partitions';

const DAY = 86_400_000;
const STRINGS = ['main', 'work', 'hot'];

let db: ScratchDb;
let prisma: PrismaService;
let pdb: PartitionDb;
let profiles: ProfilesService;
let nodeId: string;
const now = new Date();
const dayOf = (ageDays: number) => isoDay(new Date(now.getTime() - ageDays * DAY));

async function partitionNames(): Promise<string[]> {
  return (await pdb.transaction((sql) => listPartitions(sql, PROFILE_SAMPLES))).map((p) => p.name);
}

/** A job with one run and its profile created `ageDays` ago (the job a little before it). */
async function jobWithProfile(status: 'running' | 'completed' | 'queued', ageDays: number) {
  const createdAt = new Date(now.getTime() - ageDays * DAY);
  const job = await prisma.job.create({
    data: { type: 'cpu_profile', durationSec: 1, status, params: {}, createdAt: new Date(createdAt.getTime() - 60_000), runs: { create: [{ nodeId, status: status === 'completed' ? 'completed' : 'running' }] } },
    include: { runs: true },
  });
  await prisma.profile.create({ data: { jobId: job.id, runId: job.runs[0].id, createdAt } });
  return { jobId: job.id, runId: job.runs[0].id };
}

const add = (jobId: string, runId: string, count: bigint, frames = [0, 1, 2]) =>
  prisma.$transaction((tx) => profiles.addCounts(tx, jobId, runId, STRINGS, [{ frames, count }], false));

/** Where each of the job's sample rows is stored (partition name) and its day and count. */
async function rowsOf(jobId: string) {
  return prisma.$queryRaw<{ part: string; day: string; count: bigint }[]>`
    SELECT c.relname AS "part", to_char(ps."day", 'YYYY-MM-DD') AS "day", ps."count"
    FROM "ProfileSample" ps JOIN pg_class c ON c.oid = ps.tableoid JOIN "Profile" p ON p."id" = ps."profileId"
    WHERE p."jobId" = ${jobId}::uuid ORDER BY ps."stackId"`;
}

describe('day partitions of ProfileSample (PostgreSQL)', { timeout: 180_000 }, () => {
  before(async () => {
    db = await scratchDb('tracefleet_partitions_test');
    prisma = db.prisma;
    pdb = poolPartitionDb(prisma.pool);
    profiles = new ProfilesService(prisma);
    nodeId = (await prisma.node.create({ data: { name: 'n1', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: ['cpu-profile'], agentVersion: 't' } })).id;
  });

  after(async () => {
    await db?.drop();
  });

  it('the migration leaves only the DEFAULT partition, in the tf_partitions schema', async () => {
    assert.deepEqual(await partitionNames(), ['ProfileSample_default']);
    const [row] = await prisma.$queryRaw<{ schema: string; kind: string }[]>`
      SELECT n.nspname AS "schema", c.relkind::text AS "kind" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'ProfileSample_default'`;
    assert.deepEqual(row, { schema: 'tf_partitions', kind: 'r' });
  });

  it('makes today and the days ahead, once, also when replicas ask at the same time', async () => {
    const first = await ensureAhead(pdb, PROFILE_SAMPLES, now);
    const want = Array.from({ length: PARTITION_AHEAD_DAYS + 1 }, (_, i) => partitionName(PROFILE_SAMPLES, dayOf(-i)));
    assert.deepEqual(first.created, want);
    assert.deepEqual((await ensureAhead(pdb, PROFILE_SAMPLES, now)).created, [], 'a second run makes nothing');
    // Three replicas at once, a month ahead: each day is made exactly once, nobody fails.
    const later = new Date(now.getTime() + 30 * DAY);
    const runs = await Promise.all([1, 2, 3].map(() => ensureAhead(pdb, PROFILE_SAMPLES, later)));
    assert.equal(runs.flatMap((r) => r.created).length, PARTITION_AHEAD_DAYS + 1);
    const names = await partitionNames();
    for (const n of want) assert.ok(names.includes(n), `${n} exists`);
    assert.equal(names.length, 2 * (PARTITION_AHEAD_DAYS + 1) + 1);
  });

  it('stores samples in their profile day\'s partition, sums the upsert, replaces (memleak), and reads the same', async () => {
    await ensurePartition(pdb, PROFILE_SAMPLES, dayOf(3));
    const { jobId, runId } = await jobWithProfile('running', 3);
    await add(jobId, runId, 5n);
    await add(jobId, runId, 7n); // the same stack again: one row, counts summed
    await add(jobId, runId, 2n, [0, 1]);
    const rows = await rowsOf(jobId);
    assert.deepEqual(
      rows.map((r) => [r.part, r.day, Number(r.count)]),
      [
        [partitionName(PROFILE_SAMPLES, dayOf(3)), dayOf(3), 12],
        [partitionName(PROFILE_SAMPLES, dayOf(3)), dayOf(3), 2],
      ],
    );
    const stacks = await profiles.stacks(jobId);
    assert.deepEqual(
      stacks.map((s) => [s.frames.join(';'), Number(s.count)]).sort(),
      [
        ['main;work', 2],
        ['main;work;hot', 12],
      ],
    );
    // ingestMany (the agents' path) as well: into the same day, counts added to the same rows.
    const batches = [{ runId, seq: 1n, strings: STRINGS, stacks: [{ frames: [0, 1, 2], count: 3n, origin: 0 }], origins: [] } as never];
    const stored = await profiles.ingestMany([{ jobId, runId, batches, progress: { lastSeq: 1n, batches: 1, gaps: 0 } }]);
    assert.equal(stored.get(runId), 3n);
    assert.deepEqual((await rowsOf(jobId)).map((r) => Number(r.count)).sort((a, b) => a - b), [2, 15]);
    assert.ok((await rowsOf(jobId)).every((r) => r.part === partitionName(PROFILE_SAMPLES, dayOf(3))));
    // memleak's replace: the profile's rows become the snapshot's, still in its day.
    await prisma.$transaction((tx) => profiles.addCounts(tx, jobId, runId, STRINGS, [{ frames: [0, 1, 2], count: 4n }], true));
    assert.deepEqual((await rowsOf(jobId)).map((r) => [r.part, Number(r.count)]), [[partitionName(PROFILE_SAMPLES, dayOf(3)), 4]]);
  });

  it('a day with no partition yet lands in DEFAULT and moves into the day when it is made', async () => {
    const day = dayOf(12);
    assert.ok(!(await partitionNames()).includes(partitionName(PROFILE_SAMPLES, day)));
    const { jobId, runId } = await jobWithProfile('running', 12);
    await add(jobId, runId, 4n);
    await add(jobId, runId, 1n);
    assert.deepEqual((await rowsOf(jobId)).map((r) => [r.part, r.day, Number(r.count)]), [['ProfileSample_default', day, 5]]);
    assert.deepEqual(await pdb.transaction((sql) => partitionStats(sql, PROFILE_SAMPLES)).then((s) => s.defaultRows), 1);
    const made = await ensurePartition(pdb, PROFILE_SAMPLES, day);
    assert.deepEqual(made, { created: true, moved: 1 });
    assert.deepEqual((await rowsOf(jobId)).map((r) => [r.part, r.day, Number(r.count)]), [[partitionName(PROFILE_SAMPLES, day), day, 5]]);
    assert.equal(await pdb.transaction((sql) => partitionStats(sql, PROFILE_SAMPLES)).then((s) => s.defaultRows), 0);
    // Writes after the move go to the new partition and still sum.
    await add(jobId, runId, 2n);
    assert.deepEqual((await rowsOf(jobId)).map((r) => [r.part, Number(r.count)]), [[partitionName(PROFILE_SAMPLES, day), 7]]);
  });

  it('retention drops an old day, keeps a day a running job still has rows in and the current days', async () => {
    for (const age of [40, 41]) await ensurePartition(pdb, PROFILE_SAMPLES, dayOf(age));
    const done40 = await jobWithProfile('completed', 40);
    const done41 = await jobWithProfile('completed', 41);
    const running41 = await jobWithProfile('running', 41);
    const recent = await jobWithProfile('completed', 0);
    for (const j of [done40, done41, running41, recent]) await add(j.jobId, j.runId, 3n);

    const cutoff = new Date(now.getTime() - 30 * DAY);
    const before = await partitionNames();
    const r = await dropBefore(pdb, PROFILE_SAMPLES, cutoff);
    assert.deepEqual(r, { dropped: [partitionName(PROFILE_SAMPLES, dayOf(40))], kept: [partitionName(PROFILE_SAMPLES, dayOf(41))] });
    assert.deepEqual(await partitionNames(), before.filter((n) => n !== partitionName(PROFILE_SAMPLES, dayOf(40))));
    assert.deepEqual(await rowsOf(done40.jobId), [], 'the dropped day\'s rows are gone');
    assert.equal((await rowsOf(running41.jobId))[0].count, 3n, 'the running job keeps its rows');
    assert.equal((await rowsOf(recent.jobId))[0].count, 3n, 'today\'s rows stay');

    // The row deletes then take the ended old jobs (done41's rows by cascade out of the kept partition).
    const swept = await sweepOldJobs(prisma, cutoff);
    assert.equal(swept.jobs, 2);
    assert.deepEqual(await rowsOf(done41.jobId), []);
    assert.equal((await rowsOf(running41.jobId))[0].count, 3n);

    // Once the job is over, the next tick drops its day too; nothing past the cutoff is left but DEFAULT.
    await prisma.job.update({ where: { id: running41.jobId }, data: { status: 'completed' } });
    assert.deepEqual(await dropBefore(pdb, PROFILE_SAMPLES, cutoff), { dropped: [partitionName(PROFILE_SAMPLES, dayOf(41))], kept: [] });
    const left = await pdb.transaction((sql) => listPartitions(sql, PROFILE_SAMPLES));
    assert.ok(left.every((p) => p.to === undefined || p.to > isoDay(cutoff)));
    assert.ok(left.some((p) => p.from === undefined), 'the DEFAULT partition is never dropped');
  });
  it('the event tables: stored rows land in their day, ids stay ordered, retention drops an old day unless a running job has rows in it', async () => {
    const run = async (status: 'completed' | 'running', ageDays: number) =>
      (await prisma.job.create({
        data: { type: 'tcp', durationSec: 1, status, params: {}, createdAt: new Date(now.getTime() - ageDays * DAY), runs: { create: [{ nodeId, status: 'completed' }] } },
        include: { runs: true },
      })).runs[0].id;
    const ended40 = await run('completed', 40);
    const ended41 = await run('completed', 41);
    const running41 = await run('running', 41);
    const today = await run('running', 0);
    const cutoff = new Date(now.getTime() - 30 * DAY);
    for (const t of EVENT_TABLES.filter((e) => e !== SSL_EVENTS)) {
      assert.equal((await ensureAhead(pdb, t, now)).created.length, PARTITION_AHEAD_DAYS + 1, t.table);
      for (const age of [40, 41]) await ensurePartition(pdb, t, dayOf(age));
      // One row per (run, day); the columns the test does not care about get a value of their type.
      const cols = await prisma.$queryRaw<{ name: string; type: string }[]>`
        SELECT column_name AS "name", data_type AS "type" FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = ${t.table} AND is_nullable = 'NO' AND column_default IS NULL AND column_name <> 'runId'`;
      const value = (type: string) => (type === 'text' ? `'x'` : type === 'boolean' ? 'false' : '1');
      const insert = (runId: string, day?: string) =>
        prisma.$executeRawUnsafe(
          `INSERT INTO "${t.table}" ("runId"${day ? ', "day"' : ''}${cols.map((c) => `, "${c.name}"`).join('')})
           VALUES ($1::uuid${day ? `, '${day}'::date` : ''}${cols.map((c) => `, ${value(c.type)}`).join('')})`,
          runId,
        );
      await insert(ended40, dayOf(40));
      await insert(ended41, dayOf(41));
      await insert(running41, dayOf(41));
      await insert(today); // the default day: today
      await insert(today);
      const rows = await prisma.$queryRawUnsafe<{ id: bigint; part: string; runId: string }[]>(
        `SELECT e."id", c.relname AS "part", e."runId"::text AS "runId" FROM "${t.table}" e JOIN pg_class c ON c.oid = e.tableoid ORDER BY e."id"`,
      );
      assert.deepEqual(
        rows.map((r) => r.part),
        [dayOf(40), dayOf(41), dayOf(41), dayOf(0), dayOf(0)].map((d) => partitionName(t, d)),
        `${t.table}: each row in its day`,
      );
      assert.deepEqual(rows.map((r) => Number(r.id)), [1, 2, 3, 4, 5], `${t.table}: one sequence across partitions`);

      assert.deepEqual(await dropBefore(pdb, t, cutoff), { dropped: [partitionName(t, dayOf(40))], kept: [partitionName(t, dayOf(41))] }, t.table);
      const left = await prisma.$queryRawUnsafe<{ runId: string }[]>(`SELECT "runId"::text AS "runId" FROM "${t.table}" ORDER BY "id"`);
      assert.deepEqual(left.map((r) => r.runId), [ended41, running41, today, today], `${t.table}: only the dropped day's row is gone`);
    }
    // Prisma's reads over the partitioned parent (the tcp read path's shape: by run, ordered by id, after a cursor).
    const page = await prisma.tcpConnection.findMany({ where: { run: { jobId: (await prisma.jobRun.findUniqueOrThrow({ where: { id: today } })).jobId } }, orderBy: { id: 'asc' }, take: 1 });
    const next = await prisma.tcpConnection.findMany({ where: { runId: today, id: { gt: page[0].id } }, orderBy: { id: 'asc' } });
    assert.deepEqual([...page, ...next].map((r) => Number(r.id)), [4, 5]);
    // Job retention then cascades the ended runs' rows out of the kept partitions.
    await sweepOldJobs(prisma, cutoff);
    for (const t of EVENT_TABLES.filter((e) => e !== SSL_EVENTS)) {
      const left = await prisma.$queryRawUnsafe<{ runId: string }[]>(`SELECT "runId"::text AS "runId" FROM "${t.table}" ORDER BY "id"`);
      assert.deepEqual(left.map((r) => r.runId), [running41, today, today], t.table);
    }
  });
  it('SslEvent: its expiry sweep drops a past day whose events all expired, keeps a day with a live one and today', async () => {
    const job = await prisma.job.create({ data: { type: 'ssl_capture', durationSec: 1, status: 'running', params: {}, runs: { create: [{ nodeId, status: 'running' }] } }, include: { runs: true } });
    await ensureAhead(pdb, SSL_EVENTS, now);
    for (const age of [5, 6]) await ensurePartition(pdb, SSL_EVENTS, dayOf(age));
    const event = (day: string | null, expiresAt: Date) =>
      prisma.$executeRawUnsafe(
        `INSERT INTO "SslEvent" ("jobId", "runId", "nodeName", "pid", "tid", "comm", "function", "direction", "ret", "length", "latencyNs", "sslPtr", "tsNs", "at",
                                 "data", "binary", "expiresAt", "day")
         VALUES ($1::uuid, $2::uuid, 'n1', 1, 1, 'curl', 'SSL_write', 'write', 3, 3, 10, '0x1', 1, now(), '\\x616263', '/lib/libssl.so.3', $3, coalesce($4::date, (now() AT TIME ZONE 'UTC')::date))`,
        job.id,
        job.runs[0].id,
        expiresAt,
        day,
      );
    const past = new Date(now.getTime() - 60_000);
    const future = new Date(now.getTime() + DAY);
    await event(dayOf(6), past); // day 6: every event expired
    await event(dayOf(6), past);
    await event(dayOf(5), past); // day 5: one expired, one not
    await event(dayOf(5), future);
    await event(null, past); // today: expired, but today's partition still takes rows
    const r = await dropExpired(pdb, now);
    assert.deepEqual(r, { dropped: [partitionName(SSL_EVENTS, dayOf(6))], kept: [partitionName(SSL_EVENTS, dayOf(5))] });
    // The row sweep takes the expired rows left (one of day 5, today's), through the partitioned parent.
    assert.equal((await sweepExpired(prisma)).deleted, 2);
    const left = await prisma.$queryRaw<{ part: string }[]>`SELECT c.relname AS "part" FROM "SslEvent" e JOIN pg_class c ON c.oid = e.tableoid`;
    assert.deepEqual(left.map((x) => x.part), [partitionName(SSL_EVENTS, dayOf(5))]);
    // The job's read path (by job, ordered by id) still sees the row.
    assert.equal((await prisma.sslEvent.findMany({ where: { jobId: job.id }, orderBy: { id: 'asc' } })).length, 1);
  });
});
