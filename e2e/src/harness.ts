/**
 * Starts a real Tracefleet stack for end-to-end tests: the built controller
 * (real PostgreSQL, real Redis, real gRPC) and a real agent on this kernel.
 * Anything missing fails loudly with its name; nothing is skipped.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { migrate } from './migrate';
import { exitOnSignals } from './processes';
import { addressTaken, freePort } from './ports';
import { agentNodeFlags, type AgentStartOptions } from './agent-launch';
import { readDotEnv, redact, serviceUrl } from '@tracefleet/controller/dist/testing/service-urls';
import { CONTROLLER_NODE_FLAGS } from '@tracefleet/controller/dist/config/node-flags';
import { credentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import { EnrollmentClient } from '@tracefleet/proto';
import { createCa, createNodeCsr } from '@tracefleet/pki';
export { readDotEnv, serviceUrl };
export { freePort } from './ports';
export { migrate } from './migrate';
export { parseFolded, samplesUnder, hasPath, type FoldedLine } from './folded';

export const ROOT = join(__dirname, '..', '..');
export const WORK = join(ROOT, 'e2e', '.work');
export const FIXTURES = join(ROOT, 'e2e', 'fixtures');
/** Creates the test database and hands it to the role; nothing else runs as the administrator. */
const PG_ADMIN = process.env.TRACEFLEET_DB_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
/** The database the stacks use; the benchmarks set TRACEFLEET_E2E_DB to keep theirs apart. */
export const E2E_DB = process.env.TRACEFLEET_E2E_DB ?? 'tracefleet_e2e';
if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(E2E_DB)) throw new Error(`TRACEFLEET_E2E_DB="${E2E_DB}" must be a plain identifier`);

/** The role's URL for the e2e database (DATABASE_URL with E2E_DB as its database). */
export function e2eDatabaseUrl(): string {
  const u = new URL(serviceUrl('DATABASE_URL'));
  u.pathname = `/${E2E_DB}`;
  return u.toString();
}

async function adminQuery(db: string, sql: string, params: unknown[] = []): Promise<{ rowCount: number | null }> {
  const u = new URL(PG_ADMIN);
  u.pathname = `/${db}`;
  const pg = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  try {
    await pg.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable as the administrator ${redact(u.toString())} (${(err as Error).message}); run npm run setup`);
  }
  try {
    return await pg.query(sql, params);
  } finally {
    await pg.end();
  }
}

/**
 * The e2e database, owned by the role of DATABASE_URL: created so, or handed over with its objects when an
 * earlier checkout made it as postgres (infra/local-services/adopt-db.sql, as infra/setup.sh does).
 */
async function ensureE2eDatabase(): Promise<void> {
  const role = decodeURIComponent(new URL(serviceUrl('DATABASE_URL')).username);
  if (!role) throw new Error('DATABASE_URL names no role: run npm run setup (it writes the tracefleet role into .env)');
  const quoted = `"${role.replace(/"/g, '""')}"`;
  const exists = await adminQuery('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [E2E_DB]);
  if (exists.rowCount === 0) {
    await adminQuery('postgres', `CREATE DATABASE ${E2E_DB} OWNER ${quoted}`);
    return;
  }
  const adopt = readFileSync(join(ROOT, 'infra/local-services/adopt-db.sql'), 'utf8');
  await adminQuery(E2E_DB, `SET tracefleet.role = '${role.replace(/'/g, "''")}';\n${adopt}`);
}

/**
 * Drops the e2e database, so that the next stack starts on an empty one (the fleet benchmark: its figures must not
 * depend on the rows earlier runs left). Never the product's own database (DATABASE_URL's).
 */
export async function dropE2eDatabase(): Promise<void> {
  if (new URL(serviceUrl('DATABASE_URL')).pathname.slice(1) === E2E_DB) throw new Error(`${E2E_DB} is DATABASE_URL's database: not dropped`);
  await adminQuery('postgres', `DROP DATABASE IF EXISTS ${E2E_DB} WITH (FORCE)`);
}

