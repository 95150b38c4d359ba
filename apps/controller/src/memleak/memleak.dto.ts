import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';

/** The memleak request fields: shapes and limits. */
export class MemleakFields {
  /** Seconds between snapshots of outstanding allocations. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3600)
  intervalSec?: number;

  /** Only allocations at least this old count as outstanding. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(86_400)
  minAgeSec?: number;

  /** Trace every Nth allocation (1 = every one). */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  sampleEvery?: number;

  /** Or trace allocations by byte interval. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1 << 30)
  sampleBytes?: number;

  /** Size of the live-allocation map on each node. */
  @IsOptional()
  @IsInt()
  @Min(1000)
  @Max(10_000_000)
  maxAllocs?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  topN?: number;

  /** How malloc is probed: at its entry and return (exact sizes), or at its ret sites only (sizes from the chunk header). */
  @IsOptional()
  @IsIn(['entry', 'returns'])
  mallocProbe?: 'entry' | 'returns';
}
