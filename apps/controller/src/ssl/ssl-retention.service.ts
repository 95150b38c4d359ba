import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { JobQueue } from '../queue/job-queue';
import { deleteInBatches, type RawExecutor } from '../retention/batched-delete';
import { dropExpired, poolPartitionDb } from '../retention/partitions';

export const RETENTION_BATCH = 5000;
/** Batches per sweep: a sweep stays short; what is left goes in the next tick. */
export const RETENTION_MAX_BATCHES = 200;

/** Deletes events past their expiresAt in batches of `batch` rows, at most `maxBatches`; returns how many. */
export function sweepExpired(db: RawExecutor, batch = RETENTION_BATCH, maxBatches = RETENTION_MAX_BATCHES): Promise<{ deleted: number; batches: number; more: boolean }> {
  return deleteInBatches(
    (limit) => db.$executeRaw`
      DELETE FROM "SslEvent" WHERE "id" IN (
        SELECT "id" FROM "SslEvent" WHERE "expiresAt" <= now() ORDER BY "expiresAt" LIMIT ${limit}::int)`,
    batch,
    maxBatches,
  );
}

/**
 * Deletes ssl-capture events past their retention, every TRACEFLEET_RETENTION_SWEEP_SEC, once per tick across replicas:
 * whole past days by dropping their partition when every event in it expired, the rest in row batches.
 */
@Injectable()
export class SslRetentionService implements OnModuleInit {
  private readonly log = new Logger(SslRetentionService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly queue: JobQueue,
  ) {}

  onModuleInit(): void {
    this.queue.periodic('ssl-retention', this.env.retentionSweepSec * 1000, () => this.sweep());
  }

  async sweep(): Promise<number> {
    const started = Date.now();
    // Past days whose events have all expired go whole (a DROP of the day's partition); the rest row by row.
    try {
      const d = await dropExpired(poolPartitionDb(this.prisma.pool), new Date());
      if (d.dropped.length) this.log.log(`ssl-retention: dropped partitions ${d.dropped.join(', ')} (every event in them expired)`);
    } catch (err) {
      this.log.warn(`ssl-retention: dropping expired partitions failed (the row sweep still runs; next tick tries again): ${(err as Error).message}`);
    }
    const r = await sweepExpired(this.prisma);
    if (r.deleted > 0) {
      this.log.log(`ssl-retention: deleted ${r.deleted} expired event(s) in ${r.batches} batch(es), ${Date.now() - started} ms${r.more ? '; more left for the next sweep' : ''}`);
    }
    return r.deleted;
  }
}
