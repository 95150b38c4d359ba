import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { RequireScopesWhen, TokenScopes, type Scope } from '../auth/scopes';
import { parseTemplates, templatesNeedCapture } from './bundle';
import { CreateIncidentDto, DEFAULT_LEAD_MS } from './dto/create-incident.dto';
import { IncidentProfileQueryDto, PageQueryDto } from './dto/list-query.dto';
import { IncidentsService } from './incidents.service';
import { IncidentOutputsService } from './incident-outputs.service';
import type { IncidentView } from './incident.view';
import { Audit } from '../audit/audit.decorator';

@Controller('incidents')
export class IncidentsController {
  constructor(
    private readonly incidents: IncidentsService,
    private readonly outputs: IncidentOutputsService,
  ) {}

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
  svg(@Param('id') id: string, @Query() q: IncidentProfileQueryDto, @Res() res: Response): Promise<void> {
    return this.outputs.svg(res, id, q);
  }

  @Get(':id/flamegraph.folded')
  folded(@Param('id') id: string, @Query() q: IncidentProfileQueryDto, @Res() res: Response): Promise<void> {
    return this.outputs.folded(res, id, q);
  }

  @Get(':id/functions')
  functions(@Param('id') id: string, @Query() q: IncidentProfileQueryDto, @Res() res: Response): Promise<void> {
    return this.outputs.functions(res, id, q);
  }
}

/** A bundle with an ssl-capture template needs the capture token, as POST /jobs does; decided before validation. */
export function bundleNeedsCapture(req: Request): Scope[] {
  const body = req.body as { bundle?: unknown; job?: unknown } | undefined;
  return templatesNeedCapture(body?.bundle, body?.job) ? ['ssl-capture'] : [];
}
