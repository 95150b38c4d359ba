import type { JobTypeOpenApi } from '../common/openapi-build';

/**
 * The cpu-profile job type's part of the OpenAPI document: a request example and what its flame graph
 * counts. Its outputs (flame graph, folded, pprof, speedscope, diff) are the profile routes every type
 * with stacks shares, so they have no tag of this type.
 */
export const CPU_PROFILE_OPENAPI: JobTypeOpenApi = {
  example: { summary: 'A 10 s CPU profile of every process on every node', value: { type: 'cpu-profile', durationSec: 10, target: { all: true }, nodes: 'all' } },
  flameGraph: 'samples',
};
