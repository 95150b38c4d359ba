import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { once } from 'node:events';
import IORedis from 'ioredis';
import { ENV, type ControllerEnv } from '../config/env';
import { ControllerMetrics } from '../metrics/controller-metrics';
import { PrismaService } from '../prisma/prisma.service';

/** The longest another replica's command narrows this replica's storage, whatever is heard (a lost end, a replica gone). */
export const REMOTE_HOLD_MAX_MS = 3000;
/** Other replicas' commands held at once at most: a stack has a few replicas, never this many. */
export const MAX_REMOTE_HOLDS = 32;
/** Longer messages are refused unread: a real one is about 60 bytes. */
const MAX_MESSAGE_BYTES = 256;
const REPLICA_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** The Redis pub/sub channel on which a stack's replicas say when their commands begin and end. */
export const commandsChannelName = (prefix: string): string => `${prefix}:commands-running`;

export type CommandsSignal = { replica: string; running: boolean };

/**
 * One message of the channel, or why it is refused. It comes from Redis (inside the stack, but what any client
 * of that Redis can write): only `{"replica": <a replica id>, "running": <boolean>}` is taken.
 */
export function parseCommandsSignal(raw: string): CommandsSignal | { refused: string } {
  if (raw.length > MAX_MESSAGE_BYTES) return { refused: `longer than ${MAX_MESSAGE_BYTES} bytes` };
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { refused: 'not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { refused: 'not an object' };
  const { replica, running } = v as Record<string, unknown>;
  if (typeof replica !== 'string' || !REPLICA_RE.test(replica)) return { refused: 'no valid replica id' };
  if (typeof running !== 'boolean') return { refused: '`running` is not a boolean' };
  return { replica, running };
}

/**
 * Commands first, across replicas. While a command runs on a replica, its StoreGate narrows result storage and
 * its gateway holds the sessions unread, so the command has the replica's CPU and pool (StoreGate.foreground).
 * The other replicas' ingest went on meanwhile, against the same PostgreSQL (and, on one machine, the same
 * CPUs): a dispatch's node pick and run insert waited behind it, and the replicas given its forwarded starts
 * took them late (BENCHMARKS.md, fleet, three replicas). So each replica says on one Redis channel when its own
 * commands begin and end, and every other replica runs a stand-in command (`foreground(…, 'elsewhere')`) from
 * the begin it hears to the end, for at most REMOTE_HOLD_MAX_MS: its storage narrows and its gateway's HoldDuty
 * holds its sessions, within that duty's bounds (results are delayed, never starved). Pub/sub keeps nothing: a
 * lost message costs only priority, never a result or a command.
 */
@Injectable()
export class FleetCommands implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(FleetCommands.name);
  private readonly pub: IORedis;
  private sub: IORedis | undefined;
  /** Other replicas' commands held here now: each one's end. */
  private readonly holds = new Map<string, () => void>();
  private refusedLogged = 0;
  /** Resolves once this replica listens on the channel and can say on it (boot does not wait: Redis may be away). */
  ready: Promise<void> = Promise.resolve();

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    @Optional() private readonly metrics?: ControllerMetrics,
  ) {
    // No offline queue: a begin or end said late is worse than one not said (the holds end by their bound).
    this.pub = new IORedis(env.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.pub.on('error', () => undefined);
  }

  /** Other replicas' commands held here now (spec, metrics). */
  get held(): number {
    return this.holds.size;
  }

  onApplicationBootstrap(): void {
    const channel = commandsChannelName(this.env.queuePrefix);
    this.sub = new IORedis(this.env.redisUrl, { maxRetriesPerRequest: null });
    this.sub.on('error', () => undefined);
    this.sub.on('message', (ch: string, raw: string) => ch === channel && this.heard(raw));
    // ioredis subscribes again after a reconnect.
    const saying = this.pub.status === 'ready' ? Promise.resolve() : once(this.pub, 'ready').then(() => undefined);
    this.ready = Promise.all([this.sub.subscribe(channel), saying]).then(
      () => undefined,
      (err: Error) => this.log.warn(`commands channel: ${err.message}`),
    );
    // Said while Redis is away: lost (the other replicas' ingest just goes on beside the command).
    this.prisma.storeGate.onLocalCommands((running) => void this.pub.publish(channel, JSON.stringify({ replica: this.env.replicaId, running })).catch(() => undefined));
  }

  /** A message of the channel: another replica's commands begin (held here) or end (let go). */
  heard(raw: string): void {
    const m = parseCommandsSignal(raw);
    if ('refused' in m) {
      this.metrics?.remoteCommandHolds.inc({ outcome: 'refused' });
      if (this.refusedLogged++ < 10) this.log.warn(`refused a message on the commands channel (${raw.length} bytes): ${m.refused}`);
      return;
    }
    if (m.replica === this.env.replicaId) return;
    const end = this.holds.get(m.replica);
    if (!m.running) return end?.();
    if (end || this.holds.size >= MAX_REMOTE_HOLDS) return;
    void this.prisma.storeGate.foreground(
      () =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => done('bound'), REMOTE_HOLD_MAX_MS);
          const done = (outcome: 'ended' | 'bound') => {
            if (this.holds.get(m.replica) !== finish) return;
            this.holds.delete(m.replica);
            clearTimeout(timer);
            this.metrics?.remoteCommandHolds.inc({ outcome });
            resolve();
          };
          const finish = () => done('ended');
          this.holds.set(m.replica, finish);
        }),
      'elsewhere',
    );
  }

  async onModuleDestroy(): Promise<void> {
    for (const end of [...this.holds.values()]) end();
    this.sub?.disconnect();
    this.pub.disconnect();
  }
}
