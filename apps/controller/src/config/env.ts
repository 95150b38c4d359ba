import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** The controller's settings, validated once at boot; a bad value stops the process naming the variable. */
export interface ControllerEnv {
  databaseUrl: string;
  redisUrl: string;
  /** REST token with the `jobs` scope. */
  apiToken: string;
  /** REST token with the `jobs` and `ssl-capture` scopes: TLS plaintext is only for its holder. */
  captureToken: string;
  enrollmentToken: string;
  host: string;
  port: number;
  grpcAddr: string;
  maxDurationSec: number;
  /** How long after a run's duration the controller waits for its result before failing it. */
  resultGraceSec: number;
  heartbeatIntervalMs: number;
  queuePrefix: string;
  /** Seconds between sweeps deleting ssl-capture events past their retention. */
  retentionSweepSec: number;
  /** Schedule reports (and the jobs of their ticks) older than this many days are deleted by the sweep. */
  reportRetentionDays: number;
  /** Ended jobs (with their runs and results) older than this many days are deleted by the sweep. */
  jobRetentionDays: number;
  /**
   * The fleet PKI: the CA that signs node certificates (TRACEFLEET_CA_CERT, TRACEFLEET_CA_KEY), and the
   * controller's own server certificate: files (TRACEFLEET_GRPC_TLS_CERT/KEY) or, without them, one issued
   * by the CA at boot for `serverNames` (127.0.0.1, localhost, the host name, the listen hosts, TRACEFLEET_GRPC_TLS_SANS).
   */
  pki: { caCertFile: string; caKeyFile: string; serverCertFile?: string; serverKeyFile?: string; serverNames: string[] };
  /** Enrollment (server-only TLS, bootstrap tokens) listens here; the agent link (mutual TLS) on grpcAddr. */
  enrollAddr: string;
  /** Lifetime of the node certificates issued at enrollment and renewal. */
  nodeCertLifetimeSec: number;
  /** TRACEFLEET_ENROLLMENT_TOKEN becomes a bootstrap token with this many uses... */
  enrollmentTokenUses: number;
  /** ...valid this long from the first boot that registered it. */
  enrollmentTokenTtlHours: number;
  /** This controller process among the replicas sharing PostgreSQL and Redis (TRACEFLEET_REPLICA_ID, or generated at boot). */
  replicaId: string;
  /** A node with no heartbeat for this long is unreachable (no new runs are placed on it)... */
  nodeUnreachableMs: number;
  /**
   * A run whose agent has been silent this long fails (TRACEFLEET_RUN_GRACE_MS). Shorter silences (a
   * replica restarting, a network cut) only delay its results: the agent keeps them and sends them when
   * it is back.
   */
  runGraceMs: number;
  /** ...and gone after this long. */
  nodeGoneMs: number;
  /** How often some replica sweeps node liveness (a BullMQ job scheduler: one sweep per tick across replicas). */
  nodeSweepMs: number;
  /** PostgreSQL connections of this process (TRACEFLEET_DB_POOL); 4 of them are kept for heartbeats, dispatch and the API. */
  dbPoolSize: number;
  /**
   * This replica's result writes at once, fixed (TRACEFLEET_STORE_SLOTS), at most dbPoolSize − 4; unset: its share of
   * stackStoreSlots (prisma/stack-slots.ts). Fewer, larger writes (prisma/prisma.service.ts).
   */
  storeSlots?: number;
  /** Result writes at once across all replicas (TRACEFLEET_STACK_STORE_SLOTS), shared among those writing results (prisma/stack-slots.ts). */
  stackStoreSlots?: number;
  /** Agent result messages decoded and not yet stored, all sessions of this replica together (TRACEFLEET_INGEST_INFLIGHT); at the cap every agent stream is paused. */
  ingestInflight: number;
  /** Their wire bytes (TRACEFLEET_INGEST_INFLIGHT_MB). */
  ingestInflightBytes: number;
  /** Event streams (text/event-stream) one token may hold open at once; past it 429. */
  sseStreamsPerToken: number;
  /** Audit entries older than this many days are deleted by the sweep. */
  auditRetentionDays: number;
  /** A web console session unused this long ends (TRACEFLEET_SESSION_IDLE_SEC, default 12 h)... */
  sessionIdleSec: number;
  /** ...and every session ends this long after sign-in, used or not (TRACEFLEET_SESSION_MAX_SEC, default 24 h). */
  sessionMaxSec: number;
  /**
   * Mark the session cookie Secure even when the request reached this process over plain HTTP
   * (TRACEFLEET_SESSION_SECURE_COOKIE=true: a TLS-terminating proxy in front). Otherwise Secure is set only
   * for requests that came over TLS to this process; X-Forwarded-Proto is never trusted.
   */
  sessionSecureCookie: boolean;
  /**
   * Bearer token for `GET /metrics` (TRACEFLEET_METRICS_TOKEN, at least 24 characters). Unset: scrapes
   * need no token when the controller listens on loopback only, and are refused otherwise.
   */
  metricsToken?: string;
}

