/**
 * Redaction of captured TLS plaintext, applied on the agent before any byte leaves the node.
 * Pure (no I/O): the run feeds every captured buffer in the order the calls returned.
 *
 * Three passes per buffer, in this order:
 *  1. HTTP/2: HPACK-compressed header blocks cannot be matched by name or pattern, so on a
 *     connection that speaks h2 the payload of every HEADERS, PUSH_PROMISE and CONTINUATION frame
 *     is replaced by zero bytes of the same length. Zeros rather than a marker keep the frame
 *     layout (lengths, the other frames) intact and readable; the header block itself is lost,
 *     which is the point. PUSH_PROMISE is zeroed too: it carries a header block like HEADERS.
 *     A connection is h2 once its client preface is seen, or once a buffer decomposes into valid
 *     h2 frames (the job began mid-connection). Frames are followed across calls per direction;
 *     when the position in the frame stream is lost (a frame header in bytes the kernel did not
 *     copy, a dropped event) the next buffer must again look like frames, or it is zeroed whole:
 *     a buffer of an h2 connection that cannot be framed could hold a header block.
 *  2. HTTP/1 header lines `Name: value` (name case-insensitive) anywhere in the buffer: the value
 *     is replaced by `[REDACTED]`, also when the line is cut by the end of the captured bytes. A
 *     value (or a name) cut by the end of one call is finished at the start of the next call on
 *     the same connection and direction, up to its line end.
 *  3. Every match of each job pattern (RE2 syntax over the bytes as UTF-8, see patterns.ts) is
 *     replaced by `[REDACTED]`.
 * Passes 2 and 3 change the length of the data; SslEvent.length keeps the call's real length.
 *
 * Not covered (by design or for lack of information): patterns that span two calls; obsolete
 * folded header lines (a value continued on a line starting with a space); a secret whose first
 * part was in an event that was dropped (the continuation then passes); h2 connections whose
 * frames never start at a call boundary after the job began.
 */
import { applyPatterns, compilePattern, MAX_TOTAL_PROGRAM_SIZE, PatternError, type CompiledPattern } from '@tracefleet/redact';

export const REDACTED = '[REDACTED]';
export const BUILTIN_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'];

/** Agent limits on what a job may ask, so one job cannot make every captured call expensive. */
export const MAX_PATTERNS = 32;
export const MAX_PATTERN_LENGTH = 1024;
export const MAX_EXTRA_HEADERS = 64;

const TOKEN = "!#$%&'*+.^_`|~0-9A-Za-z-";
const HEADER_NAME = new RegExp(`^[${TOKEN}]{1,256}$`);
/** A header line's name, colon and the blanks before the value, at a line start (sticky). */
const HEADER_AT = new RegExp(`([${TOKEN}]{1,256})[ \\t]*:[ \\t]*`, 'y');
/** What an unterminated last line may hold if it is the beginning of a header name. */
const NAME_FRAGMENT = new RegExp(`^([${TOKEN}]{1,256})([ \\t]*)$`);
const MAX_PARTIAL = 256;

export class RedactionRuleError extends Error {}

export interface RedactionRules {
  /** lower-case header names whose values are redacted */
  headers: ReadonlySet<string>;
  /** the job's patterns, compiled by re2js (linear-time matching) */
  patterns: CompiledPattern[];
}

/**
 * The built-in headers plus the job's, and the job's patterns compiled as the controller checks
 * them (RE2 syntax, patterns.ts). Throws RedactionRuleError naming the bad entry, its text and
 * the reason.
 *
 * Patterns run on the agent's thread over every captured buffer (at most 16 KiB); RE2 matches in
 * time linear in the buffer, so no captured bytes can make one stall the agent.
 */
