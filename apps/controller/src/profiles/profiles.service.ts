import { Injectable, NotFoundException } from '@nestjs/common';
import type { ProfileBatch } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import type { Prisma } from '../generated/prisma/client';
import { BoundedMap } from './bounded-map';
import { frameKey, frameKind, stackKey } from './frame-keys';
import type { StackCount } from './flamegraph/flamegraph';
import { groupFrame, originKey, originWhere, sanitizeOrigin, type OriginFilter, type OriginGrouping, type OriginLabels } from './origins';

const MAX_FRAME_NAME = 4096;
const MAX_CACHED_FRAMES = 200_000;
const MAX_CACHED_STACKS = 200_000;
const MAX_CACHED_PROFILES = 20_000;
const MAX_CACHED_ORIGINS = 50_000;

/** A stored stack's count with where its samples ran (stacksByNode: for pprof labels). */
export type LabelledStack = StackCount & { origin?: OriginLabels };

/** What a set of batches moves on their run: the last seq taken, how many batches, how many skipped ahead. */
export interface RunProgress {
  lastSeq: bigint;
  batches: number;
  gaps: number;
}

/** One run's batches to store, with what they move on the run. */
export interface RunBatches {
  jobId: string;
  runId: string;
  batches: ProfileBatch[];
  progress: RunProgress;
}

/** A PostgreSQL array literal of integers ("{1,2,3}"), to pass a number column as one text parameter. */
export function arrayLiteral(xs: readonly (number | bigint)[]): string {
  for (const x of xs) if (typeof x === 'number' && !Number.isSafeInteger(x)) throw new Error(`not an integer for an array literal: ${x}`);
  return `{${xs.join(',')}}`;
}

/** A Prisma transaction client. */
export type Tx = Prisma.TransactionClient;

/**
 * Stores profiles normalized: each frame name and each call path once, and
 * per profile (one node's run) a count per stack.
 */
@Injectable()
export class ProfilesService {
  constructor(private readonly prisma: PrismaService) {}

  /** Frame ids by (cut) name; Frame rows never change and are never deleted, so a cached id stays valid. */
  private readonly frameIds = new BoundedMap<string, number>(MAX_CACHED_FRAMES);
  /** Stack ids by their frame-id list ("12,7,9"); Stack rows likewise. */
  private readonly stackIds = new BoundedMap<string, number>(MAX_CACHED_STACKS);
  /** Profile ids by run id, for runs whose profile exists. */
  private readonly profileIds = new BoundedMap<string, string>(MAX_CACHED_PROFILES);
  /** Origin ids by their labels (JSON); Origin rows never change and are never deleted. */
  private readonly originIds = new BoundedMap<string, number>(MAX_CACHED_ORIGINS);

  /**
   * The Origin row id of each batch origin (index + 1 in the batch's terms: ids[0] is for origin 1), made
   * safe first (sanitizeOrigin); an empty origin is 0, "not known".
   */
  async internOrigins(tx: Tx, origins: { cgroup: string; containerId: string; podUid: string }[]): Promise<number[]> {
    const labels = origins.map((o) => sanitizeOrigin(o));
    const items = labels.map((l) => (l === undefined ? undefined : JSON.stringify([l.cgroup, l.containerId ?? null, l.podUid ?? null])));
    const wanted = [...new Set(items.filter((i): i is string => i !== undefined))];
    const parse = (item: string): OriginLabels => {
      const [cgroup, containerId, podUid] = JSON.parse(item) as [string, string | null, string | null];
      return { cgroup, containerId: containerId ?? undefined, podUid: podUid ?? undefined };
    };
    const ids = await this.ids(tx, wanted, this.originIds, tx === this.prisma, (item) => originKey(parse(item)), async (rows) => {
      const keys = rows.map((r) => r.key);
      const parsed = rows.map((r) => parse(r.item));
      await tx.$executeRaw`
        INSERT INTO "Origin" ("key", "cgroup", "containerId", "podUid")
        SELECT * FROM unnest(${keys}::text[], ${parsed.map((p) => p.cgroup)}::text[], ${parsed.map((p) => p.containerId ?? null)}::text[],
          ${parsed.map((p) => p.podUid ?? null)}::text[])
        ON CONFLICT ("key") DO NOTHING`;
      return tx.$queryRaw<{ id: number; key: string }[]>`SELECT "id", "key" FROM "Origin" WHERE "key" = ANY(${keys}::text[])`;
    });
    return items.map((i) => (i === undefined ? 0 : ids.get(i)!));
  }

