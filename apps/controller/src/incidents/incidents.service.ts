import { Injectable, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import type { Scope } from '../auth/scopes';
import { PrismaService } from '../prisma/prisma.service';
import { JobsService, type JobPlan } from '../jobs/jobs.service';
import { parseNodeSelector } from '../nodes/selector';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { inTemplate } from './bundle';
import type { IncidentRead } from './incident-reader';
import { toIncidentView, type IncidentView } from './incident.view';
import { UUID_RE } from '../common/ids';
import type { Job } from '../generated/prisma/client';
import { runsWithNodes, type JobWithRuns } from '../jobs/job-runs.read';


export interface NewIncident {
  name?: string;
  /** The selector as given: "all" or { names, labels }. */
  nodes: unknown;
  /** Validated templates (parseTemplates), in bundle order. */
  templates: CreateJobDto[];
  leadMs: number;
  scheduleId?: string;
}

/** What one profile output of an incident reads: its jobs of one type (incident-reader.ts reads their samples). */
export interface IncidentProfile extends IncidentRead {
  id: string;
  name: string | null;
}

/**
 * Incidents: a bundle of jobs created together with one start time, so every run on every selected
 * node attaches within the same moment. Its merged profile, with a per-node breakdown, is served by
 * incident-outputs.service.ts from the jobs `profileJobs` picks.
 */
@Injectable()
export class IncidentsService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly jobs: JobsService,
  ) {}

  /**
   * Plans every template on the selector, storing nothing: all-or-nothing, so a bad template, a
   * missing scope or a type no selected node can run refuses the whole incident, naming the template.
   */
  async plan(nodes: unknown, templates: CreateJobDto[], scopes: readonly Scope[], field = 'bundle'): Promise<JobPlan[]> {
    parseNodeSelector(nodes);
    const plans: JobPlan[] = [];
    for (let i = 0; i < templates.length; i++) {
      const dto = Object.assign(templates[i], { nodes });
      try {
        plans.push(await this.jobs.plan(dto, scopes));
      } catch (err) {
        throw inTemplate(err, field, i, dto.type);
      }
    }
    return plans;
  }

  async create(input: NewIncident, scopes: readonly Scope[]): Promise<IncidentView> {
    const plans = await this.plan(input.nodes, input.templates, scopes);
    // Taken after planning (which may wait on agents for a pid check), so the lead covers only dispatch.
    const startAt = new Date(Date.now() + input.leadMs);
    const bundle = input.templates.map((t) => {
      const { nodes: _nodes, ...rest } = t;
      return JSON.parse(JSON.stringify(rest)) as object;
    });
    const inc = await this.prisma.incident.create({
      data: { name: input.name, nodes: input.nodes as object, bundle, startAt, scheduleId: input.scheduleId },
    });
    for (const p of plans) await this.jobs.insert(p, { incidentId: inc.id, scheduleId: input.scheduleId, startAt });
    return this.get(inc.id);
  }

  async get(id: string): Promise<IncidentView> {
    return toIncidentView(await this.row(id));
  }

  async list(limit = 20, before?: string): Promise<{ incidents: IncidentView[]; nextCursor: string | null }> {
    let cursor: { createdAt: Date; id: string } | undefined;
    if (before !== undefined) {
      const b = UUID_RE.test(before) ? await this.prisma.incident.findUnique({ where: { id: before }, select: { createdAt: true, id: true } }) : null;
      if (!b) throw new NotFoundException(`before: incident ${before} not found`);
      cursor = b;
    }
    const rows = await this.withRuns(
      await this.prisma.incident.findMany({
        where: cursor ? { OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }] } : {},
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit,
        include: { jobs: true },
      }),
    );
    return { incidents: rows.map(toIncidentView), nextCursor: rows.length === limit ? rows[rows.length - 1].id : null };
  }

  /**
   * The jobs of one type whose samples an incident's profile reads (its cpu-profile jobs by default; a
   * schedule's reports also take off-cpu's, whose counts are µs): all of them, or `job`; checked before
   * anything is read. Unknown incident, job or node → 404; no job of the type → 422.
   */
  async profileJobs(id: string, q: { node?: string; job?: string } = {}, type: 'cpu_profile' | 'off_cpu' = 'cpu_profile'): Promise<IncidentProfile> {
    const inc = await this.row(id);
    let jobs = inc.jobs.filter((j) => j.type === type);
    if (jobs.length === 0) throw new UnprocessableEntityException(`incident ${id} has no cpu-profile job: flame graphs are for cpu-profile jobs`);
    if (q.job !== undefined) {
      jobs = jobs.filter((j) => j.id === q.job);
      if (jobs.length === 0) throw new NotFoundException(`incident ${id} has no cpu-profile job ${q.job}`);
    }
    if (q.node !== undefined) {
      jobs = jobs.filter((j) => j.runs.some((r) => r.node.name === q.node));
      if (jobs.length === 0) throw new NotFoundException(`incident ${id} has no cpu-profile run on node ${q.node}`);
    }
    return { id: inc.id, name: inc.name, jobIds: jobs.map((j) => j.id), node: q.node };
  }

  private async row(id: string) {
    if (!UUID_RE.test(id)) throw new NotFoundException(`incident ${id} not found`);
    const inc = await this.prisma.incident.findUnique({ where: { id }, include: { jobs: true } });
    if (!inc) throw new NotFoundException(`incident ${id} not found`);
    return (await this.withRuns([inc]))[0];
  }

  /** Incidents with their jobs' runs and node names, read in one lean query (jobs/job-runs.read.ts). */
  private async withRuns<I extends { jobs: Job[] }>(incidents: I[]): Promise<(Omit<I, 'jobs'> & { jobs: JobWithRuns[] })[]> {
    const runs = await runsWithNodes(this.prisma, incidents.flatMap((i) => i.jobs.map((j) => j.id)));
    return incidents.map((i) => ({ ...i, jobs: i.jobs.map((j) => ({ ...j, runs: runs.get(j.id) ?? [] })) }));
  }
}
