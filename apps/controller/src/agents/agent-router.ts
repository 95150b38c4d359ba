import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import type { ListUsdt, Target, TargetCheckResult, UsdtListResult } from '@tracefleet/proto';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { AgentCommandQueue } from '../queue/agent-commands';
import { NodesService, type NodeRoute, type RouteRow } from '../nodes/nodes.service';
import { ControllerMetrics } from '../metrics/controller-metrics';
import { RunsService } from '../runs/runs.service';
import { buildStartRun } from './start-run';
import { AgentGateway } from './agent.gateway';

/** What a StartRun is built from (the Job row: agents/start-run.ts). */
export type StartJob = Parameters<typeof buildStartRun>[0];

/** Where a command for a node goes: this replica's own session, another replica's queue, or nowhere (and why). */
export type Route = { kind: 'here' } | { kind: 'replica'; replicaId: string } | { kind: 'none'; reason: string };

/**
 * Routing rule. A live local session wins (it is the truth for this replica); otherwise the node
 * registry says which replica holds the session, provided the node is connected.
 */
export function routeFor(node: NodeRoute | undefined, me: string, hasLocalSession: boolean): Route {
  if (hasLocalSession) return { kind: 'here' };
  if (!node) return { kind: 'none', reason: 'never registered' };
  if (node.state !== 'connected') return { kind: 'none', reason: node.state };
  if (!node.replicaId) return { kind: 'none', reason: 'no session' };
  if (node.replicaId === me) return { kind: 'none', reason: `its session on replica ${me} has ended` };
  return { kind: 'replica', replicaId: node.replicaId };
}

/** How many times a start may follow a node that moved to another replica before it is given up. */
export const MAX_START_HOPS = 3;
/** Runs per start-runs command: a dispatch to thousands of nodes is a few queue jobs per replica. */
export const START_CHUNK = 500;
/**
 * Fast start-runs commands remembered (key: first run id, count, last run id), so that their queued copies
 * (FAST_BACKSTOP_MS later: queue/agent-commands.ts) find the work done: kept a minute, at most this many.
 */
const FAST_STARTS_KEPT = 10_000;
const FAST_STARTS_KEPT_MS = 60_000;
/** A start-runs command's data (queue/agent-commands.ts). */
type ForwardedStarts = { runIds: string[]; jobId?: string; nodeNames?: string[]; sentAt?: number };
/** Time added to a request's timeout for the hop through Redis and the other replica. */
const RELAY_SLACK_MS = 2000;

/**
 * Reaches any node's agent from any replica. Starts and stops travel as BullMQ jobs on the queue of
 * the replica holding the node's session (`agent-commands-<replicaId>`, deduplicated by run id); a
 * dispatch's starts (start-runs) go first as one Redis pub/sub message, their queued copies delayed as
 * the backstop (AgentCommandQueue.sendFast); requests (target checks, USDT listings) are queued and wait
 * for the answer. This replica runs the commands addressed to it against its own sessions.
 */
