import type { JobTypeOpenApi } from '../common/openapi-build';

/**
 * The off-cpu job type's part of the OpenAPI document: a request example and what its flame graph counts.
 * Its outputs (flame graph, folded, pprof, speedscope, diff) are the profile routes every type with stacks
 * shares; their counts are blocked microseconds.
 */
export const OFF_CPU_OPENAPI: JobTypeOpenApi = {
  example: {
    summary: '5 s of blocked time by stack of one process, blocks of 1 ms or more',
    value: { type: 'off-cpu', durationSec: 5, target: { pid: 4242 }, minBlockUs: 1000, nodes: 'all' },
  },
  flameGraph: 'microseconds blocked off-CPU (from going off the CPU blocked to running again)',
};
