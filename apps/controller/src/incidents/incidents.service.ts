import { Injectable, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import type { Scope } from '../auth/scopes';
import { PrismaService } from '../prisma/prisma.service';
import { ProfilesService } from '../profiles/profiles.service';
import { renderFlameGraphSvg, toFolded } from '../profiles/flamegraph/flamegraph';
import { JobsService, type JobPlan } from '../jobs/jobs.service';
import { parseNodeSelector } from '../nodes/selector';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { functionCounts, topFunctions, type FunctionCount } from '../profiles/top-functions';
import { inTemplate } from './bundle';
import { mergedOf, nodeBreakdown, totalsByNode, type NodeStacks } from './node-breakdown';
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

/** One cpu-profile outcome of an incident: stacks per node over its cpu-profile jobs. */
export interface IncidentProfile {
  id: string;
  name: string | null;
  jobIds: string[];
  perNode: NodeStacks[];
}

export type FunctionRow = FunctionCount & { byNode: Record<string, { self: number; total: number }> };

/**
 * Incidents: a bundle of jobs created together with one start time, so every run on every selected
 * node attaches within the same moment; results merged across nodes with a per-node breakdown.
 */
@Injectable()
export class IncidentsService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly jobs: JobsService,
    private readonly profiles: ProfilesService,
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
   * The incident's cpu-profile samples per node (all its cpu-profile jobs, or `job`; all nodes, or
   * `node`). Unknown incident, job or node → 404; no cpu-profile job → 422.
   */
  /** The stacks of its jobs of one type (cpu-profile by default; a schedule's reports also take off-cpu's, whose counts are µs). */
  async profile(id: string, q: { node?: string; job?: string } = {}, type: 'cpu_profile' | 'off_cpu' = 'cpu_profile'): Promise<IncidentProfile> {
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
    const byNode = new Map<string, NodeStacks>();
    for (const j of jobs) {
      for (const n of await this.profiles.stacksByNode(j.id, q.node)) {
        const e = byNode.get(n.node);
        if (e) e.stacks.push(...n.stacks);
        else byNode.set(n.node, { node: n.node, stacks: [...n.stacks] });
      }
    }
    const perNode = [...byNode.values()].sort((a, b) => a.node.localeCompare(b.node));
    return { id: inc.id, name: inc.name, jobIds: jobs.map((j) => j.id), perNode };
  }

  async flamegraphSvg(id: string, q: { node?: string; job?: string }): Promise<string> {
    const p = await this.profile(id, q);
    const b = nodeBreakdown(p.perNode);
    const perNode = Object.entries(b.nodeTotals)
      .map(([n, c]) => `${n} ${c.toLocaleString('en-US')}`)
      .join(', ');
    return renderFlameGraphSvg(b.merged, {
      title: `CPU profile · incident ${p.id.slice(0, 8)}${p.name ? ` (${p.name})` : ''}`,
      subtitle: `${q.node ?? `${p.perNode.length} node(s) merged`} · ${b.total.toLocaleString('en-US')} samples${perNode ? ` = ${perNode}` : ''} · hover a frame for its count on each node`,
      frameStyle: b.frameStyle,
    });
  }

  async flamegraphFolded(id: string, q: { node?: string; job?: string }): Promise<string> {
    const p = await this.profile(id, q);
    return toFolded(mergedOf(p.perNode));
  }

  /** Top functions merged over nodes, each with its self and total samples on every node. */
  async functions(id: string, q: { node?: string; job?: string; limit?: number }): Promise<{ totalSamples: number; nodeTotals: Record<string, number>; bySelf: FunctionRow[]; byTotal: FunctionRow[] }> {
    const p = await this.profile(id, q);
    const top = topFunctions(mergedOf(p.perNode), q.limit ?? 20);
    // Each node's counts of the listed functions only: of every function, at thousands of nodes, they were millions.
    const listed = new Set([...top.bySelf, ...top.byTotal].map((f) => f.name));
    const perNode = p.perNode.map((n) => ({ node: n.node, counts: functionCounts(n.stacks, listed).counts }));
    const withNodes = (f: FunctionCount): FunctionRow => ({
      ...f,
      byNode: Object.fromEntries(perNode.map((n) => [n.node, n.counts.get(f.name) ?? { self: 0, total: 0 }])),
    });
    return {
      totalSamples: top.totalSamples,
      nodeTotals: Object.fromEntries(Object.entries(totalsByNode(p.perNode)).map(([n, c]) => [n, Number(c)])),
      bySelf: top.bySelf.map(withNodes),
      byTotal: top.byTotal.map(withNodes),
    };
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
