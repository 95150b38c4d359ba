import { Injectable, Logger, NotFoundException, UnprocessableEntityException, type OnModuleInit } from '@nestjs/common';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PrismaService } from '../prisma/prisma.service';
import { JobQueue } from '../queue/job-queue';
import { parseFolded, renderFlameGraphSvg, toFolded, type StackCount } from '../profiles/flamegraph/flamegraph';
import { diffFrameStyle } from '../profiles/flamegraph/diff';
import { TERMINAL_JOB } from '../common/run-status';
import { IncidentsService } from '../incidents/incidents.service';
import { incidentStatus } from '../incidents/incident.view';
import { IncidentReader } from '../incidents/incident-reader';
import { topFunctions } from '../profiles/top-functions';
import { reportDiff } from './report-diff';
import { toReportSummary, toReportView, type ReportSummary, type ReportView } from './report.view';
import { ReportRetentionService } from './report-retention.service';
import { UUID_RE } from '../common/ids';

/** Functions kept in a report, by self and by total samples. */
export const REPORT_TOP_N = 20;
/** How often a report whose jobs are still running is looked at again. */
const RECHECK_MS = 500;

/**
 * A schedule tick's report: once every job of the tick's incident has ended, the merged cpu-profile
 * becomes the report (top functions, gzipped folded stacks, the function-level diff against the
 * previous report), so it stays readable after the jobs' own rows are gone.
 */
@Injectable()
export class ReportsService implements OnModuleInit {
  private readonly log = new Logger(ReportsService.name);

  constructor(
    private readonly prisma: PrismaService,
    private readonly queue: JobQueue,
    private readonly incidents: IncidentsService,
    private readonly read: IncidentReader,
    private readonly retention: ReportRetentionService,
  ) {}

  onModuleInit(): void {
    this.queue.handle('report-check', async ({ reportId }) => {
      await this.check(reportId);
    });
  }

  /** Looks at the report after `delayMs` (and then every RECHECK_MS until its jobs have ended). */
  async watch(reportId: string, delayMs: number): Promise<void> {
    await this.queue.enqueue({ name: 'report-check', data: { reportId } }, { jobId: `report-check-${reportId}-${Date.now()}`, delayMs: Math.max(0, delayMs) });
  }

  /** Builds the report if its incident is over, else (with `recheck`) looks again later. Returns whether it is done. */
  async check(reportId: string, recheck = true): Promise<boolean> {
    const report = await this.prisma.report.findUnique({ where: { id: reportId }, include: { incident: { include: { jobs: { select: { status: true, reason: true } } } } } });
    if (!report || report.status !== 'pending') return true;
    if (!report.incident) {
      await this.finish(reportId, { status: 'failed', reason: 'the tick created no incident' });
      return true;
    }
    if (report.incident.jobs.some((j) => !(TERMINAL_JOB as readonly string[]).includes(j.status))) {
      if (recheck) await this.watch(reportId, RECHECK_MS);
      return false;
    }
    await this.build(report.id, report.scheduleId, report.seq, report.incident.id);
    return true;
  }

