/**
 * The shapes http-parse.ts reports (what the REST API returns for a connection) and the bounds it
 * parses within. Kept apart from the parser so readers of the API's types need not read the parser.
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
  /** Headers-only capture: bytes and calls of this direction skipped in the kernel before this call. */
  skippedBytes?: number;
  skippedCalls?: number;
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

export interface Common {
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

/** How the connection was captured. */
export interface ParseOptions {
  /** mode headers: every kept call starts an HTTP/1 message; the calls between were skipped. */
  headersOnly?: boolean;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxHeadBytes: 64 * 1024, maxExchanges: 1000, maxFrames: 1000, maxPending: 64 };