/** redis-cli as the user of `url` (Tracefleet's Redis user); the password goes through REDISCLI_AUTH, never argv. */
export function redisCli(url: string, args: string[]): { status: number | null; out: string } {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.REDISCLI_AUTH;
  const argv = ['-h', u.hostname, '-p', u.port || '6379', '--no-auth-warning'];
  if (u.password) {
    argv.push('--user', decodeURIComponent(u.username) || 'default');
    env.REDISCLI_AUTH = decodeURIComponent(u.password);
  }
  const r = spawnSync('redis-cli', [...argv, ...args], { encoding: 'utf8', env, timeout: 10_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ?? ''}`.trim() };
}

export async function requireServices(): Promise<void> {
  await ensureE2eDatabase();
  const redisUrl = serviceUrl('REDIS_URL');
  const redis = redisCli(redisUrl, ['ping']);
  if (redis.out !== 'PONG') throw new Error(`Redis is not answering at ${redact(redisUrl)} (${redis.out}); run npm run setup`);
  for (const f of ['apps/controller/dist/main.js', 'apps/node-agent/dist/main.js', 'native/build/Release/tracefleet_native.node', 'packages/bpf/build/profile.bpf.o']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run npm run setup (it builds it)`);
  }
}

export type Api = (method: string, path: string, body?: unknown, token?: string | null) => Promise<{ status: number; json: any; text: string }>;

/** One controller process; several share PostgreSQL, Redis and the queue prefix (scale-out). */
export interface Replica {
  /** TRACEFLEET_REPLICA_ID */
  id: string;
  base: string;
  grpcAddr: string;
  /** Its enrollment listener (server-only TLS, bootstrap tokens). */
  enrollAddr: string;
  controller: ChildProcess;
  api: Api;
}

/** A node certificate obtained through the real enrollment RPC, for clients the tests drive by hand. */
export interface Enrolled {
  nodeName: string;
  keyPem: string;
  certPem: string;
  caPem: string;
  /** Mutual-TLS credentials for the agent link (fleet CA as the only root). */
  credentials(): ChannelCredentials;
}

export interface Stack {
  /** The first replica's REST base, gRPC address, process and API (what single-replica tests use). */
  base: string;
  apiToken: string;
  /** The TRACEFLEET_CAPTURE_TOKEN of this stack: scopes jobs and ssl-capture. */
  captureToken: string;
  enrollmentToken: string;
  grpcAddr: string;
  /** The first replica's enrollment address. */
  enrollAddr: string;
  /** This stack's own fleet CA (made for it in its work directory) and where agents keep their keys. */
  caCertFile: string;
  pkiDir: string;
  nodeName: string;
  /** The role's URL of the e2e database (with its password). */
  databaseUrl: string;
  /** TRACEFLEET_QUEUE_PREFIX shared by the replicas: their BullMQ keys in Redis start with it. */
  queuePrefix: string;
  controller: ChildProcess;
  replicas: Replica[];
  /** The agent started last. */
  agent: ChildProcess | undefined;
  /** Every agent started, by node name. */
  agents: Map<string, ChildProcess>;
  logs: string[];
  api: Api;
  /**
   * Starts a real agent process. `grpcAddrs`: the controller addresses it takes, in order
   * (TRACEFLEET_CONTROLLER_GRPC as a list); default the first replica's. Resolves once GET /nodes
   * shows it connected with a session started after the spawn.
   */
  startAgent(nodeName?: string, labels?: string, grpcAddrs?: string[], env?: Record<string, string>, opts?: AgentStartOptions): Promise<ChildProcess>;
  /** Starts replica `index` again (same id, ports and environment) after a test killed it; resolves once it is healthy. */
  restartReplica(index?: number): Promise<Replica>;
  /** The state directory the harness gives an agent of that name (its key and certificate). */
  agentStateDir(nodeName: string): string;
  /** Enrolls `nodeName` through Enrollment.Enroll with `token` (default the stack's TRACEFLEET_ENROLLMENT_TOKEN). */
  enroll(nodeName: string, token?: string): Promise<Enrolled>;
  stop(): Promise<void>;
}

