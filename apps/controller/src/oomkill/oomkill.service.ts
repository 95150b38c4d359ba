import { Injectable, NotFoundException } from '@nestjs/common';
import type { OomKillBatch, OomkillReport } from '@tracefleet/proto';
import type { Prisma } from '../generated/prisma/client';
import { PrismaService } from '../prisma/prisma.service';
import { ResultStores } from '../common/result-stores';
import { UUID_RE } from '../common/ids';
import { MAX_BATCH_KILLS } from './oomkill.type';
import { mergeTotals, oomkillText, type OomkillResults } from './oomkill.view';

type Tx = Prisma.TransactionClient;

/** What GET /jobs/:id/oomkill filters on (checked by the controller). */
export interface OomkillQuery {
  node?: string;
  /** The victim's. */
  pid?: number;
  comm?: string;
  limit: number;
  afterId?: bigint;
}

const I32_MAX = 2 ** 31 - 1;
const U63 = 2n ** 63n - 1n;
const clamp = (v: bigint): bigint => (v > U63 ? U63 : v);
const int32 = (v: number): number => Math.min(Math.max(Math.trunc(v), -I32_MAX), I32_MAX);

/** Stores oomkill results (kills, a report per run) and answers the job's kills and counters. */
@Injectable()
export class OomkillService {
  constructor(
    private readonly prisma: PrismaService,
    stores: ResultStores,
  ) {
    stores.batch<OomKillBatch>('oomKills', (run, batch, tx) => this.storeBatch(run.id, batch, tx));
    stores.report<OomkillReport>('oomkillReport', (run, report) => this.storeReport(run.id, report));
  }

  /** One batch, inside the transaction that claimed its seq (kills are rare: one createMany). */
  async storeBatch(runId: string, batch: OomKillBatch, tx: Tx): Promise<bigint> {
    const rows = batch.kills.slice(0, MAX_BATCH_KILLS);
    if (rows.length === 0) return 0n;
    const str = (i: number): string => (batch.strings[i] ?? '?').slice(0, 64);
    await tx.oomKill.createMany({
      data: rows.map((k) => ({
        runId,
        tsNs: clamp(k.tsNs),
        unixMs: clamp(k.unixMs),
        victimPid: int32(k.victimPid),
        victimComm: str(k.victimComm),
        triggerPid: int32(k.triggerPid),
        triggerTid: int32(k.triggerTid),
        triggerComm: str(k.triggerComm),
        uid: BigInt(k.uid >>> 0),
        oomScoreAdj: int32(k.oomScoreAdj),
        totalVmKb: clamp(k.totalVmKb),
        anonRssKb: clamp(k.anonRssKb),
        fileRssKb: clamp(k.fileRssKb),
        shmemRssKb: clamp(k.shmemRssKb),
        pgtablesKb: clamp(k.pgtablesKb),
        loadavg: k.loadavg.slice(0, 64),
      })),
    });
    return BigInt(rows.length);
  }

  async storeReport(runId: string, r: OomkillReport): Promise<void> {
    const data = { kills: clamp(r.kills), streamed: clamp(r.streamed), overBudget: clamp(r.overBudget), dropped: clamp(r.dropped) };
    await this.prisma.oomkillTotals.upsert({ where: { runId }, create: { runId, ...data }, update: data });
  }

  private async requireJob(jobId: string): Promise<void> {
    const job = UUID_RE.test(jobId) ? await this.prisma.job.findUnique({ where: { id: jobId }, select: { type: true } }) : null;
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (job.type !== 'oomkill') throw new NotFoundException(`job ${jobId} is a ${job.type.replace('_', '-')} job, not oomkill`);
  }

  /** Counters merged and per node, the count of matching kills, and one page of them (oldest first). */
  async results(jobId: string, q: OomkillQuery): Promise<OomkillResults> {
    await this.requireJob(jobId);
    const nodeWhere = q.node ? { node: { name: q.node } } : {};
    const runs = await this.prisma.jobRun.findMany({
      where: { jobId, ...nodeWhere },
      select: { status: true, node: { select: { name: true } }, oomkillTotals: true },
      orderBy: { node: { name: 'asc' } },
    });
    const where: Prisma.OomKillWhereInput = {
      run: { jobId, ...nodeWhere },
      ...(q.pid !== undefined ? { victimPid: q.pid } : {}),
      ...(q.comm !== undefined ? { victimComm: q.comm } : {}),
    };
    const [count, rows] = await Promise.all([
      this.prisma.oomKill.count({ where }),
      this.prisma.oomKill.findMany({
        where: { ...where, ...(q.afterId !== undefined ? { id: { gt: q.afterId } } : {}) },
        include: { run: { select: { node: { select: { name: true } } } } },
        orderBy: { id: 'asc' },
        take: q.limit,
      }),
    ]);
    return {
      jobId,
      totals: mergeTotals(runs.map((r) => ({ node: r.node.name, status: r.status, totals: r.oomkillTotals }))),
      count,
      kills: rows.map((k) => ({
        id: k.id.toString(),
        node: k.run.node.name,
        time: new Date(Number(k.unixMs)).toISOString(),
        tsNs: k.tsNs.toString(),
        victimPid: k.victimPid,
        victimComm: k.victimComm,
        triggerPid: k.triggerPid,
        triggerTid: k.triggerTid,
        triggerComm: k.triggerComm,
        uid: Number(k.uid),
        oomScoreAdj: k.oomScoreAdj,
        totalVmKb: k.totalVmKb.toString(),
        anonRssKb: k.anonRssKb.toString(),
        fileRssKb: k.fileRssKb.toString(),
        shmemRssKb: k.shmemRssKb.toString(),
        pgtablesKb: k.pgtablesKb.toString(),
        rssPages: ((k.anonRssKb + k.fileRssKb + k.shmemRssKb) / 4n).toString(),
        loadavg: k.loadavg,
      })),
      next: rows.length === q.limit ? rows[rows.length - 1].id.toString() : null,
    };
  }

  async text(jobId: string, q: OomkillQuery): Promise<string> {
    return oomkillText(await this.results(jobId, q));
  }
}
