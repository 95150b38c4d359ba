// The diff of two cpu-profile jobs read through cursors against a real PostgreSQL (127.0.0.1:5432): two jobs
// over the same 300 nodes, served through real HTTP responses. The outputs must be what the whole-list code
// made (ProfilesService.stacksByNode merged per side), and the checks must answer before anything is read.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundException } from '@nestjs/common';
import type { Response } from 'express';
import type { ControllerEnv } from '../config/env';
import type { PrismaService } from '../prisma/prisma.service';
import type { JobsService } from '../jobs/jobs.service';
import { toJobView } from '../jobs/job.view';
import { ProfilesService } from '../profiles/profiles.service';
import { ProfileReader } from '../profiles/profile-reader';
import { mergeStacks, renderFlameGraphSvg, type StackCount } from '../profiles/flamegraph/flamegraph';
import { diffFolded, diffFrameStyle } from '../profiles/flamegraph/diff';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { seedFleetProfile, type SeededJob } from '../testing/fleet-profile-seed';
import { ReadServer, settled } from '../testing/read-server';
import { DiffService } from './diff.service';
import type { DiffQueryDto } from './dto/diff-query.dto';

const DB = 'tracefleet_diff_reads_test';

let db: ScratchDb;
let prisma: PrismaService;
let reader: ProfileReader;
let diff: DiffService;
let profiles: ProfilesService;
let base: SeededJob;
let target: SeededJob;
let http: ReadServer;

const serve = (work: (res: Response) => Promise<void>): Promise<{ status: number; text: string }> => http.serveText(work);

/** A job's stacks merged over its nodes (or one), read whole. */
async function whole(jobId: string, node?: string): Promise<StackCount[]> {
  return mergeStacks((await profiles.stacksByNode(jobId, node)).flatMap((n) => n.stacks));
}

describe('the diff of two jobs (PostgreSQL)', { timeout: 300_000 }, () => {
  before(async () => {
    db = await scratchDb(DB);
    prisma = db.prisma;
    reader = new ProfileReader(prisma, { databaseUrl: db.url } as ControllerEnv);
    reader.caps.chunk = 300;
    const jobs = {
      get: async (id: string) => {
        const j = await prisma.job.findUnique({ where: { id }, include: { runs: { include: { node: { select: { name: true } } } } } });
        if (!j) throw new NotFoundException(`job ${id} not found`);
        return toJobView(j);
      },
    } as unknown as JobsService;
    diff = new DiffService(reader, jobs);
    profiles = new ProfilesService(prisma);
    base = await seedFleetProfile(reader.pool, { nodes: 300, shared: 30, depth: 10, distinct: 1, prefix: 'df', extra: [['main', 'gone;semi', 'x\ny']] });
    target = await seedFleetProfile(reader.pool, { nodes: 300, shared: 45, depth: 10, distinct: 2, prefix: 'df' });
    http = await ReadServer.start();
  });

  after(async () => {
    http?.close();
    await reader?.onModuleDestroy();
    await db?.drop();
  });

  it('serves the differential flame graph and folded lines the whole-list code made, merged or one node a side', async () => {
    const q = { base: base.jobId, target: target.jobId } as DiffQueryDto;
    const svg = await serve((r) => diff.svg(r, q));
    assert.equal(svg.status, 200, svg.text);
    const b = await whole(base.jobId);
    const t = await whole(target.jobId);
    const style = diffFrameStyle(b, t);
    const want = renderFlameGraphSvg(t, {
      title: `Differential CPU profile · ${base.jobId.slice(0, 8)} → ${target.jobId.slice(0, 8)}`,
      subtitle: `base ${style.baseTotal.toLocaleString('en-US')} samples · target ${style.targetTotal.toLocaleString('en-US')} samples · width: target · red: share grew, blue: share shrank`,
      frameStyle: style.frameStyle,
    });
    assert.equal(svg.text, want);
    const folded = await serve((r) => diff.folded(r, q));
    assert.equal(folded.text, diffFolded(b, t));
    assert.match(folded.text, /^main;gone:semi;x y 300 0$/m);
    const one = { ...q, baseNode: base.nodeNames[3], targetNode: target.nodeNames[200] } as DiffQueryDto;
    assert.equal((await serve((r) => diff.folded(r, one))).text, diffFolded(await whole(base.jobId, base.nodeNames[3]), await whole(target.jobId, target.nodeNames[200])));
  });

  it('answers 404 for an unknown job or node and a 422 naming the side without samples, before reading', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    assert.equal((await serve((r) => diff.svg(r, { base: unknown, target: target.jobId } as DiffQueryDto))).status, 404);
    for (const node of ['nope', `'; DROP TABLE "Job"; --`, 'x'.repeat(5000)]) {
      assert.equal((await serve((r) => diff.folded(r, { base: base.jobId, target: target.jobId, targetNode: node } as DiffQueryDto))).status, 404);
    }
    const empty = (
      await reader.pool.query<{ id: string }>(
        `INSERT INTO "Job" ("id", "type", "status", "params", "durationSec") VALUES (gen_random_uuid(), 'cpu_profile', 'running', '{"type":"cpu-profile"}', 10) RETURNING "id"::text`,
      )
    ).rows[0].id;
    const none = await serve((r) => diff.svg(r, { base: base.jobId, target: empty } as DiffQueryDto));
    assert.equal(none.status, 422);
    assert.match(none.text, /^target: job .* has no samples \(status running\)$/);
    await settled(reader);
  });

  it('answers 503 when every read slot and place in line is taken', async () => {
    const held = await Promise.all(Array.from({ length: reader.gate.slots }, () => reader.gate.acquire()));
    const ac = new AbortController();
    const waiting = Array.from({ length: reader.gate.queue }, () => reader.gate.acquire(ac.signal).catch(() => undefined));
    try {
      const res = await http.serve((r) => diff.svg(r, { base: base.jobId, target: target.jobId } as DiffQueryDto));
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '5');
    } finally {
      ac.abort();
      await Promise.all(waiting);
      for (const release of held) release();
    }
    await settled(reader);
  });
});
