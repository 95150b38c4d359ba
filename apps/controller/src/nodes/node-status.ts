/**
 * A node's state as the fleet sees it. `connected`: it has a session on some replica and
 * heartbeats arrive. `unreachable`: its session ended, or no heartbeat came for
 * TRACEFLEET_NODE_UNREACHABLE_MS. `gone`: nothing heard for TRACEFLEET_NODE_GONE_MS.
 * A heartbeat or a new registration makes it `connected` again.
 */
export type NodeState = 'connected' | 'unreachable' | 'gone';

export interface NodeThresholds {
  unreachableMs: number;
  goneMs: number;
}

export interface NodeLiveness {
  status: NodeState;
  lastSeenAt: Date;
}

/**
 * The state a node is in now: the stored one, moved on by the time since it was last heard from.
 * Readers use this, so an answer is right even between two sweeps (the sweep persists the change
 * and fails the runs).
 */
export function effectiveState(n: NodeLiveness, now: number, t: NodeThresholds): NodeState {
  const silent = now - n.lastSeenAt.getTime();
  if (n.status === 'gone' || silent >= t.goneMs) return 'gone';
  if (n.status === 'unreachable' || silent >= t.unreachableMs) return 'unreachable';
  return 'connected';
}

/** The transition a sweep makes for a stored node, or undefined when it stays as it is. */
export function sweepTransition(n: NodeLiveness, now: number, t: NodeThresholds): { to: NodeState; reason: string } | undefined {
  const to = effectiveState(n, now, t);
  if (to === n.status) return undefined;
  const silent = now - n.lastSeenAt.getTime();
  return to === 'gone'
    ? { to, reason: `nothing heard for ${seconds(silent)} (gone after ${seconds(t.goneMs)})` }
    : { to, reason: `no heartbeat for ${seconds(silent)} (unreachable after ${seconds(t.unreachableMs)})` };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