export class EnvError extends Error {}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new EnvError(`${name} is not set (npm run setup writes it into .env)`);
  return v;
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new EnvError(`${name}="${raw}" is not an integer in [${min}, ${max}]`);
  return n;
}

function token(env: NodeJS.ProcessEnv, name: string): string {
  const v = required(env, name);
  if (v.length < 24) throw new EnvError(`${name} is shorter than 24 characters; generate a random one`);
  return v;
}

function bool(env: NodeJS.ProcessEnv, name: string, dflt: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new EnvError(`${name}="${raw}" must be true, false, 1 or 0`);
}

const hostOf = (addr: string): string => addr.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');

function pki(env: NodeJS.ProcessEnv, listen: string[]): ControllerEnv['pki'] {
  const caCertFile = required(env, 'TRACEFLEET_CA_CERT');
  const caKeyFile = required(env, 'TRACEFLEET_CA_KEY');
  const serverCertFile = env.TRACEFLEET_GRPC_TLS_CERT || undefined;
  const serverKeyFile = env.TRACEFLEET_GRPC_TLS_KEY || undefined;
  if (!serverCertFile !== !serverKeyFile) throw new EnvError('TRACEFLEET_GRPC_TLS_CERT and TRACEFLEET_GRPC_TLS_KEY go together');
  const extra = (env.TRACEFLEET_GRPC_TLS_SANS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of extra) {
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(n)) throw new EnvError(`TRACEFLEET_GRPC_TLS_SANS: "${n}" is not a host name or IP address`);
  }
  const wildcard = new Set(['0.0.0.0', '::', '']);
  const serverNames = [...new Set(['127.0.0.1', 'localhost', hostname(), ...listen.map(hostOf).filter((h) => !wildcard.has(h)), ...extra])];
  return { caCertFile, caKeyFile, serverCertFile, serverKeyFile, serverNames };
}

/** A service URL that parses; errors never repeat it, since it carries a password. */
function serviceUrl(env: NodeJS.ProcessEnv, name: string, scheme: RegExp, what: string): string {
  const v = required(env, name);
  if (!scheme.test(v)) throw new EnvError(`${name} must be ${what}`);
  try {
    new URL(v);
  } catch {
    throw new EnvError(`${name} is not a valid URL (a password with characters such as @ : / # must be percent-encoded)`);
  }
  return v;
}

const REPLICA_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function replicaId(env: NodeJS.ProcessEnv): string {
  const v = env.TRACEFLEET_REPLICA_ID;
  if (v === undefined || v === '') return `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}-${randomBytes(4).toString('hex')}`;
  if (!REPLICA_RE.test(v)) throw new EnvError(`TRACEFLEET_REPLICA_ID="${v}" must be 1-63 letters, digits, . _ - (it names a Redis queue)`);
  return v;
}

