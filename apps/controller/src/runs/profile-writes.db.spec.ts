// Profile batches of many runs written together (GatedWrites) against a real PostgreSQL: runs that wait
// for a storage slot at the same time are stored by one statement with each run's seq, gaps, duplicates
// and totals right; a run's bad batch, or a batch for a run that is not the sender's, stays that run's
// problem; the database away for the whole write leaves every run's batches to its agent.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ProfileBatch } from '@tracefleet/proto';
import type { PrismaService } from '../prisma/prisma.service';
import { ProfilesService, type RunBatches } from '../profiles/profiles.service';
import type { RunsService } from './runs.service';
import type { DeliveryOrigin } from './delivery';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { ingestServices } from '../testing/ingest-services';

const DB = 'tracefleet_profile_writes_test';
let db: ScratchDb;
let prisma: PrismaService;
let profiles: ProfilesService;
let runs: RunsService;
/** 20 nodes: a job has one run per node. */
let nodes: string[];

const STRINGS = ['app', 'main', 'work', 'hot_a', 'hot_b'];
const batch = (runId: string, seq: number, hot = 3): ProfileBatch => ({
  runId,
  seq: BigInt(seq),
  strings: STRINGS,
  stacks: [
    { frames: [0, 1, 2, 3], count: BigInt(hot), origin: 0 },
    { frames: [0, 1, 2, 4], count: 1n, origin: 0 },
  ],
  origins: [],
});

/** A job on the first `n` nodes; runIds[i] is node i's run. */
async function newJob(n: number): Promise<{ jobId: string; runIds: string[] }> {
  const job = await prisma.job.create({
    data: { type: 'cpu_profile', durationSec: 10, status: 'running', params: { type: 'cpu-profile' }, runs: { create: nodes.slice(0, n).map((nodeId) => ({ nodeId, status: 'running' })) } },
    include: { runs: true },
  });
  const byNode = new Map(job.runs.map((r) => [r.nodeId, r.id]));
  return { jobId: job.id, runIds: nodes.slice(0, n).map((id) => byNode.get(id)!) };
}

/** Takes every storage slot until the returned function is called: what arrives meanwhile waits together. */
function holdGate(): () => void {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  for (let i = 0; i < prisma.storeGate.slots; i++) void prisma.storeGate.run(() => held);
  return release;
}

/** ingestMany's calls (the runs of each) while `work` runs. */
async function watchWrites(work: () => Promise<unknown>, fail?: (items: RunBatches[], call: number) => Error | undefined): Promise<string[][]> {
  const calls: string[][] = [];
  const real = profiles.ingestMany.bind(profiles);
  profiles.ingestMany = (items) => {
    calls.push(items.map((i) => i.runId));
    const err = fail?.(items, calls.length);
    return err ? Promise.reject(err) : real(items);
  };
  try {
    await work();
  } finally {
    profiles.ingestMany = real;
  }
  return calls;
}

