import { Transform, Type } from 'class-transformer';
import { IsDate, IsIn, IsInt, IsOptional, IsUUID, Matches, Max, Min, isISO8601 } from 'class-validator';
import { NODE_NAME_RE } from '@tracefleet/pki';
import { JobStatus } from '../../generated/prisma/enums';
import { JOB_TYPES } from './create-job.dto';

export const JOB_STATUSES: readonly string[] = Object.values(JobStatus);
export const LIST_JOBS_DEFAULT_LIMIT = 20;
export const LIST_JOBS_MAX_LIMIT = 100;

/**
 * A date (UTC midnight) or a date-time with its zone: a time without one would be read in the
 * controller's zone. isISO8601 strict refuses 2026-02-30, which Date would roll into March.
 */
export const TIME_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const toTime = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && TIME_RE.test(value) && isISO8601(value, { strict: true, strictSeparator: true }) ? new Date(value) : value;
const timeMessage = (name: string): string => `${name} must be an ISO 8601 date or date-time with its zone (2026-12-03 or 2026-12-03T20:00:00Z)`;

/** GET /jobs: filters (ANDed) and a page, newest first. */
export class ListJobsQueryDto {
  @IsOptional()
  @IsIn(JOB_STATUSES, { message: `status must be one of: ${JOB_STATUSES.join(', ')}` })
  status?: string;

  /** The REST name (cpu-profile), as POST /jobs takes it. */
  @IsOptional()
  @IsIn(JOB_TYPES, { message: `type must be one of: ${JOB_TYPES.join(', ')}` })
  type?: string;

  /** Jobs with a run on this node. */
  @IsOptional()
  @Matches(NODE_NAME_RE, { message: 'node must be a node name: 1-63 letters, digits, . _ / -' })
  node?: string;

  @IsOptional()
  @IsUUID('all', { message: 'incident must be an incident id (UUID)' })
  incident?: string;

  @IsOptional()
  @IsUUID('all', { message: 'schedule must be a schedule id (UUID)' })
  schedule?: string;

  /** Jobs created strictly after this time. */
  @IsOptional()
  @Transform(toTime)
  @IsDate({ message: timeMessage('createdAfter') })
  createdAfter?: Date;

  /** Jobs created strictly before this time. */
  @IsOptional()
  @Transform(toTime)
  @IsDate({ message: timeMessage('createdBefore') })
  createdBefore?: Date;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(LIST_JOBS_MAX_LIMIT)
  limit?: number;

  /** The nextCursor of the previous page: the id of its last job. */
  @IsOptional()
  @IsUUID('all', { message: 'before must be the nextCursor of a previous page (a job id)' })
  before?: string;
}
