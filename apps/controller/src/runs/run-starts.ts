import { Logger } from '@nestjs/common';
import type { PrismaService } from '../prisma/prisma.service';
import { UUID_RE } from '../common/ids';
import { GatedWrites } from './gated-writes';
import { isOwnActiveRun } from './own-run';

/** One agent's RunStarted: its run goes `running` at `at`, and the run's job too if it was still queued. */
export interface RunStart {
  nodeId: string;
  runId: string;
  at: Date;
}

/** Starts one statement writes at most. */
const MAX_STARTS_PER_WRITE = 500;

/**
 * RunStarted of many runs written together. A job's runs start within a second of each other on every
 * node (an incident's at the same instant), and each start cost three statements (the run's row read,
 * its update, the job's): 6,000 for a job over 2,000 nodes, holding storage slots and the replica's CPU
 * while the next job dispatched. Here the starts that wait for a storage slot go in one statement.
 * A start is applied only to the reporting node's own active run, as every agent message is.
 */
export class RunStarts {
  private readonly log = new Logger('RunStarts');
  private readonly writes: GatedWrites<RunStart>;

  constructor(private readonly prisma: PrismaService) {
    this.writes = new GatedWrites<RunStart>(prisma.storeGate, MAX_STARTS_PER_WRITE, (starts) => this.writeMany(starts));
  }

  /** Applies `s` with the other starts waiting; rejects with the statement's error (the caller's retry rules apply). */
  start(s: RunStart): Promise<void> {
    if (!UUID_RE.test(s.runId)) {
      isOwnActiveRun(this.log, s.nodeId, s.runId, undefined); // no such run: says so
      return Promise.resolve();
    }
    return this.writes.write(s);
  }

  private async writeMany(starts: RunStart[]): Promise<void> {
    // Times as UTC text into timestamp(3) columns, as the ORM writes them (the session time zone plays no part).
    const rows = await this.prisma.$queryRaw<{ id: string; nodeId: string; status: string }[]>`
      WITH t AS (
        SELECT * FROM unnest(${starts.map((s) => s.runId)}::uuid[], ${starts.map((s) => s.nodeId)}::uuid[],
          ${starts.map((s) => s.at.toISOString())}::timestamp(3)[]) AS t(id, node, at)
      ), own AS (
        SELECT j."id", j."jobId", j."nodeId", j."status", t.at FROM "JobRun" j JOIN t ON j."id" = t.id AND j."nodeId" = t.node
      ), r AS (
        UPDATE "JobRun" j SET "status" = 'running', "startedAt" = own.at FROM own
        WHERE j."id" = own."id" AND j."status" IN ('pending', 'dispatched')
        RETURNING j."jobId", own.at
      ), jobs AS (
        UPDATE "Job" b SET "status" = 'running', "startedAt" = f.at
        FROM (SELECT "jobId", min(at) AS at FROM r GROUP BY "jobId") f
        WHERE b."id" = f."jobId" AND b."status" = 'queued'
      )
      SELECT "id"::text AS "id", "nodeId"::text AS "nodeId", "status"::text AS "status" FROM own`;
    // Only the reporting nodes' own runs are read (a run is in at most one waiting start): the rest are not theirs.
    const own = new Map(rows.map((r) => [r.id, r]));
    for (const s of starts) isOwnActiveRun(this.log, s.nodeId, s.runId, own.get(s.runId.toLowerCase()));
  }
}
