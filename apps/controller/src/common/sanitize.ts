/**
 * Makes a decoded agent message storable, in place, so that one bad value never loses a batch.
 *
 * - Strings: PostgreSQL text and jsonb refuse U+0000, so a NUL read from a traced process (a USDT
 *   string argument, a frame name) would make the whole batch's transaction fail. Each NUL becomes
 *   U+FFFD (the replacement character): what was there stays visible and lengths do not change.
 *   Lone UTF-16 surrogates also become U+FFFD (String.prototype.toWellFormed). Invalid UTF-8 on
 *   the wire never reaches here as such: the protobuf reader decodes it to U+FFFD already.
 * - 64-bit integers: every u64 the controller stores goes into an int8 column, which holds up to
 *   2^63-1; a larger value (no agent sends one: they are counters and nanosecond times) is stored as
 *   2^63-1 instead of failing the insert. Keys in KEEP_U64 are rendered as text, not stored as int8.
 */

declare global {
  // ES2024, in Node 20's V8 (11.3); the project's TypeScript lib is ES2023.
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

export const REPLACEMENT = '\uFFFD';
export const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);
/** Fields whose full u64 value is kept (shown as hex, never an int8). */
const KEEP_U64 = new Set(['sslPtr', 'fileOffset', 'semaphore']);
/** Objects are at most this deep in AgentMessage (envelope, batch, pair report, occurrence, args): a guard, not a limit met. */
const MAX_DEPTH = 16;

// eslint-disable-next-line no-control-regex
const NUL = /\u0000/g;

export function sanitizeString(s: string): string {
  const noNul = s.includes('\u0000') ? s.replace(NUL, REPLACEMENT) : s;
  return noNul.isWellFormed() ? noNul : noNul.toWellFormed();
}

export function clampI64(v: bigint): bigint {
  return v > I64_MAX ? I64_MAX : v < I64_MIN ? I64_MIN : v;
}

/** Sanitises every string and bigint reachable from `value`; returns how many values it changed. */
export function sanitizeMessage(value: unknown): number {
  return walk(value, 0);
}

function walk(value: unknown, depth: number): number {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object' || value instanceof Uint8Array) return 0;
  let changed = 0;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v === 'string') {
        const s = sanitizeString(v);
        if (s !== v) (value[i] = s), changed++;
      } else if (typeof v === 'bigint') {
        const c = clampI64(v);
        if (c !== v) (value[i] = c), changed++;
      } else if (typeof v === 'object') changed += walk(v, depth + 1);
    }
    return changed;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (typeof v === 'string') {
      const s = sanitizeString(v);
      if (s !== v) (obj[key] = s), changed++;
    } else if (typeof v === 'bigint') {
      if (KEEP_U64.has(key)) continue;
      const c = clampI64(v);
      if (c !== v) (obj[key] = c), changed++;
    } else if (typeof v === 'object') changed += walk(v, depth + 1);
  }
  // Map fields (Register.labels) decode to plain objects with string keys: a NUL in a key is sanitised too.
  for (const key of Object.keys(obj)) {
    const k = sanitizeString(key);
    if (k !== key) {
      obj[k] = obj[key];
      delete obj[key];
      changed++;
    }
  }
  return changed;
}

/** JavaScript dates end at 8.64e15 ms (year 275760, which PostgreSQL's timestamp holds). */
const MAX_DATE_MS = 8_640_000_000_000_000n;

/** A wall-clock time an agent sent (unix ms), or now when it is 0, negative after clamping, or past what a date holds. */
export function storableDate(ms: bigint): Date {
  return ms > 0n && ms <= MAX_DATE_MS ? new Date(Number(ms)) : new Date();
}
