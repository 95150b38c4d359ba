import { Injectable, NotFoundException } from '@nestjs/common';
import type { ProfileBatch } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import type { Prisma } from '../generated/prisma/client';
import { frameKey, frameKind, stackKey } from './frame-keys';
import type { StackCount } from './flamegraph/flamegraph';

const MAX_FRAME_NAME = 4096;

/** A Prisma transaction client. */
export type Tx = Prisma.TransactionClient;

/**
 * Stores profiles normalized: each frame name and each call path once, and
 * per profile (one node's run) a count per stack.
 */
@Injectable()
export class ProfilesService {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * Stores each distinct frame name and call path once; returns the stack id of each path.
   * `paths` index into `strings`, root first.
   */
  async internStacks(tx: Tx, strings: string[], paths: number[][]): Promise<number[]> {
    const names = strings.map((s) => (s.length > MAX_FRAME_NAME ? `${s.slice(0, MAX_FRAME_NAME)}...` : s));
    for (const p of paths) {
      for (const f of p) if (f >= names.length) throw new Error(`a stack names string ${f} of ${names.length}`);
    }
    const keys = names.map(frameKey);
    await tx.$executeRaw`
      INSERT INTO "Frame" ("key", "name", "kind")
      SELECT * FROM unnest(${keys}::text[], ${names}::text[], ${names.map(frameKind)}::"FrameKind"[])
      ON CONFLICT ("key") DO NOTHING`;
    const frameRows = await tx.$queryRaw<{ id: number; key: string }[]>`
      SELECT "id", "key" FROM "Frame" WHERE "key" = ANY(${keys}::text[])`;
    const frameIdByKey = new Map(frameRows.map((r) => [r.key, r.id]));
    const frameIds = keys.map((k) => frameIdByKey.get(k)!);

    const idLists = paths.map((p) => p.map((f) => frameIds[f]));
    const stackKeys = idLists.map(stackKey);
    const unique = [...new Map(stackKeys.map((k, i) => [k, idLists[i].join(',')])).entries()];
    await tx.$executeRaw`
      INSERT INTO "Stack" ("key", "frameIds")
      SELECT k, string_to_array(f, ',')::int[] FROM unnest(${unique.map((u) => u[0])}::text[], ${unique.map((u) => u[1])}::text[]) AS t(k, f)
      ON CONFLICT ("key") DO NOTHING`;
    const stackRows = await tx.$queryRaw<{ id: number; key: string }[]>`
      SELECT "id", "key" FROM "Stack" WHERE "key" = ANY(${unique.map((u) => u[0])}::text[])`;
    const stackIdByKey = new Map(stackRows.map((r) => [r.key, r.id]));
    return stackKeys.map((k) => stackIdByKey.get(k)!);
  }

  /** Stores one batch; returns the number of samples it added. */
  async ingest(jobId: string, runId: string, batch: ProfileBatch): Promise<bigint> {
    if (batch.stacks.length === 0) return 0n;
    return this.prisma.$transaction((tx) => this.addCounts(tx, jobId, runId, batch.strings, batch.stacks, false));
  }

  /**
   * Adds counts per stack to the run's profile, or with `replace` makes them the profile
   * (memleak: the latest snapshot's outstanding bytes). Returns the total added.
   */
  async addCounts(tx: Tx, jobId: string, runId: string, strings: string[], stacks: { frames: number[]; count: bigint }[], replace: boolean): Promise<bigint> {
    const profile = await tx.profile.upsert({ where: { runId }, create: { jobId, runId }, update: {}, select: { id: true } });
    if (replace) await tx.profileSample.deleteMany({ where: { profileId: profile.id } });
    const stackIds = await this.internStacks(tx, strings, stacks.map((s) => s.frames));
    const byStack = new Map<number, bigint>();
    let total = 0n;
    stacks.forEach((s, i) => {
      byStack.set(stackIds[i], (byStack.get(stackIds[i]) ?? 0n) + s.count);
      total += s.count;
    });
    const ids = [...byStack.keys()];
    const counts = [...byStack.values()].map(String);
    if (ids.length > 0) {
      await tx.$executeRaw`
        INSERT INTO "ProfileSample" ("profileId", "stackId", "count")
        SELECT ${profile.id}::uuid, s, c FROM unnest(${ids}::int[], ${counts}::bigint[]) AS t(s, c)
        ON CONFLICT ("profileId", "stackId") DO UPDATE SET "count" = "ProfileSample"."count" + EXCLUDED."count"`;
    }
    await tx.profile.update({ where: { id: profile.id }, data: { totalSamples: replace ? total : { increment: total } } });
    return total;
  }