  private async build(reportId: string, scheduleId: string, seq: number, incidentId: string): Promise<void> {
    const inc = await this.incidents.get(incidentId);
    const status = incidentStatus(inc.jobs);
    const reason = inc.jobs.filter((j) => j.reason).map((j) => `${j.type} ${j.id.slice(0, 8)}: ${j.reason}`).join('; ') || null;
    if (status === 'failed') {
      await this.finish(reportId, { status: 'failed', reason: reason ?? 'every job failed' });
      return;
    }
    // Stacks of cpu-profile jobs (samples), else of off-cpu jobs (blocked µs): never the two summed together.
    const stacksOf = inc.jobs.some((j) => j.type === 'cpu-profile') ? 'cpu_profile' : inc.jobs.some((j) => j.type === 'off-cpu') ? 'off_cpu' : undefined;
    if (!stacksOf) {
      await this.finish(reportId, { status: 'ready', reason });
      return;
    }
    // The merged stacks and the totals per node, read in one snapshot through the read pool's cursors
    // (incidents/incident-reader.ts): a tick over thousands of nodes never holds their rows.
    const p = await this.incidents.profileJobs(incidentId, {}, stacksOf);
    let b: { merged: StackCount[]; total: bigint; nodeTotals: Record<string, bigint> };
    try {
      b = await this.read.reader.snapshot(async (client) => {
        const trie = await this.read.trie(p, undefined, client);
        return { merged: trie.stacks(), total: trie.total, nodeTotals: await this.read.nodeTotals(p, client) };
      });
    } catch (err) {
      // Past what one read holds (TooManyPathsError, a node's stack cap): the report says so rather than retry.
      if (!(err instanceof UnprocessableEntityException)) throw err;
      await this.finish(reportId, { status: 'failed', reason: err.message });
      return;
    }
    const base = await this.prisma.report.findFirst({
      where: { scheduleId, seq: { lt: seq }, status: 'ready', folded: { not: null } },
      orderBy: { seq: 'desc' },
      select: { id: true, seq: true, folded: true },
    });
    const diff = base ? { baseReportId: base.id, baseSeq: base.seq, ...reportDiff(unpack(base.folded!), b.merged, 10) } : null;
    await this.finish(reportId, {
      status: 'ready',
      reason,
      totalSamples: b.total,
      nodeTotals: Object.fromEntries(Object.entries(b.nodeTotals).map(([n, c]) => [n, Number(c)])),
      topFunctions: topFunctions(b.merged, REPORT_TOP_N) as unknown as object,
      diff: diff as unknown as object,
      baseReportId: base?.id ?? null,
      folded: new Uint8Array(gzipSync(toFolded(b.merged))),
    });
    this.log.log(`schedule ${scheduleId}: report #${seq} ready (${b.total} samples${base ? `, compared with #${base.seq}` : ''})`);
    await this.retention.trim(scheduleId);
  }

  private async finish(reportId: string, data: Parameters<PrismaService['report']['update']>[0]['data']): Promise<void> {
    await this.prisma.report.updateMany({ where: { id: reportId, status: 'pending' }, data: { ...data, finishedAt: new Date() } as never });
  }

  /** Newest first; `before` is a report's seq. */
  async list(scheduleId: string, limit = 20, before?: string): Promise<{ reports: (ReportSummary & { top: unknown })[]; nextCursor: string | null }> {
    await this.schedule(scheduleId);
    let beforeSeq: number | undefined;
    if (before !== undefined) {
      beforeSeq = Number(before);
      if (!Number.isInteger(beforeSeq) || beforeSeq < 1) throw new UnprocessableEntityException('before must be a report seq (a positive integer, the nextCursor of the previous page)');
    }
    const rows = await this.prisma.report.findMany({
      where: { scheduleId, ...(beforeSeq !== undefined ? { seq: { lt: beforeSeq } } : {}) },
      orderBy: { seq: 'desc' },
      take: limit,
    });
    return {
      reports: rows.map((r) => ({ ...toReportSummary(r), top: (r.topFunctions as { bySelf?: unknown[] } | null)?.bySelf?.slice(0, 5) ?? [] })),
      nextCursor: rows.length === limit ? String(rows[rows.length - 1].seq) : null,
    };
  }

  async get(scheduleId: string, reportId: string): Promise<ReportView> {
    return toReportView(await this.row(scheduleId, reportId));
  }

  async folded(scheduleId: string, reportId: string): Promise<string> {
    return toFolded(await this.stacks(scheduleId, reportId));
  }

  async flamegraphSvg(scheduleId: string, reportId: string): Promise<string> {
    const r = await this.row(scheduleId, reportId);
    const stacks = this.stacksOf(r);
    return renderFlameGraphSvg(stacks, {
      title: `CPU profile · schedule ${scheduleId.slice(0, 8)} · report #${r.seq}`,
      subtitle: `${Object.keys((r.nodeTotals as object | null) ?? {}).length} node(s) merged · ${Number(r.totalSamples).toLocaleString('en-US')} samples · ${r.createdAt.toISOString()}`,
    });
  }

  /** This report's flame graph coloured by the change since the base report (red grew, blue shrank). */
  async diffSvg(scheduleId: string, reportId: string): Promise<string> {
    const r = await this.row(scheduleId, reportId);
    const target = this.stacksOf(r);
    if (!r.baseReportId) {
      throw new UnprocessableEntityException(`report #${r.seq} has no previous report to compare with (it is the first with a profile, or the previous one was deleted by retention)`);
    }
    const base = await this.row(scheduleId, r.baseReportId);
    const style = diffFrameStyle(this.stacksOf(base), target);
    return renderFlameGraphSvg(target, {
      title: `Differential CPU profile · schedule ${scheduleId.slice(0, 8)} · report #${base.seq} → #${r.seq}`,
      subtitle:
        `base ${style.baseTotal.toLocaleString('en-US')} samples · target ${style.targetTotal.toLocaleString('en-US')} samples · ` +
        'width: target · red: share grew, blue: share shrank',
      frameStyle: style.frameStyle,
    });
  }

  private async stacks(scheduleId: string, reportId: string): Promise<StackCount[]> {
    return this.stacksOf(await this.row(scheduleId, reportId));
  }

  private stacksOf(r: { seq: number; status: string; folded: Uint8Array | null }): StackCount[] {
    if (!r.folded) throw new UnprocessableEntityException(`report #${r.seq} has no profile (status ${r.status}; only cpu-profile jobs make one)`);
    return unpack(r.folded);
  }

  private async schedule(id: string): Promise<void> {
    if (!UUID_RE.test(id) || !(await this.prisma.schedule.findUnique({ where: { id }, select: { id: true } }))) throw new NotFoundException(`schedule ${id} not found`);
  }

  private async row(scheduleId: string, reportId: string) {
    await this.schedule(scheduleId);
    const r = UUID_RE.test(reportId) ? await this.prisma.report.findUnique({ where: { id: reportId } }) : null;
    if (!r || r.scheduleId !== scheduleId) throw new NotFoundException(`schedule ${scheduleId} has no report ${reportId}`);
    return r;
  }
}

function unpack(folded: Uint8Array): StackCount[] {
  return parseFolded(gunzipSync(folded).toString('utf8'));
}
