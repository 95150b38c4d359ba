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
    const held = [...new Set(heldRunIds.filter((id) => UUID_RE.test(id)))];
    const mine = await this.prisma.jobRun.findMany({
      where: { nodeId, OR: [{ id: { in: held } }, { status: { in: ['dispatched', 'running'] }, sessionId: { not: sessionId } }] },
      select: { id: true, jobId: true, status: true, sessionId: true },
    });
    const out: Handover = { kept: [], restarted: [], failed: [], ended: [] };
    const heldSet = new Set(held);
    const lost: typeof mine = [];
    for (const r of mine) {
      if (heldSet.has(r.id)) {
        if (!(ACTIVE_RUN as readonly string[]).includes(r.status)) out.ended.push({ runId: r.id, status: r.status });
        else out.kept.push(r.id);
      } else if (r.status === 'dispatched') {
        out.restarted.push(r.id);
      } else if (r.status === 'running') {
        out.failed.push(r.id);
        lost.push(r);
      }
    }
    // Held ids that are not this node's runs are ignored: an agent speaks only for its own runs.
    if (out.kept.length > 0) {
      await this.prisma.jobRun.updateMany({ where: { id: { in: out.kept }, nodeId, status: { in: [...ACTIVE_RUN] } }, data: { sessionId } });
    }
    if (out.restarted.length > 0) {
      await this.prisma.jobRun.updateMany({ where: { id: { in: out.restarted }, nodeId, status: 'dispatched' }, data: { status: 'pending', sessionId: null } });
    }
    await this.runs.failRuns(lost, `agent ${nodeName} registered again (${where}) without these runs: the agent process that ran them is gone`);
    if (out.kept.length + out.restarted.length + out.failed.length + out.ended.length > 0) {
      this.log.log(
        `agent ${nodeName}: ${out.kept.length} run(s) continue on the new session, ${out.restarted.length} not started yet go again, ` +
          `${out.failed.length} lost with the agent's previous process, ${out.ended.length} already ended here`,
      );
    }
    return out;
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
