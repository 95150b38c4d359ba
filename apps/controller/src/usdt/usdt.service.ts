import { Injectable, NotFoundException } from '@nestjs/common';
import type { UsdtEventBatch, UsdtReport } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import { ProfilesService, type Tx } from '../profiles/profiles.service';
import { originView, type OriginFilter } from '../profiles/origins';
import { ResultStores } from '../common/result-stores';

export interface HistogramBucket {
  fromNs: string;
  toNs: string;
  count: number;
}

export interface UsdtResults {
  jobId: string;
  probes: { probe: string; count: number; eventsCaptured: number; byNode: Record<string, number> }[];
  pairs: {
    label: string;
    count: number;
    totalNs: string;
    meanNs: string;
    unmatchedEnds: number;
    histogram: HistogramBucket[];
    byNode: Record<string, number>;
    slowest: { node: string; pid: number; tid: number; durationNs: string; beginNs: string; args: string[]; stack: string[] }[];
  }[];
  attached: Record<string, string[]>;
}

/** Merges log2 histograms bucket by bucket. */
export function mergeBuckets(lists: bigint[][]): bigint[] {
  const out: bigint[] = [];
  for (const list of lists) list.forEach((v, i) => (out[i] = (out[i] ?? 0n) + v));
  return Array.from(out, (v) => v ?? 0n);
}

export function histogram(buckets: bigint[]): HistogramBucket[] {
  return buckets.flatMap((c, i) => (c > 0n ? [{ fromNs: (1n << BigInt(i)).toString(), toNs: (1n << BigInt(i + 1)).toString(), count: Number(c) }] : []));
}

/** pid and tid are u32 on the wire and int4 in the database; a value past int4 (no kernel gives one) must not fail the batch. */
const I32_MAX = 2 ** 31 - 1;

/** Stores USDT results (events, per-probe counts, pair statistics) and merges them across nodes. */
/** Big batches take a while; the wait for a connection is bounded by the storage gate (prisma/store-gate.ts). */
const TX_OPTIONS = { timeout: 60_000, maxWait: 30_000 };

