// The local services set-up's decisions, without touching the machine: URLs with hostile passwords,
// secrets-file checks, the SCRAM verifier against RFC 7677's exchange, the pg_hba.conf block, the Redis
// configuration and the .env rewrite. apply.mjs runs them for real; e2e/src/local-services.e2e.ts
// checks the result on the live services.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HBA_BEGIN,
  checkPassword,
  databaseUrl,
  generatePassword,
  hbaWithRole,
  readSecrets,
  redisUrl,
  renderRedisConf,
  renderSecrets,
  scramVerifier,
  sha256Hex,
  updateDotEnv,
} from './lib.mjs';

const require = createRequire(new URL('../../apps/controller/package.json', import.meta.url));
const pgParse = require('pg-connection-string').parse;
const { parseURL: ioredisParse } = require('ioredis/built/utils');

/** Every printable ASCII character that means something in a URL, a shell or a .env line. */
const HOSTILE = 'p@ss:w/rd?#$HOME\'"`;(x)%41&=+,[]{}|^\\!*~<>é';

const secrets = { pgPassword: 'a'.repeat(64), redisPassword: 'b'.repeat(64), redisPort: 6380 };

describe('passwords and URLs', () => {
  it('generates 64 hex digits, a new one each time', () => {
    const a = generatePassword();
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.notEqual(generatePassword(), a);
  });

  it('encodes a hostile password so that the pg driver and ioredis read back exactly it', () => {
    const db = databaseUrl({ password: HOSTILE, db: 'tracefleet' });
    assert.match(db, /^postgresql:\/\/tracefleet:[A-Za-z0-9._~%-]+@127\.0\.0\.1:5432\/tracefleet$/);
    const c = pgParse(db);
    assert.deepEqual([c.user, c.password, c.host, c.port, c.database], ['tracefleet', HOSTILE, '127.0.0.1', '5432', 'tracefleet']);
    const r = ioredisParse(redisUrl({ password: HOSTILE, port: 6380 }));
    assert.deepEqual([r.username, r.password, r.host, r.port], ['tracefleet', HOSTILE, '127.0.0.1', '6380']);
    assert.equal(decodeURIComponent(new URL(db).password), HOSTILE, 'WHATWG URL agrees');
  });

  it('makes .env lines that `set -a; . ./.env` reads back unchanged (no shell expansion)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tf-env-'));
    const file = join(dir, '.env');
    const { text } = updateDotEnv('', { ...secrets, pgPassword: HOSTILE, redisPassword: HOSTILE });
    writeFileSync(file, text);
    const r = spawnSync('bash', ['-c', 'set -a; . "$1"; set +a; printf "%s\\n%s\\n" "$DATABASE_URL" "$REDIS_URL"', 'x', file], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    assert.equal(r.status, 0, r.stderr);
    const [dbUrl, redis] = r.stdout.split('\n');
    assert.equal(pgParse(dbUrl).password, HOSTILE);
    assert.equal(ioredisParse(redis).password, HOSTILE);
  });

  it('refuses a database name that is not a plain identifier', () => {
    assert.throws(() => databaseUrl({ password: 'x'.repeat(20), db: 'a"; DROP' }), /plain identifier/);
  });
});

describe('the secrets file', () => {
  it('round-trips what it writes', () => {
    assert.deepEqual(readSecrets(renderSecrets(secrets)), secrets);
  });

  it('refuses passwords that do not fit on one line or are short, naming the variable', () => {
    assert.throws(() => checkPassword('P', 'with space inside it'), /P contains whitespace/);
    assert.throws(() => checkPassword('P', 'tab\there-and-long-enough'), /P contains whitespace/);
    assert.throws(() => checkPassword('P', 'short'), /P is shorter than 16/);
    assert.throws(() => checkPassword('P', undefined), /P is missing/);
    assert.throws(() => readSecrets('TRACEFLEET_PG_PASSWORD=\nTRACEFLEET_REDIS_PASSWORD=' + 'b'.repeat(20)), /TRACEFLEET_PG_PASSWORD is missing/);
    assert.equal(checkPassword('P', HOSTILE), HOSTILE, 'URL and shell characters are fine: URLs encode them');
  });

  it('refuses the shared Redis port and ports that are not ports', () => {
    for (const port of ['6379', '0', '70000', 'x']) {
      assert.throws(() => readSecrets(renderSecrets(secrets).replace('TRACEFLEET_REDIS_PORT=6380', `TRACEFLEET_REDIS_PORT=${port}`)), /TRACEFLEET_REDIS_PORT/);
    }
  });
});

