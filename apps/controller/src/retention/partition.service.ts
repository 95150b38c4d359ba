import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { PrismaService } from '../prisma/prisma.service';
import { DAILY_TABLES, dropBefore, ensureAhead, partitionStats, poolPartitionDb, type DailyTable, type PartitionDb } from './partitions';

export interface PartitionStats {
  table: string;
  partitions: number;
  defaultRows: number;
}

/** How long one read of the partition stats serves the metrics. */
export const STATS_FOR_MS = 10_000;

/**
 * Keeps the day partitions of the sample and event tables (partitions.ts): makes today's and the days ahead at boot and
 * on each retention tick (JobRetentionService calls `maintain` once per tick across replicas, before its row
 * deletes), and drops the days the job retention has passed. A failure is logged and left to the next tick:
 * rows of a day without a partition still land, in the DEFAULT partition, and move into the day's
 * partition when it is made.
 */
@Injectable()
export class PartitionService implements OnModuleInit {
  private readonly log = new Logger(PartitionService.name);
  private readonly db: PartitionDb;

  private readonly tables: DailyTable[] = DAILY_TABLES;

  constructor(prisma: PrismaService) {
    this.db = poolPartitionDb(prisma.pool);
  }

  async onModuleInit(): Promise<void> {
    await this.ensureAhead(new Date());
  }

  private statsRead?: { at: number; value: Promise<PartitionStats[]> };

  /**
   * stats() as read within the last STATS_FOR_MS: the metrics show it in two gauges, and each read is a
   * transaction per table on the pool results share, once per scrape however often scrapers come.
   */
  recentStats(now = Date.now()): Promise<PartitionStats[]> {
    if (!this.statsRead || now - this.statsRead.at >= STATS_FOR_MS || now < this.statsRead.at) {
      const value = this.stats();
      const read = { at: now, value };
      this.statsRead = read;
      value.catch(() => {
        if (this.statsRead === read) this.statsRead = undefined; // a failed read is not kept
      });
    }
    return this.statsRead.value;
  }

  /** Day partitions and DEFAULT-partition rows of each table (health/metrics-sources.ts shows them). */
  async stats(): Promise<PartitionStats[]> {
    const out = [];
    for (const t of this.tables) out.push({ table: t.table, ...(await this.db.transaction((sql) => partitionStats(sql, t))) });
    return out;
  }

  /** Today's partition and the days ahead, for every table; returns the partitions made. */
  async ensureAhead(now: Date): Promise<string[]> {
    const made: string[] = [];
    for (const t of this.tables) {
      try {
        const r = await ensureAhead(this.db, t, now);
        made.push(...r.created);
        if (r.created.length) this.log.log(`partitions: made ${r.created.join(', ')}${r.moved ? ` (moved ${r.moved} rows out of the default partition)` : ''}`);
      } catch (err) {
        this.log.warn(`partitions: could not make the days ahead of ${t.table} (next tick tries again): ${(err as Error).message}`);
      }
    }
    return made;
  }

  /** ensureAhead, then drops the partitions whose days all lie before `cutoff`; returns what was dropped and kept. */
  async maintain(now: Date, cutoff: Date): Promise<{ made: string[]; dropped: string[]; kept: string[] }> {
    const made = await this.ensureAhead(now);
    const dropped: string[] = [];
    const kept: string[] = [];
    for (const t of this.tables) {
      try {
        const r = await dropBefore(this.db, t, cutoff);
        dropped.push(...r.dropped);
        kept.push(...r.kept);
        if (r.dropped.length) this.log.log(`retention: dropped partitions ${r.dropped.join(', ')} (all rows before ${cutoff.toISOString()})`);
        if (r.kept.length) this.log.log(`retention: kept ${r.kept.join(', ')} past the cutoff: a queued or running job still has rows in them`);
      } catch (err) {
        this.log.warn(`retention: dropping old partitions of ${t.table} failed (next tick tries again; the row deletes still run): ${(err as Error).message}`);
      }
    }
    return { made, dropped, kept };
  }
}
