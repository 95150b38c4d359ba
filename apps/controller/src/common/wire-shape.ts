/**
 * The vocabulary of the wire caps (agents/batch-limits.ts checks every message from an agent against
 * them before it is decoded, agents/wire-scan.ts walks the bytes): field rules, message shapes, and the
 * limits and field helpers the caps share. Here so that each job type states its own messages' caps
 * in its folder.
 */

/** How one field of a message is checked. Fields not named in a shape are skipped (forward compatibility). */
export interface FieldRule {
  /** The field's name in messages and logs. */
  name: string;
  /** str: a string or bytes field (its length is checked); msg: a sub-message walked with `shape`; num: a scalar, packed or not. */
  kind: 'str' | 'msg' | 'num';
  /** str: bytes per occurrence. */
  maxLen?: number;
  /** Repeated fields: elements in one parent message (e.g. frames in one stack). */
  maxPer?: number;
  /** Elements counted across the whole message under this key (e.g. "events"), checked against the caps' totals. */
  total?: string;
  shape?: Shape;
  /** str: keep this field's value in ScanContext.captured (a batch's run id). */
  capture?: boolean;
}

export type Shape = Readonly<Record<number, FieldRule>>;

export interface MessageCaps {
  /** The envelope's field name (AgentMessage.msg.$case). */
  type: string;
  shape: Shape;
  /** Encoded bytes of the whole AgentMessage. */
  maxBytes: number;
  /** Totals across the message, by key (see FieldRule.total). */
  totals: Readonly<Record<string, number>>;
}

/** A message's caps with its AgentMessage field number (packages/proto/proto/tracefleet/v1/agent.proto). */
export interface FieldCaps extends MessageCaps {
  field: number;
}

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
export const MAX_TEXT_BYTES = 64 * 1024;
/** Run and request ids are UUIDs (36 bytes). */
export const MAX_ID_BYTES = 64;

export const id = (name: string): { name: string; kind: 'str'; maxLen: number } => ({ name, kind: 'str', maxLen: MAX_ID_BYTES });
/** A batch's or report's run id, read during the scan (the last one, as the decoder keeps it). */
export const runIdField = { name: 'runId', kind: 'str', maxLen: MAX_ID_BYTES, capture: true } as const;
export const strings = { name: 'strings', kind: 'str', maxLen: MAX_STRING_BYTES, total: 'strings' } as const;
export const frames = (name = 'frames'): { name: string; kind: 'num'; maxPer: number; total: string } => ({ name, kind: 'num', maxPer: MAX_STACK_FRAMES, total: 'frames' });
export const text = (name: string, total?: string): { name: string; kind: 'str'; maxLen: number; total?: string } => ({ name, kind: 'str', maxLen: MAX_TEXT_BYTES, total });
