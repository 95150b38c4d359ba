import { BadRequestException, Injectable, UnprocessableEntityException } from '@nestjs/common';
import { JobsService } from './jobs.service';
import { ProfilesService } from '../profiles/profiles.service';
import type { LabelledStack } from '../profiles/profiles.service';
import { encodePprofGzip } from '../profiles/pprof/pprof';
import { toSpeedscope, type SpeedscopeFile } from '../profiles/speedscope/speedscope';
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

/** Profile outputs for other tools: pprof and speedscope files of CPU profile jobs. */
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

  /** Gzipped pprof protobuf; samples carry a node label. */
  async pprof(jobId: string, node?: string, filter: OriginFilter = {}): Promise<Buffer> {
    const prof = await this.cpuProfile(jobId, node, filter);
    const start = prof.startedAt === null ? undefined : Date.parse(prof.startedAt);
    const end = prof.finishedAt === null ? undefined : Date.parse(prof.finishedAt);
    const durationMs = start !== undefined && end !== undefined && end >= start ? end - start : prof.durationSec !== undefined ? prof.durationSec * 1000 : undefined;
    return encodePprofGzip({
      nodes: prof.nodes,
      // Without a frequency (older jobs), the profile has sample counts only.
      frequencyHz: prof.frequencyHz,
      ...(prof.type === 'off-cpu' ? { countType: { type: 'off_cpu', unit: 'microseconds' } } : {}),
      timeNanos: start === undefined || Number.isNaN(start) ? undefined : BigInt(start) * 1_000_000n,
      durationNanos: durationMs === undefined || Number.isNaN(durationMs) ? undefined : BigInt(Math.round(durationMs)) * 1_000_000n,
      comments: [
        `tracefleet ${prof.type} job ${prof.id} (${prof.status})`,
        `nodes: ${prof.nodes.map((n) => n.node).join(', ')}`,
      ],
    });
  }

  /** speedscope JSON: one profile per node, preceded by all nodes merged when there are several. */
  async speedscope(jobId: string, node?: string, filter: OriginFilter = {}): Promise<SpeedscopeFile> {
    const prof = await this.cpuProfile(jobId, node, filter);
    const hz = prof.frequencyHz === undefined ? '' : ` · ${prof.frequencyHz} Hz`;
    const unit = prof.type === 'off-cpu' ? 'microseconds' : 'none';
    return toSpeedscope({ name: `tracefleet ${prof.type} ${prof.id.slice(0, 8)}${hz}`, nodes: prof.nodes, merged: node === undefined, unit });
  }
}
