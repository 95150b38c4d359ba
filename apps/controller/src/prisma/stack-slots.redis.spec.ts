// The stack's result writes at once shared among the replicas writing results (StackSlots) against the real Redis (REDIS_URL from
// the environment, else the .env) under a throwaway prefix: three writing replicas get 1 each of 3, two get 2, a lone
// one 3, an idle one is not counted;
// a silent replica stops counting after PRESENCE_TTL_MS (Redis's clock); a flooded set brings the share down to 1, never to 0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type IORedis from 'ioredis';
import type { ControllerEnv } from '../config/env';
import type { PrismaService } from './prisma.service';
import { StoreGate } from './store-gate';
import { PRESENCE_TTL_MS, presenceKeyName, shareOf, StackSlots } from './stack-slots';
import { serviceUrl } from '../testing/service-urls';
import { connectRedis } from '../testing/redis-conn';

const REDIS_URL = serviceUrl('REDIS_URL');
const prefix = `tf-slots-test-${randomBytes(4).toString('hex')}`;

type Replica = { slots: StackSlots; gate: StoreGate };
const replica = (id: string, env: Partial<ControllerEnv> = {}): Replica => {
  const gate = new StoreGate(3, 1);
  const prisma = { storeGate: gate, maxStoreSlots: 8 } as unknown as PrismaService;
  const slots = new StackSlots({ redisUrl: REDIS_URL, queuePrefix: prefix, replicaId: id, stackStoreSlots: 3, ...env } as ControllerEnv, prisma);
  return { slots, gate };
};

describe('shareOf', () => {
  it('divides the stack slots among the replicas, rounded, within 1 and the pool', () => {
    assert.deepEqual([1, 2, 3, 4, 1000].map((n) => shareOf(3, n, 8)), [3, 2, 1, 1, 1]);
    assert.equal(shareOf(20, 1, 8), 8, 'never more than the pool allows');
    assert.equal(shareOf(3, 0, 8), 3, 'no count: a lone replica');
    assert.equal(shareOf(3, Number.NaN, 8), 3, 'a count that is no number: as no count');
  });
});

describe('StackSlots (Redis)', { timeout: 30_000 }, () => {
  let conn: IORedis;
  const made: Replica[] = [];
  const make = async (id: string, env?: Partial<ControllerEnv>) => {
    const r = replica(id, env);
    made.push(r);
    await r.slots.ready;
    return r;
  };

  before(async () => {
    conn = await connectRedis(REDIS_URL);
  });
  after(async () => {
    for (const r of made) await r.slots.onModuleDestroy();
    await conn.del(presenceKeyName(prefix));
    conn.disconnect();
  });

  /** A replica that has written results since its last tick, then ticks (counted as a writer). */
  const writeAndTick = async (r: Replica) => {
    await r.gate.run(async () => undefined);
    await r.slots.tick();
  };

  it('shares 3 writes among the replicas writing results, and gives a stopped one\'s share back', async () => {
    const [a, b, c] = await Promise.all([make('r-a'), make('r-b'), make('r-c')]);
    await writeAndTick(a);
    assert.equal(a.gate.slots, 3, 'alone so far');
    await writeAndTick(b);
    await writeAndTick(c);
    await writeAndTick(a);
    await writeAndTick(b);
    assert.deepEqual([a.slots.replicas, b.slots.replicas, c.slots.replicas], [3, 3, 3]);
    assert.deepEqual([a.gate.slots, b.gate.slots, c.gate.slots], [1, 1, 1]);
    // A stop leaves the set at once: the two left take 2 each (3 / 2, rounded) at their next tick.
    await c.slots.onModuleDestroy();
    await writeAndTick(a);
    await writeAndTick(b);
    assert.deepEqual([a.gate.slots, b.gate.slots], [2, 2]);
  });

  it('does not count a replica that writes nothing: it takes the share it would have, the others keep theirs', async () => {
    const idle = await make('r-idle');
    await idle.slots.tick();
    assert.equal(idle.slots.replicas, 3, 'r-a and r-b write, and it would be the third');
    assert.equal(idle.gate.slots, 1);
    assert.equal(await conn.zscore(presenceKeyName(prefix), 'r-idle'), null, 'not in the set');
    const [a, b] = made;
    // r-a stops writing: out at its next tick; r-b, alone writing, takes all 3.
    await a.slots.tick();
    await writeAndTick(b);
    assert.equal(b.slots.replicas, 1);
    assert.equal(b.gate.slots, 3);
    // Work still waiting or running counts as writing, without a new start.
    const release: (() => void)[] = [];
    const held = a.gate.run(() => new Promise<void>((r) => release.push(r)));
    await a.slots.tick();
    await a.slots.tick();
    assert.equal(a.slots.replicas, 2);
    release.shift()!();
    await held;
  });

  it('stops counting a replica not heard within PRESENCE_TTL_MS', async () => {
    const d = await make('r-d');
    await writeAndTick(d);
    assert.ok(d.slots.replicas >= 2, 'r-a and r-b are still in the set');
    // r-a and r-b say nothing for longer than the TTL: their last word is made older than Redis's now − TTL.
    const [sec] = await conn.time();
    const old = Number(sec) * 1000 - PRESENCE_TTL_MS - 1000;
    await conn.zadd(presenceKeyName(prefix), old, 'r-a', old, 'r-b');
    await writeAndTick(d);
    assert.equal(d.slots.replicas, 1);
    assert.equal(d.gate.slots, 3);
    assert.equal(await conn.zscore(presenceKeyName(prefix), 'r-a'), null, 'forgotten');
    assert.ok((await conn.pttl(presenceKeyName(prefix))) > PRESENCE_TTL_MS, 'the set expires a while after the last replica stops');
  });

  it('takes a flooded set down to one write at once, never to none', async () => {
    const e = await make('r-e');
    const [sec] = await conn.time();
    const later = Number(sec) * 1000 + 60_000;
    await conn.zadd(presenceKeyName(prefix), ...Array.from({ length: 1000 }, (_, i) => [later, `forged-${i}`]).flat());
    await writeAndTick(e);
    assert.ok(e.slots.replicas > 1000);
    assert.equal(e.gate.slots, 1);
    await conn.del(presenceKeyName(prefix));
  });

  it('leaves a replica given TRACEFLEET_STORE_SLOTS with its own number, saying nothing', async () => {
    const f = await make('r-f', { storeSlots: 2 });
    f.gate.setSlots(2);
    await writeAndTick(f);
    assert.equal(f.gate.slots, 2);
    assert.equal(await conn.zscore(presenceKeyName(prefix), 'r-f'), null);
  });
});
