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
  /** PEM files for the agent link; both or neither. Without them the link is plaintext (loopback by default). */
  grpcTls?: { certFile: string; keyFile: string };
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

function grpcTls(env: NodeJS.ProcessEnv): ControllerEnv['grpcTls'] {
  const certFile = env.TRACEFLEET_GRPC_TLS_CERT;
  const keyFile = env.TRACEFLEET_GRPC_TLS_KEY;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new EnvError('TRACEFLEET_GRPC_TLS_CERT and TRACEFLEET_GRPC_TLS_KEY go together');
  return { certFile, keyFile };
}

export function loadEnv(env: NodeJS.ProcessEnv = process.env): ControllerEnv {
  const databaseUrl = required(env, 'DATABASE_URL');
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new EnvError('DATABASE_URL must be a postgresql:// URL');
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(redisUrl)) throw new EnvError('REDIS_URL must be a redis:// URL');
  const apiToken = token(env, 'TRACEFLEET_API_TOKEN');
  const enrollmentToken = token(env, 'TRACEFLEET_ENROLLMENT_TOKEN');
  if (apiToken === enrollmentToken) throw new EnvError('TRACEFLEET_API_TOKEN and TRACEFLEET_ENROLLMENT_TOKEN must differ');
  const captureToken = token(env, 'TRACEFLEET_CAPTURE_TOKEN');
  if (captureToken === apiToken) throw new EnvError('TRACEFLEET_CAPTURE_TOKEN must differ from TRACEFLEET_API_TOKEN (it grants the ssl-capture scope)');
  if (captureToken === enrollmentToken) throw new EnvError('TRACEFLEET_CAPTURE_TOKEN and TRACEFLEET_ENROLLMENT_TOKEN must differ');
  return {
    databaseUrl,
    redisUrl,
    apiToken,
    captureToken,
    enrollmentToken,
    host: env.HOST || '127.0.0.1',
    port: int(env, 'PORT', 8080, 0, 65535),
    grpcAddr: env.TRACEFLEET_GRPC_ADDR || '127.0.0.1:50051',
    maxDurationSec: int(env, 'TRACEFLEET_MAX_DURATION_SEC', 3600, 1, 86400),
    resultGraceSec: int(env, 'TRACEFLEET_RESULT_GRACE_SEC', 30, 1, 3600),
    heartbeatIntervalMs: int(env, 'TRACEFLEET_HEARTBEAT_MS', 5000, 100, 60_000),
    queuePrefix: env.TRACEFLEET_QUEUE_PREFIX || 'tracefleet',
    retentionSweepSec: int(env, 'TRACEFLEET_RETENTION_SWEEP_SEC', 300, 1, 86_400),
    grpcTls: grpcTls(env),
  };
}

export const ENV = Symbol('ControllerEnv');