export function loadEnv(env: NodeJS.ProcessEnv = process.env): ControllerEnv {
  const databaseUrl = serviceUrl(env, 'DATABASE_URL', /^postgres(ql)?:\/\//, 'a postgresql:// URL');
  // No default: the shared Redis on 6379 takes anyone; Tracefleet's needs the user and password setup wrote.
  const redisUrl = serviceUrl(env, 'REDIS_URL', /^rediss?:\/\//, 'a redis:// URL');
  const apiToken = token(env, 'TRACEFLEET_API_TOKEN');
  const enrollmentToken = token(env, 'TRACEFLEET_ENROLLMENT_TOKEN');
  if (apiToken === enrollmentToken) throw new EnvError('TRACEFLEET_API_TOKEN and TRACEFLEET_ENROLLMENT_TOKEN must differ');
  const captureToken = token(env, 'TRACEFLEET_CAPTURE_TOKEN');
  if (captureToken === apiToken) throw new EnvError('TRACEFLEET_CAPTURE_TOKEN must differ from TRACEFLEET_API_TOKEN (it grants the ssl-capture scope)');
  if (captureToken === enrollmentToken) throw new EnvError('TRACEFLEET_CAPTURE_TOKEN and TRACEFLEET_ENROLLMENT_TOKEN must differ');
  const heartbeatIntervalMs = int(env, 'TRACEFLEET_HEARTBEAT_MS', 5000, 100, 60_000);
  const nodeUnreachableMs = int(env, 'TRACEFLEET_NODE_UNREACHABLE_MS', Math.max(15_000, 3 * heartbeatIntervalMs), 200, 3_600_000);
  if (nodeUnreachableMs <= heartbeatIntervalMs) {
    throw new EnvError(`TRACEFLEET_NODE_UNREACHABLE_MS=${nodeUnreachableMs} must be longer than TRACEFLEET_HEARTBEAT_MS=${heartbeatIntervalMs}`);
  }
  const nodeGoneMs = int(env, 'TRACEFLEET_NODE_GONE_MS', Math.max(600_000, 2 * nodeUnreachableMs), 300, 30 * 86_400_000);
  const runGraceMs = int(env, 'TRACEFLEET_RUN_GRACE_MS', Math.max(60_000, nodeUnreachableMs), 200, 86_400_000);
  if (nodeGoneMs <= nodeUnreachableMs) throw new EnvError(`TRACEFLEET_NODE_GONE_MS=${nodeGoneMs} must be longer than TRACEFLEET_NODE_UNREACHABLE_MS=${nodeUnreachableMs}`);
  const sessionIdleSec = int(env, 'TRACEFLEET_SESSION_IDLE_SEC', 12 * 3600, 60, 30 * 86_400);
  const sessionMaxSec = int(env, 'TRACEFLEET_SESSION_MAX_SEC', Math.max(86_400, sessionIdleSec), 60, 90 * 86_400);
  if (sessionMaxSec < sessionIdleSec) throw new EnvError(`TRACEFLEET_SESSION_MAX_SEC=${sessionMaxSec} must be at least TRACEFLEET_SESSION_IDLE_SEC=${sessionIdleSec}`);
  const metricsToken = env.TRACEFLEET_METRICS_TOKEN ? token(env, 'TRACEFLEET_METRICS_TOKEN') : undefined;
  if (metricsToken !== undefined && [apiToken, captureToken, enrollmentToken].includes(metricsToken)) {
    throw new EnvError('TRACEFLEET_METRICS_TOKEN must differ from the API, capture and enrollment tokens (it only reads metrics)');
  }
  const grpcAddr = env.TRACEFLEET_GRPC_ADDR || '127.0.0.1:50051';
  const enrollAddr = env.TRACEFLEET_ENROLL_ADDR || '127.0.0.1:50052';
  if (enrollAddr === grpcAddr) throw new EnvError('TRACEFLEET_ENROLL_ADDR must differ from TRACEFLEET_GRPC_ADDR (enrollment has no client certificate)');
  return {
    databaseUrl,
    redisUrl,
    apiToken,
    captureToken,
    enrollmentToken,
    host: env.HOST || '127.0.0.1',
    port: int(env, 'PORT', 8080, 0, 65535),
    grpcAddr,
    enrollAddr,
    maxDurationSec: int(env, 'TRACEFLEET_MAX_DURATION_SEC', 3600, 1, 86400),
    resultGraceSec: int(env, 'TRACEFLEET_RESULT_GRACE_SEC', 30, 1, 3600),
    heartbeatIntervalMs,
    queuePrefix: env.TRACEFLEET_QUEUE_PREFIX || 'tracefleet',
    retentionSweepSec: int(env, 'TRACEFLEET_RETENTION_SWEEP_SEC', 300, 1, 86_400),
    reportRetentionDays: int(env, 'TRACEFLEET_REPORT_RETENTION_DAYS', 30, 1, 3650),
    jobRetentionDays: int(env, 'TRACEFLEET_JOB_RETENTION_DAYS', 30, 1, 3650),
    pki: pki(env, [grpcAddr, enrollAddr]),
    nodeCertLifetimeSec: int(env, 'TRACEFLEET_NODE_CERT_LIFETIME_SEC', 86_400, 30, 90 * 86_400),
    enrollmentTokenUses: int(env, 'TRACEFLEET_ENROLLMENT_TOKEN_USES', 10, 1, 100_000),
    enrollmentTokenTtlHours: int(env, 'TRACEFLEET_ENROLLMENT_TOKEN_TTL_HOURS', 168, 1, 8760),
    replicaId: replicaId(env),
    nodeUnreachableMs,
    runGraceMs,
    nodeGoneMs,
    nodeSweepMs: int(env, 'TRACEFLEET_NODE_SWEEP_MS', Math.min(5000, Math.max(100, Math.floor(nodeUnreachableMs / 3))), 100, 600_000),
    dbPoolSize: int(env, 'TRACEFLEET_DB_POOL', 12, 4, 200),
    storeSlots: env.TRACEFLEET_STORE_SLOTS ? int(env, 'TRACEFLEET_STORE_SLOTS', 3, 1, 196) : undefined,
    stackStoreSlots: int(env, 'TRACEFLEET_STACK_STORE_SLOTS', 3, 1, 196),
    ingestInflight: int(env, 'TRACEFLEET_INGEST_INFLIGHT', 256, 8, 100_000),
    ingestInflightBytes: int(env, 'TRACEFLEET_INGEST_INFLIGHT_MB', 32, 1, 4096) * 1024 * 1024,
    sseStreamsPerToken: int(env, 'TRACEFLEET_SSE_STREAMS_PER_TOKEN', 4, 1, 1000),
    auditRetentionDays: int(env, 'TRACEFLEET_AUDIT_RETENTION_DAYS', 365, 1, 3650),
    sessionIdleSec,
    sessionMaxSec,
    sessionSecureCookie: bool(env, 'TRACEFLEET_SESSION_SECURE_COOKIE', false),
    metricsToken,
  };
}

export const ENV = Symbol('ControllerEnv');
