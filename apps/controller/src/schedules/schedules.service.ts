import { BadRequestException, HttpException, Inject, Injectable, Logger, NotFoundException, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import { missingScopes, scopeForbidden, type Scope } from '../auth/scopes';
import { ENV, type ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { JobQueue } from '../queue/job-queue';
import { IncidentsService } from '../incidents/incidents.service';
import { parseTemplates, templatesNeedCapture } from '../incidents/bundle';
import { DEFAULT_LEAD_MS } from '../incidents/dto/create-incident.dto';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { checkCron } from './cron';
import { DEFAULT_KEEP_REPORTS, type CreateScheduleDto } from './dto/create-schedule.dto';
import { ReportsService } from './reports.service';
import { toScheduleView, type ScheduleView } from './schedule.view';
import { UUID_RE } from '../common/ids';

export const SCHEDULER_PREFIX = 'schedule:';
/** A pending report this long past its jobs' deadline is given up, so a lost check cannot stall the schedule. */
const STALE_GRACE_MS = 60_000;

function bad(field: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${field} ${why}`] });
}

const schedulerId = (id: string): string => `${SCHEDULER_PREFIX}${id}`;

/**
 * Schedules: an incident bundle run on a cron pattern or a fixed interval. Each schedule is one BullMQ
 * job scheduler keyed by its id: every replica may upsert it, and BullMQ still makes one job per tick
 * (the tick's job id is derived from the scheduler id and the fire time), which one worker takes.
 */
@Injectable()
export class SchedulesService implements OnModuleInit, OnApplicationBootstrap {
  private readonly log = new Logger(SchedulesService.name);

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly prisma: PrismaService,
    private readonly queue: JobQueue,
    private readonly incidents: IncidentsService,
    private readonly reports: ReportsService,
  ) {}

  onModuleInit(): void {
    this.queue.handle('schedule-tick', ({ scheduleId }) => this.tick(scheduleId));
  }

  /**
   * Brings Redis in line with the database: every schedule has its job scheduler (restored if Redis
   * lost it), and schedulers of deleted schedules go. Schedulers are listed before rows: a schedule is
   * stored before its scheduler, so one created meanwhile by another replica is never mistaken for stale.
   */
  async onApplicationBootstrap(): Promise<void> {
    await this.syncSchedulers(false);
  }

  /**
   * The same, called by the reconciler (schedules/reconcile.service.ts) when Redis comes back and every
   * minute: with `onlyMissing`, schedulers Redis still holds are left as they are (upserting one again
   * would move its next tick). Returns how many were registered.
   */
  async syncSchedulers(onlyMissing: boolean): Promise<number> {
    const inRedis = await this.queue.repeatIds(SCHEDULER_PREFIX);
    const present = new Set(inRedis);
    const rows = await this.prisma.schedule.findMany({ select: { id: true, cron: true, everyMs: true } });
    let registered = 0;
    for (const r of rows) {
      if (onlyMissing && present.has(schedulerId(r.id))) continue;
      await this.register(r);
      registered++;
    }
    const known = new Set(rows.map((r) => schedulerId(r.id)));
    for (const k of inRedis) if (!known.has(k)) await this.queue.unrepeat(k);
    return registered;
  }

  private register(s: { id: string; cron: string | null; everyMs: number | null }): Promise<void> {
    const task = { name: 'schedule-tick' as const, data: { scheduleId: s.id } };
    return s.cron !== null
      ? this.queue.repeat(task, { schedulerId: schedulerId(s.id), cron: s.cron })
      : this.queue.repeat(task, { schedulerId: schedulerId(s.id), everyMs: s.everyMs! });
  }

  async create(dto: CreateScheduleDto, scopes: readonly Scope[]): Promise<ScheduleView> {
    if ((dto.cron === undefined) === (dto.everyMs === undefined)) bad('cron', 'or everyMs: give exactly one (a 5- or 6-field cron pattern, or an interval in ms)');
    const cron = dto.cron !== undefined ? checkCron(dto.cron) : null;
    if ((dto.job === undefined) === (dto.bundle === undefined)) bad('job', 'or bundle: give exactly one (a job body without nodes, or a list of them)');
    const field = dto.job !== undefined ? 'job' : 'bundle';
    const templates = await parseTemplates(dto.job !== undefined ? [dto.job] : dto.bundle, field);
    // The same checks as creating the incident now: fields, scopes, and nodes that can run each job.
    await this.incidents.plan(dto.nodes, templates, scopes, field);
    const bundle = templates.map(stripNodes);
    const row = await this.prisma.schedule.create({
      data: {
        name: dto.name,
        cron,
        everyMs: cron === null ? dto.everyMs : null,
        nodes: dto.nodes as object,
        bundle,
        keepReports: dto.keepReports ?? DEFAULT_KEEP_REPORTS,
        leadMs: dto.leadMs ?? DEFAULT_LEAD_MS,
        sslCapture: templatesNeedCapture(bundle),
      },
    });
    await this.register(row);
    this.log.log(`schedule ${row.id} created: ${cron ?? `every ${row.everyMs} ms`}, ${bundle.length} job(s)`);
    return this.get(row.id);
  }

  async list(): Promise<ScheduleView[]> {
    const rows = await this.prisma.schedule.findMany({ orderBy: { createdAt: 'desc' } });
    return Promise.all(rows.map(async (r) => toScheduleView(r, await this.latest(r.id))));
  }

  async get(id: string): Promise<ScheduleView> {
    const s = await this.row(id);
    return toScheduleView(s, await this.latest(id));
  }

  /**
   * Stops the schedule and deletes it with its reports and the incidents (jobs, results) of its ticks.
   * Runs still going on nodes finish there; what they send after is ignored.
   */
  async remove(id: string, scopes: readonly Scope[]): Promise<{ id: string; deleted: true; reports: number; incidents: number }> {
    const s = await this.row(id);
    // Deleting it deletes what its ssl-capture jobs captured: the same scope as reading that. The flag covers
    // the bundle; the jobs cover ticks of a bundle stored before the flag existed.
    const capture = s.sslCapture || (await this.prisma.job.count({ where: { scheduleId: id, type: 'ssl_capture' }, take: 1 })) > 0;
    const missing = missingScopes(scopes, capture ? ['ssl-capture'] : []);
    if (missing.length > 0) throw scopeForbidden(missing, scopes, `deleting schedule ${id} (it has ssl-capture jobs)`);
    await this.queue.unrepeat(schedulerId(id));
    const [reports, incidents] = await this.prisma.$transaction([
      this.prisma.report.deleteMany({ where: { scheduleId: id } }),
      this.prisma.incident.deleteMany({ where: { scheduleId: id } }),
      this.prisma.schedule.delete({ where: { id } }),
    ]);
    return { id, deleted: true, reports: reports.count, incidents: incidents.count };
  }

  /** One tick: an incident from the bundle and a pending report, built when the incident's jobs end. */
  async tick(id: string): Promise<void> {
    const s = await this.prisma.schedule.findUnique({ where: { id } });
    if (!s) {
      // Deleted while another replica re-registered it: stop the leftover scheduler.
      await this.queue.unrepeat(schedulerId(id));
      return;
    }
    if (await this.previousStillRunning(s.id)) {
      await this.prisma.schedule.update({ where: { id }, data: { skippedTicks: { increment: 1 } } });
      this.log.warn(`schedule ${id}: tick skipped, the previous tick's jobs are still running`);
      return;
    }
    const { ticks: seq } = await this.prisma.schedule.update({ where: { id }, data: { ticks: { increment: 1 }, lastTickAt: new Date() } });
    const report = await this.prisma.report.create({ data: { scheduleId: id, seq } });
    const scopes: Scope[] = s.sslCapture ? ['jobs', 'ssl-capture'] : ['jobs'];
    let templates: CreateJobDto[];
    try {
      templates = await parseTemplates(s.bundle, 'bundle');
      const inc = await this.incidents.create(
        { name: `${s.name ?? `schedule ${id.slice(0, 8)}`} #${seq}`, nodes: s.nodes, templates, leadMs: s.leadMs, scheduleId: id },
        scopes,
      );
      await this.prisma.report.update({ where: { id: report.id }, data: { incidentId: inc.id } });
      const longest = Math.max(...inc.jobs.map((j) => j.durationSec));
      await this.reports.watch(report.id, Date.parse(inc.startAt) - Date.now() + longest * 1000 + 500);
    } catch (err) {
      // No node matches now, a pid is gone...: this tick's report says why; the schedule goes on.
      const reason = err instanceof HttpException ? messageOf(err) : (err as Error).message;
      await this.prisma.report.update({ where: { id: report.id }, data: { status: 'failed', reason: `tick #${seq}: ${reason}`, finishedAt: new Date() } });
      this.log.warn(`schedule ${id}: tick #${seq} failed: ${reason}`);
      if (!(err instanceof HttpException)) throw err;
    }
  }

  /** Whether the last tick's report still waits for its jobs (a report stuck past every deadline is given up). */
  private async previousStillRunning(scheduleId: string): Promise<boolean> {
    const pending = await this.prisma.report.findFirst({ where: { scheduleId, status: 'pending' }, orderBy: { seq: 'desc' }, include: { incident: { include: { jobs: { select: { durationSec: true } } } } } });
    if (!pending) return false;
    // Its own check chain keeps running; this only catches up in case that chain was lost.
    if (await this.reports.check(pending.id, false)) return false;
    const longest = Math.max(0, ...(pending.incident?.jobs.map((j) => j.durationSec) ?? [0]));
    // Past the jobs' own deadline (duration + dispatch allowance + result grace) every run has ended one way or another.
    const deadlineMs = (longest + 10 + this.env.resultGraceSec) * 1000 + STALE_GRACE_MS;
    if (Date.now() - pending.createdAt.getTime() < deadlineMs) return true;
    await this.prisma.report.updateMany({ where: { id: pending.id, status: 'pending' }, data: { status: 'failed', reason: 'its jobs did not end in time', finishedAt: new Date() } });
    return false;
  }

  private async latest(scheduleId: string) {
    return this.prisma.report.findFirst({ where: { scheduleId }, orderBy: { seq: 'desc' }, select: { id: true, seq: true, status: true, createdAt: true } });
  }

  private async row(id: string) {
    const s = UUID_RE.test(id) ? await this.prisma.schedule.findUnique({ where: { id } }) : null;
    if (!s) throw new NotFoundException(`schedule ${id} not found`);
    return s;
  }
}

function stripNodes(t: CreateJobDto): object {
  const { nodes: _nodes, ...rest } = t;
  return JSON.parse(JSON.stringify(rest)) as object;
}

function messageOf(err: HttpException): string {
  const res = err.getResponse() as { message?: unknown };
  return Array.isArray(res?.message) ? res.message.join('; ') : String(res?.message ?? err.message);
}
