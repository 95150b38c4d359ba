/**
 * V8 flags the agent is started with (infra/systemd/tracefleet-agent.service, infra/install-agent.sh,
 * infra/images/agent.Dockerfile, infra/start.mjs, the e2e harness, `npm start`). They size the heap at
 * start-up, which is why they are command-line flags: `v8.setFlagsFromString` after start does not resize it.
 *
 * --max-semi-space-size=1: V8 grows the young generation to two 16 MiB semi-spaces when much survives a
 *   scavenge, and keeps them committed. The agent allocates in bursts (one flush a second: raw stacks, names,
 *   batches) that die young; on a whole-host profile the young generation alone went from 16 to 32 MiB of RSS
 *   and stayed there after the run (bench/agent-mem.mjs). 1 MiB semi-spaces cost more scavenges (each one short:
 *   little survives) and keep 2 MiB.
 * No --max-old-space-size guard: a legal flush of TRACEFLEET_AGENT_MAX_STACKS (200,000) distinct deep stacks holds
 *   hundreds of MiB of keys for a moment, so any cap low enough to matter could end an agent doing its job.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The flags of AGENT_NODE_FLAGS this process was started without (each by its name), for a warning at start. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((a) => a.split('=')[0].replace(/_/g, '-'));
  return AGENT_NODE_FLAGS.filter((f) => !given.includes(f.split('=')[0]));
}
