import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import type { Request } from 'express';
import { RequireScopesWhen, Token, TokenScopes, type Scope, type TokenIdentity } from '../auth/scopes';
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

  /**
   * Either token (stopping takes nothing away from the capture scope): the runs end now and keep what they
   * captured; the job ends `stopped` with `stoppedBy` once they have. 202 with the job as it is.
   */
  @Post(':id/stop')
  @HttpCode(202)
  @Audit('job.stop', 'job')
  async stop(@Param('id') id: string, @Token() token: TokenIdentity | undefined, @TokenScopes() scopes: Scope[]): Promise<JobView> {
    return jobViewFor(await this.jobs.stop(id, token?.name ?? 'unknown'), scopes);
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
