// Job retention against a real PostgreSQL: ended jobs older than the cutoff go with everything they
// stored; running jobs, newer jobs and incidents that still hold a job or a report stay.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PrismaService } from '../prisma/prisma.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { sweepOldJobs } from './job-retention';

let db: ScratchDb;
let prisma: PrismaService;
let nodeId: string;

const DAY = 86_400_000;

async function job(status: 'queued' | 'running' | 'completed' | 'partial' | 'failed', ageDays: number, incidentId?: string) {
  const createdAt = new Date(Date.now() - ageDays * DAY);
  const j = await prisma.job.create({
    data: {
      type: 'cpu_profile',
      durationSec: 1,
      status,
      params: {},
      createdAt,
      incidentId,
      runs: { create: [{ nodeId, status: status === 'completed' ? 'completed' : 'running' }] },
    },
    include: { runs: true },
  });
  // A stored result, to see the cascade take it too.
  const frame = await prisma.frame.upsert({ where: { key: 'k-hot' }, create: { key: 'k-hot', name: 'hot_spin', kind: 'user' }, update: {} });
  const stack = await prisma.stack.upsert({ where: { key: 's-hot' }, create: { key: 's-hot', frameIds: [frame.id] }, update: {} });
  await prisma.profile.create({ data: { jobId: j.id, runId: j.runs[0].id, totalSamples: 5n, samples: { create: [{ stackId: stack.id, count: 5n }] } } });
  return j.id;
}

describe('job retention (PostgreSQL)', { timeout: 120_000 }, () => {
  before(async () => {
    db = await scratchDb('tracefleet_retention_test');
    prisma = db.prisma;
    nodeId = (await prisma.node.create({ data: { name: 'n1', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: ['cpu-profile'], agentVersion: 't' } })).id;
  });

  after(async () => {
    await db?.drop();
  });

  it('deletes ended jobs past the cutoff with their runs and results, keeps the rest', async () => {
    const oldDone = await job('completed', 40);
    const oldFailed = await job('failed', 40);
    const oldRunning = await job('running', 40);
    const recent = await job('completed', 1);
    const oldIncident = await prisma.incident.create({ data: { nodes: 'all', bundle: [], startAt: new Date(Date.now() - 40 * DAY), createdAt: new Date(Date.now() - 40 * DAY) } });
    const incidentJob = await job('partial', 40, oldIncident.id);
    const keptIncident = await prisma.incident.create({ data: { nodes: 'all', bundle: [], startAt: new Date(Date.now() - 40 * DAY), createdAt: new Date(Date.now() - 40 * DAY) } });
    const runningInKept = await job('running', 40, keptIncident.id);

    const cutoff = new Date(Date.now() - 30 * DAY);
    const result = await sweepOldJobs(prisma, cutoff, 2, 10); // batches of 2: the loop runs more than once
    assert.deepEqual(result, { jobs: 3, incidents: 1, more: false });

    const left = new Set((await prisma.job.findMany({ select: { id: true } })).map((j) => j.id));
    assert.deepEqual([...left].sort(), [oldRunning, recent, runningInKept].sort());
    for (const gone of [oldDone, oldFailed, incidentJob]) {
      assert.equal(await prisma.jobRun.count({ where: { jobId: gone } }), 0, 'runs go with their job');
      assert.equal(await prisma.profile.count({ where: { jobId: gone } }), 0, 'profiles go with their job');
    }
    assert.equal(await prisma.incident.count({ where: { id: oldIncident.id } }), 0, 'an emptied old incident goes');
    assert.equal(await prisma.incident.count({ where: { id: keptIncident.id } }), 1, 'an incident with a running job stays');

    assert.deepEqual(await sweepOldJobs(prisma, cutoff), { jobs: 0, incidents: 0, more: false }, 'a second sweep finds nothing');
  });
});
