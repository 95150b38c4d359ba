import { JOB_TYPE_DEFS } from '../job-types/registry';
import { envelopeFields, scanMessage, WireError, type ScanContext, type Violation } from './wire-scan';
import { MAX_RECEIVE_MESSAGE_BYTES, id, runIdField, strings, frames, text, type MessageCaps, type Shape } from '../common/wire-shape';

export { MAX_RECEIVE_MESSAGE_BYTES, MAX_STACK_FRAMES, MAX_STRING_BYTES, type MessageCaps } from '../common/wire-shape';

/**
 * What the controller accepts in one message from an agent, per message type. Each cap is a stated
 * margin above what the agent itself sends (apps/node-agent: its flush code and link.ts's
 * MAX_MESSAGE_BYTES); the agent never exceeds them. A message over any cap is refused before it is
 * decoded (wire-scan.ts), so its cost is one pass over bytes already bounded by the transport.
 */

const FOLDED_STACK: Shape = { 1: frames(), 2: { name: 'count', kind: 'num' } };
const UNWIND: Shape = {};

/** By AgentMessage field number (packages/proto/proto/tracefleet/v1/agent.proto). */
export const CAPS: Readonly<Record<number, MessageCaps>> = {
  // Up to 4096 held run ids (~38 bytes each), as a heartbeat carries as many running ones.
  1: {
    type: 'register',
    maxBytes: 256 * 1024,
    shape: { 1: { name: 'nodeName', kind: 'str', maxLen: 256 }, 2: { name: 'labels', kind: 'msg', maxPer: 256, shape: { 1: text('key'), 2: text('value') } }, 6: { name: 'capabilities', kind: 'str', maxLen: 256, maxPer: 256 }, 10: { name: 'instanceId', kind: 'str', maxLen: 64 }, 11: { ...id('heldRunIds'), maxPer: 4096 } },
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
};

// The registered job types' reports (job-types/registry.ts) bring their own caps.
for (const def of JOB_TYPE_DEFS) {
  for (const { field, ...caps } of def.wire ?? []) {
    if (CAPS[field]) throw new Error(`job type ${def.name}: AgentMessage field ${field} already has caps (${CAPS[field].type})`);
    (CAPS as Record<number, MessageCaps>)[field] = caps;
  }
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