@Injectable()
export class AgentRouter implements OnModuleInit {
  private readonly log = new Logger(AgentRouter.name);
  /** Fast start-runs commands taken, by key: whether each succeeded (startForwarded). */
  private readonly fastStarts = new Map<string, { at: number; done: Promise<boolean> }>();

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly gateway: AgentGateway,
    private readonly commands: AgentCommandQueue,
    private readonly nodes: NodesService,
    private readonly runs: RunsService,
    @Optional() private readonly metrics?: ControllerMetrics,
  ) {}

  onModuleInit(): void {
    // Commands come first: while one runs, result storage narrows to one slot (StoreGate.foreground).
    this.commands.handle('start-run', ({ runId, hops }) => this.prisma.storeGate.foreground(() => this.startHere([runId], hops)));
    this.commands.handle('start-runs', (data, via) => this.startForwarded(data, via));
    this.commands.handle('stop-run', async ({ runId, nodeName, reason }) => {
      this.gateway.send(nodeName, { msg: { $case: 'stopRun', value: { runId, reason } } });
    });
    this.commands.handle('check-target', async ({ nodeName, target, timeoutMs, expiresAt }) => {
      if (Date.now() > expiresAt) return undefined;
      return (await this.gateway.checkTarget([nodeName], target, timeoutMs)).get(nodeName);
    });
    this.commands.handle('end-session', async ({ nodeName, reason }) => {
      this.gateway.endSession(nodeName, status.PERMISSION_DENIED, reason);
    });
    this.commands.handle('list-usdt', async ({ nodeName, source, timeoutMs, expiresAt }) => {
      if (Date.now() > expiresAt) return undefined;
      return { answer: await this.gateway.listUsdt(nodeName, source, timeoutMs) };
    });
  }

  private async route(nodeName: string): Promise<Route> {
    return routeFor(await this.nodes.route(nodeName), this.env.replicaId, this.gateway.isConnected(nodeName));
  }

  /**
   * Starts pending runs where their nodes are: those with a session on this replica here and now (in
   * chunks of START_CHUNK), and per other replica one Redis round trip carrying start-runs commands of
   * START_CHUNK runs each, whatever the number of runs. Returns, by run id, why a run could not be
   * started or queued (its node has no session); runs not in the result were started or queued.
   */
  async startRuns(job: StartJob, runs: { runId: string; nodeName: string }[], nodeRows?: RouteRow[]): Promise<Map<string, string>> {
    const notQueued = new Map<string, string>();
    // `nodeRows`: the registry rows of the runs' nodes, read by the job's insert (not read again).
    const routes = nodeRows ? this.nodes.toRoutes(nodeRows) : await this.nodes.routes(runs.filter((r) => !this.gateway.isConnected(r.nodeName)).map((r) => r.nodeName));
    const byReplica = new Map<string, string[]>();
    const names = new Map(runs.map((r) => [r.runId, r.nodeName]));
    for (const { runId, nodeName } of runs) {
      const r = routeFor(routes.get(nodeName), this.env.replicaId, this.gateway.isConnected(nodeName));
      if (r.kind === 'none') {
        notQueued.set(runId, r.reason);
        continue;
      }
      const replicaId = r.kind === 'here' ? this.env.replicaId : r.replicaId;
      let ids = byReplica.get(replicaId);
      if (!ids) byReplica.set(replicaId, (ids = []));
      ids.push(runId);
    }
    await Promise.all(
      [...byReplica].map(([replicaId, ids]) => {
        const chunks: string[][] = [];
        for (let i = 0; i < ids.length; i += START_CHUNK) chunks.push(ids.slice(i, i + START_CHUNK));
        // Sessions of this replica are started here, without a trip through Redis (the dispatch is itself a
        // queued task: should this replica die part way, its retry starts the runs still pending).
        // What the dispatch read (or just inserted) is not read again: the runs' nodes and their job row.
        if (replicaId === this.env.replicaId) return Promise.all(chunks.map((chunk) => this.startHere(chunk, 0, { jobId: job.id, job, names })));
        // The id names the chunk's runs (first, count): the same dispatch enqueued twice is one command; a run
        // is started once anyway (startHere's claim moves it out of pending). The runs' node names and job id
        // spare the other replica a read; its claim checks them against the run rows (forged ones claim nothing).
        // The fast path: one Redis message the other replica handles as it comes, the queued copy as backstop.
        const sentAt = Date.now();
        return this.commands.sendFast(
          replicaId,
          chunks.map((chunk) => ({
            cmd: { name: 'start-runs', data: { runIds: chunk, jobId: job.id, nodeNames: chunk.map((id) => names.get(id)!), sentAt } },
            jobId: `starts-${chunk[0]}-${chunk.length}`,
          })),
        );
      }),
    );
    return notQueued;
  }

  /** Asks the node's agent to stop a run, wherever its session is (best effort: a node without a session has nothing to stop). */
  async stopRun(runId: string, nodeName: string, reason: string): Promise<void> {
    if (this.gateway.send(nodeName, { msg: { $case: 'stopRun', value: { runId, reason } } })) return;
    // Even an unreachable node's last replica gets it: a paused agent that resumes then stops the run.
    const node = await this.nodes.route(nodeName);
    if (!node?.replicaId || node.replicaId === this.env.replicaId) return;
    await this.commands.send(node.replicaId, { name: 'stop-run', data: { runId, nodeName, reason } }, `stop-${runId}`);
  }

  /**
   * Ends the node's session wherever it is: here, or on `replicaId` (read from its row before the
   * revocation cleared it). True when it was here or the command was queued for its replica.
   */
  async endSession(nodeName: string, replicaId: string | null, reason: string): Promise<boolean> {
    if (this.gateway.endSession(nodeName, status.PERMISSION_DENIED, reason)) return true;
    if (!replicaId || replicaId === this.env.replicaId) return false;
    await this.commands.send(replicaId, { name: 'end-session', data: { nodeName, reason } }, `end-session-${nodeName}-${Date.now()}`);
    return true;
  }

  /** Whether the target exists on each node; nodes that do not answer in time map to undefined. */
  async checkTarget(nodeNames: string[], target: Target, timeoutMs = 3000): Promise<Map<string, TargetCheckResult | undefined>> {
    const answers = new Map<string, TargetCheckResult | undefined>();
    const routes = await this.nodes.routes(nodeNames);
    const local = nodeNames.filter((n) => this.gateway.isConnected(n));
    for (const [n, a] of await this.gateway.checkTarget(local, target, timeoutMs)) answers.set(n, a);
    await Promise.all(
      nodeNames
        .filter((n) => !this.gateway.isConnected(n))
        .map(async (n) => {
          const r = routeFor(routes.get(n), this.env.replicaId, false);
          if (r.kind !== 'replica') {
            answers.set(n, { requestId: '', found: false, detail: `node not connected (${r.kind === 'none' ? r.reason : 'here'})` });
            return;
          }
          const answer = await this.commands.call<TargetCheckResult | null>(
            r.replicaId,
            { name: 'check-target', data: { nodeName: n, target, timeoutMs, expiresAt: Date.now() + timeoutMs + RELAY_SLACK_MS } },
            timeoutMs + RELAY_SLACK_MS,
          );
          answers.set(n, answer ?? undefined);
        }),
    );
    return answers;
  }

  /** The USDT probes a node finds; null when it is not connected, undefined when no answer came in time. */
  async listUsdt(nodeName: string, source: NonNullable<ListUsdt['source']>, timeoutMs = 15_000): Promise<UsdtListResult | undefined | null> {
    const r = await this.route(nodeName);
    if (r.kind === 'here') return this.gateway.listUsdt(nodeName, source, timeoutMs);
    if (r.kind === 'none') return null;
    const relayed = await this.commands.call<{ answer: UsdtListResult | null } | null>(
      r.replicaId,
      { name: 'list-usdt', data: { nodeName, source, timeoutMs, expiresAt: Date.now() + timeoutMs + RELAY_SLACK_MS } },
      timeoutMs + RELAY_SLACK_MS,
    );
    return relayed ? (relayed.answer ?? undefined) : undefined;
  }

  /**
   * Runs starts on this replica (a dispatch's start-runs, or one start forwarded `hops` times): the pending
   * runs whose node has a session here are claimed (pending → dispatched on that session) in one statement
   * and sent their StartRun (built once per job row); a run whose node moved meanwhile has its start
   * forwarded to the node's new replica, and one whose node has no session is failed with the reason.
   * Runs no longer pending (a duplicate start, or the deadline ended them) are left alone. `known`: the runs'
   * job and node names, from the dispatch on this replica (with the job row) or from another replica's
   * start-runs command (not read again: the claim checks them against each run's row).
   */
  private async startHere(runIds: string[], hops: number, known?: { jobId: string; job?: StartJob; names: Map<string, string> }): Promise<void> {
    const runs = known ? runIds.map((id) => ({ id, jobId: known.jobId, name: known.names.get(id)! })) : await this.pendingRuns(runIds);
    const here: { id: string; jobId: string; nodeName: string; sessionId: string }[] = [];
    const elsewhere: typeof runs = [];
    for (const r of runs) {
      const s = this.gateway.session(r.name);
      if (s) here.push({ id: r.id, jobId: r.jobId, nodeName: r.name, sessionId: s.sessionId });
      else elsewhere.push(r);
    }
    if (here.length > 0) {
      // The claim and the job rows at once (one wait on PostgreSQL, not two). A run is claimed only as the run
      // of that job on that node: node names and job ids that came through Redis are not taken on trust.
      const [claimed, jobs] = await Promise.all([
        this.prisma.$queryRaw<{ id: string }[]>`
        UPDATE "JobRun" r SET "status" = 'dispatched'::"RunStatus", "sessionId" = t.sid
        FROM unnest(${here.map((h) => h.id)}::uuid[], ${here.map((h) => h.sessionId)}::uuid[], ${here.map((h) => h.nodeName)}::text[],
          ${here.map((h) => h.jobId)}::uuid[]) AS t(id, sid, name, jid)
        JOIN "Node" n ON n."name" = t.name
        WHERE r."id" = t.id AND r."nodeId" = n."id" AND r."jobId" = t.jid AND r."status" = 'pending'::"RunStatus"
        RETURNING r."id"::text AS "id"`,
        known?.job
          ? new Map<string, StartJob>([[known.job.id, known.job]])
          : this.prisma.job
              .findMany({ where: { id: { in: [...new Set(here.map((h) => h.jobId))] } } })
              .then((rows) => new Map<string, StartJob>(rows.map((j) => [j.id, j]))),
      ]);
      const ids = new Set(claimed.map((c) => c.id));
      await this.sendStarts(
        here.filter((h) => ids.has(h.id) && jobs.has(h.jobId)).map((h) => ({ ...h, job: jobs.get(h.jobId)! })),
        hops,
      );
    }
    // Known runs: read as they stand now (still pending, their own node names), started here if their node
    // is after all (a carried name was wrong), else forwarded or failed like any other.
    if (known && elsewhere.length > 0) return this.startHere(elsewhere.map((r) => r.id), hops);
    for (const r of elsewhere) await this.forwardOrFail(r.id, r.name, r.jobId, hops);
  }

  /**
   * Another replica's dispatch, forwarded here (start-runs): by its fast path (`via` fast), then its queued copy,
   * which does nothing when the fast one succeeded (counted: forwarded_start_commands_total).
   */
  private async startForwarded(data: ForwardedStarts, via: 'queue' | 'fast'): Promise<void> {
    const key = Array.isArray(data.runIds) && data.runIds.length > 0 ? `${data.runIds[0]}/${data.runIds.length}/${data.runIds.at(-1)}` : undefined;
    // The queued copy of a command the fast path has taken: nothing to do, unless the fast copy failed.
    if (via === 'queue' && key !== undefined && (await this.fastStarts.get(key)?.done)) return void this.metrics?.forwardedStarts.inc({ via, outcome: 'skipped' });
    this.metrics?.forwardedStarts.inc({ via, outcome: 'started' });
    const work = this.prisma.storeGate.foreground(() => this.startForwardedNow(data));
    if (via === 'fast' && key !== undefined) this.rememberFast(key, work);
    return work;
  }

  /** A fast start-runs command taken now (FAST_STARTS_KEPT_MS, at most FAST_STARTS_KEPT of them): its queued copy is skipped if it succeeds. */
  private rememberFast(key: string, work: Promise<void>): void {
    const now = Date.now();
    for (const [k, v] of this.fastStarts) {
      if (now - v.at < FAST_STARTS_KEPT_MS && this.fastStarts.size < FAST_STARTS_KEPT) break;
      this.fastStarts.delete(k);
    }
    this.fastStarts.set(key, { at: now, done: work.then(() => true, () => false) });
  }

  /**
   * Starts a start-runs command's runs on the sessions here. Its node names and job id, when it carries them
   * (replicas of this version do), spare the read of the runs. Observed as steps, from the command's enqueue
   * (the sender's clock): `relay_wait` until this replica took it, `relay` until its StartRuns were written here.
   */
  private async startForwardedNow(data: ForwardedStarts): Promise<void> {
    const { runIds, jobId, nodeNames, sentAt } = data;
    const since = (step: 'relay' | 'relay_wait') => {
      if (typeof sentAt === 'number' && Number.isFinite(sentAt)) this.metrics?.dispatchStepSeconds.observe({ step }, Math.max(0, Date.now() - sentAt) / 1000);
    };
    since('relay_wait');
    const carried = typeof jobId === 'string' && Array.isArray(nodeNames) && nodeNames.length === runIds.length;
    await this.startHere(runIds, 0, carried ? { jobId, names: new Map(runIds.map((id, i) => [id, String(nodeNames[i])])) } : undefined);
    since('relay');
  }

  /** This replica's sessions of these nodes (node name → session id); nodes without a session here are left out. */
  sessionsHere(nodeNames: string[]): Map<string, string> {
    const sessions = new Map<string, string>();
    for (const name of nodeNames) {
      const s = this.gateway.session(name);
      if (s) sessions.set(name, s.sessionId);
    }
    return sessions;
  }

  /**
   * Sends the StartRun of runs already bound (dispatched) to this replica's session `sessionId` of their node:
   * claimed by startHere, or stored so by JobsService.insert (jobs/job-insert.ts). A run whose session is no
   * longer its node's session here (it ended, or the agent registered again meanwhile) goes back to pending and
   * is started again where its node is now (startHere: on its new session here, forwarded to its replica, or
   * failed with the reason), at most MAX_START_HOPS times. `flushed`: called once every StartRun written here has
   * gone to its agent's connection (each HTTP/2 write's callback; the dispatch step `flush`).
   */
  async sendStarts(runs: { id: string; nodeName: string; sessionId: string; job: StartJob }[], hops = 0, flushed?: () => void): Promise<void> {
    // The writes not yet gone out, and one more for this loop (let go after it, so that `flushed` comes once).
    let unflushed = 1;
    const gone = flushed && (() => void (--unflushed === 0 && flushed()));
    const moved = runs.filter((r) => {
      if (this.gateway.session(r.nodeName)?.sessionId !== r.sessionId) return true;
      if (gone) unflushed++;
      if (this.gateway.send(r.nodeName, { msg: { $case: 'startRun', value: buildStartRun(r.job, r.id) } }, gone)) return false;
      gone?.();
      return true;
    });
    gone?.();
    if (moved.length === 0) return;
    // Unless the agent's registration did it first (run-handover: a dispatched run it does not hold → pending).
    const back = await this.prisma.$queryRaw<{ id: string }[]>`
      UPDATE "JobRun" r SET "status" = 'pending'::"RunStatus", "sessionId" = NULL
      FROM unnest(${moved.map((r) => r.id)}::uuid[], ${moved.map((r) => r.sessionId)}::uuid[]) AS t(id, sid)
      WHERE r."id" = t.id AND r."status" = 'dispatched'::"RunStatus" AND r."sessionId" = t.sid
      RETURNING r."id"::text AS "id"`;
    if (back.length === 0) return;
    if (hops < MAX_START_HOPS) return this.startHere(back.map((b) => b.id), hops + 1);
    const unclaimed = new Set(back.map((b) => b.id));
    const lost = new Set<string>();
    for (const r of moved.filter((m) => unclaimed.has(m.id))) {
      await this.runs.failRun(r.id, `node ${r.nodeName} kept changing sessions as the run was sent (${hops} tries)`);
      lost.add(r.job.id);
    }
    for (const jobId of lost) await this.runs.finalizeJob(jobId);
  }

  /** These runs, those still pending, with their job and node names. */
  private pendingRuns(runIds: string[]): Promise<{ id: string; jobId: string; name: string }[]> {
    return this.prisma.$queryRaw<{ id: string; jobId: string; name: string }[]>`
      SELECT r."id"::text AS "id", r."jobId"::text AS "jobId", n."name" FROM "JobRun" r JOIN "Node" n ON n."id" = r."nodeId"
      WHERE r."id" = ANY(${runIds}::uuid[]) AND r."status" = 'pending'::"RunStatus"`;
  }

  /** A start for a node without a session here: forwarded to the node's replica now, or the run fails with why it cannot. */
  private async forwardOrFail(runId: string, nodeName: string, jobId: string, hops: number): Promise<void> {
    const r = routeFor(await this.nodes.route(nodeName), this.env.replicaId, false);
    if (r.kind === 'replica' && hops < MAX_START_HOPS) {
      this.log.log(`run ${runId}: node ${nodeName} is now on replica ${r.replicaId}; forwarding its start`);
      await this.commands.send(r.replicaId, { name: 'start-run', data: { runId, hops: hops + 1 } }, `start-${runId}-h${hops + 1}`);
      return;
    }
    const why = r.kind === 'none' ? r.reason : `it kept moving between replicas (${hops} forwards)`;
    await this.runs.failRun(runId, `node ${nodeName} was not connected when the job was dispatched (${why})`);
    await this.runs.finalizeJob(jobId);
  }
}
