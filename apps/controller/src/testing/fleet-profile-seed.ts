// A cpu-profile job of a whole fleet, written straight into PostgreSQL (no agents): `nodes` nodes with one
// completed run each, every run the same `shared` stacks of `depth` frames (a fleet of one service) with
// counts that differ per node, plus `distinct` stacks of its own per node. For the read db spec and for
// bench/fleet-read.mjs. Frame and Stack keys are the ones ingest makes (frame-keys.ts), so later ingest
// of the same names shares the rows.
import type { Pool } from 'pg';
import { frameKey, frameKind, stackKey } from '../profiles/frame-keys';
import type { StackCount } from '../profiles/flamegraph/flamegraph';

export interface FleetSeed {
  nodes: number;
  shared: number;
  depth: number;
  distinct: number;
  /** Node names are `${prefix}-00042`; also the job's frames' prefix, so seeds do not mix. */
  prefix: string;
  /** Extra stacks every node's run has once (hostile names, ...): count 1 on each node. */
  extra?: string[][];
}

export interface SeededJob {
  jobId: string;
  nodeNames: string[];
  /** The stacks merged over all nodes, as the job's folded text must sum them. */
  merged: StackCount[];
  /** Rows of ProfileSample written. */
  rows: number;
}

/** The count node `i` has of shared stack `j`. */
export const sharedCount = (i: number, j: number): number => 1 + ((i * 7 + j) % 5);

function sharedFrames(p: string, j: number, depth: number): string[] {
  // The upper half shared by groups of stacks (a call tree, not a flat list), the lower half each stack's own.
  return Array.from({ length: depth }, (_, d) => (d === 0 ? `${p}_main` : d < depth / 2 ? `${p}_lib${d}_${j % (d + 1)}` : `${p}_fn${d}_${j}`));
}

