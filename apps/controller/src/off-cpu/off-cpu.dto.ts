import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';

/** The shortest block counted may be at most an hour (in µs). */
export const MAX_MIN_BLOCK_US = 3_600_000_000;

/** The off-cpu request fields: shapes and limits (off-cpu.type.ts checks them again for callers that skip the DTO). */
export class OffCpuFields {
  /** Blocks shorter than this many microseconds are not counted. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_MIN_BLOCK_US)
  minBlockUs?: number;

  /** The wall-clock view: also sample the target on the CPU at this rate (0: off). */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  wallClockHz?: number;

  /** Take each block's kernel stack too. */
  @IsOptional()
  @IsBoolean()
  kernelStacks?: boolean;
}
