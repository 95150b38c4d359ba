import { JOB_TYPE_DEFS } from '../job-types/registry';
import type { JobTypeOpenApi, PathItem, Schema } from './build';

/** The job types that write a part of the document (JobTypeDef.docs.openapi, in their folders), in registry order. */
const parts = (): { name: string; part: JobTypeOpenApi }[] => JOB_TYPE_DEFS.flatMap((d) => (d.docs.openapi ? [{ name: d.name, part: d.docs.openapi }] : []));

function merged<K extends 'paths' | 'schemas' | 'runFields' | 'jobFields' | 'requestSchemas'>(key: K): NonNullable<JobTypeOpenApi[K]> {
  return Object.assign({}, ...parts().map(({ part }) => part[key] ?? {}));
}

/** The types' tags, each named after its type, with their descriptions. */
export const typeTags = (): Record<string, string> => Object.fromEntries(parts().flatMap(({ name, part }) => (part.tag ? [[name, part.tag]] : [])));

/** POST /jobs examples, by type. */
export const typeExamples = (): Record<string, { summary: string; value: unknown }> =>
  Object.fromEntries(parts().flatMap(({ name, part }) => (part.example ? [[name, part.example]] : [])));

/** What each type's job flame graph counts, one sentence: "cpu-profile: samples; usdt: event stacks; ...". */
export const flameGraphCounts = (): string => `${parts().flatMap(({ name, part }) => (part.flameGraph ? [`${name}: ${part.flameGraph}`] : [])).join('; ')}.`;

/** Request classes the types' fields nest, by schema name. */
export const typeRequestSchemas = (): NonNullable<JobTypeOpenApi['requestSchemas']> => merged('requestSchemas');
/** The types' own read routes. */
export const typePaths = (): Record<string, PathItem> => merged('paths');
/** The views of the types' routes. */
export const typeSchemas = (): Record<string, Schema> => merged('schemas');
/** Fields that runs of some type add in the job view (absent in the others). */
export const typeRunFields = (): Record<string, Schema> => merged('runFields');
/** Fields that jobs of some type add in the job view. */
export const typeJobFields = (): Record<string, Schema> => merged('jobFields');
