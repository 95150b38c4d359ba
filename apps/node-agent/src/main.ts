import { Agent } from './agent';
import { ConfigError, loadConfig } from './config';
import { IdentityError } from './identity';
import { MetricsPortError } from './metrics/metrics-server';
import { AGENT_NODE_FLAGS, missingNodeFlags } from './node-flags';

function main(): void {
  let cfg;
  try {
    cfg = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`tracefleet agent: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  if (process.getuid?.() !== 0) {
    console.error('tracefleet agent: must run as root (loading BPF programs needs CAP_BPF and CAP_PERFMON)');
    process.exit(2);
  }
  const log = (m: string): void => console.log(`[agent ${cfg.nodeName}] ${m}`);
  const missing = missingNodeFlags();
  // A supervisor of the operator's own: the agent works, with a larger heap (node-flags.ts says how much).
  if (missing.length) log(`started without ${missing.join(' ')}: start it as \`node ${AGENT_NODE_FLAGS.join(' ')} main.js\` for a smaller heap`);
  // Refused for good (another agent holds this node name): stop, say why, exit 3 so a supervisor does not just restart it into the same refusal.
  const agent: Agent = new Agent(cfg, log, undefined, (reason) => {
    console.error(`tracefleet agent ${cfg.nodeName}: ${reason}`);
    void agent.shutdown(1000).finally(() => process.exit(3));
  });
  agent.start().catch((err: Error) => {
    console.error(`tracefleet agent ${cfg.nodeName}: ${err instanceof IdentityError || err instanceof MetricsPortError ? err.message : err.stack}`);
    void agent.shutdown(1000).finally(() => process.exit(2));
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`[agent ${cfg.nodeName}] ${signal}: stopping runs and detaching probes`);
    agent.shutdown().finally(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main();
