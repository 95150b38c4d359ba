import {
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  Optional,
  ForbiddenException,
  UnprocessableEntityException,
  type OnModuleInit,
} from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import type { Scope } from '../auth/scopes';
import { PrismaService } from '../prisma/prisma.service';
import { AgentRouter } from '../agents/agent-router';
import { NodeSelection, noMatchReason, type SkippedNode } from '../nodes/selection';
import { JobQueue } from '../queue/job-queue';
import { RunsService } from '../runs/runs.service';
import type { CreateJobDto } from './dto/create-job.dto';
import { parseNodeSelector, type NodeSelector } from '../nodes/selector';
import { toJobView, type JobView } from './job.view';
import { jobWithRuns } from './job-runs.read';
import { insertJob, type StoredJob } from './job-insert';
import { typeParams } from './job-spec';
import { badField } from '../common/bad-field';
import { toTarget } from '../agents/start-run';
import { DISPATCH_ALLOWANCE_SEC, jobTasks } from './job-tasks';
import { awayRunIds } from './away-runs';
import { dbJobType, jobTypeDef } from '../job-types/registry';
import { ACTIVE_RUN, TERMINAL_JOB } from '../common/run-status';
import { UUID_RE } from '../common/ids';
import type { JobType } from '../generated/prisma/enums';
import type { Job } from '../generated/prisma/client';
import { orAfter } from '../common/or-after';
import { ControllerMetrics } from '../metrics/controller-metrics';

export { toTarget };


/** How long POST waits for Redis to take a job's tasks before it answers anyway (the job is stored). */
const QUEUE_WAIT_MS = 2000;
/** The queued dispatch of a new job waits this long: the replica that stored the job dispatches it at once. */
const DISPATCH_BACKSTOP_MS = 5000;
/** How long POST /jobs waits for this replica's own StartRuns before it reads the job's view. */
const DISPATCH_VIEW_WAIT_MS = 2000;
/** Skipped nodes stored with a job past this many are counted, not listed (a fleet may hold many gone nodes). */
const MAX_SKIPPED_STORED = 200;

/** A job this replica has just stored: its pending runs, and those stored bound to this replica's sessions (`claimed`). */
type Fresh = { job: Job; runs: StoredJob['pending']; claimed?: StoredJob['claimed']; storedAt?: number };

/** What ties a job to an incident or a schedule tick (incidents/, schedules/). */
export interface JobLink {
  incidentId?: string;
  scheduleId?: string;
  /** The agents attach at this time (StartRun.start_at_unix_ms); absent = at once. */
  startAt?: Date;
}

/** A validated job request with its nodes picked: what `insert` stores. */
export interface JobPlan {
  dto: CreateJobDto;
  selector: NodeSelector;
  specific: ReturnType<typeof typeParams>;
  runNodes: string[];
  skipped: SkippedNode[];
}

@Injectable()
export class JobsService implements OnModuleInit {
  private readonly log = new Logger(JobsService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly router: AgentRouter,
    private readonly selection: NodeSelection,
    private readonly queue: JobQueue,
    private readonly runs: RunsService,
    @Optional() private readonly metrics?: ControllerMetrics,
  ) {}

  /** One step of a new job took from `since` (performance.now()) until now: dispatch_step_duration_seconds. */
  private stepDone(step: 'plan' | 'store' | 'send' | 'flush' | 'forward' | 'answer', since: number): number {
    const at = performance.now();
    this.metrics?.dispatchStepSeconds.observe({ step }, (at - since) / 1000);
    return at;
  }

  onModuleInit(): void {
    // Commands come first: while one runs, result storage narrows to one slot (StoreGate.foreground).
    this.queue.handle('dispatch', ({ jobId }) => this.prisma.storeGate.foreground(() => this.dispatch(jobId)));
    this.queue.handle('deadline', ({ jobId }) => this.deadline(jobId));
  }

  async create(dto: CreateJobDto, scopes: readonly Scope[], link: JobLink = {}): Promise<JobView> {
    const t0 = performance.now();
    return this.prisma.storeGate.foreground(async () => {
      const plan = await this.plan(dto, scopes);
      this.stepDone('plan', t0);
      return this.insert(plan, link);
    });
  }

