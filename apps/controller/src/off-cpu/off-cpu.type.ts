import { BadRequestException } from '@nestjs/common';
import type { StartRun } from '@tracefleet/proto';
import type { JobRequest } from '../common/job-request';
import { flameGraphLinks } from '../profiles/flamegraph/links';
import { MAX_MIN_BLOCK_US, OffCpuFields } from './off-cpu.dto';
import { OFF_CPU_OPENAPI } from './off-cpu.openapi';

/** libbpf-tools offcputime's default: every block of 1 µs or more. */
export const DEFAULT_MIN_BLOCK_US = 1;

export interface OffCpuParams {
  minBlockUs: number;
  kernelStacks: boolean;
  /** 0: off-CPU time only. */
  wallClockHz: number;
}

function bad(field: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${field} ${why}`] });
}

/**
 * The off-cpu job type: time the target's threads spend blocked off the CPU, by user and kernel stack. Its
 * results are profile batches whose counts are blocked microseconds (runs/, profiles/), so it has no store or
 * read route of its own: the flame graph, folded, pprof, speedscope and diff routes serve it, weighted by time.
 */
export const OFF_CPU = {
  name: 'off-cpu',
  fields: ['minBlockUs', 'kernelStacks', 'wallClockHz'] as const,
  dto: OffCpuFields,

  docs: {
    description:
      'Time blocked off-CPU by stack (tp_btf sched_switch, as libbpf-tools offcputime): a thread that goes off the CPU blocked (not preempted) ' +
      'is counted from then until it runs again, under its user stack (unwound with .eh_frame) and kernel stack. Stack counts are microseconds. ' +
      'Outputs: flame graph, folded, pprof, speedscope, diff, merged across nodes and per node.',
    openapi: OFF_CPU_OPENAPI,
    fields: {
      minBlockUs: { description: 'Blocks shorter than this many microseconds are not counted.', default: DEFAULT_MIN_BLOCK_US },
      kernelStacks: { description: 'Take each block\'s kernel stack too (above the user frames in the flame graph).', default: true },
      wallClockHz: {
        description:
          'The wall-clock view: also sample the target\'s threads on the CPU at this rate per CPU (software CPU clock), each sample counted as ' +
          '1e6/wallClockHz µs; stacks then start with the process, the thread (`tid N`) and `on-CPU` or `off-CPU`, so a thread\'s total is its wall time. 0: off.',
        default: 0,
      },
    },
  },

  /** Checked again here, for a caller that did not go through the DTO. */
  params(body: JobRequest<{ minBlockUs?: unknown; kernelStacks?: unknown; wallClockHz?: unknown }>): OffCpuParams {
    const minBlockUs = body.minBlockUs ?? DEFAULT_MIN_BLOCK_US;
    if (typeof minBlockUs !== 'number' || !Number.isInteger(minBlockUs) || minBlockUs < 1 || minBlockUs > MAX_MIN_BLOCK_US) {
      bad('minBlockUs', `must be an integer in [1, ${MAX_MIN_BLOCK_US}]`);
    }
    const kernelStacks = body.kernelStacks ?? true;
    if (typeof kernelStacks !== 'boolean') bad('kernelStacks', 'must be a boolean value');
    const wallClockHz = body.wallClockHz ?? 0;
    if (typeof wallClockHz !== 'number' || !Number.isInteger(wallClockHz) || wallClockHz < 0 || wallClockHz > 1000) bad('wallClockHz', 'must be an integer in [0, 1000]');
    return { minBlockUs, kernelStacks, wallClockHz };
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
    const p = params as unknown as OffCpuParams;
    return { $case: 'offCpu', value: { minBlockUs: BigInt(p.minBlockUs), skipKernelStacks: !p.kernelStacks, maxTasks: 0, wallClockHz: p.wallClockHz ?? 0 } };
  },

  flameGraph: (job: { id: string; status: string; params: { durationSec?: number; minBlockUs?: number; wallClockHz?: number } }, where: string, total: bigint) => {
    const hz = job.params.wallClockHz ?? 0;
    const what = hz > 0 ? `µs off-CPU (blocks ≥ ${job.params.minBlockUs ?? DEFAULT_MIN_BLOCK_US} µs) and on-CPU (sampled at ${hz} Hz)` : `µs blocked (blocks ≥ ${job.params.minBlockUs ?? DEFAULT_MIN_BLOCK_US} µs)`;
    return {
      title: `${hz > 0 ? 'Wall-clock time' : 'Off-CPU time'} · job ${job.id.slice(0, 8)}`,
      subtitle: `${where} · ${total.toLocaleString('en-US')} ${what} · ${job.params.durationSec ?? '?'} s · ${job.status}`,
      countName: 'µs',
    };
  },

  links: (base: string): Record<string, string> => flameGraphLinks(base),
};
