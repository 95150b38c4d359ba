// Run ends written together (run-ends.ts) against a real PostgreSQL (a throwaway database): many ends in
// one read and one update, each computed as before (lost in transit, notes, fields a zero must not erase),
// each job finalized once; other nodes' runs, ended runs and hostile ids change nothing; one run's bad end
// stays its own.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { RunFinished } from '@tracefleet/proto';
import type { PrismaService } from '../prisma/prisma.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { holdGate } from '../testing/hold-gate';
import { RunEnds } from './run-ends';

describe('run ends written together (PostgreSQL)', { timeout: 120_000 }, () => {
  let db: ScratchDb;
  let prisma: PrismaService;
  const nodes = new Map<string, string>();

  before(async () => {
    db = await scratchDb('tracefleet_run_ends_test');
    prisma = db.prisma;
    for (const name of ['a', 'b', 'c']) {
      const n = await prisma.node.create({ data: { name, kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't' } });
      nodes.set(name, n.id);
    }
  });

  after(async () => {
    await db?.drop();
  });

  const job = async (on: string[]) => {
    const j = await prisma.job.create({ data: { type: 'cpu_profile', durationSec: 5, params: {}, status: 'running' } });
    const runs = new Map<string, string>();
    for (const name of on) {
      runs.set(name, (await prisma.jobRun.create({ data: { jobId: j.id, nodeId: nodes.get(name)!, status: 'running', samplesReceived: 100n, lastSeq: 4n, batchesReceived: 4 } })).id);
    }
    return { id: j.id, runs };
  };

  const ends = () => {
    const finalized: string[] = [];
    const forgotten: string[] = [];
    let statements = 0;
    const counting = new Proxy(prisma, {
      get(target, key, recv) {
        if (key === '$executeRaw' || key === 'jobRun') statements++;
        return Reflect.get(target, key, recv);
      },
    });
    const e = new RunEnds(
      counting,
      (id) => forgotten.push(id),
      async (jobId) => {
        finalized.push(jobId);
      },
    );
    return { e, finalized, forgotten, statements: () => statements };
  };

  it('ends the runs of a job in one read and one update, each with its own counts and notes; the job finalized once', async () => {
    const j = await job(['a', 'b', 'c']);
    await prisma.jobRun.update({ where: { id: j.runs.get('c')! }, data: { samplesTaken: 77n, targetExited: true, unwindStats: { stacks: 5 } } });
    const { e, finalized, forgotten, statements } = ends();
    const release = holdGate(prisma.storeGate);
    const done = Promise.all([
      e.end({ nodeId: nodes.get('a')!, fin: RunFinished.fromPartial({ runId: j.runs.get('a')!, ok: true, samplesSent: 100n, samplesTaken: 120n, lastSeq: 4n }) }),
      e.end({
        nodeId: nodes.get('b')!,
        fin: RunFinished.fromPartial({ runId: j.runs.get('b')!, ok: false, reason: 'target gone', samplesSent: 130n, lastSeq: 6n, batchesOverflowed: 2n, batchesSpooled: 3n }),
      }),
      // c's agent reports zeros for what an earlier report set: they stay.
      e.end({ nodeId: nodes.get('c')!, fin: RunFinished.fromPartial({ runId: j.runs.get('c')!, ok: true, samplesSent: 100n, lastSeq: 4n }) }),
    ]);
    await release();
    await done;
    assert.equal(statements(), 2, 'one read and one update for three ends');
    assert.deepEqual(finalized, [j.id], 'the job is asked once');
    assert.deepEqual(forgotten.sort(), [...j.runs.values()].sort());
    const runs = new Map((await prisma.jobRun.findMany({ where: { jobId: j.id }, include: { node: true } })).map((r) => [r.node.name, r]));
    const a = runs.get('a')!;
    assert.deepEqual([a.status, a.reason, a.samplesTaken, a.samplesLostTransit, a.unwindStats], ['completed', null, 120n, 0n, null]);
    assert.ok(a.finishedAt && Math.abs(a.finishedAt.getTime() - Date.now()) < 60_000, 'finishedAt is now (UTC)');
    const b = runs.get('b')!;
    assert.equal(b.status, 'failed');
    assert.equal(
      b.reason,
      'target gone; agent sent 6 batches, 4 arrived; 2 batch(es) were dropped on the node: its spool was full while the controller could not be reached; 30 sample(s) or event(s) sent by the agent were not stored',
    );
    assert.deepEqual([b.samplesLostTransit, b.batchesSpooled, b.batchesOverflowed], [30n, 3n, 2n]);
    const c = runs.get('c')!;
    assert.deepEqual([c.status, c.samplesTaken, c.targetExited, c.unwindStats], ['completed', 77n, true, { stacks: 5 }]);
  });

  it('changes nothing for an end from another node, of an ended run, or with a hostile run id', async () => {
    const j = await job(['a', 'b']);
    await prisma.jobRun.update({ where: { id: j.runs.get('b')! }, data: { status: 'completed', reason: 'kept' } });
    const { e, finalized } = ends();
    const failedBefore = await prisma.jobRun.count({ where: { status: 'failed' } });
    await Promise.all([
      e.end({ nodeId: nodes.get('b')!, fin: RunFinished.fromPartial({ runId: j.runs.get('a')!, ok: false, reason: 'forged' }) }),
      e.end({ nodeId: nodes.get('b')!, fin: RunFinished.fromPartial({ runId: j.runs.get('b')!, ok: false, reason: 'late' }) }),
      e.end({ nodeId: nodes.get('a')!, fin: RunFinished.fromPartial({ runId: `x'; UPDATE "JobRun" SET "status" = 'failed'; --`, ok: false }) }),
      e.end({ nodeId: nodes.get('a')!, fin: RunFinished.fromPartial({ runId: randomUUID(), ok: false }) }),
    ]);
    const runs = new Map((await prisma.jobRun.findMany({ where: { jobId: j.id }, include: { node: true } })).map((r) => [r.node.name, r]));
    assert.deepEqual([runs.get('a')!.status, runs.get('a')!.reason], ['running', null], "another node's report ends nothing");
    assert.deepEqual([runs.get('b')!.status, runs.get('b')!.reason], ['completed', 'kept'], 'an ended run keeps its end');
    assert.deepEqual(finalized, [], 'no run ended, no job asked');
    assert.equal(await prisma.jobRun.count({ where: { status: 'failed' } }), failedBefore, 'the hostile id was never SQL');
  });

  it("keeps one run's bad end its own: the others end when the statement for all fails", async () => {
    const j = await job(['a', 'b', 'c']);
    const { e } = ends();
    const release = holdGate(prisma.storeGate);
    // Past int8: PostgreSQL refuses the update of all three (the agent's values are clamped before this; here they are not).
    const results = Promise.allSettled([
      e.end({ nodeId: nodes.get('a')!, fin: RunFinished.fromPartial({ runId: j.runs.get('a')!, ok: true, samplesSent: 100n, lastSeq: 4n }) }),
      e.end({ nodeId: nodes.get('b')!, fin: RunFinished.fromPartial({ runId: j.runs.get('b')!, ok: true, samplesTaken: 1n << 64n, lastSeq: 4n }) }),
      e.end({ nodeId: nodes.get('c')!, fin: RunFinished.fromPartial({ runId: j.runs.get('c')!, ok: true, samplesSent: 100n, lastSeq: 4n }) }),
    ]);
    await release();
    const [ra, rb, rc] = await results;
    assert.deepEqual([ra.status, rb.status, rc.status], ['fulfilled', 'rejected', 'fulfilled']);
    const runs = new Map((await prisma.jobRun.findMany({ where: { jobId: j.id }, include: { node: true } })).map((r) => [r.node.name, r.status]));
    assert.deepEqual(Object.fromEntries(runs), { a: 'completed', b: 'running', c: 'completed' });
  });
});
