/**
 * Reads an incident's stored samples (the stacks of several jobs over thousands of nodes) as the job reader
 * does (profiles/profile-reader.ts): through cursors on the read pool, a chunk at a time, each chunk folded
 * into what the output needs before the next is fetched. Two shapes of rows:
 *  - merged: one row per distinct stack, its count summed over every node and job, with its frame ids
 *    (the frame names are looked up once per chunk, through the reader's cache);
 *  - by node: (node, stack id, count), node after node, with no frames at all: a node's rows are handed on
 *    when its last one is read and are not held after.
 * An output that reads both does it inside one snapshot (ProfileReader.snapshot), so they agree.
 */
import { Injectable, UnprocessableEntityException } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { ProfileReader } from '../profiles/profile-reader';
import { StackTrie } from '../profiles/stack-trie';
import { PathTree, type StackRow } from './path-tree';

export interface IncidentRead {
  /** The incident's jobs whose samples are read (all of one type). */
  jobIds: string[];
  /** Only this node's samples. */
  node?: string;
}

/** The joins every read here makes. */
const JOINS = `FROM "ProfileSample" ps
      JOIN "Profile" p ON p."id" = ps."profileId"
      JOIN "JobRun" r ON r."id" = p."runId"
      JOIN "Node" n ON n."id" = r."nodeId"`;
/** The filters every read here applies: $1 the job ids, $2 a node name or null. */
const WHERE = `WHERE p."jobId" = ANY($1::uuid[]) AND ($2::text IS NULL OR n."name" = $2::text) AND ps."count" > 0`;

const MERGED_SQL = `SELECT s."id" AS "stack", s."frameIds", SUM(ps."count")::text AS "count"
      ${JOINS}
      JOIN "Stack" s ON s."id" = ps."stackId"
      ${WHERE}
      GROUP BY s."id"`;

// Node after node without sorting the samples: the runs (a few thousand rows) are sorted by node, and each
// run's samples are read through the primary key's index on (profileId, ...) as the nested loop reaches it.
// No GROUP BY either: a node's rows may name a stack more than once (another origin, day or job), and
// what reads them sums. At 2,000 nodes × 205 stacks: 0.2 s in the database, where GROUP BY name took 0.6 s
// (an on-disk sort of every row).
const BY_NODE_SQL = `SELECT n."name" AS "node", ps."stackId" AS "stack", ps."count"::text AS "count"
      FROM "Profile" p
      JOIN "JobRun" r ON r."id" = p."runId"
      JOIN "Node" n ON n."id" = r."nodeId"
      CROSS JOIN LATERAL (SELECT s."stackId", s."count" FROM "ProfileSample" s WHERE s."profileId" = p."id" AND s."count" > 0) ps
      WHERE p."jobId" = ANY($1::uuid[]) AND ($2::text IS NULL OR n."name" = $2::text)
      ORDER BY n."id"`;

const NODE_TOTALS_SQL = `SELECT n."name" AS "node", SUM(ps."count")::text AS "count"
      ${JOINS}
      ${WHERE}
      GROUP BY n."name"`;

@Injectable()
export class IncidentReader {
  constructor(readonly reader: ProfileReader) {}

  /** The merged call tree with each stack's leaf (for the per-node breakdown and per-node function counts). */
  async tree(q: IncidentRead, signal: AbortSignal | undefined, client: PoolClient | undefined): Promise<PathTree> {
    const tree = new PathTree(this.reader.caps.trieNodes);
    await this.stacks(q, signal, client, (id, frames, count) => tree.addStack(id, frames, count));
    return tree;
  }

  /** The merged stacks in a trie (what the folded text streams from). */
  async trie(q: IncidentRead, signal: AbortSignal | undefined, client?: PoolClient): Promise<StackTrie> {
    const trie = new StackTrie(this.reader.caps.trieNodes);
    await this.stacks(q, signal, client, (_id, frames, count) => trie.add(frames, count));
    return trie;
  }

  /** Every distinct stack once, with its count summed over the nodes and jobs read. */
  private async stacks(q: IncidentRead, signal: AbortSignal | undefined, client: PoolClient | undefined, add: (id: number, frames: string[], count: bigint) => void): Promise<void> {
    await this.reader.stream<{ stack: number; frameIds: number[]; count: string }>(client, MERGED_SQL, [q.jobIds, q.node ?? null], signal, async (rows) => {
      const names = await this.reader.frameNames(rows);
      for (const r of rows) add(r.stack, r.frameIds.map((id) => names.get(id) ?? `[frame ${id}]`), BigInt(r.count));
    });
  }

  /**
   * Each node's (stack id, count) rows over the jobs read, node after node (in no set order; a stack may come
   * more than once): `onNode` gets a node's rows once its last one is read. A node with more rows than a read
   * holds per node is a 422.
   */
  async byNode(q: IncidentRead, signal: AbortSignal | undefined, client: PoolClient | undefined, onNode: (node: string, rows: StackRow[]) => void): Promise<void> {
    let node: string | undefined;
    let rows: StackRow[] = [];
    const cap = this.reader.caps.nodeStacks;
    await this.reader.stream<{ node: string; stack: number; count: string }>(client, BY_NODE_SQL, [q.jobIds, q.node ?? null], signal, async (chunk) => {
      for (const r of chunk) {
        if (r.node !== node) {
          if (node !== undefined) onNode(node, rows);
          node = r.node;
          rows = [];
        }
        if (rows.length >= cap) {
          throw new UnprocessableEntityException(
            `node ${node} has more than ${cap.toLocaleString('en-US')} stored stack counts in this incident, the most one read holds per node; read it with ?node= or ?job=`,
          );
        }
        rows.push({ stack: r.stack, count: BigInt(r.count) });
      }
    });
    if (node !== undefined) onNode(node, rows);
  }

  /** Samples per node (nodes with none are left out), by name as `localeCompare` orders them. */
  async nodeTotals(q: IncidentRead, client?: PoolClient): Promise<Record<string, bigint>> {
    const res = await (client ?? this.reader.pool).query<{ node: string; count: string }>(NODE_TOTALS_SQL, [q.jobIds, q.node ?? null]);
    return Object.fromEntries(byName(res.rows.map((r) => [r.node, BigInt(r.count)])));
  }
}

/** Per-node entries in the order the outputs always listed nodes (`localeCompare` of the names). */
export function byName<T>(entries: [string, T][]): [string, T][] {
  return entries.sort(([a], [b]) => a.localeCompare(b));
}
