import type { StartRun } from '@tracefleet/proto';
import { jobTypeDef } from '../job-types/registry';

/** The StartRun spec for stored job parameters, by the job type's definition (job-types/registry.ts). */
export function runSpec(type: string, params: Record<string, unknown>): StartRun['spec'] {
  const def = jobTypeDef(type);
  if (!def) throw new Error(`job type ${type} is not registered`);
  return def.spec(params);
}
