// Two controller replicas registering the same schedule: BullMQ's job scheduler keyed by the schedule
// id must yield one job per tick, taken by one of the two workers. Runs against the real Redis
// (REDIS_URL from the environment, else the .env: Tracefleet's Redis with its user and password) under a
// throwaway queue prefix; Redis being down or REDIS_URL missing is a failure that names it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type IORedis from 'ioredis';
import type { ControllerEnv } from '../config/env';
import { JobQueue, QUEUE_NAME } from '../queue/job-queue';
import { serviceUrl } from '../testing/service-urls';
import { connectRedis } from '../testing/redis-conn';

const REDIS_URL = serviceUrl('REDIS_URL');
const prefix = `tf-sched-test-${randomBytes(4).toString('hex')}`;
const env = { redisUrl: REDIS_URL, queuePrefix: prefix } as ControllerEnv;

describe('schedule ticks with two replicas', () => {
  const replicas: JobQueue[] = [];
  let inspect: Queue;
  let conn: IORedis;

  before(async () => {
    conn = await connectRedis(REDIS_URL);
    inspect = new Queue(QUEUE_NAME, { connection: conn, prefix });
  });

  after(async () => {
    for (const r of replicas) await r.onModuleDestroy();
    await inspect?.obliterate({ force: true }).catch(() => undefined);
    await inspect?.close();
    conn?.disconnect();
  });

  it('runs one job per tick although both replicas upsert the same scheduler and both have workers', async () => {
    const calls: { replica: number; at: number }[] = [];
    for (let i = 0; i < 2; i++) {
      const q = new JobQueue(env);
      q.handle('schedule-tick', async () => {
        calls.push({ replica: i, at: Date.now() });
      });
      await q.onApplicationBootstrap();
      replicas.push(q);
    }
    const t0 = Date.now();
    // Both replicas register the schedule, as each does at boot, at the same moment.
    await Promise.all(replicas.map((q) => q.repeat({ name: 'schedule-tick', data: { scheduleId: 's1' } }, { schedulerId: 'schedule:s1', everyMs: 1000 })));
    await new Promise((r) => setTimeout(r, 4600));
    for (const q of replicas) await q.unrepeat('schedule:s1');
    const elapsed = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 300));

    const done = await inspect.getJobs(['completed']);
    const ticks = done.map((j) => j.id!).filter((id) => id.startsWith('repeat:schedule:s1:'));
    assert.equal(new Set(ticks).size, ticks.length, `duplicate tick ids: ${ticks.join(', ')}`);
    assert.equal(calls.length, ticks.length, `${calls.length} handler calls for ${ticks.length} ticks`);
    // Every 1000 ms for ~4.6 s: 4 or 5 ticks (the first is aligned to the next whole second), never 8-10.
    assert.ok(calls.length >= Math.floor(elapsed / 1000) - 1 && calls.length <= Math.ceil(elapsed / 1000) + 1, `${calls.length} ticks in ${elapsed} ms`);
    const fireTimes = ticks.map((id) => Number(id.split(':').at(-1))).sort((a, b) => a - b);
    for (let i = 1; i < fireTimes.length; i++) assert.equal(fireTimes[i] - fireTimes[i - 1], 1000);
    assert.equal(await inspect.getJobSchedulersCount(), 0);
  });
});
