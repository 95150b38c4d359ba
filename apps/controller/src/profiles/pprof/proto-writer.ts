/**
 * The few protobuf wire-format pieces the pprof encoder needs: varints, length-delimited
 * fields (strings, bytes, nested messages) and packed repeated varints. Proto3 semantics:
 * callers skip fields whose value is the default (0, "").
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const TWO_32 = 0x1_0000_0000;
const MAX_U64 = (1n << 64n) - 1n;

/** An unsigned 64-bit value; negative values are refused (pprof's counts, ids and times are never negative). */
export type U64 = number | bigint;

export class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;
  /** One scratch writer per nesting level, reused across messages. */
  private child: ProtoWriter | undefined;

  get length(): number {
    return this.len;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /** The bytes written so far, handed out and forgotten (a message written in parts: pprof-stream.ts). */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }

  private reset(): void {
    this.len = 0;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Writes a base-128 varint. */
  varint(v: U64): this {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint: ${v} is not a non-negative safe integer`);
      this.ensure(10);
      if (v < TWO_32) {
        let x = v >>> 0;
        while (x > 0x7f) {
          this.buf[this.len++] = (x & 0x7f) | 0x80;
          x >>>= 7;
        }
        this.buf[this.len++] = x;
        return this;
      }
      return this.varint(BigInt(v));
    }
    if (v < 0n || v > MAX_U64) throw new RangeError(`varint: ${v} does not fit in uint64`);
    this.ensure(10);
    let x = v;
    while (x > 0x7fn) {
      this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.len++] = Number(x);
    return this;
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  private raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** A varint field; skipped when 0 (proto3 default). */
  uint64(field: number, v: U64): this {
    if (v === 0 || v === 0n) return this;
    this.tag(field, WIRE_VARINT);
    return this.varint(v);
  }

  /** A bool field; skipped when false. */
  bool(field: number, v: boolean): this {
    return v ? this.uint64(field, 1) : this;
  }

  /** A length-delimited field with the UTF-8 bytes of `s`; written even when empty (repeated strings need that). */
  string(field: number, s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    this.tag(field, WIRE_LEN);
    this.varint(bytes.length);
    this.raw(bytes);
    return this;
  }

  /** A packed repeated varint field; skipped when empty. */
  packed(field: number, values: readonly U64[]): this {
    if (values.length === 0) return this;
    const w = this.scratch();
    for (const v of values) w.varint(v);
    this.tag(field, WIRE_LEN);
    this.varint(w.len);
    this.ensure(w.len);
    this.buf.set(w.buf.subarray(0, w.len), this.len);
    this.len += w.len;
    return this;
  }

  /** A nested message field (written even when empty: an empty message is still an element of a repeated field). */
  message(field: number, body: (w: ProtoWriter) => void): this {
    const w = this.scratch();
    body(w);
    this.tag(field, WIRE_LEN);
    this.varint(w.len);
    this.ensure(w.len);
    this.buf.set(w.buf.subarray(0, w.len), this.len);
    this.len += w.len;
    return this;
  }

  private scratch(): ProtoWriter {
    if (this.child === undefined) this.child = new ProtoWriter();
    this.child.reset();
    return this.child;
  }
}
