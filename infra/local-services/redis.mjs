// Tracefleet's own Redis: started here when it is not running, restarted when its configuration changed
// (a new password after the secrets file was lost, new rules). It runs as Debian's unprivileged `redis`
// user, so a compromise of the server is not root; its files are that user's, 0600/0700.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REDIS_HOST, REDIS_USER, renderRedisConf, sha256Hex } from './lib.mjs';

export const REDIS_CONF = '/etc/tracefleet/redis.conf';
export const REDIS_DIR = '/var/lib/tracefleet/redis';
const RUN_AS = 'redis';

function userIds(name) {
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) throw new Error(`there is no "${name}" user to run Tracefleet's Redis (Debian's redis-server package makes it)`);
  return { uid: Number(r.stdout), gid: Number(g.stdout) };
}

function ensureOwned(path, mode, { uid, gid }) {
  const st = statSync(path);
  if (st.uid !== uid || st.gid !== gid) chownSync(path, uid, gid);
  if ((st.mode & 0o777) !== mode) chmodSync(path, mode);
}

/**
 * Makes a root-owned directory on the Redis user's way (/etc/tracefleet, /var/lib/tracefleet) 0755. mkdir's
 * mode is cut by the umask (setup.sh once ran this under `umask 077`, leaving 0700 directories the `redis`
 * user could not enter, so a fresh machine's Redis could not read its configuration): created or not, the
 * mode is set here. It holds no secret itself: the files in it are 0600.
 */
function ensureTraversable(dir) {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if ((statSync(dir).mode & 0o777) !== 0o755) chmodSync(dir, 0o755);
}

/**
 * Asks the server for PING as the Tracefleet user (the password goes through REDISCLI_AUTH, never argv).
 * Returns 'ok', 'down' (nothing listens), or 'refused' with the server's words.
 */
export function redisPing(port, password, user = REDIS_USER) {
  const args = ['-h', REDIS_HOST, '-p', String(port), '--no-auth-warning'];
  const env = { ...process.env };
  delete env.REDISCLI_AUTH;
  if (password !== undefined) {
    args.push('--user', user);
    env.REDISCLI_AUTH = password;
  }
  const r = spawnSync('redis-cli', [...args, 'ping'], { encoding: 'utf8', env, timeout: 10_000 });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  // redis-cli goes on after a failed AUTH: a server whose default user is open still answers PONG.
  if (r.stdout?.trim() === 'PONG' && !/AUTH failed/.test(text)) return { state: 'ok', text };
  if (/Connection refused|Could not connect/i.test(text)) return { state: 'down', text };
  return { state: 'refused', text };
}

async function until(cond, ms) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

/** Stops the instance this set-up started (its pidfile names a redis-server on our config); anything else is left alone. */
async function stopOurs(port) {
  const pidFile = join(REDIS_DIR, 'redis.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    // no such process
  }
  if (!Number.isInteger(pid) || !/redis-server/.test(cmdline) || !cmdline.includes(`:${port}`)) {
    throw new Error(`something on ${REDIS_HOST}:${port} does not take Tracefleet's credentials and is not the redis-server of ${pidFile}; stop it, or choose another TRACEFLEET_REDIS_PORT in the secrets file`);
  }
  process.kill(pid, 'SIGTERM');
  if (!(await until(() => !existsSync(`/proc/${pid}`), 15_000))) throw new Error(`Tracefleet's Redis (pid ${pid}) did not stop within 15 s of SIGTERM`);
}

/** Writes the configuration, then makes the running instance match it. Returns what it did, or ''. */
export async function ensureRedis({ redisPassword, redisPort }) {
  const ids = userIds(RUN_AS);
  ensureTraversable(dirname(REDIS_DIR));
  mkdirSync(REDIS_DIR, { recursive: true, mode: 0o700 });
  ensureOwned(REDIS_DIR, 0o700, ids);
  ensureTraversable(dirname(REDIS_CONF));
  const conf = renderRedisConf({ port: redisPort, dir: REDIS_DIR, passwordSha256: sha256Hex(redisPassword) });
  const confChanged = !existsSync(REDIS_CONF) || readFileSync(REDIS_CONF, 'utf8') !== conf;
  if (confChanged) {
    const tmp = `${REDIS_CONF}.tmp-${process.pid}`;
    writeFileSync(tmp, conf, { mode: 0o600 });
    chownSync(tmp, ids.uid, ids.gid);
    renameSync(tmp, REDIS_CONF);
  }
  ensureOwned(REDIS_CONF, 0o600, ids);

  const now = redisPing(redisPort, redisPassword);
  if (now.state === 'ok' && !confChanged) return '';
  let did = 'started';
  if (now.state !== 'down') {
    await stopOurs(redisPort);
    did = 'restarted (configuration changed)';
  }
  const start = spawnSync('setpriv', ['--reuid', RUN_AS, '--regid', RUN_AS, '--init-groups', '--no-new-privs', 'redis-server', REDIS_CONF], { encoding: 'utf8' });
  if (start.status !== 0) throw new Error(`redis-server ${REDIS_CONF} did not start: ${(start.stderr || start.stdout || String(start.error)).trim()}`);
  if (!(await until(() => redisPing(redisPort, redisPassword).state === 'ok', 10_000))) {
    let log = '';
    try {
      log = readFileSync(join(REDIS_DIR, 'redis.log'), 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      // no log yet
    }
    throw new Error(`Tracefleet's Redis on ${REDIS_HOST}:${redisPort} does not answer PING as ${REDIS_USER}: ${redisPing(redisPort, redisPassword).text}\n${log}`);
  }
  // Redis goes on serving after it dropped parts of the append-only file while loading (it only logs
  // CRITICAL, as with redis/redis#14541): a queue that lost keys must not pass for a healthy start.
  const log = readFileSync(join(REDIS_DIR, 'redis.log'), 'utf8').split('\n');
  const lastStart = log.findLastIndex((l) => /Server initialized/.test(l));
  const critical = log.slice(Math.max(0, lastStart)).filter((l) => /== CRITICAL ==/.test(l));
  if (critical.length) {
    throw new Error(`Tracefleet's Redis ${did} but logged ${critical.length} CRITICAL line(s) while loading its data (${join(REDIS_DIR, 'redis.log')}):\n${critical[0]}`);
  }
  return did;
}
