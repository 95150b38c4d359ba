import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsOptional } from 'class-validator';

/** What an exec-open job traces. */
export const EXEC_OPEN_EVENTS = ['exec', 'open'] as const;

/** The exec-open request fields: shapes and limits (exec-open.type.ts checks them again for callers that skip the DTO). */
export class ExecOpenFields {
  /** exec, open or both (the default). */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(2)
  @IsIn(EXEC_OPEN_EVENTS, { each: true })
  events?: string[];

  /** Only calls that returned an error. */
  @IsOptional()
  @IsBoolean()
  failedOnly?: boolean;
}
