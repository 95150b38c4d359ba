import { Inject, Injectable } from '@nestjs/common';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { ACTIVE_RUN } from '../common/run-status';
import { describeSelector, matchesSelector, type NodeSelector } from './selector';
import { effectiveState, type NodeState } from './node-status';
import { policyRefusal, storedPolicy, type NodePolicy, type PolicyJob } from './node-policy';

/** Why a node the selector names or matches does not run the job. */
export type SkipCode = 'unreachable' | 'gone' | 'unknown' | 'capability' | 'policy' | 'limit' | 'target';

export interface SkippedNode {
  node: string;
  reason: string;
  code: SkipCode;
}

export interface Selection {
  /** Names of the nodes chosen, sorted. */
  selected: string[];
  /** Every node the selector matched (or named) that was not chosen, with the reason. */
  skipped: SkippedNode[];
  /** How many registered nodes matched the selector's names / labels / expressions, whatever their state. */
  matched: number;
}

/** What selection needs to know of a node. */
export interface Candidate {
  name: string;
  labels: Record<string, string>;
  capabilities: string[];
  state: NodeState;
  /** Why it is unreachable or gone, when known ("stream ended: ...", "no heartbeat for 4.0 s"). */
  statusReason?: string | null;
  /** Runs active on it now: `limit` prefers the least busy nodes. */
  activeRuns?: number;
  /** The node's own policy (Register.policy); null or absent: it sent none. */
  policy?: NodePolicy | null;
}

/**
 * Pure selection: which candidates run a job of `jobType` (a capability name such as "cpu-profile")
 * and why the others matched but were skipped. Nodes that do not match are not listed.
 */
export function selectFrom(candidates: Candidate[], sel: NodeSelector, jobType: string, job?: PolicyJob): Selection {
  const skipped: SkippedNode[] = [];
  const eligible: Candidate[] = [];
  let matched = 0;
  for (const c of candidates) {
    if (!matchesSelector(sel, c)) continue;
    matched++;
    if (c.state !== 'connected') {
      skipped.push({ node: c.name, code: c.state, reason: `${c.state}${c.statusReason ? ` (${c.statusReason})` : ''}` });
    } else if (!c.capabilities.includes(jobType)) {
      skipped.push({ node: c.name, code: 'capability', reason: `cannot run ${jobType} (capabilities: ${c.capabilities.join(', ') || 'none'})` });
    } else if (job && policyRefusal(c.policy ?? null, job)) {
      skipped.push({ node: c.name, code: 'policy', reason: `refused by the node's policy: ${policyRefusal(c.policy ?? null, job)}` });
    } else {
      eligible.push(c);
    }
  }
  if (!sel.all && sel.names) {
    const known = new Set(candidates.map((c) => c.name));
    for (const n of sel.names) if (!known.has(n)) skipped.push({ node: n, code: 'unknown', reason: 'not connected (never registered)' });
  }
  let chosen = eligible;
  if (sel.limit !== undefined && eligible.length > sel.limit) {
    // "Any N": the least busy first, then by name so the choice is stable.
    const ranked = [...eligible].sort((a, b) => (a.activeRuns ?? 0) - (b.activeRuns ?? 0) || a.name.localeCompare(b.name));
    chosen = ranked.slice(0, sel.limit);
    for (const c of ranked.slice(sel.limit)) skipped.push({ node: c.name, code: 'limit', reason: `not chosen: limit ${sel.limit} reached` });
  }
  return { selected: chosen.map((c) => c.name).sort(), skipped: skipped.sort((a, b) => a.node.localeCompare(b.node)), matched };
}

const PHRASE: Record<'unreachable' | 'gone', [string, string]> = {
  unreachable: ['is unreachable', 'are unreachable'],
  gone: ['is gone', 'are gone'],
};

/** The 422 reason when nothing was selected, e.g. "no node matches: 2 matched the labels but are unreachable (n1, n2)". */
export function noMatchReason(sel: NodeSelector, s: Selection, jobType: string): string {
  const how = sel.all ? '' : sel.labels || sel.expressions ? ' the labels' : ' by name';
  const parts: string[] = [];
  for (const code of ['unreachable', 'gone', 'capability'] as const) {
    const nodes = s.skipped.filter((k) => k.code === code).map((k) => k.node);
    if (!nodes.length) continue;
    const verb = code === 'capability' ? `cannot run ${jobType}` : PHRASE[code][nodes.length === 1 ? 0 : 1];
    parts.push(`${nodes.length} matched${how} but ${verb} (${list(nodes)})`);
  }
  for (const k of s.skipped.filter((x) => x.code === 'unknown' || x.code === 'policy')) parts.push(`${k.node}: ${k.reason}`);
  if (parts.length === 0) parts.push(sel.all ? 'no node has registered' : `no registered node matches ${describeSelector(sel)}`);
  return `no node matches: ${parts.join('; ')}`;
}

function list(names: string[], max = 20): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, … ${names.length - max} more`;
}

/**
 * Chooses the nodes of a job from the node registry in PostgreSQL, so every replica chooses
 * the same way whichever replica holds each node's session. Reused by schedules and incidents.
 */
@Injectable()
export class NodeSelection {
  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
  ) {}

  /** `job`: also skip the nodes whose own policy refuses it (node-policy.ts). */
  async selectNodes(selector: NodeSelector, jobType: string, job?: PolicyJob): Promise<Selection> {
    // A lean read (a fleet has thousands of nodes: the ORM's row mapping took ~0.2 s of each POST /jobs at 2,000).
    const names = !selector.all && selector.names ? selector.names : null;
    const rows = await this.prisma.$queryRaw<
      { id: string; name: string; labels: unknown; capabilities: string[]; status: 'connected' | 'unreachable' | 'gone'; statusReason: string | null; lastSeenAt: Date; policy: unknown }[]
    >`
      SELECT "id"::text AS "id", "name", "labels", "capabilities", "status"::text AS "status", "statusReason", "lastSeenAt", "policy"
      FROM "Node" WHERE ${names}::text[] IS NULL OR "name" = ANY(${names}::text[])`;
    const now = Date.now();
    const t = { unreachableMs: this.env.nodeUnreachableMs, goneMs: this.env.nodeGoneMs };
    const candidates: (Candidate & { id: string })[] = rows.map((r) => {
      const state = effectiveState({ status: r.status, lastSeenAt: r.lastSeenAt }, now, t);
      return {
        id: r.id,
        name: r.name,
        labels: (r.labels ?? {}) as Record<string, string>,
        capabilities: r.capabilities,
        policy: storedPolicy(r.policy),
        state,
        // A stored reason describes the stored state; a state moved on by time gets the silence instead.
        statusReason: state === r.status ? r.statusReason : `no heartbeat for ${Math.round((now - r.lastSeenAt.getTime()) / 100) / 10} s`,
      };
    });
    if (selector.limit !== undefined) {
      const busy = await this.prisma.jobRun.groupBy({
        by: ['nodeId'],
        where: { status: { in: [...ACTIVE_RUN] }, nodeId: { in: candidates.filter((c) => c.state === 'connected').map((c) => c.id) } },
        _count: { _all: true },
      });
      const byId = new Map(busy.map((b) => [b.nodeId, b._count._all]));
      for (const c of candidates) c.activeRuns = byId.get(c.id) ?? 0;
    }
    return selectFrom(candidates, selector, jobType, job);
  }
}
