import { Injectable, NotFoundException } from '@nestjs/common';
import { PrismaService } from '../prisma/prisma.service';
import type { Prisma } from '../generated/prisma/client';
import { RunStatus, type JobStatus, type JobType } from '../generated/prisma/enums';
import { dbJobType, jobTypeDef } from '../job-types/registry';
import { iso } from './job.view';
import { LIST_JOBS_DEFAULT_LIMIT, type ListJobsQueryDto } from './dto/list-jobs.dto';

/**
 * One job in GET /jobs: what finds it again, never its params (ssl-capture's redactPatterns are for
 * the capture scope only; GET /jobs/:id decides that).
 */
export interface JobSummary {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationSec: number;
  incidentId: string | null;
  scheduleId: string | null;
  /** The nodes it has runs on, by name. */
  nodes: string[];
  runs: Record<RunStatus, number>;
  links: { self: string };
}

export interface JobList {
  jobs: JobSummary[];
  /** Pass as `before` for older jobs; null on the last page. */
  nextCursor: string | null;
}

const SUMMARY_SELECT = {
  id: true,
  type: true,
  status: true,
  reason: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
  durationSec: true,
  incidentId: true,
  scheduleId: true,
  runs: { select: { status: true, node: { select: { name: true } } } },
} satisfies Prisma.JobSelect;

type SummaryRow = Prisma.JobGetPayload<{ select: typeof SUMMARY_SELECT }>;

export function toJobSummary(job: SummaryRow): JobSummary {
  const runs = Object.fromEntries(Object.values(RunStatus).map((s) => [s, 0])) as Record<RunStatus, number>;
  for (const r of job.runs) runs[r.status]++;
  return {
    id: job.id,
    type: jobTypeDef(job.type)?.name ?? job.type,
    status: job.status,
    reason: job.reason,
    createdAt: job.createdAt.toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    durationSec: job.durationSec,
    incidentId: job.incidentId,
    scheduleId: job.scheduleId,
    nodes: [...new Set(job.runs.map((r) => r.node.name))].sort((a, b) => a.localeCompare(b)),
    runs,
    links: { self: `/api/v1/jobs/${job.id}` },
  };
}

/** GET /jobs: jobs by filters, newest first, in pages keyed by (createdAt, id) so equal times neither skip nor repeat. */
@Injectable()
export class JobsListService {
  constructor(private readonly prisma: PrismaService) {}

  async list(q: ListJobsQueryDto): Promise<JobList> {
    const limit = q.limit ?? LIST_JOBS_DEFAULT_LIMIT;
    const and: Prisma.JobWhereInput[] = [];
    if (q.status !== undefined) and.push({ status: q.status as JobStatus });
    if (q.type !== undefined) and.push({ type: dbJobType(q.type) as JobType });
    if (q.node !== undefined) and.push({ runs: { some: { node: { name: q.node } } } });
    if (q.incident !== undefined) and.push({ incidentId: q.incident });
    if (q.schedule !== undefined) and.push({ scheduleId: q.schedule });
    if (q.createdAfter !== undefined) and.push({ createdAt: { gt: q.createdAfter } });
    if (q.createdBefore !== undefined) and.push({ createdAt: { lt: q.createdBefore } });
    if (q.before !== undefined) {
      const b = await this.prisma.job.findUnique({ where: { id: q.before }, select: { createdAt: true, id: true } });
      // Retention may have deleted it since the previous page; its time cannot be guessed.
      if (!b) throw new NotFoundException(`before: job ${q.before} not found (pass the nextCursor of a previous page)`);
      and.push({ OR: [{ createdAt: { lt: b.createdAt } }, { createdAt: b.createdAt, id: { lt: b.id } }] });
    }
    // One more than the page tells whether an older page exists, so a full last page gets no cursor.
    const rows = await this.prisma.job.findMany({
      where: { AND: and },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit + 1,
      select: SUMMARY_SELECT,
    });
    const page = rows.slice(0, limit);
    return { jobs: page.map(toJobSummary), nextCursor: rows.length > limit ? page[page.length - 1].id : null };
  }
}
