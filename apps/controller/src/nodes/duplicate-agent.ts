/** A registration refused because another agent instance holds the node's live session. */
export class DuplicateAgentError extends Error {}

/** What a registration reads of the node's row to decide. */
export interface LiveSession {
  status: string;
  sessionId: string | null;
  instanceId: string | null;
  replicaId: string | null;
  lastSeenAt: Date;
}

/**
 * Why a Register for `nodeName` from agent instance `instanceId` is refused, or undefined. Refused only
 * while the node's session is live (connected and heard from within `unreachableMs`) and held by
 * another instance: the same instance reconnecting takes its session over, a silent node's name is
 * free again, and an agent too old to send an instance id is let in as before.
 */
export function duplicateRefusal(nodeName: string, row: LiveSession | undefined, instanceId: string, now: number, unreachableMs: number): string | undefined {
  if (!row || row.status !== 'connected' || !row.sessionId) return undefined;
  const silentMs = now - row.lastSeenAt.getTime();
  if (silentMs >= unreachableMs) return undefined;
  if (!instanceId || !row.instanceId || row.instanceId === instanceId) return undefined;
  const where = row.replicaId ? ` on replica ${row.replicaId}` : '';
  return (
    `node ${nodeName} is already connected${where} from another agent (instance ${row.instanceId.slice(0, 8)}, heard ${(Math.max(0, silentMs) / 1000).toFixed(1)} s ago); ` +
    `this agent (instance ${instanceId.slice(0, 8)}) is refused: stop the other one, or give this one its own name (TRACEFLEET_NODE_NAME)`
  );
}
