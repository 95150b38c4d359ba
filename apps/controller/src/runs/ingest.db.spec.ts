// Profile batch storage against a real PostgreSQL (127.0.0.1:5432): batches that queue behind a
// write are stored as one (counts, seq, gaps and duplicates still right), transient database errors
// are retried, and a batch that cannot be stored is counted and makes the job partial instead of
// vanishing; RunFinished's unwind stats reach the job view. Creates a throwaway database, applies
// the committed migrations, drops it at the end. PostgreSQL being down is a failure that names it.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ProfileBatch, UnwindStats } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import { ProfilesService, type RunProgress } from '../profiles/profiles.service';
import { toJobView } from '../jobs/job.view';
import { RunsService } from './runs.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { ingestServices } from '../testing/ingest-services';

const DB = 'tracefleet_ingest_test';
let db: ScratchDb;
let prisma: PrismaService;
let profiles: ProfilesService;
let runs: RunsService;
let nodeId: string;

const STRINGS = ['app', 'main', 'work', 'hot_a', 'hot_b', 'memcpy_[k]'];
function batch(runId: string, seq: number, counts: [number, number] = [3, 1]): ProfileBatch {
  return {
    runId,
    seq: BigInt(seq),
    strings: STRINGS,
    stacks: [
      { frames: [0, 1, 2, 3], count: BigInt(counts[0]), origin: 0 },
      { frames: [0, 1, 2, 4, 5], count: BigInt(counts[1]), origin: 0 },
    ],
    origins: [],
  };
}

async function newRun(): Promise<{ jobId: string; runId: string }> {
  const job = await prisma.job.create({
    data: { type: 'cpu_profile', durationSec: 10, status: 'running', params: { type: 'cpu-profile' }, runs: { create: [{ nodeId, status: 'running' }] } },
    include: { runs: true },
  });
  return { jobId: job.id, runId: job.runs[0].id };
}

async function view(jobId: string) {
  return toJobView(await prisma.job.findUniqueOrThrow({ where: { id: jobId }, include: { runs: { include: { node: { select: { name: true } } } } } }));
}

function finish(runId: string, samplesSent: number, lastSeq: number, unwind?: UnwindStats): Promise<void> {
  runs.onFinished(nodeId, { runId, ok: true, reason: '', targetExited: false, samplesTaken: BigInt(samplesSent), samplesDroppedKernel: 0n, samplesDroppedAgent: 0n, samplesSent: BigInt(samplesSent), lastSeq: BigInt(lastSeq), unwind, batchesSpooled: 0n, batchesOverflowed: 0n });
  return runs.settled(runId);
}

