import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import type { Request } from 'express';
import { RequireScopesWhen, TokenScopes, type Scope } from '../auth/scopes';
import { CreateJobDto } from './dto/create-job.dto';
import { JobsService } from './jobs.service';
import type { JobView } from './job.view';

@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  @HttpCode(201)
  @RequireScopesWhen(sslCaptureNeedsScope)
  create(@Body() dto: CreateJobDto, @TokenScopes() scopes: Scope[]): Promise<JobView> {
    return this.jobs.create(dto, scopes);
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<JobView> {
    return this.jobs.get(id);
  }
}

/** Creating an ssl-capture job (TLS plaintext) needs the capture token; decided before validation so a 403 never leaks field rules. */
export function sslCaptureNeedsScope(req: Request): Scope[] {
  const body = req.body as { type?: unknown } | undefined;
  return body?.type === 'ssl-capture' ? ['ssl-capture'] : [];
}
