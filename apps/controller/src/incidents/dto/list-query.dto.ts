import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min, IsNotEmpty } from 'class-validator';

/** `?node=NAME&job=ID` of an incident's profile outputs. */
export class IncidentProfileQueryDto {
  /** Only this node's samples (default: all nodes merged). */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  node?: string;

  /** Only this cpu-profile job of the incident (default: all its cpu-profile jobs). */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  job?: string;

  /** functions: how many to list (default 20). */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}

/** `?limit=N&before=CURSOR`, newest first. */
export class PageQueryDto {
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  before?: string;
}
