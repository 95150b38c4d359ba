/**
 * HTTP summaries from captured TLS plaintext, one connection (node, pid, SSL*) at a time.
 *
 * Pure and incremental: feed the connection's events in time order with push(), then summary().
 * Only unconsumed header bytes are buffered (bounded), bodies are counted and skipped, so one
 * long connection costs little memory. HTTP/1.x: requests and responses per direction,
 * Content-Length / chunked / close-delimited bodies, pipelining (responses answer requests in
 * order), messages split across events. HTTP/2: recognized by the client preface; reported as
 * frame headers (no HPACK decoding). A call whose plaintext was truncated leaves a hole of
 * (length − captured) bytes: bodies count across it, anything else re-synchronizes at the next
 * event that starts a message. The agent's redaction replaces spans by "[REDACTED]", which changes
 * the data's length: harmless in heads (framing comes from header values it leaves alone unless a
 * job pattern matches them), but a body pattern shifts Content-Length framing until the next call
 * that starts a message, and the hole of a truncated, redacted call is off by the difference.
 */

export type SslEventDirection = 'read' | 'write' | 'handshake';

/** One captured call of the connection, as stored. */
export interface SslSegment {
  direction: SslEventDirection;
  data: Uint8Array;
  /** Plaintext bytes the call moved; more than data.length when the capture was truncated. */
  length: number;
  truncated: boolean;
  tsNs: bigint;
}

export type Role = 'client' | 'server';

export interface BodySize {
  /** content-length: declared; chunked: sum of chunk sizes; until-close: bytes seen; none: 0. */
  framing: 'none' | 'content-length' | 'chunked' | 'until-close';
  bytes: number;
  /** The framing ended within the capture (never for until-close: the close is not observed). */
  complete: boolean;
}

export interface HttpMessageSummary {
  version: string;
  headers: Record<string, string>;
  headersComplete: boolean;
  body: BodySize | null;
  /** CLOCK_MONOTONIC ns of the call holding the first and the last byte. */
  firstTsNs: string;
  lastTsNs: string;
}

export interface HttpExchange {
  protocol: 'http/1.1' | 'http/1.0';
  method: string | null;
  path: string | null;
  status: number | null;
  reason: string | null;
  /** 1xx responses before the final one (100 Continue, 103 Early Hints). */
  interim: number[];
  request: HttpMessageSummary | null;
  response: HttpMessageSummary | null;
  /** From the request's last byte to the response's first (client: write → read; server: read → write). */
  latencyNs: string | null;
  complete: boolean;
}

export interface H2Frame {
  direction: 'read' | 'write';
  type: string;
  flags: number;
  streamId: number;
  length: number;
  tsNs: string;
}

interface Common {
  role: Role | null;
  bytes: { read: number; write: number };
  /** Bytes that could not be attributed to a message (capture began mid-message, holes, garbage). */
  unparsedBytes: number;
  notes: string[];
}

export type ConnectionSummary =
  | (Common & { protocol: 'http/1.1' | 'http/1.0'; exchanges: HttpExchange[]; exchangesOmitted: number })
  | (Common & { protocol: 'h2'; frames: H2Frame[]; framesOmitted: number; frameCounts: Record<string, number> })
  | (Common & { protocol: 'unknown' });

export interface ParseLimits {
  maxHeadBytes: number;
  maxExchanges: number;
  maxFrames: number;
  /** Segments held while the protocol is not yet known. */
  maxPending: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxHeadBytes: 64 * 1024, maxExchanges: 1000, maxFrames: 1000, maxPending: 64 };

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const H2_FRAME_TYPES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

const REQUEST_LINE = /^([A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,31}) (\S+) HTTP\/(1\.[01])$/;
const STATUS_LINE = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/;
const METHOD_PREFIX = /^[A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,31}$/;

type MessageKind = 'request' | 'response';

