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
/** `via`: how the command came: its queue job (`queue`), or the fast path (`fast`: sendFast's Redis message). */
type CommandHandler<N extends CommandName> = (data: DataOf<N>, via: 'queue' | 'fast') => Promise<unknown>;

/** Commands that may take the fast path: their handler must do nothing the second time (the queued copy follows). */
type FastCommand = Extract<AgentCommand, { name: 'start-runs' }>;
/** Delay of a fast command's queued copy: it runs only if the Redis message was lost, or its handler failed. */
export const FAST_BACKSTOP_MS = 5000;
/** Commands in one fast message at most (a dispatch to 2,000 nodes sends a few); a longer one is refused whole. */
const FAST_MAX_COMMANDS = 64;

/** Options of a one-way command: its deterministic id makes a second enqueue a no-op. */
const oneWay = (jobId: string) => ({
  jobId,
  attempts: 3,
  backoff: { type: 'exponential' as const, delay: 200 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
});

export const commandQueueName = (replicaId: string): string => `agent-commands-${replicaId}`;
/** The Redis pub/sub channel of `replicaId`'s fast commands (sendFast), under the stack's queue prefix. */
export const fastChannelName = (prefix: string, replicaId: string): string => `${prefix}:agent-commands-fast:${replicaId}`;

/**
 * The fast commands of one Redis message, or why it is refused. The message comes from Redis, inside the
 * controllers' trust (docs/SECURITY.md), yet only start-runs commands shaped as sendFast writes them pass: a
 * replica's fast path cannot be made to end sessions or stop runs, and what the handler gets has the types it expects.
 */
export function parseFastMessage(raw: string): { cmds: FastCommand[] } | { refused: string } {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { refused: 'not JSON' };
  }
  if (!Array.isArray(v) || v.length === 0 || v.length > FAST_MAX_COMMANDS) return { refused: `not a list of 1 to ${FAST_MAX_COMMANDS} commands` };
  const cmds: FastCommand[] = [];
  for (const c of v as unknown[]) {
    const { name, data } = (c ?? {}) as { name?: unknown; data?: Record<string, unknown> };
    if (name !== 'start-runs') return { refused: `command ${JSON.stringify(name)?.slice(0, 40)} does not take the fast path` };
    const runIds = data?.runIds;
    if (!Array.isArray(runIds) || runIds.length === 0 || !runIds.every((id) => typeof id === 'string')) return { refused: 'start-runs without a list of run ids' };
    const nodeNames = Array.isArray(data?.nodeNames) && data.nodeNames.every((n) => typeof n === 'string') ? (data.nodeNames as string[]) : undefined;
    cmds.push({
      name,
      data: {
        runIds: runIds as string[],
        ...(typeof data?.jobId === 'string' ? { jobId: data.jobId } : {}),
        ...(nodeNames ? { nodeNames } : {}),
        ...(typeof data?.sentAt === 'number' && Number.isFinite(data.sentAt) ? { sentAt: data.sentAt } : {}),
      },
    });
  }
  return { cmds };
}

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
  /** Connections given to the worker and to QueueEvents: BullMQ does not close a connection it was given. */
  private readonly ownConnections: IORedis[] = [];

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

  /**
   * Sends idempotent commands to `replicaId` the fast way: all of them in one Redis pub/sub message, which the
   * replica handles as it arrives (BullMQ's worker would take each only after two more round trips: its blocking
   * pop, then moving the job to active). Pub/sub keeps nothing, so each command is queued too, as a backstop
   * delayed by FAST_BACKSTOP_MS: it runs if the message was lost or its handler failed (the handler sees
   * `via: 'queue'` and does nothing when the fast copy did the work). When no replica listens on the channel
   * (`replicaId` is down or starting), the queued commands are not delayed.
   */
  async sendFast(replicaId: string, cmds: { cmd: FastCommand; jobId: string }[]): Promise<void> {
    if (cmds.length === 0) return;
    const batches: (typeof cmds)[] = [];
    for (let i = 0; i < cmds.length; i += FAST_MAX_COMMANDS) batches.push(cmds.slice(i, i + FAST_MAX_COMMANDS));
    const channel = fastChannelName(this.env.queuePrefix, replicaId);
    const heard = await Promise.all(batches.map((b) => this.connection.publish(channel, JSON.stringify(b.map(({ cmd }) => cmd))).catch(() => 0)));
    await this.queue(replicaId).addBulk(
      cmds.map(({ cmd, jobId }, i) => ({
        name: cmd.name,
        data: cmd.data,
        opts: { ...oneWay(jobId), ...(heard[Math.floor(i / FAST_MAX_COMMANDS)] > 0 ? { delay: FAST_BACKSTOP_MS } : {}) },
      })),
    );
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
        return encodeWire(await handler(job.data, 'queue'));
      },
      { connection: this.own(this.connection.duplicate({ maxRetriesPerRequest: null })), prefix: this.env.queuePrefix, concurrency: 32 },
    );
    this.worker.on('failed', (job, err) => this.log.error(`agent command ${job?.name} ${job?.id} failed: ${err.message}`));
    await this.worker.waitUntilReady();
    await this.listenFast();
    this.log.log(`replica ${this.env.replicaId}: agent commands on queue ${commandQueueName(this.env.replicaId)}`);
  }

  /** Handles the fast commands addressed to this replica (sendFast), each as it arrives; a refused message is logged. */
  private async listenFast(): Promise<void> {
    const sub = this.own(this.connection.duplicate({ maxRetriesPerRequest: null }));
    const channel = fastChannelName(this.env.queuePrefix, this.env.replicaId);
    sub.on('message', (ch: string, raw: string) => {
      if (ch !== channel) return;
      const m = parseFastMessage(raw);
      if ('refused' in m) return this.log.warn(`refused a fast agent command message (${raw.length} bytes): ${m.refused}`);
      for (const cmd of m.cmds) {
        const handler = this.handlers[cmd.name] as CommandHandler<CommandName> | undefined;
        // A failure is left to the command's queued copy (sendFast).
        handler?.(cmd.data, 'fast').catch((err: Error) => this.log.warn(`fast agent command ${cmd.name} failed (its queued copy follows): ${err.message}`));
      }
    });
    // ioredis subscribes again after a reconnect.
    await sub.subscribe(channel);
  }

  async onModuleDestroy(): Promise<void> {
    await this.worker?.close();
    for (const e of this.events.values()) await (await e).close().catch(() => undefined);
    for (const q of this.queues.values()) await q.close();
    for (const c of this.ownConnections) c.disconnect();
    this.connection.disconnect();
  }

  private own(c: IORedis): IORedis {
    this.ownConnections.push(c);
    return c;
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
      const connection = this.connection.duplicate({ maxRetriesPerRequest: null });
      this.own(connection);
      const qe = new QueueEvents(commandQueueName(replicaId), {
        connection,
        prefix: this.env.queuePrefix,
      });
      e = qe.waitUntilReady().then(() => qe);
      this.events.set(replicaId, e);
    }
    return e;
  }
}
