// The fast path of replicas' start-runs commands (AgentCommandQueue.sendFast) against the real Redis (REDIS_URL
// from the environment, else the .env) under a throwaway queue prefix: the command arrives as one pub/sub
// message, its queued copy follows FAST_BACKSTOP_MS later; a replica nobody listens for gets it queued at once;
// messages forged on the channel (garbage, other commands, wrong types) reach no handler.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type IORedis from 'ioredis';
import type { ControllerEnv } from '../config/env';
import { AgentCommandQueue, commandQueueName, FAST_BACKSTOP_MS, fastChannelName, parseFastMessage } from './agent-commands';
import { serviceUrl } from '../testing/service-urls';
import { connectRedis } from '../testing/redis-conn';

const REDIS_URL = serviceUrl('REDIS_URL');
const prefix = `tf-fast-test-${randomBytes(4).toString('hex')}`;
const envOf = (replicaId: string) => ({ redisUrl: REDIS_URL, queuePrefix: prefix, replicaId }) as ControllerEnv;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const starts = (runIds: string[]) => ({ name: 'start-runs' as const, data: { runIds, jobId: 'j1', nodeNames: runIds.map((id) => `node-${id}`), sentAt: Date.now() } });

describe('fast start-runs between replicas (Redis)', { timeout: 60_000 }, () => {
  const queues: AgentCommandQueue[] = [];
  let conn: IORedis;

  before(async () => {
    conn = await connectRedis(REDIS_URL);
  });

  after(async () => {
    for (const q of queues) await q.onModuleDestroy();
    for (const r of ['a', 'b', 'c']) {
      const q = new Queue(commandQueueName(r), { connection: conn, prefix });
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
    conn?.disconnect();
  });

  const replica = async (id: string, got: { via: string; data: unknown; at: number }[]) => {
    const q = new AgentCommandQueue(envOf(id));
    q.handle('start-runs', async (data, via) => void got.push({ via, data, at: Date.now() }));
    q.handle('end-session', async (data, via) => void got.push({ via, data: { endSession: data }, at: Date.now() }));
    await q.onApplicationBootstrap();
    queues.push(q);
    return q;
  };

  it('delivers the command at once by pub/sub, then its queued copy after the backstop delay; forged messages reach no handler', async () => {
    const atB: { via: string; data: unknown; at: number }[] = [];
    const a = await replica('a', []);
    await replica('b', atB);
    const t0 = Date.now();
    await a.sendFast('b', [{ cmd: starts(['r1', 'r2']), jobId: 'starts-r1-2' }]);
    for (let i = 0; i < 100 && atB.length === 0; i++) await sleep(20);
    assert.equal(atB.length, 1, 'the fast copy arrived');
    assert.equal(atB[0].via, 'fast');
    assert.deepEqual((atB[0].data as { runIds: string[] }).runIds, ['r1', 'r2']);
    assert.ok(atB[0].at - t0 < FAST_BACKSTOP_MS / 2, `fast copy after ${atB[0].at - t0} ms`);

    // Forged on B's channel: none of these reaches a handler (end-session in particular never takes the fast path).
    const channel = fastChannelName(prefix, 'b');
    for (const raw of ['{', '[]', '"x"', JSON.stringify([{ name: 'end-session', data: { nodeName: 'n', reason: 'x' } }]), JSON.stringify([{ name: 'start-runs', data: { runIds: 'r1' } }]), JSON.stringify(Array(65).fill(starts(['r9'])))]) {
      assert.equal(await conn.publish(channel, raw), 1, 'replica b listens');
    }
    await sleep(300);
    assert.equal(atB.length, 1, 'forged messages reached no handler');

    for (let i = 0; i < 100 && atB.length < 2; i++) await sleep(100);
    assert.equal(atB.length, 2, 'the queued copy ran too');
    assert.equal(atB[1].via, 'queue');
    assert.deepEqual(atB[1].data, atB[0].data);
    assert.ok(atB[1].at - t0 >= FAST_BACKSTOP_MS, `queued copy after ${atB[1].at - t0} ms: delayed as the backstop`);
  });

  it('queues the command undelayed when no replica listens for it (down, or not started yet)', async () => {
    const a = queues[0];
    await a.sendFast('c', [{ cmd: starts(['r3']), jobId: 'starts-r3-1' }]);
    const atC: { via: string; data: unknown; at: number }[] = [];
    const t0 = Date.now();
    await replica('c', atC);
    for (let i = 0; i < 100 && atC.length === 0; i++) await sleep(20);
    assert.equal(atC.length, 1);
    assert.equal(atC[0].via, 'queue');
    assert.ok(atC[0].at - t0 < FAST_BACKSTOP_MS / 2, `taken ${atC[0].at - t0} ms after replica c started: not delayed`);
  });
});

describe('fast command messages as they come from Redis', () => {
  it('passes start-runs shaped as sent, drops fields of the wrong type, and refuses anything else whole', () => {
    const ok = parseFastMessage(JSON.stringify([starts(['r1'])]));
    assert.ok('cmds' in ok && ok.cmds[0].data.runIds[0] === 'r1' && ok.cmds[0].data.jobId === 'j1');
    const loose = parseFastMessage(JSON.stringify([{ name: 'start-runs', data: { runIds: ['r1'], jobId: 5, nodeNames: [1, 2], sentAt: 'soon', extra: { $where: 1 } } }]));
    assert.deepEqual(loose, { cmds: [{ name: 'start-runs', data: { runIds: ['r1'] } }] }, 'wrong-typed fields and unknown ones dropped');
    for (const raw of ['', 'null', '{}', '[null]', '[1]', JSON.stringify([{ name: 'stop-run', data: {} }]), JSON.stringify([{ name: 'start-runs' }]), JSON.stringify([{ name: 'start-runs', data: { runIds: [] } }]), JSON.stringify([{ name: 'start-runs', data: { runIds: [1] } }])]) {
      assert.ok('refused' in parseFastMessage(raw), `refused: ${raw}`);
    }
    // A valid command beside a forged one: the whole message is refused.
    assert.ok('refused' in parseFastMessage(JSON.stringify([starts(['r1']), { name: 'end-session', data: { nodeName: 'n', reason: 'x' } }])));
  });
});
