import { IsInt, IsOptional, Max, Min } from 'class-validator';

/** (process, syscall) pairs an agent's kernel map holds at most (SyscountTracer's maxKeys). */
export const MAX_KEYS = 1 << 20;

/** The syscount request fields: shapes and limits (syscount.type.ts checks maxKeys again for callers that skip the DTO). */
export class SyscountFields {
  /** (process, syscall) pairs counted per node. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_KEYS)
  maxKeys?: number;
}
