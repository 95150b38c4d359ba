import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';

/** The largest maxEvents any type takes (each type's `params` may ask for more, e.g. ssl-capture: at least 1). */
export const MAX_EVENTS = 1_000_000;

/**
 * Request fields more than one job type takes (usdt, ssl-capture and tcp), declared once so that their
 * rules are checked once; each type lists them in its `fields` and documents them in its own words.
 */
export class SharedJobFields {
  /** usdt: events kept with arguments per node (0 = count only); ssl-capture: events sent per node (at least 1); tcp: connections kept per node. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_EVENTS)
  maxEvents?: number;

  @IsOptional()
  @IsBoolean()
  userStacks?: boolean;
}