export async function seedFleetProfile(pool: Pool, s: FleetSeed): Promise<SeededJob> {
  const p = s.prefix;
  const nodeNames = Array.from({ length: s.nodes }, (_, i) => `${p}-${String(i).padStart(5, '0')}`);
  const stacks: string[][] = [];
  for (let j = 0; j < s.shared; j++) stacks.push(sharedFrames(p, j, s.depth));
  const extra = s.extra ?? [];
  for (const e of extra) stacks.push(e);
  const perNodeStart = stacks.length;
  for (let i = 0; i < s.nodes; i++) for (let k = 0; k < s.distinct; k++) stacks.push([`${p}_main`, `${nodeNames[i]}_only`, `${p}_leaf${k}`]);

  const names = [...new Set(stacks.flat())];
  await pool.query(
    `INSERT INTO "Frame" ("key", "name", "kind") SELECT * FROM unnest($1::text[], $2::text[], $3::"FrameKind"[]) ON CONFLICT ("key") DO NOTHING`,
    [names.map(frameKey), names, names.map(frameKind)],
  );
  const ids = new Map<string, number>();
  const fr = await pool.query<{ id: number; name: string }>(`SELECT "id", "name" FROM "Frame" WHERE "key" = ANY($1::text[])`, [names.map(frameKey)]);
  for (const r of fr.rows) ids.set(r.name, r.id);
  const lists = stacks.map((st) => st.map((n) => ids.get(n)!));
  const keys = lists.map((l) => stackKey(l));
  await pool.query(
    `INSERT INTO "Stack" ("key", "frameIds") SELECT k, string_to_array(f, ',')::int[] FROM unnest($1::text[], $2::text[]) AS t(k, f) ON CONFLICT ("key") DO NOTHING`,
    [keys, lists.map((l) => l.join(','))],
  );
  const st = await pool.query<{ id: number; key: string }>(`SELECT "id", "key" FROM "Stack" WHERE "key" = ANY($1::text[])`, [keys]);
  const stackIdOf = new Map(st.rows.map((r) => [r.key, r.id]));
  const stackIds = keys.map((k) => stackIdOf.get(k)!);

  const job = await pool.query<{ id: string }>(
    `INSERT INTO "Job" ("id", "type", "status", "params", "durationSec", "startedAt", "finishedAt")
     VALUES (gen_random_uuid(), 'cpu_profile', 'completed', $1::jsonb, 10, now() - interval '10 seconds', now()) RETURNING "id"::text`,
    [JSON.stringify({ type: 'cpu-profile', frequencyHz: 99, durationSec: 10 })],
  );
  const jobId = job.rows[0].id;
  // Nodes (gone: no agent, so nothing dispatches to them), runs and profiles in order of the node index (ord), which the sample counts use.
  await pool.query(
    `INSERT INTO "Node" ("id", "name", "kernelRelease", "btf", "protocolVersion", "capabilities", "agentVersion", "status")
     SELECT gen_random_uuid(), n, '6.1', true, 1, ARRAY['cpu-profile'], 'seed', 'gone' FROM unnest($1::text[]) AS n
     ON CONFLICT ("name") DO NOTHING`,
    [nodeNames],
  );
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('CREATE TEMP TABLE IF NOT EXISTS seed_ord (ord int, profile uuid) ON COMMIT DROP');
    await client.query(
      `WITH nodes AS (SELECT n."id", t.ord FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord) JOIN "Node" n ON n."name" = t.name),
       runs AS (INSERT INTO "JobRun" ("id", "jobId", "nodeId", "status") SELECT gen_random_uuid(), $2::uuid, "id", 'completed' FROM nodes RETURNING "id", "nodeId"),
       profs AS (INSERT INTO "Profile" ("id", "jobId", "runId") SELECT gen_random_uuid(), $2::uuid, "id" FROM runs RETURNING "id", "runId")
       INSERT INTO seed_ord SELECT nodes.ord - 1, profs."id" FROM profs JOIN runs ON runs."id" = profs."runId" JOIN nodes ON nodes."id" = runs."nodeId"`,
      [nodeNames, jobId],
    );
    const shared = stackIds.slice(0, s.shared);
    const extraIds = stackIds.slice(s.shared, perNodeStart);
    const perNode = stackIds.slice(perNodeStart);
    await client.query(
      `INSERT INTO "ProfileSample" ("profileId", "stackId", "originId", "count")
       SELECT o.profile, st.id, 0, 1 + ((o.ord * 7 + st.j - 1) % 5) FROM seed_ord o CROSS JOIN unnest($1::int[]) WITH ORDINALITY AS st(id, j)`,
      [shared],
    );
    if (extraIds.length > 0) {
      await client.query(`INSERT INTO "ProfileSample" ("profileId", "stackId", "originId", "count") SELECT o.profile, e, 0, 1 FROM seed_ord o CROSS JOIN unnest($1::int[]) AS e`, [extraIds]);
    }
    if (perNode.length > 0) {
      await client.query(
        `INSERT INTO "ProfileSample" ("profileId", "stackId", "originId", "count")
         SELECT o.profile, ($1::int[])[o.ord * $2::int + k], 0, 2 FROM seed_ord o CROSS JOIN generate_series(1, $2::int) AS k`,
        [perNode, s.distinct],
      );
    }
    await client.query(`UPDATE "Profile" SET "totalSamples" = t.c FROM (SELECT "profileId", SUM("count") c FROM "ProfileSample" ps JOIN seed_ord o ON o.profile = ps."profileId" GROUP BY 1) t WHERE "Profile"."id" = t."profileId"`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }

  const merged: StackCount[] = [];
  for (let j = 0; j < s.shared; j++) {
    let c = 0;
    for (let i = 0; i < s.nodes; i++) c += sharedCount(i, j);
    merged.push({ frames: stacks[j], count: c });
  }
  for (const e of extra) merged.push({ frames: e, count: s.nodes });
  for (let i = perNodeStart; i < stacks.length; i++) merged.push({ frames: stacks[i], count: 2 });
  return { jobId, nodeNames, merged, rows: s.nodes * (s.shared + extra.length + s.distinct) };
}

/** Deletes a seeded job (its runs, profiles and samples go with it) and its nodes; frames and stacks stay (shared, never deleted). */
export async function dropFleetProfile(pool: Pool, seed: SeededJob): Promise<void> {
  await pool.query('DELETE FROM "Job" WHERE "id" = $1::uuid', [seed.jobId]);
  await pool.query('DELETE FROM "Node" WHERE "name" = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM "JobRun" r WHERE r."nodeId" = "Node"."id")', [seed.nodeNames]);
}
