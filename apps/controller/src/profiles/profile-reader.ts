/**
 * Reads a job's stored stacks from PostgreSQL through a server-side cursor, a chunk at a time, folding
 * each chunk into what the output needs before the next is fetched: a merged profile (flame graph,
 * folded) into a StackTrie, per-node outputs (pprof, speedscope) one node at a time. Nothing holds
 * every row of a job; the caps below bound what one read may hold.
 *
 * Connections: the cursors run on a pool of their own (READ_SLOTS connections, one per slot of the
 * read gate), not on Prisma's pool, so a read that lasts seconds never takes a connection from result
 * storage (prisma/store-gate.ts) nor from the 4 the store gate leaves to heartbeats and the REST API.
 * Frame names and origin labels are looked up per chunk (short queries on Prisma's pool, like any
 * REST request) through bounded caches: Frame and Origin rows never change.
 */
import { HttpException, Inject, Injectable, NotFoundException, UnprocessableEntityException, type OnModuleDestroy } from '@nestjs/common';
import { Pool, type PoolClient } from 'pg';
import Cursor from 'pg-cursor';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { BoundedMap } from './bounded-map';
import { groupFrame, originWhere, type OriginFilter, type OriginGrouping, type OriginLabels } from './origins';
import { ReadGate } from './read-gate';
import { StackTrie } from './stack-trie';
import type { LabelledStack } from './profiles.service';

/** Heavy reads served at once per replica (and connections of the read pool). */
export const READ_SLOTS = 2;
/** Heavy reads that may wait for a slot; past them a read gets 503 + Retry-After. */
export const READ_QUEUE = 8;
/** Rows fetched per cursor round trip. */
export const READ_CHUNK = 2000;
/** The most call-path prefixes (trie nodes) one merged read folds: ~150 B each, so ~75 MB at most (within the controller's 384 MiB old space). */
export const MAX_TRIE_NODES = 500_000;
/** The most (stack, origin) rows of one node that a per-node output holds at once. */
export const MAX_NODE_STACKS = 200_000;
const MAX_CACHED_NAMES = 200_000;
const MAX_CACHED_ORIGINS = 50_000;

export interface ReadQuery {
  jobId: string;
  node?: string;
  filter?: OriginFilter;
  groupBy?: OriginGrouping;
}

interface Row {
  frameIds: number[];
  originId: number;
  /** int8 comes as text from pg. */
  count: string;
  node?: string;
}

/** Thrown into a read whose client went away: the cursor is closed and its connection released. */
export class ReadAborted extends Error {
  constructor() {
    super('the client went away mid-read');
  }
}

@Injectable()
export class ProfileReader implements OnModuleDestroy {
  readonly gate = new ReadGate(READ_SLOTS, READ_QUEUE);
  /** The cursors' own connections (see the file comment). */
  readonly pool: Pool;
  private readonly names = new BoundedMap<number, string>(MAX_CACHED_NAMES);
  private readonly origins = new BoundedMap<number, OriginLabels>(MAX_CACHED_ORIGINS);
  /** The caps and chunk size (specs lower them). */
  readonly caps = { trieNodes: MAX_TRIE_NODES, nodeStacks: MAX_NODE_STACKS, chunk: READ_CHUNK };

  constructor(
    private readonly prisma: PrismaService,
    @Inject(ENV) env: ControllerEnv,
  ) {
    this.pool = new Pool({ connectionString: env.databaseUrl, max: READ_SLOTS, idleTimeoutMillis: 30_000 });
    // An idle connection that dies (database restart) must not take the process down.
    this.pool.on('error', () => undefined);
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool.end();
  }

