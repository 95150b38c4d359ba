// Redis restarted without its data, mid-schedule: PostgreSQL is the source of truth for what must happen,
// so the controller rebuilds what Redis lost (queue/reconcile.service.ts) when its connection comes back.
// The stack gets a Redis of its own (a child process on a free port, no persistence), so that the test can
// `redis-cli shutdown nosave` it without touching the machine's Redis.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort, sleep, startStack, waitFor, waitJob, type Stack } from './harness';

const EVERY_MS = 5000;

describe('Redis restarted without its data (shutdown nosave) mid-schedule', () => {
  let stack: Stack;
  let port: number;
  let redis: ChildProcess | undefined;
  let scheduleId: string | undefined;

  function startRedis(): ChildProcess {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    // A test that crashes does not leave it running.
    const kill = (): void => void child.kill('SIGKILL');
    process.once('exit', kill);
    child.once('exit', () => process.removeListener('exit', kill));
    return child;
  }

  async function redisUp(): Promise<void> {
    await waitFor(async () => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG', 10_000, `redis on ${port}`);
  }

  before(async () => {
    port = await freePort();
    redis = startRedis();
    await redisUp();
    stack = await startStack({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
  });

  after(async () => {
    if (scheduleId) await stack?.api('DELETE', `/schedules/${scheduleId}`).catch(() => undefined);
    await stack?.stop();
    if (redis && redis.exitCode === null) redis.kill('SIGKILL');
  });

  const schedule = async (): Promise<{ ticks: number; lastTickAt: string | null }> => (await stack.api('GET', `/schedules/${scheduleId}`)).json;

  it('the schedule ticks again within one interval of Redis coming back; a job posted while Redis was down is answered at once and dispatched after', async () => {
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

    const down = spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { encoding: 'utf8' });
    assert.ok(down.status === 0 || down.status === 1, `redis-cli shutdown: ${down.stderr}`);
    await waitFor(async () => redis!.exitCode !== null || redis!.signalCode !== null, 10_000, 'redis to stop');
    await sleep(1000);

    // POST while Redis is down: the job is stored and answered; its dispatch waits for Redis.
    const t0 = Date.now();
    const posted = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 2, frequencyHz: 49, target: { all: true }, nodes: { names: [stack.nodeName] } });
    const answeredMs = Date.now() - t0;
    assert.equal(posted.status, 201, posted.text);
    assert.equal(posted.json.status, 'queued');
    console.log(`# POST /jobs answered in ${answeredMs} ms while Redis was down`);
    assert.ok(answeredMs < 5000, `POST /jobs took ${answeredMs} ms while Redis was down: it waited for Redis`);
    await sleep(2000);
    const ticksBefore = (await schedule()).ticks;

    redis = startRedis();
    await redisUp();
    const backAt = Date.now();
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
