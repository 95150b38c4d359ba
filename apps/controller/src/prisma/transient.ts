/**
 * Database errors worth another attempt: the pool or the server was busy or went away for a moment,
 * or two transactions deadlocked. Anything else (a constraint, a bad value) fails the same way again.
 */
const TRANSIENT_PRISMA = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028', 'P2034']);
// PostgreSQL SQLSTATEs: serialization failure, deadlock, too many connections, admin shutdown, crash
// shutdown, cannot connect now; class 08 is connection exceptions.
const TRANSIENT_SQLSTATE = /^(40001|40P01|53300|57P01|57P02|57P03|08...)$/;
const TRANSIENT_TEXT = /Unable to start a transaction|deadlock detected|could not serialize|Connection terminated|connection timeout|ECONNRESET|ECONNREFUSED|timeout exceeded when trying to connect|Transaction already closed/i;

export function isTransientDbError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; meta?: { code?: unknown; driverAdapterError?: { cause?: { originalCode?: unknown; code?: unknown } } }; message?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && (TRANSIENT_PRISMA.has(e.code) || TRANSIENT_SQLSTATE.test(e.code))) return true;
  const codes = [e.meta?.code, e.meta?.driverAdapterError?.cause?.originalCode, e.meta?.driverAdapterError?.cause?.code];
  if (codes.some((c) => typeof c === 'string' && TRANSIENT_SQLSTATE.test(c))) return true;
  if (typeof e.message === 'string' && TRANSIENT_TEXT.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isTransientDbError(e.cause);
}

/** Attempts to store a batch (the first included) before it is counted as not stored. */
export const STORE_ATTEMPTS = 6;
/** Delay before the second attempt, doubled each time (about 6 s in all). */
export const STORE_RETRY_BASE_MS = 200;

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the second attempt; doubled each time, with jitter. */
  baseDelayMs: number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

/** Runs `work`, again after a transient database error, up to `attempts` times; the last error is thrown. */
export async function withDbRetry<T>(work: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= opts.attempts || !isTransientDbError(err)) throw err;
      const delay = Math.round(opts.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random()));
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
