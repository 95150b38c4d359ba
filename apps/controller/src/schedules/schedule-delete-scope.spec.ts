import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ForbiddenException, NotFoundException } from '@nestjs/common';
import type { ControllerEnv } from '../config/env';
import type { PrismaService } from '../prisma/prisma.service';
import type { JobQueue } from '../queue/job-queue';
import type { IncidentsService } from '../incidents/incidents.service';
import type { ReportsService } from './reports.service';
import { SchedulesService } from './schedules.service';

const ID = '3f1c0b1e-0000-4000-8000-000000000001';

/** A schedule row and its jobs' types; records what was deleted. */
function service(row: { sslCapture: boolean } | null, jobTypes: string[]) {
  const deleted: string[] = [];
  const unrepeated: string[] = [];
  const prisma = {
    schedule: { findUnique: async () => (row ? { id: ID, ...row } : null), delete: () => (deleted.push('schedule'), { id: ID }) },
    job: { count: async ({ where }: { where: { type: string } }) => jobTypes.filter((t) => t === where.type).length },
    report: { deleteMany: () => (deleted.push('reports'), { count: 2 }) },
    incident: { deleteMany: () => (deleted.push('incidents'), { count: 1 }) },
    $transaction: async (ops: unknown[]) => ops,
  } as unknown as PrismaService;
  const queue = { unrepeat: async (k: string) => void unrepeated.push(k) } as unknown as JobQueue;
  const svc = new SchedulesService({} as ControllerEnv, prisma, queue, {} as IncidentsService, {} as ReportsService);
  return { svc, deleted, unrepeated };
}

describe('deleting a schedule', () => {
  it('needs the ssl-capture scope when its bundle has an ssl-capture job; a 403 names it and deletes nothing', async () => {
    const { svc, deleted, unrepeated } = service({ sslCapture: true }, []);
    await assert.rejects(svc.remove(ID, ['jobs']), (e: unknown) => e instanceof ForbiddenException && /needs the ssl-capture scope \(TRACEFLEET_CAPTURE_TOKEN\)/.test(JSON.stringify(e.getResponse())));
    assert.deepEqual(deleted, []);
    assert.deepEqual(unrepeated, [], 'the schedule keeps ticking');
  });

  it('needs it when a past tick produced ssl-capture data, even if the flag says otherwise', async () => {
    const { svc, deleted } = service({ sslCapture: false }, ['cpu_profile', 'ssl_capture']);
    await assert.rejects(svc.remove(ID, ['jobs']), ForbiddenException);
    await assert.rejects(svc.remove(ID, []), ForbiddenException, 'no scopes at all');
    assert.deepEqual(deleted, []);
  });

  it('deletes with the capture scope, and a plain schedule with the jobs scope', async () => {
    const a = service({ sslCapture: true }, ['ssl_capture']);
    assert.deepEqual(await a.svc.remove(ID, ['jobs', 'ssl-capture']), { id: ID, deleted: true, reports: 2, incidents: 1 });
    assert.deepEqual(a.deleted, ['reports', 'incidents', 'schedule']);
    const b = service({ sslCapture: false }, ['cpu_profile']);
    assert.equal((await b.svc.remove(ID, ['jobs'])).deleted, true);
  });

  it('answers 404 for unknown and malformed ids before any scope question', async () => {
    await assert.rejects(service(null, []).svc.remove(ID, ['jobs']), NotFoundException);
    await assert.rejects(service({ sslCapture: true }, []).svc.remove(`${ID}' OR '1'='1`, ['jobs']), NotFoundException);
  });
});
