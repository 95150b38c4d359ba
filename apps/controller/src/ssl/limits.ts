/**
 * The controller's own enforcement of an ssl-capture job's budgets. The agent enforces them first;
 * these catch an agent that sends more anyway (a bug, an old agent, a hostile one): what is over is
 * not stored, and is counted.
 */

/**
 * The agent redacts before it applies budgets, and a redaction replaces a span (possibly empty: a
 * header with no value) by "[REDACTED]"; so a redacted call may carry up to this many bytes more than
 * maxDataBytes per redaction. maxTotalBytes counts the bytes after redaction on both sides.
 */
export const REDACTION_MARKER_BYTES = '[REDACTED]'.length;

export interface SslLimits {
  maxEvents: number;
  maxTotalBytes: number;
  maxDataBytes: number;
}

/** What a run has stored so far. */
export interface SslBudget {
  eventsStored: bigint;
  bytesStored: bigint;
}

export interface Limited<E> {
  event: E;
  /** The plaintext to store: cut to maxDataBytes and to what is left of maxTotalBytes. */
  data: Uint8Array;
  truncated: boolean;
}

export interface LimitOutcome<E> {
  kept: Limited<E>[];
  /** Events past maxEvents: not stored. */
  eventsRefused: number;
  /** Plaintext bytes not stored: of refused events, past maxDataBytes, past maxTotalBytes. */
  bytesRefused: number;
  /** Plaintext bytes kept. */
  bytesKept: number;
}

export function enforceLimits<E extends { data: Uint8Array; truncated: boolean; redactions?: number }>(events: readonly E[], budget: SslBudget, limits: SslLimits): LimitOutcome<E> {
  const kept: Limited<E>[] = [];
  let eventsLeft = Math.max(0, limits.maxEvents - Number(budget.eventsStored));
  let bytesLeft = Math.max(0, limits.maxTotalBytes - Number(budget.bytesStored));
  let eventsRefused = 0;
  let bytesRefused = 0;
  let bytesKept = 0;
  for (const e of events) {
    if (eventsLeft === 0) {
      eventsRefused++;
      bytesRefused += e.data.length;
      continue;
    }
    eventsLeft--;
    const room = Math.min(limits.maxDataBytes + (e.redactions ?? 0) * REDACTION_MARKER_BYTES, bytesLeft);
    const cut = e.data.length > room;
    const data = cut ? e.data.subarray(0, room) : e.data;
    bytesRefused += e.data.length - data.length;
    bytesLeft -= data.length;
    bytesKept += data.length;
    kept.push({ event: e, data, truncated: e.truncated || cut });
  }
  return { kept, eventsRefused, bytesRefused, bytesKept };
}
