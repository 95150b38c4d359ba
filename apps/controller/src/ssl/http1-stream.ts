/**
 * One direction of an HTTP/1 connection: message framing (start line, head, then a body delimited
 * by Content-Length, chunked encoding or the close), across calls and the holes truncated calls leave
 * after their data and calls skipped by a headers-only capture leave before it.
 */

import type { BodySize, ParseLimits } from './http-types';
import { CRLF, CRLFCRLF, looksLikeStart, parseHead, type MessageKind, type ParsedHead } from './http1-head';

export interface Message {
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

export interface StreamHost {
  note(n: string): void;
  unparsed(n: number): void;
  onHead(kind: MessageKind, m: Message): void;
  onDone(kind: MessageKind, m: Message): void;
  /** The method of the request a response answers (a HEAD response has no body). */
  requestMethodOf(response: Message): string | undefined;
}

/** One direction of an HTTP/1 connection: a sequence of requests, or of responses. */
export class H1Stream {
  /** sync: lost, waiting for an event that starts a message; idle: the next byte starts one. */
  private mode: 'sync' | 'idle' | 'head' | 'body' | 'opaque' = 'sync';
  private head = Buffer.alloc(0);
  private body: BodyState | undefined;
  private cur: Message | undefined;

  constructor(
    readonly kind: MessageKind,
    private readonly host: StreamHost,
    private readonly limits: ParseLimits,
    /** Every call the capture kept starts a message (the kernel skipped the others). */
    private readonly headersOnly = false,
  ) {}

  opaque(): void {
    this.mode = 'opaque';
  }

  /** `skip` uncaptured bytes came before data (headers-only capture), `hole` uncaptured bytes after it (a truncated call). */
  push(data: Buffer, hole: number, ts: bigint, skip = 0): void {
    let off = 0;
    if (this.mode === 'opaque') return;
    // The skipped calls' times are not known: they do not move lastTs.
    if (skip > 0) this.hole(skip, undefined, 'calls skipped by the headers-only capture');
    if (this.headersOnly && this.mode === 'body' && looksLikeStart(data, this.kind)) this.bodyEnded();
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
    if (hole > 0) this.hole(hole, ts, 'truncated calls');
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

  /** n uncaptured bytes; ts: of the call they belong to, undefined when not known. */
  private hole(n: number, ts: bigint | undefined, why: string): void {
    const cur = this.cur;
    if (this.mode === 'sync' || this.mode === 'opaque') {
      this.host.unparsed(n);
      return;
    }
    if (this.mode === 'idle' || this.mode === 'head') {
      if (this.mode === 'head' && cur) this.emitPartial();
      this.host.note(`plaintext was not captured (${why}); parsing resumed at the next call that starts a message`);
      this.host.unparsed(n);
      this.reset('sync');
      return;
    }
    const b = this.body!;
    if (ts !== undefined) cur!.lastTs = ts;
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

  /**
   * Headers-only capture: a kept call starts a message, so the body before it has ended even when its
   * count says otherwise (redaction changes a head's length, so the hole after it is off by as much).
   */
  private bodyEnded(): void {
    const cur = this.cur!;
    if (cur.body?.framing === 'content-length') cur.body.complete = true;
    this.done(undefined);
  }

  /** The body's framing cannot be followed: the message ends incomplete, parsing waits for a new message. */
  private lost(why: string, ret: number): number {
    this.host.note(`${this.kind} body: ${why}; parsing resumed at the next call that starts a message`);
    if (this.cur) this.host.onDone(this.kind, this.cur);
    this.reset('sync');
    return ret;
  }

  private done(ts: bigint | undefined): void {
    const cur = this.cur!;
    if (ts !== undefined) cur.lastTs = ts;
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
