import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';

/** "provider:probe", both parts C identifiers as in <sys/sdt.h>. */
export const PROBE_RE = /^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*$/;
export const USDT_PRESETS = ['jvm-gc', 'python-gc'] as const;
export const MAX_USDT_PROBES = 64;

export class UsdtPairDto {
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'label must be 1 to 64 letters, digits or _ . : -' })
  label?: string;

  @Matches(PROBE_RE, { message: 'begin must be "provider:probe"' })
  begin!: string;

  @Matches(PROBE_RE, { message: 'end must be "provider:probe"' })
  end!: string;
}

/** The usdt request fields besides maxEvents and userStacks (common/job-fields.ts): shapes and limits. */
export class UsdtFields {
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_USDT_PROBES)
  @Matches(PROBE_RE, { each: true, message: 'probes must be "provider:probe" strings (e.g. "python:gc__start")' })
  probes?: string[];

  /** Absolute path of the ELF file (executable or library) holding the probes. */
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  @Matches(/^\/[^\0]*$/, { message: 'binary must be an absolute path' })
  binary?: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(16)
  @ValidateNested({ each: true })
  @Type(() => UsdtPairDto)
  pairs?: UsdtPairDto[];

  @IsOptional()
  @IsIn(USDT_PRESETS, { message: `preset must be one of: ${USDT_PRESETS.join(', ')}` })
  preset?: (typeof USDT_PRESETS)[number];

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  slowestN?: number;
}
