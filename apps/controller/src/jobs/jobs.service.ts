import {
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  ForbiddenException,
  UnprocessableEntityException,
  type OnModuleInit,
} from '@nestjs/common';
import type { Target } from '@tracefleet/proto';
import { ENV, type ControllerEnv } from '../config/env';
import type { Scope } from '../auth/scopes';
import { PrismaService } from '../prisma/prisma.service';
import { AgentGateway } from '../agents/agent.gateway';
import { JobQueue } from '../queue/job-queue';
import { RunsService } from '../runs/runs.service';
import type { CreateJobDto, TargetDto } from './dto/create-job.dto';
import { matchesSelector, parseNodeSelector, type NodeSelector } from './selector';
import { toJobView, type JobView } from './job.view';
import { badField, runSpec, typeParams } from './job-spec';

const DB_JOB_TYPE = { 'cpu-profile': 'cpu_profile', usdt: 'usdt', memleak: 'memleak', 'ssl-capture': 'ssl_capture' } as const;

/** Time allowed between POST and the agent starting, counted into the run deadline. */
const DISPATCH_ALLOWANCE_SEC = 10;

@Injectable()
export class JobsService implements OnModuleInit {
  private readonly log = new Logger(JobsService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly agents: AgentGateway,
    private readonly queue: JobQueue,
    private readonly runs: RunsService,
  ) {}

  onModuleInit(): void {
    this.queue.handle('dispatch', ({ jobId }) => this.dispatch(jobId));
    this.queue.handle('deadline', ({ jobId }) => this.deadline(jobId));
  }