describe('profile batches of many runs written together (PostgreSQL)', { timeout: 180_000 }, () => {
  before(async () => {
    db = await scratchDb(DB);
    prisma = db.prisma;
    profiles = new ProfilesService(prisma);
    runs = ingestServices(prisma, profiles).runs;
    nodes = [];
    for (let i = 0; i < 20; i++) {
      const data = { name: `n${i}`, kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: ['cpu-profile'], agentVersion: 't' };
      nodes.push((await prisma.node.create({ data })).id);
    }
  });

  after(async () => {
    await db?.drop();
  });

  it('stores what 20 runs have waiting with one statement, each run counted right', async () => {
    const { jobId, runIds } = await newJob(20);
    const release = holdGate();
    const calls = await watchWrites(async () => {
      const stored: Promise<boolean>[] = [];
      runIds.forEach((id, i) => stored.push(runs.onBatch(nodes[i], batch(id, 1, i + 1))));
      // Run 0: seq 1 again (a duplicate); run 1: seq 3 (2 lost on the way, a gap).
      stored.push(runs.onBatch(nodes[0], batch(runIds[0], 1, 100)), runs.onBatch(nodes[1], batch(runIds[1], 3, 5)));
      await new Promise((r) => setImmediate(r));
      release();
      assert.deepEqual(await Promise.all(stored), stored.map(() => true), 'every batch applied');
    });
    assert.equal(calls.length, 1, `one write for all: ${calls.map((c) => c.length).join(', ')}`);
    assert.equal(calls[0].length, 20);
    const rows = await prisma.jobRun.findMany({ where: { jobId } });
    const byId = new Map(rows.map((r) => [r.id, r]));
    runIds.forEach((id, i) => {
      const r = byId.get(id)!;
      const samples = i === 1 ? 2 + 1 + 5 + 1 : i + 1 + 1;
      assert.equal(r.samplesReceived, BigInt(samples), `run ${i} samples`);
      assert.equal(r.batchesReceived, i === 1 ? 2 : 1, `run ${i} batches`);
      assert.equal(r.lastSeq, i === 1 ? 3n : 1n);
      assert.equal(r.seqGaps, i === 1 ? 1 : 0);
      assert.equal(r.duplicatesDropped, i === 0 ? 1 : 0);
    });
    const totals = await prisma.profile.findMany({ where: { jobId } });
    assert.equal(totals.length, 20);
    assert.equal(totals.reduce((a, p) => a + p.totalSamples, 0n), rows.reduce((a, r) => a + r.samplesReceived, 0n));
    const stacks = await profiles.stacks(jobId);
    assert.equal(stacks.find((s) => s.frames.at(-1) === 'hot_b')?.count, 21n, 'one hot_b sample per stored batch');
    assert.equal(stacks.find((s) => s.frames.at(-1) === 'hot_a')?.count, BigInt((20 * 21) / 2 + 5));
  });

  it("keeps a run's bad batch its own (the others are stored one by one) and ignores a batch for another node's run", async () => {
    const { runIds } = await newJob(5);
    const release = holdGate();
    const calls = await watchWrites(async () => {
      const stored = [
        runs.onBatch(nodes[0], batch(runIds[0], 1)),
        // string 99 of 5: fails the same way every time
        runs.onBatch(nodes[1], { runId: runIds[1], seq: 1n, strings: STRINGS, stacks: [{ frames: [0, 99], count: 7n, origin: 0 }], origins: [] }),
        runs.onBatch(nodes[2], batch(runIds[2], 1)),
        runs.onBatch(nodes[3], batch(runIds[3], 1)),
        // node 0 reporting on node 4's run (hostile, or a stale agent): not its own, ignored
        runs.onBatch(nodes[0], batch(runIds[4], 1, 50)),
      ];
      await new Promise((r) => setImmediate(r));
      release();
      await Promise.all(stored);
    });
    assert.equal(calls[0].length, 4, 'the foreign run never reaches storage');
    assert.ok(calls.slice(1).every((c) => c.length === 1), 'then each run alone');
    const rows = new Map((await prisma.jobRun.findMany({ where: { id: { in: runIds } } })).map((r) => [r.id, r]));
    for (const i of [0, 2, 3]) assert.equal(rows.get(runIds[i])!.samplesReceived, 4n, `run ${i} stored`);
    assert.equal(rows.get(runIds[1])!.batchesNotStored, 1);
    assert.match(rows.get(runIds[1])!.storeError ?? '', /names string 99 of 5/);
    assert.equal(rows.get(runIds[4])!.samplesReceived, 0n);
    assert.equal(rows.get(runIds[4])!.lastSeq, 0n);
  });

  it("leaves every run's batches to its agent when the database stays away through the write's retries", async () => {
    const { runIds } = await newJob(3);
    const origins: DeliveryOrigin[] = runIds.map(() => ({ acked: true }));
    const release = holdGate();
    let outcome: boolean[] = [];
    const calls = await watchWrites(
      async () => {
        const stored = runIds.map((id, i) => runs.onBatch(nodes[i], batch(id, 1), origins[i]));
        await new Promise((r) => setImmediate(r));
      release();
        outcome = await Promise.all(stored);
      },
      () => Object.assign(new Error("Can't reach database server at 127.0.0.1:5432"), { code: 'P1001' }),
    );
    assert.deepEqual(outcome, [false, false, false], 'none acknowledged: each agent sends its batch again');
    for (const o of origins) assert.match(o.unavailable ?? '', /Can't reach database server/);
    assert.ok(calls.every((c) => c.length === 3), 'retried together, never one by one');
    assert.equal(calls.length, 6, 'the write was tried 6 times');
    const rows = await prisma.jobRun.findMany({ where: { id: { in: runIds } } });
    for (const r of rows) {
      assert.equal(r.lastSeq, 0n);
      assert.equal(r.batchesNotStored, 0, 'nothing counted lost: the agents still hold the batches');
    }
  });
});