export function compileRules(extraHeaders: readonly string[] = [], patterns: readonly string[] = []): RedactionRules {
  if (extraHeaders.length > MAX_EXTRA_HEADERS) throw new RedactionRuleError(`redactHeaders: at most ${MAX_EXTRA_HEADERS} names (got ${extraHeaders.length})`);
  if (patterns.length > MAX_PATTERNS) throw new RedactionRuleError(`redactPatterns: at most ${MAX_PATTERNS} patterns (got ${patterns.length})`);
  const headers = new Set(BUILTIN_HEADERS);
  extraHeaders.forEach((h, i) => {
    const name = h.trim();
    if (!HEADER_NAME.test(name)) throw new RedactionRuleError(`redactHeaders[${i}]: "${h}" is not an HTTP header name`);
    headers.add(name.toLowerCase());
  });
  const compiled = patterns.map((p, i) => {
    if (p.length > MAX_PATTERN_LENGTH) throw new RedactionRuleError(`redactPatterns[${i}]: longer than ${MAX_PATTERN_LENGTH} characters`);
    try {
      return compilePattern(p);
    } catch (err) {
      if (err instanceof PatternError) throw new RedactionRuleError(`redactPatterns[${i}] "${p}": ${err.message}`);
      throw err;
    }
  });
  const total = compiled.reduce((n, re) => n + re.programSize(), 0);
  if (total > MAX_TOTAL_PROGRAM_SIZE) throw new RedactionRuleError(`redactPatterns: ${total} RE2 instructions in all (at most ${MAX_TOTAL_PROGRAM_SIZE})`);
  return { headers, patterns: compiled };
}

// ---------------------------------------------------------------------------
// HTTP/1 header lines
// ---------------------------------------------------------------------------

/** What one direction of a connection carries from one call into the next. */
export interface HeaderCarry {
  /** the previous buffer ended inside the value of a redacted header */
  inValue: boolean;
  /** the previous buffer ended in an unterminated line that may still become a redacted header's name */
  partial: string;
}

export function newHeaderCarry(): HeaderCarry {
  return { inValue: false, partial: '' };
}

/** The end of the line starting at or before `from`: the index of the first CR or LF, or -1. */
function lineEnd(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 13 || c === 10) return i;
  }
  return -1;
}

function nextLineStart(s: string, end: number): number {
  return s.charCodeAt(end) === 13 && s.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
}

/** `frag` (an unterminated line) may still turn into a redacted header's name in the next buffer. */
function mayBecomeHeader(frag: string, headers: ReadonlySet<string>): boolean {
  const m = NAME_FRAGMENT.exec(frag);
  if (!m || frag.length > MAX_PARTIAL) return false;
  const name = m[1].toLowerCase();
  if (m[2].length > 0) return headers.has(name);
  for (const h of headers) if (h.startsWith(name)) return true;
  return false;
}

/**
 * Replaces the values of the given headers in `s` by REDACTED. Every line start counts, the
 * buffer's first byte included (a call may write one header line); `carry` is the state of the
 * same connection and direction after its previous buffer, updated for the next one.
 */
export function redactHeaderLines(s: string, headers: ReadonlySet<string>, carry: HeaderCarry): { text: string; count: number } {
  const out: string[] = [];
  let copied = 0;
  let count = 0;
  const redactSpan = (a: number, b: number): void => {
    if (b <= a) return;
    out.push(s.slice(copied, a), REDACTED);
    copied = b;
    count++;
  };
  const done = (): { text: string; count: number } => {
    if (count === 0) return { text: s, count };
    out.push(s.slice(copied));
    return { text: out.join(''), count };
  };

  let pos = 0;
  const partial = carry.partial;
  carry.partial = '';
  if (carry.inValue) {
    const e = lineEnd(s, 0);
    redactSpan(0, e < 0 ? s.length : e);
    carry.inValue = e < 0;
    if (e < 0) return done();
    pos = nextLineStart(s, e);
  } else if (partial) {
    const e = lineEnd(s, 0);
    const end = e < 0 ? s.length : e;
    const joined = partial + s.slice(0, end);
    HEADER_AT.lastIndex = 0;
    const m = HEADER_AT.exec(joined);
    if (m && headers.has(m[1].toLowerCase())) {
      // the partial holds no colon, so the value starts in this buffer
      redactSpan(Math.max(0, m[0].length - partial.length), end);
      carry.inValue = e < 0;
    } else if (!m && e < 0 && mayBecomeHeader(joined, headers)) {
      carry.partial = joined;
    }
    if (e < 0) return done();
    pos = nextLineStart(s, e);
  }

  while (pos < s.length) {
    const e = lineEnd(s, pos);
    const end = e < 0 ? s.length : e;
    HEADER_AT.lastIndex = pos;
    const m = HEADER_AT.exec(s);
    if (m && headers.has(m[1].toLowerCase())) {
      redactSpan(pos + m[0].length, end);
      if (e < 0) carry.inValue = true;
    } else if (!m && e < 0 && mayBecomeHeader(s.slice(pos), headers)) {
      carry.partial = s.slice(pos);
    }
    if (e < 0) break;
    pos = nextLineStart(s, e);
  }
  return done();
}