  /**
   * Stores each distinct frame name and call path once; returns the stack id of each path.
   * `paths` index into `strings`, root first. Ids already known come from memory; only new names and
   * paths reach the database. Rows inserted through a transaction `tx` are not remembered until
   * committed elsewhere (the transaction may roll back).
   */
  async internStacks(tx: Tx, strings: string[], paths: number[][]): Promise<number[]> {
    // Called for every result batch, and nearly always for names and paths already known: those are looked up
    // straight in the caches, with index arrays and loops, and only the unknown ones go through sets, maps and
    // the database. (flat()/map()/join() over a batch's frames took most of a batch's CPU, 300 µs of 50 stacks
    // × 20 frames, then ~80; building each path's key by concatenation, a Set of the names and a Map of the found
    // ids per batch were then the largest part of what a replica allocated under a flood: a sampling heap profile
    // of the flood of 2,000 agents, 19 % of all bytes.)
    const n = strings.length;
    const used = new Uint8Array(n);
    for (const p of paths) {
      for (const f of p) {
        if (!(f >= 0 && f < n) || !Number.isInteger(f)) throw new Error(`a stack names string ${f} of ${n}`);
        used[f] = 1;
      }
    }
    const remember = tx === this.prisma;
    // Frame id of each used string (ids are int4 serials, from 1).
    const frameOf = new Int32Array(n);
    let unknown: { at: number[]; names: string[] } | undefined;
    for (let i = 0; i < n; i++) {
      if (used[i] === 0) continue;
      const s = strings[i];
      const name = s.length > MAX_FRAME_NAME ? `${s.slice(0, MAX_FRAME_NAME)}...` : s;
      const id = this.frameIds.get(name);
      if (id !== undefined) frameOf[i] = id;
      else {
        unknown ??= { at: [], names: [] };
        unknown.at.push(i);
        unknown.names.push(name);
      }
    }
    if (unknown) {
      const got = await this.ids(tx, [...new Set(unknown.names)], this.frameIds, remember, frameKey, async (rows) => {
        const keys = rows.map((r) => r.key);
        await tx.$executeRaw`
          INSERT INTO "Frame" ("key", "name", "kind")
          SELECT * FROM unnest(${keys}::text[], ${rows.map((r) => r.item)}::text[], ${rows.map((r) => frameKind(r.item))}::"FrameKind"[])
          ON CONFLICT ("key") DO NOTHING`;
        return tx.$queryRaw<{ id: number; key: string }[]>`SELECT "id", "key" FROM "Frame" WHERE "key" = ANY(${keys}::text[])`;
      });
      for (let j = 0; j < unknown.at.length; j++) frameOf[unknown.at[j]] = got.get(unknown.names[j])!;
    }
    // A path's key is its frame ids joined ("12,7,9"): one string each, made by join.
    const stackIds: number[] = new Array(paths.length);
    const lists: string[] = new Array(paths.length);
    const ids: number[] = [];
    let unknownPaths: number[] | undefined;
    for (let k = 0; k < paths.length; k++) {
      const p = paths[k];
      ids.length = p.length;
      for (let j = 0; j < p.length; j++) ids[j] = frameOf[p[j]];
      const list = ids.join(',');
      lists[k] = list;
      const id = this.stackIds.get(list);
      if (id !== undefined) stackIds[k] = id;
      else (unknownPaths ??= []).push(k);
    }
    if (unknownPaths) {
      const got = await this.ids(
        tx,
        [...new Set(unknownPaths.map((k) => lists[k]))],
        this.stackIds,
        remember,
        (list) => stackKey(list.split(',').map(Number)),
        async (rows) => {
          const keys = rows.map((r) => r.key);
          await tx.$executeRaw`
            INSERT INTO "Stack" ("key", "frameIds")
            SELECT k, string_to_array(f, ',')::int[] FROM unnest(${keys}::text[], ${rows.map((r) => r.item)}::text[]) AS t(k, f)
            ON CONFLICT ("key") DO NOTHING`;
          return tx.$queryRaw<{ id: number; key: string }[]>`SELECT "id", "key" FROM "Stack" WHERE "key" = ANY(${keys}::text[])`;
        },
      );
      for (const k of unknownPaths) stackIds[k] = got.get(lists[k])!;
    }
    return stackIds;
  }

