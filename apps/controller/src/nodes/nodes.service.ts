import { Inject, Injectable } from '@nestjs/common';
import type { Register } from '@tracefleet/proto';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { Prisma } from '../generated/prisma/client';
import { matchesSelector, type NodeSelector } from './selector';
import { effectiveState, sweepTransition, type NodeState, type NodeThresholds } from './node-status';
import { storedPolicy, type NodePolicy } from './node-policy';
import { DuplicateAgentError } from './duplicate-agent';
import { registerNodes, type Registered, type Registration } from './register-many';

export interface NodeView {
  id: string;
  name: string;
  labels: Record<string, string>;
  kernelRelease: string;
  btf: boolean;
  cpus: number;
  capabilities: string[];
  agentVersion: string;
  /** What the node's agent admits whatever it is sent (its local policy); null: an agent that sent none. */
  policy: NodePolicy | null;
  /** connected / unreachable / gone, as of now (see node-status.ts). */
  status: NodeState;
  statusReason: string | null;
  statusChangedAt: string | null;
  connected: boolean;
  /** The controller replica holding its session (null once the session ended). */
  replicaId: string | null;
  sessionId: string | null;
  connectedAt: string | null;
  lastSeenAt: string;
  /** Agent messages refused for breaking a batch limit (agents/batch-limits.ts), and the last one's reason and time. */
  batchesRefused: number;
  lastRefusal: string | null;
  lastRefusalAt: string | null;
  /** Registrations refused because another agent instance held its live session, and the last one's reason and time. */
  duplicatesRefused: number;
  lastDuplicate: string | null;
  lastDuplicateAt: string | null;
}

export interface NodeFilter {
  status?: NodeState[];
  /** Label equality and set expressions, names (`GET /nodes?labelSelector=`). */
  selector?: NodeSelector;
  capability?: string;
  namePrefix?: string;
}

/** What a route is computed from: the node's registry row (these columns: ROUTE_COLUMNS). */
export interface RouteRow {
  id: string;
  name: string;
  status: NodeState;
  lastSeenAt: Date;
  replicaId: string | null;
  sessionId: string | null;
}
const ROUTE_COLUMNS = { id: true, name: true, status: true, lastSeenAt: true, replicaId: true, sessionId: true } as const;

/** Where a node's session is, for routing commands to it. */
export interface NodeRoute {
  id: string;
  name: string;
  state: NodeState;
  replicaId: string | null;
  sessionId: string | null;
}

/** A node the sweep moved on, with the session it had. */
export interface SweptNode {
  id: string;
  name: string;
  from: NodeState;
  to: NodeState;
  reason: string;
  replicaId: string | null;
  sessionId: string | null;
}

/**
 * The node registry in PostgreSQL: every replica writes the sessions it holds and their
 * heartbeats here, so any replica answers for the whole fleet.
 */