// ---------------------------------------------------------------------------
// HTTP/2 frames
// ---------------------------------------------------------------------------

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
/** Frames whose payload is (part of) an HPACK header block. */
const HEADER_BLOCK_TYPES = new Set([0x1, 0x5, 0x9]);
/** Largest frame the "does this look like h2" test accepts (Go's servers allow 1 MiB; the default is 16 KiB). */
const GUESS_MAX_FRAME = 1 << 20;

/** Where one direction of an h2 connection is in its frame stream. */
export interface FrameWalker {
  synced: boolean;
  /** payload bytes of the current frame still to come */
  remaining: number;
  /** the current frame's payload is a header block (zeroed) */
  zero: boolean;
  /** a frame header cut by the end of the previous call */
  header: Buffer;
  headerLen: number;
}

export function newFrameWalker(synced = false): FrameWalker {
  return { synced, remaining: 0, zero: false, header: Buffer.alloc(FRAME_HEADER), headerLen: 0 };
}

/**
 * Whether a frame header is plausible. Loose (a walker in sync): the constraints RFC 9113 puts on
 * the types it defines; other types are extensions and pass. Strict (guessing whether bytes are h2
 * at all): only defined types, the reserved bit clear, and a bounded length.
 */
export function validFrameHeader(len: number, type: number, flags: number, sid: number, reserved: boolean, strict: boolean): boolean {
  const onStream = sid !== 0;
  const only = (allowed: number): boolean => (flags & ~allowed) === 0;
  if (strict && (reserved || len > GUESS_MAX_FRAME)) return false;
  switch (type) {
    case 0x0: // DATA
      return onStream && (!strict || only(0x1 | 0x8));
    case 0x1: // HEADERS
      return onStream && (!strict || only(0x1 | 0x4 | 0x8 | 0x20));
    case 0x2: // PRIORITY
      return onStream && len === 5;
    case 0x3: // RST_STREAM
      return onStream && len === 4;
    case 0x4: // SETTINGS
      return !onStream && len % 6 === 0 && (!(flags & 0x1) || len === 0) && (!strict || only(0x1));
    case 0x5: // PUSH_PROMISE
      return onStream && len >= 4 && (!strict || only(0x4 | 0x8));
    case 0x6: // PING
      return !onStream && len === 8 && (!strict || only(0x1));
    case 0x7: // GOAWAY
      return !onStream && len >= 8;
    case 0x8: // WINDOW_UPDATE
      return len === 4;
    case 0x9: // CONTINUATION
      return onStream && (!strict || only(0x4));
    case 0xa: // ALTSVC (RFC 7838)
    case 0xc: // ORIGIN (RFC 8336)
    case 0x10: // PRIORITY_UPDATE (RFC 9218)
      return true;
    default:
      return !strict;
  }
}

type Span = [number, number];

