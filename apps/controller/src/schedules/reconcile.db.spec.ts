// The reconciler against a real PostgreSQL (a throwaway database) and the real Redis (REDIS_URL, a
// throwaway queue prefix): what Redis lost is queued again from the rows, once; a task that failed for
// good is replaced; ended jobs get nothing. Either service being down is a failure that names it.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import type { ControllerEnv } from '../config/env';
import type { PrismaService } from '../prisma/prisma.service';
import type { SchedulesService } from './schedules.service';
import { JobQueue, QUEUE_NAME } from '../queue/job-queue';
import { ReconcileService } from './reconcile.service';
import { scratchDb, type ScratchDb } from '../testing/scratch-db';
import { serviceUrl } from '../testing/service-urls';

const REDIS_URL = serviceUrl('REDIS_URL');
const prefix = `tf-reconcile-test-${randomBytes(4).toString('hex')}`;
const env = { redisUrl: REDIS_URL, queuePrefix: prefix, resultGraceSec: 30 } as ControllerEnv;

describe('reconciling queued work from PostgreSQL', { timeout: 60_000 }, () => {
  let db: ScratchDb;
  let prisma: PrismaService;
  let queue: JobQueue;
  let inspect: Queue;
  let conn: IORedis;
  let reconciler: ReconcileService;
  let synced = 0;

  before(async () => {
    db = await scratchDb('tracefleet_reconcile_test');
    prisma = db.prisma;
    queue = new JobQueue(env);
    conn = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
    inspect = new Queue(QUEUE_NAME, { connection: conn, prefix });
    const schedules = { syncSchedulers: async (onlyMissing: boolean) => (assert.equal(onlyMissing, true), synced++, 0) } as unknown as SchedulesService;
    reconciler = new ReconcileService(env, prisma, queue, schedules);
  });

  after(async () => {
    await inspect?.obliterate({ force: true }).catch(() => undefined);
    await inspect?.close();
    conn?.disconnect();
    await queue?.onModuleDestroy();
    await db?.drop();
  });

  it('queues the missing dispatch and deadline of active jobs (an overdue deadline at once), nothing for ended jobs, and nothing twice', async () => {
    const node = await prisma.node.create({ data: { name: 'n1', kernelRelease: '6.1', btf: true, protocolVersion: 1, capabilities: [], agentVersion: 't' } });
    const now = Date.now();
    const fresh = await prisma.job.create({ data: { type: 'cpu_profile', durationSec: 60, status: 'queued', params: {}, runs: { create: [{ nodeId: node.id }] } } });
    const overdue = await prisma.job.create({
      data: { type: 'cpu_profile', durationSec: 5, status: 'running', params: {}, createdAt: new Date(now - 10 * 60_000), runs: { create: [{ nodeId: node.id, status: 'running' }] } },
    });
    const ended = await prisma.job.create({ data: { type: 'cpu_profile', durationSec: 5, status: 'completed', params: {}, runs: { create: [{ nodeId: node.id, status: 'completed' }] } } });

    const first = await reconciler.reconcile('test', now);
    assert.deepEqual(first, { schedulers: 0, dispatches: 1, deadlines: 2, overdue: 1 });
    assert.equal(synced, 1, 'schedules are synced, only the missing ones');
    const dispatch = await inspect.getJob(`dispatch-${fresh.id}`);
    assert.equal(dispatch?.name, 'dispatch');
    const deadline = await inspect.getJob(`deadline-${fresh.id}`);
    const expected = (60 + 10 + 30) * 1000;
    assert.ok(Math.abs((deadline?.opts.delay ?? 0) - (fresh.createdAt.getTime() + expected - now)) < 50, `delay ${deadline?.opts.delay}`);
    assert.equal((await inspect.getJob(`deadline-${overdue.id}`))?.opts.delay ?? 0, 0, 'overdue: fired now');
    assert.equal(await inspect.getJob(`dispatch-${overdue.id}`), undefined, 'no run waits to start');
    assert.equal(await inspect.getJob(`deadline-${ended.id}`), undefined);
    assert.equal(await inspect.getJob(`dispatch-${ended.id}`), undefined);

    assert.deepEqual(await reconciler.reconcile('test again', now), { schedulers: 0, dispatches: 0, deadlines: 0, overdue: 0 }, 'what Redis holds is left alone');


    // A dispatch that failed for good (a worker whose handler kept failing: PostgreSQL was down) is replaced.
    const workerConn = conn.duplicate({ maxRetriesPerRequest: null });
    const failing = new Worker(QUEUE_NAME, async () => {
      throw new Error('database down');
    }, { connection: workerConn, prefix });
    try {
      for (let i = 0; i < 100 && (await (await inspect.getJob(`dispatch-${fresh.id}`))?.getState()) !== 'failed'; i++) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await failing.close();
      // BullMQ leaves a connection it was given open.
      workerConn.disconnect();
    }
    assert.equal(await (await inspect.getJob(`dispatch-${fresh.id}`))?.getState(), 'failed');
    assert.equal((await reconciler.reconcile('after a failure', now)).dispatches, 1);
    assert.equal(await (await inspect.getJob(`dispatch-${fresh.id}`))?.getState(), 'waiting');
  });
});
