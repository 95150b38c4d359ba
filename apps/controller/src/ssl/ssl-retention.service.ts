import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { JobQueue } from '../queue/job-queue';

export const RETENTION_BATCH = 5000;
/** Batches per sweep: a sweep stays short; what is left goes in the next tick. */
export const RETENTION_MAX_BATCHES = 200;

/** What the sweep needs from the database (PrismaService, or a fake in tests). */
export interface RawExecutor {
  $executeRaw(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<number>;
}

/** Deletes events past their expiresAt in batches of `batch` rows, at most `maxBatches`; returns how many. */
export async function sweepExpired(db: RawExecutor, batch = RETENTION_BATCH, maxBatches = RETENTION_MAX_BATCHES): Promise<{ deleted: number; batches: number; more: boolean }> {
  let deleted = 0;
  for (let batches = 1; batches <= maxBatches; batches++) {
    // Bounded: one short statement (and lock set) per batch, so inserts are never held up for long.
    const n = await db.$executeRaw`
      DELETE FROM "SslEvent" WHERE "id" IN (
        SELECT "id" FROM "SslEvent" WHERE "expiresAt" <= now() ORDER BY "expiresAt" LIMIT ${batch}::int)`;
    deleted += n;
    if (n < batch) return { deleted, batches, more: false };
  }
  return { deleted, batches: maxBatches, more: true };
}

/** Deletes ssl-capture events past their retention, every TRACEFLEET_RETENTION_SWEEP_SEC, once per tick across replicas. */
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
    const r = await sweepExpired(this.prisma);
    if (r.deleted > 0) {
      this.log.log(`ssl-retention: deleted ${r.deleted} expired event(s) in ${r.batches} batch(es), ${Date.now() - started} ms${r.more ? '; more left for the next sweep' : ''}`);
    }
    return r.deleted;
  }
}
