import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { JobQueue } from '../queue/job-queue';
import { deleteInBatches, type RawExecutor } from './batched-delete';
import { PartitionService } from './partition.service';

/** Jobs deleted per statement: one short statement per batch (their runs and results go by cascade). */
export const JOB_RETENTION_BATCH = 200;
export const JOB_RETENTION_MAX_BATCHES = 50;

/**
 * Deletes ended jobs created before `cutoff` with everything they stored (runs, profiles, USDT and
 * memleak results, ssl events: ON DELETE CASCADE), then incidents older than the cutoff that no
 * job is left in. Running and queued jobs are never touched. Schedule reports keep their own merged
 * stacks and have their own retention (TRACEFLEET_REPORT_RETENTION_DAYS).
 */
export async function sweepOldJobs(
  db: RawExecutor,
  cutoff: Date,
  batch = JOB_RETENTION_BATCH,
  maxBatches = JOB_RETENTION_MAX_BATCHES,
): Promise<{ jobs: number; incidents: number; more: boolean }> {
  const { deleted: jobs, more } = await deleteInBatches(
    (limit) => db.$executeRaw`
      DELETE FROM "Job" WHERE "id" IN (
        SELECT "id" FROM "Job"
        WHERE "createdAt" < ${cutoff} AND "status" IN ('completed', 'partial', 'failed', 'stopped')
        ORDER BY "createdAt" LIMIT ${limit}::int)`,
    batch,
    maxBatches,
  );
  const incidents = await db.$executeRaw`
    DELETE FROM "Incident" i WHERE i."createdAt" < ${cutoff}
      AND NOT EXISTS (SELECT 1 FROM "Job" j WHERE j."incidentId" = i."id")
      AND NOT EXISTS (SELECT 1 FROM "Report" r WHERE r."incidentId" = i."id")`;
  return { jobs, incidents, more };
}

/**
 * Runs sweepOldJobs every TRACEFLEET_RETENTION_SWEEP_SEC, once per tick across replicas, after the partition
 * manager made the days ahead and dropped the sample partitions past the cutoff (partition.service.ts).
 */
@Injectable()
export class JobRetentionService implements OnModuleInit {
  private readonly log = new Logger(JobRetentionService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly queue: JobQueue,
    private readonly partitions: PartitionService,
  ) {}

  onModuleInit(): void {
    this.queue.periodic('job-retention', this.env.retentionSweepSec * 1000, () => this.sweep());
  }

  async sweep(now = new Date()): Promise<{ jobs: number; incidents: number; more: boolean }> {
    const cutoff = new Date(now.getTime() - this.env.jobRetentionDays * 86_400_000);
    // Whole days of samples first (a DROP of their partition), so the row deletes below find nothing to
    // cascade into there; then the jobs themselves and whatever is left (the default partition, events).
    await this.partitions.maintain(now, cutoff);
    const result = await sweepOldJobs(this.prisma, cutoff);
    if (result.jobs || result.incidents) {
      this.log.log(`retention: deleted ${result.jobs} jobs and ${result.incidents} incidents created before ${cutoff.toISOString()}${result.more ? ' (more next tick)' : ''}`);
    }
    return result;
  }
}
