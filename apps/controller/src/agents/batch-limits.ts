import { JOB_TYPE_DEFS } from '../job-types/registry';
import { envelopeFields, scanMessage, WireError, type ScanContext, type Shape, type Violation } from './wire-scan';

/**
 * What the controller accepts in one message from an agent, per message type. Each cap is a stated
 * margin above what the agent itself sends (apps/node-agent: its flush code and link.ts's
 * MAX_MESSAGE_BYTES); the agent never exceeds them. A message over any cap is refused before it is
 * decoded (wire-scan.ts), so its cost is one pass over bytes already bounded by the transport.
 */

/** gRPC's own ceiling (grpc.max_receive_message_length); the agent sends at most AGENT_MAX_MESSAGE_BYTES = 4 MiB. */
export const MAX_RECEIVE_MESSAGE_BYTES = 8 * 1024 * 1024;
/**
 * One frame name or string-table entry. The agent cuts its strings to 1,024 UTF-16 units (at most
 * 3,072 UTF-8 bytes; node-agent string-table.ts): 8 KiB is 2.7× that.
 */
export const MAX_STRING_BYTES = 8 * 1024;
/** Frames in one stack: the agent sends at most 127 user + 127 kernel frames + 2 markers = 256; 4×. */
export const MAX_STACK_FRAMES = 1024;
/** Free-text fields (reasons, warnings, errors, attachment lines): the agent writes short sentences. */
const MAX_TEXT_BYTES = 64 * 1024;
/** Run and request ids are UUIDs (36 bytes). */
const MAX_ID_BYTES = 64;

const id = (name: string): { name: string; kind: 'str'; maxLen: number } => ({ name, kind: 'str', maxLen: MAX_ID_BYTES });
/** A batch's or report's run id, read during the scan (the last one, as the decoder keeps it). */
const runIdField = { name: 'runId', kind: 'str', maxLen: MAX_ID_BYTES, capture: true } as const;
const strings = { name: 'strings', kind: 'str', maxLen: MAX_STRING_BYTES, total: 'strings' } as const;
const frames = (name = 'frames'): { name: string; kind: 'num'; maxPer: number; total: string } => ({ name, kind: 'num', maxPer: MAX_STACK_FRAMES, total: 'frames' });
const text = (name: string, total?: string): { name: string; kind: 'str'; maxLen: number; total?: string } => ({ name, kind: 'str', maxLen: MAX_TEXT_BYTES, total });

const FOLDED_STACK: Shape = { 1: frames(), 2: { name: 'count', kind: 'num' } };
const USDT_EVENT: Shape = {
  // USDT probes take at most 12 arguments (sys/sdt.h).
  5: { name: 'args', kind: 'num', maxPer: 64 },
  6: frames('stack'),
  // The agent reads at most 63 bytes (USDT_STR_LEN).
  7: { name: 'str', kind: 'str', maxLen: 1024 },
};
const SSL_EVENT: Shape = {
  3: { name: 'comm', kind: 'str', maxLen: 256 },
  // maxDataBytes <= 16,384 plus "[REDACTED]" per redacted span: 64 KiB bounds any real capture.
  12: { name: 'data', kind: 'str', maxLen: 64 * 1024 },
  15: frames('stack'),
  16: { name: 'binary', kind: 'str', maxLen: 4096 },
};
const MEMLEAK_STACK: Shape = { 1: frames() };
const USDT_OCCURRENCE: Shape = {
  5: { name: 'beginArgs', kind: 'num', maxPer: 64 },
  6: { name: 'stack', kind: 'str', maxLen: MAX_STRING_BYTES, maxPer: MAX_STACK_FRAMES, total: 'strings' },
};
const USDT_PAIR_REPORT: Shape = {
  1: { name: 'label', kind: 'str', maxLen: 1024 },
  // Log2 buckets of a u64 duration: 64.
  4: { name: 'buckets', kind: 'num', maxPer: 128 },
  // slowestN <= 1,000 (job DTO).
  5: { name: 'slowest', kind: 'msg', maxPer: 2000, total: 'occurrences', shape: USDT_OCCURRENCE },
};
const UNWIND: Shape = {};

export interface MessageCaps {
  /** The envelope's field name (AgentMessage.msg.$case). */
  type: string;
  shape: Shape;
  /** Encoded bytes of the whole AgentMessage. */
  maxBytes: number;
  /** Totals across the message, by key (see FieldRule.total). */
  totals: Readonly<Record<string, number>>;
}

