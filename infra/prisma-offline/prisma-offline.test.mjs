// prisma-offline against a real PostgreSQL (127.0.0.1:5432): applies the committed migrations to
// a throwaway database through the wrapper, checks `migrate status`, the tables, that the
// migrations match the schema files (`migrate diff` is empty), and a generated-client round trip.
// PostgreSQL being down is a failure that names it, never a skip.
//
//   node --test infra/prisma-offline/prisma-offline.test.mjs
//
// PRISMA_OFFLINE_TEST_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres) is the
// server to use; PRISMA_OFFLINE_TEST_DB (default tracefleet_test) the database it creates and drops.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const pins = require('./lib/pins.cjs');
const { pg } = pins.loadPgDriver();

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = pins.REPO_ROOT;
const WRAPPER = path.join(HERE, 'prisma.mjs');
const CONFIG = pins.DEFAULT_CONFIG;
// A multi-file schema: every .prisma file under the controller's src/ (the main one is src/prisma/schema.prisma).
const SCHEMA = path.join(ROOT, 'apps/controller/src');
const MAIN_SCHEMA = path.join(SCHEMA, 'prisma/schema.prisma');
/** The text of every schema file, joined. */
const schemaText = () =>
  fs.readdirSync(SCHEMA, { recursive: true })
    .filter((f) => String(f).endsWith('.prisma'))
    .map((f) => fs.readFileSync(path.join(SCHEMA, String(f)), 'utf8'))
    .join('\n');
const MIGRATIONS = path.join(ROOT, 'apps/controller/prisma/migrations');
const ADMIN_URL = process.env.PRISMA_OFFLINE_TEST_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const TEST_DB = process.env.PRISMA_OFFLINE_TEST_DB ?? 'tracefleet_test';
const TEST_URL = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${TEST_DB}`;
  return u.toString();
})();
const TIMEOUT = 180_000;

function run(file, args, { cwd = ROOT, env = {} } = {}) {
  return new Promise((resolve) => {
    const childEnv = {
      ...process.env,
      DATABASE_URL: TEST_URL,
      // Any attempt to download an engine fails at once instead of waiting for the network.
      PRISMA_ENGINES_MIRROR: 'http://127.0.0.1:9',
      ...env,
    };
    delete childEnv.SHADOW_DATABASE_URL;
    execFile(file, args, { cwd, env: childEnv, maxBuffer: 32 * 1024 * 1024, timeout: TIMEOUT }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

const prisma = (args, opts) => run(process.execPath, [WRAPPER, ...args], opts);
const show = (r) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

async function withClient(url, fn) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${new URL(url).host} (${error.code ?? ''} ${error.message}). ` +
        'prisma-offline.test.mjs needs a running PostgreSQL that accepts the postgres role ' +
        '(start it with `npm run setup`); this test does not skip.',
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

const withAdmin = (fn) => withClient(ADMIN_URL, fn);

async function shadowDatabases() {
  return withAdmin(async (c) => {
    const { rows } = await c.query("SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'");
    return new Set(rows.map((r) => r.datname));
  });
}

/** Table names the schema maps its models to. */
function modelTables(schemaText) {
  const tables = [];
  for (const m of schemaText.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const mapped = /@@map\(\s*(?:name:\s*)?"([^"]+)"\s*\)/.exec(m[2]);
    tables.push(mapped ? mapped[1] : m[1]);
  }
  return tables.sort();
}

function migrationNames() {
  return fs
    .readdirSync(MIGRATIONS, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(MIGRATIONS, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort();
}

let shadowsBefore;

before(async () => {
  for (const f of [WRAPPER, pins.SHIM_PATH, CONFIG, MAIN_SCHEMA, path.join(MIGRATIONS, 'migration_lock.toml')]) {
    assert.ok(fs.existsSync(f), `${path.relative(ROOT, f)} is missing`);
  }
  assert.ok(migrationNames().length > 0, `no migrations in ${path.relative(ROOT, MIGRATIONS)}`);
  await withAdmin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS "${TEST_DB}" WITH (FORCE)`);
    await c.query(`CREATE DATABASE "${TEST_DB}"`);
  });
  shadowsBefore = await shadowDatabases();
});

after(async () => {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${TEST_DB}" WITH (FORCE)`)).catch(() => {});
});