export interface StackOptions {
  maxDurationSec?: number;
  /** Controller replicas to start (default 1). */
  replicas?: number;
  /** Start one agent on the first replica (default true). */
  agent?: boolean;
  /** Extra controller environment, e.g. TRACEFLEET_NODE_UNREACHABLE_MS. */
  env?: Record<string, string>;
}

function makeApi(base: string, apiToken: string): Api {
  return async (method, path, body, token) => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token ?? apiToken}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return readAnswer(await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  };
}

/** A fetch response as the tests read it: status, the body as text, and as JSON when it is JSON. */
export async function readAnswer(res: Response): Promise<{ status: number; json: any; text: string }> {
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** Settles once a controller has exited and its output has all been read (its 'close'). */
const controllerClosed = new WeakMap<ChildProcess, Promise<void>>();

function spawnController(env: NodeJS.ProcessEnv, label: string, logs: string[]): ChildProcess {
  // The V8 flags every launcher passes (apps/controller/src/config/node-flags.ts).
  const controller = spawn(process.execPath, [...CONTROLLER_NODE_FLAGS, join(ROOT, 'apps/controller/dist/main.js')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  controllerClosed.set(controller, new Promise((resolve) => controller.once('close', () => resolve())));
  capture(controller, label, logs);
  killOnExit(controller);
  return controller;
}

async function waitHealthy(r: Replica, logs: string[]): Promise<void> {
  await waitFor(async () => {
    if (r.controller.exitCode !== null) throw new Error(`controller ${r.id} exited (${r.controller.exitCode}):\n${logs.join('')}`);
    try {
      return (await fetch(`${r.base}/health`)).ok;
    } catch {
      return false;
    }
  }, 30_000, `controller ${r.id} health`);
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  await requireServices();
  // The controller and the migrations connect as the tracefleet role, as in production.
  const databaseUrl = e2eDatabaseUrl();
  const redisUrl = serviceUrl('REDIS_URL');
  await migrate(databaseUrl);
  const apiToken = randomBytes(24).toString('hex');
  const captureToken = randomBytes(24).toString('hex');
  const enrollmentToken = randomBytes(24).toString('hex');
  // Every stack has its own fleet CA: agents of one stack cannot reach another's controller.
  const pkiDir = join(WORK, `pki-${randomBytes(4).toString('hex')}`);
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  const ca = await createCa(`e2e fleet CA ${pkiDir}`, 2);
  const caCertFile = join(pkiDir, 'ca.pem');
  const caKeyFile = join(pkiDir, 'ca.key');
  writeFileSync(caCertFile, ca.certPem);
  writeFileSync(caKeyFile, ca.keyPem, { mode: 0o600 });
  const logs: string[] = [];
  const replicas: Replica[] = [];
  /** How each replica was started, to start it again (restartReplica). */
  const replicaEnv = new Map<string, { env: NodeJS.ProcessEnv; label: string }>();
  let queuePrefix = '';
  // A replica whose listen found its port taken (see ports.ts) is started again on other ports, twice at most.
  for (let attempt = 1; ; attempt++) {
    const logsBefore = logs.length;
    for (let i = 0; i < (opts.replicas ?? 1); i++) {
      const port = await freePort();
      const grpcPort = await freePort();
      const enrollAddr = `127.0.0.1:${await freePort()}`;
      // Replicas of one stack share the queue prefix: that is what makes them one controller.
      queuePrefix ||= `tf-e2e-${port}`;
      const id = `e2e-${String.fromCharCode(97 + i)}-${randomBytes(3).toString('hex')}`;
      const grpcAddr = `127.0.0.1:${grpcPort}`;
      const base = `http://127.0.0.1:${port}/api/v1`;
      const controllerEnv: NodeJS.ProcessEnv = {
        ...process.env,
        DATABASE_URL: databaseUrl,
        REDIS_URL: redisUrl,
        TRACEFLEET_API_TOKEN: apiToken,
        TRACEFLEET_CAPTURE_TOKEN: captureToken,
        TRACEFLEET_ENROLLMENT_TOKEN: enrollmentToken,
        PORT: String(port),
        TRACEFLEET_GRPC_ADDR: grpcAddr,
        TRACEFLEET_ENROLL_ADDR: enrollAddr,
        TRACEFLEET_CA_CERT: caCertFile,
        TRACEFLEET_CA_KEY: caKeyFile,
        // Bounded, and enough for every agent and hand-driven client a test file starts.
        TRACEFLEET_ENROLLMENT_TOKEN_USES: '200',
        TRACEFLEET_MAX_DURATION_SEC: String(opts.maxDurationSec ?? 600),
        TRACEFLEET_RESULT_GRACE_SEC: '10',
        TRACEFLEET_HEARTBEAT_MS: '1000',
        TRACEFLEET_QUEUE_PREFIX: queuePrefix,
        TRACEFLEET_REPLICA_ID: id,
        ...opts.env,
      };
      const label = (opts.replicas ?? 1) > 1 ? `controller ${id}` : 'controller';
      replicaEnv.set(id, { env: controllerEnv, label });
      replicas.push({ id, base, grpcAddr, enrollAddr, controller: spawnController(controllerEnv, label, logs), api: makeApi(base, apiToken) });
    }
    try {
      for (const r of replicas) await waitHealthy(r, logs);
      break;
    } catch (e) {
      // A replica that never became healthy: the ones started must not outlive the failed start, or the test
      // file never exits.
      for (const r of replicas) if (r.controller.exitCode === null && r.controller.signalCode === null) r.controller.kill('SIGKILL');
      // Every line they wrote is read before the logs are searched for the reason.
      await Promise.all(replicas.map((r) => controllerClosed.get(r.controller)));
      if (addressTaken(logs.slice(logsBefore).join('')) && attempt < 3) {
        logs.push(`[harness] a controller's port was taken between choosing it and listening (attempt ${attempt}); starting the replicas again on other ports\n`);
        replicas.length = 0;
        replicaEnv.clear();
        queuePrefix = '';
        continue;
      }
      rmSync(pkiDir, { recursive: true, force: true });
      throw e;
    }
  }
  const first = replicas[0];
  const api = first.api;

  const stack: Stack = {
    base: first.base,
    apiToken,
    captureToken,
    enrollmentToken,
    grpcAddr: first.grpcAddr,
    enrollAddr: first.enrollAddr,
    caCertFile,
    pkiDir,
    nodeName: `e2e-${randomBytes(3).toString('hex')}`,
    databaseUrl,
    queuePrefix,
    controller: first.controller,
    replicas,
    agent: undefined,
    agents: new Map(),
    logs,
    api,
    async startAgent(nodeName = stack.nodeName, labels = 'role=e2e', grpcAddrs = [first.grpcAddr], agentEnv: Record<string, string> = {}, agentOpts: AgentStartOptions = {}) {
      const spawnedAt = Date.now();
      // Each controller address with its replica's enrollment address, in the same order.
      const enrollAddrs = grpcAddrs.map((g) => replicas.find((r) => r.grpcAddr === g)?.enrollAddr ?? first.enrollAddr);
      // Spawned before any await: bench/lib.mjs's startAgentWithEnv relies on it.
      // In a network namespace: `ip netns exec` joins it and execs node (the same pid, so signals reach the agent).
      const argv = [process.execPath, ...(agentOpts.nodeFlags ?? agentNodeFlags(ROOT)), agentOpts.main ?? join(ROOT, 'apps/node-agent/dist/main.js')]; // V8 flags as launchers pass them
      if (agentOpts.netns) argv.unshift('ip', 'netns', 'exec', agentOpts.netns);
      const agent = spawn(argv[0], argv.slice(1), {
        cwd: ROOT,
        env: {
          ...process.env,
          TRACEFLEET_CONTROLLER_GRPC: grpcAddrs.join(','),
          TRACEFLEET_CONTROLLER_ORDER: 'given', // the tests pin each agent to a replica by its addresses' order
          TRACEFLEET_ENROLL_ADDR: [...new Set(enrollAddrs)].join(','),
          TRACEFLEET_CA_CERT: caCertFile,
          TRACEFLEET_AGENT_STATE_DIR: stack.agentStateDir(nodeName),
          TRACEFLEET_ENROLLMENT_TOKEN: enrollmentToken,
          TRACEFLEET_NODE_NAME: nodeName,
          TRACEFLEET_NODE_LABELS: labels,
          // As infra/start.mjs launches the agent (fewer malloc arenas: unwind table builds run on pool threads).
          MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
          ...agentEnv,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      capture(agent, `agent ${nodeName}`, logs);
      killOnExit(agent);
      stack.agent = agent;
      stack.agents.set(nodeName, agent);
      const live = replicas.find((r) => r.controller.exitCode === null && r.controller.signalCode === null) ?? first;
      await waitFor(async () => {
        if (agent.exitCode !== null) throw new Error(`agent exited (${agent.exitCode}):\n${logs.join('')}`);
        const nodes = await live.api('GET', '/nodes');
        // connectedAt after the spawn: a row left connected by an earlier run with this name does not count.
        return nodes.json?.some?.((n: { name: string; connected: boolean; connectedAt: string | null }) =>
          n.name === nodeName && n.connected && n.connectedAt !== null && Date.parse(n.connectedAt) >= spawnedAt - 1000,
        );
      }, 20_000, `agent ${nodeName} to connect`);
      return agent;
    },
    async restartReplica(index = 0) {
      const r = replicas[index];
      if (r.controller.exitCode === null && r.controller.signalCode === null) throw new Error(`replica ${r.id} is still running; kill it first`);
      const how = replicaEnv.get(r.id)!;
      r.controller = spawnController(how.env, how.label, logs);
      if (index === 0) stack.controller = r.controller;
      await waitHealthy(r, logs);
      return r;
    },
    agentStateDir(nodeName: string) {
      return join(pkiDir, 'agents', nodeName.replace(/[^A-Za-z0-9._-]/g, '_'));
    },
    async enroll(nodeName: string, token = enrollmentToken) {
      const { keyPem, csrPem } = await createNodeCsr(nodeName);
      const client = new EnrollmentClient(first.enrollAddr, credentials.createSsl(Buffer.from(ca.certPem)));
      const md = new Metadata();
      md.set('authorization', `Bearer ${token}`);
      try {
        const res = await new Promise<{ certificatePem: string }>((resolve, reject) =>
          client.enroll({ nodeName, csrPem }, md, { deadline: Date.now() + 15_000 }, (err, r) => (err ? reject(err) : r?.certificate ? resolve(r.certificate) : reject(new Error('no certificate in the answer')))),
        );
        const certPem = res.certificatePem;
        return {
          nodeName,
          keyPem,
          certPem,
          caPem: ca.certPem,
          credentials: () => credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(keyPem), Buffer.from(certPem)),
        };
      } finally {
        client.close();
      }
    },
    async stop() {
      for (const p of [...stack.agents.values(), ...replicas.map((r) => r.controller)]) {
        if (p && p.exitCode === null && p.signalCode === null) {
          // A stopped (SIGSTOP) process cannot act on SIGTERM until it continues.
          p.kill('SIGCONT');
          p.kill('SIGTERM');
          await Promise.race([new Promise((r) => p.once('exit', r)), raceTimeout(8000)]);
          if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
        }
      }
      // The stack's CA key and the agents' keys go with it.
      rmSync(pkiDir, { recursive: true, force: true });
    },
  };
  if (opts.agent !== false) {
    try {
      await stack.startAgent();
    } catch (e) {
      await stack.stop(); // nothing of a stack the caller never got may outlive it
      throw e;
    }
  }
  return stack;
}

/** A test or benchmark that crashes, or is stopped by a signal, leaves no controller or agent (with probes attached) running. */
function killOnExit(p: ChildProcess): void {
  exitOnSignals();
  const kill = (): void => void (p.exitCode === null && p.signalCode === null && p.kill('SIGKILL'));
  process.once('exit', kill);
  p.once('exit', () => process.removeListener('exit', kill));
}

function capture(p: ChildProcess, name: string, logs: string[]): void {
  const add = (d: Buffer): void => {
    logs.push(`[${name}] ${d.toString()}`);
    if (process.env.TRACEFLEET_E2E_VERBOSE) process.stderr.write(`[${name}] ${d}`);
  };
  p.stdout?.on('data', add);
  p.stderr?.on('data', add);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The time-out side of a Promise.race: a timer that does not keep the process alive. With sleep() there, the
 * timer outlived the race and held every test file's process open for the rest of it (8 s after each stack.stop()).
 * The other side (a child's exit, a call's end) is what keeps the process alive while the race is on.
 */
export function raceTimeout(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export async function waitJob(stack: Stack, id: string, timeoutMs = 60_000): Promise<any> {
  let job: any;
  await waitFor(async () => {
    job = (await stack.api('GET', `/jobs/${id}`)).json;
    return ['completed', 'partial', 'failed', 'stopped'].includes(job?.status);
  }, timeoutMs, `job ${id} to end`);
  return job;
}

/** Posts a job and resolves with its id once its first run is sampling or attached (fails with the run's reason). */
export async function startRunningJob(stack: Stack, body: Record<string, unknown>, token?: string): Promise<string> {
  const res = await stack.api('POST', '/jobs', { nodes: 'all', ...body }, token);
  if (res.status !== 201) throw new Error(`POST /jobs → ${res.status} ${res.text}`);
  const id = res.json.id as string;
  await waitFor(async () => {
    const job = (await stack.api('GET', `/jobs/${id}`, undefined, token)).json;
    if (job.runs[0].status === 'failed') throw new Error(`run failed: ${job.runs[0].reason}`);
    return job.runs[0].status === 'running';
  }, 30_000, `job ${id} to start`);
  return id;
}

/** Resolves once a just-spawned dynamically linked process has libc mapped (exec and the loader are done). */
export async function waitForLibc(pid: number): Promise<void> {
  await waitFor(async () => {
    try {
      return /libc\.so\.6/.test(readFileSync(`/proc/${pid}/maps`, 'utf8'));
    } catch {
      return false;
    }
  }, 10_000, `pid ${pid} to map libc`);
}

/** Compiles a C fixture with frame pointers and symbols; returns the binary path. */
export function buildC(name: string, extraFlags: string[] = []): string {
  mkdirSync(WORK, { recursive: true });
  const out = join(WORK, name);
  const res = spawnSync('gcc', ['-O1', '-g', '-fno-omit-frame-pointer', ...extraFlags, '-o', out, join(FIXTURES, `${name}.c`)], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`gcc ${name}.c failed (is gcc installed? npm run setup installs it):\n${res.stderr}${res.error ?? ''}`);
  return out;
}

/** File descriptors of a process that hold BPF objects or perf events. */
export function bpfFds(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  const out: string[] = [];
  for (const fd of readdirSync(dir)) {
    try {
      const target = readlinkSync(join(dir, fd));
      if (/anon_inode:(bpf-link|bpf-prog|bpf-map|bpf_link|bpf_prog|bpf_map|\[perf_event\]|bpf_ringbuf)/.test(target)) out.push(`${fd} -> ${target}`);
    } catch {
      // the fd closed while we listed
    }
  }
  return out;
}
