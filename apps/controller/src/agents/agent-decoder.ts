import { AgentLinkService, AgentMessage } from '@tracefleet/proto';
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
  /** A copy of the wire bytes (grpc-js may hand over a slice of a larger frame buffer); none when refused. */
  readonly buf?: Buffer;
}

/** Checks one AgentMessage against its caps without decoding it. */
export function receiveChecked(buf: Buffer): WireMessage {
  const check = checkAgentMessage(buf);
  return check.violation ? { check } : { check, buf: Buffer.from(buf) };
}

/** Decodes and sanitises a received message (decodeChecked's result: a refused one has no `msg`). */
export function decodeWire(w: WireMessage): CheckedMessage {
  if (!w.buf) return Object.defineProperty({ msg: undefined }, CHECKED, { value: w.check }) as CheckedMessage;
  const msg = AgentMessage.decode(w.buf);
  sanitizeMessage(msg);
  return Object.defineProperty(msg, CHECKED, { value: w.check }) as CheckedMessage;
}

/** The AgentLink service definition with the checked, deferred decoder in place of the generated one. */
export const CheckedAgentLinkService = {
  session: { ...AgentLinkService.session, requestDeserialize: receiveChecked },
} as const;
