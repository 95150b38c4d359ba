import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  Equals,
  IsArray,
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { PID_MAX } from '../../common/job-params';
import type { JobRequest } from '../../common/job-request';

export const JOB_TYPES = ['cpu-profile', 'usdt', 'memleak', 'ssl-capture', 'syscount'] as const;
export type JobTypeName = (typeof JOB_TYPES)[number];

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
}

/** "provider:probe", both parts C identifiers as in <sys/sdt.h>. */
export const PROBE_RE = /^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*$/;
export const USDT_PRESETS = ['jvm-gc', 'python-gc'] as const;
export const MAX_USDT_PROBES = 64;
export const MAX_USDT_EVENTS = 1_000_000;

export const SSL_MAX_DATA_BYTES = 16_384;
export const SSL_MAX_BINARIES = 16;
export const SSL_MAX_EVENTS = 1_000_000;
export const SSL_MAX_TOTAL_BYTES = 1 << 30;
export const SSL_MAX_REDACT_HEADERS = 64;
export const SSL_MAX_REDACT_PATTERNS = 32;
export const SSL_MAX_PATTERN_LENGTH = 256;
export const SSL_MAX_RETENTION_HOURS = 720;
/** An HTTP header name: RFC 9110 token characters. */
export const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

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

export class CreateJobDto implements JobRequest {
  @IsIn(JOB_TYPES, { message: `type must be one of: ${JOB_TYPES.join(', ')}` })
  type!: JobTypeName;

  @IsInt()
  @Min(1)
  @Max(DURATION_CEILING_SEC)
  durationSec!: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  frequencyHz?: number;

  @IsDefined()
  @ValidateNested()
  @Type(() => TargetDto)
  target!: TargetDto;

  // --- usdt ---------------------------------------------------------------
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

  /** usdt: events kept with arguments per node (0 = count only); ssl-capture: events sent per node (at least 1). */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_USDT_EVENTS)
  maxEvents?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  slowestN?: number;

  @IsOptional()
  @IsBoolean()
  userStacks?: boolean;

  // --- memleak --------------------------------------------------------------
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

  // --- syscount (syscount/syscount.type.ts checks it again) ------------------
  /** (process, syscall) pairs counted per node. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1 << 20)
  maxKeys?: number;

  // --- ssl-capture (userStacks and maxEvents above apply too) ---------------
  /** Plaintext bytes kept per SSL_read/SSL_write call. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(SSL_MAX_DATA_BYTES)
  maxDataBytes?: number;

  /** Files to probe besides what the targets map: libssl.so.* or executables with OpenSSL linked in. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(SSL_MAX_BINARIES)
  @IsString({ each: true })
  @MaxLength(4096, { each: true })
  @Matches(/^\/[^\0]*$/, { each: true, message: 'binaries must be absolute paths' })
  binaries?: string[];

  /** Plaintext bytes kept per node for the whole run. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(SSL_MAX_TOTAL_BYTES)
  maxTotalBytes?: number;

  /** Header names whose values are redacted, besides authorization, proxy-authorization, cookie, set-cookie. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(SSL_MAX_REDACT_HEADERS)
  @Matches(HEADER_NAME_RE, { each: true, message: 'redactHeaders must be header names (1 to 128 token characters, e.g. "x-api-key")' })
  redactHeaders?: string[];

  /** RE2 regular expressions (linear-time matching); every match in the plaintext is redacted. Compiled by typeParams with @tracefleet/redact, the agent's own checks. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(SSL_MAX_REDACT_PATTERNS)
  @IsString({ each: true })
  @MaxLength(SSL_MAX_PATTERN_LENGTH, { each: true, message: `redactPatterns must each be at most ${SSL_MAX_PATTERN_LENGTH} characters` })
  redactPatterns?: string[];

  /** Redaction on the agent (default true). false needs the ssl-capture scope. */
  @IsOptional()
  @IsBoolean()
  redaction?: boolean;

  /** Also time SSL_do_handshake. */
  @IsOptional()
  @IsBoolean()
  handshakes?: boolean;

  /** Hours the captured events are kept, counted from the job's creation. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(SSL_MAX_RETENTION_HOURS)
  retentionHours?: number;

  /** "all", or { all?, names?, labels?, expressions?, limit? }; checked by parseNodeSelector. */
  @IsDefined({ message: 'nodes must be "all" or { names?: [...], labels?: {...}, expressions?: [...], limit?: N }' })
  nodes!: unknown;
}
