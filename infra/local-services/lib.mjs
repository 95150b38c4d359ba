// The pure part of the local services set-up (issue 13): secrets, URLs, SCRAM verifiers, the pg_hba block,
// the Tracefleet Redis configuration and the .env rewrite. Text in, text out, so the unit tests cover every
// decision; apply.mjs does the I/O.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export const PG_ROLE = 'tracefleet';
export const REDIS_USER = 'tracefleet';
export const PG_HOST = '127.0.0.1';
export const PG_PORT = 5432;
export const REDIS_HOST = '127.0.0.1';
export const DEFAULT_REDIS_PORT = 6380;
export const DEFAULT_DB = 'tracefleet';
/** Hosts whose services this set-up runs; a URL naming another host is the operator's and left alone. */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const SHARED_REDIS_PORT = 6379;

/**
 * What BullMQ needs and nothing of Redis's administration: every data command, scripts, blocking pops,
 * pub/sub on any channel; of the @dangerous commands only INFO (BullMQ reads the version and eviction
 * policy from it), CONFIG GET, and CLIENT SETNAME/GETNAME/ID/INFO/LIST (workers name their connections).
 * No FLUSHALL, KEYS, CONFIG SET, DEBUG, MONITOR, SHUTDOWN, ACL, REPLICAOF, MODULE.
 */
export const REDIS_USER_RULES = '~* &* +@all -@dangerous +info +config|get +client|setname +client|getname +client|id +client|info +client|list';

/** 32 random bytes as hex: long and safe in URLs, shells and .env lines without any quoting. */
export function generatePassword() {
  return randomBytes(32).toString('hex');
}

