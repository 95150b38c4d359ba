import { Agent } from './agent';
import { ConfigError, loadConfig } from './config';
import { IdentityError } from './identity';

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
  const agent = new Agent(cfg);
  agent.start().catch((err: Error) => {
    console.error(`tracefleet agent ${cfg.nodeName}: ${err instanceof IdentityError ? err.message : err.stack}`);
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
