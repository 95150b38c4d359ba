import { Body, Controller, Delete, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { RequireScopesWhen, TokenScopes, type Scope } from '../auth/scopes';
import { bundleNeedsCapture } from '../incidents/incidents.controller';
import { PageQueryDto } from '../incidents/dto/list-query.dto';
import { CreateScheduleDto } from './dto/create-schedule.dto';
import { SchedulesService } from './schedules.service';
import { ReportsService } from './reports.service';
import type { ScheduleView } from './schedule.view';
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
  create(@Body() dto: CreateScheduleDto, @TokenScopes() scopes: Scope[]): Promise<ScheduleView> {
    return this.schedules.create(dto, scopes);
  }

  @Get()
  list(): Promise<ScheduleView[]> {
    return this.schedules.list();
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<ScheduleView> {
    return this.schedules.get(id);
  }

  @Delete(':id')
  remove(@Param('id') id: string): ReturnType<SchedulesService['remove']> {
    return this.schedules.remove(id);
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
