import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Queue, Worker, type Job as BullJob } from 'bullmq';
import IORedis from 'ioredis';
import { ENV, type ControllerEnv } from '../config/env';
import { orAfter } from '../common/or-after';

/** Every kind of queued work and its payload: one typed union. */
export type QueueTask =
  | { name: 'dispatch'; data: { jobId: string } }
  | { name: 'deadline'; data: { jobId: string } }
  | { name: 'ssl-retention'; data: Record<string, never> }
  /** Node liveness: connected → unreachable → gone by time since the last heartbeat; fails lost nodes' runs. */
  | { name: 'node-sweep'; data: Record<string, never> }
  | { name: 'schedule-tick'; data: { scheduleId: string } }
  | { name: 'report-check'; data: { reportId: string } }
  | { name: 'report-retention'; data: Record<string, never> }
  /** Ended jobs past TRACEFLEET_JOB_RETENTION_DAYS, with their results. */
  | { name: 'job-retention'; data: Record<string, never> }
  /** Audit entries past TRACEFLEET_AUDIT_RETENTION_DAYS. */
  | { name: 'audit-retention'; data: Record<string, never> }
  /** What Redis lost, put back from PostgreSQL (schedules/reconcile.service.ts). */
  | { name: 'reconcile'; data: Record<string, never> };

export type TaskName = QueueTask['name'];
type DataOf<N extends TaskName> = Extract<QueueTask, { name: N }>['data'];
type Handler<N extends TaskName> = (data: DataOf<N>) => Promise<void>;
/** Tasks without a payload: the fleet-wide periodic sweeps. */
type PeriodicName = Extract<QueueTask, { data: Record<string, never> }>['name'];

export const QUEUE_NAME = 'jobs';

/**
 * The one way to queue work. BullMQ keeps it in Redis, so a task survives a
 * controller restart and runs once; the deterministic jobId makes enqueueing
 * the same work twice a no-op.
 */
@Injectable()
export class JobQueue implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(JobQueue.name);
  private readonly connection: IORedis;
  private readonly queue: Queue;
  private worker: Worker | undefined;
  private workerConnection: IORedis | undefined;
  private readonly handlers: { [N in TaskName]?: Handler<N> } = {};
  private readonly periodics: { name: PeriodicName; everyMs: number }[] = [];
  private readonly reconnectListeners: (() => Promise<void>)[] = [];
  /** The connection to Redis was lost since it was last ready: on 'ready', what Redis held may be gone. */
  private lost = false;

  constructor(@Inject(ENV) private readonly env: ControllerEnv) {
    this.connection = new IORedis(env.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
    this.queue = new Queue(QUEUE_NAME, { connection: this.connection, prefix: env.queuePrefix });
    // A Redis restart without persistence (or a flush) loses every queued task and scheduler: when the
    // connection comes back, the periodic tasks are registered again and the listeners (the reconciler,
    // schedules/reconcile.service.ts) rebuild the rest from PostgreSQL.
    this.connection.on('close', () => {
      this.lost = true;
    });
    this.connection.on('ready', () => {
      if (!this.lost) return;
      this.lost = false;
      this.log.warn('Redis connection is back: registering periodic tasks again and reconciling queued work from PostgreSQL');
      void this.registerPeriodics()
        .then(async () => {
          for (const l of this.reconnectListeners) await l();
        })
        .catch((err: Error) => this.log.error(`reconciling after the Redis reconnect failed: ${err.message}`));
    });
  }

  /** This queue's jobs by state (metrics). */
  jobCounts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
  }

  /** Redis answers PING within `timeoutMs` (GET /health/ready); throws otherwise. */
  async ping(timeoutMs: number): Promise<void> {
    await orAfter(this.connection.ping(), timeoutMs, (): never => {
      throw new Error(`no answer to PING within ${timeoutMs} ms`);
    });
  }

  /** `listener` runs each time the Redis connection comes back after it was lost. */
  onReconnect(listener: () => Promise<void>): void {
    this.reconnectListeners.push(listener);
  }

  /**
   * Queues the task unless BullMQ still holds one with its id (waiting, delayed, active or done); one
   * that failed for good is replaced. True when it was queued.
   */
  async ensure(task: QueueTask, opts: { jobId: string; delayMs?: number }): Promise<boolean> {
    const held = await this.queue.getJob(opts.jobId);
    if (held) {
      if ((await held.getState()) !== 'failed') return false;
      await held.remove();
    }
    await this.enqueue(task, opts);
    return true;
  }

  handle<N extends TaskName>(name: N, handler: Handler<N>): void {
    (this.handlers as Record<string, unknown>)[name] = handler;
  }

  /**
   * A fleet-wide periodic task: `run` handles it here, and at bootstrap a job scheduler with the
   * task's name as its id runs it every `everyMs` — once per tick across all replicas, and on
   * whichever replica is alive. Call it from onModuleInit.
   */
  periodic(name: PeriodicName, everyMs: number, run: () => Promise<unknown>): void {
    this.handle(name, async () => {
      await run();
    });
    this.periodics.push({ name, everyMs });
  }

  async enqueue(task: QueueTask, opts: { jobId: string; delayMs?: number }): Promise<void> {
    await this.queue.add(task.name, task.data, {
      jobId: opts.jobId,
      delay: opts.delayMs,
      attempts: 3,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  /**
   * Runs a task every `everyMs`. BullMQ keeps one scheduler per id in Redis, so every replica
   * upserting the same id yields one run per tick across the fleet (the last upsert sets the interval).
   */
  async repeat(task: QueueTask, opts: { schedulerId: string } & ({ everyMs: number } | { cron: string })): Promise<void> {
    await this.queue.upsertJobScheduler(
      opts.schedulerId,
      // Cron patterns are read in UTC so that replicas in different time zones agree.
      'cron' in opts ? { pattern: opts.cron, tz: 'UTC' } : { every: opts.everyMs },
      { name: task.name, data: task.data, opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
    );
  }

  /** Ends a repeat; true when there was one. */
  async unrepeat(schedulerId: string): Promise<boolean> {
    return this.queue.removeJobScheduler(schedulerId);
  }

  /** The ids of the job schedulers in Redis whose id starts with `prefix`. */
  async repeatIds(prefix: string): Promise<string[]> {
    const all = await this.queue.getJobSchedulers(0, -1);
    return all.map((s) => s.key).filter((k) => k.startsWith(prefix));
  }

  async onApplicationBootstrap(): Promise<void> {
    this.worker = new Worker(
      QUEUE_NAME,
      async (job: BullJob) => {
        const handler = this.handlers[job.name as TaskName] as Handler<TaskName> | undefined;
        if (!handler) throw new Error(`no handler for queued task ${job.name}`);
        await handler(job.data);
      },
      { connection: (this.workerConnection = this.connection.duplicate({ maxRetriesPerRequest: null })), prefix: this.env.queuePrefix, concurrency: 8 },
    );
    this.worker.on('failed', (job, err) => this.log.error(`task ${job?.name} ${job?.id} failed: ${err.message}`));
    await this.worker.waitUntilReady();
    await this.registerPeriodics();
  }

  private async registerPeriodics(): Promise<void> {
    for (const p of this.periodics) await this.repeat({ name: p.name, data: {} } as QueueTask, { schedulerId: p.name, everyMs: p.everyMs });
  }

  async onModuleDestroy(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
    // BullMQ leaves connections it was given open.
    this.workerConnection?.disconnect();
    this.connection.disconnect();
  }
}
