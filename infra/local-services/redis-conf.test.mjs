// The configuration setup writes for Tracefleet's Redis, run by a real redis-server of its own (a free port,
// a temporary directory; the machine's instances are not touched): anonymous clients are refused, the
// Tracefleet user works, and what it wrote through MULTI/EXEC and a script (the way BullMQ writes: Redis 7
// logs a script's writes as MULTI/EXEC) is still there after a restart from the append-only file.
// redis-server missing is a failure that names it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderRedisConf, sha256Hex } from './lib.mjs';

const PASSWORD = 'conf-test-password-0123456789';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

describe("Tracefleet's Redis configuration on a real redis-server", () => {
  let dir;
  let port;
  let conf;
  const cli = (args, password = PASSWORD) => {
    const env = { ...process.env };
    delete env.REDISCLI_AUTH;
    const auth = password === null ? [] : ['--user', 'tracefleet'];
    if (password !== null) env.REDISCLI_AUTH = password;
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', ...auth, ...args], { encoding: 'utf8', env, timeout: 10_000 });
    return `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ?? ''}`.trim();
  };
  const start = async () => {
    const r = spawnSync('redis-server', [conf], { encoding: 'utf8' });
    assert.equal(r.status, 0, `redis-server did not start (is it installed? npm run setup installs redis-server): ${r.stderr}${r.error ?? ''}`);
    for (let i = 0; i < 50 && cli(['ping']) !== 'PONG'; i++) await new Promise((res) => setTimeout(res, 100));
    assert.equal(cli(['ping']), 'PONG');
  };
  const stop = async () => {
    const pidFile = join(dir, 'redis.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((res) => setTimeout(res, 100));
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tf-redis-conf-'));
    port = await freePort();
    conf = join(dir, 'redis.conf');
    writeFileSync(conf, renderRedisConf({ port, dir, passwordSha256: sha256Hex(PASSWORD) }), { mode: 0o600 });
    await start();
  });

  after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses clients without the password and the disabled default user', () => {
    assert.match(cli(['ping'], null), /NOAUTH/);
    const asDefault = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', '--user', 'default', 'ping'], { encoding: 'utf8', env: { ...process.env, REDISCLI_AUTH: '' } });
    assert.match(`${asDefault.stdout}${asDefault.stderr}`, /NOAUTH|WRONGPASS/);
    assert.match(cli(['ping'], 'wrong-password-0123456789'), /WRONGPASS/);
  });

  it('gives the Tracefleet user noeviction, append-only, and no administration', () => {
    assert.equal(cli(['config', 'get', 'maxmemory-policy']), 'maxmemory-policy\nnoeviction');
    assert.equal(cli(['config', 'get', 'appendonly']), 'appendonly\nyes');
    for (const cmd of [['flushall'], ['config', 'set', 'appendonly', 'no'], ['acl', 'setuser', 'default', 'on'], ['shutdown', 'nosave']]) {
      assert.match(cli(cmd), /NOPERM/, cmd.join(' '));
    }
    assert.match(cli(['debug', 'sleep', '0']), /NOPERM|DEBUG command not allowed/, 'debug');
  });

  it('keeps what MULTI/EXEC and a script wrote across a restart from the append-only file', async () => {
    spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', '--user', 'tracefleet'], {
      input: 'MULTI\nSET tx:a 1\nSET tx:b 2\nEXEC\n',
      env: { ...process.env, REDISCLI_AUTH: PASSWORD },
    });
    cli(['eval', "redis.call('set', KEYS[1], '3'); redis.call('hset', KEYS[2], 'f', '4')", '2', 'lua:c', 'lua:d']);
    cli(['set', 'plain:e', '5']);
    assert.equal(cli(['dbsize']), '5');
    await stop();
    await start();
    assert.equal(cli(['dbsize']), '5', `after the restart: ${cli(['--scan'])}\n${readFileSync(join(dir, 'redis.log'), 'utf8').split('\n').filter((l) => /CRITICAL|error/i.test(l)).slice(0, 3).join('\n')}`);
    assert.equal(cli(['hget', 'lua:d', 'f']), '4');
  });
});
