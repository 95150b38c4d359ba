import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { SchedulesService } from './schedules.service';
import { jobTasks } from '../jobs/job-tasks';
import { TERMINAL_JOB } from '../common/run-status';
import { JobQueue } from '../queue/job-queue';

/** How often some replica reconciles (also catches tasks that failed while PostgreSQL was down). */
const RECONCILE_EVERY_MS = 60_000;

export interface Reconciled {
  schedulers: number;
  dispatches: number;
  deadlines: number;
  overdue: number;
}

/**
 * PostgreSQL says what must happen; Redis (BullMQ) only holds when. After Redis lost its data (a restart
 * without persistence, a flush) or a task failed for good (PostgreSQL was down when it ran), this puts
 * back what is missing, from the rows: each schedule's job scheduler, the dispatch of every active job
 * with runs not started, and every active job's deadline (at once when it is overdue). It runs when a
 * replica starts, when its Redis connection comes back, and every minute on some replica. Every step is
 * idempotent (deterministic task ids; a task still in Redis is left alone), so replicas may run it at once.
 * It lives with the schedules because it needs them and the jobs' deadline rule (folders import one way).
 */
@Injectable()
export class ReconcileService implements OnModuleInit, OnApplicationBootstrap {
  private readonly log = new Logger(ReconcileService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly queue: JobQueue,
    private readonly schedules: SchedulesService,
  ) {}

  onModuleInit(): void {
    this.queue.periodic('reconcile', RECONCILE_EVERY_MS, () => this.reconcile('periodic'));
    this.queue.onReconnect(async () => void (await this.reconcile('Redis connection back')));
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.reconcile('replica start').catch((err: Error) => this.log.error(`reconcile at start failed: ${err.message}`));
  }

  async reconcile(why: string, now = Date.now()): Promise<Reconciled> {
    const out: Reconciled = { schedulers: await this.schedules.syncSchedulers(true), dispatches: 0, deadlines: 0, overdue: 0 };
    const jobs = await this.prisma.job.findMany({
      where: { status: { notIn: [...TERMINAL_JOB] } },
      select: { id: true, createdAt: true, startAt: true, durationSec: true, runs: { where: { status: 'pending' }, select: { id: true }, take: 1 } },
    });
    for (const j of jobs) {
      const { dispatch, deadline } = jobTasks(j, this.env.resultGraceSec, now);
      if (j.runs.length > 0 && (await this.queue.ensure(dispatch.task, dispatch.opts))) out.dispatches++;
      if (await this.queue.ensure(deadline.task, deadline.opts)) {
        out.deadlines++;
        if (deadline.opts.delayMs === 0) out.overdue++;
      }
    }
    if (out.schedulers + out.dispatches + out.deadlines > 0) {
      this.log.warn(
        `reconciled from PostgreSQL (${why}): ${out.schedulers} schedule scheduler(s), ${out.dispatches} job dispatch(es), ` +
          `${out.deadlines} deadline(s) (${out.overdue} overdue, fired now) were missing from Redis and are queued again`,
      );
    }
    return out;
  }
}