/** KEY=value lines (the .env and the secrets file); comments and blank lines are skipped. */
export function parseEnvText(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/**
 * A password read back from the secrets file: it must fit on one KEY=value line and be long. Anything
 * else (whitespace, control characters, quotes around it) is refused rather than half-used; characters
 * that mean something in a URL or a shell are fine, because every URL is built by userinfo() below.
 */
export function checkPassword(name, value) {
  if (typeof value !== 'string' || value === '') throw new Error(`${name} is missing`);
  if (/[\s\x00-\x1f\x7f]/.test(value)) throw new Error(`${name} contains whitespace or control characters`);
  if (value.length < 16) throw new Error(`${name} is shorter than 16 characters`);
  return value;
}

/**
 * Percent-encodes every byte outside RFC 3986's unreserved set. Stricter than encodeURIComponent on
 * purpose: the URL also lands in a .env that `set -a; . ./.env` sources, where $ ` ' ( ) ; & would be
 * shell syntax. pg-connection-string and ioredis decode it back.
 */
export function userinfo(s) {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const DB_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function databaseUrl({ password, db = DEFAULT_DB, role = PG_ROLE, host = PG_HOST, port = PG_PORT }) {
  if (!DB_NAME_RE.test(db)) throw new Error(`database name "${db}" must be a plain identifier`);
  return `postgresql://${userinfo(role)}:${userinfo(password)}@${host}:${port}/${db}`;
}

export function redisUrl({ password, user = REDIS_USER, host = REDIS_HOST, port = DEFAULT_REDIS_PORT }) {
  return `redis://${userinfo(user)}:${userinfo(password)}@${host}:${port}`;
}

/** The contents of the root-only secrets file (services.env). */
export function renderSecrets({ pgPassword, redisPassword, redisPort = DEFAULT_REDIS_PORT }) {
  return [
    '# Tracefleet local service credentials, written once by infra/setup.sh (root only, mode 0600).',
    "# Every clone's setup copies them into its .env. Delete this file to rotate both passwords.",
    `TRACEFLEET_PG_PASSWORD=${pgPassword}`,
    `TRACEFLEET_REDIS_PASSWORD=${redisPassword}`,
    `TRACEFLEET_REDIS_PORT=${redisPort}`,
    '',
  ].join('\n');
}

export function readSecrets(text) {
  const v = parseEnvText(text);
  const port = Number(v.TRACEFLEET_REDIS_PORT ?? DEFAULT_REDIS_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || port === SHARED_REDIS_PORT) {
    throw new Error(`TRACEFLEET_REDIS_PORT="${v.TRACEFLEET_REDIS_PORT}" must be a port other than the shared Redis's ${SHARED_REDIS_PORT}`);
  }
  return {
    pgPassword: checkPassword('TRACEFLEET_PG_PASSWORD', v.TRACEFLEET_PG_PASSWORD),
    redisPassword: checkPassword('TRACEFLEET_REDIS_PASSWORD', v.TRACEFLEET_REDIS_PASSWORD),
    redisPort: port,
  };
}

/**
 * A PostgreSQL SCRAM-SHA-256 verifier (what `\password` sends): the server stores it as is, so the
 * plain password never reaches the server's statement log. RFC 5802/7677, 4096 iterations like libpq.
 */
export function scramVerifier(password, salt = randomBytes(16), iterations = 4096) {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export const HBA_BEGIN = '# tracefleet: begin (infra/setup.sh) - the tracefleet role must give its password';
export const HBA_END = '# tracefleet: end';

export function hbaBlock(role = PG_ROLE) {
  return [
    HBA_BEGIN,
    `local   all   ${role}                  scram-sha-256`,
    `host    all   ${role}   127.0.0.1/32   scram-sha-256`,
    `host    all   ${role}   ::1/128        scram-sha-256`,
    HBA_END,
  ].join('\n');
}

/**
 * pg_hba.conf with Tracefleet's block first among the rules (PostgreSQL takes the first line that
 * matches, so the block must precede any `trust` line that also matches the role). Lines for other
 * users are kept as they are. Returns { text, changed }.
 */
export function hbaWithRole(text, role = PG_ROLE) {
  const block = hbaBlock(role);
  const lines = text.split('\n');
  const begin = lines.indexOf(HBA_BEGIN);
  const end = lines.indexOf(HBA_END);
  let rest = lines;
  if (begin !== -1 && end > begin) rest = [...lines.slice(0, begin), ...lines.slice(end + 1)];
  const firstRule = rest.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const at = firstRule === -1 ? rest.length : firstRule;
  const out = [...rest.slice(0, at), ...block.split('\n'), ...rest.slice(at)].join('\n');
  return { text: out, changed: out !== text };
}

/** Tracefleet's own Redis (not the shared one on 6379): only its user, no eviction, append-only file. */
export function renderRedisConf({ port, dir, passwordSha256, user = REDIS_USER }) {
  if (!/^[0-9a-f]{64}$/.test(passwordSha256)) throw new Error('passwordSha256 must be 64 hex digits');
  return [
    '# Tracefleet\'s Redis, written by infra/setup.sh: edits are overwritten. Password: /etc/tracefleet/services.env.',
    `bind 127.0.0.1 -::1`,
    `port ${port}`,
    'protected-mode yes',
    'daemonize yes',
    `dir ${dir}`,
    `pidfile ${dir}/redis.pid`,
    `logfile ${dir}/redis.log`,
    '# BullMQ: a queue must never lose keys to eviction, and survives a restart through the append-only file.',
    'maxmemory-policy noeviction',
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    'enable-debug-command no',
    'enable-module-command no',
    '# No anonymous access: the default user is off, so a connection must AUTH as the Tracefleet user. It keeps',
    "# that user's rules because Redis 7.0 replays the append-only file's MULTI/EXEC blocks (scripts' writes",
    '# too) as the default user and silently drops those it may not run (redis/redis#14541).',
    `user default off resetpass ${REDIS_USER_RULES}`,
    `user ${user} reset on #${passwordSha256} ${REDIS_USER_RULES}`,
    '',
  ].join('\n');
}

export const sha256Hex = (s) => createHash('sha256').update(s, 'utf8').digest('hex');

function parseUrl(value) {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/**
 * The .env with DATABASE_URL and REDIS_URL pointing at the local services with their credentials. A URL
 * the set-up does not own (another host, another PostgreSQL port) is kept and reported in `kept`. Lines
 * are replaced where they are; missing ones are appended. Returns { text, changed, kept, db }.
 */
export function updateDotEnv(text, { pgPassword, redisPassword, redisPort }) {
  const cur = parseEnvText(text);
  const kept = [];
  const want = {};
  let db;
  const pg = cur.DATABASE_URL === undefined ? undefined : parseUrl(cur.DATABASE_URL);
  const pgLocal = cur.DATABASE_URL === undefined || (pg && /^postgres(ql)?:$/.test(pg.protocol) && LOCAL_HOSTS.has(pg.hostname) && Number(pg.port || PG_PORT) === PG_PORT);
  if (pgLocal) {
    const name = pg ? decodeURIComponent(pg.pathname.slice(1)) : '';
    db = DB_NAME_RE.test(name) ? name : DEFAULT_DB;
    want.DATABASE_URL = databaseUrl({ password: pgPassword, db });
  } else kept.push('DATABASE_URL');
  const rd = cur.REDIS_URL === undefined ? undefined : parseUrl(cur.REDIS_URL);
  const rdLocal = cur.REDIS_URL === undefined || (rd && rd.protocol === 'redis:' && LOCAL_HOSTS.has(rd.hostname) && [SHARED_REDIS_PORT, redisPort].includes(Number(rd.port || SHARED_REDIS_PORT)));
  if (rdLocal) want.REDIS_URL = redisUrl({ password: redisPassword, port: redisPort });
  else kept.push('REDIS_URL');

  const lines = text.split('\n');
  const seen = new Set();
  const out = lines.map((line) => {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=/.exec(line);
    if (!m || !(m[1] in want)) return line;
    seen.add(m[1]);
    return `${m[1]}=${want[m[1]]}`;
  });
  const missing = Object.keys(want).filter((k) => !seen.has(k));
  if (missing.length) {
    if (out.length && out[out.length - 1] === '') out.pop();
    for (const k of missing) out.push(`${k}=${want[k]}`);
    out.push('');
  }
  const result = out.join('\n');
  return { text: result, changed: result !== text, kept, db };
}