  async create(dto: CreateJobDto, scopes: readonly Scope[]): Promise<JobView> {
    // The guard already refuses ssl-capture without the scope; this keeps the rule next to the data it
    // protects. It also covers `redaction: false`, which only ssl-capture jobs accept.
    if (dto.type === 'ssl-capture' && !scopes.includes('ssl-capture')) {
      throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: ['ssl-capture jobs need the ssl-capture scope (TRACEFLEET_CAPTURE_TOKEN)'] });
    }
    if (dto.durationSec > this.env.maxDurationSec) badField('durationSec', `must not be greater than ${this.env.maxDurationSec}`);
    const target = toTarget(dto.target);
    const selector = parseNodeSelector(dto.nodes);
    const specific = typeParams(dto);

    const { selected, skipped } = this.select(selector, dto.type);
    if (selected.length === 0) {
      throw new UnprocessableEntityException({
        statusCode: 422,
        error: 'Unprocessable Entity',
        message: [`nodes: no connected node matches the selector${skipped.length ? ` (${skipped.map((s) => `${s.node}: ${s.reason}`).join('; ')})` : ''}`],
      });
    }

    let runNodes = selected;
    if (target.kind?.$case === 'pid') {
      const answers = await this.agents.checkTarget(selected, target);
      runNodes = selected.filter((n) => answers.get(n)?.found);
      for (const n of selected) {
        if (!answers.get(n)?.found) skipped.push({ node: n, reason: answers.get(n)?.detail ?? 'did not answer the target check' });
      }
      if (runNodes.length === 0) {
        badField('target.pid', `process ${target.kind.value} does not exist on any selected node (${selected.join(', ')})`);
      }
    }

    const nodeRows = await this.prisma.node.findMany({ where: { name: { in: runNodes } }, select: { id: true } });
    const job = await this.prisma.job.create({
      data: {
        type: DB_JOB_TYPE[dto.type],
        durationSec: dto.durationSec,
        params: {
          type: dto.type,
          durationSec: dto.durationSec,
          ...(specific as object),
          target: dto.target as object,
          nodes: (selector.all ? 'all' : { names: selector.names, labels: selector.labels }) as object,
          selected: runNodes,
          skipped,
        },
        runs: { create: nodeRows.map((n) => ({ nodeId: n.id })) },
      },
    });
    await this.queue.enqueue({ name: 'dispatch', data: { jobId: job.id } }, { jobId: `dispatch-${job.id}` });
    await this.queue.enqueue(
      { name: 'deadline', data: { jobId: job.id } },
      { jobId: `deadline-${job.id}`, delayMs: (dto.durationSec + DISPATCH_ALLOWANCE_SEC + this.env.resultGraceSec) * 1000 },
    );
    return this.get(job.id);
  }

  async get(id: string): Promise<JobView> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new NotFoundException(`job ${id} not found`);
    const job = await this.prisma.job.findUnique({
      where: { id },
      include: { runs: { include: { node: { select: { name: true } } } } },
    });
    if (!job) throw new NotFoundException(`job ${id} not found`);
    return toJobView(job);
  }

  /** Sends StartRun to each pending run's node; a node that is gone fails its run at once. */
  async dispatch(jobId: string): Promise<void> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, include: { runs: { include: { node: true } } } });
    if (!job) return;
    const params = job.params as unknown as Record<string, unknown> & { target: TargetDto };
    for (const run of job.runs.filter((r) => r.status === 'pending')) {
      const sent = this.agents.send(run.node.name, {
        msg: {
          $case: 'startRun',
          value: {
            jobId,
            runId: run.id,
            durationSec: job.durationSec,
            target: toTarget(params.target),
            spec: runSpec(job.type, params),
          },
        },
      });
      if (sent) {
        await this.prisma.jobRun.updateMany({ where: { id: run.id, status: 'pending' }, data: { status: 'dispatched' } });
      } else {
        await this.runs.failRun(run.id, `node ${run.node.name} was not connected when the job was dispatched`);
      }
    }
    await this.runs.finalizeJob(jobId);
  }

  /** Past duration + grace, runs that never reported fail and their agents are told to stop. */
  async deadline(jobId: string): Promise<void> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { durationSec: true } });
    if (!job) return;
    const waited = job.durationSec + DISPATCH_ALLOWANCE_SEC + this.env.resultGraceSec;
    const expired = await this.runs.expireJob(jobId, `no result from the node within ${waited} s`);
    if (expired.length === 0) return;
    const runs = await this.prisma.jobRun.findMany({ where: { id: { in: expired } }, include: { node: true } });
    for (const r of runs) this.agents.send(r.node.name, { msg: { $case: 'stopRun', value: { runId: r.id, reason: 'deadline passed' } } });
    this.log.warn(`job ${jobId}: ${expired.length} run(s) expired`);
  }

  private select(selector: NodeSelector, type: string): { selected: string[]; skipped: { node: string; reason: string }[] } {
    const selected: string[] = [];
    const skipped: { node: string; reason: string }[] = [];
    for (const name of this.agents.connectedNodeNames()) {
      const s = this.agents.session(name)!;
      if (!matchesSelector(selector, { name, labels: s.facts.labels })) continue;
      if (!s.facts.capabilities.includes(type)) {
        skipped.push({ node: name, reason: `cannot run ${type} (capabilities: ${s.facts.capabilities.join(', ') || 'none'})` });
        continue;
      }
      selected.push(name);
    }
    if (!selector.all && selector.names) {
      for (const n of selector.names) if (!this.agents.isConnected(n)) skipped.push({ node: n, reason: 'not connected' });
    }
    return { selected, skipped };
  }
}

/** Exactly one of pid, comm or all. */
export function toTarget(t: TargetDto): Target {
  const given = (['pid', 'comm', 'all'] as const).filter((k) => t[k] !== undefined);
  if (given.length !== 1) badField('target', 'must have exactly one of pid, comm or all');
  if (t.pid !== undefined) return { kind: { $case: 'pid', value: t.pid } };
  if (t.comm !== undefined) return { kind: { $case: 'comm', value: t.comm } };
  return { kind: { $case: 'all', value: true } };
}
