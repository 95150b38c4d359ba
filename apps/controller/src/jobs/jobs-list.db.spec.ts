// GET /jobs against a real PostgreSQL (a throwaway database): jobs created in the same millisecond,
// pages of every size walked through their cursors, each filter, newest first; the expected order is
// computed here from the rows as they were written.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { NotFoundException } from '@nestjs/common';
import type { PrismaService } from '../prisma/prisma.service';
import type { JobStatus, JobType, RunStatus } from '../generated/prisma/enums';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import type { ListJobsQueryDto } from './dto/list-jobs.dto';
import { JobsListService, type JobSummary } from './jobs-list.service';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const TYPES: JobType[] = ['cpu_profile', 'usdt', 'memleak', 'ssl_capture', 'syscount'];
const STATUSES: JobStatus[] = ['queued', 'running', 'completed', 'partial', 'failed'];
const RUN_STATUSES: RunStatus[] = ['pending', 'dispatched', 'running', 'completed', 'failed'];
const N = 27;

interface Written {
  id: string;
  createdAt: number;
  type: JobType;
  status: JobStatus;
  nodes: string[];
  incidentId: string | null;
  scheduleId: string | null;
}

describe('GET /jobs on PostgreSQL: filters and cursor pages', { timeout: 120_000 }, () => {
  let db: ScratchDb;
  let prisma: PrismaService;
  let svc: JobsListService;
  const written: Written[] = [];
  let incidentId = '';
  let scheduleId = '';

  before(async () => {
    db = await scratchDb('tracefleet_jobs_list_test');
    prisma = db.prisma;
    svc = new JobsListService(prisma);
    const node = (name: string) =>
      prisma.node.create({ data: { name, kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't' } });
    const nodes = { a: await node('node-a'), b: await node('node-b'), c: await node('node-c') };
    const schedule = await prisma.schedule.create({ data: { everyMs: 60_000, nodes: 'all', bundle: [] } });
    scheduleId = schedule.id;
    const incident = await prisma.incident.create({ data: { nodes: 'all', bundle: [], startAt: new Date(T0), scheduleId } });
    incidentId = incident.id;
    // Groups of four jobs share a createdAt (the ids then decide), and the groups are inserted out of time order.
    const order = Array.from({ length: N }, (_, i) => i).sort((x, y) => (x % 3) - (y % 3) || x - y);
    for (const i of order) {
      const on = [i % 2 === 0 ? 'a' : null, i % 3 === 0 ? 'b' : null, i % 5 === 0 ? 'c' : null].filter((n): n is 'a' | 'b' | 'c' => n !== null);
      const w: Written = {
        id: randomUUID(),
        createdAt: T0 + Math.floor(i / 4) * 1000,
        type: TYPES[i % TYPES.length],
        status: STATUSES[Math.floor(i / 2) % STATUSES.length],
        nodes: on.map((n) => nodes[n].name).sort(),
        incidentId: i % 7 === 3 ? incidentId : null,
        scheduleId: i % 7 === 3 || i === 20 ? scheduleId : null,
      };
      await prisma.job.create({
        data: {
          id: w.id,
          createdAt: new Date(w.createdAt),
          type: w.type,
          status: w.status,
          durationSec: 10 + i,
          // A summary never carries params (ssl-capture's redactPatterns are for the capture scope).
          params: { redactPatterns: ['sk_live_secret'] },
          incidentId: w.incidentId,
          scheduleId: w.scheduleId,
          runs: { create: on.map((n, k) => ({ nodeId: nodes[n].id, status: RUN_STATUSES[(i + k) % RUN_STATUSES.length] })) },
        },
      });
      written.push(w);
    }
  });
  after(async () => {
    await db?.drop();
  });

  // Newest first, then the larger id: PostgreSQL orders uuids by their bytes, which lowercase hex text keeps.
  const expected = (keep: (w: Written) => boolean = () => true): string[] =>
    written
      .filter(keep)
      .sort((x, y) => y.createdAt - x.createdAt || (x.id < y.id ? 1 : -1))
      .map((w) => w.id);

  /** Every page of `q` with `limit`, following nextCursor; fails on a page that is short before the end. */
  async function walk(q: Partial<ListJobsQueryDto>, limit: number): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let cursor: string | undefined;
    for (let pages = 1; pages <= N + 2; pages++) {
      const page = await svc.list({ ...q, limit, before: cursor } as ListJobsQueryDto);
      assert.ok(page.jobs.length <= limit);
      ids.push(...page.jobs.map((j) => j.id));
      if (page.nextCursor === null) return { ids, pages };
      assert.equal(page.jobs.length, limit, 'only the last page is short');
      assert.equal(page.nextCursor, page.jobs[page.jobs.length - 1].id);
      cursor = page.nextCursor;
    }
    assert.fail('nextCursor never became null');
  }

  it('pages through every job newest first, never skipping or repeating one, whatever the page size', async () => {
    const all = expected();
    assert.equal(new Set(written.map((w) => w.createdAt)).size, Math.ceil(N / 4), 'jobs share createdAt values');
    for (const limit of [1, 2, 3, 4, 5, 7, 26, 27, 100]) {
      const { ids, pages } = await walk({}, limit);
      assert.deepEqual(ids, all, `limit ${limit}`);
      assert.equal(pages, Math.max(1, Math.ceil(N / limit)), `limit ${limit}: no empty page after a full one`);
    }
    const first = await svc.list({} as ListJobsQueryDto);
    assert.equal(first.jobs.length, 20, 'default limit');
    assert.equal(first.nextCursor, all[19]);
  });

  it('applies each filter, and filters with a cursor', async () => {
    const none = () => false;
    const cases: [Partial<ListJobsQueryDto>, (w: Written) => boolean][] = [
      [{ status: 'failed' }, (w) => w.status === 'failed'],
      [{ type: 'ssl-capture' }, (w) => w.type === 'ssl_capture'],
      [{ type: 'cpu-profile' }, (w) => w.type === 'cpu_profile'],
      [{ node: 'node-b' }, (w) => w.nodes.includes('node-b')],
      [{ node: 'node-z' }, none],
      [{ incident: incidentId }, (w) => w.incidentId === incidentId],
      [{ schedule: scheduleId }, (w) => w.scheduleId === scheduleId],
      [{ schedule: randomUUID() }, none],
      [{ createdAfter: new Date(T0 + 2000) }, (w) => w.createdAt > T0 + 2000],
      [{ createdBefore: new Date(T0 + 2000) }, (w) => w.createdAt < T0 + 2000],
      [{ createdAfter: new Date(T0), createdBefore: new Date(T0 + 3000) }, (w) => w.createdAt > T0 && w.createdAt < T0 + 3000],
      [{ type: 'usdt', node: 'node-a', createdAfter: new Date(T0 - 1) }, (w) => w.type === 'usdt' && w.nodes.includes('node-a')],
    ];
    for (const [q, keep] of cases) {
      const want = expected(keep);
      assert.equal(want.length > 0, keep !== none, `${JSON.stringify(q)}: the data has jobs it keeps and jobs it drops`);
      assert.ok(want.length < N, JSON.stringify(q));
      for (const limit of [1, 3, 100]) assert.deepEqual((await walk(q, limit)).ids, want, `${JSON.stringify(q)}, limit ${limit}`);
    }
    // A cursor from an unfiltered page carries on under a filter: only its (createdAt, id) counts.
    const all = expected();
    const cursor = all[5];
    const rest = expected((w) => w.status === 'completed').filter((id) => all.indexOf(id) > 5);
    assert.deepEqual((await svc.list({ status: 'completed', before: cursor, limit: 100 } as ListJobsQueryDto)).jobs.map((j) => j.id), rest);
  });

  it('summarizes a job: API type name, nodes, runs by status, link; no params', async () => {
    const page = await svc.list({ limit: 100 } as ListJobsQueryDto);
    const byId = new Map<string, JobSummary>(page.jobs.map((j) => [j.id, j]));
    for (const w of written) {
      const s = byId.get(w.id)!;
      assert.equal(s.type, w.type.replace('_', '-'));
      assert.equal(s.status, w.status);
      assert.equal(s.createdAt, new Date(w.createdAt).toISOString());
      assert.deepEqual(s.nodes, w.nodes);
      assert.deepEqual(Object.keys(s.runs), RUN_STATUSES);
      assert.equal(Object.values(s.runs).reduce((a, n) => a + n, 0), w.nodes.length);
      assert.equal(s.incidentId, w.incidentId);
      assert.equal(s.scheduleId, w.scheduleId);
      assert.deepEqual(s.links, { self: `/api/v1/jobs/${w.id}` });
    }
    const three = written.find((w) => w.nodes.length === 3)!;
    const rows = await prisma.jobRun.findMany({ where: { jobId: three.id }, select: { status: true } });
    const want = Object.fromEntries(RUN_STATUSES.map((st) => [st, rows.filter((r) => r.status === st).length]));
    assert.deepEqual(byId.get(three.id)!.runs, want);
    assert.ok(!JSON.stringify(page).includes('sk_live_secret'), 'no params in a summary');
    assert.ok(page.jobs.every((j) => !('params' in j)));
  });

  it('answers a cursor that names no job with a 404 naming before', async () => {
    await assert.rejects(svc.list({ before: randomUUID() } as ListJobsQueryDto), (e: unknown) => e instanceof NotFoundException && /^before: job [0-9a-f-]{36} not found/.test(e.message));
  });
});
