import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Job as BullJob, Queue, QueueEvents, Worker } from 'bullmq';
import IORedis from 'ioredis';
import type { ListUsdt, Target } from '@tracefleet/proto';
import { ENV, type ControllerEnv } from '../config/env';

/**
 * Work for the agents connected to one controller replica, carried by that replica's BullMQ queue
 * `agent-commands-<replicaId>`. Payloads hold ids (and node names), not protocol messages: the replica holding the
 * session builds the StartRun from PostgreSQL, so what it sends is never stale.
 */
export type AgentCommand =
  /** `hops` counts forwards to another replica after the node moved there. */
  | { name: 'start-run'; data: { runId: string; hops: number } }
  /**
   * Many runs' starts at once (a dispatch): one claim statement and a StartRun per session, not a queue job per run.
   * `jobId` and `nodeNames` (index by index with runIds) spare the receiver a read (its claim checks them);
   * `sentAt`: enqueue time, ms since the epoch (the relay step of dispatch_step_duration_seconds).
   */
  | { name: 'start-runs'; data: { runIds: string[]; jobId?: string; nodeNames?: string[]; sentAt?: number } }
  | { name: 'stop-run'; data: { runId: string; nodeName: string; reason: string } }
  | { name: 'check-target'; data: { nodeName: string; target: Target; timeoutMs: number; expiresAt: number } }
  | { name: 'list-usdt'; data: { nodeName: string; source: NonNullable<ListUsdt['source']>; timeoutMs: number; expiresAt: number } }
  /** The node was revoked: its session, if this replica holds it, ends. */
  | { name: 'end-session'; data: { nodeName: string; reason: string } };

export type CommandName = AgentCommand['name'];
type DataOf<N extends CommandName> = Extract<AgentCommand, { name: N }>['data'];
type CommandHandler<N extends CommandName> = (data: DataOf<N>) => Promise<unknown>;

/** Options of a one-way command: its deterministic id makes a second enqueue a no-op. */
const oneWay = (jobId: string) => ({
  jobId,
  attempts: 3,
  backoff: { type: 'exponential' as const, delay: 200 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
});

export const commandQueueName = (replicaId: string): string => `agent-commands-${replicaId}`;

/** BullMQ stores results as JSON; protocol answers carry bigints (file offsets), tagged here and restored by `decodeWire`. */
export function encodeWire(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? null, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v)));
}

export function decodeWire<T>(value: unknown): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length === 1 && keys[0] === '$bigint' && typeof o.$bigint === 'string') return BigInt(o.$bigint);
      return Object.fromEntries(keys.map((k) => [k, walk(o[k])]));
    }
    return v;
  };
  return walk(value) as T;
}

/**
 * Sends commands to any replica's agents and runs the commands addressed to this replica.
 * One-way commands (start, stop) get a deterministic jobId, so a run is never started twice
 * however often it is enqueued; requests wait for the owning replica's answer through QueueEvents.
 */
@Injectable()
export class AgentCommandQueue implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(AgentCommandQueue.name);
  private readonly connection: IORedis;
  private readonly queues = new Map<string, Queue>();
  private readonly events = new Map<string, Promise<QueueEvents>>();
  private readonly handlers: { [N in CommandName]?: CommandHandler<N> } = {};
  private worker: Worker | undefined;

  constructor(@Inject(ENV) private readonly env: ControllerEnv) {
    this.connection = new IORedis(env.redisUrl, { maxRetriesPerRequest: null });
  }

  get replicaId(): string {
    return this.env.replicaId;
  }

  /** This replica's command queue's jobs by state (metrics). */
  jobCounts(): Promise<Record<string, number>> {
    return this.queue(this.env.replicaId).getJobCounts('waiting', 'active', 'delayed', 'failed');
  }

  handle<N extends CommandName>(name: N, handler: CommandHandler<N>): void {
    (this.handlers as Record<string, unknown>)[name] = handler;
  }

  /** Enqueues a one-way command on `replicaId`'s queue; the same jobId twice is a no-op. */
  async send(replicaId: string, cmd: AgentCommand, jobId: string): Promise<void> {
    await this.queue(replicaId).add(cmd.name, cmd.data, oneWay(jobId));
  }

  /** Enqueues many one-way commands on `replicaId`'s queue in one round trip to Redis. */
  async sendMany(replicaId: string, cmds: { cmd: AgentCommand; jobId: string }[]): Promise<void> {
    if (cmds.length === 0) return;
    await this.queue(replicaId).addBulk(cmds.map(({ cmd, jobId }) => ({ name: cmd.name, data: cmd.data, opts: oneWay(jobId) })));
  }

  /**
   * Runs a request on `replicaId` and returns its answer; undefined when no answer came within
   * `timeoutMs` (the replica is down, or the agent did not answer).
   */
  async call<T>(replicaId: string, cmd: Extract<AgentCommand, { name: 'check-target' | 'list-usdt' }>, timeoutMs: number): Promise<T | undefined> {
    const events = await this.queueEvents(replicaId);
    const job = await this.queue(replicaId).add(cmd.name, cmd.data, { attempts: 1, removeOnComplete: { age: 300 }, removeOnFail: { age: 300 } });
    try {
      return decodeWire<T>(await job.waitUntilFinished(events, timeoutMs));
    } catch (err) {
      this.log.warn(`${cmd.name} on replica ${replicaId}: ${(err as Error).message}`);
      return undefined;
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    this.worker = new Worker(
      commandQueueName(this.env.replicaId),
      async (job: BullJob) => {
        const handler = this.handlers[job.name as CommandName] as CommandHandler<CommandName> | undefined;
        if (!handler) throw new Error(`no handler for agent command ${job.name}`);
        return encodeWire(await handler(job.data));
      },
      { connection: this.connection.duplicate({ maxRetriesPerRequest: null }), prefix: this.env.queuePrefix, concurrency: 32 },
    );
    this.worker.on('failed', (job, err) => this.log.error(`agent command ${job?.name} ${job?.id} failed: ${err.message}`));
    await this.worker.waitUntilReady();
    this.log.log(`replica ${this.env.replicaId}: agent commands on queue ${commandQueueName(this.env.replicaId)}`);
  }

  async onModuleDestroy(): Promise<void> {
    await this.worker?.close();
    for (const e of this.events.values()) await (await e).close().catch(() => undefined);
    for (const q of this.queues.values()) await q.close();
    this.connection.disconnect();
  }

  private queue(replicaId: string): Queue {
    let q = this.queues.get(replicaId);
    if (!q) {
      q = new Queue(commandQueueName(replicaId), { connection: this.connection, prefix: this.env.queuePrefix });
      this.queues.set(replicaId, q);
    }
    return q;
  }

  private queueEvents(replicaId: string): Promise<QueueEvents> {
    let e = this.events.get(replicaId);
    if (!e) {
      const qe = new QueueEvents(commandQueueName(replicaId), {
        connection: this.connection.duplicate({ maxRetriesPerRequest: null }),
        prefix: this.env.queuePrefix,
      });
      e = qe.waitUntilReady().then(() => qe);
      this.events.set(replicaId, e);
    }
    return e;
  }
}
