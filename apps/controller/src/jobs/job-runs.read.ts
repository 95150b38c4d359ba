import type { Job, JobRun } from '../generated/prisma/client';
import type { PrismaService } from '../prisma/prisma.service';

export type RunWithNode = JobRun & { node: { name: string } };
export type JobWithRuns = Job & { runs: RunWithNode[] };

/**
 * The runs of these jobs with their nodes' names, by job id, in one read. Written as SQL rather than the
 * ORM's nested include (runs, then their nodes by id) because views of jobs over a fleet are read often
 * (every GET /jobs/:id, the console's and the CLI's progress, incidents): for a job of 2,000 runs the
 * include took 90-130 ms of this replica's CPU per view, this read 40 ms (same view; a scratch database).
 * Columns keep the ORM's field names (job-runs.read.db.spec.ts checks every field against it).
 */
export async function runsWithNodes(prisma: PrismaService, jobIds: string[]): Promise<Map<string, RunWithNode[]>> {
  const byJob = new Map<string, RunWithNode[]>(jobIds.map((id) => [id, []]));
  if (jobIds.length === 0) return byJob;
  // Fields renamed in the schema (@map) are named back here: eventsRefused is the column sslEventsRefused.
  const rows = await prisma.$queryRaw<(JobRun & { sslEventsRefused?: bigint; nodeName: string })[]>`
    SELECT r.*, r."sslEventsRefused" AS "eventsRefused", n."name" AS "nodeName"
    FROM "JobRun" r JOIN "Node" n ON n."id" = r."nodeId"
    WHERE r."jobId" = ANY(${jobIds}::uuid[])`;
  for (const { sslEventsRefused: _column, nodeName, ...run } of rows) byJob.get(run.jobId)?.push({ ...run, node: { name: nodeName } });
  return byJob;
}

/** One job and its runs (runsWithNodes); null when there is no such job. */
export async function jobWithRuns(prisma: PrismaService, id: string): Promise<JobWithRuns | null> {
  const job = await prisma.job.findUnique({ where: { id } });
  if (!job) return null;
  return { ...job, runs: (await runsWithNodes(prisma, [id])).get(id) ?? [] };
}
