// PostgreSQL side of the local services set-up: the tracefleet role, its pg_hba.conf lines, its database.
// Administration goes through the postgres superuser over 127.0.0.1 (trusted on this machine kind, as
// before); the role itself is then checked the way a client meets it: refused without its password,
// accepted with it.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PG_HOST, PG_PORT, PG_ROLE, hbaWithRole, scramVerifier } from './lib.mjs';

const HERE = dirname(new URL(import.meta.url).pathname);

/** Runs SQL (on stdin, so nothing secret is in argv) as the postgres superuser; returns stdout. */
export function psqlAdmin(sql, db = 'postgres') {
  const r = spawnSync('psql', ['-h', PG_HOST, '-p', String(PG_PORT), '-U', 'postgres', '-d', db, '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-f', '-'], {
    input: sql,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`psql as postgres on ${db} failed: ${(r.stderr || String(r.error)).trim()}`);
  return r.stdout.trim();
}

const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

/**
 * Connects as the role: `password` undefined sends none. PGPASSFILE=/dev/null so a ~/.pgpass cannot
 * answer for us. Returns { ok, message }.
 */
export function tryLogin(password, db = 'postgres', host = PG_HOST) {
  const env = { ...process.env, PGPASSFILE: '/dev/null', PGCONNECT_TIMEOUT: '5' };
  delete env.PGPASSWORD;
  if (password !== undefined) env.PGPASSWORD = password;
  const args = ['-U', PG_ROLE, '-d', db, '-X', '-w', '-At', '-c', 'SELECT current_user'];
  if (host) args.unshift('-h', host, '-p', String(PG_PORT));
  const r = spawnSync('psql', args, { encoding: 'utf8', env });
  return { ok: r.status === 0 && r.stdout.trim() === PG_ROLE, message: (r.stderr || r.stdout || String(r.error ?? '')).trim() };
}

/** Creates the role, or takes back any right beyond LOGIN it was given since. Returns 'created', 'restricted' or 'ok'. */
export function ensureRole(password) {
  const state = psqlAdmin(`
SELECT CASE
  WHEN r.oid IS NULL THEN 'missing'
  WHEN r.rolsuper OR r.rolcreatedb OR r.rolcreaterole OR r.rolreplication OR r.rolbypassrls OR NOT r.rolcanlogin THEN 'loose'
  ELSE 'ok' END
FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = ${lit(PG_ROLE)};`);
  const attrs = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
  if (state === 'missing') {
    psqlAdmin(`CREATE ROLE "${PG_ROLE}" ${attrs} PASSWORD ${lit(scramVerifier(password))};`);
    return 'created';
  }
  if (state === 'loose') {
    psqlAdmin(`ALTER ROLE "${PG_ROLE}" ${attrs};`);
    return 'restricted';
  }
  return 'ok';
}

export function setPassword(password) {
  psqlAdmin(`ALTER ROLE "${PG_ROLE}" PASSWORD ${lit(scramVerifier(password))};`);
}

/**
 * Puts the role's scram-sha-256 lines first in pg_hba.conf (keeping the file's owner and mode) and
 * reloads when that changed; refuses to leave a file PostgreSQL reports errors in. Returns changed.
 */
export function ensureHba() {
  const file = psqlAdmin('SHOW hba_file;');
  const before = readFileSync(file, 'utf8');
  const { text, changed } = hbaWithRole(before);
  if (!changed) return false;
  const st = statSync(file);
  const tmp = join(dirname(file), `.pg_hba.conf.tracefleet-${process.pid}`);
  writeFileSync(tmp, text, { mode: st.mode & 0o777 });
  chownSync(tmp, st.uid, st.gid);
  chmodSync(tmp, st.mode & 0o777);
  renameSync(tmp, file);
  psqlAdmin('SELECT pg_reload_conf();');
  const errors = psqlAdmin("SELECT line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL;");
  if (errors) {
    writeFileSync(file, before);
    psqlAdmin('SELECT pg_reload_conf();');
    throw new Error(`PostgreSQL refused the new ${file} (${errors}); the old file is back`);
  }
  return true;
}

/** Creates database `db` owned by the role, or makes an existing one (and its objects) the role's. */
export function ensureDatabase(db) {
  const exists = psqlAdmin(`SELECT 1 FROM pg_database WHERE datname = ${lit(db)};`) === '1';
  if (!exists) {
    psqlAdmin(`CREATE DATABASE "${db}" OWNER "${PG_ROLE}";`);
    return 'created';
  }
  psqlAdmin(`SET tracefleet.role = ${lit(PG_ROLE)};\n${readFileSync(join(HERE, 'adopt-db.sql'), 'utf8')}`, db);
  return 'adopted';
}

/**
 * Waits for the reloaded pg_hba.conf to take effect: the role without a password must be refused over
 * TCP and over the Unix socket, and with `password` accepted; a wrong stored password is reset once.
 */
export async function checkRoleLogin(password, db) {
  for (let i = 0; ; i++) {
    const tcp = tryLogin(undefined, db);
    const socket = tryLogin(undefined, db, null);
    if (!tcp.ok && !socket.ok) break;
    if (i >= 30) throw new Error(`the ${PG_ROLE} role can still log in without a password (${tcp.ok ? 'TCP' : 'Unix socket'}): pg_hba.conf has a line before ours that lets it in`);
    await new Promise((r) => setTimeout(r, 100));
  }
  let login = tryLogin(password, db);
  if (!login.ok && /password authentication failed/.test(login.message)) {
    setPassword(password);
    login = tryLogin(password, db);
    if (login.ok) return 'password reset';
  }
  if (!login.ok) throw new Error(`the ${PG_ROLE} role cannot log in with its password: ${login.message}`);
  return 'ok';
}