@Injectable()
export class NodesService {
  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
  ) {}

  get thresholds(): NodeThresholds {
    return { unreachableMs: this.env.nodeUnreachableMs, goneMs: this.env.nodeGoneMs };
  }

  /** Records a new session of the node on this replica; returns the node id and the replica that held it before. */
  async register(reg: Register, sessionId: string): Promise<{ nodeId: string; previousReplicaId: string | null }> {
    const [r] = await this.registerMany([{ reg, sessionId }]);
    if (r.refused !== undefined) throw new DuplicateAgentError(r.refused);
    return r;
  }

  /**
   * Records many new sessions on this replica in one transaction (register-many.ts); a registration refused
   * because another agent instance holds the node's live session comes back with the reason. Names must be distinct.
   */
  registerMany(items: Registration[]): Promise<Registered[]> {
    return registerNodes(this.prisma, items, this.env.replicaId, this.thresholds.unreachableMs);
  }

  /**
   * Sign of life for many sessions in one statement (a replica flushes what it heard each tick):
   * each node is seen now and connected again if it had been marked unreachable or gone (a paused
   * agent that resumed). Returns the sessions that are still their node's current one.
   */
  async heartbeatMany(sessions: { nodeId: string; sessionId: string }[]): Promise<Set<string>> {
    if (sessions.length === 0) return new Set();
    // Prisma stores DateTime as UTC in a timestamp without time zone; an ISO string cast to it keeps that.
    const now = new Date().toISOString();
    const rows = await this.prisma.$queryRaw<{ sessionId: string }[]>`
      UPDATE "Node" n SET
        "lastSeenAt" = ${now}::timestamp(3),
        "status" = 'connected'::"NodeStatus",
        "statusReason" = CASE WHEN n."status" = 'connected' THEN n."statusReason" ELSE NULL END,
        "statusChangedAt" = CASE WHEN n."status" = 'connected' THEN n."statusChangedAt" ELSE ${now}::timestamp(3) END
      FROM unnest(${sessions.map((s) => s.nodeId)}::uuid[], ${sessions.map((s) => s.sessionId)}::uuid[]) AS t(id, sid)
      WHERE n."id" = t.id AND n."sessionId" = t.sid
      RETURNING n."sessionId"::text AS "sessionId"`;
    return new Set(rows.map((r) => r.sessionId));
  }

  /** The session ended: the node is unreachable, unless it already has a newer session. True when it was the current one. */
  async sessionEnded(nodeId: string, sessionId: string, reason: string): Promise<boolean> {
    const r = await this.prisma.node.updateMany({
      where: { id: nodeId, sessionId },
      data: { status: 'unreachable', statusReason: reason, statusChangedAt: new Date(), replicaId: null, sessionId: null },
    });
    return r.count > 0;
  }

  /**
   * Moves silent nodes on (connected → unreachable → gone). Each change is conditional on the row
   * still being what was read, so a heartbeat that lands meanwhile wins and two replicas sweeping
   * at once change a node once.
   */
  async sweep(now = Date.now()): Promise<SweptNode[]> {
    const t = this.thresholds;
    const silent = await this.prisma.node.findMany({
      where: { status: { in: ['connected', 'unreachable'] }, lastSeenAt: { lt: new Date(now - t.unreachableMs) } },
      select: ROUTE_COLUMNS,
    });
    const swept: SweptNode[] = [];
    for (const n of silent) {
      const tr = sweepTransition(n, now, t);
      if (!tr) continue;
      const r = await this.prisma.node.updateMany({
        where: { id: n.id, status: n.status, lastSeenAt: n.lastSeenAt },
        data: { status: tr.to, statusReason: tr.reason, statusChangedAt: new Date(now) },
      });
      if (r.count > 0) swept.push({ id: n.id, name: n.name, from: n.status, to: tr.to, reason: tr.reason, replicaId: n.replicaId, sessionId: n.sessionId });
    }
    return swept;
  }

  async route(name: string): Promise<NodeRoute | undefined> {
    const n = await this.prisma.node.findUnique({ where: { name }, select: ROUTE_COLUMNS });
    return n ? this.toRoute(n, Date.now()) : undefined;
  }

  async routes(names: string[]): Promise<Map<string, NodeRoute>> {
    return this.toRoutes(await this.prisma.node.findMany({ where: { name: { in: names } }, select: ROUTE_COLUMNS }));
  }

  /** Routes of registry rows already read (a new job's insert reads its nodes' rows: jobs/job-insert.ts), by node name. */
  toRoutes(rows: RouteRow[], now = Date.now()): Map<string, NodeRoute> {
    return new Map(rows.map((n) => [n.name, this.toRoute(n, now)]));
  }

  private toRoute(n: RouteRow, now: number): NodeRoute {
    return { id: n.id, name: n.name, state: effectiveState(n, now, this.thresholds), replicaId: n.replicaId, sessionId: n.sessionId };
  }

  async list(filter: NodeFilter = {}): Promise<NodeView[]> {
    const where: Prisma.NodeWhereInput = {};
    if (filter.namePrefix) where.name = { startsWith: filter.namePrefix };
    if (filter.capability) where.capabilities = { has: filter.capability };
    const rows = await this.prisma.node.findMany({ where, orderBy: { name: 'asc' } });
    const now = Date.now();
    return rows
      .map((n) => toView(n, effectiveState(n, now, this.thresholds), now))
      .filter((v) => (!filter.status || filter.status.includes(v.status)) && (!filter.selector || matchesSelector(filter.selector, v)));
  }
}

type NodeRow = Awaited<ReturnType<PrismaService['node']['findMany']>>[number];

function toView(n: NodeRow, status: NodeState, now: number): NodeView {
  const moved = status !== n.status;
  return {
    id: n.id,
    name: n.name,
    labels: (n.labels ?? {}) as Record<string, string>,
    kernelRelease: n.kernelRelease,
    btf: n.btf,
    cpus: n.cpus,
    capabilities: n.capabilities,
    agentVersion: n.agentVersion,
    policy: storedPolicy(n.policy),
    status,
    // Between sweeps the stored reason describes the stored state; say what time has done instead.
    statusReason: moved ? `no heartbeat for ${((now - n.lastSeenAt.getTime()) / 1000).toFixed(1)} s` : n.statusReason,
    statusChangedAt: n.statusChangedAt?.toISOString() ?? null,
    connected: status === 'connected',
    replicaId: n.replicaId,
    sessionId: n.sessionId,
    connectedAt: n.connectedAt?.toISOString() ?? null,
    lastSeenAt: n.lastSeenAt.toISOString(),
    batchesRefused: n.batchesRefused,
    lastRefusal: n.lastRefusal,
    lastRefusalAt: n.lastRefusalAt?.toISOString() ?? null,
    duplicatesRefused: n.duplicatesRefused,
    lastDuplicate: n.lastDuplicate,
    lastDuplicateAt: n.lastDuplicateAt?.toISOString() ?? null,
  };
}
