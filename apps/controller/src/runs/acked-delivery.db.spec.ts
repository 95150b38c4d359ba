// Acknowledged delivery against a real PostgreSQL (127.0.0.1:5432): a batch that comes again after it
// was stored (the agent resends what was not acknowledged) is dropped and counted, also when two
// replicas store the same batches at once; storage that stays unavailable leaves the batch to the agent
// (not applied, not counted lost) and nothing after it from that session is applied; when the agent
// registers again its runs move to the new session (RunHandover), and a silent agent's runs fail only
// past the grace period. Creates a throwaway database, drops it at the end.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ProfileBatch, UsdtEventBatch } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import { ProfilesService } from '../profiles/profiles.service';
import { RunsService } from './runs.service';
import { RunHandover } from './run-handover';
import type { DeliveryOrigin } from './delivery';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { ingestServices } from '../testing/ingest-services';

const DB = 'tracefleet_acked_test';
let db: ScratchDb;
let prisma: PrismaService;
let profiles: ProfilesService;
let runs: RunsService;
let nodeId: string;

const STRINGS = ['app', 'main', 'hot'];
const batch = (runId: string, seq: number, n = 2): ProfileBatch => ({ runId, seq: BigInt(seq), strings: STRINGS, stacks: [{ frames: [0, 1, 2], count: BigInt(n), origin: 0 }], origins: [] });
const usdt = (runId: string, seq: number): UsdtEventBatch => ({
  runId,
  seq: BigInt(seq),
  strings: [],
  events: [{ probe: 0, pid: 1, tid: 1, tsNs: BigInt(seq), args: [], stack: [], str: '' }],
  origins: [],
});

async function newRun(type: 'cpu_profile' | 'usdt' = 'cpu_profile', status: 'running' | 'dispatched' | 'pending' = 'running', sessionId?: string) {
  const job = await prisma.job.create({
    data: {
      type,
      durationSec: 10,
      status: 'running',
      params: type === 'usdt' ? { type: 'usdt', probes: ['p:q'] } : { type: 'cpu-profile' },
      runs: { create: [{ nodeId, status, sessionId }] },
    },
    include: { runs: true },
  });
  return { jobId: job.id, runId: job.runs[0].id };
}

const finished = (runId: string, sent: number, lastSeq: number) =>
  ({ runId, ok: true, reason: '', targetExited: false, samplesTaken: BigInt(sent), samplesDroppedKernel: 0n, samplesDroppedAgent: 0n, samplesSent: BigInt(sent), lastSeq: BigInt(lastSeq), batchesSpooled: 0n, batchesOverflowed: 0n });