  /** Stacks of a job, summed over its nodes (or one node), root first. */
  async stacks(jobId: string, nodeName?: string): Promise<StackCount[]> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { id: true } });
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (nodeName !== undefined) {
      const run = await this.prisma.jobRun.findFirst({ where: { jobId, node: { name: nodeName } }, select: { id: true } });
      if (!run) throw new NotFoundException(`job ${jobId} has no run on node ${nodeName}`);
    }
    const rows = await this.prisma.$queryRaw<{ frameIds: number[]; count: bigint }[]>`
      SELECT s."frameIds", SUM(ps."count")::bigint AS "count"
      FROM "ProfileSample" ps
      JOIN "Profile" p ON p."id" = ps."profileId"
      JOIN "JobRun" r ON r."id" = p."runId"
      JOIN "Node" n ON n."id" = r."nodeId"
      JOIN "Stack" s ON s."id" = ps."stackId"
      WHERE p."jobId" = ${jobId}::uuid AND (${nodeName ?? null}::text IS NULL OR n."name" = ${nodeName ?? null}::text)
      GROUP BY s."id"`;
    const nameById = await this.frameNames(rows);
    return rows.map((r) => ({ frames: r.frameIds.map((id) => nameById.get(id) ?? `[frame ${id}]`), count: BigInt(r.count) }));
  }

  /**
   * Stacks of a job per node (or of one node), root first, nodes by name. Nodes whose run
   * stored no samples are left out.
   */
  async stacksByNode(jobId: string, nodeName?: string): Promise<{ node: string; stacks: StackCount[] }[]> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { id: true } });
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (nodeName !== undefined) {
      const run = await this.prisma.jobRun.findFirst({ where: { jobId, node: { name: nodeName } }, select: { id: true } });
      if (!run) throw new NotFoundException(`job ${jobId} has no run on node ${nodeName}`);
    }
    const rows = await this.prisma.$queryRaw<{ node: string; frameIds: number[]; count: bigint }[]>`
      SELECT n."name" AS "node", s."frameIds", ps."count"
      FROM "ProfileSample" ps
      JOIN "Profile" p ON p."id" = ps."profileId"
      JOIN "JobRun" r ON r."id" = p."runId"
      JOIN "Node" n ON n."id" = r."nodeId"
      JOIN "Stack" s ON s."id" = ps."stackId"
      WHERE p."jobId" = ${jobId}::uuid AND (${nodeName ?? null}::text IS NULL OR n."name" = ${nodeName ?? null}::text)
        AND ps."count" > 0
      ORDER BY n."name", s."id"`;
    const nameById = await this.frameNames(rows);
    const byNode = new Map<string, StackCount[]>();
    for (const r of rows) {
      let stacks = byNode.get(r.node);
      if (stacks === undefined) byNode.set(r.node, (stacks = []));
      stacks.push({ frames: r.frameIds.map((id) => nameById.get(id) ?? `[frame ${id}]`), count: BigInt(r.count) });
    }
    return [...byNode].map(([node, stacks]) => ({ node, stacks }));
  }

  private async frameNames(rows: { frameIds: number[] }[]): Promise<Map<number, string>> {
    const allIds = [...new Set(rows.flatMap((r) => r.frameIds))];
    const frames = allIds.length
      ? await this.prisma.frame.findMany({ where: { id: { in: allIds } }, select: { id: true, name: true } })
      : [];
    return new Map(frames.map((f) => [f.id, f.name]));
  }
}
