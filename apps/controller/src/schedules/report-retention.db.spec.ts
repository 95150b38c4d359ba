// Report retention against a real PostgreSQL (127.0.0.1:5432): which reports the sweep picks (past a
// schedule's keepReports, or older than the retention days; never pending ones) and that deleting them
// takes their ticks' incidents and jobs along. Creates a throwaway database with the committed
// migrations and drops it at the end; PostgreSQL being down is a failure that names it.
//
// The database belongs to the tracefleet role of DATABASE_URL (.env); TRACEFLEET_DB_TEST_ADMIN_URL (default
// postgresql://postgres@127.0.0.1:5432/postgres) only creates and drops it (testing/scratch-db.ts).
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { deleteReports, expiredReports } from './report-retention.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';

const DB = 'tracefleet_reports_test';
let db: ScratchDb;

let prisma: PrismaService;
let nodeId: string;

/** A schedule tick as the controller leaves it: an incident with one job and run, and its report. */
async function tick(scheduleId: string, seq: number, opts: { status?: 'pending' | 'ready' | 'failed'; ageDays?: number; baseReportId?: string } = {}) {
  const createdAt = new Date(Date.now() - (opts.ageDays ?? 0) * 86_400_000);
  const inc = await prisma.incident.create({ data: { nodes: 'all', bundle: [], startAt: createdAt, createdAt, scheduleId } });
  await prisma.job.create({
    data: { type: 'cpu_profile', durationSec: 1, status: 'completed', params: {}, incidentId: inc.id, scheduleId, runs: { create: [{ nodeId, status: 'completed' }] } },
  });
  return prisma.report.create({ data: { scheduleId, seq, incidentId: inc.id, status: opts.status ?? 'ready', createdAt, baseReportId: opts.baseReportId } });
}

describe('report retention (PostgreSQL)', { timeout: 120_000 }, () => {
  before(async () => {
    db = await scratchDb(DB);
    prisma = db.prisma;
    nodeId = (await prisma.node.create({ data: { name: 'n1', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: ['cpu-profile'], agentVersion: 't' } })).id;
  });

  after(async () => {
    await db?.drop();
  });

  it('picks reports past keepReports or the age limit, never pending ones, and deletes them with their jobs', async () => {
    const a = await prisma.schedule.create({ data: { everyMs: 6000, nodes: 'all', bundle: [], keepReports: 2 } });
    const b = await prisma.schedule.create({ data: { everyMs: 6000, nodes: 'all', bundle: [], keepReports: 100 } });
    const a1 = await tick(a.id, 1);
    const a2 = await tick(a.id, 2, { status: 'failed', baseReportId: a1.id });
    const a3 = await tick(a.id, 3, { baseReportId: a1.id });
    const a4 = await tick(a.id, 4, { baseReportId: a3.id });
    const b1 = await tick(b.id, 1, { ageDays: 40 });
    const b2 = await tick(b.id, 2, { ageDays: 40, status: 'pending' });
    const b3 = await tick(b.id, 3, { ageDays: 10, baseReportId: b1.id });

    const picked = await expiredReports(prisma, 30, 100);
    assert.deepEqual(picked.map((r) => r.id).sort(), [a1.id, a2.id, b1.id].sort());
    assert.deepEqual((await expiredReports(prisma, 30, 100, b.id)).map((r) => r.id), [b1.id]);
    assert.equal((await expiredReports(prisma, 30, 1)).length, 1);

    assert.equal(await deleteReports(prisma, picked), 3);
    const left = await prisma.report.findMany({ orderBy: [{ scheduleId: 'asc' }, { seq: 'asc' }] });
    assert.deepEqual(left.map((r) => r.id).sort(), [a3.id, a4.id, b2.id, b3.id].sort());
    // A kept report whose base was deleted only loses the link.
    assert.equal(left.find((r) => r.id === a3.id)!.baseReportId, null);
    assert.equal(left.find((r) => r.id === b3.id)!.baseReportId, null);
    assert.equal(left.find((r) => r.id === a4.id)!.baseReportId, a3.id);
    // The deleted ticks' incidents, jobs and runs are gone; the others stay.
    const gone = picked.map((r) => r.incidentId!);
    assert.equal(await prisma.incident.count({ where: { id: { in: gone } } }), 0);
    assert.equal(await prisma.job.count({ where: { incidentId: { in: gone } } }), 0);
    assert.equal(await prisma.job.count(), 4);
    assert.equal(await prisma.jobRun.count(), 4);
    assert.deepEqual(await expiredReports(prisma, 30, 100), []);
  });
});
