import { AgentLinkService, AgentMessage, BufferReader } from '@tracefleet/proto';
import { checkAgentMessage, type CheckResult } from './batch-limits';
import { sanitizeMessage } from '../common/sanitize';

const CHECKED = Symbol('tracefleet.checked');

/** A decoded message with what its pre-decode check found. A refused one has no `msg`: it was never decoded. */
export type CheckedMessage = AgentMessage & { [CHECKED]?: CheckResult };

export function checkOf(msg: AgentMessage): CheckResult | undefined {
  return (msg as CheckedMessage)[CHECKED];
}

/**
 * Decodes one AgentMessage only if it passes its caps (batch-limits.ts), then sanitises it
 * (common/sanitize.ts). A message over a cap becomes an empty AgentMessage carrying the check's result,
 * so the session handler can refuse and count it; grpc-js would end the whole call on a throw.
 */
export function decodeChecked(buf: Buffer): CheckedMessage {
  return decodeWire(receiveChecked(buf));
}

/**
 * A message as it arrived: checked against its caps, still encoded. The session decodes it only when it
 * takes it (`decodeWire`), so what grpc-js buffers for a paused stream costs its wire bytes, and decoded
 * messages exist only for those this replica has taken in (agents/ingest-budget.ts bounds them).
 */
export interface WireMessage {
  readonly check: CheckResult;
  /** The wire bytes, holding no more memory than `ownBytes` allows; none when refused. */
  readonly buf?: Buffer;
}

/** Checks one AgentMessage against its caps without decoding it. */
export function receiveChecked(buf: Buffer): WireMessage {
  const check = checkAgentMessage(buf);
  return check.violation ? { check } : { check, buf: ownBytes(buf) };
}

/**
 * The message's bytes, copied only when the memory behind them is much larger than they are (a slice of
 * a larger buffer would keep all of it alive while the message waits in a paused stream). grpc-js 1.14
 * joins each message's frame into a buffer of its own (Buffer.concat: the message and its 5-byte
 * prefix), or for one under 4 KiB into a slice of Node's 8 KiB buffer pool, where a copy would land too;
 * so under a flood no batch is copied, where every batch was (7.6 KB each in the fleet bench, an
 * allocation outside the V8 heap apiece). What a held message pins stays at most max(its size + 64 bytes,
 * the pool's size) whatever grpc-js does.
 */
export function ownBytes(buf: Buffer): Buffer {
  return buf.buffer.byteLength > Math.max(buf.byteLength + 64, Buffer.poolSize) ? Buffer.from(buf) : buf;
}

/**
 * Decodes and sanitises a received message (decodeChecked's result: a refused one has no `msg`). Strings are
 * read with Node's UTF-8 decoder (BufferReader: the same text, less garbage per frame name).
 */
export function decodeWire(w: WireMessage): CheckedMessage {
  if (!w.buf) return Object.defineProperty({ msg: undefined }, CHECKED, { value: w.check }) as CheckedMessage;
  const msg = AgentMessage.decode(new BufferReader(w.buf));
  sanitizeMessage(msg);
  return Object.defineProperty(msg, CHECKED, { value: w.check }) as CheckedMessage;
}

/** The AgentLink service definition with the checked, deferred decoder in place of the generated one. */
export const CheckedAgentLinkService = {
  session: { ...AgentLinkService.session, requestDeserialize: receiveChecked },
} as const;