describe('profile batch storage (PostgreSQL)', { timeout: 180_000 }, () => {
  before(async () => {
    db = await scratchDb(DB);
    prisma = db.prisma;
    profiles = new ProfilesService(prisma);
    runs = ingestServices(prisma, profiles).runs;
    const node = await prisma.node.create({ data: { name: 'n1', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: ['cpu-profile'], agentVersion: 't' } });
    nodeId = node.id;
  });

  after(async () => {
    await db?.drop();
  });

  it('stores batches that queued behind a write as one write, with seq, gaps and duplicates right', async () => {
    const { jobId, runId } = await newRun();
    const writes: { batches: number; progress?: RunProgress }[] = [];
    const real = profiles.ingestMany.bind(profiles);
    profiles.ingestMany = (items) => {
      for (const it of items) writes.push({ batches: it.batches.length, progress: it.progress });
      return real(items);
    };
    try {
      // 1..10 arrive at once (an agent's backlog), then a duplicate of 10, then 12 (11 was lost on the link).
      const stored = [...Array.from({ length: 10 }, (_, i) => runs.onBatch(nodeId, batch(runId, i + 1))), runs.onBatch(nodeId, batch(runId, 10)), runs.onBatch(nodeId, batch(runId, 12))];
      await Promise.all(stored);
    } finally {
      profiles.ingestMany = real;
    }
    assert.ok(writes.length <= 2, `12 batches took ${writes.length} writes`);
    assert.equal(writes.reduce((a, w) => a + w.batches, 0), 11, 'the duplicate never reaches storage');
    const run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.lastSeq, 12n);
    assert.equal(run.batchesReceived, 11);
    assert.equal(run.seqGaps, 1);
    assert.equal(run.samplesReceived, 44n);
    const profile = await prisma.profile.findUniqueOrThrow({ where: { runId } });
    assert.equal(profile.totalSamples, 44n);
    const stacks = await profiles.stacks(jobId);
    const byLeaf = new Map(stacks.map((s) => [s.frames.at(-1), s.count]));
    assert.deepEqual(Object.fromEntries(byLeaf), { hot_a: 33n, 'memcpy_[k]': 11n });
    assert.deepEqual(stacks.find((s) => s.frames.at(-1) === 'hot_a')?.frames, ['app', 'main', 'work', 'hot_a']);
    await finish(runId, 48, 12);
    const v = await view(jobId);
    assert.equal(v.status, 'partial', 'one batch never arrived');
    assert.equal(v.runs[0].samplesLostTransit, 4);
    assert.match(v.reason ?? '', /n1: .*4 sample\(s\) or event\(s\) sent by the agent were not stored/);
  });

  it('retries a transient database error and stores the batch', async () => {
    const { jobId, runId } = await newRun();
    const real = profiles.ingestMany.bind(profiles);
    let failures = 0;
    profiles.ingestMany = (items) => {
      if (failures++ < 2) return Promise.reject(Object.assign(new Error('Transaction API error: Unable to start a transaction in the given time.'), { code: 'P2028' }));
      return real(items);
    };
    try {
      await runs.onBatch(nodeId, batch(runId, 1, [5, 5]));
    } finally {
      profiles.ingestMany = real;
    }
    assert.equal(failures, 3);
    await finish(runId, 10, 1);
    const v = await view(jobId);
    assert.equal(v.status, 'completed');
    assert.equal(v.runs[0].samplesStored, 10);
    assert.equal(v.runs[0].batchesNotStored, 0);
  });

  it('counts a batch it cannot store, names the error, and makes the job partial', async () => {
    const { jobId, runId } = await newRun();
    await runs.onBatch(nodeId, batch(runId, 1));
    // A stack that names string 99 of 6: storing it fails the same way every time.
    await runs.onBatch(nodeId, { runId, seq: 2n, strings: STRINGS, stacks: [{ frames: [0, 99], count: 7n, origin: 0 }], origins: [] });
    await runs.onBatch(nodeId, batch(runId, 3));
    await finish(runId, 4 + 7 + 4, 3);
    const v = await view(jobId);
    const r = v.runs[0];
    assert.equal(r.batchesNotStored, 1);
    assert.match(r.storeError ?? '', /names string 99 of 6/);
    assert.equal(r.seqGaps, 0, 'a batch that arrived is not a link gap');
    assert.equal(r.samplesStored, 8);
    assert.equal(r.samplesLostTransit, 7);
    assert.equal(r.status, 'completed');
    assert.equal(v.status, 'partial');
    assert.match(v.reason ?? '', /1 batch\(es\) could not be stored \(a stack names string 99 of 6\)/);
  });

  it('reuses frame and stack rows across runs (the same service profiled twice)', async () => {
    const frames = await prisma.frame.count();
    const stackRows = await prisma.stack.count();
    const { jobId, runId } = await newRun();
    await runs.onBatch(nodeId, batch(runId, 1));
    await finish(runId, 4, 1);
    assert.equal(await prisma.frame.count(), frames);
    assert.equal(await prisma.stack.count(), stackRows);
    assert.equal((await view(jobId)).status, 'completed');
  });

  it("stores RunFinished's unwind stats as JSON and shows them in the job view; a run without them shows null", async () => {
    const withStats = await newRun();
    await runs.onBatch(nodeId, batch(withStats.runId, 1));
    const counters = ['stacks', 'stacksComplete', 'framesTable', 'framesFp', 'cutNoMapping', 'cutNoRow', 'cutExpression', 'cutDepth', 'cutReadFault', 'unwindPending', 'cutInvalid', 'tablesBuilt', 'tableBuildMs', 'tableBytes', 'tableBytesPeak', 'tablesEvicted', 'tablesRefused', 'processes', 'modulesFp'] as const satisfies readonly (keyof UnwindStats)[];
    // Distinct values (the bytes past 2^32), so a counter stored under another's name or cut to 32 bits shows.
    const unwind = Object.fromEntries(counters.map((k, i) => [k, k.startsWith('tableBytes') ? 2n ** 33n + BigInt(i) : BigInt(i + 1)])) as unknown as UnwindStats;
    await finish(withStats.runId, 4, 1, unwind);
    const row = await prisma.jobRun.findUniqueOrThrow({ where: { id: withStats.runId } });
    const expected = Object.fromEntries(counters.map((k) => [k, Number(unwind[k])]));
    assert.deepEqual(row.unwindStats, expected, 'stored with camelCase keys and numbers');
    const v = await view(withStats.jobId);
    assert.equal(v.status, 'completed');
    assert.deepEqual(v.runs[0].unwind, expected);
    assert.equal(v.runs[0].unwind?.tableBytesPeak, 2 ** 33 + 14);

    const without = await newRun();
    await runs.onBatch(nodeId, batch(without.runId, 1));
    await finish(without.runId, 4, 1);
    assert.equal((await prisma.jobRun.findUniqueOrThrow({ where: { id: without.runId } })).unwindStats, null);
    assert.equal((await view(without.jobId)).runs[0].unwind, null);
  });

  it('keeps where samples ran (origins): filters and groups by container and cgroup, and refuses hostile origins', async () => {
    const { jobId, runId } = await newRun();
    const A = 'a'.repeat(64);
    const B = 'b'.repeat(64);
    const POD = '0f0e0d0c-0b0a-4908-8706-050403020100';
    await runs.onBatch(nodeId, {
      runId,
      seq: 1n,
      strings: STRINGS,
      stacks: [
        { frames: [0, 1, 2, 3], count: 5n, origin: 1 },
        { frames: [0, 1, 2, 3], count: 2n, origin: 2 },
        { frames: [0, 1, 2, 4, 5], count: 3n, origin: 3 },
        { frames: [0, 1, 2, 4, 5], count: 1n, origin: 0 },
      ],
      origins: [
        { cgroup: `/kubepods/besteffort/pod${POD}/${A}`, containerId: A, podUid: POD },
        { cgroup: `/docker/${B}`, containerId: B, podUid: '' },
        // hostile: a bidi override in the path, a container id that is not one, a pod uid that is not one
        { cgroup: '/system.slice/x\u202e.service', containerId: 'not-hex', podUid: '../../etc' },
      ],
    });
    const all = await profiles.stacks(jobId);
    assert.equal(all.reduce((a, s) => a + BigInt(s.count), 0n), 11n);
    const onlyA = await profiles.stacks(jobId, undefined, { container: 'aaaa' });
    assert.deepEqual(onlyA.map((s) => [s.frames.at(-1), s.count]), [['hot_a', 5n]]);
    const underDocker = await profiles.stacks(jobId, undefined, { cgroup: '/docker' });
    assert.deepEqual(underDocker.map((s) => [s.frames.at(-1), s.count]), [['hot_a', 2n]]);
    assert.equal((await profiles.stacks(jobId, undefined, { cgroup: '/dock' })).length, 0, '/dock is not a parent of /docker/...');
    assert.equal((await profiles.stacks(jobId, undefined, { cgroup: '/' })).reduce((a, s) => a + BigInt(s.count), 0n), 10n, 'the sample of no known origin is in no cgroup');
    // LIKE wildcards in a filter are literal.
    assert.equal((await profiles.stacks(jobId, undefined, { cgroup: '/%' })).length, 0);
    const grouped = await profiles.stacks(jobId, undefined, {}, 'container');
    const roots = Object.fromEntries(grouped.map((s) => [`${s.frames[0]}|${s.frames.at(-1)}`, s.count]));
    assert.deepEqual(roots, { [`container ${A.slice(0, 12)}|hot_a`]: 5n, [`container ${B.slice(0, 12)}|hot_a`]: 2n, '[no container]|memcpy_[k]': 4n });
    const byNode = await profiles.stacksByNode(jobId);
    const labelled = byNode[0].stacks.map((s) => s.origin);
    assert.ok(labelled.some((o) => o?.containerId === A && o.podUid === POD && o.cgroup.endsWith(A)));
    const hostile = labelled.find((o) => o?.cgroup.startsWith('/system.slice'));
    assert.deepEqual(hostile, { cgroup: '/system.slice/x\\u202e.service', containerId: undefined, podUid: undefined });
    // A stack that names an origin the batch does not have is not stored (counted as not stored, like a bad frame index).
    await runs.onBatch(nodeId, { runId, seq: 2n, strings: STRINGS, stacks: [{ frames: [0, 1], count: 1n, origin: 9 }], origins: [] });
    await finish(runId, 12, 2);
    const v = await view(jobId);
    assert.equal(v.runs[0].batchesNotStored, 1);
    assert.match(v.runs[0].storeError ?? '', /origin 9 of 0/);
  });
});