/** Does the text at the start of `b` look like the start line of a message of this kind (as far as it goes)? */
export function looksLikeStart(b: Uint8Array, kind: MessageKind): boolean {
  if (b.length === 0) return false;
  const head = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 8192));
  const eol = head.indexOf(CRLF);
  const line = head.toString('latin1', 0, eol < 0 ? head.length : eol);
  if (eol >= 0) return (kind === 'request' ? REQUEST_LINE : STATUS_LINE).test(line);
  if (kind === 'response') return 'HTTP/1.'.startsWith(line.slice(0, 7)) && (line.length <= 7 || /^HTTP\/1\.[01]/.test(line));
  const sp = line.indexOf(' ');
  if (sp < 0) return METHOD_PREFIX.test(line);
  if (!METHOD_PREFIX.test(line.slice(0, sp))) return false;
  // "PRI * HTTP/2.0" is the HTTP/2 preface, not an HTTP/1 request.
  return !line.startsWith('PRI * HTTP/2');
}

export function isH2Preface(b: Uint8Array): boolean {
  const n = Math.min(b.length, H2_PREFACE.length);
  // At least the request-line part ("PRI * HTTP/2.0\r\n"), and all of the preface that was captured.
  return n >= 16 && Buffer.from(b.buffer, b.byteOffset, n).equals(H2_PREFACE.subarray(0, n));
}

export function h2FrameTypeName(t: number): string {
  return H2_FRAME_TYPES[t] ?? `0x${t.toString(16).padStart(2, '0')}`;
}

interface ParsedHead {
  kind: MessageKind;
  version: string;
  method?: string;
  path?: string;
  status?: number;
  reason?: string;
  headers: Record<string, string>;
}

/** Start line and header fields of a message head (without the final CRLFCRLF); undefined if not HTTP/1. */
export function parseHead(text: string, kind: MessageKind): ParsedHead | undefined {
  const lines = text.split('\r\n');
  const start = lines[0];
  const headers: Record<string, string> = {};
  let last: string | undefined;
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && last !== undefined) {
      headers[last] += ` ${line.trim()}`; // obsolete line folding
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    last = name;
  }
  if (kind === 'request') {
    const m = REQUEST_LINE.exec(start);
    return m ? { kind, method: m[1], path: m[2], version: m[3], headers } : undefined;
  }
  const m = STATUS_LINE.exec(start);
  return m ? { kind, version: m[1], status: Number(m[2]), reason: m[3] ?? '', headers } : undefined;
}

interface Message {
  head?: ParsedHead;
  /** The start line when the head never completed. */
  partialStart?: string;
  body: BodySize | null;
  firstTs: bigint;
  lastTs: bigint;
}

type BodyState =
  | { framing: 'content-length'; remaining: number }
  | { framing: 'chunked'; phase: 'size' | 'data' | 'crlf' | 'trailer'; remaining: number; line: Buffer }
  | { framing: 'until-close' };

interface StreamHost {
  note(n: string): void;
  unparsed(n: number): void;
  onHead(kind: MessageKind, m: Message): void;
  onDone(kind: MessageKind, m: Message): void;
  /** The method of the request a response answers (a HEAD response has no body). */
  requestMethodOf(response: Message): string | undefined;
}

/** One direction of an HTTP/1 connection: a sequence of requests, or of responses. */
class H1Stream {
  /** sync: lost, waiting for an event that starts a message; idle: the next byte starts one. */
  private mode: 'sync' | 'idle' | 'head' | 'body' | 'opaque' = 'sync';
  private head = Buffer.alloc(0);
  private body: BodyState | undefined;
  private cur: Message | undefined;

  constructor(
    readonly kind: MessageKind,
    private readonly host: StreamHost,
    private readonly limits: ParseLimits,
  ) {}

  opaque(): void {
    this.mode = 'opaque';
  }

