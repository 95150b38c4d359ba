// Run starts written together (run-starts.ts) against a real PostgreSQL (a throwaway database): many
// starts in one statement move only the reporting node's own active runs, their jobs take the earliest
// start, hostile run ids and other nodes' runs change nothing, and times stay UTC in any session time zone.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { PrismaService } from '../prisma/prisma.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { holdGate } from '../testing/hold-gate';
import { RunStarts } from './run-starts';

describe('run starts written together (PostgreSQL)', { timeout: 120_000 }, () => {
  let db: ScratchDb;
  let prisma: PrismaService;
  const nodes = new Map<string, string>();

  before(async () => {
    db = await scratchDb('tracefleet_run_starts_test');
    prisma = db.prisma;
    await prisma.$executeRawUnsafe(`ALTER DATABASE tracefleet_run_starts_test SET timezone TO 'America/New_York'`);
    await prisma.$disconnect();
    for (const name of ['a', 'b', 'c', 'd']) {
      const n = await prisma.node.create({ data: { name, kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't' } });
      nodes.set(name, n.id);
    }
  });

  after(async () => {
    await db?.drop();
  });

  const job = async (on: string[], status: 'queued' | 'running' = 'queued') => {
    const j = await prisma.job.create({ data: { type: 'cpu_profile', durationSec: 5, params: {}, status } });
    const runs = new Map<string, string>();
    for (const name of on) runs.set(name, (await prisma.jobRun.create({ data: { jobId: j.id, nodeId: nodes.get(name)!, status: 'dispatched' } })).id);
    return { id: j.id, runs };
  };

  it('starts the runs of several jobs in one go; each job takes its earliest start, in UTC', async () => {
    const tz = await prisma.$queryRaw<{ tz: string }[]>`SELECT current_setting('TimeZone') AS tz`;
    assert.equal(tz[0].tz, 'America/New_York');
    const j1 = await job(['a', 'b', 'c']);
    const j2 = await job(['d']);
    const starts = new RunStarts(prisma);
    const t = (ms: number) => new Date(Date.UTC(2026, 11, 6, 12, 0, 0, ms));
    // Starts that wait for a slot together are one statement (an idle replica writes each as it comes).
    const release = holdGate(prisma.storeGate);
    const done = Promise.all([
      starts.start({ nodeId: nodes.get('b')!, runId: j1.runs.get('b')!, at: t(250) }),
      starts.start({ nodeId: nodes.get('a')!, runId: j1.runs.get('a')!, at: t(120) }),
      starts.start({ nodeId: nodes.get('d')!, runId: j2.runs.get('d')!.toUpperCase(), at: t(999) }),
    ]);
    await release();
    await done;
    const runs = await prisma.jobRun.findMany({ where: { jobId: { in: [j1.id, j2.id] } }, include: { node: true } });
    const byName = new Map(runs.map((r) => [r.node.name, r]));
    assert.deepEqual([byName.get('a')!.status, byName.get('a')!.startedAt?.toISOString()], ['running', '2026-12-06T12:00:00.120Z']);
    assert.deepEqual([byName.get('b')!.status, byName.get('b')!.startedAt?.toISOString()], ['running', '2026-12-06T12:00:00.250Z']);
    assert.deepEqual([byName.get('c')!.status, byName.get('c')!.startedAt], ['dispatched', null], 'c sent nothing');
    assert.deepEqual([byName.get('d')!.status, byName.get('d')!.startedAt?.toISOString()], ['running', '2026-12-06T12:00:00.999Z']);
    const jobs = new Map((await prisma.job.findMany({ where: { id: { in: [j1.id, j2.id] } } })).map((j) => [j.id, j]));
    assert.deepEqual([jobs.get(j1.id)!.status, jobs.get(j1.id)!.startedAt?.toISOString()], ['running', '2026-12-06T12:00:00.120Z'], 'the earliest start');
    assert.deepEqual([jobs.get(j2.id)!.status, jobs.get(j2.id)!.startedAt?.toISOString()], ['running', '2026-12-06T12:00:00.999Z']);
  });

  it('changes nothing for a start from another node, of an ended run, of a running job, or with a hostile run id', async () => {
    const j = await job(['a', 'b']);
    await prisma.jobRun.update({ where: { id: j.runs.get('b')! }, data: { status: 'completed' } });
    const running = await job(['c'], 'running');
    const before = await prisma.job.findUniqueOrThrow({ where: { id: running.id } });
    const starts = new RunStarts(prisma);
    const at = new Date('2026-12-06T12:30:00.000Z');
    await Promise.all([
      // b reports a's run: not its own.
      starts.start({ nodeId: nodes.get('b')!, runId: j.runs.get('a')!, at }),
      starts.start({ nodeId: nodes.get('b')!, runId: j.runs.get('b')!, at }),
      starts.start({ nodeId: nodes.get('c')!, runId: running.runs.get('c')!, at }),
      starts.start({ nodeId: nodes.get('a')!, runId: `'); UPDATE "JobRun" SET "status" = 'failed'; --`, at }),
      starts.start({ nodeId: nodes.get('a')!, runId: randomUUID(), at }),
    ]);
    const runs = new Map((await prisma.jobRun.findMany({ where: { jobId: { in: [j.id, running.id] } } })).map((r) => [r.id, r]));
    assert.deepEqual([runs.get(j.runs.get('a')!)!.status, runs.get(j.runs.get('a')!)!.startedAt], ['dispatched', null], "another node's report moves nothing");
    assert.equal(runs.get(j.runs.get('b')!)!.status, 'completed', 'an ended run stays ended');
    assert.equal(runs.get(running.runs.get('c')!)!.status, 'running');
    assert.equal((await prisma.job.findUniqueOrThrow({ where: { id: j.id } })).status, 'queued', 'no run of it started');
    assert.deepEqual(await prisma.job.findUniqueOrThrow({ where: { id: running.id } }), before, 'a running job keeps its first start');
    assert.equal(await prisma.jobRun.count({ where: { status: 'failed' } }), 0, 'the hostile id was never SQL');
  });

  it('writes a thousand starts that wait for a slot together in two statements', async () => {
    const j = await prisma.job.create({ data: { type: 'cpu_profile', durationSec: 5, params: {} } });
    const many: { nodeId: string; runId: string }[] = [];
    for (let i = 0; i < 1000; i++) {
      const n = await prisma.node.create({ data: { name: `m${i}`, kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't' } });
      many.push({ nodeId: n.id, runId: randomUUID() });
    }
    await prisma.jobRun.createMany({ data: many.map((m) => ({ id: m.runId, jobId: j.id, nodeId: m.nodeId, status: 'dispatched' as const })) });
    let statements = 0;
    const counting = new Proxy(prisma, {
      get(target, key, recv) {
        if (key === '$queryRaw') statements++;
        return Reflect.get(target, key, recv);
      },
    });
    const starts = new RunStarts(counting);
    const release = holdGate(prisma.storeGate);
    const done = Promise.all(many.map((m) => starts.start({ ...m, at: new Date() })));
    await release();
    await done;
    assert.equal(await prisma.jobRun.count({ where: { jobId: j.id, status: 'running' } }), 1000);
    assert.equal(statements, 2, `${statements} statements for 1,000 starts (500 a statement)`);
  });
});