describe('scramVerifier', () => {
  // RFC 7677 section 3: user "user", password "pencil", one full SCRAM-SHA-256 exchange.
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
  const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
  const serverSignature = '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

  it("stores keys that verify RFC 7677's client proof and produce its server signature", () => {
    const v = scramVerifier('pencil', salt, 4096);
    const m = /^SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)$/.exec(v);
    assert.ok(m, v);
    assert.equal(m[1], 'W22ZaJ0SNY7soEsUEjb6gQ==');
    const storedKey = Buffer.from(m[2], 'base64');
    const serverKey = Buffer.from(m[3], 'base64');
    const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
    const clientKey = Buffer.from(proof.map((b, i) => b ^ clientSignature[i]));
    assert.deepEqual(createHash('sha256').update(clientKey).digest(), storedKey);
    assert.equal(createHmac('sha256', serverKey).update(authMessage).digest('base64'), serverSignature);
  });

  it('uses a new salt each time and puts only base64 in SQL', () => {
    const a = scramVerifier(HOSTILE);
    assert.notEqual(scramVerifier(HOSTILE), a);
    assert.match(a, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  });
});

describe('hbaWithRole', () => {
  const debian = '# PostgreSQL Client Authentication Configuration File\n#\n# TYPE DATABASE USER ADDRESS METHOD\n\nlocal all all trust\nhost all all 127.0.0.1/32 trust\n';

  it('puts the role lines before the first rule and keeps every other line', () => {
    const { text, changed } = hbaWithRole(debian);
    assert.ok(changed);
    const lines = text.split('\n');
    const rules = lines.filter((l) => l.trim() && !l.startsWith('#'));
    assert.deepEqual(rules.map((l) => l.split(/\s+/).slice(0, 3).join(' ')), [
      'local all tracefleet',
      'host all tracefleet',
      'host all tracefleet',
      'local all all',
      'host all all',
    ]);
    assert.ok(rules.slice(0, 3).every((l) => l.endsWith('scram-sha-256')));
    assert.equal(text.replace(/# tracefleet: begin[\s\S]*# tracefleet: end\n/, ''), debian, 'nothing else changed');
  });

  it('is idempotent', () => {
    const once = hbaWithRole(debian).text;
    assert.deepEqual(hbaWithRole(once), { text: once, changed: false });
  });

  it('moves a block found after a trust line back to the front and replaces its old lines', () => {
    const stale = `${debian}${HBA_BEGIN}\nhost all tracefleet 127.0.0.1/32 md5\n# tracefleet: end\n`;
    const { text, changed } = hbaWithRole(stale);
    assert.ok(changed);
    assert.ok(text.indexOf(HBA_BEGIN) < text.indexOf('local all all trust'));
    assert.equal(text.split(HBA_BEGIN).length, 2, 'one block');
    assert.doesNotMatch(text, /md5/);
  });

  it('adds the block to a file without rules', () => {
    assert.match(hbaWithRole('# only comments\n').text, /scram-sha-256/);
  });
});

describe('renderRedisConf', () => {
  const hash = sha256Hex('secret-password-for-test');
  const conf = renderRedisConf({ port: 6380, dir: '/var/lib/tracefleet/redis', passwordSha256: hash });

  it('asks what BullMQ needs and turns the default user off', () => {
    for (const line of ['port 6380', 'maxmemory-policy noeviction', 'appendonly yes', 'bind 127.0.0.1 -::1']) {
      assert.ok(conf.split('\n').includes(line), line);
    }
    assert.match(conf, new RegExp(`^user tracefleet reset on #${hash} ~\\* &\\* \\+@all -@dangerous \\+info \\+config\\|get`, 'm'));
    assert.match(conf, /^user default off resetpass ~\* &\* \+@all -@dangerous /m, 'off, no password, and no more than the Tracefleet user');
  });

  it('holds the password only as its SHA-256', () => {
    assert.doesNotMatch(conf, /secret-password-for-test/);
    assert.throws(() => renderRedisConf({ port: 6380, dir: '/x', passwordSha256: 'plain text' }), /64 hex/);
  });
});

describe('updateDotEnv', () => {
  const old = '# Generated by infra/setup.sh. Secrets: never commit this file.\nDATABASE_URL=postgresql://postgres@127.0.0.1:5432/tracefleet\nREDIS_URL=redis://127.0.0.1:6379\nTRACEFLEET_API_TOKEN=abc\nPORT=8080\n';

  it("rewrites a .env from before the credentials in place, keeping its database and other lines", () => {
    const { text, changed, kept, db } = updateDotEnv(old, secrets);
    assert.ok(changed);
    assert.deepEqual(kept, []);
    assert.equal(db, 'tracefleet');
    assert.equal(text, `# Generated by infra/setup.sh. Secrets: never commit this file.\nDATABASE_URL=postgresql://tracefleet:${'a'.repeat(64)}@127.0.0.1:5432/tracefleet\nREDIS_URL=redis://tracefleet:${'b'.repeat(64)}@127.0.0.1:6380\nTRACEFLEET_API_TOKEN=abc\nPORT=8080\n`);
    assert.deepEqual(updateDotEnv(text, secrets), { text, changed: false, kept: [], db: 'tracefleet' }, 'idempotent');
  });

  it('takes new passwords (after a rotation) and keeps a chosen database name', () => {
    const first = updateDotEnv(old.replace('/tracefleet\n', '/tf_dev\n'), secrets).text;
    const { text, db } = updateDotEnv(first, { ...secrets, pgPassword: 'c'.repeat(64) });
    assert.equal(db, 'tf_dev');
    assert.match(text, new RegExp(`^DATABASE_URL=postgresql://tracefleet:${'c'.repeat(64)}@127\\.0\\.0\\.1:5432/tf_dev$`, 'm'));
  });

  it('appends the URLs to a .env that has none', () => {
    const { text, db } = updateDotEnv('PORT=8080\n', secrets);
    assert.equal(db, 'tracefleet');
    assert.match(text, /^PORT=8080\nDATABASE_URL=postgresql:\/\/tracefleet:a+@127\.0\.0\.1:5432\/tracefleet\nREDIS_URL=redis:\/\/tracefleet:b+@127\.0\.0\.1:6380\n$/);
  });

  it('leaves services it does not run alone, and says so', () => {
    const mine = 'DATABASE_URL=postgresql://app:pw@db.internal:5432/tf\nREDIS_URL=rediss://cache.internal:6380\n';
    const { text, changed, kept, db } = updateDotEnv(mine, secrets);
    assert.deepEqual([text, changed, kept, db], [mine, false, ['DATABASE_URL', 'REDIS_URL'], undefined]);
    assert.deepEqual(updateDotEnv('DATABASE_URL=postgresql://postgres@127.0.0.1:5433/x\n', secrets).kept, ['DATABASE_URL'], 'another local port is not ours');
  });

  it('falls back to the default database for a name that is not an identifier', () => {
    assert.equal(updateDotEnv('DATABASE_URL=postgresql://postgres@localhost/x%22y\n', secrets).db, 'tracefleet');
  });
});
