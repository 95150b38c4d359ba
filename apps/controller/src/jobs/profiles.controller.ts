import { Controller, Get, Header, Param, Query, StreamableFile } from '@nestjs/common';
import { JobsService } from './jobs.service';
import { ProfilesService } from '../profiles/profiles.service';
import { ProfileExportsService } from './profile-exports.service';
import type { SpeedscopeFile } from '../profiles/speedscope/speedscope';
import { renderFlameGraphSvg, toFolded } from '../profiles/flamegraph/flamegraph';
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
    private readonly profiles: ProfilesService,
    private readonly jobs: JobsService,
    private readonly exports: ProfileExportsService,
  ) {}

  @Get('flamegraph.svg')
  @Header('Content-Type', 'image/svg+xml; charset=utf-8')
  @ScopeByTarget('ssl-capture', SSL_STACKS)
  async svg(@Param('id') id: string, @TokenScopes() scopes: Scope[], @Query() q: StacksQuery = {}): Promise<string> {
    const { node } = q;
    const { filter, groupBy } = originQuery(q);
    const job = await this.jobs.get(id);
    checkStacksScope(job, scopes);
    const stacks = await this.profiles.stacks(id, node, filter, groupBy);
    const p = job.params as { frequencyHz?: number; durationSec?: number };
    const total = stacks.reduce((a, s) => a + BigInt(s.count), 0n);
    const where = node ?? (job.runs.length === 1 ? job.runs[0].node : `${job.runs.length} nodes`);
    const titles = jobTypeDef(job.type)?.flameGraph?.({ id, status: job.status, params: p }, where, total);
    if (titles) return renderFlameGraphSvg(stacks, titles);
    return renderFlameGraphSvg(stacks, {
      title: `CPU profile · job ${id.slice(0, 8)}`,
      subtitle: `${where} · ${total.toLocaleString('en-US')} samples · ${p.frequencyHz ?? '?'} Hz · ${p.durationSec ?? '?'} s · ${job.status}`,
    });
  }

  @Get('flamegraph.folded')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ScopeByTarget('ssl-capture', SSL_STACKS)
  async folded(@Param('id') id: string, @TokenScopes() scopes: Scope[], @Query() q: StacksQuery = {}): Promise<string> {
    const { filter, groupBy } = originQuery(q);
    checkStacksScope(await this.jobs.get(id), scopes);
    return toFolded(await this.profiles.stacks(id, q.node, filter, groupBy));
  }

  @Get('profile.pprof')
  async pprof(@Param('id') id: string, @Query() q: StacksQuery = {}): Promise<StreamableFile> {
    const { node } = q;
    const gz = await this.exports.pprof(id, node, originQuery(q).filter);
    const name = `tracefleet-${id.slice(0, 8)}${node === undefined ? '' : `-${node.replace(/[^A-Za-z0-9._-]/g, '_')}`}.pb.gz`;
    return new StreamableFile(gz, { type: 'application/octet-stream', disposition: `attachment; filename="${name}"` });
  }

  @Get('profile.speedscope.json')
  async speedscope(@Param('id') id: string, @Query() q: StacksQuery = {}): Promise<SpeedscopeFile> {
    return this.exports.speedscope(id, q.node, originQuery(q).filter);
  }
}
