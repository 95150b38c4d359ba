import { Body, Controller, Delete, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { RequireScopesWhen, ScopeByTarget, TokenScopes, type Scope } from '../auth/scopes';
import { bundleNeedsCapture } from '../incidents/incidents.controller';
import { PageQueryDto } from '../incidents/dto/list-query.dto';
import { CreateScheduleDto } from './dto/create-schedule.dto';
import { SchedulesService } from './schedules.service';
import { ReportsService } from './reports.service';
import { scheduleViewFor, type ScheduleView } from './schedule.view';
import { Audit } from '../audit/audit.decorator';
import type { ReportView } from './report.view';

@Controller('schedules')
export class SchedulesController {
  constructor(
    private readonly schedules: SchedulesService,
    private readonly reports: ReportsService,
  ) {}

  @Post()
  @HttpCode(201)
  @RequireScopesWhen(bundleNeedsCapture)
  @Audit('schedule.create', 'schedule', 'result')
  async create(@Body() dto: CreateScheduleDto, @TokenScopes() scopes: Scope[]): Promise<ScheduleView> {
    return scheduleViewFor(await this.schedules.create(dto, scopes), scopes);
  }

  /** The bundles' `redactPatterns` only with the ssl-capture scope (else `redactPatternsHidden`). */
  @Get()
  async list(@TokenScopes() scopes: Scope[]): Promise<ScheduleView[]> {
    return (await this.schedules.list()).map((v) => scheduleViewFor(v, scopes));
  }

  @Get(':id')
  async get(@Param('id') id: string, @TokenScopes() scopes: Scope[]): Promise<ScheduleView> {
    return scheduleViewFor(await this.schedules.get(id), scopes);
  }

  /** A schedule with ssl-capture jobs (now or in its past ticks) needs the ssl-capture scope to delete: it deletes captured plaintext. */
  @Delete(':id')
  @Audit('schedule.delete', 'schedule')
  @ScopeByTarget('ssl-capture', 'the schedule has an ssl-capture job, or one of its ticks produced ssl-capture data')
  remove(@Param('id') id: string, @TokenScopes() scopes: Scope[]): ReturnType<SchedulesService['remove']> {
    return this.schedules.remove(id, scopes);
  }

  @Get(':id/reports')
  listReports(@Param('id') id: string, @Query() q: PageQueryDto): ReturnType<ReportsService['list']> {
    return this.reports.list(id, q.limit ?? 20, q.before);
  }

  @Get(':id/reports/:reportId')
  report(@Param('id') id: string, @Param('reportId') reportId: string): Promise<ReportView> {
    return this.reports.get(id, reportId);
  }

  @Get(':id/reports/:reportId/flamegraph.svg')
  @Header('Content-Type', 'image/svg+xml; charset=utf-8')
  svg(@Param('id') id: string, @Param('reportId') reportId: string): Promise<string> {
    return this.reports.flamegraphSvg(id, reportId);
  }

  @Get(':id/reports/:reportId/flamegraph.folded')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  folded(@Param('id') id: string, @Param('reportId') reportId: string): Promise<string> {
    return this.reports.folded(id, reportId);
  }

  @Get(':id/reports/:reportId/diff.svg')
  @Header('Content-Type', 'image/svg+xml; charset=utf-8')
  diff(@Param('id') id: string, @Param('reportId') reportId: string): Promise<string> {
    return this.reports.diffSvg(id, reportId);
  }
}
