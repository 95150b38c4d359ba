import { BadRequestException, Injectable, UnprocessableEntityException } from '@nestjs/common';
import { JobsService } from './jobs.service';
import { ProfilesService } from '../profiles/profiles.service';
import type { LabelledStack } from '../profiles/profiles.service';
import type { OriginFilter } from '../profiles/origins';

/** A CPU profile job's stored samples (or an off-cpu job's blocked µs), checked to exist. */
export interface CpuProfile {
  id: string;
  type: string;
  status: string;
  frequencyHz: number | undefined;
  durationSec: number | undefined;
  startedAt: string | null;
  finishedAt: string | null;
  /** Nodes with samples, by name (only the asked-for node with `?node=`). */
  nodes: { node: string; stacks: LabelledStack[] }[];
  total: bigint;
}

/**
 * A CPU profile job's stacks loaded whole, per node, for what compares two of them (diff). The pprof and
 * speedscope routes stream instead (profile-streams.service.ts).
 */
@Injectable()
export class ProfileExportsService {
  constructor(
    private readonly profiles: ProfilesService,
    private readonly jobs: JobsService,
  ) {}

  /**
   * Loads a CPU profile job's samples. Unknown job or node → 404; another job type, or no
   * samples (yet) → 422 saying which.
   */
  async cpuProfile(jobId: string, node?: string, filter: OriginFilter = {}): Promise<CpuProfile> {
    if (node !== undefined && (typeof node !== 'string' || node === '')) throw new BadRequestException('node must be one node name');
    const job = await this.jobs.get(jobId);
    if (job.type !== 'cpu-profile' && job.type !== 'off-cpu') {
      throw new UnprocessableEntityException(`job ${jobId} is a ${job.type} job: this output is only for cpu-profile and off-cpu jobs`);
    }
    const nodes = await this.profiles.stacksByNode(jobId, node, filter);
    const total = nodes.reduce((a, n) => n.stacks.reduce((b, s) => b + BigInt(s.count), a), 0n);
    if (total === 0n) {
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
      nodes,
      total,
    };
  }
}
