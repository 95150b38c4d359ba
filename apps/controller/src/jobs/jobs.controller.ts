import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import type { Request } from 'express';
import { RequireScopesWhen, TokenScopes, type Scope } from '../auth/scopes';
import { CreateJobDto } from './dto/create-job.dto';
import { JobsService } from './jobs.service';
import { jobViewFor, type JobView } from './job.view';
import { Audit } from '../audit/audit.decorator';
import { jobTypeDef } from '../job-types/registry';

@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  @HttpCode(201)
  @RequireScopesWhen(sslCaptureNeedsScope)
  @Audit('job.create', 'job', 'result')
  async create(@Body() dto: CreateJobDto, @TokenScopes() scopes: Scope[]): Promise<JobView> {
    return jobViewFor(await this.jobs.create(dto, scopes), scopes);
  }

  /** Either token; `params.redactPatterns` only with the ssl-capture scope (else `redactPatternsHidden`: how many). */
  @Get(':id')
  async get(@Param('id') id: string, @TokenScopes() scopes: Scope[]): Promise<JobView> {
    return jobViewFor(await this.jobs.get(id), scopes);
  }
}

/**
 * Creating a job of a type with a scope (ssl-capture: TLS plaintext) needs that scope; decided before
 * validation so a 403 never leaks field rules.
 */
export function sslCaptureNeedsScope(req: Request): Scope[] {
  const body = req.body as { type?: unknown } | undefined;
  const scope = typeof body?.type === 'string' ? jobTypeDef(body.type)?.scope : undefined;
  return scope ? [scope] : [];
}
