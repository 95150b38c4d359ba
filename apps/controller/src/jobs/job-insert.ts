import type { Job } from '../generated/prisma/client';
import type { JobType } from '../generated/prisma/enums';
import type { PrismaService } from '../prisma/prisma.service';
import type { RouteRow } from '../nodes/nodes.service';

/** The Job row's fields a new job sets; the rest start at their defaults. */
export interface NewJob {
  type: JobType;
  durationSec: number;
  params: object;
  incidentId?: string;
  scheduleId?: string;
  startAt?: Date;
}

/** A job as stored, with its runs: those already bound to a session of this replica, and the rest. */
export interface StoredJob {
  job: Job;
  /** Runs whose node has a session on this replica: stored `dispatched` on it; their StartRun goes out next. */
  claimed: { id: string; name: string; sessionId: string }[];
  /**
   * Runs stored `pending` (their node's session is elsewhere, or none): dispatched as any pending run. `node`:
   * the node's registry row as the insert read it (where its session is), so that their dispatch need not read it again.
   */
  pending: { id: string; name: string; node: RouteRow }[];
}

/**
 * Stores a job and one run per node in one statement: one round trip, atomic on its own, where the ORM took
 * four (BEGIN, the job, the runs, COMMIT) and the dispatch a fifth to claim the runs; under a flood of
 * results each waited its turn behind result writes. `sessions` (node name → session id, this replica's)
 * binds runs to their session as they are stored: should this replica die before their StartRun went out,
 * the agent's next registration (elsewhere) finds a dispatched run it does not hold and puts it back to
 * pending (runs/run-handover.ts), as it does for a run claimed by startHere.
 */
export async function insertJob(prisma: PrismaService, data: NewJob, runNodes: string[], sessions: ReadonlyMap<string, string>): Promise<StoredJob> {
  // createdAt is this process's clock, as the ORM's @default(now()) sets it (the column default would read
  // the session's time zone into a column kept in UTC).
  const createdAt = new Date();
  // Stored as JSON, and answered as it reads back (fields set to undefined dropped, as the ORM's row has them).
  const paramsJson = JSON.stringify(data.params);
  const params = JSON.parse(paramsJson) as Job['params'];
  type Row = { jobId: string; runId: string | null; name: string | null; sessionId: string | null };
  // Null (from the lateral join) for runs bound to a session here.
  type NodeCols = { nodeId: string; status: RouteRow['status']; lastSeenAt: Date; replicaId: string | null; nodeSessionId: string | null };
  const rows = await prisma.$queryRaw<(Row & NodeCols)[]>`
    WITH job AS (
      INSERT INTO "Job" ("id", "type", "durationSec", "params", "incidentId", "scheduleId", "startAt", "createdAt")
      VALUES (gen_random_uuid(), ${data.type}::"JobType", ${data.durationSec}::int, ${paramsJson}::jsonb,
        ${data.incidentId ?? null}::uuid, ${data.scheduleId ?? null}::uuid, ${data.startAt?.toISOString() ?? null}::timestamp(3),
        ${createdAt.toISOString()}::timestamp(3))
      RETURNING "id"),
    runs AS (
      INSERT INTO "JobRun" ("id", "jobId", "nodeId", "status", "sessionId")
      SELECT gen_random_uuid(), job."id", n."id",
        CASE WHEN s.sid IS NULL THEN 'pending'::"RunStatus" ELSE 'dispatched'::"RunStatus" END, s.sid
      FROM job CROSS JOIN "Node" n
      LEFT JOIN unnest(${[...sessions.keys()]}::text[], ${[...sessions.values()]}::uuid[]) AS s(name, sid) ON s.name = n."name"
      WHERE n."name" = ANY(${runNodes}::text[])
      RETURNING "id", "nodeId", "sessionId")
    SELECT job."id"::text AS "jobId", r."id"::text AS "runId", n."name", r."sessionId"::text AS "sessionId",
      p."nodeId", p."status", p."lastSeenAt", p."replicaId", p."nodeSessionId"
    FROM job LEFT JOIN runs r ON true LEFT JOIN "Node" n ON n."id" = r."nodeId"
    -- The registry columns only for pending runs (those bound to a session here need none): fewer values to parse.
    LEFT JOIN LATERAL (SELECT n."id"::text AS "nodeId", n."status"::text AS "status", n."lastSeenAt", n."replicaId",
      n."sessionId"::text AS "nodeSessionId" WHERE r."sessionId" IS NULL) p ON true`;
  const job: Job = {
    id: rows[0].jobId,
    type: data.type,
    status: 'queued',
    params,
    durationSec: data.durationSec,
    reason: null,
    stoppedBy: null,
    createdAt,
    startedAt: null,
    finishedAt: null,
    incidentId: data.incidentId ?? null,
    scheduleId: data.scheduleId ?? null,
    startAt: data.startAt ?? null,
  };
  const stored: StoredJob = { job, claimed: [], pending: [] };
  for (const r of rows) {
    if (r.runId === null || r.name === null) continue;
    if (r.sessionId !== null) stored.claimed.push({ id: r.runId, name: r.name, sessionId: r.sessionId });
    else {
      const node: RouteRow = { id: r.nodeId, name: r.name, status: r.status, lastSeenAt: r.lastSeenAt, replicaId: r.replicaId, sessionId: r.nodeSessionId };
      stored.pending.push({ id: r.runId, name: r.name, node });
    }
  }
  return stored;
}