/** By AgentMessage field number (packages/proto/proto/tracefleet/v1/agent.proto). */
export const CAPS: Readonly<Record<number, MessageCaps>> = {
  1: {
    type: 'register',
    maxBytes: 64 * 1024,
    shape: { 1: { name: 'nodeName', kind: 'str', maxLen: 256 }, 2: { name: 'labels', kind: 'msg', maxPer: 256, shape: { 1: text('key'), 2: text('value') } }, 6: { name: 'capabilities', kind: 'str', maxLen: 256, maxPer: 256 } },
    totals: {},
  },
  // The agent sends running run ids (one per active run).
  2: { type: 'heartbeat', maxBytes: 256 * 1024, shape: { 2: { ...id('runningRunIds'), maxPer: 4096 } }, totals: {} },
  3: { type: 'runEvent', maxBytes: 128 * 1024, shape: { 1: runIdField, 3: text('message') }, totals: {} },
  // Agent: <= 10,000 stacks and <= 50,000 strings per batch, <= 4 MiB (aggregate.ts chunks a flush).
  4: {
    type: 'profileBatch',
    maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
    shape: { 1: runIdField, 3: strings, 4: { name: 'stacks', kind: 'msg', total: 'stacks', shape: FOLDED_STACK } },
    totals: { stacks: 20_000, strings: 100_000, frames: 20_000 * 256 },
  },
  5: { type: 'runFinished', maxBytes: 128 * 1024, shape: { 1: runIdField, 3: text('reason'), 10: { name: 'unwind', kind: 'msg', shape: UNWIND } }, totals: {} },
  6: { type: 'targetCheckResult', maxBytes: 128 * 1024, shape: { 1: id('requestId'), 3: text('detail') }, totals: {} },
  // Agent: 5,000 events per batch (usdt.run.ts EVENTS_PER_BATCH).
  7: {
    type: 'usdtEvents',
    maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
    shape: { 1: runIdField, 3: strings, 4: { name: 'events', kind: 'msg', total: 'events', shape: USDT_EVENT } },
    totals: { events: 10_000, strings: 100_000, frames: 10_000 * 256 },
  },
  8: {
    type: 'usdtReport',
    maxBytes: 4 * 1024 * 1024,
    shape: {
      1: runIdField,
      2: { name: 'probeCounts', kind: 'num', maxPer: 4096 },
      6: { name: 'pairs', kind: 'msg', maxPer: 1024, shape: USDT_PAIR_REPORT },
      7: { ...text('attached'), maxPer: 4096 },
    },
    totals: { occurrences: 20_000, strings: 200_000 },
  },
  9: {
    type: 'usdtListResult',
    maxBytes: 4 * 1024 * 1024,
    shape: {
      1: id('requestId'),
      2: { name: 'probes', kind: 'msg', maxPer: 20_000, shape: { 1: text('provider'), 2: text('name'), 3: text('path'), 6: { name: 'args', kind: 'msg', maxPer: 64, shape: { 2: text('location') } } } },
      3: text('error'),
    },
    totals: {},
  },
  // Agent: topN <= 1,000 stacks per snapshot (job DTO).
  10: {
    type: 'memleakSnapshot',
    maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
    shape: { 1: runIdField, 5: strings, 6: { name: 'stacks', kind: 'msg', total: 'stacks', shape: MEMLEAK_STACK }, 15: { ...text('attached'), maxPer: 4096 } },
    totals: { stacks: 2000, strings: 2000 * 256 },
  },
  // Agent: 1,000 events and about 1 MiB of plaintext per batch (ssl-capture.run.ts BATCH_EVENTS, BATCH_BYTES).
  11: {
    type: 'sslEvents',
    maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
    shape: { 1: runIdField, 3: strings, 4: { name: 'events', kind: 'msg', total: 'events', shape: SSL_EVENT } },
    totals: { events: 2000, strings: 100_000, frames: 2000 * 256 },
  },
  12: {
    type: 'sslReport',
    maxBytes: 1024 * 1024,
    shape: { 1: runIdField, 12: { ...text('attached'), maxPer: 4096 }, 13: { ...text('noOpenssl'), maxPer: 4096 } },
    totals: {},
  },
};

// The registered job types' reports (job-types/registry.ts) bring their own caps.
for (const def of JOB_TYPE_DEFS) {
  if (def.wire) (CAPS as Record<number, MessageCaps>)[def.wire.field] = { type: def.wire.case, maxBytes: def.wire.maxBytes, shape: def.wire.shape as Shape, totals: {} };
}

/** Cumulative bytes one run may send over its session: far above a day of a busy cpu-profile run (see README). */
export const MAX_RUN_BYTES = 4 * 1024 * 1024 * 1024;

export interface CheckResult {
  /** The message type, or "unknown" / "malformed". */
  type: string;
  runId?: string;
  bytes: number;
  violation?: Violation;
}

/** The checks of one encoded AgentMessage, before it is decoded. */
export function checkAgentMessage(buf: Uint8Array): CheckResult {
  const bytes = buf.length;
  try {
    const fields = envelopeFields(buf);
    if (fields.length > 1) return { type: 'malformed', bytes, violation: { limit: 'messages in one envelope', value: fields.length, max: 1 } };
    if (fields.length === 0) return { type: 'empty', bytes };
    const f = fields[0];
    const caps = CAPS[f.field];
    // An unknown message type decodes to an empty message (nothing is allocated for it): the router logs it.
    if (!caps) return { type: `field ${f.field}`, bytes };
    if (bytes > caps.maxBytes) return { type: caps.type, bytes, violation: { limit: 'message bytes', value: bytes, max: caps.maxBytes } };
    const ctx: ScanContext = { totals: new Map(), maxTotals: caps.totals };
    const v = scanMessage(buf, caps.shape, ctx, f.start, f.end);
    const runId = ctx.captured;
    if (v) return { type: caps.type, runId, bytes, violation: v };
    return { type: caps.type, runId, bytes };
  } catch (err) {
    if (err instanceof WireError) return { type: 'malformed', bytes, violation: { limit: `malformed (${err.message})`, value: bytes, max: 0 } };
    throw err;
  }
}