interface WalkResult {
  /** false: the walker lost its place (see `invalidAt`) */
  ok: boolean;
  /** where an implausible frame header starts (0 when it began in an earlier call); undefined when only the bytes were missing */
  invalidAt?: number;
  /** header-block payload spans within the captured bytes, to zero */
  spans: Span[];
  frames: number;
}

/** Follows frames through one call's bytes: `data` holds the first bytes of the `length` the call moved. */
function walkFrames(w: FrameWalker, data: Buffer, start: number, length: number, strict: boolean): WalkResult {
  const captured = data.length;
  const spans: Span[] = [];
  let p = start;
  let frames = 0;
  while (p < length) {
    if (w.remaining > 0) {
      const n = Math.min(w.remaining, length - p);
      if (w.zero && p < captured) spans.push([p, Math.min(p + n, captured)]);
      p += n;
      w.remaining -= n;
      continue;
    }
    const headerStart = w.headerLen > 0 ? 0 : p;
    const take = Math.min(FRAME_HEADER - w.headerLen, length - p);
    if (p + take > captured) return { ok: false, spans, frames }; // the header is in bytes the kernel did not copy
    data.copy(w.header, w.headerLen, p, p + take);
    w.headerLen += take;
    p += take;
    if (w.headerLen < FRAME_HEADER) break;
    const h = w.header;
    const len = h.readUIntBE(0, 3);
    const type = h[3];
    const flags = h[4];
    const sidWord = h.readUInt32BE(5);
    w.headerLen = 0;
    if (!validFrameHeader(len, type, flags, sidWord & 0x7fffffff, (sidWord & 0x80000000) !== 0, strict)) {
      return { ok: false, invalidAt: headerStart, spans, frames };
    }
    frames++;
    w.remaining = len;
    w.zero = HEADER_BLOCK_TYPES.has(type);
  }
  return { ok: true, spans, frames };
}

/** Whether bytes starting at `start` are h2 frames (the last one may run past the captured bytes or the call). */
function looksLikeFrames(data: Buffer, start: number, length: number): boolean {
  if (data.length - start < FRAME_HEADER) return false;
  const r = walkFrames(newFrameWalker(true), data, start, length, true);
  return r.frames > 0 && (r.ok || r.invalidAt === undefined);
}

function looksLikeHttp1(data: Buffer): boolean {
  const head = data.subarray(0, 64).toString('latin1');
  return /^(?:[A-Z]{3,16} \S+ HTTP\/1\.[01]\r?\n|HTTP\/1\.[01] \d{3}[ \r\n])/.test(head);
}

// ---------------------------------------------------------------------------
// Per-connection state and the redactor
// ---------------------------------------------------------------------------

export type Direction = 'read' | 'write';

interface DirectionState {
  headers: HeaderCarry;
  frames: FrameWalker;
  /** a buffer went this way already (the h2 preface only aligns a direction that saw nothing yet) */
  seen: boolean;
}

interface Connection {
  h2: boolean;
  read: DirectionState;
  write: DirectionState;
}

function newDirection(): DirectionState {
  return { headers: newHeaderCarry(), frames: newFrameWalker(), seen: false };
}

export interface RedactInput {
  pid: number;
  /** the SSL* of the call: one TLS connection of the process */
  ssl: bigint;
  direction: Direction;
  /** the captured bytes (the first max_data_bytes of the call, or fewer) */
  data: Buffer;
  /** bytes the call moved (>= data.length) */
  length: number;
}

export interface RedactOutput {
  data: Buffer;
  redactions: number;
}

export class Redactor {
  private readonly conns = new Map<string, Connection>();

  constructor(
    private readonly rules: RedactionRules,
    /** connections whose state is kept; the least recently used is forgotten past it */
    private readonly maxConnections = 4096,
  ) {}

  get connections(): number {
    return this.conns.size;
  }

