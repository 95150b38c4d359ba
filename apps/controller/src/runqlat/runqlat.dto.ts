import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';

/** Waiting threads an agent's kernel map holds at most (RunqlatTracer's maxTasks). */
export const MIN_MAX_TASKS = 64;
export const MAX_MAX_TASKS = 1 << 20;

/** The runqlat request fields: shapes and limits (runqlat.type.ts checks them again for callers that skip the DTO). */
export class RunqlatFields {
  /** One histogram per cgroup v2 cgroup of the waiting thread. */
  @IsOptional()
  @IsBoolean()
  perCgroup?: boolean;

  /** Threads waiting on a run queue at once, per node, that the kernel map holds. */
  @IsOptional()
  @IsInt()
  @Min(MIN_MAX_TASKS)
  @Max(MAX_MAX_TASKS)
  maxTasks?: number;
}
