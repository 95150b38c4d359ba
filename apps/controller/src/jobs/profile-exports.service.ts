import { Injectable } from '@nestjs/common';
import { JobsService } from './jobs.service';
import { ProfilesService } from '../profiles/profiles.service';
import type { LabelledStack } from '../profiles/profiles.service';
import type { OriginFilter } from '../profiles/origins';
import { profileJob, type ProfileJob } from './profile-job';

/** A CPU profile job's stored samples (or an off-cpu job's blocked µs), checked to exist. */
export interface CpuProfile extends ProfileJob {
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
    let nodes: CpuProfile['nodes'] = [];
    let total = 0n;
    const job = await profileJob(this.jobs, jobId, node, filter, async () => {
      nodes = await this.profiles.stacksByNode(jobId, node, filter);
      total = nodes.reduce((a, n) => n.stacks.reduce((b, s) => b + BigInt(s.count), a), 0n);
      return total > 0n;
    });
    return { ...job, nodes, total };
  }
}
