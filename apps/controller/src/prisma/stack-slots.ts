import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { once } from 'node:events';
import IORedis from 'ioredis';
import { ENV, type ControllerEnv } from '../config/env';
import { DEFAULT_STACK_STORE_SLOTS, PrismaService } from './prisma.service';

/** How often a replica says it is alive and counts the others. */
export const PRESENCE_TICK_MS = 2000;
/** A replica not heard for this long is no longer counted (it died, or cannot reach Redis). */
export const PRESENCE_TTL_MS = 3 * PRESENCE_TICK_MS;

/** The Redis sorted set (member: replica id, score: when last heard) of a stack's live replicas. */
export const presenceKeyName = (prefix: string): string => `${prefix}:replicas-alive`;

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
 * TRACEFLEET_STORE_SLOTS fixes this replica's number, each replica says every PRESENCE_TICK_MS that it is alive
 * (a sorted set in Redis), counts the replicas heard within PRESENCE_TTL_MS, and sets its storage gate to its share
 * of TRACEFLEET_STACK_STORE_SLOTS. While Redis is away it keeps the last share; a replica that dies stops being
 * counted after PRESENCE_TTL_MS, one that stops leaves the set at once.
 */
@Injectable()
export class StackSlots implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(StackSlots.name);
  private readonly redis: IORedis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly key: string;
  /** Replicas counted at the last tick (this one included); 0 before the first. */
  replicas = 0;
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

  /** Says this replica is alive, forgets the replicas not heard of, counts the rest and sets the gate's share. */
  async tick(now = Date.now()): Promise<void> {
    if (!this.redis) return;
    let counted: number;
    try {
      const res = await this.redis.multi().zadd(this.key, now, this.env.replicaId).zremrangebyscore(this.key, '-inf', now - PRESENCE_TTL_MS).zcard(this.key).pexpire(this.key, PRESENCE_TTL_MS * 10).exec();
      counted = Number(res?.[2]?.[1]);
    } catch {
      return;
    }
    if (!Number.isFinite(counted) || counted < 1) return;
    const share = shareOf(this.env.stackStoreSlots ?? DEFAULT_STACK_STORE_SLOTS, counted, this.prisma.maxStoreSlots);
    if (counted !== this.replicas || share !== this.prisma.storeGate.slots) {
      this.log.log(`${counted} replica(s) alive: ${share} result write(s) at once here`);
    }
    this.replicas = counted;
    this.prisma.storeGate.setSlots(share);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (!this.redis) return;
    // Leaving: the others take this replica's share at their next tick.
    await Promise.race([this.redis.zrem(this.key, this.env.replicaId).catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
    this.redis.disconnect();
  }
}