  /** Redacts one call's bytes, in the order the calls returned. Never changes `input.data`. */
  redact(input: RedactInput): RedactOutput {
    const conn = this.connection(input.pid, input.ssl);
    const dir = conn[input.direction];
    const other = conn[input.direction === 'read' ? 'write' : 'read'];
    let data = input.data;
    let redactions = 0;
    const length = Math.max(input.length, data.length);
    if (length > 0) {
      const spans = this.frames(conn, dir, other, data, length).filter(([a, b]) => b > a);
      dir.seen = true;
      if (spans.length > 0) {
        data = Buffer.from(data);
        for (const [a, b] of spans) data.fill(0, a, b);
        redactions += spans.length;
      }
    }
    if (data.length === 0) return { data, redactions };
    const h = redactHeaderLines(data.toString('latin1'), this.rules.headers, dir.headers);
    if (h.count > 0) {
      data = Buffer.from(h.text, 'latin1');
      redactions += h.count;
    }
    if (this.rules.patterns.length > 0) {
      const p = applyPatterns(data, this.rules.patterns);
      data = p.data;
      redactions += p.count;
    }
    return { data, redactions };
  }

  /** A handshake on (pid, ssl): the SSL* now belongs to a new connection, whose state starts clean. */
  reset(pid: number, ssl: bigint): void {
    this.conns.delete(`${pid}:${ssl}`);
  }

  /**
   * Calls were lost (dropped in the kernel or the agent): positions in h2 frame streams are no
   * longer known, so each must be found again from a buffer that looks like frames.
   */
  lostSync(pid?: number, ssl?: bigint): void {
    const one = pid !== undefined && ssl !== undefined ? this.conns.get(`${pid}:${ssl}`) : undefined;
    for (const c of one ? [one] : this.conns.values()) {
      c.read.frames = newFrameWalker();
      c.write.frames = newFrameWalker();
    }
  }

  /**
   * Headers only: calls of one direction were skipped in the kernel and the next one starts an HTTP/1
   * message, so nothing carried from before it (a header line cut at the end of the last head) applies.
   */
  skipped(pid: number, ssl: bigint, direction: Direction): void {
    const c = this.conns.get(`${pid}:${ssl}`);
    if (c) c[direction] = newDirection();
  }

  private connection(pid: number, ssl: bigint): Connection {
    const key = `${pid}:${ssl}`;
    let c = this.conns.get(key);
    if (c) {
      this.conns.delete(key); // re-insert: Map order is the LRU order
    } else {
      c = { h2: false, read: newDirection(), write: newDirection() };
      if (this.conns.size >= this.maxConnections) this.conns.delete(this.conns.keys().next().value!);
    }
    this.conns.set(key, c);
    return c;
  }

  /** Pass 1 (see the file comment): the spans of `data` to zero. */
  private frames(conn: Connection, dir: DirectionState, other: DirectionState, data: Buffer, length: number): Span[] {
    let start = 0;
    if (!conn.h2) {
      if (data.length >= H2_PREFACE.length && data.subarray(0, H2_PREFACE.length).equals(H2_PREFACE)) {
        conn.h2 = true;
        start = H2_PREFACE.length;
        dir.frames = newFrameWalker(true);
        other.frames = newFrameWalker(!other.seen);
      } else if (looksLikeFrames(data, 0, length)) {
        conn.h2 = true;
        dir.frames = newFrameWalker(true);
        other.frames = newFrameWalker();
      } else {
        return [];
      }
    }
    if (!dir.frames.synced) {
      if (looksLikeHttp1(data)) {
        // a reused SSL* or a wrong guess: this connection speaks HTTP/1
        conn.h2 = false;
        dir.frames = newFrameWalker();
        other.frames = newFrameWalker();
        return [];
      }
      if (!looksLikeFrames(data, start, length)) return [[start, data.length]];
      dir.frames = newFrameWalker(true);
    }
    const r = walkFrames(dir.frames, data, start, length, false);
    if (r.ok) return r.spans;
    dir.frames = newFrameWalker();
    if (r.invalidAt !== undefined) r.spans.push([r.invalidAt, data.length]);
    return r.spans;
  }
}
