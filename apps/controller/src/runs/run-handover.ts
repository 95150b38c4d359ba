import { Injectable, Logger } from '@nestjs/common';
import { PrismaService } from '../prisma/prisma.service';
import { RunsService } from './runs.service';
import { ACTIVE_RUN } from '../common/run-status';
import { UUID_RE } from '../common/ids';

/** What became of a node's runs when its agent registered on a new session. */
export interface Handover {
  /** Runs the agent still holds: bound to the new session; their unacknowledged messages come again. */
  kept: string[];
  /** Started on an earlier session but never reached the agent: pending again, started anew. */
  restarted: string[];
  /** Running on an earlier session and not held by the agent (it restarted): failed. */
  failed: string[];
  /** Runs the agent holds that have ended here (failed past the grace period, deadline): it is told to stop them. */
  ended: { runId: string; status: string }[];
}

/** A node's new session, with the runs its agent says it still holds (Register.held_run_ids). */
export interface HandoverRequest {
  nodeId: string;
  nodeName: string;
  sessionId: string;
  heldRunIds: string[];
  /** Where the session is, for the reason of runs failed ("on replica r2, was on r1"). */
  where: string;
}

/**
 * Runs outlive their agent's link (acknowledged delivery): a replica dying or the network dropping
 * ends the session, not the runs. When the agent registers again, anywhere, it names the runs it still
 * holds (Register.held_run_ids) and they move to its new session; the run grace period
 * (TRACEFLEET_RUN_GRACE_MS, the node sweep) fails the runs of an agent that stays away.
 */
@Injectable()
export class RunHandover {
  private readonly log = new Logger(RunHandover.name);

  constructor(
    private readonly prisma: PrismaService,
    private readonly runs: RunsService,
  ) {}

  async handOver(nodeId: string, nodeName: string, sessionId: string, heldRunIds: string[], where: string): Promise<Handover> {
    return (await this.handOverMany([{ nodeId, nodeName, sessionId, heldRunIds, where }]))[0];
  }

  /**
   * `handOver` for many new sessions (a fleet registering at once: agents/agent-registrar.ts) in one read and
   * at most two writes, plus one per node whose runs were lost with its agent's previous process. Node ids must be distinct.
   */
  async handOverMany(items: HandoverRequest[]): Promise<Handover[]> {
    if (items.length === 0) return [];
    const helds = items.map((i) => new Set(i.heldRunIds.filter((id) => UUID_RE.test(id))));
    const rows = await this.prisma.jobRun.findMany({
      where: {
        nodeId: { in: items.map((i) => i.nodeId) },
        OR: [{ id: { in: helds.flatMap((h) => [...h]) } }, { status: { in: ['dispatched', 'running'] }, sessionId: { not: null } }],
      },
      select: { id: true, jobId: true, status: true, sessionId: true, nodeId: true },
    });
    const byNode = new Map<string, typeof rows>();
    for (const r of rows) {
      const list = byNode.get(r.nodeId);
      if (list) list.push(r);
      else byNode.set(r.nodeId, [r]);
    }
    const outs = items.map((item, k) => {
      const out: Handover = { kept: [], restarted: [], failed: [], ended: [] };
      const held = helds[k];
      const lost: typeof rows = [];
      for (const r of byNode.get(item.nodeId) ?? []) {
        if (held.has(r.id)) {
          if (!(ACTIVE_RUN as readonly string[]).includes(r.status)) out.ended.push({ runId: r.id, status: r.status });
          else out.kept.push(r.id);
        } else if (r.sessionId === item.sessionId) {
          continue; // already on the new session
        } else if (r.status === 'dispatched') {
          out.restarted.push(r.id);
        } else if (r.status === 'running') {
          out.failed.push(r.id);
          lost.push(r);
        }
      }
      return { item, out, lost };
    });
    // Held ids that are not this node's runs are ignored (the read is by node): an agent speaks only for its own runs.
    const kept = outs.flatMap(({ item, out }) => out.kept.map((runId) => ({ runId, nodeId: item.nodeId, sessionId: item.sessionId })));
    if (kept.length > 0) {
      await this.prisma.$executeRaw`
        UPDATE "JobRun" r SET "sessionId" = t.sid
        FROM unnest(${kept.map((k) => k.runId)}::uuid[], ${kept.map((k) => k.nodeId)}::uuid[], ${kept.map((k) => k.sessionId)}::uuid[]) AS t(id, nid, sid)
        WHERE r."id" = t.id AND r."nodeId" = t.nid AND r."status" = ANY(${[...ACTIVE_RUN]}::"RunStatus"[])`;
    }
    const restarted = outs.flatMap(({ out }) => out.restarted);
    if (restarted.length > 0) {
      await this.prisma.jobRun.updateMany({ where: { id: { in: restarted }, status: 'dispatched' }, data: { status: 'pending', sessionId: null } });
    }
    for (const { item, out, lost } of outs) {
      if (lost.length > 0) {
        await this.runs.failRuns(lost, `agent ${item.nodeName} registered again (${item.where}) without these runs: the agent process that ran them is gone`);
      }
      if (out.kept.length + out.restarted.length + out.failed.length + out.ended.length > 0) {
        this.log.log(
          `agent ${item.nodeName}: ${out.kept.length} run(s) continue on the new session, ${out.restarted.length} not started yet go again, ` +
            `${out.failed.length} lost with the agent's previous process, ${out.ended.length} already ended here`,
        );
      }
    }
    return outs.map((o) => o.out);
  }

  /**
   * Fails the active runs of nodes silent (no heartbeat, no message) past the grace period, with the
   * reason. Returns them with their node's name, so that the agents are told to stop them.
   */
  async failSilent(now: number, graceMs: number): Promise<{ runId: string; nodeName: string; reason: string }[]> {
    const cutoff = new Date(now - graceMs);
    const runs = await this.prisma.jobRun.findMany({
      where: { status: { in: [...ACTIVE_RUN] }, node: { lastSeenAt: { lt: cutoff } } },
      select: { id: true, jobId: true, node: { select: { name: true, lastSeenAt: true } } },
    });
    const out: { runId: string; nodeName: string; reason: string }[] = [];
    for (const r of runs) {
      const silentS = Math.round((now - r.node.lastSeenAt.getTime()) / 1000);
      const reason = `node ${r.node.name} silent for ${silentS} s (no heartbeat since ${r.node.lastSeenAt.toISOString()}), past the run grace period of ${Math.round(graceMs / 1000)} s (TRACEFLEET_RUN_GRACE_MS)`;
      await this.runs.failRuns([r], reason);
      out.push({ runId: r.id, nodeName: r.node.name, reason });
    }
    return out;
  }
}
