import type { JobTarget } from './job-params';

/**
 * What every job request has. Each type's own fields are a class in its folder (<type>.dto.ts, whose
 * decorators jobs/dto/create-job.dto.ts joins into the request DTO); the fields several types take are
 * declared once, in common/job-fields.ts.
 */
export interface BaseJobRequest {
  type: string;
  durationSec: number;
  target: JobTarget;
}

/** A job request as one type reads it: the common part and that type's fields (already checked for shape and limits). */
export type JobRequest<Fields extends object = object> = BaseJobRequest & Fields;
