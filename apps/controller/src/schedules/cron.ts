import { getNextMillis } from 'bullmq';
import { badField } from '../common/bad-field';

/** No schedule fires more often than this: each tick starts jobs on every selected node. */
export const MIN_INTERVAL_MS = 5000;
export const MAX_EVERY_MS = 7 * 24 * 3600 * 1000;
/** Occurrences looked at when checking the interval (covers patterns that bunch up within an hour). */
const LOOKAHEAD = 64;

/**
 * Checks a cron pattern the way BullMQ will read it (its own cron-parser, via getNextMillis, in UTC):
 * 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), at least one future
 * occurrence, and no two occurrences closer than MIN_INTERVAL_MS. Returns it single-spaced.
 */
export function checkCron(raw: unknown, now = Date.now()): string {
  if (typeof raw !== 'string') badField('cron', 'must be a string');
  const fields = raw.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) {
    badField('cron', `must have 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first); "${raw}" has ${fields.length}`);
  }
  const pattern = fields.join(' ');
  const times: number[] = [];
  let t = now;
  try {
    for (let i = 0; i < LOOKAHEAD; i++) {
      const next = getNextMillis(t, { pattern, tz: 'UTC' });
      if (next === undefined || next <= t) break;
      times.push(next);
      t = next;
    }
  } catch (err) {
    badField('cron', `is not a valid cron expression: ${(err as Error).message}`);
  }
  if (times.length === 0) badField('cron', `"${pattern}" never fires`);
  for (let i = 1; i < times.length; i++) {
    const gap = times[i] - times[i - 1];
    if (gap < MIN_INTERVAL_MS) {
      badField('cron', `"${pattern}" fires ${gap} ms apart (${new Date(times[i - 1]).toISOString()}, ${new Date(times[i]).toISOString()}); the minimum is ${MIN_INTERVAL_MS} ms`);
    }
  }
  return pattern;
}

/** The next `n` fire times of a cron pattern (UTC) or an interval, for the schedule's view. */
export function nextFires(timing: { cron: string } | { everyMs: number }, n: number, now = Date.now()): Date[] {
  const out: Date[] = [];
  let t = now;
  for (let i = 0; i < n; i++) {
    const next = 'cron' in timing ? getNextMillis(t, { pattern: timing.cron, tz: 'UTC' }) : getNextMillis(t, { every: timing.everyMs });
    if (next === undefined || next <= t) break;
    out.push(new Date(next));
    t = next;
  }
  return out;
}