  /**
   * The row id of each distinct item (a frame name, a stack's frame-id list): from `cache`, or for the
   * rest by `insert`, which inserts the missing rows and reads back the ids of their keys. Rows go in
   * sorted by key, so concurrent inserts of overlapping items take their index locks in one order (no
   * deadlock). With `remember`, new ids are cached (not for a transaction, which may still roll back).
   */
  private async ids(
    tx: Tx,
    items: string[],
    cache: BoundedMap<string, number>,
    remember: boolean,
    keyOf: (item: string) => string,
    insert: (rows: { item: string; key: string }[]) => Promise<{ id: number; key: string }[]>,
  ): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    const missing: { item: string; key: string }[] = [];
    for (const item of items) {
      const id = cache.get(item);
      if (id === undefined) missing.push({ item, key: keyOf(item) });
      else found.set(item, id);
    }
    if (missing.length === 0) return found;
    missing.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const idByKey = new Map((await insert(missing)).map((r) => [r.key, r.id]));
    for (const { item, key } of missing) {
      const id = idByKey.get(key)!;
      found.set(item, id);
      if (remember) cache.set(item, id);
    }
    return found;
  }

  /**
   * Stores the batches of several runs with one statement: per run, counts summed per stack are added
   * to its profile and the run's batch counters (seq, batches, samples, gaps) move, so stored samples and
   * counters never disagree. Returns per run the samples added, or null when the run's seq had already
   * reached its batches' (they were stored before: nothing of that run was written). Outside any
   * transaction: frame and stack rows are shared and kept whatever happens to this write.
   */
  async ingestMany(items: RunBatches[]): Promise<Map<string, bigint | null>> {
    // Runs in id order: concurrent writes (another replica finishing an old session's batches) lock
    // the same JobRun and Profile rows in the same order.
    const sorted = [...items].sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
    const folded: { item: RunBatches; stacks: number[]; origins: number[]; counts: bigint[]; total: bigint }[] = [];
    for (const item of sorted) folded.push({ item, ...(await this.fold(item.batches)) });
    const profileIds = await this.profileIdsOf(folded.filter((f) => f.stacks.length > 0).map((f) => f.item));
    const withSamples = folded.filter((f) => profileIds.has(f.item.runId));
    // Each sample row names its run by position in withSamples (1-based, as WITH ORDINALITY counts), not
    // by two uuids; the number columns go as array literals ("{1,2,3}"): the ORM and the driver would
    // check and quote every element of an array parameter, thousands per write.
    const at: number[] = [];
    const stack: number[] = [];
    const origin: number[] = [];
    const count: bigint[] = [];
    withSamples.forEach((f, i) => {
      for (let k = 0; k < f.stacks.length; k++) {
        at.push(i + 1);
        stack.push(f.stacks[k]);
        origin.push(f.origins[k]);
        count.push(f.counts[k]);
      }
    });
    // The claim: a run's seq moves to its batches' last only if no writer stored that far already (a
    // resend after a lost acknowledgement, or another replica still applying the agent's old session);
    // only claimed runs' samples and totals are written. Samples carry their profile's creation day,
    // the partition key (retention/partitions.ts).
    const rows = await this.prisma.$queryRaw<{ id: string }[]>`
      WITH claim AS (
        UPDATE "JobRun" j SET "lastSeq" = t.last, "batchesReceived" = j."batchesReceived" + t.nb,
          "samplesReceived" = j."samplesReceived" + t.ns, "seqGaps" = j."seqGaps" + t.ng
        FROM unnest(${folded.map((f) => f.item.runId)}::uuid[], ${arrayLiteral(folded.map((f) => f.item.progress.lastSeq))}::bigint[],
          ${arrayLiteral(folded.map((f) => f.item.progress.batches))}::int[], ${arrayLiteral(folded.map((f) => f.total))}::bigint[],
          ${arrayLiteral(folded.map((f) => f.item.progress.gaps))}::int[]) AS t(id, last, nb, ns, ng)
        WHERE j."id" = t.id AND j."lastSeq" < t.last
        RETURNING j."id"
      ), r AS (
        SELECT * FROM unnest(${withSamples.map((f) => profileIds.get(f.item.runId)!)}::uuid[], ${withSamples.map((f) => f.item.runId)}::uuid[],
          ${arrayLiteral(withSamples.map((f) => f.total))}::bigint[]) WITH ORDINALITY AS r(p, run, n, i)
        WHERE r.run IN (SELECT "id" FROM claim)
      ), s AS (
        INSERT INTO "ProfileSample" ("profileId", "stackId", "originId", "count", "day")
        SELECT r.p, x.s, x.o, x.c, (pr."createdAt")::date
        FROM unnest(${arrayLiteral(at)}::int[], ${arrayLiteral(stack)}::int[], ${arrayLiteral(origin)}::int[], ${arrayLiteral(count)}::bigint[]) AS x(i, s, o, c)
          JOIN r ON r.i = x.i
          JOIN "Profile" pr ON pr."id" = r.p
        ON CONFLICT ("profileId", "stackId", "originId", "day") DO UPDATE SET "count" = "ProfileSample"."count" + EXCLUDED."count"
      ), p AS (
        UPDATE "Profile" pr SET "totalSamples" = pr."totalSamples" + r.n FROM r WHERE pr."id" = r.p
      )
      SELECT "id"::text AS "id" FROM claim`;
    const claimed = new Set(rows.map((r) => r.id));
    return new Map(folded.map((f) => [f.item.runId, claimed.has(f.item.runId) ? f.total : null]));
  }

  /** A run's batches as one: the stack and origin ids (interned) with their counts summed, and the total. */
  private async fold(batches: ProfileBatch[]): Promise<{ stacks: number[]; origins: number[]; counts: bigint[]; total: bigint }> {
    // Counts per stack id, per origin id (0: not known); numbers as keys, not a "stack/origin" string per stack.
    const byOrigin = new Map<number, Map<number, bigint>>();
    let total = 0n;
    for (const b of batches) {
      if (b.stacks.length === 0) continue;
      for (const s of b.stacks) if (s.origin > b.origins.length) throw new Error(`a stack names origin ${s.origin} of ${b.origins.length}`);
      const ids = await this.internStacks(this.prisma, b.strings, b.stacks.map((s) => s.frames));
      const origins = b.origins.length > 0 ? await this.internOrigins(this.prisma, b.origins) : [];
      for (let i = 0; i < b.stacks.length; i++) {
        const s = b.stacks[i];
        const origin = s.origin === 0 ? 0 : origins[s.origin - 1];
        let counts = byOrigin.get(origin);
        if (counts === undefined) byOrigin.set(origin, (counts = new Map()));
        counts.set(ids[i], (counts.get(ids[i]) ?? 0n) + s.count);
        total += s.count;
      }
    }
    const stacks: number[] = [];
    const origins: number[] = [];
    const counts: bigint[] = [];
    for (const [origin, byStack] of byOrigin) {
      for (const [stack, count] of byStack) {
        stacks.push(stack);
        origins.push(origin);
        counts.push(count);
      }
    }
    return { stacks, origins, counts, total };
  }

  /** The profile row of each run (by run id), created on first use: the unknown ones with one statement. */
  private async profileIdsOf(runs: { jobId: string; runId: string }[]): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    const missing: { jobId: string; runId: string }[] = [];
    for (const r of runs) {
      const known = this.profileIds.get(r.runId);
      if (known) ids.set(r.runId, known);
      else missing.push(r);
    }
    if (missing.length === 0) return ids;
    const rows = await this.prisma.$queryRaw<{ id: string; runId: string }[]>`
      INSERT INTO "Profile" ("id", "jobId", "runId")
      SELECT gen_random_uuid(), j, r FROM unnest(${missing.map((m) => m.jobId)}::uuid[], ${missing.map((m) => m.runId)}::uuid[]) AS t(j, r)
      ON CONFLICT ("runId") DO UPDATE SET "runId" = EXCLUDED."runId"
      RETURNING "id"::text AS "id", "runId"::text AS "runId"`;
    for (const row of rows) {
      this.profileIds.set(row.runId, row.id);
      ids.set(row.runId, row.id);
    }
    return ids;
  }

  /** Forgets what was remembered for a run that ended (its profile id). */
  forgetRun(runId: string): void {
    this.profileIds.delete(runId);
  }

  /**
   * Adds counts per stack to the run's profile, or with `replace` makes them the profile
   * (memleak: the latest snapshot's outstanding bytes). Returns the total added.
   */
  async addCounts(tx: Tx, jobId: string, runId: string, strings: string[], stacks: { frames: number[]; count: bigint; originId?: number }[], replace: boolean): Promise<bigint> {
    const profile = await tx.profile.upsert({ where: { runId }, create: { jobId, runId }, update: {}, select: { id: true } });
    if (replace) await tx.profileSample.deleteMany({ where: { profileId: profile.id } });
    const stackIds = await this.internStacks(tx, strings, stacks.map((s) => s.frames));
    // Counts per "stackId/originId" (origin 0: not known).
    const byStack = new Map<string, bigint>();
    let total = 0n;
    stacks.forEach((s, i) => {
      const key = `${stackIds[i]}/${s.originId ?? 0}`;
      byStack.set(key, (byStack.get(key) ?? 0n) + s.count);
      total += s.count;
    });
    const keys = [...byStack.keys()].map((k) => k.split('/').map(Number));
    const counts = [...byStack.values()].map(String);
    if (keys.length > 0) {
      await tx.$executeRaw`
        INSERT INTO "ProfileSample" ("profileId", "stackId", "originId", "count", "day")
        SELECT ${profile.id}::uuid, s, o, c, pd."day" FROM unnest(${keys.map((k) => k[0])}::int[], ${keys.map((k) => k[1])}::int[], ${counts}::bigint[]) AS t(s, o, c),
          (SELECT ("createdAt")::date AS "day" FROM "Profile" WHERE "id" = ${profile.id}::uuid) AS pd
        ON CONFLICT ("profileId", "stackId", "originId", "day") DO UPDATE SET "count" = "ProfileSample"."count" + EXCLUDED."count"`;
    }
    await tx.profile.update({ where: { id: profile.id }, data: { totalSamples: replace ? total : { increment: total } } });
    return total;
  }

  /**
   * Stacks of a job, summed over its nodes (or one node), root first; only the samples of the `filter`'s
   * container / cgroup, and with `groupBy` under one root frame per container, pod or cgroup.
   *
   * This and `stacksByNode` load every row at once: no route uses them any more (the outputs read through
   * cursors, profile-reader.ts and incidents/incident-reader.ts); they stay as the plain reference the
   * specs compare those reads and ingest with.
   */
  async stacks(jobId: string, nodeName?: string, filter: OriginFilter = {}, groupBy?: OriginGrouping): Promise<StackCount[]> {
    await this.checkJobNode(jobId, nodeName);
    const w = originWhere(filter);
    const rows = await this.prisma.$queryRaw<{ frameIds: number[]; originId: number; count: bigint }[]>`
      SELECT s."frameIds", (CASE WHEN ${groupBy !== undefined}::boolean THEN ps."originId" ELSE 0 END) AS "originId", SUM(ps."count")::bigint AS "count"
      FROM "ProfileSample" ps
      JOIN "Profile" p ON p."id" = ps."profileId"
      JOIN "JobRun" r ON r."id" = p."runId"
      JOIN "Node" n ON n."id" = r."nodeId"
      JOIN "Stack" s ON s."id" = ps."stackId"
      LEFT JOIN "Origin" o ON o."id" = ps."originId"
      WHERE p."jobId" = ${jobId}::uuid AND (${nodeName ?? null}::text IS NULL OR n."name" = ${nodeName ?? null}::text)
        AND (${w.container}::text IS NULL OR o."containerId" LIKE ${w.container}::text)
        AND (${w.cgroup}::text IS NULL OR o."cgroup" = ${w.cgroup}::text OR o."cgroup" LIKE ${w.below}::text)
      GROUP BY s."id", 2`;
    const nameById = await this.frameNames(rows);
    const framesOf = (r: { frameIds: number[] }): string[] => r.frameIds.map((id) => nameById.get(id) ?? `[frame ${id}]`);
    if (groupBy === undefined) return rows.map((r) => ({ frames: framesOf(r), count: BigInt(r.count) }));
    const origins = await this.originLabels(rows.map((r) => r.originId));
    const merged = new Map<string, StackCount>();
    for (const r of rows) {
      const frames = [groupFrame(groupBy, origins.get(r.originId)), ...framesOf(r)];
      const key = frames.join('\0');
      const hit = merged.get(key);
      if (hit) hit.count = BigInt(hit.count) + BigInt(r.count);
      else merged.set(key, { frames, count: BigInt(r.count) });
    }
    return [...merged.values()];
  }

  private async checkJobNode(jobId: string, nodeName?: string): Promise<void> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { id: true } });
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (nodeName !== undefined) {
      const run = await this.prisma.jobRun.findFirst({ where: { jobId, node: { name: nodeName } }, select: { id: true } });
      if (!run) throw new NotFoundException(`job ${jobId} has no run on node ${nodeName}`);
    }
  }

  /** Ids of the Origin rows an origin filter keeps (events store an origin id). */
  async originIdsMatching(filter: OriginFilter): Promise<number[]> {
    const w = originWhere(filter);
    const rows = await this.prisma.$queryRaw<{ id: number }[]>`
      SELECT o."id" FROM "Origin" o
      WHERE (${w.container}::text IS NULL OR o."containerId" LIKE ${w.container}::text)
        AND (${w.cgroup}::text IS NULL OR o."cgroup" = ${w.cgroup}::text OR o."cgroup" LIKE ${w.below}::text)`;
    return rows.map((r) => r.id);
  }

  /** Labels of Origin rows by id (0 and unknown ids have none). */
  async originLabels(ids: number[]): Promise<Map<number, OriginLabels>> {
    const wanted = [...new Set(ids.filter((id) => id > 0))];
    if (wanted.length === 0) return new Map();
    const rows = await this.prisma.origin.findMany({ where: { id: { in: wanted } } });
    return new Map(rows.map((o) => [o.id, { cgroup: o.cgroup, containerId: o.containerId ?? undefined, podUid: o.podUid ?? undefined }]));
  }

  /**
   * Stacks of a job per node (or of one node), root first, nodes by name. Nodes whose run
   * stored no samples are left out.
   */
  async stacksByNode(jobId: string, nodeName?: string, filter: OriginFilter = {}): Promise<{ node: string; stacks: LabelledStack[] }[]> {
    await this.checkJobNode(jobId, nodeName);
    const w = originWhere(filter);
    const rows = await this.prisma.$queryRaw<{ node: string; frameIds: number[]; originId: number; count: bigint }[]>`
      SELECT n."name" AS "node", s."frameIds", ps."originId", ps."count"
      FROM "ProfileSample" ps
      JOIN "Profile" p ON p."id" = ps."profileId"
      JOIN "JobRun" r ON r."id" = p."runId"
      JOIN "Node" n ON n."id" = r."nodeId"
      JOIN "Stack" s ON s."id" = ps."stackId"
      LEFT JOIN "Origin" o ON o."id" = ps."originId"
      WHERE p."jobId" = ${jobId}::uuid AND (${nodeName ?? null}::text IS NULL OR n."name" = ${nodeName ?? null}::text)
        AND ps."count" > 0
        AND (${w.container}::text IS NULL OR o."containerId" LIKE ${w.container}::text)
        AND (${w.cgroup}::text IS NULL OR o."cgroup" = ${w.cgroup}::text OR o."cgroup" LIKE ${w.below}::text)
      ORDER BY n."name", s."id", ps."originId"`;
    const nameById = await this.frameNames(rows);
    const origins = await this.originLabels(rows.map((r) => r.originId));
    const byNode = new Map<string, LabelledStack[]>();
    for (const r of rows) {
      let stacks = byNode.get(r.node);
      if (stacks === undefined) byNode.set(r.node, (stacks = []));
      const origin = origins.get(r.originId);
      stacks.push({ frames: r.frameIds.map((id) => nameById.get(id) ?? `[frame ${id}]`), count: BigInt(r.count), ...(origin ? { origin } : {}) });
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

