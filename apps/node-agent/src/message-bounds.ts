import { AgentMessage } from '@tracefleet/proto';

/**
 * What this agent sends at most in one message. The controller's caps (apps/controller/src/agents/
 * batch-limits.ts) are a stated margin above these: 8 MiB per message, 100,000 strings per batch, and
 * a margin above the caps a run type states for its own batches (its RunType's `batches`). The run code
 * stays under them by construction (flushes are cut in chunks, string tables are per batch and strings
 * are cut to 1,024 units); send() checks anyway, so that an unforeseen batch is not sent (a seq gap the
 * controller shows) rather than refused there and counted against this node.
 */
export const AGENT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const AGENT_MAX_STRINGS = 50_000;

type AgentMsg = NonNullable<AgentMessage['msg']>;
type AgentCase = AgentMsg['$case'];

/** The AgentMessage cases that carry a string table: the result batches runs stream. */
export type BatchCase = { [K in AgentCase]: Extract<AgentMsg, { $case: K }>['value'] extends { strings: string[] } ? K : never }[AgentCase];

/** What the agent checks of a batch beyond the string and byte bounds every batch has. */
export interface BatchBound {
  /** Most entries of the batch's `stacks`. */
  maxStacks?: number;
}

/** The batches a run type sends (its RunType's `batches`; runs/registry.ts's BATCH_BOUNDS has every type's). */
export type BatchBounds = { [K in BatchCase]?: BatchBound };

/**
 * Why `msg` must not be sent, or undefined. Only the batches in `batches` are checked; each is encoded
 * once to measure it (other messages are small by construction).
 */
export function overAgentBounds(msg: AgentMessage, batches: BatchBounds): string | undefined {
  const m = msg.msg;
  if (!m) return undefined;
  const bound: BatchBound | undefined = (batches as Partial<Record<AgentCase, BatchBound>>)[m.$case];
  if (!bound) return undefined;
  const { strings, stacks } = m.value as { strings: string[]; stacks?: unknown[] };
  if (strings.length > AGENT_MAX_STRINGS) return `${m.$case} has ${strings.length} strings (at most ${AGENT_MAX_STRINGS})`;
  if (bound.maxStacks !== undefined && stacks && stacks.length > bound.maxStacks) return `${m.$case} has ${stacks.length} stacks (at most ${bound.maxStacks})`;
  const bytes = AgentMessage.encode(msg).finish().length;
  if (bytes > AGENT_MAX_MESSAGE_BYTES) return `${m.$case} is ${bytes} bytes (at most ${AGENT_MAX_MESSAGE_BYTES})`;
  return undefined;
}
