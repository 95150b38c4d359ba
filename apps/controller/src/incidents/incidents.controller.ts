import { Body, Controller, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import type { Request } from 'express';
import { RequireScopesWhen, TokenScopes, type Scope } from '../auth/scopes';
import { parseTemplates, templatesNeedCapture } from './bundle';
import { CreateIncidentDto, DEFAULT_LEAD_MS } from './dto/create-incident.dto';
import { IncidentProfileQueryDto, PageQueryDto } from './dto/list-query.dto';
import { IncidentsService } from './incidents.service';
import type { IncidentView } from './incident.view';
import { Audit } from '../audit/audit.decorator';

@Controller('incidents')
export class IncidentsController {
  constructor(private readonly incidents: IncidentsService) {}

  @Post()
  @HttpCode(201)
  @RequireScopesWhen(bundleNeedsCapture)
  @Audit('incident.create', 'incident', 'result')
  async create(@Body() dto: CreateIncidentDto, @TokenScopes() scopes: Scope[]): Promise<IncidentView> {
    const templates = await parseTemplates(dto.bundle, 'bundle');
    return this.incidents.create({ name: dto.name, nodes: dto.nodes, templates, leadMs: dto.leadMs ?? DEFAULT_LEAD_MS }, scopes);
  }

  @Get()
  list(@Query() q: PageQueryDto): Promise<{ incidents: IncidentView[]; nextCursor: string | null }> {
    return this.incidents.list(q.limit ?? 20, q.before);
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<IncidentView> {
    return this.incidents.get(id);
  }

  @Get(':id/flamegraph.svg')
  @Header('Content-Type', 'image/svg+xml; charset=utf-8')
  svg(@Param('id') id: string, @Query() q: IncidentProfileQueryDto): Promise<string> {
    return this.incidents.flamegraphSvg(id, q);
  }

  @Get(':id/flamegraph.folded')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  folded(@Param('id') id: string, @Query() q: IncidentProfileQueryDto): Promise<string> {
    return this.incidents.flamegraphFolded(id, q);
  }

  @Get(':id/functions')
  functions(@Param('id') id: string, @Query() q: IncidentProfileQueryDto): ReturnType<IncidentsService['functions']> {
    return this.incidents.functions(id, q);
  }
}

/** A bundle with an ssl-capture template needs the capture token, as POST /jobs does; decided before validation. */
export function bundleNeedsCapture(req: Request): Scope[] {
  const body = req.body as { bundle?: unknown; job?: unknown } | undefined;
  return templatesNeedCapture(body?.bundle, body?.job) ? ['ssl-capture'] : [];
}
