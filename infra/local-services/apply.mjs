// `node infra/local-services/apply.mjs [.env]`, run by infra/setup.sh as root: Tracefleet's local services
// with credentials. Idempotent; prints only what it changed.
//   1. /etc/tracefleet/services.env (root, 0600): the PostgreSQL role's and the Redis user's passwords,
//      generated once and shared by every clone on the machine (the role and the Redis instance are
//      machine state that outlives a clone). Lost → new passwords, applied below (rotation).
//   2. PostgreSQL: role `tracefleet` (LOGIN, no superuser, createdb, createrole, replication), its
//      scram-sha-256 lines first in pg_hba.conf (other users authenticate as before).
//   3. Tracefleet's own Redis on 127.0.0.1:TRACEFLEET_REDIS_PORT (6380): default user off, user tracefleet,
//      noeviction, append-only (the shared Redis on 6379 is not touched).
//   4. The clone's .env (0600): DATABASE_URL and REDIS_URL with those credentials.
//   5. The .env's database, owned by the role; the role refused without its password, accepted with it.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generatePassword, readSecrets, renderSecrets, updateDotEnv } from './lib.mjs';
import { checkRoleLogin, ensureDatabase, ensureHba, ensureRole } from './postgres.mjs';
import { ensureRedis } from './redis.mjs';

export const SECRETS_FILE = process.env.TRACEFLEET_SERVICES_ENV || '/etc/tracefleet/services.env';
const say = (msg) => console.log(`\x1b[1m[setup]\x1b[0m ${msg}`);

/** Writes a file readable by root only, atomically (a reader never sees half of it). */
function writePrivate(path, text) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function ensureSecrets() {
  if (!existsSync(SECRETS_FILE)) {
    mkdirSync(dirname(SECRETS_FILE), { recursive: true, mode: 0o755 });
    writePrivate(SECRETS_FILE, renderSecrets({ pgPassword: generatePassword(), redisPassword: generatePassword() }));
    say(`generated local service passwords in ${SECRETS_FILE} (0600)`);
  }
  const st = statSync(SECRETS_FILE);
  if (st.uid !== 0 || (st.mode & 0o077) !== 0) {
    throw new Error(`${SECRETS_FILE} must belong to root and be readable by root only (it is ${st.uid}, mode ${(st.mode & 0o777).toString(8)}); chown root and chmod 600 it`);
  }
  return readSecrets(readFileSync(SECRETS_FILE, 'utf8'));
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root (infra/setup.sh does)');
  const dotEnv = process.argv[2] ?? '.env';
  const secrets = ensureSecrets();

  const role = ensureRole(secrets.pgPassword);
  if (role === 'created') say('created the PostgreSQL role tracefleet (LOGIN, not a superuser)');
  if (role === 'restricted') say('took superuser/createdb/createrole/replication/bypassrls back from the PostgreSQL role tracefleet');
  if (ensureHba()) say('pg_hba.conf: the tracefleet role now needs its password (scram-sha-256); reloaded');

  const redis = await ensureRedis(secrets);
  if (redis) say(`Tracefleet's Redis on 127.0.0.1:${secrets.redisPort}: ${redis}`);

  const before = existsSync(dotEnv) ? readFileSync(dotEnv, 'utf8') : '';
  const env = updateDotEnv(before, secrets);
  if (env.changed) {
    writePrivate(dotEnv, env.text);
    say(`${dotEnv}: DATABASE_URL and REDIS_URL now carry the local services' credentials`);
  }
  chmodSync(dotEnv, 0o600);
  for (const k of env.kept) say(`${dotEnv}: ${k} names a service this set-up does not run; left as it is`);

  if (env.db) {
    if (ensureDatabase(env.db) === 'created') say(`created database ${env.db} owned by tracefleet`);
    const login = await checkRoleLogin(secrets.pgPassword, env.db);
    if (login === 'password reset') say('the PostgreSQL role tracefleet had another password: set the one in the secrets file');
  }
}

main().catch((err) => {
  console.error(`\x1b[31m[setup] local services: ${err.message}\x1b[0m`);
  process.exit(1);
});