  /**
   * Validates a job request and picks its nodes (checking a pid target on them), storing nothing:
   * an incident plans every job of its bundle before it creates any.
   */
  async plan(dto: CreateJobDto, scopes: readonly Scope[]): Promise<JobPlan> {
    // The guard already refuses ssl-capture without the scope; this keeps the rule next to the data it
    // protects. It also covers `redaction: false`, which only ssl-capture jobs accept.
    const scope = jobTypeDef(dto.type)?.scope;
    if (scope && !scopes.includes(scope)) {
      throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: [`${dto.type} jobs need the ${scope} scope (TRACEFLEET_CAPTURE_TOKEN)`] });
    }
    if (dto.durationSec > this.env.maxDurationSec) badField('durationSec', `must not be greater than ${this.env.maxDurationSec}`);
    const target = toTarget(dto.target);
    const selector = parseNodeSelector(dto.nodes);
    const specific = typeParams(dto);

    // What the nodes must have registered: the type, or one of its features older agents would ignore.
    const capability = jobTypeDef(dto.type)?.capability?.(specific as Record<string, unknown>) ?? dto.type;
    const picked = await this.selection.selectNodes(selector, capability, { type: dto.type, durationSec: dto.durationSec, params: specific as Record<string, unknown> });
    const { selected, skipped } = picked;
    if (selected.length === 0) {
      throw new UnprocessableEntityException({
        statusCode: 422,
        error: 'Unprocessable Entity',
        message: [`nodes: ${noMatchReason(selector, picked, capability)}`],
        skipped: skipped.slice(0, MAX_SKIPPED_STORED),
      });
    }

    let runNodes = selected;
    // A pid, container or cgroup names something on a node: nodes without it are skipped (with the agent's reason).
    const kind = target.kind;
    if (kind?.$case === 'pid' || kind?.$case === 'container' || kind?.$case === 'cgroup') {
      const answers = await this.router.checkTarget(selected, target);
      runNodes = selected.filter((n) => answers.get(n)?.found);
      for (const n of selected) {
        if (!answers.get(n)?.found) skipped.push({ node: n, code: 'target', reason: answers.get(n)?.detail ?? 'did not answer the target check' });
      }
      if (runNodes.length === 0) {
        const what = kind.$case === 'pid' ? `process ${kind.value} does not exist` : `${kind.$case} ${kind.value} was not found`;
        const reasons = selected.map((n) => `${n}: ${answers.get(n)?.detail ?? 'did not answer'}`);
        badField(`target.${kind.$case}`, `${what} on any selected node (${reasons.slice(0, 5).join('; ')}${reasons.length > 5 ? '; ...' : ''})`);
      }
    }

    return { dto, selector, specific, runNodes, skipped };
  }

  /** Stores a planned job with one run per node, and queues its dispatch and deadline (commands first: StoreGate.foreground). */
  insert(plan: JobPlan, link: JobLink = {}): Promise<JobView> {
    return this.prisma.storeGate.foreground(() => this.insertNow(plan, link));
  }

  private async insertNow(plan: JobPlan, link: JobLink): Promise<JobView> {
    const { dto, selector, specific, runNodes, skipped } = plan;
    const t0 = performance.now();
    // The job and one run per node in one statement (job-insert.ts); runs whose node has a session on this
    // replica are stored bound to it, ready for their StartRun.
    const { job, claimed, pending } = await insertJob(
      this.prisma,
      {
        incidentId: link.incidentId,
        scheduleId: link.scheduleId,
        startAt: link.startAt,
        type: dbJobType(dto.type) as JobType,
        durationSec: dto.durationSec,
        params: {
          type: dto.type,
          durationSec: dto.durationSec,
          ...(specific as object),
          target: dto.target as object,
          nodes: storedSelector(selector) as object,
          selected: runNodes,
          skipped: skipped.slice(0, MAX_SKIPPED_STORED).map(({ node, reason, code }) => ({ node, reason, code })),
          ...(skipped.length > MAX_SKIPPED_STORED ? { skippedNotListed: skipped.length - MAX_SKIPPED_STORED } : {}),
        },
      },
      runNodes,
      this.router.sessionsHere(runNodes),
    );
    // Dispatched from here at once; the queued dispatch is the backstop, for a replica that dies first (it
    // finds no pending run otherwise, and a run is started once anyway: startHere claims it). While Redis is
    // unreachable the job is stored, answered and dispatched all the same; its tasks go to Redis when it is
    // back (the client's queued command), or the reconciler queues them from the Job row (schedules/reconcile.service.ts).
    const stored = this.stepDone('store', t0);
    const started = this.dispatchSoon(job.id, { job, runs: pending, claimed, storedAt: stored });
    const { dispatch, deadline } = jobTasks(job, this.env.resultGraceSec, Date.now());
    const backstop = { ...dispatch.opts, delayMs: DISPATCH_BACKSTOP_MS };
    const queued = Promise.all([this.queue.enqueue(dispatch.task, backstop), this.queue.enqueue(deadline.task, deadline.opts)]);
    const failed = queued.then(
      () => undefined,
      (err: Error) => err.message,
    );
    // The answer's view (every run: ~40-50 ms of this replica's CPU at 2,000 runs, job-runs.read.ts) waits for this
    // replica's StartRuns to be written, so that they are not held behind it; no longer than DISPATCH_VIEW_WAIT_MS.
    // Waiting until they had also gone to the agents' connections (the dispatch step `flush`) showed no gain (BENCHMARKS.md, fleet).
    const sent = orAfter(started, DISPATCH_VIEW_WAIT_MS, () => undefined);
    const outcome = await orAfter(failed, QUEUE_WAIT_MS, () => `Redis did not take it within ${QUEUE_WAIT_MS} ms`);
    if (outcome !== undefined) this.log.warn(`job ${job.id}: its dispatch is not queued yet (${outcome}); it is dispatched once Redis is back`);
    await sent;
    const viewFrom = performance.now();
    const view = await this.get(job.id);
    this.stepDone('answer', viewFrom);
    return view;
  }

  async get(id: string): Promise<JobView> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new NotFoundException(`job ${id} not found`);
    const job = await jobWithRuns(this.prisma, id);
    if (!job) throw new NotFoundException(`job ${id} not found`);
    return toJobView(job);
  }

  /**
   * POST /jobs/:id/stop: every live run is told to end now (its agent finishes it normally, with what it
   * captured, TracingRun.stop); a run not yet dispatched fails as stopped. The job ends `stopped`, naming
   * the token, once its runs have ended (RunsService.finalizeJob). Asking again changes nothing; a job
   * that has ended → 409.
   */
  stop(id: string, by: string): Promise<JobView> {
    return this.prisma.storeGate.foreground(() => this.stopNow(id, by));
  }

  private async stopNow(id: string, by: string): Promise<JobView> {
    if (!UUID_RE.test(id)) throw new NotFoundException(`job ${id} not found`);
    const job = await this.prisma.job.findUnique({ where: { id }, select: { status: true } });
    if (!job) throw new NotFoundException(`job ${id} not found`);
    if ((TERMINAL_JOB as readonly string[]).includes(job.status)) throw new ConflictException(`job ${id} has already ended (${job.status})`);
    await this.prisma.job.updateMany({ where: { id, stoppedBy: null }, data: { stoppedBy: by } });
    const runs = await this.prisma.jobRun.findMany({ where: { jobId: id, status: { in: [...ACTIVE_RUN] } }, include: { node: { select: { name: true } } } });
    for (const r of runs) {
      if (r.status === 'pending') await this.runs.failRun(r.id, `stopped by the ${by} token before it started`);
      else await this.router.stopRun(r.id, r.node.name, `stopped by the ${by} token`).catch((e) => this.log.warn(`stop run ${r.id}: ${e}`));
    }
    await this.runs.finalizeJob(id);
    return this.get(id);
  }

  /**
   * Starts each pending run on the replica holding its node's session: here, or queued to that replica
   * (which builds the StartRun: agents/start-run.ts); a node without a session fails its run at once.
   */
  async dispatch(jobId: string, fresh?: Fresh): Promise<void> {
    // One lean read of the pending runs and their node names (a job may have thousands); none for a job
    // this replica has just stored (`fresh`: its row and runs).
    const pending =
      fresh?.runs ??
      (await this.prisma.$queryRaw<{ id: string; name: string }[]>`
      SELECT r."id"::text AS "id", n."name" FROM "JobRun" r JOIN "Node" n ON n."id" = r."nodeId"
      WHERE r."jobId" = ${jobId}::uuid AND r."status" = 'pending'::"RunStatus"`);
    // This replica's own StartRuns first (~10 ms for a thousand: writes to its sessions), then the pending runs,
    // mostly other replicas' sessions. Sending both at once measured slower (bench/fleet.mjs, 3 replicas: StartRun
    // p50 idle 475-816 ms against 289-690): the agents' StartRuns all arrived together rather than in two waves.
    if (fresh?.claimed?.length) {
      const { job, claimed, storedAt } = fresh;
      // `send`: every StartRun written to its session; `flush`: every one gone to its agent's connection.
      const flushed = storedAt === undefined ? undefined : () => void this.stepDone('flush', storedAt);
      await this.router.sendStarts(claimed.map((r) => ({ id: r.id, nodeName: r.name, sessionId: r.sessionId, job })), 0, flushed);
      if (storedAt !== undefined) this.stepDone('send', storedAt);
    }
    if (pending.length === 0 || (await this.startPending(jobId, pending, fresh))) await this.runs.finalizeJob(jobId);
  }

  /** Starts a job's pending runs where their nodes are (AgentRouter.startRuns); false when the job is gone. */
  private async startPending(jobId: string, pending: { id: string; name: string }[], fresh?: Fresh): Promise<boolean> {
    const job = fresh?.job ?? (await this.prisma.job.findUnique({ where: { id: jobId } }));
    if (!job) return false;
    // A job just stored here: `pending` is fresh.runs, with the Node rows its insert read (not read again).
    const notQueued = await this.router.startRuns(job, pending.map((r) => ({ runId: r.id, nodeName: r.name })), fresh?.runs.map((r) => r.node));
    if (fresh?.storedAt !== undefined) this.stepDone('forward', fresh.storedAt);
    for (const run of pending) {
      const why = notQueued.get(run.id);
      if (why !== undefined) await this.runs.failRun(run.id, `node ${run.name} was not connected when the job was dispatched (${why})`);
    }
    return true;
  }

  /** `dispatch` on this replica, not held by the caller's work (commands first); a failure is left to the queued backstop. */
  private dispatchSoon(jobId: string, fresh: Fresh): Promise<void> {
    return this.prisma.storeGate
      .foreground(() => this.dispatch(jobId, fresh))
      .catch((err: Error) => this.log.warn(`job ${jobId}: dispatch failed here (${err.message}); the queued dispatch tries again in ${DISPATCH_BACKSTOP_MS} ms`));
  }

  /** Past duration + grace, runs that never reported fail and their agents are told to stop. */
  async deadline(jobId: string, now = Date.now()): Promise<void> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { durationSec: true } });
    if (!job) return;
    // Runs whose agent is away (away-runs.ts) but within the run grace period are spared: the agent keeps
    // their results and delivers them when it is back; the deadline looks again when the grace is over,
    // and the node sweep fails them should the agent stay away.
    const away = await awayRunIds(this.prisma, jobId, now, this.env);
    if (away.length > 0) {
      await this.queue.enqueue({ name: 'deadline', data: { jobId } }, { jobId: `deadline-${jobId}-${now}`, delayMs: this.env.runGraceMs });
      this.log.warn(`job ${jobId}: deadline reached while ${away.length} run(s) wait for their agent to come back; looking again in ${this.env.runGraceMs} ms`);
    }
    const waited = job.durationSec + DISPATCH_ALLOWANCE_SEC + this.env.resultGraceSec;
    const expired = await this.runs.expireJob(jobId, `no result from the node within ${waited} s`, away);
    if (expired.length === 0) return;
    const runs = await this.prisma.jobRun.findMany({ where: { id: { in: expired } }, include: { node: true } });
    for (const r of runs) await this.router.stopRun(r.id, r.node.name, 'deadline passed').catch((e) => this.log.warn(`stop run ${r.id}: ${e}`));
    this.log.warn(`job ${jobId}: ${expired.length} run(s) expired`);
  }
}

/** The selector as stored in the job's params: "all", or the object without `all: false`. */
function storedSelector(sel: NodeSelector): unknown {
  if (sel.all) return sel.limit === undefined ? 'all' : { all: true, limit: sel.limit };
  const { all: _all, ...rest } = sel;
  return rest;
}
