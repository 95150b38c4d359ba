import { Injectable, Logger } from '@nestjs/common';
import {
  RunEventKind,
  type MemleakSnapshot,
  type ProfileBatch,
  type RunEvent,
  type RunFinished,
  type SslEventBatch,
  type SslReport,
  type UsdtEventBatch,
  type UsdtReport,
} from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import type { Prisma } from '../generated/prisma/client';
import { ProfilesService } from '../profiles/profiles.service';
import { UsdtService } from '../usdt/usdt.service';
import { MemleakService } from '../memleak/memleak.service';
import { SslService } from '../ssl/ssl.service';
import { ACTIVE_RUN, TERMINAL_JOB, jobOutcome } from './run-status';

/**
 * A run's life on the controller side: what the agent reports (started,
 * batches, finished) and what the controller decides (node lost, deadline
 * passed). Messages of one run are applied strictly in arrival order.
 */
@Injectable()
export class RunsService {
  private readonly log = new Logger(RunsService.name);
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly prisma: PrismaService,
    private readonly profiles: ProfilesService,
    private readonly usdt: UsdtService,
    private readonly memleak: MemleakService,
    private readonly ssl: SslService,
  ) {}

  onEvent(nodeId: string, ev: RunEvent): void {
    this.enqueue(ev.runId, async () => {
      const run = await this.ownRun(nodeId, ev.runId);
      if (!run) return;
      if (ev.kind === RunEventKind.RUN_EVENT_KIND_STARTED) {
        const at = new Date(Number(ev.atUnixMs) || Date.now());
        await this.prisma.jobRun.updateMany({
          where: { id: run.id, status: { in: ['pending', 'dispatched'] } },
          data: { status: 'running', startedAt: at },
        });
        await this.prisma.job.updateMany({ where: { id: run.jobId, status: 'queued' }, data: { status: 'running', startedAt: at } });
      } else if (ev.kind === RunEventKind.RUN_EVENT_KIND_TARGET_EXITED) {
        await this.prisma.jobRun.update({ where: { id: run.id }, data: { targetExited: true } });
      }
    });
  }

  onBatch(nodeId: string, batch: ProfileBatch): Promise<void> {
    return this.applyBatch(nodeId, batch.runId, batch.seq, (run) => this.profiles.ingest(run.jobId, run.id, batch));
  }

  onUsdtEvents(nodeId: string, batch: UsdtEventBatch): Promise<void> {
    return this.applyBatch(nodeId, batch.runId, batch.seq, (run) => this.usdt.storeEvents(run.jobId, run.id, batch));
  }

  onMemleakSnapshot(nodeId: string, snap: MemleakSnapshot): Promise<void> {
    return this.applyBatch(nodeId, snap.runId, snap.seq, (run) => this.memleak.storeSnapshot(run.jobId, run.id, snap));
  }

  onSslEvents(nodeId: string, batch: SslEventBatch): Promise<void> {
    return this.applyBatch(nodeId, batch.runId, batch.seq, (run) => this.ssl.storeEvents(run.jobId, run.id, batch));
  }

  onSslReport(nodeId: string, report: SslReport): void {
    this.enqueue(report.runId, async () => {
      const run = await this.ownRun(nodeId, report.runId);
      if (run) await this.ssl.storeReport(run.id, report);
    });
  }

  onUsdtReport(nodeId: string, report: UsdtReport): void {
    this.enqueue(report.runId, async () => {
      const run = await this.ownRun(nodeId, report.runId);
      if (run) await this.usdt.storeReport(run.jobId, run.id, report);
    });
  }

  /**
   * Stores one numbered batch of a run: a repeated seq is ignored, a skipped
   * one is counted as a gap; `store` returns how many samples or events it kept.
   */
  private applyBatch(nodeId: string, runId: string, seq: bigint, store: (run: { id: string; jobId: string }) => Promise<bigint>): Promise<void> {
    return this.enqueue(runId, async () => {
      const run = await this.ownRun(nodeId, runId);
      if (!run) return;
      if (seq <= run.lastSeq) {
        this.log.warn(`run ${run.id}: duplicate batch seq ${seq} ignored`);
        return;
      }
      const gap = seq !== run.lastSeq + 1n;
      const stored = await store(run);
      await this.prisma.jobRun.update({
        where: { id: run.id },
        data: {
          lastSeq: seq,
          batchesReceived: { increment: 1 },
          samplesReceived: { increment: stored },
          ...(gap ? { seqGaps: { increment: 1 } } : {}),
        },
      });
    });
  }

  onFinished(nodeId: string, fin: RunFinished): void {
    this.enqueue(fin.runId, async () => {
      const run = await this.ownRun(nodeId, fin.runId);
      if (!run) return;
      const fresh = await this.prisma.jobRun.findUniqueOrThrow({ where: { id: run.id } });
      // Events the controller refused past an ssl-capture job's limits arrived: they are not lost in transit.
      const arrived = fresh.samplesReceived + fresh.sslEventsRefused;
      const lost = fin.samplesSent > arrived ? fin.samplesSent - arrived : 0n;
      const notes: string[] = [];
      if (fin.reason) notes.push(fin.reason);
      if (fin.lastSeq !== fresh.lastSeq) notes.push(`agent sent ${fin.lastSeq} batches, ${fresh.batchesReceived} arrived`);
      await this.prisma.jobRun.updateMany({
        where: { id: run.id, status: { in: [...ACTIVE_RUN] } },
        data: {
          status: fin.ok ? 'completed' : 'failed',
          reason: notes.join('; ') || null,
          targetExited: fin.targetExited || fresh.targetExited,
          // A report that came before (SslReport) may already hold these; zeros do not erase it.
          samplesTaken: fin.samplesTaken || fresh.samplesTaken,
          samplesDroppedKernel: fin.samplesDroppedKernel || fresh.samplesDroppedKernel,
          samplesDroppedAgent: fin.samplesDroppedAgent || fresh.samplesDroppedAgent,
          samplesLostTransit: lost,
          finishedAt: new Date(),
        },
      });
      await this.finalizeJob(run.jobId);
    });
  }

  /**
   * Active runs of a node fail with the reason (its agent went away). `sessionId`: only the runs
   * started on that session; `notSessionId`: only runs started on another session; `startedOnly`:
   * not the pending ones (a pending run still follows the node to a new session).
   */
  async failNodeRuns(nodeId: string, reason: string, opts: { sessionId?: string; notSessionId?: string; startedOnly?: boolean } = {}): Promise<string[]> {
    const where: Prisma.JobRunWhereInput = { nodeId, status: { in: opts.startedOnly ? ['dispatched', 'running'] : [...ACTIVE_RUN] } };
    if (opts.sessionId) where.sessionId = opts.sessionId;
    if (opts.notSessionId) where.AND = [{ sessionId: { not: null } }, { sessionId: { not: opts.notSessionId } }];
    const runs = await this.prisma.jobRun.findMany({ where, select: { id: true, jobId: true } });
    for (const r of runs) {
      await this.enqueue(r.id, async () => {
        await this.failRun(r.id, reason);
        await this.finalizeJob(r.jobId);
      });
    }
    return runs.map((r) => r.id);
  }

  /** Runs of a node waiting to be started. */
  async pendingRunIds(nodeId: string): Promise<string[]> {
    const runs = await this.prisma.jobRun.findMany({ where: { nodeId, status: 'pending' }, select: { id: true } });
    return runs.map((r) => r.id);
  }

  /** Runs still active past their deadline fail; returns the ids of those runs. */
  async expireJob(jobId: string, reason: string): Promise<string[]> {
    const runs = await this.prisma.jobRun.findMany({ where: { jobId, status: { in: [...ACTIVE_RUN] } }, select: { id: true } });
    for (const r of runs) await this.enqueue(r.id, () => this.failRun(r.id, reason));
    await this.finalizeJob(jobId);
    return runs.map((r) => r.id);
  }

  async failRun(runId: string, reason: string): Promise<void> {
    await this.prisma.jobRun.updateMany({
      where: { id: runId, status: { in: [...ACTIVE_RUN] } },
      data: { status: 'failed', reason, finishedAt: new Date() },
    });
  }

  /** Once no run is active, the job takes its end state from its runs. */
  async finalizeJob(jobId: string): Promise<void> {
    const runs = await this.prisma.jobRun.findMany({ where: { jobId }, include: { node: { select: { name: true } } } });
    if (runs.some((r) => (ACTIVE_RUN as readonly string[]).includes(r.status))) return;
    const outcome = jobOutcome(runs.map((r) => ({ status: r.status, reason: r.reason, nodeName: r.node.name })));
    await this.prisma.job.updateMany({
      where: { id: jobId, status: { notIn: [...TERMINAL_JOB] } },
      data: { status: outcome.status, reason: outcome.reason, finishedAt: new Date() },
    });
  }

  /** Waits until every message received so far for the run has been applied. */
  async settled(runId: string): Promise<void> {
    await this.chains.get(runId);
  }

  private enqueue(runId: string, work: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(runId) ?? Promise.resolve();
    const next = prev
      .then(work)
      .catch((err: Error) => this.log.error(`run ${runId}: ${err.stack ?? err.message}`));
    this.chains.set(runId, next);
    void next.then(() => {
      if (this.chains.get(runId) === next) this.chains.delete(runId);
    });
    return next;
  }

  /** The run, if it exists and belongs to this node: an agent may report only on its own runs. */
  private async ownRun(nodeId: string, runId: string): Promise<{ id: string; jobId: string; lastSeq: bigint } | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(runId)) return undefined;
    const run = await this.prisma.jobRun.findUnique({ where: { id: runId }, select: { id: true, jobId: true, nodeId: true, lastSeq: true, status: true } });
    if (!run || run.nodeId !== nodeId) {
      this.log.warn(`node ${nodeId} reported on run ${runId}, which is not its own; ignored`);
      return undefined;
    }
    if (!(ACTIVE_RUN as readonly string[]).includes(run.status)) {
      this.log.warn(`run ${runId} is already ${run.status}; late message ignored`);
      return undefined;
    }
    return run;
  }
}
