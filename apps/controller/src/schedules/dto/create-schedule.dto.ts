import { IsArray, IsDefined, IsInt, IsObject, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { MAX_LEAD_MS, NAME_RE } from '../../incidents/dto/create-incident.dto';
import { MAX_EVERY_MS, MIN_INTERVAL_MS } from '../cron';

export const DEFAULT_KEEP_REPORTS = 100;
export const MAX_KEEP_REPORTS = 10_000;

/** POST /schedules: an incident (one job or a bundle) on a cron pattern or a fixed interval. */
export class CreateScheduleDto {
  @IsOptional()
  @IsString()
  @Matches(NAME_RE, { message: 'name must be 1 to 128 printable characters' })
  name?: string;

  /** 5 fields, or 6 with seconds first; UTC. Checked by checkCron the way BullMQ parses it. */
  @IsOptional()
  @IsString({ message: 'cron must be a string' })
  cron?: string;

  /** Or a fixed interval in ms. */
  @IsOptional()
  @IsInt()
  @Min(MIN_INTERVAL_MS)
  @Max(MAX_EVERY_MS)
  everyMs?: number;

  @IsDefined({ message: 'nodes must be "all" or { names?: [...], labels?: {...} }' })
  nodes!: unknown;

  /** One job body without `nodes`... */
  @IsOptional()
  @IsObject({ message: 'job must be a job body (an object)' })
  job?: Record<string, unknown>;

  /** ...or several, started together each tick. */
  @IsOptional()
  @IsArray({ message: 'bundle must be an array of job templates' })
  bundle?: unknown[];

  /** Reports kept; the retention sweep deletes older ones with their jobs. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_KEEP_REPORTS)
  keepReports?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_LEAD_MS)
  leadMs?: number;
}
