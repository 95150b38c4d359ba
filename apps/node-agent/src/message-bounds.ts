import { AgentMessage } from '@tracefleet/proto';

/**
 * What this agent sends at most in one message. The controller's caps (apps/controller/src/agents/
 * batch-limits.ts) are a stated margin above these: 8 MiB per message, 100,000 strings and 20,000
 * profile stacks per batch. The run code stays under them by construction (profile flushes are cut
 * in chunks, string tables are per batch and strings are cut to 1,024 units); send() checks anyway,
 * so that an unforeseen batch is not sent (a seq gap the controller shows) rather than refused
 * there and counted against this node.
 */
export const AGENT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const AGENT_MAX_STRINGS = 50_000;
export const AGENT_MAX_PROFILE_STACKS = 10_000;

/** Why `msg` must not be sent, or undefined. Encodes it once to measure it (batches only). */
export function overAgentBounds(msg: AgentMessage): string | undefined {
  const m = msg.msg;
  if (!m) return undefined;
  if (m.$case !== 'profileBatch' && m.$case !== 'usdtEvents' && m.$case !== 'sslEvents' && m.$case !== 'memleakSnapshot') return undefined;
  if (m.value.strings.length > AGENT_MAX_STRINGS) return `${m.$case} has ${m.value.strings.length} strings (at most ${AGENT_MAX_STRINGS})`;
  if (m.$case === 'profileBatch' && m.value.stacks.length > AGENT_MAX_PROFILE_STACKS) return `profileBatch has ${m.value.stacks.length} stacks (at most ${AGENT_MAX_PROFILE_STACKS})`;
  const bytes = AgentMessage.encode(msg).finish().length;
  if (bytes > AGENT_MAX_MESSAGE_BYTES) return `${m.$case} is ${bytes} bytes (at most ${AGENT_MAX_MESSAGE_BYTES})`;
  return undefined;
}
