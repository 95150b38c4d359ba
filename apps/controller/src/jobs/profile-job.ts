import { BadRequestException, UnprocessableEntityException } from '@nestjs/common';
import type { JobsService } from './jobs.service';
import type { OriginFilter } from '../profiles/origins';

/** What the profile outputs (flame graph diff, pprof, speedscope) say about the job. */
export interface ProfileJob {
  id: string;
  type: string;
  status: string;
  frequencyHz: number | undefined;
  durationSec: number | undefined;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * The checks every profile output makes, in order: `node` is one node name (400), the job exists (404),
 * it is a cpu-profile or off-cpu job (422), and `hasSamples` finds samples for the node and filter (422
 * saying where none are). Returns the job's facts.
 */
export async function profileJob(
  jobs: JobsService,
  jobId: string,
  node: unknown,
  filter: OriginFilter,
  hasSamples: () => Promise<boolean>,
): Promise<ProfileJob> {
  if (node !== undefined && (typeof node !== 'string' || node === '')) throw new BadRequestException('node must be one node name');
  const job = await jobs.get(jobId);
  if (job.type !== 'cpu-profile' && job.type !== 'off-cpu') {
    throw new UnprocessableEntityException(`job ${jobId} is a ${job.type} job: this output is only for cpu-profile and off-cpu jobs`);
  }
  if (!(await hasSamples())) {
    const where = [node === undefined ? '' : ` on node ${node}`, filter.container ? ` in container ${filter.container}` : '', filter.cgroup ? ` in cgroup ${filter.cgroup}` : ''];
    throw new UnprocessableEntityException(`job ${jobId} has no samples${where.join('')} (status ${job.status})`);
  }
  const p = (job.params ?? {}) as { frequencyHz?: unknown; durationSec?: unknown };
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    frequencyHz: typeof p.frequencyHz === 'number' ? p.frequencyHz : undefined,
    durationSec: typeof p.durationSec === 'number' ? p.durationSec : undefined,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}
