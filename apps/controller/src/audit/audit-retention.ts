import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { JobQueue } from '../queue/job-queue';
import { deleteInBatches, type RawExecutor } from '../retention/batched-delete';

export const AUDIT_RETENTION_BATCH = 5000;
export const AUDIT_RETENTION_MAX_BATCHES = 100;
export const DEFAULT_AUDIT_RETENTION_DAYS = 365;

/** Deletes audit entries older than `cutoff`, oldest first, in bounded batches. */
export async function sweepOldAudit(db: RawExecutor, cutoff: Date, batch = AUDIT_RETENTION_BATCH, maxBatches = AUDIT_RETENTION_MAX_BATCHES): Promise<{ deleted: number; more: boolean }> {
  const { deleted, more } = await deleteInBatches(
    (limit) => db.$executeRaw`
      DELETE FROM "AuditEntry" WHERE "id" IN (
        SELECT "id" FROM "AuditEntry" WHERE "at" < ${cutoff} ORDER BY "at" LIMIT ${limit}::int)`,
    batch,
    maxBatches,
  );
  return { deleted, more };
}

/** Runs sweepOldAudit every TRACEFLEET_RETENTION_SWEEP_SEC, once per tick across replicas (a BullMQ job scheduler). */
@Injectable()
export class AuditRetentionService implements OnModuleInit {
  private readonly log = new Logger(AuditRetentionService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly queue: JobQueue,
  ) {}

  onModuleInit(): void {
    this.queue.periodic('audit-retention', this.env.retentionSweepSec * 1000, () => this.sweep());
  }

  async sweep(now = new Date()): Promise<{ deleted: number; more: boolean }> {
    const days = this.env.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS;
    const cutoff = new Date(now.getTime() - days * 86_400_000);
    const r = await sweepOldAudit(this.prisma, cutoff);
    if (r.deleted > 0) this.log.log(`audit-retention: deleted ${r.deleted} entries before ${cutoff.toISOString()}${r.more ? ' (more next tick)' : ''}`);
    return r;
  }
}
