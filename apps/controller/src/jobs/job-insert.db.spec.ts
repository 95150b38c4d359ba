// Storing a job and its runs in one statement (job-insert.ts) against a real PostgreSQL (a throwaway
// database): the row it answers is the row stored, runs of this replica's sessions are stored bound to
// them, the others pending, and a time zone other than UTC on the connection changes nothing.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { PrismaService } from '../prisma/prisma.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { insertJob } from './job-insert';

describe('storing a job with its runs in one statement (PostgreSQL)', { timeout: 120_000 }, () => {
  let db: ScratchDb;
  let prisma: PrismaService;
  const hostile = `n'); DELETE FROM "Job"; --`;

  before(async () => {
    db = await scratchDb('tracefleet_job_insert_test');
    prisma = db.prisma;
    for (const name of ['a', 'b', 'c', hostile]) {
      await prisma.node.create({ data: { name, kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't' } });
    }
  });

  after(async () => {
    await db?.drop();
  });

  it('stores the job as the ORM would and answers that row; runs of local sessions dispatched on them, the others pending', async () => {
    const incident = await prisma.incident.create({ data: { nodes: 'all', bundle: [], startAt: new Date('2026-12-06T10:00:00.123Z') } });
    const sa = randomUUID();
    const sh = randomUUID();
    const before = Date.now();
    const params = { type: 'cpu-profile', frequencyHz: 99, target: { pid: 42 }, skipped: [], dropped: undefined, label: 'ünï "q"' };
    const stored = await insertJob(
      prisma,
      { type: 'cpu_profile', durationSec: 7, params, incidentId: incident.id, startAt: incident.startAt },
      ['a', 'b', hostile, 'not-a-node'],
      new Map([
        ['a', sa],
        [hostile, sh],
        ['c', randomUUID()],
      ]),
    );
    const row = await prisma.job.findUniqueOrThrow({ where: { id: stored.job.id } });
    assert.deepEqual(stored.job, row, 'the answered Job is the stored row');
    assert.deepEqual(row.params, { type: 'cpu-profile', frequencyHz: 99, target: { pid: 42 }, skipped: [], label: 'ünï "q"' });
    assert.equal(row.status, 'queued');
    assert.equal(row.startAt?.toISOString(), '2026-12-06T10:00:00.123Z');
    assert.ok(row.createdAt.getTime() >= before && row.createdAt.getTime() <= Date.now(), 'createdAt is now');

    const runs = await prisma.jobRun.findMany({ where: { jobId: row.id }, include: { node: true } });
    const byName = new Map(runs.map((r) => [r.node.name, r]));
    assert.deepEqual([...byName.keys()].sort(), ['a', 'b', hostile].sort(), 'one run per named node that exists (c has a session but was not selected)');
    assert.deepEqual([byName.get('a')!.status, byName.get('a')!.sessionId], ['dispatched', sa]);
    assert.deepEqual([byName.get(hostile)!.status, byName.get(hostile)!.sessionId], ['dispatched', sh]);
    assert.deepEqual([byName.get('b')!.status, byName.get('b')!.sessionId], ['pending', null]);
    assert.deepEqual(
      stored.claimed.sort((x, y) => x.name.localeCompare(y.name)),
      [
        { id: byName.get('a')!.id, name: 'a', sessionId: sa },
        { id: byName.get(hostile)!.id, name: hostile, sessionId: sh },
      ].sort((x, y) => x.name.localeCompare(y.name)),
    );
    // A pending run carries its node's registry row as the insert read it (its dispatch routes by it).
    const b = byName.get('b')!.node;
    const nodeB = { id: b.id, name: 'b', status: b.status, lastSeenAt: b.lastSeenAt, replicaId: b.replicaId, sessionId: b.sessionId };
    assert.deepEqual(stored.pending, [{ id: byName.get('b')!.id, name: 'b', node: nodeB }]);
    assert.equal(await prisma.job.count(), 1, 'the hostile name was a value, not SQL');
  });

  it('stores a job whose nodes are all gone with no runs; keeps times in UTC whatever the connection time zone', async () => {
    await prisma.$executeRawUnsafe(`ALTER DATABASE tracefleet_job_insert_test SET timezone TO 'America/New_York'`);
    // A fresh connection takes the database's setting.
    await prisma.$disconnect();
    const tz = await prisma.$queryRaw<{ tz: string }[]>`SELECT current_setting('TimeZone') AS tz`;
    assert.equal(tz[0].tz, 'America/New_York');
    const startAt = new Date(Date.now() + 60_000);
    const stored = await insertJob(prisma, { type: 'memleak', durationSec: 3, params: {}, startAt }, ['no-such-node'], new Map());
    assert.deepEqual(stored.claimed, []);
    assert.deepEqual(stored.pending, []);
    const row = await prisma.job.findUniqueOrThrow({ where: { id: stored.job.id } });
    assert.deepEqual(stored.job, row);
    assert.equal(row.startAt?.getTime(), startAt.getTime());
    assert.ok(Math.abs(row.createdAt.getTime() - Date.now()) < 60_000, `createdAt ${row.createdAt.toISOString()} is not now`);
  });
});
