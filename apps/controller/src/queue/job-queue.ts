import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Queue, Worker, type Job as BullJob } from 'bullmq';
import IORedis from 'ioredis';
import { ENV, type ControllerEnv } from '../config/env';

/** Every kind of queued work and its payload: one typed union. */
export type QueueTask =
  | { name: 'dispatch'; data: { jobId: string } }
  | { name: 'deadline'; data: { jobId: string } }
  | { name: 'ssl-retention'; data: Record<string, never> };

export type TaskName = QueueTask['name'];
type DataOf<N extends TaskName> = Extract<QueueTask, { name: N }>['data'];
type Handler<N extends TaskName> = (data: DataOf<N>) => Promise<void>;

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
  private readonly handlers: { [N in TaskName]?: Handler<N> } = {};

  constructor(@Inject(ENV) private readonly env: ControllerEnv) {
    this.connection = new IORedis(env.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
    this.queue = new Queue(QUEUE_NAME, { connection: this.connection, prefix: env.queuePrefix });
  }

  handle<N extends TaskName>(name: N, handler: Handler<N>): void {
    (this.handlers as Record<string, unknown>)[name] = handler;
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
  async repeat(task: QueueTask, opts: { schedulerId: string; everyMs: number }): Promise<void> {
    await this.queue.upsertJobScheduler(
      opts.schedulerId,
      { every: opts.everyMs },
      { name: task.name, data: task.data, opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    this.worker = new Worker(
      QUEUE_NAME,
      async (job: BullJob) => {
        const handler = this.handlers[job.name as TaskName] as Handler<TaskName> | undefined;
        if (!handler) throw new Error(`no handler for queued task ${job.name}`);
        await handler(job.data);
      },
      { connection: this.connection.duplicate({ maxRetriesPerRequest: null }), prefix: this.env.queuePrefix, concurrency: 8 },
    );
    this.worker.on('failed', (job, err) => this.log.error(`task ${job?.name} ${job?.id} failed: ${err.message}`));
    await this.worker.waitUntilReady();
  }

  async onModuleDestroy(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
    this.connection.disconnect();
  }
}