describe('acknowledged delivery (PostgreSQL)', { timeout: 180_000 }, () => {
  before(async () => {
    db = await scratchDb(DB);
    prisma = db.prisma;
    profiles = new ProfilesService(prisma);
    runs = ingestServices(prisma, profiles).runs;
    nodeId = (await prisma.node.create({ data: { name: 'n1', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: ['cpu-profile'], agentVersion: 't' } })).id;
  });

  after(async () => {
    await db?.drop();
  });

  it('drops and counts profile batches sent again after they were stored; the run completes with nothing lost or doubled', async () => {
    const { jobId, runId } = await newRun();
    const origin: DeliveryOrigin = { acked: true };
    for (let seq = 1; seq <= 3; seq++) assert.equal(await runs.onBatch(nodeId, batch(runId, seq), origin), true);
    // The acknowledgements were lost (a replica died): the agent sends 2..4 again on a new session.
    const again: DeliveryOrigin = { acked: true };
    const applied = await Promise.all([2, 3, 4].map((seq) => runs.onBatch(nodeId, batch(runId, seq), again)));
    assert.deepEqual(applied, [true, true, true], 'duplicates are applied for good (acknowledged), not left to the agent');
    assert.equal(await runs.onFinished(nodeId, finished(runId, 8, 4), again), true);
    const run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.samplesReceived, 8n);
    assert.equal(run.duplicatesDropped, 2);
    assert.equal(run.seqGaps, 0);
    assert.equal((await prisma.profile.findUniqueOrThrow({ where: { runId } })).totalSamples, 8n);
    assert.equal((await prisma.job.findUniqueOrThrow({ where: { id: jobId } })).status, 'completed');
  });

  it('stores each batch once when two replicas store the same batches at the same time (profile and USDT batches)', async () => {
    // Two RunsService instances: two replicas, each with its own per-run ordering, one database.
    const other = ingestServices(prisma, profiles).runs;
    const p = await newRun();
    const a: DeliveryOrigin = { acked: true };
    const b: DeliveryOrigin = { acked: true };
    await Promise.all([1, 2, 3, 4, 5].flatMap((seq) => [runs.onBatch(nodeId, batch(p.runId, seq), a), other.onBatch(nodeId, batch(p.runId, seq), b)]));
    const pr = await prisma.jobRun.findUniqueOrThrow({ where: { id: p.runId } });
    assert.equal(pr.samplesReceived, 10n, 'every sample once');
    assert.equal((await prisma.profile.findUniqueOrThrow({ where: { runId: p.runId } })).totalSamples, 10n);
    assert.equal(pr.duplicatesDropped, 5);

    const u = await newRun('usdt');
    await Promise.all([1, 2, 3, 4, 5].flatMap((seq) => [runs.onResult(nodeId, 'usdtEvents', usdt(u.runId, seq), a), other.onResult(nodeId, 'usdtEvents', usdt(u.runId, seq), b)]));
    assert.equal(await prisma.usdtEvent.count({ where: { runId: u.runId } }), 5, 'each event once');
    const ur = await prisma.jobRun.findUniqueOrThrow({ where: { id: u.runId } });
    assert.equal(ur.samplesReceived, 5n);
    assert.equal(ur.batchesReceived, 5);
    assert.equal(ur.lastSeq, 5n);
    assert.equal(ur.duplicatesDropped, 5);
  });

  it('leaves a batch to the agent when storage stays unavailable: not applied, not counted lost, nothing after it applied; the resend completes the run', async () => {
    const { jobId, runId } = await newRun();
    const origin: DeliveryOrigin = { acked: true };
    const real = profiles.ingestMany.bind(profiles);
    profiles.ingestMany = () => Promise.reject(Object.assign(new Error("Can't reach database server at 127.0.0.1:5432"), { code: 'P1001' }));
    let first: boolean;
    try {
      first = await runs.onBatch(nodeId, batch(runId, 1), origin);
    } finally {
      profiles.ingestMany = real;
    }
    assert.equal(first, false, 'not acknowledged');
    assert.match(origin.unavailable ?? '', /Can't reach database server/);
    // The database is back, but the session is ended: what it still delivers is not applied (it would skip seq 1).
    assert.equal(await runs.onBatch(nodeId, batch(runId, 2), origin), false);
    let run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.batchesNotStored, 0, 'not counted as not stored: the agent still has it');
    assert.equal(run.lastSeq, 0n);
    // The agent's next session sends 1 and 2 again.
    const next: DeliveryOrigin = { acked: true };
    assert.deepEqual(await Promise.all([runs.onBatch(nodeId, batch(runId, 1), next), runs.onBatch(nodeId, batch(runId, 2), next)]), [true, true]);
    assert.equal(await runs.onFinished(nodeId, finished(runId, 4, 2), next), true);
    run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.samplesReceived, 4n);
    assert.equal(run.samplesLostTransit, 0n);
    assert.equal((await prisma.job.findUniqueOrThrow({ where: { id: jobId } })).status, 'completed');
  });

  it('records the spool counters of RunFinished and says what the full spool dropped', async () => {
    const { jobId, runId } = await newRun();
    await runs.onBatch(nodeId, batch(runId, 1), { acked: true });
    // Batches 2 and 3 were dropped on the node (spool full); 4 came.
    await runs.onBatch(nodeId, batch(runId, 4), { acked: true });
    await runs.onFinished(nodeId, { ...finished(runId, 8, 4), batchesSpooled: 7n, batchesOverflowed: 2n }, { acked: true });
    const run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.batchesSpooled, 7n);
    assert.equal(run.batchesOverflowed, 2n);
    assert.equal(run.samplesLostTransit, 4n);
    const job = await prisma.job.findUniqueOrThrow({ where: { id: jobId } });
    assert.equal(job.status, 'partial');
    assert.match(job.reason ?? '', /2 batch\(es\) were dropped on the node: its spool was full/);
  });

  it('moves held runs to the new session, starts again a dispatched run the agent never got, fails a running one it lost, and names held runs that ended', async () => {
    const handover = new RunHandover(prisma, runs);
    const oldSession = '00000000-0000-4000-8000-00000000000a';
    const newSession = '00000000-0000-4000-8000-00000000000b';
    const held = await newRun('cpu_profile', 'running', oldSession);
    const neverGot = await newRun('cpu_profile', 'dispatched', oldSession);
    const lost = await newRun('cpu_profile', 'running', oldSession);
    const ended = await newRun('cpu_profile', 'running', oldSession);
    await runs.failRun(ended.runId, 'past the grace period');
    const otherNode = await prisma.node.create({ data: { name: 'n2', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't' } });
    const foreign = await prisma.job.create({ data: { type: 'cpu_profile', durationSec: 10, status: 'running', params: {}, runs: { create: [{ nodeId: otherNode.id, status: 'running', sessionId: oldSession }] } }, include: { runs: true } });
    const out = await handover.handOver(nodeId, 'n1', newSession, [held.runId, ended.runId, foreign.runs[0].id, '../../etc/passwd', 'x'.repeat(36)], 'on replica r2');
    assert.deepEqual(out.kept, [held.runId]);
    assert.deepEqual(out.restarted, [neverGot.runId]);
    assert.deepEqual(out.failed.sort(), [lost.runId].sort());
    assert.deepEqual(out.ended, [{ runId: ended.runId, status: 'failed' }]);
    const row = (id: string) => prisma.jobRun.findUniqueOrThrow({ where: { id } });
    assert.equal((await row(held.runId)).sessionId, newSession);
    assert.equal((await row(held.runId)).status, 'running');
    assert.equal((await row(neverGot.runId)).status, 'pending');
    assert.equal((await row(lost.runId)).status, 'failed');
    assert.match((await row(lost.runId)).reason ?? '', /agent n1 registered again \(on replica r2\) without these runs/);
    const f = await row(foreign.runs[0].id);
    assert.equal(f.status, 'running', "another node's run named by this agent is untouched");
    assert.equal(f.sessionId, oldSession);
  });

  it('fails the runs of a node silent past the grace period, with the reason, and not before', async () => {
    const handover = new RunHandover(prisma, runs);
    const node = await prisma.node.create({ data: { name: 'quiet', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't', lastSeenAt: new Date(Date.now() - 20_000) } });
    const job = await prisma.job.create({ data: { type: 'cpu_profile', durationSec: 10, status: 'running', params: {}, runs: { create: [{ nodeId: node.id, status: 'running' }] } }, include: { runs: true } });
    const runId = job.runs[0].id;
    // The other tests' node was heard from just now: only 'quiet' is silent, however long the suite took so far.
    await prisma.node.updateMany({ where: { name: { not: 'quiet' } }, data: { lastSeenAt: new Date() } });
    assert.deepEqual(await handover.failSilent(Date.now(), 60_000), [], 'within the grace period the run goes on');
    assert.equal((await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } })).status, 'running');
    const failed = await handover.failSilent(Date.now(), 10_000);
    assert.deepEqual(failed.map((f) => f.runId), [runId]);
    const run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.status, 'failed');
    assert.match(run.reason ?? '', /^node quiet silent for 2\d s .*past the run grace period of 10 s \(TRACEFLEET_RUN_GRACE_MS\)$/);
    assert.equal((await prisma.job.findUniqueOrThrow({ where: { id: job.id } })).status, 'failed');
  });
});
