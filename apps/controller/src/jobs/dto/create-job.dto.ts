import { IntersectionType } from '@nestjs/mapped-types';
import { Type } from 'class-transformer';
import { Equals, IsDefined, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { SharedJobFields } from '../../common/job-fields';
import { PID_MAX } from '../../common/job-params';
import type { BaseJobRequest } from '../../common/job-request';
import { JOB_TYPE_DEFS, type JobTypeFields } from '../../job-types/registry';

/** The REST names of the job types, in the registry's order. */
export const JOB_TYPES: readonly string[] = JOB_TYPE_DEFS.map((d) => d.name);
export type JobTypeName = string;

/** Hard ceiling checked by the DTO; TRACEFLEET_MAX_DURATION_SEC may set a lower one. */
export const DURATION_CEILING_SEC = 86_400;

export class TargetDto {
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(PID_MAX)
  pid?: number;

  @IsOptional()
  @IsString()
  @Matches(/^[\x20-\x7e]{1,15}$/, { message: 'comm must be 1 to 15 printable characters (the kernel truncates names to 15)' })
  comm?: string;

  @IsOptional()
  @Equals(true, { message: 'all must be true when given' })
  all?: boolean;

  /** A cgroup path: its processes and those of the cgroups below it (checked by cgroupPathError). */
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  cgroup?: string;

  /** A container id or a prefix of one. */
  @IsOptional()
  @IsString()
  @Matches(/^[0-9a-f]{4,64}$/, { message: 'container must be a container id or a prefix of one: 4 to 64 lowercase hex digits' })
  container?: string;
}

/** What every job request has. */
class JobBaseDto implements BaseJobRequest {
  @IsIn(JOB_TYPES, { message: `type must be one of: ${JOB_TYPES.join(', ')}` })
  type!: JobTypeName;

  @IsInt()
  @Min(1)
  @Max(DURATION_CEILING_SEC)
  durationSec!: number;

  @IsDefined()
  @ValidateNested()
  @Type(() => TargetDto)
  target!: TargetDto;
}

class JobNodesDto {
  /** "all", or { all?, names?, labels?, expressions?, limit? }; checked by parseNodeSelector. */
  @IsDefined({ message: 'nodes must be "all" or { names?: [...], labels?: {...}, expressions?: [...], limit?: N }' })
  nodes!: unknown;
}

/**
 * POST /jobs: the common fields, the fields several types share (common/job-fields.ts), every type's
 * own fields (its <type>.dto.ts, named by its registry entry) and the node selector. @nestjs/mapped-types
 * copies each class's validation and transformation rules onto one class, so the ValidationPipe
 * (whitelist, forbidNonWhitelisted) and the OpenAPI document see one DTO; a field of another type is
 * refused by jobs/job-spec.ts with a 400 naming it.
 */
const TypeFields = IntersectionType(...(JOB_TYPE_DEFS.map((d) => d.dto) as [new () => object])) as new () => JobTypeFields;

export class CreateJobDto extends IntersectionType(JobBaseDto, SharedJobFields, TypeFields, JobNodesDto) {}
