import { Injectable, NotFoundException } from '@nestjs/common';
import type { TcpConnectionBatch, TcpReport } from '@tracefleet/proto';
import type { Prisma } from '../generated/prisma/client';
import { PrismaService } from '../prisma/prisma.service';
import { ResultStores } from '../common/result-stores';
import { UUID_RE } from '../common/ids';
import { MAX_BATCH_CONNECTIONS } from './tcp.type';
import { mergeConnect, nsToMs, tcplifeText, TCP_SLOTS, type TcpResults } from './tcp.view';
import { log2Svg } from '../runqlat/runqlat.view';

type Tx = Prisma.TransactionClient;

/** What GET /jobs/:id/tcp filters on (checked by the controller). */
export interface TcpQuery {
  node?: string;
  pid?: number;
  comm?: string;
  /** Local or remote. */
  port?: number;
  family?: 4 | 6;
  limit: number;
  afterId?: bigint;
}

const I32_MAX = 2 ** 31 - 1;
const U63 = 2n ** 63n - 1n;
const clamp = (v: bigint): bigint => (v > U63 ? U63 : v);
const PID_SOURCES = new Set(['connect', 'close', 'current']);

/** Stores tcp results (connections, a report per run) and answers the job's connections and histograms. */
@Injectable()
export class TcpService {
  constructor(
    private readonly prisma: PrismaService,
    stores: ResultStores,
  ) {
    stores.batch<TcpConnectionBatch>('tcpConnections', (run, batch, tx) => this.storeBatch(run.id, batch, tx));
    stores.report<TcpReport>('tcpReport', (run, report) => this.storeReport(run.id, report));
  }

  /** One batch in one statement with array parameters, inside the transaction that claimed its seq. */
  async storeBatch(runId: string, batch: TcpConnectionBatch, tx: Tx): Promise<bigint> {
    const rows = batch.connections.slice(0, MAX_BATCH_CONNECTIONS).filter((c) => c.endNs >= c.startNs && c.endNs <= U63);
    if (rows.length === 0) return 0n;
    const str = (i: number): string => batch.strings[i] ?? '?';
    await tx.$executeRaw`
      INSERT INTO "TcpConnection" ("runId", "pid", "comm", "family", "saddr", "sport", "daddr", "dport", "startNs", "endNs", "lifetimeNs",
                                   "connectNs", "rxBytes", "txBytes", "active", "pidSource")
      SELECT ${runId}::uuid, pid, comm, fam, sa, sp, da, dp, s, e, e - s, c, rx, tx, act, src
      FROM unnest(${rows.map((c) => Math.min(c.pid, I32_MAX))}::int[], ${rows.map((c) => str(c.comm))}::text[], ${rows.map((c) => (c.family === 4 ? 4 : 6))}::int[],
                  ${rows.map((c) => c.saddr.slice(0, 64))}::text[], ${rows.map((c) => c.sport & 0xffff)}::int[], ${rows.map((c) => c.daddr.slice(0, 64))}::text[],
                  ${rows.map((c) => c.dport & 0xffff)}::int[], ${rows.map((c) => c.startNs.toString())}::bigint[], ${rows.map((c) => c.endNs.toString())}::bigint[],
                  ${rows.map((c) => clamp(c.connectNs).toString())}::bigint[], ${rows.map((c) => clamp(c.rxBytes).toString())}::bigint[],
                  ${rows.map((c) => clamp(c.txBytes).toString())}::bigint[], ${rows.map((c) => c.active)}::boolean[],
                  ${rows.map((c) => (PID_SOURCES.has(c.pidSource) ? c.pidSource : 'current'))}::text[])
        AS t(pid, comm, fam, sa, sp, da, dp, s, e, c, rx, tx, act, src)`;
    return BigInt(rows.length);
  }

  async storeReport(runId: string, r: TcpReport): Promise<void> {
    const slots = Array.from({ length: TCP_SLOTS }, (_, i) => clamp(r.connectSlots[i] ?? 0n));
    const data = {
      connectSlots: slots,
      connectTotalNs: clamp(r.connectTotalNs),
      connects: clamp(r.connects),
      closed: clamp(r.closed),
      streamed: clamp(r.streamed),
      noStart: clamp(r.noStart),
      untracked: clamp(r.untracked),
      overBudget: clamp(r.overBudget),
      dropped: clamp(r.dropped),
    };
    await this.prisma.tcpTotals.upsert({ where: { runId }, create: { runId, ...data }, update: data });
  }

