/**
 * Local services with credentials (issue 13), on the live services infra/setup.sh prepared: the
 * tracefleet PostgreSQL role and Tracefleet's own Redis refuse clients without the generated
 * credentials, accept them with the .env's, grant no administration, and the product runs on them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { E2E_DB, ROOT, e2eDatabaseUrl, readDotEnv, redisCli, startStack, waitJob, type Stack } from './harness';

const SECRETS = process.env.TRACEFLEET_SERVICES_ENV || '/etc/tracefleet/services.env';
const env = readDotEnv();

/** psql with `password`, or none at all for null (PGPASSFILE=/dev/null: no ~/.pgpass answers for it). */
function psql(args: string[], password: string | null = null): { status: number | null; out: string; err: string } {
  const e: NodeJS.ProcessEnv = { ...process.env, PGPASSFILE: '/dev/null', PGCONNECT_TIMEOUT: '5' };
  delete e.PGPASSWORD;
  if (password !== null) e.PGPASSWORD = password;
  const r = spawnSync('psql', ['-X', '-w', '-At', '-v', 'ON_ERROR_STOP=1', ...args], { encoding: 'utf8', env: e });
  return { status: r.status, out: r.stdout.trim(), err: `${r.stderr}${r.error ?? ''}`.trim() };
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('local services with credentials', () => {
  const db = new URL(env.DATABASE_URL ?? 'postgresql://missing@x/none');
  const role = decodeURIComponent(db.username);
  const pgPassword = decodeURIComponent(db.password);
  const dbName = db.pathname.slice(1);
  const redis = new URL(env.REDIS_URL ?? 'redis://missing@x:1');
  const redisPort = redis.port;
  const asRole = (sql: string, password: string | null = pgPassword, host: string[] = ['-h', '127.0.0.1']) =>
    psql([...host, '-U', role, '-d', dbName, '-c', sql], password);

  it('keeps the secrets file and the .env root-only (0600), with the same passwords', () => {
    assert.ok(env.DATABASE_URL && env.REDIS_URL, `${join(ROOT, '.env')} has DATABASE_URL and REDIS_URL (npm run setup writes them)`);
    for (const f of [SECRETS, join(ROOT, '.env')]) {
      assert.equal(mode(f), '600', `${f} mode`);
      assert.equal(statSync(f).uid, 0, `${f} belongs to root`);
    }
    const secrets = Object.fromEntries(
      spawnSync('cat', [SECRETS], { encoding: 'utf8' })
        .stdout.split('\n')
        .map((l) => /^([A-Z_]+)=(.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    assert.equal(pgPassword, secrets.TRACEFLEET_PG_PASSWORD);
    assert.equal(decodeURIComponent(redis.password), secrets.TRACEFLEET_REDIS_PASSWORD);
    assert.equal(redisPort, secrets.TRACEFLEET_REDIS_PORT);
    assert.equal(role, 'tracefleet');
    assert.equal(decodeURIComponent(redis.username), 'tracefleet');
    assert.notEqual(redisPort, '6379', "not the shared, password-less Redis");
    assert.equal(mode('/etc/tracefleet/redis.conf'), '600');
    assert.equal(mode('/var/lib/tracefleet/redis'), '700');
  });

  describe('PostgreSQL', () => {
    it('refuses the role without its password, over TCP and over the Unix socket', () => {
      const tcp = asRole('SELECT 1', null);
      assert.notEqual(tcp.status, 0, tcp.out);
      assert.match(tcp.err, /no password supplied|password authentication failed/);
      const socket = asRole('SELECT 1', null, []);
      assert.notEqual(socket.status, 0, socket.out);
      assert.match(socket.err, /no password supplied|password authentication failed/);
    });

    it('refuses a wrong password', () => {
      const r = asRole('SELECT 1', `${pgPassword}x`);
      assert.notEqual(r.status, 0);
      assert.match(r.err, /password authentication failed for user "tracefleet"/);
    });

    it('accepts the .env password, for a role that is no superuser and holds no other role', () => {
      const r = asRole("SELECT current_user, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user");
      assert.equal(r.status, 0, r.err);
      assert.equal(r.out, 'tracefleet|f|f|f|f|f');
      assert.equal(asRole("SELECT count(*) FROM pg_auth_members WHERE member = current_user::regrole").out, '0');
      assert.equal(asRole('SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()').out, 'tracefleet', 'it owns its database');
    });

    it('cannot create databases or roles, nor read files or run programs on the server', () => {
      for (const [sql, refusal] of [
        ['CREATE DATABASE tracefleet_should_not_exist', /permission denied to create database/],
        ['CREATE ROLE tracefleet_should_not_exist', /permission denied to create role/],
        ["SELECT pg_read_file('/etc/passwd')", /permission denied for function pg_read_file/],
        ["CREATE TEMP TABLE t(x text); COPY t FROM PROGRAM 'id'", /permission denied to COPY to or from an external program|must be superuser or have privileges of the pg_execute_server_program role/],
      ] as const) {
        const r = asRole(sql);
        assert.notEqual(r.status, 0, `${sql} was allowed`);
        assert.match(r.err, refusal, sql);
      }
    });

    it('leaves other users authenticating as before (the administrator the set-up uses)', () => {
      const r = psql(['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', 'SELECT 1']);
      assert.equal(r.status, 0, r.err);
    });
  });

  describe("Tracefleet's Redis", () => {
    const url = (user: string, password: string) => {
      const u = new URL(env.REDIS_URL);
      u.username = user;
      u.password = encodeURIComponent(password);
      return u.toString();
    };
    const plain = `redis://127.0.0.1:${redisPort}`;

    it('refuses a client without credentials (the default user is off)', () => {
      assert.match(redisCli(plain, ['ping']).out, /NOAUTH Authentication required/);
      assert.match(redisCli(plain, ['config', 'get', 'maxmemory-policy']).out, /NOAUTH/);
      const asDefault = redisCli(url('default', 'anything'), ['ping']).out;
      assert.match(asDefault, /WRONGPASS/);
      assert.match(asDefault, /NOAUTH/);
    });

    it('refuses a wrong password', () => {
      const wrong = redisCli(url('tracefleet', `${decodeURIComponent(redis.password)}x`), ['ping']).out;
      assert.match(wrong, /WRONGPASS/);
      assert.match(wrong, /NOAUTH/);
    });

    it('with the .env credentials: noeviction and append-only, as BullMQ asks', () => {
      assert.equal(redisCli(env.REDIS_URL, ['ping']).out, 'PONG');
      assert.equal(redisCli(env.REDIS_URL, ['config', 'get', 'maxmemory-policy']).out, 'maxmemory-policy\nnoeviction');
      assert.equal(redisCli(env.REDIS_URL, ['config', 'get', 'appendonly']).out, 'appendonly\nyes');
    });

    it("gives the Tracefleet user no administration: no CONFIG SET, FLUSHALL, ACL, KEYS, SHUTDOWN", () => {
      for (const cmd of [['config', 'set', 'maxmemory-policy', 'allkeys-lru'], ['flushall'], ['acl', 'list'], ['keys', '*'], ['shutdown', 'nosave']]) {
        assert.match(redisCli(env.REDIS_URL, cmd).out, /NOPERM/, cmd.join(' '));
      }
      assert.equal(redisCli(env.REDIS_URL, ['config', 'get', 'maxmemory-policy']).out, 'maxmemory-policy\nnoeviction', 'still noeviction');
    });
  });

  describe('the product on these credentials', () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack();
    });
    after(async () => {
      await stack?.stop();
    });

    it('runs a CPU profile end to end; its queue lives in Tracefleet Redis and its rows belong to the role', async () => {
      assert.equal(new URL(stack.databaseUrl).username, 'tracefleet', 'the controller connects as the role');
      const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
      let job: any;
      try {
        const res = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 2, frequencyHz: 49, target: { pid: busy.pid }, nodes: { names: [stack.nodeName] } });
        assert.equal(res.status, 201, res.text);
        job = await waitJob(stack, res.json.id, 60_000);
      } finally {
        busy.kill('SIGKILL');
      }
      assert.equal(job.status, 'completed', JSON.stringify(job));
      assert.ok(Number(job.runs[0].samplesStored) > 0, JSON.stringify(job.runs[0]));

      const keys = redisCli(env.REDIS_URL, ['--scan', '--pattern', `${stack.queuePrefix}:*`]).out.split('\n').filter(Boolean);
      assert.ok(keys.length > 0, `no ${stack.queuePrefix}:* keys in Tracefleet's Redis on ${redisPort}`);

      const c = new Client({ connectionString: e2eDatabaseUrl() });
      await c.connect();
      try {
        const owners = await c.query("SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S')");
        assert.deepEqual(owners.rows.map((r) => r.owner), ['tracefleet'], `objects of ${E2E_DB}`);
        const runs = await c.query('SELECT count(*)::int AS n FROM "JobRun" WHERE "jobId" = $1', [job.id]);
        assert.equal(runs.rows[0].n, 1);
      } finally {
        await c.end();
      }
    });
  });
});
