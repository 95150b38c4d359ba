import type { StartRun } from '@tracefleet/proto';
import type { JobRequest } from '../common/job-request';
import { CpuProfileFields } from './cpu-profile.dto';
import { flameGraphLinks } from './flamegraph/links';
import { CPU_PROFILE_OPENAPI } from './cpu-profile.openapi';

export const DEFAULT_FREQUENCY_HZ = 99;

/** The cpu-profile job type: sampled on-CPU stacks; its results are profile batches (runs/, profiles/). */
export const CPU_PROFILE = {
  name: 'cpu-profile',
  fields: ['frequencyHz', 'javaPerfMaps', 'pythonFrames'] as const,
  /** Its fields' shapes and limits (the request DTO joins them). */
  dto: CpuProfileFields,

  /** Its OpenAPI part: the description of its request and of its fields (limits come from the DTO's decorators); the rest in cpu-profile.openapi.ts. */
  docs: {
    description: 'Sampled on-CPU stacks (perf_event), symbolized on the node, stored per stack. Outputs: flame graph, folded, pprof, speedscope, diff.',
    openapi: CPU_PROFILE_OPENAPI,
    fields: {
      frequencyHz: { description: 'Samples per second per CPU.', default: 99 },
      javaPerfMaps: {
        description: 'Ask each HotSpot JVM sampled (JDK 17+) for its perf map over its attach socket, so JIT-compiled methods have names. false: JIT frames stay unnamed and the JVMs are not signalled.',
        default: true,
      },
      pythonFrames: {
        description: "Read CPython 3.8–3.13 frames from the interpreters' memory, in place of the eval loop's frames. false: native stacks only.",
        default: true,
      },
    },
  },
  params(body: JobRequest<CpuProfileFields>): { frequencyHz: number; javaPerfMaps: boolean; pythonFrames: boolean } {
    return { frequencyHz: body.frequencyHz ?? DEFAULT_FREQUENCY_HZ, javaPerfMaps: body.javaPerfMaps ?? true, pythonFrames: body.pythonFrames ?? true };
  },
  spec: (params: Record<string, unknown>): NonNullable<StartRun['spec']> => ({
    $case: 'cpuProfile',
    value: {
      frequencyHz: params.frequencyHz as number,
      // Jobs stored before these fields existed have none: both on, as then.
      skipJavaPerfMaps: params.javaPerfMaps === false,
      skipPythonFrames: params.pythonFrames === false,
    },
  }),
  links: (base: string): Record<string, string> => flameGraphLinks(base),
};
