import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { JobQueue } from '../queue/job-queue';

/** Reports deleted per statement; what is left goes in the next round or tick. */
export const REPORT_RETENTION_BATCH = 100;
const MAX_ROUNDS = 50;

/** What the sweep needs from the database (PrismaService, or a test's client). */
export interface RetentionDb {
  $queryRaw<T = unknown>(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<T>;
  $executeRaw(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<number>;
}

/**
 * Reports past retention: older than `days`, or beyond the newest `keepReports` of their schedule.
 * Pending reports (their jobs still running) are never picked.
 */
export async function expiredReports(db: RetentionDb, days: number, limit: number, scheduleId?: string): Promise<{ id: string; incidentId: string | null }[]> {
  return db.$queryRaw<{ id: string; incidentId: string | null }[]>`
    SELECT r."id"::text AS "id", r."incidentId"::text AS "incidentId" FROM (
      SELECT r."id", r."incidentId", r."createdAt", r."status",
             row_number() OVER (PARTITION BY r."scheduleId" ORDER BY r."seq" DESC) AS "rank", s."keepReports"
      FROM "Report" r JOIN "Schedule" s ON s."id" = r."scheduleId"
      WHERE (${scheduleId ?? null}::uuid IS NULL OR r."scheduleId" = ${scheduleId ?? null}::uuid)
    ) r
    WHERE r."status" <> 'pending'
      AND (r."rank" > r."keepReports" OR r."createdAt" < now() - make_interval(days => ${days}::int))
    LIMIT ${limit}::int`;
}

/**
 * Deletes reports and the incidents of their ticks (and so, by cascade, the jobs, runs and profiles).
 * A report kept as another's diff base loses nothing but that link (baseReportId is set null).
 */
export async function deleteReports(db: RetentionDb, rows: { id: string; incidentId: string | null }[]): Promise<number> {
  if (rows.length === 0) return 0;
  const ids = rows.map((r) => r.id);
  const incidents = rows.flatMap((r) => (r.incidentId ? [r.incidentId] : []));
  const n = await db.$executeRaw`DELETE FROM "Report" WHERE "id" = ANY(${ids}::uuid[])`;
  if (incidents.length) await db.$executeRaw`DELETE FROM "Incident" WHERE "id" = ANY(${incidents}::uuid[])`;
  return n;
}

/**
 * Deletes old schedule results: reports older than TRACEFLEET_REPORT_RETENTION_DAYS and those past a
 * schedule's keepReports, with their ticks' jobs. A BullMQ job scheduler runs the sweep every
 * TRACEFLEET_RETENTION_SWEEP_SEC, once per tick across replicas; a finished report also trims its schedule.
 */
@Injectable()
export class ReportRetentionService implements OnModuleInit {
  private readonly log = new Logger(ReportRetentionService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly queue: JobQueue,
  ) {}

  onModuleInit(): void {
    this.queue.periodic('report-retention', this.env.retentionSweepSec * 1000, () => this.sweep());
  }

  async sweep(scheduleId?: string): Promise<number> {
    let deleted = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const rows = await expiredReports(this.prisma, this.env.reportRetentionDays, REPORT_RETENTION_BATCH, scheduleId);
      deleted += await deleteReports(this.prisma, rows);
      if (rows.length < REPORT_RETENTION_BATCH) break;
    }
    if (deleted > 0) this.log.log(`report-retention: deleted ${deleted} report(s) with their jobs${scheduleId ? ` of schedule ${scheduleId}` : ''}`);
    return deleted;
  }

  /** Applies one schedule's keepReports (and the age limit) at once, after a new report. */
  trim(scheduleId: string): Promise<number> {
    return this.sweep(scheduleId);
  }
}
