import { Injectable, NotFoundException } from '@nestjs/common';
import type { MemleakSnapshot as SnapshotMsg } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import { ProfilesService, type Tx } from '../profiles/profiles.service';
import { growth } from './growth';
import { storableDate } from '../common/sanitize';
import { ResultStores } from '../common/result-stores';

export interface LeakStackView {
  frames: string[];
  bytes: string;
  count: number;
  oldestAgeMs: number;
  growthBytes: string;
  growing: boolean;
  /** Per node, when merged. */
  byNode?: Record<string, string>;
  /** Per node's top only: this stack's outstanding bytes at each of the node's snapshots, in their order (the growth chart). */
  series?: string[];
}

export interface MemleakResults {
  jobId: string;
  mode: string;
  sampled: boolean;
  scale: number;
  note: string | null;
  nodes: {
    node: string;
    snapshots: { seq: number; takenAt: string; final: boolean; totalBytes: string; totalCount: number; allocsSeen: number; allocsTraced: number; untracked: number; stackErrors: number }[];
    top: LeakStackView[];
  }[];
  merged: { totalBytes: string; top: LeakStackView[] };
}

const I32_MAX = 2 ** 31 - 1;

/** Stores memleak snapshots and serves top stacks by outstanding bytes, per node and merged. */
@Injectable()
export class MemleakService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly profiles: ProfilesService,
    stores: ResultStores,
  ) {
    stores.batch<SnapshotMsg>('memleakSnapshot', (run, snap, tx) => this.storeSnapshot(run.jobId, run.id, snap, tx));
  }

  /** Stores a snapshot; the run's flame graph becomes this snapshot's outstanding bytes. Returns the stacks stored. */
  async storeSnapshot(jobId: string, runId: string, snap: SnapshotMsg, inTx?: Tx): Promise<bigint> {
    const write = async (tx: Tx): Promise<void> => {
      const stackIds = await this.profiles.internStacks(tx, snap.strings, snap.stacks.map((s) => s.frames));
      const row = await tx.memleakSnapshot.create({
        data: {
          runId,
          // seq is int4 and takenAt a timestamp: a hostile value (2^64-1) must not fail the snapshot.
          seq: Math.min(Number(snap.seq), I32_MAX),
          takenAt: storableDate(snap.takenAtUnixMs),
          final: snap.final,
          totalBytes: snap.totalBytes,
          totalCount: snap.totalCount,
          allocsSeen: snap.allocsSeen,
          allocsTraced: snap.allocsTraced,
          freesMatched: snap.freesMatched,
          untracked: snap.untracked,
          stackErrors: snap.stackErrors,
          scale: snap.scale || 1,
        },
      });
      const merged = new Map<number, { bytes: bigint; count: bigint; oldest: bigint }>();
      snap.stacks.forEach((s, i) => {
        const m = merged.get(stackIds[i]);
        if (m) {
          m.bytes += s.bytes;
          m.count += s.count;
          if (s.oldestAgeMs > m.oldest) m.oldest = s.oldestAgeMs;
        } else merged.set(stackIds[i], { bytes: s.bytes, count: s.count, oldest: s.oldestAgeMs });
      });
      await tx.memleakStackStat.createMany({
        data: [...merged].map(([stackId, m]) => ({ snapshotId: row.id, stackId, bytes: m.bytes, count: m.count, oldestAgeMs: m.oldest })),
      });
      // The traced process's origin labels the run's flame-graph stacks (filters and pprof labels by container).
      const [originId] = snap.origin ? await this.profiles.internOrigins(tx, [snap.origin]) : [0];
      await this.profiles.addCounts(tx, jobId, runId, snap.strings, snap.stacks.map((s) => ({ frames: s.frames, count: s.bytes, originId })), true);
      await tx.jobRun.update({ where: { id: runId }, data: { attached: snap.attached } });
    };
    // Inside the caller's transaction (runs/ claims the batch's seq in it), or in one of its own.
    if (inTx) await write(inTx);
    else await this.prisma.$transaction(write, { timeout: 60_000, maxWait: 30_000 });
    return BigInt(snap.stacks.length);
  }

  async results(jobId: string, topN = 50): Promise<MemleakResults> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { type: true, params: true } });
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (job.type !== 'memleak') throw new NotFoundException(`job ${jobId} is a ${job.type.replace('_', '-')} job, not memleak`);
    const params = job.params as { mode?: string; sampleEvery?: number; sampleBytes?: number };
    const runs = await this.prisma.jobRun.findMany({
      where: { jobId },
      include: { node: { select: { name: true } }, memleakSnapshots: { orderBy: { seq: 'asc' }, include: { stacks: true } } },
    });
    const allStackIds = new Set<number>();
    for (const r of runs) for (const s of r.memleakSnapshots) for (const st of s.stacks) allStackIds.add(st.stackId);
    const frames = await this.framesOf([...allStackIds]);

    const mergedBytes = new Map<number, { bytes: bigint; count: bigint; oldest: bigint; growth: bigint; growing: boolean; byNode: Record<string, string> }>();
    let mergedTotal = 0n;
    let scale = 1;
    const nodes: MemleakResults['nodes'] = runs
      .map((r) => {
        const snaps = r.memleakSnapshots;
        const last = snaps[snaps.length - 1];
        if (last) {
          mergedTotal += last.totalBytes;
          scale = last.scale;
        }
        const top: LeakStackView[] = [];
        for (const st of [...(last?.stacks ?? [])].sort((a, b) => (b.bytes > a.bytes ? 1 : b.bytes < a.bytes ? -1 : 0))) {
          const series = snaps.map((s) => s.stacks.find((x) => x.stackId === st.stackId)?.bytes ?? 0n);
          const g = growth(series);
          if (top.length < topN) {
            top.push({ frames: frames.get(st.stackId) ?? [], bytes: st.bytes.toString(), count: Number(st.count), oldestAgeMs: Number(st.oldestAgeMs), growthBytes: g.growthBytes.toString(), growing: g.growing, series: series.map(String) });
          }
          const m = mergedBytes.get(st.stackId) ?? { bytes: 0n, count: 0n, oldest: 0n, growth: 0n, growing: true, byNode: {} };
          m.bytes += st.bytes;
          m.count += st.count;
          if (st.oldestAgeMs > m.oldest) m.oldest = st.oldestAgeMs;
          m.growth += g.growthBytes;
          m.growing &&= g.growing;
          m.byNode[r.node.name] = st.bytes.toString();
          mergedBytes.set(st.stackId, m);
        }
        return {
          node: r.node.name,
          snapshots: snaps.map((s) => ({
            seq: s.seq,
            takenAt: s.takenAt.toISOString(),
            final: s.final,
            totalBytes: s.totalBytes.toString(),
            totalCount: Number(s.totalCount),
            allocsSeen: Number(s.allocsSeen),
            allocsTraced: Number(s.allocsTraced),
            untracked: Number(s.untracked),
            stackErrors: Number(s.stackErrors),
          })),
          top,
        };
      })
      .sort((a, b) => a.node.localeCompare(b.node));
    const mergedTop = [...mergedBytes.entries()]
      .sort(([, a], [, b]) => (b.bytes > a.bytes ? 1 : b.bytes < a.bytes ? -1 : 0))
      .slice(0, topN)
      .map(([id, m]) => ({
        frames: frames.get(id) ?? [],
        bytes: m.bytes.toString(),
        count: Number(m.count),
        oldestAgeMs: Number(m.oldest),
        growthBytes: m.growth.toString(),
        growing: m.growing,
        byNode: m.byNode,
      }));
    const sampled = (params.sampleEvery ?? 1) > 1 || (params.sampleBytes ?? 0) > 0;
    return {
      jobId,
      mode: params.mode ?? 'user',
      sampled,
      scale,
      note: sampled
        ? `allocations were sampled: bytes and counts are those of traced allocations; multiply by scale (${scale}) to estimate the whole`
        : null,
      nodes,
      merged: { totalBytes: mergedTotal.toString(), top: mergedTop },
    };
  }

  private async framesOf(stackIds: number[]): Promise<Map<number, string[]>> {
    if (stackIds.length === 0) return new Map();
    const stacks = await this.prisma.stack.findMany({ where: { id: { in: stackIds } }, select: { id: true, frameIds: true } });
    const frameIds = [...new Set(stacks.flatMap((s) => s.frameIds))];
    const frames = await this.prisma.frame.findMany({ where: { id: { in: frameIds } }, select: { id: true, name: true } });
    const name = new Map(frames.map((f) => [f.id, f.name]));
    return new Map(stacks.map((s) => [s.id, s.frameIds.map((f) => name.get(f) ?? `[frame ${f}]`)]));
  }
}
