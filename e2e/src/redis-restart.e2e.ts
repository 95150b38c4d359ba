// Redis restarted without its data, mid-schedule: PostgreSQL is the source of truth for what must happen,
// so the controller rebuilds what Redis lost (schedules/reconcile.service.ts) when its connection comes back.
// The stack gets a Redis of its own (a child process on a free port, no persistence), so that the test can
// `redis-cli shutdown nosave` it without touching the machine's Redis.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, sleep, startStack, waitFor, waitJob, type Stack } from './harness';
import { OwnRedis } from './faults';

const EVERY_MS = 5000;

describe('Redis restarted without its data (shutdown nosave) mid-schedule', () => {
  let stack: Stack;
  let redis: OwnRedis;
  let scheduleId: string | undefined;

  before(async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
    stack = await startStack({ env: { REDIS_URL: redis.url } });
  });

  after(async () => {
    if (scheduleId) await stack?.api('DELETE', `/schedules/${scheduleId}`).catch(() => undefined);
    await stack?.stop();
    redis?.kill();
  });

  const schedule = async (): Promise<{ ticks: number; lastTickAt: string | null }> => (await stack.api('GET', `/schedules/${scheduleId}`)).json;

  it('the schedule ticks again within one interval of Redis coming back; a job posted while Redis was down is answered at once and runs', async () => {
    const created = await stack.api('POST', '/schedules', {
      name: 'redis restart',
      everyMs: EVERY_MS,
      nodes: { names: [stack.nodeName] },
      job: { type: 'cpu-profile', durationSec: 1, frequencyHz: 49, target: { all: true } },
      keepReports: 5,
    });
    assert.equal(created.status, 201, created.text);
    scheduleId = created.json.id;
    await waitFor(async () => (await schedule()).ticks >= 1, 3 * EVERY_MS, 'a first tick');

    await redis.shutdownNosave();
    await sleep(1000);
    // Readiness says which dependency is gone (a load balancer takes the replica out); liveness stays up.
    const notReady = await stack.api('GET', '/health/ready', undefined, null);
    assert.equal(notReady.status, 503, notReady.text);
    assert.equal(notReady.json.checks.postgres, 'ok', notReady.text);
    assert.notEqual(notReady.json.checks.redis, 'ok', notReady.text);
    assert.equal((await stack.api('GET', '/health/live', undefined, null)).status, 200);

    // POST while Redis is down: the job is stored, answered, and dispatched by this replica (it holds the agent's
    // session: no Redis hop); its backstop dispatch and its deadline reach Redis once it is back.
    const t0 = Date.now();
    const posted = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 2, frequencyHz: 49, target: { all: true }, nodes: { names: [stack.nodeName] } });
    const answeredMs = Date.now() - t0;
    assert.equal(posted.status, 201, posted.text);
    assert.ok(['queued', 'running'].includes(posted.json.status), posted.text);
    console.log(`# POST /jobs answered in ${answeredMs} ms while Redis was down`);
    assert.ok(answeredMs < 5000, `POST /jobs took ${answeredMs} ms while Redis was down: it waited for Redis`);
    await sleep(2000);
    const ticksBefore = (await schedule()).ticks;

    await redis.start();
    const backAt = Date.now();
    await waitFor(async () => (await stack.api('GET', '/health/ready', undefined, null)).status === 200, 10_000, 'ready again once Redis is back');
    // The schedulers were lost with Redis' data: the reconciler registers them again from PostgreSQL.
    await waitFor(async () => (await schedule()).ticks > ticksBefore, 3 * EVERY_MS, 'a tick after Redis came back');
    const tickAfterMs = Date.parse((await schedule()).lastTickAt!) - backAt;
    console.log(`# first schedule tick ${tickAfterMs} ms after Redis came back (interval ${EVERY_MS} ms)`);
    assert.ok(tickAfterMs <= EVERY_MS + 2000, `the schedule ticked again only ${tickAfterMs} ms after Redis came back`);
    await waitFor(async () => (await schedule()).ticks > ticksBefore + 1, 3 * EVERY_MS, 'the schedule to keep ticking');

    const job = await waitJob(stack, posted.json.id, 30_000);
    console.log(`# the job posted while Redis was down ended ${job.status} ${Date.now() - backAt} ms after Redis came back`);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.ok(job.runs[0].samplesStored > 0);
    // The node sweep is a periodic task too: it runs again (the node stays connected, its heartbeats recorded).
    const nodes = (await stack.api('GET', '/nodes')).json as { name: string; status: string }[];
    assert.equal(nodes.find((n) => n.name === stack.nodeName)?.status, 'connected');
  });
});
