import type { CreateJobDto } from './dto/create-job.dto';
import { JOB_TYPE_DEFS, jobTypeDef, typesTaking } from '../job-types/registry';
import { badField } from '../common/bad-field';

const COMMON = new Set(['type', 'durationSec', 'target', 'nodes']);

/**
 * Checks the fields that depend on the job type: a field of another type is refused naming the types
 * that take it; then the type's own checks (job-types/registry.ts). Returns the parameters to store.
 */
export function typeParams(dto: CreateJobDto): object {
  const def = jobTypeDef(dto.type);
  if (!def) badField('type', `must be one of: ${JOB_TYPE_DEFS.map((d) => d.name).join(', ')}`);
  for (const field of new Set(JOB_TYPE_DEFS.flatMap((d) => d.fields))) {
    if (COMMON.has(field) || def.fields.includes(field)) continue;
    if ((dto as unknown as Record<string, unknown>)[field] !== undefined) badField(field, `applies only to ${typesTaking(field).join(' and ')} jobs`);
  }
  return def.params(dto);
}
