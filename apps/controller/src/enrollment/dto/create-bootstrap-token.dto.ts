import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';

export const MAX_TOKEN_USES = 10_000;
export const MIN_TOKEN_TTL_SEC = 60;
export const MAX_TOKEN_TTL_SEC = 30 * 86_400;

/** POST /enrollment-tokens: a bootstrap token bounded in uses and time, optionally for one node name. */
export class CreateBootstrapTokenDto {
  /** Enrollments it allows (default 1: single use). */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TOKEN_USES)
  maxUses?: number;

  /** Seconds it stays valid (default 3600). */
  @IsOptional()
  @IsInt()
  @Min(MIN_TOKEN_TTL_SEC)
  @Max(MAX_TOKEN_TTL_SEC)
  ttlSec?: number;

  /** Only this node may enroll with it (then it may also replace that node's live certificate). */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/, { message: 'nodeName must be 1-63 letters, digits, . _ / - (starting and ending with a letter or digit)' })
  nodeName?: string;

  @IsOptional()
  @IsString()
  @MaxLength(200)
  description?: string;
}