  push(data: Buffer, hole: number, ts: bigint): void {
    let off = 0;
    if (this.mode === 'opaque') return;
    if (this.mode === 'sync') {
      if (!looksLikeStart(data, this.kind)) {
        this.host.unparsed(data.length + hole);
        return;
      }
      this.mode = 'idle';
    }
    while (off < data.length) {
      if (this.mode === 'idle') {
        if (!looksLikeStart(data.subarray(off), this.kind)) {
          this.host.note(`unexpected bytes where a ${this.kind} should start; skipped to the next call that starts one`);
          this.host.unparsed(data.length - off + hole);
          this.mode = 'sync';
          return;
        }
        this.cur = { body: null, firstTs: ts, lastTs: ts };
        this.head = Buffer.alloc(0);
        this.mode = 'head';
      } else if (this.mode === 'head') {
        off = this.pushHead(data, off, ts);
      } else if (this.mode === 'body') {
        off = this.pushBody(data, off, ts);
      } else {
        // Lost the framing mid-call (sync), or the connection left HTTP/1 (opaque).
        if (this.mode === 'sync') this.host.unparsed(data.length - off);
        break;
      }
    }
    if (hole > 0) this.hole(hole, ts);
  }

  private pushHead(data: Buffer, off: number, ts: bigint): number {
    const prev = this.head.length;
    // Look for CRLFCRLF across the boundary with what is already buffered.
    const joined = Buffer.concat([this.head.subarray(Math.max(0, prev - 3)), data.subarray(off)]);
    const at = joined.indexOf(CRLFCRLF);
    if (at < 0) {
      this.head = Buffer.concat([this.head, data.subarray(off)]);
      if (this.head.length > this.limits.maxHeadBytes) {
        this.host.note(`a ${this.kind} head longer than ${this.limits.maxHeadBytes} bytes was skipped`);
        this.host.unparsed(this.head.length);
        this.reset('sync');
      }
      return data.length;
    }
    const endInData = off + at - Math.min(3, prev) + 4; // index in data just past CRLFCRLF
    const headText = Buffer.concat([this.head, data.subarray(off, endInData)]).toString('latin1', 0, prev + endInData - off - 4);
    const cur = this.cur!;
    cur.lastTs = ts;
    const parsed = parseHead(headText, this.kind);
    if (!parsed) {
      this.host.note(`a ${this.kind} head did not parse as HTTP/1`);
      this.host.unparsed(headText.length + 4 + data.length - endInData);
      this.reset('sync');
      return data.length;
    }
    cur.head = parsed;
    this.host.onHead(this.kind, cur);
    if (this.mode === 'opaque') {
      // 101 Switching Protocols or a CONNECT tunnel: what follows is not HTTP/1.
      cur.body = { framing: 'none', bytes: 0, complete: true };
      this.host.onDone(this.kind, cur);
      this.cur = undefined;
      return data.length;
    }
    this.startBody(parsed, ts);
    return endInData;
  }

  private startBody(h: ParsedHead, ts: bigint): void {
    const cur = this.cur!;
    const te = (h.headers['transfer-encoding'] ?? '').toLowerCase();
    const cl = h.headers['content-length'];
    const noBody =
      this.kind === 'response' &&
      (h.status! < 200 || h.status === 204 || h.status === 304 || this.host.requestMethodOf(cur) === 'HEAD');
    if (noBody) {
      cur.body = { framing: 'none', bytes: 0, complete: true };
      return this.done(ts);
    }
    if (/(^|,)\s*chunked\s*$/.test(te)) {
      cur.body = { framing: 'chunked', bytes: 0, complete: false };
      this.body = { framing: 'chunked', phase: 'size', remaining: 0, line: Buffer.alloc(0) };
      this.mode = 'body';
      return;
    }
    if (cl !== undefined) {
      const first = cl.split(',')[0].trim();
      if (!/^\d{1,15}$/.test(first)) {
        this.host.note(`a ${this.kind} has an invalid Content-Length "${cl}"; its body could not be delimited`);
        cur.body = null;
        this.host.onDone(this.kind, cur);
        return this.reset('sync');
      }
      const n = Number(first);
      cur.body = { framing: 'content-length', bytes: n, complete: n === 0 };
      if (n === 0) return this.done(ts);
      this.body = { framing: 'content-length', remaining: n };
      this.mode = 'body';
      return;
    }
    if (this.kind === 'request') {
      cur.body = { framing: 'none', bytes: 0, complete: true };
      return this.done(ts);
    }
    cur.body = { framing: 'until-close', bytes: 0, complete: false };
    this.body = { framing: 'until-close' };
    this.mode = 'body';
  }

