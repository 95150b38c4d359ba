// Commands first across replicas (FleetCommands) against the real Redis (REDIS_URL from the environment, else the
// .env) under a throwaway prefix: a command on one replica narrows the others' storage until it ends, or for at most
// REMOTE_HOLD_MAX_MS; the others do not tell it back; hostile messages on the channel hold nothing, or a bounded few.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type IORedis from 'ioredis';
import type { ControllerEnv } from '../config/env';
import { ControllerMetrics } from '../metrics/controller-metrics';
import { StoreGate } from '../prisma/store-gate';
import type { PrismaService } from '../prisma/prisma.service';
import { commandsChannelName, FleetCommands, MAX_REMOTE_HOLDS, parseCommandsSignal, REMOTE_HOLD_MAX_MS } from './fleet-commands';
import { serviceUrl } from '../testing/service-urls';
import { connectRedis } from '../testing/redis-conn';

const REDIS_URL = serviceUrl('REDIS_URL');
const prefix = `tf-cmds-test-${randomBytes(4).toString('hex')}`;
const channel = commandsChannelName(prefix);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, ok: () => boolean, ms = 2000) => {
  for (const end = Date.now() + ms; !ok(); await sleep(10)) if (Date.now() > end) assert.fail(`${what} within ${ms} ms`);
};

type Replica = { fc: FleetCommands; gate: StoreGate; metrics: ControllerMetrics; heard: boolean[] };

const holdsBy = async (metrics: ControllerMetrics, outcome: string) => (await metrics.remoteCommandHolds.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

describe('commands first across replicas (Redis)', { timeout: 60_000 }, () => {
  const replicas: Replica[] = [];
  let conn: IORedis;
  let sub: IORedis;
  const said: string[] = [];

  before(async () => {
    conn = await connectRedis(REDIS_URL);
    sub = await connectRedis(REDIS_URL);
    sub.on('message', (_ch: string, raw: string) => said.push(raw));
    await sub.subscribe(channel);
  });

  after(async () => {
    for (const r of replicas) await r.fc.onModuleDestroy();
    sub?.disconnect();
    conn?.disconnect();
  });

  const replica = async (id: string): Promise<Replica> => {
    const gate = new StoreGate(4, 1);
    const metrics = new ControllerMetrics();
    const heard: boolean[] = [];
    gate.onCommands((running) => heard.push(running));
    const fc = new FleetCommands({ redisUrl: REDIS_URL, queuePrefix: prefix, replicaId: id } as ControllerEnv, { storeGate: gate } as PrismaService, metrics);
    fc.onApplicationBootstrap();
    await fc.ready;
    const r = { fc, gate, metrics, heard };
    replicas.push(r);
    return r;
  };

  it("narrows the other replicas' storage while a command runs on one, until it ends; they do not tell it back", async () => {
    const a = await replica('a');
    const b = await replica('b');
    const c = await replica('c');
    let end!: () => void;
    const command = a.gate.foreground(() => new Promise<void>((r) => (end = r)));
    await until('b and c hold for a', () => b.fc.held === 1 && c.fc.held === 1);
    assert.equal(b.gate.limit, 1, "b's storage narrowed to its foreground slot");
    assert.equal(c.gate.limit, 1);
    assert.deepEqual(b.heard, [true], "b's gateway heard commands begin (its sessions are held by HoldDuty)");
    await sleep(200);
    assert.equal(a.fc.held, 0, 'b and c did not tell their stand-ins back to a');
    assert.deepEqual(said.map((m) => JSON.parse(m)), [{ replica: 'a', running: true }], 'only a said anything');

    end();
    await command;
    await until('b and c let go', () => b.fc.held === 0 && c.fc.held === 0);
    assert.equal(b.gate.limit, 4, "b's storage has all its slots again");
    assert.deepEqual(b.heard, [true, false]);
    assert.equal(await holdsBy(b.metrics, 'ended'), 1);
    assert.deepEqual(said.map((m) => JSON.parse(m)), [
      { replica: 'a', running: true },
      { replica: 'a', running: false },
    ]);

    // Its own message back from the channel holds nothing on a.
    assert.equal(a.gate.limit, 4);
    assert.equal(a.fc.held, 0);
  });

  it('lets go after REMOTE_HOLD_MAX_MS when no end comes (a lost message, a replica gone)', async () => {
    const b = replicas[1];
    const t0 = Date.now();
    assert.equal(await conn.publish(channel, JSON.stringify({ replica: 'gone', running: true })), 4, 'three replicas and the spec listen');
    await until('b holds for the gone replica', () => b.fc.held === 1);
    await until('the hold ends by its bound', () => b.fc.held === 0, REMOTE_HOLD_MAX_MS + 2000);
    assert.ok(Date.now() - t0 >= REMOTE_HOLD_MAX_MS - 50, `held ${Date.now() - t0} ms`);
    assert.equal(b.gate.limit, 4);
    assert.equal(await holdsBy(b.metrics, 'bound'), 1);
    // An end heard after the bound changes nothing.
    await conn.publish(channel, JSON.stringify({ replica: 'gone', running: false }));
    await sleep(100);
    assert.equal(b.gate.limit, 4);
  });

  it('holds nothing for hostile messages, and at most MAX_REMOTE_HOLDS for a flood of made-up replicas', async () => {
    const b = replicas[1];
    const refused0 = await holdsBy(b.metrics, 'refused');
    const hostile = ['', '{', 'null', '[]', '"a"', '{"replica":"x"}', '{"replica":"x","running":"yes"}', '{"replica":"../x","running":true}', '{"replica":"","running":true}', JSON.stringify({ replica: 'x'.repeat(64), running: true }), JSON.stringify({ replica: 'x', running: true, pad: 'y'.repeat(300) }), '{"replica":"b","running":true}'];
    for (const raw of hostile) await conn.publish(channel, raw);
    await sleep(200);
    assert.equal(b.fc.held, 0, 'none of them held b');
    assert.equal(b.gate.limit, 4);
    assert.equal((await holdsBy(b.metrics, 'refused')) - refused0, hostile.length - 1, 'each refused (its own replica id is not refused, only ignored)');

    for (let i = 0; i < MAX_REMOTE_HOLDS + 20; i++) await conn.publish(channel, JSON.stringify({ replica: `forged-${i}`, running: true }));
    await until(`b holds ${MAX_REMOTE_HOLDS}`, () => b.fc.held === MAX_REMOTE_HOLDS);
    await sleep(100);
    assert.equal(b.fc.held, MAX_REMOTE_HOLDS, 'no more than the bound');
    await until('the forged holds end by their bound', () => b.fc.held === 0, REMOTE_HOLD_MAX_MS + 2000);
    assert.equal(b.gate.limit, 4);
  });
});

describe('commands channel messages as they come from Redis', () => {
  it('takes {replica, running} and refuses anything else', () => {
    assert.deepEqual(parseCommandsSignal('{"replica":"ctl-1.a_b","running":false}'), { replica: 'ctl-1.a_b', running: false });
    assert.deepEqual(parseCommandsSignal('{"replica":"r","running":true,"extra":{"$where":1}}'), { replica: 'r', running: true });
    for (const raw of ['', 'x', '1', 'true', '[{"replica":"r","running":true}]', '{"replica":5,"running":true}', '{"replica":"r","running":1}', '{"replica":"-r","running":true}', '{"replica":"r r","running":true}', `{"replica":"r","running":true,"p":"${'a'.repeat(300)}"}`]) {
      assert.ok('refused' in parseCommandsSignal(raw), `refused: ${raw.slice(0, 60)}`);
    }
  });
});
