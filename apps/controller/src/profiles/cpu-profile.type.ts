import type { StartRun } from '@tracefleet/proto';
import type { JobRequest } from '../common/job-request';
import { CpuProfileFields } from './cpu-profile.dto';
import { flameGraphLinks } from './flamegraph/links';
import { CPU_PROFILE_OPENAPI } from './cpu-profile.openapi';

export const DEFAULT_FREQUENCY_HZ = 99;

/** The cpu-profile job type: sampled on-CPU stacks; its results are profile batches (runs/, profiles/). */
export const CPU_PROFILE = {
  name: 'cpu-profile',
  fields: ['frequencyHz'] as const,
  /** Its fields' shapes and limits (the request DTO joins them). */
  dto: CpuProfileFields,

  /** Its OpenAPI part: the description of its request and of its fields (limits come from the DTO's decorators); the rest in cpu-profile.openapi.ts. */
  docs: {
    description: 'Sampled on-CPU stacks (perf_event), symbolized on the node, stored per stack. Outputs: flame graph, folded, pprof, speedscope, diff.',
    openapi: CPU_PROFILE_OPENAPI,
    fields: {
    frequencyHz: { description: 'Samples per second per CPU.', default: 99 },
    },
  },
  params(body: JobRequest<CpuProfileFields>): { frequencyHz: number } {
    return { frequencyHz: body.frequencyHz ?? DEFAULT_FREQUENCY_HZ };
  },
  spec: (params: Record<string, unknown>): NonNullable<StartRun['spec']> => ({ $case: 'cpuProfile', value: { frequencyHz: params.frequencyHz as number } }),
  links: (base: string): Record<string, string> => flameGraphLinks(base),
};