  private pushBody(data: Buffer, off: number, ts: bigint): number {
    const b = this.body!;
    const cur = this.cur!;
    cur.lastTs = ts;
    if (b.framing === 'until-close') {
      cur.body!.bytes += data.length - off;
      return data.length;
    }
    if (b.framing === 'content-length') {
      const take = Math.min(b.remaining, data.length - off);
      b.remaining -= take;
      if (b.remaining === 0) {
        cur.body!.complete = true;
        this.done(ts);
      }
      return off + take;
    }
    switch (b.phase) {
      case 'data': {
        const take = Math.min(b.remaining, data.length - off);
        b.remaining -= take;
        if (b.remaining === 0) {
          b.phase = 'crlf';
          b.remaining = 2;
        }
        return off + take;
      }
      case 'crlf': {
        const take = Math.min(b.remaining, data.length - off);
        b.remaining -= take;
        if (b.remaining === 0) b.phase = 'size';
        return off + take;
      }
      case 'size': {
        // The line may be split across calls, even between its CR and LF.
        const buffered = b.line.length;
        const joined = buffered > 0 ? Buffer.concat([b.line, data.subarray(off, off + 1100)]) : data.subarray(off);
        const nl = joined.indexOf(CRLF);
        if (nl < 0) {
          b.line = Buffer.from(joined);
          if (b.line.length > 1024) return this.lost('a chunk-size line longer than 1 KiB', data.length);
          return data.length;
        }
        const text = joined.toString('latin1', 0, nl);
        const next = off + nl + 2 - buffered;
        b.line = Buffer.alloc(0);
        const m = /^([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(text);
        if (!m) return this.lost(`an invalid chunk size "${text.slice(0, 40)}"`, data.length);
        const size = parseInt(m[1], 16);
        cur.body!.bytes += size;
        if (size === 0) {
          b.phase = 'trailer';
        } else {
          b.phase = 'data';
          b.remaining = size;
        }
        return next;
      }
      case 'trailer': {
        // Trailer fields end with an empty line; without trailers that is the CRLF right after "0\r\n".
        const joined = Buffer.concat([b.line, data.subarray(off)]);
        const end = joined.subarray(0, 2).equals(CRLF) ? 0 : joined.indexOf(CRLFCRLF);
        if (end < 0) {
          b.line = joined;
          if (b.line.length > this.limits.maxHeadBytes) return this.lost('chunked trailers longer than the head limit', data.length);
          return data.length;
        }
        const consumedJoined = end === 0 ? 2 : end + 4;
        const used = consumedJoined - (joined.length - (data.length - off));
        cur.body!.complete = true;
        this.done(ts);
        return off + used;
      }
    }
  }

  private hole(n: number, ts: bigint): void {
    const cur = this.cur;
    if (this.mode === 'sync' || this.mode === 'opaque') {
      this.host.unparsed(n);
      return;
    }
    if (this.mode === 'idle' || this.mode === 'head') {
      if (this.mode === 'head' && cur) this.emitPartial();
      this.host.note('plaintext was not captured (truncated calls); parsing resumed at the next call that starts a message');
      this.host.unparsed(n);
      this.reset('sync');
      return;
    }
    const b = this.body!;
    cur!.lastTs = ts;
    if (b.framing === 'until-close') {
      cur!.body!.bytes += n;
    } else if (b.framing === 'content-length') {
      const take = Math.min(n, b.remaining);
      b.remaining -= take;
      if (b.remaining === 0) {
        cur!.body!.complete = true;
        this.done(ts);
        if (n > take) {
          this.host.unparsed(n - take);
          this.reset('sync');
        }
      }
    } else if (b.phase === 'data' && n <= b.remaining) {
      b.remaining -= n;
      if (b.remaining === 0) {
        b.phase = 'crlf';
        b.remaining = 2;
      }
    } else {
      this.lost('uncaptured bytes inside chunked framing', 0);
      this.host.unparsed(n);
    }
  }

  /** The body's framing cannot be followed: the message ends incomplete, parsing waits for a new message. */
  private lost(why: string, ret: number): number {
    this.host.note(`${this.kind} body: ${why}; parsing resumed at the next call that starts a message`);
    if (this.cur) this.host.onDone(this.kind, this.cur);
    this.reset('sync');
    return ret;
  }

  private done(ts: bigint): void {
    const cur = this.cur!;
    cur.lastTs = ts;
    this.host.onDone(this.kind, cur);
    this.cur = undefined;
    this.body = undefined;
    if (this.mode !== 'opaque') this.mode = 'idle';
  }

  private reset(mode: 'sync' | 'idle'): void {
    this.cur = undefined;
    this.body = undefined;
    this.head = Buffer.alloc(0);
    this.mode = mode;
  }

  /** A head that never completed: keep its start line so the summary can still name it. */
  private emitPartial(): void {
    const cur = this.cur!;
    const text = this.head.toString('latin1');
    const eol = text.indexOf('\r\n');
    if (eol < 0) return; // not even a start line
    const parsed = parseHead(text.slice(0, text.lastIndexOf('\r\n')), this.kind);
    if (!parsed) return;
    cur.head = parsed;
    cur.partialStart = text.slice(0, eol);
    this.host.onHead(this.kind, cur);
    this.host.onDone(this.kind, cur);
  }

  /** End of the capture: a message in progress is reported as it stands. */
  finish(): void {
    if (this.mode === 'head' && this.cur) this.emitPartial();
    else if (this.mode === 'body' && this.cur) this.host.onDone(this.kind, this.cur);
    this.reset('sync');
  }
}

/** One direction of an HTTP/2 connection: frame headers (9 bytes each), payloads skipped. */
class H2Stream {
  private phase: 'preface' | 'header' | 'payload' | 'lost';
  private remaining: number;
  private header = Buffer.alloc(0);

  constructor(
    private readonly direction: 'read' | 'write',
    withPreface: boolean,
    private readonly onFrame: (f: H2Frame) => void,
    private readonly note: (n: string) => void,
    private readonly unparsed: (n: number) => void,
  ) {
    this.phase = withPreface ? 'preface' : 'header';
    this.remaining = withPreface ? H2_PREFACE.length : 0;
  }

  push(data: Buffer, hole: number, ts: bigint): void {
    let off = 0;
    while (off < data.length && this.phase !== 'lost') {
      if (this.phase === 'preface' || this.phase === 'payload') {
        const take = Math.min(this.remaining, data.length - off);
        this.remaining -= take;
        off += take;
        if (this.remaining === 0) this.phase = 'header';
      } else {
        const take = Math.min(9 - this.header.length, data.length - off);
        this.header = Buffer.concat([this.header, data.subarray(off, off + take)]);
        off += take;
        if (this.header.length === 9) {
          const h = this.header;
          const length = h.readUIntBE(0, 3);
          this.onFrame({ direction: this.direction, type: h2FrameTypeName(h[3]), flags: h[4], streamId: h.readUInt32BE(5) & 0x7fffffff, length, tsNs: ts.toString() });
          this.header = Buffer.alloc(0);
          this.remaining = length;
          this.phase = length > 0 ? 'payload' : 'header';
        }
      }
    }
    if (this.phase === 'lost') {
      this.unparsed(data.length - off + hole);
      return;
    }
    if (hole > 0) {
      if ((this.phase === 'payload' || this.phase === 'preface') && hole <= this.remaining) {
        this.remaining -= hole;
        if (this.remaining === 0) this.phase = 'header';
      } else {
        this.note(`${this.direction}: uncaptured bytes broke HTTP/2 framing; later frames in this direction are not reported`);
        this.unparsed(hole);
        this.phase = 'lost';
      }
    }
  }
}

interface PendingSegment {
  direction: 'read' | 'write';
  data: Buffer;
  hole: number;
  ts: bigint;
}

interface Ex {
  req?: Message;
  res?: Message;
  reqDone: boolean;
  resDone: boolean;
  interim: number[];
}

/** Summarizes one TLS connection (one SSL* of one process) from its events in time order. */
export class ConnectionParser implements StreamHost {
  private protocol: 'unknown' | 'http1' | 'h2' = 'unknown';
  private role: Role | null = null;
  private pending: PendingSegment[] = [];
  private h1: { read: H1Stream; write: H1Stream } | undefined;
  private h2: { read: H2Stream; write: H2Stream } | undefined;
  private readonly exchanges: Ex[] = [];
  private exchangesOmitted = 0;
  private readonly frames: H2Frame[] = [];
  private framesOmitted = 0;
  private readonly frameCounts: Record<string, number> = {};
  private readonly notes = new Set<string>();
  private unparsedBytes = 0;
  private readonly bytes = { read: 0, write: 0 };
  private readonly limits: ParseLimits;

  constructor(limits: Partial<ParseLimits> = {}) {
    this.limits = { ...DEFAULT_PARSE_LIMITS, ...limits };
  }

  push(seg: SslSegment): void {
    if (seg.direction === 'handshake') return;
    const data = Buffer.from(seg.data.buffer, seg.data.byteOffset, seg.data.byteLength);
    const hole = seg.truncated ? Math.max(0, seg.length - data.length) : 0;
    if (data.length + hole === 0) return;
    this.bytes[seg.direction] += data.length + hole;
    const p: PendingSegment = { direction: seg.direction, data, hole, ts: seg.tsNs };
    if (this.protocol === 'unknown') {
      if (!this.detect(p)) {
        this.pending.push(p);
        if (this.pending.length > this.limits.maxPending) {
          const old = this.pending.shift()!;
          this.unparsed(old.data.length + old.hole);
        }
        return;
      }
      const replay = this.pending;
      this.pending = [];
      for (const q of replay) this.feed(q);
    }
    this.feed(p);
  }

  /** Decides protocol and role from a call that starts a message; false while undecided. */
  private detect(p: PendingSegment): boolean {
    if (isH2Preface(p.data)) {
      this.protocol = 'h2';
      this.role = p.direction === 'write' ? 'client' : 'server';
      const pre: 'read' | 'write' = p.direction;
      const onFrame = (f: H2Frame): void => this.onFrame(f);
      const note = (n: string): void => this.note(n);
      const unparsed = (n: number): void => this.unparsed(n);
      const mk = (d: 'read' | 'write'): H2Stream => new H2Stream(d, d === pre, onFrame, note, unparsed);
      this.h2 = { read: mk('read'), write: mk('write') };
      // Calls before the preface in its own direction are not HTTP/2 framing.
      this.pending = this.pending.filter((q) => {
        if (q.direction !== pre) return true;
        this.unparsed(q.data.length + q.hole);
        return false;
      });
      return true;
    }
    let role: Role | undefined;
    if (looksLikeStart(p.data, 'request') && p.data.indexOf(CRLF) >= 0) role = p.direction === 'write' ? 'client' : 'server';
    else if (looksLikeStart(p.data, 'response') && p.data.indexOf(CRLF) >= 0) role = p.direction === 'write' ? 'server' : 'client';
    if (!role) return false;
    this.protocol = 'http1';
    this.role = role;
    const reqDir = role === 'client' ? 'write' : 'read';
    const mk = (d: 'read' | 'write'): H1Stream => new H1Stream(d === reqDir ? 'request' : 'response', this, this.limits);
    this.h1 = { read: mk('read'), write: mk('write') };
    return true;
  }

  private feed(p: PendingSegment): void {
    if (this.h1) this.h1[p.direction].push(p.data, p.hole, p.ts);
    else if (this.h2) this.h2[p.direction].push(p.data, p.hole, p.ts);
  }

  // --- StreamHost ---------------------------------------------------------------------
  note(n: string): void {
    if (this.notes.size < 20) this.notes.add(n);
  }

  unparsed(n: number): void {
    this.unparsedBytes += n;
  }

  requestMethodOf(response: Message): string | undefined {
    return this.exchanges.find((e) => e.res === response)?.req?.head?.method;
  }

  onHead(kind: MessageKind, m: Message): void {
    if (kind === 'request') {
      this.add({ req: m, reqDone: false, resDone: false, interim: [] });
      return;
    }
    const status = m.head!.status!;
    const ex = this.exchanges.find((e) => !e.res);
    if (status >= 100 && status < 200 && status !== 101) {
      ex?.interim.push(status);
      return;
    }
    if (ex) ex.res = m;
    else this.add({ res: m, reqDone: false, resDone: false, interim: [] });
    const method = ex?.req?.head?.method;
    if (status === 101 || (method === 'CONNECT' && status >= 200 && status < 300)) {
      this.note(status === 101 ? `switched protocols (${m.head!.headers.upgrade ?? 'upgrade'}); later bytes are not HTTP/1` : 'CONNECT tunnel; later bytes are not HTTP/1');
      this.h1?.read.opaque();
      this.h1?.write.opaque();
    }
  }

  onDone(kind: MessageKind, m: Message): void {
    const ex = this.exchanges.find((e) => (kind === 'request' ? e.req === m : e.res === m));
    if (ex) {
      if (kind === 'request') ex.reqDone = true;
      else ex.resDone = true;
    }
  }

  private add(ex: Ex): void {
    if (this.exchanges.length >= this.limits.maxExchanges) {
      // Keep the list bounded; drop the oldest finished exchange so pairing keeps working.
      const i = this.exchanges.findIndex((e) => e.res && e.resDone);
      if (i < 0) {
        this.exchangesOmitted++;
        return;
      }
      this.exchanges.splice(i, 1);
      this.exchangesOmitted++;
    }
    this.exchanges.push(ex);
  }

  private onFrame(f: H2Frame): void {
    this.frameCounts[f.type] = (this.frameCounts[f.type] ?? 0) + 1;
    if (this.frames.length < this.limits.maxFrames) this.frames.push(f);
    else this.framesOmitted++;
  }

  /** Ends the capture of this connection and returns what it held. */
  summary(): ConnectionSummary {
    this.h1?.read.finish();
    this.h1?.write.finish();
    for (const p of this.pending) this.unparsed(p.data.length + p.hole);
    this.pending = [];
    const common: Common = { role: this.role, bytes: { ...this.bytes }, unparsedBytes: this.unparsedBytes, notes: [...this.notes] };
    if (this.protocol === 'h2') {
      return { protocol: 'h2', ...common, frames: this.frames, framesOmitted: this.framesOmitted, frameCounts: this.frameCounts };
    }
    if (this.protocol === 'unknown') return { protocol: 'unknown', ...common };
    const exchanges = this.exchanges.map(toExchange);
    const protocol = exchanges.some((e) => e.protocol === 'http/1.1') || exchanges.length === 0 ? 'http/1.1' : 'http/1.0';
    return { protocol, ...common, exchanges, exchangesOmitted: this.exchangesOmitted };
  }
}

function toSummary(m: Message, done: boolean): HttpMessageSummary {
  return {
    version: m.head?.version ?? '',
    headers: m.head?.headers ?? {},
    headersComplete: m.partialStart === undefined,
    body: m.body ? { ...m.body, complete: m.body.complete && done } : null,
    firstTsNs: m.firstTs.toString(),
    lastTsNs: m.lastTs.toString(),
  };
}

function toExchange(e: Ex): HttpExchange {
  const rq = e.req?.head;
  const rs = e.res?.head;
  const version = rq?.version ?? rs?.version ?? '1.1';
  const latency = e.req && e.res && e.req.partialStart === undefined ? e.res.firstTs - e.req.lastTs : undefined;
  const request = e.req ? toSummary(e.req, e.reqDone) : null;
  const response = e.res ? toSummary(e.res, e.resDone) : null;
  const complete = Boolean(request && response && request.headersComplete && response.headersComplete && request.body?.complete && response.body?.complete);
  return {
    protocol: version === '1.0' ? 'http/1.0' : 'http/1.1',
    method: rq?.method ?? null,
    path: rq?.path ?? null,
    status: rs?.status ?? null,
    reason: rs?.reason ?? null,
    interim: e.interim,
    request,
    response,
    latencyNs: latency === undefined ? null : latency.toString(),
    complete,
  };
}

/** Summarizes one connection's events (in time order). */
export function summarizeConnection(events: Iterable<SslSegment>, limits?: Partial<ParseLimits>): ConnectionSummary {
  const p = new ConnectionParser(limits);
  for (const e of events) p.push(e);
  return p.summary();
}
