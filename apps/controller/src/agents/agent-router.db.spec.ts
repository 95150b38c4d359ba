// Another replica's start-runs command against a real PostgreSQL (a throwaway database): the node names
// and job id it carries spare the receiver a read, and its claim takes them only as they stand in the run
// rows. Redis is inside the controllers' trust (docs/SECURITY.md), yet a forged or garbled command (names
// swapped, another job's id, SQL in a name) claims and starts nothing; the true one starts each run once.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { PrismaService } from '../prisma/prisma.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { insertJob } from '../jobs/job-insert';
import { AgentRouter } from './agent-router';

describe("starting another replica's forwarded runs (PostgreSQL)", { timeout: 120_000 }, () => {
  let db: ScratchDb;
  let prisma: PrismaService;
  const hostile = `n'); UPDATE "JobRun" SET "status" = 'dispatched'; --`;
  const sessions = new Map([
    ['a', randomUUID()],
    ['b', randomUUID()],
    [hostile, randomUUID()],
  ]);
  const sent: string[] = [];
  const relays: string[] = [];
  const counted: string[] = [];
  const handlers = new Map<string, (data: unknown, via: 'queue' | 'fast') => Promise<unknown>>();
  let router: AgentRouter;

  before(async () => {
    db = await scratchDb('tracefleet_agent_router_test');
    prisma = db.prisma;
    for (const name of sessions.keys()) {
      await prisma.node.create({ data: { name, kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't' } });
    }
    const gateway = {
      session: (n: string) => (sessions.has(n) ? { sessionId: sessions.get(n) } : undefined),
      send: (n: string, m: { msg: { $case: string; value: { runId: string } } }) => (sent.push(`${n}:${m.msg.value.runId}`), true),
    };
    const commands = { handle: (name: string, fn: (data: unknown, via: 'queue' | 'fast') => Promise<unknown>) => void handlers.set(name, fn) };
    const metrics = {
      dispatchStepSeconds: { observe: (labels: { step: string }, s: number) => void relays.push(`${labels.step} ${s >= 0.04 ? '≥' : '<'} 40 ms`) },
      forwardedStarts: { inc: (l: { via: string; outcome: string }) => void counted.push(`${l.via} ${l.outcome}`) },
    };
    router = new AgentRouter({ replicaId: 'r-b' } as never, prisma, gateway as never, commands as never, {} as never, {} as never, metrics as never);
    router.onModuleInit();
  });

  after(async () => {
    await db?.drop();
  });

  /** A job over these nodes stored by another replica: every run pending (its sessions are not there). */
  const pendingJob = async (names: string[]) => {
    const stored = await insertJob(prisma, { type: 'cpu_profile', durationSec: 5, params: { type: 'cpu-profile', frequencyHz: 99, target: { all: true } } }, names, new Map());
    assert.equal(stored.pending.length, names.length);
    return { jobId: stored.job.id, runs: stored.pending };
  };
  const statuses = async (jobId: string) =>
    (await prisma.jobRun.findMany({ where: { jobId }, include: { node: true } })).map((r) => `${r.node.name}:${r.status}:${r.sessionId === sessions.get(r.node.name)}`).sort();

  it('claims nothing for names swapped, another job id or SQL in a name; the true command starts each run once, on its node', async () => {
    const { jobId, runs } = await pendingJob(['a', 'b', hostile]);
    const other = await pendingJob(['a']);
    const handler = handlers.get('start-runs')!;
    const start = (data: unknown) => handler(data, 'queue');
    const ids = runs.map((r) => r.id);
    const names = runs.map((r) => r.name);

    // Each run carried under another node's name (with a session here), or as another job's: none is claimed,
    // none started (left pending for the job's queued dispatch, which reads them).
    await start({ runIds: ids, jobId, nodeNames: [names[1], names[2], names[0]], sentAt: Date.now() });
    await start({ runIds: ids, jobId: other.jobId, nodeNames: names, sentAt: Date.now() });
    assert.deepEqual(sent, [], 'a forged command started nothing');
    assert.deepEqual(await statuses(jobId), ['a:pending:false', 'b:pending:false', `${hostile}:pending:false`]);

    relays.length = 0;
    await start({ runIds: ids, jobId, nodeNames: names, sentAt: Date.now() - 40 });
    assert.deepEqual([...sent].sort(), runs.map((r) => `${r.name}:${r.id}`).sort(), 'each run started on its own node');
    assert.deepEqual(await statuses(jobId), ['a:dispatched:true', 'b:dispatched:true', `${hostile}:dispatched:true`]);
    assert.deepEqual(relays, ['relay_wait ≥ 40 ms', 'relay ≥ 40 ms'], "taken, then StartRuns written: from the sender's enqueue time");

    // The same command again (a retry) starts nothing twice.
    await start({ runIds: ids, jobId, nodeNames: names, sentAt: Date.now() });
    assert.equal(sent.length, 3);
    // Names of no node here (garbled, SQL in them): the runs are read as they stand and started on their own nodes.
    const third = await pendingJob(['a', 'b']);
    await start({ runIds: third.runs.map((r) => r.id), jobId: third.jobId, nodeNames: third.runs.map((r) => `${r.name}'); DELETE FROM "Node"; --`) });
    assert.deepEqual(sent.slice(3).sort(), third.runs.map((r) => `${r.name}:${r.id}`).sort());
    assert.equal(await prisma.node.count(), 3, 'names are values, not SQL');
    // One without names (from an older replica) is read from the rows.
    await start({ runIds: other.runs.map((r) => r.id) });
    assert.deepEqual(sent.slice(5), [`a:${other.runs[0].id}`]);
    assert.deepEqual(await statuses(other.jobId), ['a:dispatched:true']);
    // Garbage where numbers and lists belong is not a crash: names that do not line up with the runs are not used.
    await start({ runIds: [], jobId: 'x', nodeNames: 'a', sentAt: 'soon' });
    assert.equal(sent.length, 6);
    assert.deepEqual(counted, Array(7).fill('queue started'), 'every queued command counted');

    // The fast path's command, then its queued copy: started once, the copy skipped without touching the rows.
    const fourth = await pendingJob(['b']);
    const cmd = { runIds: fourth.runs.map((r) => r.id), jobId: fourth.jobId, nodeNames: ['b'], sentAt: Date.now() };
    counted.length = 0;
    await handler(cmd, 'fast');
    await handler(cmd, 'queue');
    assert.deepEqual(sent.slice(6), [`b:${fourth.runs[0].id}`]);
    assert.deepEqual(counted, ['fast started', 'queue skipped']);
  });
});