  /** 404 for an unknown job, or a node the job has no run on (as the outputs always answered). */
  async checkJobNode(jobId: string, nodeName?: string): Promise<void> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { id: true } });
    if (!job) throw new NotFoundException(`job ${jobId} not found`);
    if (nodeName !== undefined) {
      const run = await this.prisma.jobRun.findFirst({ where: { jobId, node: { name: nodeName } }, select: { id: true } });
      if (!run) throw new NotFoundException(`job ${jobId} has no run on node ${nodeName}`);
    }
  }

  /** Whether the job (node, origin filter) has any sample: one indexed probe, before an output commits to a 200. */
  async hasSamples(q: ReadQuery): Promise<boolean> {
    const w = originWhere(q.filter ?? {});
    const res = await this.pool.query<{ any: boolean }>(
      `SELECT EXISTS (SELECT 1 ${FROM_WHERE} AND ps."count" > 0) AS "any"`,
      [q.jobId, q.node ?? null, w.container, w.cgroup, w.below],
    );
    return res.rows[0].any;
  }

  /** How many nodes have samples (on `client`: inside a snapshot). */
  async nodeCount(q: ReadQuery, client?: PoolClient): Promise<number> {
    const w = originWhere(q.filter ?? {});
    const res = await (client ?? this.pool).query<{ n: number }>(
      `SELECT count(DISTINCT n."name")::int AS "n" ${FROM_WHERE} AND ps."count" > 0`,
      [q.jobId, q.node ?? null, w.container, w.cgroup, w.below],
    );
    return res.rows[0].n;
  }

  /**
   * The job's stacks summed over its nodes (or one node), folded into a trie as the rows stream in:
   * the GROUP BY leaves one row per distinct (stack[, origin]); with `groupBy` each goes below the
   * root frame of its container, pod or cgroup. Throws TooManyPathsError past the cap (a 422).
   */
  async merged(q: ReadQuery, signal?: AbortSignal, client?: PoolClient): Promise<StackTrie> {
    await this.checkJobNode(q.jobId, q.node);
    const w = originWhere(q.filter ?? {});
    const trie = new StackTrie(this.caps.trieNodes);
    const sql = `SELECT s."frameIds", (CASE WHEN $6::boolean THEN ps."originId" ELSE 0 END) AS "originId", SUM(ps."count")::text AS "count"
      ${FROM_WHERE}
      GROUP BY s."id", 2`;
    await this.stream<Row>(client, sql, [q.jobId, q.node ?? null, w.container, w.cgroup, w.below, q.groupBy !== undefined], signal, async (rows) => {
      const names = await this.frameNames(rows);
      const origins = q.groupBy === undefined ? undefined : await this.originLabels(rows.map((r) => r.originId));
      for (const r of rows) {
        const frames = r.frameIds.map((id) => names.get(id) ?? `[frame ${id}]`);
        trie.add(frames, BigInt(r.count), origins === undefined ? undefined : groupFrame(q.groupBy!, origins.get(r.originId)));
      }
    });
    return trie;
  }

  /**
   * The job's stacks node by node (nodes in the database's name order, stacks by id then origin, as
   * stored): `onNode` gets one node's stacks once its last row is read and the next node's rows are
   * not held until it returns. Nodes without samples are left out.
   */
  async perNode(q: ReadQuery, signal: AbortSignal | undefined, onNode: (node: string, stacks: LabelledStack[]) => Promise<void>, client?: PoolClient): Promise<void> {
    await this.checkJobNode(q.jobId, q.node);
    const w = originWhere(q.filter ?? {});
    const sql = `SELECT n."name" AS "node", s."frameIds", ps."originId", ps."count"::text AS "count"
      ${FROM_WHERE} AND ps."count" > 0
      ORDER BY n."name", s."id", ps."originId"`;
    let node: string | undefined;
    let stacks: LabelledStack[] = [];
    await this.stream<Row>(client, sql, [q.jobId, q.node ?? null, w.container, w.cgroup, w.below], signal, async (rows) => {
      const names = await this.frameNames(rows);
      const origins = await this.originLabels(rows.map((r) => r.originId));
      for (const r of rows) {
        if (r.node !== node) {
          if (node !== undefined) await onNode(node, stacks);
          node = r.node;
          stacks = [];
        }
        if (stacks.length >= this.caps.nodeStacks) {
          throw new UnprocessableEntityException(
            `node ${node} has more than ${this.caps.nodeStacks.toLocaleString('en-US')} distinct stacks in this job, the most one read holds per node; narrow it with ?container= or ?cgroup=`,
          );
        }
        const origin = origins.get(r.originId);
        stacks.push({ frames: r.frameIds.map((id) => names.get(id) ?? `[frame ${id}]`), count: BigInt(r.count), ...(origin ? { origin } : {}) });
      }
    });
    if (node !== undefined) await onNode(node, stacks);
  }

  /**
   * Runs `work` with one connection of the read pool inside a read-only REPEATABLE READ transaction, so
   * reads in several passes (speedscope: all nodes merged, then node by node) see one snapshot while
   * agents keep storing. The connection is released on every way out (destroyed after an error).
   */
  async snapshot<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const out = await work(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      broken = err as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release(broken === undefined || broken instanceof ReadAborted || isHttpError(broken) ? undefined : broken);
    }
  }

  /**
   * Runs `sql` through a cursor, `onChunk` on each chunk of rows: on `session` (a snapshot's), or on a
   * connection of the read pool taken for it. The cursor is closed and a connection taken here released
   * on every way out: the end, an error (the connection is then destroyed, not reused), or `signal`
   * (checked between chunks and before each fetch). Other readers of stored samples (incidents) run theirs here.
   */
  async stream<T>(
    session: PoolClient | undefined,
    sql: string,
    params: unknown[],
    signal: AbortSignal | undefined,
    onChunk: (rows: T[]) => Promise<void>,
  ): Promise<void> {
    if (signal?.aborted) throw new ReadAborted();
    const client: PoolClient = session ?? (await this.pool.connect());
    let broken: Error | undefined;
    const cursor = client.query(new Cursor<T>(sql, params));
    try {
      for (;;) {
        if (signal?.aborted) throw new ReadAborted();
        const rows = await cursor.read(this.caps.chunk);
        if (rows.length === 0) break;
        if (signal?.aborted) throw new ReadAborted();
        await onChunk(rows);
      }
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      try {
        await cursor.close();
      } catch (err) {
        broken ??= err as Error;
      }
      // A cursor that failed in the database may leave the connection mid-protocol: destroy it then. A
      // read cut short by its client or by a cap closed its cursor cleanly: the connection is reusable.
      if (session === undefined) client.release(broken === undefined || broken instanceof ReadAborted || isHttpError(broken) ? undefined : broken);
    }
  }

  /** Names of the rows' frames, through the bounded cache. */
  async frameNames(rows: { frameIds: number[] }[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const missing = new Set<number>();
    for (const r of rows) {
      for (const id of r.frameIds) {
        if (out.has(id)) continue;
        const name = this.names.get(id);
        if (name === undefined) missing.add(id);
        else out.set(id, name);
      }
    }
    if (missing.size > 0) {
      const found = await this.prisma.$queryRaw<{ id: number; name: string }[]>`SELECT "id", "name" FROM "Frame" WHERE "id" = ANY(${[...missing]}::int[])`;
      for (const f of found) {
        out.set(f.id, f.name);
        this.names.set(f.id, f.name);
      }
    }
    return out;
  }

  private async originLabels(ids: number[]): Promise<Map<number, OriginLabels>> {
    const out = new Map<number, OriginLabels>();
    const missing = new Set<number>();
    for (const id of ids) {
      if (id <= 0 || out.has(id)) continue;
      const o = this.origins.get(id);
      if (o === undefined) missing.add(id);
      else out.set(id, o);
    }
    if (missing.size > 0) {
      const rows = await this.prisma.origin.findMany({ where: { id: { in: [...missing] } } });
      for (const r of rows) {
        const o: OriginLabels = { cgroup: r.cgroup, containerId: r.containerId ?? undefined, podUid: r.podUid ?? undefined };
        out.set(r.id, o);
        this.origins.set(r.id, o);
      }
    }
    return out;
  }
}

function isHttpError(err: Error): boolean {
  return err instanceof HttpException;
}

/** The joins and filters every read shares: $1 job, $2 node name or null, $3-$5 the origin filter (originWhere). */
const FROM_WHERE = `FROM "ProfileSample" ps
      JOIN "Profile" p ON p."id" = ps."profileId"
      JOIN "JobRun" r ON r."id" = p."runId"
      JOIN "Node" n ON n."id" = r."nodeId"
      JOIN "Stack" s ON s."id" = ps."stackId"
      LEFT JOIN "Origin" o ON o."id" = ps."originId"
      WHERE p."jobId" = $1::uuid AND ($2::text IS NULL OR n."name" = $2::text)
        AND ($3::text IS NULL OR o."containerId" LIKE $3::text)
        AND ($4::text IS NULL OR o."cgroup" = $4::text OR o."cgroup" LIKE $5::text)`;
