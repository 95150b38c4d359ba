import { MAX_RUN_BYTES, type CheckResult } from './batch-limits';
import type { Violation } from './wire-scan';
import { sanitizeString } from '../common/sanitize';

/** Refused messages within ABUSE_WINDOW_MS that end a session: one is a bug worth a log line, five in a minute are abuse. */
export const ABUSE_REFUSALS = 5;
export const ABUSE_WINDOW_MS = 60_000;
/** Runs whose bytes one session tracks; the oldest is forgotten past it (an agent runs a handful at once). */
const TRACKED_RUNS = 256;

export interface BudgetOptions {
  refusals: number;
  windowMs: number;
  maxRunBytes: number;
}

/**
 * What one agent session has sent: bytes per run (a cumulative cap, so a run cannot fill the
 * database however its batches are cut) and recent refusals (repeated abuse ends the session).
 * Lives in memory with the session; a reconnect starts a new one, which the agent's backoff paces.
 */
export class SessionBudget {
  private readonly runBytes = new Map<string, number>();
  private refusedAt: number[] = [];
  refusedTotal = 0;

  constructor(private readonly opts: BudgetOptions = { refusals: ABUSE_REFUSALS, windowMs: ABUSE_WINDOW_MS, maxRunBytes: MAX_RUN_BYTES }) {}

  /** Counts an accepted message against its run; a violation when the run is past its cumulative cap (the message is then refused). */
  admit(check: CheckResult): Violation | undefined {
    if (!check.runId) return undefined;
    const before = this.runBytes.get(check.runId) ?? 0;
    const after = before + check.bytes;
    if (after > this.opts.maxRunBytes) return { limit: 'bytes per run', value: after, max: this.opts.maxRunBytes };
    if (!this.runBytes.has(check.runId) && this.runBytes.size >= TRACKED_RUNS) this.runBytes.delete(this.runBytes.keys().next().value!);
    this.runBytes.set(check.runId, after);
    return undefined;
  }

  /** Records a refusal at `now`; true when the session has now broken limits too often and must end. */
  refuse(now: number): boolean {
    this.refusedTotal++;
    this.refusedAt = this.refusedAt.filter((t) => now - t < this.opts.windowMs);
    this.refusedAt.push(now);
    return this.refusedAt.length >= this.opts.refusals;
  }
}

/** One log line / stored reason: which message, which limit, by how much. */
export function describeRefusal(check: CheckResult, v: Violation): string {
  const run = check.runId ? ` of run ${sanitizeString(check.runId.slice(0, 64))}` : '';
  return `${check.type}${run} refused: ${v.limit} ${v.value} > ${v.max} (${check.bytes} bytes)`;
}
