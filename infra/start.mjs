// `npm start`: the controller plus one local agent on this machine.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { readDotEnv } from './env.mjs';

const root = new URL('..', import.meta.url).pathname;
const env = { ...process.env, ...readDotEnv() };
const port = env.PORT || '8080';
const base = `http://127.0.0.1:${port}`;

/** How long a child has after SIGTERM (the agent ends its runs and detaches its probes) before it is killed. */
const STOP_GRACE_MS = 10_000;

const children = [];
const alive = (c) => c.exitCode === null && c.signalCode === null;
function run(name, script, extraEnv = {}, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, script], { cwd: root, env: { ...env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (!stopping) console.error(`[start] ${name} exited (${signal ?? code}); stopping the rest`);
    shutdown(code ?? 1);
  });
  children.push({ name, child });
  return child;
}

// Never exits before its children: a child still running past the grace (an agent busy in a long task,
// or stopped) is killed, so nothing outlives `npm start` (the kernel detaches a killed agent's probes
// with its file descriptors).
let stopping = false;
function shutdown(code) {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) if (alive(child)) child.kill('SIGTERM');
  const hard = setTimeout(() => {
    for (const { name, child } of children) {
      if (!alive(child)) continue;
      console.error(`[start] ${name} did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM: killing it`);
      child.kill('SIGKILL');
    }
  }, STOP_GRACE_MS);
  Promise.all(children.map(({ child }) => (alive(child) ? new Promise((r) => child.once('exit', r)) : null))).then(() => {
    clearTimeout(hard);
    process.exit(code);
  });
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

// The controller's heap is sized as in production (apps/controller/src/config/node-flags.ts; docs/ARCHITECTURE.md,
// "Memory under a flood").
run('controller', 'apps/controller/dist/main.js', {}, createRequire(import.meta.url)('../apps/controller/dist/config/node-flags.js').CONTROLLER_NODE_FLAGS);

async function waitHealthy() {
  for (let i = 0; i < 120; i++) {
    try {
      const res = await fetch(`${base}/api/v1/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`controller did not answer ${base}/api/v1/health within 30 s`);
}

waitHealthy().then(
  () => {
    run('agent', 'apps/node-agent/dist/main.js', {
      TRACEFLEET_CONTROLLER_GRPC: env.TRACEFLEET_GRPC_ADDR || '127.0.0.1:50051',
      TRACEFLEET_NODE_NAME: env.TRACEFLEET_NODE_NAME || hostname(),
      // Mutual TLS: the agent enrolls once with the .env bootstrap token (TRACEFLEET_ENROLLMENT_TOKEN) and keeps
      // its key (0600) and certificate here, renewing it before it expires.
      TRACEFLEET_ENROLL_ADDR: env.TRACEFLEET_ENROLL_ADDR || '127.0.0.1:50052',
      TRACEFLEET_AGENT_STATE_DIR: env.TRACEFLEET_AGENT_STATE_DIR || `${root}.tracefleet/agent`,
      // Unwind tables are built on libuv's pool threads; with glibc's default arena per thread their freed
      // scratch stays in the agent's RSS (a whole-host profile peaked ~12 MiB higher). Read at exec, so set here.
      MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX || '2',
      TRACEFLEET_AGENT_METRICS_ADDR: env.TRACEFLEET_AGENT_METRICS_ADDR ?? '127.0.0.1:9464',
      // V8 heap sizes are read at start: the agent's flags (apps/node-agent/src/node-flags.ts) go on its command line.
    }, createRequire(import.meta.url)('../apps/node-agent/dist/node-flags.js').AGENT_NODE_FLAGS);
    console.log(`
[start] Tracefleet is up: REST ${base}/api/v1 (tokens in .env: TRACEFLEET_API_TOKEN; TRACEFLEET_CAPTURE_TOKEN for ssl-capture), one local agent
[start] on mutual TLS (fleet CA ${env.TRACEFLEET_CA_CERT}; the agent's certificate in .tracefleet/agent).
[start] Web console: open ${base}/ in a browser and sign in with TRACEFLEET_API_TOKEN (or TRACEFLEET_CAPTURE_TOKEN) from .env.
[start] Or from a shell, take a 10 s CPU profile of this host:
  set -a; . ./.env; set +a
  curl -s -X POST ${base}/api/v1/jobs -H "Authorization: Bearer $TRACEFLEET_API_TOKEN" -H 'Content-Type: application/json' \\
    -d '{"type":"cpu-profile","durationSec":10,"target":{"all":true},"nodes":"all"}'
[start] then open ${base}/#/jobs/<id> in the console, or fetch ${base}/api/v1/jobs/<id>/flamegraph.svg with the same header. Ctrl-C stops both.
`);
  },
  (err) => {
    console.error(`[start] ${err.message}`);
    shutdown(1);
  },
);
