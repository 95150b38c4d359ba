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
  const check = checkAgentMessage(buf);
  if (check.violation) return Object.defineProperty({ msg: undefined }, CHECKED, { value: check }) as CheckedMessage;
  const msg = AgentMessage.decode(buf);
  sanitizeMessage(msg);
  return Object.defineProperty(msg, CHECKED, { value: check }) as CheckedMessage;
}

/** The AgentLink service definition with the checked decoder in place of the generated one. */
export const CheckedAgentLinkService = {
  session: { ...AgentLinkService.session, requestDeserialize: decodeChecked },
} as const;
