import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { loadPolicy, PolicyError, type AgentPolicy } from './policy';

export interface AgentConfig {
  /** Controller replicas' gRPC addresses; the agent uses one and moves to the next when the link drops. */
  controllerAddrs: string[];
  /** TRACEFLEET_CONTROLLER_ORDER: `spread` (default) starts at the address the node name picks, `given` at the first. */
  controllerOrder: 'spread' | 'given';
  /** How this node proves who it is and checks its controller (identity.ts). */
  identity: IdentityConfig;
  nodeName: string;
  labels: Record<string, string>;
  /** Longest run this agent accepts, whatever the controller asks. */
  maxDurationSec: number;
  maxFrequencyHz: number;
  /** Distinct raw stacks kept between flushes; more are counted as dropped. */
  maxStacksPerFlush: number;
  flushIntervalMs: number;
  /** 'tables': user stacks through .eh_frame unwind tables (frame pointer where a module has none); 'fp': frame pointers only. */
  unwind: 'tables' | 'fp';
  /**
   * How ssl-capture links its uprobes: 'multi' (default) uses one uprobe_multi link per file, program and probe kind
   * where the kernel has them (Linux 6.6+), else one perf-event uprobe per offset; 'per-offset' always the latter
   * (TRACEFLEET_AGENT_UPROBE_LINKS; a bench compares the two).
   */
  uprobeLinks: 'multi' | 'per-offset';
  /** Kernel memory the node's unwind tables may take, bytes. */
  unwindTableBytes: number;
  /** CPU profiles read CPython frames from the interpreters' memory (TRACEFLEET_AGENT_PYTHON_FRAMES=off turns it off). */
  pythonFrames: boolean;
  /** CPU profiles ask HotSpot JVMs for perf maps (TRACEFLEET_AGENT_JAVA_PERF_MAPS=off turns it off). */
  javaPerfMaps: boolean;
  /** The most of a traced process's /tmp/perf-PID.map the symbolizer reads, bytes (TRACEFLEET_AGENT_PERF_MAP_MB). */
  perfMapBytes: number;
  /** Encoded bytes of unacknowledged run messages kept in memory (TRACEFLEET_AGENT_OUTBOX_MB)... */
  outboxBytes: number;
  /** ...then in spool files on disk up to this (TRACEFLEET_AGENT_SPOOL_MB); past it result batches are dropped and counted. */
  spoolBytes: number;
  /** Where the spool files go (TRACEFLEET_AGENT_SPOOL_DIR; default <state dir>/spool; 0700, files 0600: they hold captured data). */
  spoolDir: string;
  /** What this node admits whatever the controller asks (policy.ts); loadConfig always sets it. */
  policy?: AgentPolicy;
  /** The metrics and health port (TRACEFLEET_AGENT_METRICS_ADDR); undefined: none. */
  metrics?: MetricsConfig;
}

export interface MetricsConfig {
  host: string;
  port: number;
  /** Bearer token /metrics requires (TRACEFLEET_AGENT_METRICS_TOKEN); without one the address must be loopback. */
  token?: string;
}

export interface IdentityConfig {
  /** The fleet CA certificate (TRACEFLEET_CA_CERT): the only issuer of controller certificates the agent accepts. */
  caCertFile: string;
  /** Where the node's key (0600) and certificate live (TRACEFLEET_AGENT_STATE_DIR, default /var/lib/tracefleet/agent). */
  stateDir: string;
  /** The controllers' enrollment addresses (TRACEFLEET_ENROLL_ADDR), tried in order. */
  enrollAddrs: string[];
  /** A bootstrap token (TRACEFLEET_ENROLLMENT_TOKEN): needed only while the node has no valid certificate. */
  enrollmentToken?: string;
}

const LABEL_RE = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;

export class ConfigError extends Error {}

