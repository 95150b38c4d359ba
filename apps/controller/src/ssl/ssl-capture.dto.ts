import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';

export const SSL_MAX_DATA_BYTES = 16_384;
export const SSL_MAX_BINARIES = 16;
export const SSL_MAX_TOTAL_BYTES = 1 << 30;
export const SSL_MAX_REDACT_HEADERS = 64;
export const SSL_MAX_REDACT_PATTERNS = 32;
export const SSL_MAX_PATTERN_LENGTH = 256;
export const SSL_MAX_RETENTION_HOURS = 720;
export const SSL_MODES = ['full', 'headers'] as const;
/** Content-filter prefixes the agent and kernel take in all (the user's and filter.http's). */
export const SSL_MAX_FILTER_PREFIXES = 16;
export const SSL_MAX_PREFIX_BYTES = 16;
export const SSL_MAX_FILTER_PORTS = 16;
/** What filter.http adds on the agent: HTTP/1 request methods, the status-line start, the HTTP/2 preface. */
export const SSL_HTTP_PREFIXES = ['GET ', 'POST ', 'PUT ', 'DELETE ', 'HEAD ', 'OPTIONS ', 'PATCH ', 'CONNECT ', 'TRACE ', 'HTTP/1.', 'PRI * HTTP/2.0'] as const;
/** An HTTP header name: RFC 9110 token characters. */
export const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

/** filter: which connections are captured. Byte lengths, NULs and the joint count are checked by the type's params (ssl-capture.type.ts). */
export class SslCaptureFilter {
  /** Only connections that carry HTTP (the agent adds SSL_HTTP_PREFIXES). */
  @IsOptional()
  @IsBoolean()
  http?: boolean;

  /** A connection is captured from its first call whose plaintext starts with one of these (UTF-8). */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(SSL_MAX_FILTER_PREFIXES)
  @IsString({ each: true, message: 'prefixes must be strings' })
  prefixes?: string[];

  /** Only connections whose socket's local or peer port is one of these. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(SSL_MAX_FILTER_PORTS)
  @IsInt({ each: true, message: 'ports must be integers' })
  @Min(1, { each: true, message: 'ports must be 1 to 65535' })
  @Max(65535, { each: true, message: 'ports must be 1 to 65535' })
  ports?: number[];
}

/** The ssl-capture request fields besides maxEvents and userStacks (common/job-fields.ts): shapes and limits. */
export class SslCaptureFields {
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

  /** RE2 regular expressions (linear-time matching); every match in the plaintext is redacted. Compiled by the type's params with @tracefleet/redact, the agent's own checks. */
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

  /** Duty cycle: probes attached for dutyOnMs at the start of every dutyPeriodMs (both or neither). */
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  dutyOnMs?: number;

  @IsOptional()
  @IsInt()
  @Min(200)
  @Max(3_600_000)
  dutyPeriodMs?: number;

  /** Hours the captured events are kept, counted from the job's creation. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(SSL_MAX_RETENTION_HOURS)
  retentionHours?: number;

  /** full: every call's plaintext; headers: only calls that start an HTTP/1 message, their head only. */
  @IsOptional()
  @IsIn(SSL_MODES, { message: `mode must be one of: ${SSL_MODES.join(', ')}` })
  mode?: (typeof SSL_MODES)[number];

  @IsOptional()
  @IsObject({ message: 'filter must be an object: { http?: boolean, prefixes?: string[], ports?: number[] }' })
  @ValidateNested()
  @Type(() => SslCaptureFilter)
  filter?: SslCaptureFilter;
}
