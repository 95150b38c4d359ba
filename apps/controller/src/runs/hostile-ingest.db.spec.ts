import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMessage } from '@tracefleet/proto';
import type { PrismaService } from '../prisma/prisma.service';
import { ProfilesService } from '../profiles/profiles.service';
import { RunsService } from './runs.service';
import { decodeChecked } from '../agents/agent-decoder';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { ingestServices } from '../testing/ingest-services';

// Its own database (with the pid): engineers run database specs side by side on one server.
const DB = `tracefleet_hostile_ingest_${process.pid}`;
const U64_MAX = 2n ** 64n - 1n;
let db: ScratchDb;
let prisma: PrismaService;
let runs: RunsService;
let nodeId: string;

/** What the gateway hands RunsService: the message after its wire check, decoding and sanitising. */
function received(m: AgentMessage): AgentMessage['msg'] {
  const msg = decodeChecked(Buffer.from(AgentMessage.encode(m).finish()));
  assert.ok(msg.msg, 'the message passed its caps');
  return msg.msg;
}

async function newRun(type: 'usdt' | 'memleak', params: object): Promise<{ jobId: string; runId: string }> {
  const job = await prisma.job.create({ data: { type, durationSec: 10, status: 'running', params: { type, ...params }, runs: { create: [{ nodeId, status: 'running' }] } }, include: { runs: true } });
  return { jobId: job.id, runId: job.runs[0].id };
}

describe('hostile values in stored batches (PostgreSQL)', { timeout: 180_000 }, () => {
  before(async () => {
    db = await scratchDb(DB);
    prisma = db.prisma;
    const profiles = new ProfilesService(prisma);
    runs = ingestServices(prisma, profiles).runs;
    nodeId = (await prisma.node.create({ data: { name: 'n1', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: ['usdt'], agentVersion: 't' } })).id;
  });

  after(async () => {
    await db?.drop();
  });

  it('stores a USDT batch with NUL in a string argument and a frame name, and u32/u64 maxima, losing nothing', async () => {
    const { runId } = await newRun('usdt', { probes: ['hotspot:gc__begin'], userStacks: true });
    const m = received({
      msg: {
        $case: 'usdtEvents',
        value: {
          runId,
          seq: 1n,
          strings: ['main', 'gc\u0000loop'],
          events: [
            // an origin index past the batch's origins, and one whose origin names a container id that is none
            { probe: 0, pid: 0xffffffff, tid: 0xffffffff, tsNs: U64_MAX, args: [-1n, 2n ** 63n - 1n], stack: [0, 1], str: 'G1\u0000Old', origin: 99 },
            { probe: 0, pid: 42, tid: 43, tsNs: 5n, args: [], stack: [], str: 'Eden', origin: 1 },
          ],
          origins: [{ cgroup: '/docker/x\u0000\u202e', containerId: "'; DROP TABLE \"Origin\"; --", podUid: '' }],
        },
      },
    });
    assert.equal(m?.$case, 'usdtEvents');
    if (m?.$case !== 'usdtEvents') return;
    await runs.onResult(nodeId, 'usdtEvents', m.value);
    const rows = await prisma.usdtEvent.findMany({ where: { runId }, orderBy: { id: 'asc' } });
    assert.deepEqual(rows.map((r) => r.str), ['G1\uFFFDOld', 'Eden']);
    assert.equal(rows[0].pid, 2 ** 31 - 1);
    assert.equal(rows[0].tsNs, 2n ** 63n - 1n);
    assert.equal(rows[0].originId, 0, 'an origin the batch does not have is not known');
    const origin = await prisma.origin.findUniqueOrThrow({ where: { id: rows[1].originId } });
    assert.deepEqual([origin.cgroup, origin.containerId], ['/docker/x\uFFFD\\u202e', null], 'NUL replaced, bidi escaped, a container id that is none dropped');
    const run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.batchesNotStored, 0, run.storeError ?? '');
    assert.equal(run.samplesReceived, 2n);
    const frames = await prisma.frame.findMany({ where: { name: { startsWith: 'gc' } } });
    assert.deepEqual(frames.map((f) => f.name), ['gc\uFFFDloop']);
  });

  it('starts a run whose STARTED event carries a time no date holds (2^64-1 ms) at the time of arrival', async () => {
    const job = await prisma.job.create({ data: { type: 'usdt', durationSec: 10, status: 'queued', params: { type: 'usdt' }, runs: { create: [{ nodeId, status: 'dispatched' }] } }, include: { runs: true } });
    const runId = job.runs[0].id;
    const m = received({ msg: { $case: 'runEvent', value: { runId, kind: 1, message: 'attached\u0000', atUnixMs: U64_MAX } } });
    if (m?.$case !== 'runEvent') return assert.fail('not a run event');
    runs.onEvent(nodeId, m.value);
    await runs.settled(runId);
    const run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.status, 'running');
    assert.ok(run.startedAt && Math.abs(run.startedAt.getTime() - Date.now()) < 60_000, String(run.startedAt));
  });

  it('stores a memleak snapshot whose seq, time and counters are 2^64-1 and whose strings hold NUL', async () => {
    const { runId } = await newRun('memleak', { mode: 'user' });
    const m = received({
      msg: {
        $case: 'memleakSnapshot',
        value: {
          runId, seq: 1n, takenAtUnixMs: U64_MAX, final: false, strings: ['app\u0000', 'malloc'],
          stacks: [{ frames: [0, 1], bytes: U64_MAX, count: U64_MAX, oldestAgeMs: U64_MAX }],
          totalBytes: U64_MAX, totalCount: U64_MAX, allocsSeen: U64_MAX, allocsTraced: U64_MAX, freesMatched: U64_MAX, untracked: U64_MAX, stackErrors: U64_MAX,
          scale: Number.NaN, attached: ['libc\u0000.so'],
        },
      },
    });
    if (m?.$case !== 'memleakSnapshot') return assert.fail('not a snapshot');
    await runs.onResult(nodeId, 'memleakSnapshot', m.value);
    const run = await prisma.jobRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.batchesNotStored, 0, run.storeError ?? '');
    assert.deepEqual(run.attached, ['libc\uFFFD.so']);
    const snaps = await prisma.memleakSnapshot.findMany({ where: { runId } });
    assert.equal(snaps.length, 1);
    assert.equal(snaps[0].totalBytes, 2n ** 63n - 1n);
  });
});
