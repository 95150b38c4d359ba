// The lean read of a job's runs (job-runs.read.ts) against a real PostgreSQL (a throwaway database): what
// it returns must be what the ORM's include returns, field for field, for runs with every column set, so
// that a column added (or renamed with @map) later cannot go missing from the job views unnoticed.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Prisma } from '../generated/prisma/client';
import type { PrismaService } from '../prisma/prisma.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { jobWithRuns, runsWithNodes } from './job-runs.read';
import { toJobView } from './job.view';

describe('the lean read of job runs (PostgreSQL)', { timeout: 120_000 }, () => {
  let db: ScratchDb;
  let prisma: PrismaService;
  const jobIds: string[] = [];

  before(async () => {
    db = await scratchDb('tracefleet_job_runs_read_test');
    prisma = db.prisma;
    const nodes = [];
    // Hostile node names come back as they are (they are parameters, never SQL).
    for (const name of ['node-b', 'node-a', `x'); DROP TABLE "JobRun"; --`]) {
      nodes.push(await prisma.node.create({ data: { name, kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't' } }));
    }
    for (const type of ['ssl_capture', 'cpu_profile'] as const) {
      const job = await prisma.job.create({ data: { type, durationSec: 5, params: { type } } });
      jobIds.push(job.id);
      for (const [i, node] of nodes.entries()) {
        // Every column away from its default (the first run of each job), defaults for the others.
        const full = i === 0;
        await prisma.jobRun.create({
          data: {
            jobId: job.id,
            nodeId: node.id,
            ...(full
              ? {
                  status: 'completed',
                  reason: 'target pid 7 exited; "quoted" ünïcode',
                  targetExited: true,
                  samplesTaken: 9_007_199_254_740_993n,
                  samplesDroppedKernel: 2n,
                  samplesDroppedAgent: 3n,
                  samplesLostTransit: 4n,
                  samplesReceived: 5n,
                  batchesReceived: 6,
                  seqGaps: 7,
                  lastSeq: 8n,
                  batchesNotStored: 9,
                  storeError: 'deadlock detected',
                  attached: ['python:gc__start in /usr/bin/python3.11 (pid 42)', 'b'],
                  sslReport: { eventsSeen: 11, eventsSent: 10, noOpenssl: ['pid 9'] },
                  sslBytesStored: 12n,
                  eventsRefused: 13n,
                  sslBytesRefused: 14n,
                  unwindStats: { stacks: 15, complete: 14, cut: { noTable: 1 } },
                  duplicatesDropped: 16,
                  batchesSpooled: 17n,
                  batchesOverflowed: 18n,
                  sessionId: randomUUID(),
                  startedAt: new Date('2026-12-06T09:00:00.123Z'),
                  finishedAt: new Date('2026-12-06T09:00:05.456Z'),
                }
              : {}),
          },
        });
      }
    }
    await prisma.job.create({ data: { type: 'memleak', durationSec: 5, params: {} } }).then((j) => jobIds.push(j.id));
  });

  after(async () => {
    await db?.drop();
  });

  const byId = <T extends { id: string }>(rows: T[]): T[] => [...rows].sort((a, b) => a.id.localeCompare(b.id));

  it('returns every field of every run, with its node name, exactly as the ORM include does', async () => {
    for (const id of jobIds) {
      const orm = await prisma.job.findUnique({ where: { id }, include: { runs: { include: { node: { select: { name: true } } } } } });
      const lean = await jobWithRuns(prisma, id);
      assert.ok(orm && lean);
      assert.deepEqual(byId(lean.runs), byId(orm.runs));
      assert.deepEqual(toJobView(lean), toJobView(orm));
    }
    const full = (await jobWithRuns(prisma, jobIds[0]))!.runs.find((r) => r.status === 'completed')!;
    // Every scalar field the schema has (a field added later is checked too), and nothing else but the node.
    assert.deepEqual(Object.keys(full).sort(), [...Object.keys(Prisma.JobRunScalarFieldEnum), 'node'].sort());
    assert.equal(full.eventsRefused, 13n, 'the @map column sslEventsRefused is read back as eventsRefused');
    assert.equal(full.samplesTaken, 9_007_199_254_740_993n);
    assert.equal(full.node.name, 'node-b');
    const names = (await jobWithRuns(prisma, jobIds[0]))!.runs.map((r) => r.node.name).sort();
    assert.deepEqual(names, [`x'); DROP TABLE "JobRun"; --`, 'node-a', 'node-b'].sort());
  });

  it('groups the runs of several jobs by job; a job without runs has none; an unknown job is null', async () => {
    const stranger = randomUUID();
    const m = await runsWithNodes(prisma, [...jobIds, stranger]);
    assert.deepEqual(
      [...m].map(([id, runs]) => [id, runs.length]),
      [[jobIds[0], 3], [jobIds[1], 3], [jobIds[2], 0], [stranger, 0]],
    );
    for (const [id, runs] of m) for (const r of runs) assert.equal(r.jobId, id);
    assert.deepEqual(await runsWithNodes(prisma, []), new Map());
    assert.equal(await jobWithRuns(prisma, stranger), null);
    assert.equal((await jobWithRuns(prisma, jobIds[2]))!.runs.length, 0);
  });
});