  private async requireJob(jobId: string): Promise<void> {
    const job = UUID_RE.test(jobId) ? await this.prisma.job.findUnique({ where: { id: jobId }, select: { type: true } }) : null;
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (job.type !== 'tcp') throw new NotFoundException(`job ${jobId} is a ${job.type.replace('_', '-')} job, not tcp`);
  }

  /** The connect-latency histograms (merged and per node), the lifetimes of the matching connections, and one page of them. */
  async results(jobId: string, q: TcpQuery): Promise<TcpResults> {
    await this.requireJob(jobId);
    const runs = await this.prisma.jobRun.findMany({
      where: { jobId, ...(q.node ? { node: { name: q.node } } : {}) },
      select: { status: true, node: { select: { name: true } }, tcpTotals: true },
      orderBy: { node: { name: 'asc' } },
    });
    const where: Prisma.TcpConnectionWhereInput = {
      run: { jobId, ...(q.node ? { node: { name: q.node } } : {}) },
      ...(q.pid !== undefined ? { pid: q.pid } : {}),
      ...(q.comm !== undefined ? { comm: q.comm } : {}),
      ...(q.family !== undefined ? { family: q.family } : {}),
      ...(q.port !== undefined ? { OR: [{ sport: q.port }, { dport: q.port }] } : {}),
    };
    const [agg, rows] = await Promise.all([
      this.prisma.tcpConnection.aggregate({ where, _count: { _all: true }, _avg: { lifetimeNs: true }, _min: { lifetimeNs: true }, _max: { lifetimeNs: true }, _sum: { rxBytes: true, txBytes: true } }),
      this.prisma.tcpConnection.findMany({
        where: { ...where, ...(q.afterId !== undefined ? { id: { gt: q.afterId } } : {}) },
        include: { run: { select: { node: { select: { name: true } } } } },
        orderBy: { id: 'asc' },
        take: q.limit,
      }),
    ]);
    return {
      jobId,
      connectLatency: mergeConnect(runs.map((r) => ({ node: r.node.name, status: r.status, totals: r.tcpTotals }))),
      lifetimes: {
        count: agg._count._all,
        meanMs: agg._avg.lifetimeNs === null ? 0 : Math.round(Number(agg._avg.lifetimeNs) / 1e4) / 100,
        minMs: nsToMs(agg._min.lifetimeNs ?? 0n),
        maxMs: nsToMs(agg._max.lifetimeNs ?? 0n),
        rxBytes: (agg._sum.rxBytes ?? 0n).toString(),
        txBytes: (agg._sum.txBytes ?? 0n).toString(),
      },
      connections: rows.map((c) => ({
        id: c.id.toString(),
        node: c.run.node.name,
        pid: c.pid,
        comm: c.comm,
        family: c.family,
        saddr: c.saddr,
        sport: c.sport,
        daddr: c.daddr,
        dport: c.dport,
        active: c.active,
        pidSource: c.pidSource,
        startNs: c.startNs.toString(),
        lifetimeMs: nsToMs(c.lifetimeNs),
        connectUs: c.active && c.connectNs > 0n ? Math.round(Number(c.connectNs) / 100) / 10 : null,
        rxBytes: c.rxBytes.toString(),
        txBytes: c.txBytes.toString(),
      })),
      next: rows.length === q.limit ? rows[rows.length - 1].id.toString() : null,
    };
  }

  async text(jobId: string, q: TcpQuery): Promise<string> {
    return tcplifeText(await this.results(jobId, q));
  }

  /** The merged connect-latency histogram as an SVG bar chart (log2 µs slots, as runqlat's). */
  async svg(jobId: string): Promise<string> {
    const r = await this.results(jobId, { limit: 1 });
    return log2Svg(r.connectLatency.merged, `Connect latency (SYN_SENT → ESTABLISHED) · job ${jobId.slice(0, 8)} · merged over ${r.connectLatency.nodes.length} node(s)`);
  }
}