test('the shim is the pinned engine of the pinned CLI', { timeout: TIMEOUT }, async () => {
  const st = fs.statSync(pins.SHIM_PATH);
  assert.ok(st.mode & 0o111, 'infra/prisma-offline/schema-engine is not executable');
  const r = await run(pins.SHIM_PATH, ['--version']);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, new RegExp(`^schema-engine-cli ${pins.PINS.enginesVersion}\\b`));
  const v = await prisma(['--version']);
  assert.equal(v.code, 0, show(v));
  assert.match(v.stdout, new RegExp(`prisma\\s*:\\s*${pins.PINS.prismaVersion.replace(/\./g, '\\.')}`));
  assert.match(v.stdout, /Schema Engine\s*:\s*schema-engine-cli .*resolved by PRISMA_SCHEMA_ENGINE_BINARY/);
});

test('migrate deploy applies every committed migration', { timeout: TIMEOUT }, async () => {
  const r = await prisma(['migrate', 'deploy', '--config', CONFIG]);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /All migrations have been successfully applied|No pending migrations to apply/, show(r));
  const applied = await withClient(TEST_URL, async (c) => {
    const { rows } = await c.query(
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name',
    );
    return rows.map((row) => row.migration_name);
  });
  assert.deepEqual(applied, migrationNames());
});

test('migrate status says the database is up to date', { timeout: TIMEOUT }, async () => {
  const r = await prisma(['migrate', 'status', '--config', CONFIG]);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /Database schema is up to date!/, show(r));
});

test('every model of the schema files has its table', { timeout: TIMEOUT }, async () => {
  const expected = modelTables(schemaText());
  assert.ok(expected.length > 20, `only ${expected.length} models found in the schema files`);
  const present = await withClient(TEST_URL, async (c) => {
    const { rows } = await c.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    return new Set(rows.map((r) => r.table_name));
  });
  const missing = expected.filter((t) => !present.has(t));
  assert.deepEqual(missing, [], `tables missing after migrate deploy: ${missing.join(', ')}`);
  assert.ok(present.has('_prisma_migrations'), '_prisma_migrations is missing');
});

test('the committed migrations match the schema files (migrate diff is empty)', { timeout: TIMEOUT }, async () => {
  const args = ['migrate', 'diff', '--config', CONFIG, '--from-migrations', MIGRATIONS, '--to-schema', SCHEMA];
  const r = await prisma([...args, '--exit-code']);
  if (r.code === 2) {
    const script = await prisma([...args, '--script']);
    assert.fail(
      'the schema files have changes that no migration contains. Create one with\n' +
        '  node infra/prisma-offline/prisma.mjs migrate dev --name <change>\n' +
        `Missing SQL:\n${script.stdout}`,
    );
  }
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /No difference detected/, show(r));
});

test('temporary shadow databases are dropped', { timeout: TIMEOUT }, async () => {
  const leftover = [...(await shadowDatabases())].filter((d) => !shadowsBefore.has(d));
  assert.deepEqual(leftover, [], `shadow databases left behind: ${leftover.join(', ')}`);
});

test('the generated client (cjs, compiled by tsc) round-trips a Node and BigInt JobRun fields', { timeout: TIMEOUT }, async () => {
  // As `npm run build` does it: generate from apps/controller.
  const gen = await prisma(['generate'], { cwd: path.join(ROOT, 'apps/controller') });
  assert.equal(gen.code, 0, show(gen));
  const outDir = path.join(HERE, 'dist', `smoke-${process.pid}`);
  try {
    const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
    const compile = await run(process.execPath, [
      tsc,
      '--outDir', outDir, '--rootDir', ROOT,
      '--module', 'commonjs', '--target', 'es2022', '--moduleResolution', 'node',
      '--esModuleInterop', '--skipLibCheck', '--strict', '--types', 'node',
      path.join(HERE, 'client-smoke.ts'),
    ]);
    assert.equal(compile.code, 0, show(compile));
    const smoke = await run(process.execPath, [path.join(outDir, 'infra/prisma-offline/client-smoke.js')]);
    assert.equal(smoke.code, 0, show(smoke));
    const out = JSON.parse(smoke.stdout.trim().split('\n').pop());
    assert.equal(out.status, 'connected');
    assert.deepEqual(out.capabilities, ['cpu_profile']);
    assert.deepEqual(out.labels, { zone: 'a', gpu: false });
    assert.equal(out.samplesTakenType, 'bigint');
    assert.equal(out.samplesTaken, String(2n ** 53n + 7n));
    assert.equal(out.samplesTakenExact, true);
    assert.equal(out.lastSeq, '42');
    assert.equal(out.samplesDroppedKernel, '0');
    assert.equal(out.sumSamplesTaken, String(2n ** 53n + 7n));
    assert.equal(out.labelMatch, 1);
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true });
    try {
      fs.rmdirSync(path.dirname(outDir)); // dist/, when nothing else is in it
    } catch {}
  }
});
