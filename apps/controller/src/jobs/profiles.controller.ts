import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { JobsService } from './jobs.service';
import { ProfileStreamsService } from './profile-streams.service';
import { ScopeByTarget, TokenScopes, missingScopes, scopeForbidden, type Scope } from '../auth/scopes';
import type { JobView } from './job.view';
import { jobTypeDef } from '../job-types/registry';
import { originQuery } from '../profiles/origins';

/** The query of every stack output: one node, and the samples of one container or cgroup (origins.ts). */
interface StacksQuery {
  node?: string;
  container?: string;
  cgroup?: string;
  groupBy?: string;
}

const SSL_STACKS = 'the job is ssl-capture (its stacks are stacks of captured TLS calls)';

/** The stacks of an ssl-capture job come from its captured events: the same scope as reading them. */
function checkStacksScope(job: JobView, scopes: readonly Scope[]): void {
  const scope = jobTypeDef(job.type)?.scope;
  const missing = missingScopes(scopes, scope ? [scope] : []);
  if (missing.length > 0) throw scopeForbidden(missing, scopes, `the stacks of ${job.type} job ${job.id}`);
}

@Controller('jobs/:id')
export class ProfilesController {
  constructor(
    private readonly jobs: JobsService,
    private readonly streams: ProfileStreamsService,
  ) {}

  @Get('flamegraph.svg')
  @ScopeByTarget('ssl-capture', SSL_STACKS)
  async svg(@Param('id') id: string, @TokenScopes() scopes: Scope[], @Res() res: Response, @Query() q: StacksQuery = {}): Promise<void> {
    const { filter, groupBy } = originQuery(q);
    const job = await this.jobs.get(id);
    checkStacksScope(job, scopes);
    await this.streams.svg(res, job, q.node, filter, groupBy);
  }

  @Get('flamegraph.folded')
  @ScopeByTarget('ssl-capture', SSL_STACKS)
  async folded(@Param('id') id: string, @TokenScopes() scopes: Scope[], @Res() res: Response, @Query() q: StacksQuery = {}): Promise<void> {
    const { filter, groupBy } = originQuery(q);
    checkStacksScope(await this.jobs.get(id), scopes);
    await this.streams.folded(res, id, q.node, filter, groupBy);
  }

  @Get('profile.pprof')
  async pprof(@Param('id') id: string, @Res() res: Response, @Query() q: StacksQuery = {}): Promise<void> {
    await this.streams.pprof(res, id, q.node, originQuery(q).filter);
  }

  @Get('profile.speedscope.json')
  async speedscope(@Param('id') id: string, @Res() res: Response, @Query() q: StacksQuery = {}): Promise<void> {
    await this.streams.speedscope(res, id, q.node, originQuery(q).filter);
  }
}