/** Parses "k=v,k2=v2" as node labels; throws naming the bad pair. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!text) return labels;
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq) : '';
    const value = eq > 0 ? pair.slice(eq + 1) : '';
    if (!LABEL_RE.test(key) || (value !== '' && !LABEL_RE.test(value))) {
      throw new ConfigError(`TRACEFLEET_NODE_LABELS: bad label "${pair}" (want key=value, letters, digits, . _ / -)`);
    }
    labels[key] = value;
  }
  return labels;
}

/** TRACEFLEET_CONTROLLER_GRPC: one host:port, or several separated by commas (controller replicas). */
export function parseControllerAddrs(text: string | undefined, variable = 'TRACEFLEET_CONTROLLER_GRPC', dflt = '127.0.0.1:50051'): string[] {
  const addrs = (text || dflt).split(',').map((a) => a.trim()).filter(Boolean);
  if (addrs.length === 0) throw new ConfigError(`${variable}: no address given`);
  for (const a of addrs) {
    if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/.test(a) && !/^(dns|unix|ipv4|ipv6):/.test(a)) {
      throw new ConfigError(`${variable}: "${a}" is not host:port`);
    }
  }
  return [...new Set(addrs)];
}

/** TRACEFLEET_CONTROLLER_ORDER: which controller address an agent tries first (spread, the default, or given). */
export function parseControllerOrder(text: string | undefined): 'spread' | 'given' {
  const v = (text ?? '').trim() || 'spread';
  if (v !== 'spread' && v !== 'given') throw new ConfigError(`TRACEFLEET_CONTROLLER_ORDER: ${JSON.stringify(v.slice(0, 40))} is neither spread nor given`);
  return v;
}

/**
 * TRACEFLEET_AGENT_OUTBOX_MB and TRACEFLEET_AGENT_SPOOL_MB, in bytes. Outbox 0: every result batch goes to
 * the spool until acknowledged (a node short of memory); both 0 would drop every batch before it is sent.
 */
function outboxLimits(env: NodeJS.ProcessEnv): { outboxBytes: number; spoolBytes: number } {
  const outboxMb = intFrom(env, 'TRACEFLEET_AGENT_OUTBOX_MB', 64, 0, 65536);
  const spoolMb = intFrom(env, 'TRACEFLEET_AGENT_SPOOL_MB', 1024, 0, 1_048_576);
  if (outboxMb === 0 && spoolMb === 0) {
    throw new ConfigError('TRACEFLEET_AGENT_OUTBOX_MB and TRACEFLEET_AGENT_SPOOL_MB are both 0: every result batch would be dropped before the controller acknowledged it');
  }
  return { outboxBytes: outboxMb * 1024 * 1024, spoolBytes: spoolMb * 1024 * 1024 };
}

