import { join } from 'node:path';

/** How the harness starts an agent process (Stack.startAgent). */
export interface AgentStartOptions {
  /** Run the agent in this network namespace (`ip netns exec`). */
  netns?: string;
  /**
   * Another build's agent entry (bench/agent-mem.mjs runs an older commit's next to this one), started with
   * `nodeFlags` instead of this build's AGENT_NODE_FLAGS.
   */
  main?: string;
  nodeFlags?: string[];
}

/** The V8 flags this build's agent is launched with (apps/node-agent/src/node-flags.ts), as its launchers pass them. */
export function agentNodeFlags(root: string): string[] {
  return [...(require(join(root, 'apps/node-agent/dist/node-flags.js')) as { AGENT_NODE_FLAGS: string[] }).AGENT_NODE_FLAGS];
}
