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
 * event that starts a message. A headers-only capture keeps only calls that start a message and
 * reports the bytes of the calls it skipped in between on the next kept one: a hole before its data
 * (a body's rest, counted against its framing). The agent's redaction replaces spans by
 * "[REDACTED]", which changes the data's length: harmless in heads (framing comes from header values
 * it leaves alone unless a job pattern matches them), but a body pattern shifts Content-Length
 * framing until the next call that starts a message, and the hole of a truncated, redacted call is
 * off by the difference (with headers only, the next kept call ends the body whatever the count).
 */

import { H2Stream, isH2Preface } from './h2-stream';
import {
  DEFAULT_PARSE_LIMITS,
  type Common,
  type ConnectionSummary,
  type H2Frame,
  type HttpExchange,
  type HttpMessageSummary,
  type ParseLimits,
  type ParseOptions,
  type Role,
  type SslSegment,
} from './http-types';
import { CRLF, looksLikeStart, type MessageKind } from './http1-head';
import { H1Stream, type Message, type StreamHost } from './http1-stream';

export type { BodySize, ConnectionSummary, H2Frame, HttpExchange, HttpMessageSummary, ParseLimits, ParseOptions, Role, SslEventDirection, SslSegment } from './http-types';
export { DEFAULT_PARSE_LIMITS } from './http-types';

interface PendingSegment {
  direction: 'read' | 'write';
  data: Buffer;
  hole: number;
  /** Uncaptured bytes before data (headers-only capture). */
  skip: number;
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
  private readonly skipped = { calls: 0, bytes: 0 };
  private readonly limits: ParseLimits;

  constructor(
    limits: Partial<ParseLimits> = {},
    private readonly opts: ParseOptions = {},
  ) {
    this.limits = { ...DEFAULT_PARSE_LIMITS, ...limits };
  }

  push(seg: SslSegment): void {
    if (seg.direction === 'handshake') return;
    const data = Buffer.from(seg.data.buffer, seg.data.byteOffset, seg.data.byteLength);
    const hole = seg.truncated ? Math.max(0, seg.length - data.length) : 0;
    const skip = Math.max(0, seg.skippedBytes ?? 0);
    this.skipped.calls += Math.max(0, seg.skippedCalls ?? 0);
    this.skipped.bytes += skip;
    if (data.length + hole + skip === 0) return;
    this.bytes[seg.direction] += data.length + hole + skip;
    const p: PendingSegment = { direction: seg.direction, data, hole, skip, ts: seg.tsNs };
    if (this.protocol === 'unknown') {
      if (!this.detect(p)) {
        this.pending.push(p);
        if (this.pending.length > this.limits.maxPending) {
          const old = this.pending.shift()!;
          this.unparsed(old.skip + old.data.length + old.hole);
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
        this.unparsed(q.skip + q.data.length + q.hole);
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
    const mk = (d: 'read' | 'write'): H1Stream => new H1Stream(d === reqDir ? 'request' : 'response', this, this.limits, this.opts.headersOnly);
    this.h1 = { read: mk('read'), write: mk('write') };
    return true;
  }

  private feed(p: PendingSegment): void {
    if (this.h1) this.h1[p.direction].push(p.data, p.hole, p.ts, p.skip);
    else if (this.h2) this.h2[p.direction].push(p.data, p.hole, p.ts, p.skip);
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
    for (const p of this.pending) this.unparsed(p.skip + p.data.length + p.hole);
    this.pending = [];
    const notes = [...this.notes];
    // Past the notes' bound too: it says what the capture left out.
    if (this.skipped.calls > 0 || this.skipped.bytes > 0) notes.push(`headers-only capture: ${this.skipped.calls} calls, ${this.skipped.bytes} bytes of bodies were not captured`);
    const common: Common = { role: this.role, bytes: { ...this.bytes }, unparsedBytes: this.unparsedBytes, notes };
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
export function summarizeConnection(events: Iterable<SslSegment>, limits?: Partial<ParseLimits>, opts?: ParseOptions): ConnectionSummary {
  const p = new ConnectionParser(limits, opts);
  for (const e of events) p.push(e);
  return p.summary();
}
