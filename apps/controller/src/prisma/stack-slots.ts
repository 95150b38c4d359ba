import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { once } from 'node:events';
import IORedis from 'ioredis';
import { ENV, type ControllerEnv } from '../config/env';
import { DEFAULT_STACK_STORE_SLOTS, PrismaService } from './prisma.service';

/** How often a replica says whether it writes results and counts the replicas that do. */
export const PRESENCE_TICK_MS = 2000;
/** A replica not heard for this long is no longer counted (it died, stopped writing without a word, or cannot reach Redis). */
export const PRESENCE_TTL_MS = 3 * PRESENCE_TICK_MS;

/** The Redis sorted set (member: replica id, score: when last heard, Redis's clock in ms) of a stack's replicas writing results. */
export const presenceKeyName = (prefix: string): string => `${prefix}:result-writers`;

/**
 * One tick in one round trip, timed by Redis's own clock (replicas on several hosts may disagree on the time):
 * this replica heard now if it is writing results (else taken out), those not heard within the TTL forgotten, the
 * key kept a while after the last replica stops, and the count of the rest. KEYS[1] the set; ARGV: replica id,
 * TTL ms, key expiry ms, '1' when writing.
 */
const TICK_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[4] == '1' then redis.call('ZADD', KEYS[1], now, ARGV[1]) else redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('ZCARD', KEYS[1])`;

/**
 * This replica's share of the stack's result writes at once: `stackSlots` over `replicas`, rounded, at least 1
 * and at most `max` (the pool less the connections kept for commands). Any count of replicas is taken (the set is
 * Redis's, inside the stack): a huge one only brings the share down to 1, never stops storage.
 */
export function shareOf(stackSlots: number, replicas: number, max: number): number {
  const counted = Number.isFinite(replicas) && replicas > 1 ? replicas : 1;
  return Math.max(1, Math.min(max, Math.round(stackSlots / counted)));
}

/**
 * Result writes at once across the stack, not per replica. Every replica's ingest writes to the same PostgreSQL:
 * three replicas with 3 slots each kept 9 writes running on a 2-core database, each smaller, and a job's insert
 * waited behind them; with 1 each, the three stored more and dispatched faster (BENCHMARKS.md, fleet). So, unless
 * TRACEFLEET_STORE_SLOTS fixes this replica's number, each replica says every PRESENCE_TICK_MS whether it is
 * writing results (a sorted set in Redis, timed by Redis's clock), counts the replicas that are (heard within
 * PRESENCE_TTL_MS) and sets its storage gate to its share of TRACEFLEET_STACK_STORE_SLOTS. Only writers count: a
 * replica whose agents send nothing leaves the others the whole number (counted by replicas alive, one replica
 * flooded beside two idle ones had 1 slot and stored a third less). While Redis is away a replica keeps its last
 * share; one that dies stops being counted after PRESENCE_TTL_MS, one that stops leaves the set at once.
 */
@Injectable()
export class StackSlots implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(StackSlots.name);
  private readonly redis: IORedis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly key: string;
  /** Replicas writing results at the last tick, this one counted as one of them; 0 before the first. */
  replicas = 0;
  /** The gate's `started` at the last tick. */
  private lastStarted = 0;
  /** Resolves once the connection to Redis is up (boot does not wait: Redis may be away; the specs do). */
  readonly ready: Promise<void> = Promise.resolve();

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
  ) {
    this.key = presenceKeyName(env.queuePrefix);
    // No offline queue: a tick said late is worth nothing (the next one comes).
    if (env.storeSlots === undefined) {
      this.redis = new IORedis(env.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
      this.redis.on('error', () => undefined);
      this.ready = once(this.redis, 'ready').then(() => undefined);
    }
  }

  onApplicationBootstrap(): void {
    if (!this.redis) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), PRESENCE_TICK_MS);
    this.timer.unref();
  }

  /**
   * Says whether this replica writes results (it started a write since the last tick, or has one running or
   * waiting), forgets the replicas not heard of, counts those writing and sets the gate's share, counting this
   * replica as one of them even while it is idle (the share it starts with when results come).
   */
  async tick(): Promise<void> {
    if (!this.redis) return;
    const gate = this.prisma.storeGate;
    const writing = gate.started !== this.lastStarted || gate.busy > 0 || gate.queued > 0;
    this.lastStarted = gate.started;
    let counted: number;
    try {
      const others = Number(await this.redis.eval(TICK_SCRIPT, 1, this.key, this.env.replicaId, PRESENCE_TTL_MS, PRESENCE_TTL_MS * 10, writing ? '1' : '0'));
      counted = writing ? others : others + 1;
    } catch {
      return;
    }
    if (!Number.isFinite(counted) || counted < 1) return;
    const share = shareOf(this.env.stackStoreSlots ?? DEFAULT_STACK_STORE_SLOTS, counted, this.prisma.maxStoreSlots);
    if (share !== gate.slots) this.log.log(`${counted} replica(s) writing results: ${share} result write(s) at once here`);
    this.replicas = counted;
    gate.setSlots(share);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (!this.redis) return;
    // Leaving: the others take this replica's share at their next tick.
    await Promise.race([this.redis.zrem(this.key, this.env.replicaId).catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
    this.redis.disconnect();
  }
}