@Injectable()
export class UsdtService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly profiles: ProfilesService,
    stores: ResultStores,
  ) {
    stores.batch<UsdtEventBatch>('usdtEvents', (run, batch, tx) => this.storeEvents(run.jobId, run.id, batch, tx));
    stores.report<UsdtReport>('usdtReport', (run, report) => this.storeReport(run.jobId, run.id, report));
  }

  private async probeNames(jobId: string): Promise<string[]> {
    const job = await this.prisma.job.findUniqueOrThrow({ where: { id: jobId }, select: { params: true } });
    return ((job.params as { probes?: string[] }).probes ?? []) as string[];
  }

  /** Stores a batch of captured events; their stacks also go into the job's flame graph, under the probe's name. */
  async storeEvents(jobId: string, runId: string, batch: UsdtEventBatch, inTx?: Tx): Promise<bigint> {
    const names = await this.probeNames(jobId);
    const probeOf = (i: number): string => names[i] ?? `probe#${i}`;
    if (batch.events.length === 0) return 0n;
    // One transaction, so a retry after a failed attempt never stores an event twice.
    const write = async (tx: Tx): Promise<void> => {
      // One statement with array parameters: a 5,000-event batch is 8 parameters, not 40,000.
      const ev = batch.events;
      const originIds = await this.profiles.internOrigins(tx, batch.origins);
      // An origin index the batch does not have is "not known" (the event itself is good).
      const originOf = (e: (typeof ev)[number]): number => (e.origin && e.origin <= originIds.length ? originIds[e.origin - 1] : 0);
      await tx.$executeRaw`
        INSERT INTO "UsdtEvent" ("runId", "probe", "pid", "tid", "tsNs", "args", "str", "originId")
        SELECT ${runId}::uuid, p, pid, tid, ts, a::bigint[], NULLIF(s, ''), o
        FROM unnest(${ev.map((e) => probeOf(e.probe))}::text[], ${ev.map((e) => Math.min(e.pid, I32_MAX))}::int[], ${ev.map((e) => Math.min(e.tid, I32_MAX))}::int[],
                    ${ev.map((e) => e.tsNs.toString())}::bigint[], ${ev.map((e) => `{${e.args.join(',')}}`)}::text[], ${ev.map((e) => e.str)}::text[],
                    ${ev.map(originOf)}::int[])
          AS t(p, pid, tid, ts, a, s, o)`;
      const withStacks = batch.events.filter((e) => e.stack.length > 0);
      if (withStacks.length > 0) {
        const strings = [...batch.strings];
        const probeString = new Map<number, number>();
        const stacks = withStacks.map((e) => {
          let root = probeString.get(e.probe);
          if (root === undefined) {
            root = strings.push(probeOf(e.probe)) - 1;
            probeString.set(e.probe, root);
          }
          return { frames: [root, ...e.stack], count: 1n, originId: originOf(e) };
        });
        await this.profiles.addCounts(tx, jobId, runId, strings, stacks, false);
      }
    };
    // Inside the caller's transaction (runs/ claims the batch's seq in it), or in one of its own.
    if (inTx) await write(inTx);
    else await this.prisma.$transaction(write, TX_OPTIONS);
    return BigInt(batch.events.length);
  }

  async storeReport(jobId: string, runId: string, report: UsdtReport): Promise<void> {
    const names = await this.probeNames(jobId);
    const captured = await this.prisma.usdtEvent.groupBy({ by: ['probe'], where: { runId }, _count: { _all: true } });
    const capturedBy = new Map(captured.map((c) => [c.probe, c._count._all]));
    await this.prisma.$transaction([
      this.prisma.usdtProbeCount.deleteMany({ where: { runId } }),
      this.prisma.usdtPairStat.deleteMany({ where: { runId } }),
      this.prisma.usdtOccurrence.deleteMany({ where: { runId } }),
      this.prisma.usdtProbeCount.createMany({
        data: report.probeCounts.map((count, i) => ({
          runId,
          probe: names[i] ?? `probe#${i}`,
          count,
          eventsCaptured: BigInt(capturedBy.get(names[i]) ?? 0),
        })),
      }),
      this.prisma.usdtPairStat.createMany({
        data: report.pairs.map((p) => ({ runId, label: p.label, count: p.count, totalNs: p.totalNs, buckets: p.buckets, unmatchedEnds: p.unmatchedEnds })),
      }),
      this.prisma.usdtOccurrence.createMany({
        data: report.pairs.flatMap((p) =>
          p.slowest.map((o) => ({ runId, label: p.label, pid: Math.min(o.pid, I32_MAX), tid: Math.min(o.tid, I32_MAX), beginNs: o.beginNs, durationNs: o.durationNs, args: o.beginArgs, stack: o.stack })),
        ),
      }),
      this.prisma.jobRun.update({ where: { id: runId }, data: { attached: report.attached } }),
    ]);
  }

  async results(jobId: string): Promise<UsdtResults> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { type: true, params: true } });
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (job.type !== 'usdt') throw new NotFoundException(`job ${jobId} is a ${job.type.replace('_', '-')} job, not usdt`);
    const slowestN = (job.params as { slowestN?: number }).slowestN ?? 10;
    const runs = await this.prisma.jobRun.findMany({
      where: { jobId },
      include: { node: { select: { name: true } }, usdtProbes: true, usdtPairs: true, usdtOccurrences: true },
    });
    const probes = new Map<string, UsdtResults['probes'][number]>();
    const pairs = new Map<string, { stats: { node: string; count: bigint; totalNs: bigint; buckets: bigint[]; unmatched: bigint }[]; occ: UsdtResults['pairs'][number]['slowest'] }>();
    const attached: Record<string, string[]> = {};
    for (const r of runs) {
      const node = r.node.name;
      attached[node] = r.attached;
      for (const p of r.usdtProbes) {
        const e = probes.get(p.probe) ?? { probe: p.probe, count: 0, eventsCaptured: 0, byNode: {} };
        e.count += Number(p.count);
        e.eventsCaptured += Number(p.eventsCaptured);
        e.byNode[node] = Number(p.count);
        probes.set(p.probe, e);
      }
      for (const p of r.usdtPairs) {
        const e = pairs.get(p.label) ?? { stats: [], occ: [] };
        e.stats.push({ node, count: p.count, totalNs: p.totalNs, buckets: p.buckets, unmatched: p.unmatchedEnds });
        pairs.set(p.label, e);
      }
      for (const o of r.usdtOccurrences) {
        const e = pairs.get(o.label) ?? { stats: [], occ: [] };
        e.occ.push({ node, pid: o.pid, tid: o.tid, durationNs: o.durationNs.toString(), beginNs: o.beginNs.toString(), args: o.args.map(String), stack: o.stack });
        pairs.set(o.label, e);
      }
    }
    return {
      jobId,
      probes: [...probes.values()].sort((a, b) => a.probe.localeCompare(b.probe)),
      pairs: [...pairs.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([label, { stats, occ }]) => {
          const count = stats.reduce((a, s) => a + s.count, 0n);
          const totalNs = stats.reduce((a, s) => a + s.totalNs, 0n);
          return {
            label,
            count: Number(count),
            totalNs: totalNs.toString(),
            meanNs: count > 0n ? (totalNs / count).toString() : '0',
            unmatchedEnds: Number(stats.reduce((a, s) => a + s.unmatched, 0n)),
            histogram: histogram(mergeBuckets(stats.map((s) => s.buckets))),
            byNode: Object.fromEntries(stats.map((s) => [s.node, Number(s.count)])),
            slowest: occ.sort((a, b) => (BigInt(b.durationNs) > BigInt(a.durationNs) ? 1 : -1)).slice(0, slowestN),
          };
        }),
      attached,
    };
  }

  async events(jobId: string, q: { node?: string; probe?: string; limit: number; afterId?: bigint; origin?: OriginFilter }) {
    const origins = q.origin && (q.origin.container !== undefined || q.origin.cgroup !== undefined) ? await this.profiles.originIdsMatching(q.origin) : undefined;
    const rows = await this.prisma.usdtEvent.findMany({
      where: {
        ...(origins ? { originId: { in: origins } } : {}),
        run: { jobId, ...(q.node ? { node: { name: q.node } } : {}) },
        ...(q.probe ? { probe: q.probe } : {}),
        ...(q.afterId !== undefined ? { id: { gt: q.afterId } } : {}),
      },
      include: { run: { select: { node: { select: { name: true } } } } },
      orderBy: { id: 'asc' },
      take: q.limit,
    });
    const labels = await this.profiles.originLabels(rows.map((e) => e.originId));
    return {
      events: rows.map((e) => ({
        ...originView(labels.get(e.originId)),
        id: e.id.toString(),
        node: e.run.node.name,
        probe: e.probe,
        pid: e.pid,
        tid: e.tid,
        tsNs: e.tsNs.toString(),
        args: e.args.map(String),
        str: e.str,
      })),
      next: rows.length === q.limit ? rows[rows.length - 1].id.toString() : null,
    };
  }
}
