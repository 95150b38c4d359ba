/**
 * Counts as callers hand them in: checked at the boundary (a bad stack names its index), and the
 * two arithmetics the renderer picks between, exact numbers while the total is a safe integer and
 * bigints beyond it.
 */

export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function checkedCount(c: unknown, index: number): number | bigint {
  if (typeof c === 'bigint') {
    if (c < 0n) throw new RangeError(`stack ${index}: count must not be negative (got ${c})`);
    return c;
  }
  if (typeof c === 'number') {
    if (!Number.isInteger(c) || c < 0) {
      throw new RangeError(`stack ${index}: count must be a non-negative integer (got ${c})`);
    }
    return c;
  }
  throw new TypeError(`stack ${index}: count must be a number or bigint (got ${typeof c})`);
}

export function checkedFrames(frames: unknown, index: number): string[] {
  if (!Array.isArray(frames)) throw new TypeError(`stack ${index}: frames must be an array of strings`);
  for (let i = 0; i < frames.length; i++) {
    if (typeof frames[i] !== 'string') {
      throw new TypeError(`stack ${index}: frame ${i} must be a string (got ${typeof frames[i]})`);
    }
  }
  return frames as string[];
}

export function isZero(c: number | bigint): boolean {
  return c === 0 || c === 0n;
}

/** "1234567" -> "1,234,567" */
export function groupDigits(v: number | bigint): string {
  const s = v.toString();
  if (s.length <= 3) return s;
  let out = s.slice(0, ((s.length - 1) % 3) + 1);
  for (let i = out.length; i < s.length; i += 3) out += ',' + s.slice(i, i + 3);
  return out;
}

export interface Arith<T> {
  zero: T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  /** a / b as a float */
  ratio(a: T, b: T): number;
  /** 100 * a / b formatted with two decimals */
  percent(a: T, b: T): string;
}

export const numberArith: Arith<number> = {
  zero: 0,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  ratio: (a, b) => a / b,
  percent: (a, b) => ((a / b) * 100).toFixed(2),
};

export const bigintArith: Arith<bigint> = {
  zero: 0n,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  ratio: (a, b) => Number(a) / Number(b),
  percent: (a, b) => (Number((a * 1000000n) / b) / 10000).toFixed(2),
};
