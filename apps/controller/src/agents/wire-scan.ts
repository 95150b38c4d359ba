/**
 * A walk over protobuf wire bytes that counts without decoding. ts-proto turns every element of a
 * repeated message field into an object, so a 16 MiB message of empty events would cost about
 * 1.2 GiB of heap before any check on the decoded batch could run. This scan reads only tags and
 * lengths (no allocation per element), so a batch over its caps is refused for the price of one
 * pass over its bytes.
 */

import type { FieldRule, Shape } from '../common/wire-shape';

export type { FieldRule, Shape };

export interface Violation {
  /** What was over: "events per batch", "frames per stack", "string length", "message bytes", "malformed". */
  limit: string;
  value: number;
  max: number;
}

export class WireError extends Error {}

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

/** Reads a varint as a number; lengths and tags past 2^53 are refused as malformed. */
function varint(buf: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new WireError('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      if (value > Number.MAX_SAFE_INTEGER) throw new WireError('varint too large');
      return [value, pos];
    }
    mul *= 128;
  }
  throw new WireError('varint longer than 10 bytes');
}

/** Steps over a varint value (any 64-bit value: only tags and lengths must be small). */
function skipVarint(buf: Uint8Array, pos: number, end: number): number {
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new WireError('truncated varint');
    if ((buf[pos++] & 0x80) === 0) return pos;
  }
  throw new WireError('varint longer than 10 bytes');
}

/** Elements in a packed run of varints: bytes without the continuation bit. */
function packedCount(buf: Uint8Array, pos: number, end: number): number {
  let n = 0;
  for (let i = pos; i < end; i++) if ((buf[i] & 0x80) === 0) n++;
  if (end > pos && (buf[end - 1] & 0x80) !== 0) throw new WireError('truncated packed varint');
  return n;
}

/**
 * Walks `buf[pos, end)` as a message of `shape`, counting per-parent repeats and totals. Stops at
 * the first violation: a per-field cap, or a total past `maxTotals` (so the count reported for a
 * total is the first value over its cap, not the message's whole count).
 */
export interface ScanContext {
  /** Elements counted so far, by FieldRule.total key. */
  totals: Map<string, number>;
  /** Caps on those totals. */
  maxTotals: Readonly<Record<string, number>>;
  /** The value of the last field read with FieldRule.capture (the run id), as the decoder would keep it. */
  captured?: string;
}

export function scanMessage(buf: Uint8Array, shape: Shape, ctx: ScanContext, pos = 0, end = buf.length): Violation | undefined {
  const { totals, maxTotals } = ctx;
  let per: Map<number, number> | undefined;
  const bump = (field: number, rule: FieldRule, n: number): Violation | undefined => {
    if (rule.total) {
      const t = (totals.get(rule.total) ?? 0) + n;
      totals.set(rule.total, t);
      // Stop at the first element past a total's cap: refusing 3 M events costs 10,001 steps, not 3 M.
      const max = maxTotals[rule.total];
      if (max !== undefined && t > max) return { limit: `${rule.total} per message`, value: t, max };
    }
    if (rule.maxPer === undefined) return undefined;
    per ??= new Map<number, number>();
    const c = (per.get(field) ?? 0) + n;
    per.set(field, c);
    return c > rule.maxPer ? { limit: `${rule.name} per message`, value: c, max: rule.maxPer } : undefined;
  };
  while (pos < end) {
    let key: number;
    [key, pos] = varint(buf, pos, end);
    const field = Math.floor(key / 8);
    const wt = key & 7;
    if (field === 0) throw new WireError('field number 0');
    const rule = shape[field];
    if (wt === WT_VARINT) {
      pos = skipVarint(buf, pos, end);
      if (rule) {
        if (rule.kind !== 'num') throw new WireError(`${rule.name}: wire type ${wt}`);
        const v = bump(field, rule, 1);
        if (v) return v;
      }
    } else if (wt === WT_I64 || wt === WT_I32) {
      pos += wt === WT_I64 ? 8 : 4;
      if (pos > end) throw new WireError('truncated fixed field');
      if (rule) {
        const v = bump(field, rule, 1);
        if (v) return v;
      }
    } else if (wt === WT_LEN) {
      let len: number;
      [len, pos] = varint(buf, pos, end);
      const stop = pos + len;
      if (stop > end) throw new WireError('length past the end of the message');
      if (rule) {
        let v: Violation | undefined;
        if (rule.kind === 'str') {
          if (rule.maxLen !== undefined && len > rule.maxLen) return { limit: `${rule.name} length`, value: len, max: rule.maxLen };
          if (rule.capture) ctx.captured = Buffer.from(buf.buffer, buf.byteOffset + pos, len).toString('utf8');
          v = bump(field, rule, 1);
        } else if (rule.kind === 'num') {
          v = bump(field, rule, packedCount(buf, pos, stop));
        } else {
          v = bump(field, rule, 1) ?? scanMessage(buf, rule.shape ?? {}, ctx, pos, stop);
        }
        if (v) return v;
      }
      pos = stop;
    } else {
      // Groups (3, 4) are not used by proto3; 6 and 7 do not exist.
      throw new WireError(`wire type ${wt}`);
    }
  }
  return undefined;
}

/** AgentMessage.delivery: the one number an envelope may carry beside its message (agent.proto). */
export const ENVELOPE_DELIVERY_FIELD = 20;

/**
 * The fields of an envelope (a message holding a oneof): numbers and where their bytes are. The only
 * field that is not a message is the delivery number (a varint, at most once); anything else is malformed.
 */
export function envelopeFields(buf: Uint8Array): { field: number; start: number; end: number }[] {
  let pos = 0;
  let numbers = 0;
  const out: { field: number; start: number; end: number }[] = [];
  while (pos < buf.length) {
    let key: number;
    [key, pos] = varint(buf, pos, buf.length);
    const wt = key & 7;
    if (wt === WT_VARINT && Math.floor(key / 8) === ENVELOPE_DELIVERY_FIELD && numbers++ === 0) {
      pos = skipVarint(buf, pos, buf.length);
      continue;
    }
    if (wt !== WT_LEN) throw new WireError(`envelope field with wire type ${wt}`);
    let len: number;
    [len, pos] = varint(buf, pos, buf.length);
    if (pos + len > buf.length) throw new WireError('length past the end of the message');
    out.push({ field: Math.floor(key / 8), start: pos, end: pos + len });
    pos += len;
  }
  return out;
}