function intFrom(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}: "${raw}" is not an integer in [${min}, ${max}]`);
  }
  return n;
}

function unwindMode(raw: string | undefined): 'tables' | 'fp' {
  if (raw === undefined || raw === '' || raw === 'tables') return 'tables';
  if (raw === 'fp') return 'fp';
  throw new ConfigError(`TRACEFLEET_AGENT_UNWIND: "${raw}" is not one of tables, fp`);
}

function uprobeLinks(raw: string | undefined): 'multi' | 'per-offset' {
  if (raw === undefined || raw === '' || raw === 'multi') return 'multi';
  if (raw === 'per-offset') return 'per-offset';
  throw new ConfigError(`TRACEFLEET_AGENT_UPROBE_LINKS: "${raw}" is not one of multi, per-offset`);
}

function onOff(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'on') return true;
  if (raw === 'off') return false;
  throw new ConfigError(`${name}: "${raw}" is not one of on, off`);
}

/** 127.0.0.0/8 and ::1 (literals: a name could resolve anywhere): the only addresses a metrics port without a token may listen on. */
export function isLoopback(host: string): boolean {
  return host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * TRACEFLEET_AGENT_METRICS_ADDR (host:port or [v6]:port; unset: no metrics port) and TRACEFLEET_AGENT_METRICS_TOKEN.
 * The port answers with no token only on loopback: anything wider must be given a token.
 */
export function metricsConfig(env: NodeJS.ProcessEnv): MetricsConfig | undefined {
  const raw = env.TRACEFLEET_AGENT_METRICS_ADDR;
  const token = env.TRACEFLEET_AGENT_METRICS_TOKEN || undefined;
  if (token !== undefined && !/^[\x21-\x7e]{24,256}$/.test(token)) {
    throw new ConfigError('TRACEFLEET_AGENT_METRICS_TOKEN: not 24-256 printable characters');
  }
  if (raw === undefined || raw === '') return undefined;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw new ConfigError(`TRACEFLEET_AGENT_METRICS_ADDR: "${raw}" is not host:port (e.g. 127.0.0.1:9464, [::1]:9464)`);
  }
  const host = m[1] ?? m[2];
  if (!token && !isLoopback(host)) {
    throw new ConfigError(
      `TRACEFLEET_AGENT_METRICS_ADDR: "${raw}" is not a loopback address and TRACEFLEET_AGENT_METRICS_TOKEN is not set; an unauthenticated metrics port listens on loopback only`,
    );
  }
  return { host, port, ...(token ? { token } : {}) };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const enrollmentToken = env.TRACEFLEET_ENROLLMENT_TOKEN || undefined;
  if (enrollmentToken !== undefined && !/^[\x21-\x7e]{16,256}$/.test(enrollmentToken)) {
    throw new ConfigError('TRACEFLEET_ENROLLMENT_TOKEN: not 16-256 printable characters (a bootstrap token from POST /api/v1/enrollment-tokens, or the .env one)');
  }
  const caCertFile = env.TRACEFLEET_CA_CERT ?? '';
  if (!caCertFile) throw new ConfigError('TRACEFLEET_CA_CERT: not set (the fleet CA certificate; the agent trusts no controller without it)');
  const nodeName = env.TRACEFLEET_NODE_NAME || hostname();
  if (!LABEL_RE.test(nodeName)) throw new ConfigError(`TRACEFLEET_NODE_NAME: "${nodeName}" is not a valid node name`);
  let policy: AgentPolicy;
  try {
    policy = loadPolicy(env, existsSync);
  } catch (err) {
    throw err instanceof PolicyError ? new ConfigError(err.message) : err;
  }
  return {
    controllerAddrs: parseControllerAddrs(env.TRACEFLEET_CONTROLLER_GRPC),
    controllerOrder: parseControllerOrder(env.TRACEFLEET_CONTROLLER_ORDER),
    identity: {
      caCertFile,
      stateDir: env.TRACEFLEET_AGENT_STATE_DIR || '/var/lib/tracefleet/agent',
      enrollAddrs: parseControllerAddrs(env.TRACEFLEET_ENROLL_ADDR, 'TRACEFLEET_ENROLL_ADDR', '127.0.0.1:50052'),
      enrollmentToken,
    },
    nodeName,
    labels: parseLabels(env.TRACEFLEET_NODE_LABELS),
    // The policy's maxDurationSec (file, or TRACEFLEET_AGENT_MAX_DURATION_SEC as before).
    maxDurationSec: policy.maxDurationSec,
    maxFrequencyHz: intFrom(env, 'TRACEFLEET_AGENT_MAX_FREQUENCY_HZ', 1000, 1, 10000),
    maxStacksPerFlush: intFrom(env, 'TRACEFLEET_AGENT_MAX_STACKS', 200_000, 1000, 10_000_000),
    flushIntervalMs: intFrom(env, 'TRACEFLEET_AGENT_FLUSH_MS', 1000, 50, 60_000),
    unwind: unwindMode(env.TRACEFLEET_AGENT_UNWIND),
    uprobeLinks: uprobeLinks(env.TRACEFLEET_AGENT_UPROBE_LINKS),
    unwindTableBytes: intFrom(env, 'TRACEFLEET_AGENT_UNWIND_TABLE_MB', 256, 1, 65536) * 1024 * 1024,
    pythonFrames: onOff('TRACEFLEET_AGENT_PYTHON_FRAMES', env.TRACEFLEET_AGENT_PYTHON_FRAMES, true),
    javaPerfMaps: onOff('TRACEFLEET_AGENT_JAVA_PERF_MAPS', env.TRACEFLEET_AGENT_JAVA_PERF_MAPS, true),
    perfMapBytes: intFrom(env, 'TRACEFLEET_AGENT_PERF_MAP_MB', 64, 1, 4096) * 1024 * 1024,
    // Results not yet acknowledged by the controller: in memory up to this, then on disk, then dropped (counted).
    ...outboxLimits(env),
    spoolDir: env.TRACEFLEET_AGENT_SPOOL_DIR || join(env.TRACEFLEET_AGENT_STATE_DIR || '/var/lib/tracefleet/agent', 'spool'),
    policy,
    metrics: metricsConfig(env),
  };
}
