// Which runs the deadline spares, against a real PostgreSQL (a throwaway database): an agent that is
// away by the rows, and one whose row still says connected though nothing was heard from it (the write
// that would have marked it unreachable was lost while PostgreSQL was down); not a node that is heard
// from, nor one silent past the run grace period.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { PrismaService } from '../prisma/prisma.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { awayRunIds } from './away-runs';

const env = { runGraceMs: 60_000, nodeUnreachableMs: 15_000 };

describe('runs the deadline spares for their agent', { timeout: 60_000 }, () => {
  let db: ScratchDb;
  let prisma: PrismaService;

  before(async () => {
    db = await scratchDb('tracefleet_away_runs_test');
    prisma = db.prisma;
  });
  after(async () => {
    await db?.drop();
  });

  it('spares an agent without a session, and one whose row says connected but was not heard from; not a live one, nor one silent past the grace', async () => {
    const now = Date.now();
    const node = (name: string, data: { status: 'connected' | 'unreachable'; sessionId: string | null; silentMs: number }) =>
      prisma.node.create({
        data: {
          name,
          kernelRelease: '6.1',
          btf: true,
          protocolVersion: 1,
          capabilities: [],
          agentVersion: 't',
          status: data.status,
          sessionId: data.sessionId,
          lastSeenAt: new Date(now - data.silentMs),
        },
      });
    const live = await node('live', { status: 'connected', sessionId: randomUUID(), silentMs: 2_000 });
    const gone = await node('no-session', { status: 'unreachable', sessionId: null, silentMs: 5_000 });
    const stale = await node('stale-row', { status: 'connected', sessionId: randomUUID(), silentMs: 37_000 });
    const past = await node('past-grace', { status: 'unreachable', sessionId: null, silentMs: 61_000 });
    const pastStale = await node('past-grace-stale', { status: 'connected', sessionId: randomUUID(), silentMs: 61_000 });
    const job = await prisma.job.create({
      data: {
        type: 'cpu_profile',
        durationSec: 20,
        status: 'running',
        params: {},
        runs: { create: [live, gone, stale, past, pastStale].map((n) => ({ nodeId: n.id, status: 'running' as const })) },
      },
      include: { runs: true },
    });
    const runOf = new Map(job.runs.map((r) => [r.nodeId, r.id]));
    const spared = new Set(await awayRunIds(prisma, job.id, now, env));
    assert.deepEqual(
      [live, gone, stale, past, pastStale].filter((n) => spared.has(runOf.get(n.id)!)).map((n) => n.name),
      ['no-session', 'stale-row'],
    );

    // A run that has ended is not spared, whatever its node.
    await prisma.jobRun.update({ where: { id: runOf.get(stale.id)! }, data: { status: 'completed' } });
    assert.deepEqual(await awayRunIds(prisma, job.id, now, env), [runOf.get(gone.id)]);
  });
});
