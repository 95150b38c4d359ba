'use strict';
// A stand-in for Prisma's native `schema-engine` binary. The prisma CLI starts it (through
// PRISMA_SCHEMA_ENGINE_BINARY) in one of three ways, all handled here:
//
//   schema-engine --version
//   schema-engine --datasource '{"url":...}' cli can-connect-to-database|create-database|drop-database
//   schema-engine [--datamodels FILE]... [--datasource JSON] [...]      (JSON-RPC 2.0, one message
//                                                                        per line on stdin/stdout)
//
// JSON-RPC requests are executed by the schema engine wasm of the pinned CLI, talking to
// PostgreSQL through @prisma/adapter-pg (see pg-adapter.cjs). stdout carries JSON-RPC only;
// logs go to stderr as JSON lines, the way the native engine writes them.

const fs = require('node:fs');
const readline = require('node:readline');
const { loadWasmEngine, isWasmPanic } = require('./wasm-engine.cjs');
const { locateEngineWasm, loadPgDriver, PinError } = require('./pins.cjs');
const pgAdapter = require('./pg-adapter.cjs');

const stdoutWrite = process.stdout.write.bind(process.stdout);
// Nothing but JSON-RPC may reach stdout.
console.log = console.info = console.debug = (...args) => console.error(...args);

function logLine(level, fields, target = 'prisma_offline::schema_engine') {
  process.stderr.write(`${JSON.stringify({ timestamp: new Date().toISOString(), level, fields, target })}\n`);
}

function parseArgs(argv) {
  const args = { datamodels: [], datasource: null, previewFeatures: [], cli: null, version: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--version' || arg === '-V') args.version = true;
    else if (arg === '--help' || arg === '-h') args.help = true;
    else if (arg === '--datamodels' || arg === '-d') args.datamodels.push(value());
    else if (arg === '--datasource') args.datasource = JSON.parse(value());
    else if (arg === '--enabled-preview-features') args.previewFeatures = value().split(',').filter(Boolean);
    else if (arg === '--extension-types') value(); // prisma.config.ts `extensions`: the wasm engine has no such option
    else if (arg === 'cli') {
      args.cli = argv.slice(i + 1);
      break;
    } else throw new Error(`unknown argument ${arg}`);
  }
  return args;
}

/** The CLI passes prisma.config.ts's `datasource` as --datasource JSON. */
function datasourceUrls(datasource) {
  return {
    url: datasource?.url || undefined,
    shadowDatabaseUrl: datasource?.shadowDatabaseUrl || undefined,
  };
}

/** Engine error messages carry a Rust span trace ("   0: schema_engine_wasm::..."); the CLI wants the message. */
function cleanMessage(message) {
  const text = String(message ?? 'Unknown error');
  const trace = text.search(/\n\s+0: [\w:]+/);
  return (trace >= 0 ? text.slice(0, trace) : text).trimEnd();
}

// ---------------------------------------------------------------------------------------------
// `schema-engine cli ...` — the CLI's database existence checks (migrate dev/deploy create the
// database when it is missing). Errors are reported the way the CLI parses them: JSON lines on
// stderr (the first line is skipped by the CLI), the error one with target schema_engine::logger.

function pgErrorToPrisma(error, url) {
  const host = pgAdapter.hostOf(url);
  const db = pgAdapter.databaseOf(url);
  const code = error?.code;
  if (code === '3D000') return { error_code: 'P1003', message: `Database \`${db}\` does not exist on the database server at \`${host}\`.` };
  if (code === '28P01' || code === '28000') {
    return { error_code: 'P1000', message: `Authentication failed against database server at \`${host}\`, the provided database credentials are not valid.` };
  }
  if (code === '42501') return { error_code: 'P1010', message: `User was denied access on the database \`${db}\`: ${error.message}` };
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNRESET'].includes(code)) {
    return { error_code: 'P1001', message: `Can't reach database server at \`${host}\`\n\nPlease make sure your database server is running at \`${host}\`.` };
  }
  return { message: String(error?.message ?? error) };
}

async function runCliCommand(args, { out = (text) => process.stdout.write(text) } = {}) {
  const [command] = args.cli;
  const { url } = datasourceUrls(args.datasource);
  logLine('INFO', { message: `Starting schema engine CLI (prisma-offline, wasm ${loadEnginesVersion()})`, command });
  if (!url) {
    logLine('ERROR', { is_panic: false, error_code: 'P1012', message: 'No datasource URL given (--datasource).' }, 'schema_engine::logger');
    return 1;
  }
  const { pg } = loadPgDriver();
  const { config } = pgAdapter.pgConfigFor(url);
  const database = pgAdapter.databaseOf(url);
  const tryClient = async (cfg, fn) => {
    const client = new pg.Client(cfg);
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  };
  // A connection to the server that does not need the target database to exist.
  const maintenance = (fn) =>
    tryClient({ ...config, connectionString: pgAdapter.withDatabase(url, 'postgres') }, fn).catch((error) =>
      error?.code === '3D000' ? tryClient({ ...config, connectionString: pgAdapter.withDatabase(url, 'template1') }, fn) : Promise.reject(error),
    );
  try {
    switch (command) {
      case 'can-connect-to-database':
        await tryClient(config, (c) => c.query('SELECT 1'));
        out('Connection successful\n');
        return 0;
      case 'create-database':
        await maintenance((c) => c.query(`CREATE DATABASE ${pgAdapter.quoteIdent(database)}`));
        out(`Database '${database}' was successfully created.\n`);
        return 0;
      case 'drop-database':
        await maintenance((c) => c.query(`DROP DATABASE IF EXISTS ${pgAdapter.quoteIdent(database)}`));
        out(`The database was successfully dropped.\n`);
        return 0;
      default:
        logLine('ERROR', { is_panic: false, message: `Unknown cli command ${command}` }, 'schema_engine::logger');
        return 1;
    }
  } catch (error) {
    logLine('ERROR', { is_panic: false, ...pgErrorToPrisma(error, url) }, 'schema_engine::logger');
    return 1;
  }
}

function loadEnginesVersion() {
  return locateEngineWasm().enginesVersion;
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC server.

// Methods of the native engine's JSON-RPC API that the wasm engine implements with the same
// name and parameters.
const PASSTHROUGH = new Set([
  'applyMigrations',
  'createMigration',
  'dbExecute',
  'devDiagnostic',
  'diagnoseMigrationHistory',
  'diff',
  'ensureConnectionValidity',
  'evaluateDataLoss',
  'introspect',
  'introspectSql',
  'markMigrationApplied',
  'markMigrationRolledBack',
  'reset',
  'schemaPush',
]);

class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.rpc = { code, message, data };
  }
}

function engineError(message, extra = {}) {
  // The shape the native engine uses (code 4466 = "user-facing error, see data").
  const text = String(message ?? 'Unknown error');
  let clean = cleanMessage(text);
  // A failed migration script: the wasm engine names the migration only in its span trace.
  const failed = /apply_migration::apply_script\s+with migration_name="([^"]+)"/.exec(text);
  if (failed && !clean.includes(failed[1])) {
    clean =
      'A migration failed to apply. New migrations cannot be applied before the error is recovered from. ' +
      'Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\n' +
      `Migration name: ${failed[1]}\n\nDatabase error:\n${clean}`;
    extra = { error_code: 'P3018', ...extra };
  }
  return new RpcError(4466, 'An error happened. Check the data field for details.', {
    is_panic: false,
    message: clean,
    meta: null,
    ...extra,
  });
}

async function serve(args) {
  const { SchemaEngine, glue, panics } = loadWasmEngine();
  const datamodels = args.datamodels.map((file) => [file, fs.readFileSync(file, 'utf8')]);
  const { url, shadowDatabaseUrl } = datasourceUrls(args.datasource);

  let enginePromise = null;
  let factory = null;
  // JS errors thrown inside the adapter reach the engine as "External error id#N"; the text is in
  // the bound factory's error registry.
  const resolveExternal = (message) =>
    String(message ?? '').replace(/External error id#(\d+)/g, (whole, id) => {
      const entry = factory?.errorRegistry?.consumeError(Number(id));
      return entry?.error?.message ?? whole;
    });
  const engine = () => {
    enginePromise ??= (async () => {
      factory = pgAdapter.createMigrationAwareFactory({ url, shadowDatabaseUrl });
      const debug = (line) => {
        const text = String(line).trim();
        if (text) process.stderr.write(`${text}\n`);
      };
      return SchemaEngine.new({ datamodels: datamodels.length > 0 ? datamodels : undefined }, debug, factory);
    })();
    return enginePromise;
  };

  let panicked = false;
  const call = async (method, params) => {
    try {
      if (method === 'version') return glue.version();
      if (method === 'getDatabaseVersion') return await (await engine()).version(params ?? null);
      if (method === 'createDatabase' || method === 'dropDatabase') {
        const target = params?.datasource?.tag === 'ConnectionString' ? params.datasource.url : url;
        const code = await runCliCommand({ datasource: { url: target }, cli: [method === 'createDatabase' ? 'create-database' : 'drop-database'] }, {
          out: (text) => process.stderr.write(text), // stdout carries JSON-RPC only
        });
        if (code !== 0) throw engineError(`${method} failed (see the log above)`);
        return method === 'createDatabase' ? { databaseName: pgAdapter.databaseOf(target) } : {};
      }
      if (method === 'debugPanic') {
        (await engine()).debugPanic();
        return {};
      }
      if (!PASSTHROUGH.has(method)) throw new RpcError(-32601, `Method not found: ${method} (not available in the wasm schema engine)`);
      const instance = await engine();
      const result = await instance[method](params ?? {});
      if (method === 'diff') {
        // The native engine prints the diff through a `print` request to the CLI and returns
        // only the exit code; the wasm engine returns the text instead.
        if (typeof result?.stdout === 'string') await printToCli(result.stdout.replace(/\n$/, ''));
        return { exitCode: result?.exitCode ?? 0 };
      }
      return result;
    } catch (error) {
      if (error instanceof RpcError) throw error;
      if (isWasmPanic(error)) {
        panicked = true;
        const message = panics.get() || String(error.message);
        throw new RpcError(4466, 'An error happened. Check the data field for details.', {
          is_panic: true,
          message,
          backtrace: error.stack ?? null,
          error: { message },
        });
      }
      throw engineError(resolveExternal(error?.message ?? error));
    }
  };

  const send = (message) => stdoutWrite(`${JSON.stringify(message)}\n`);
  let queue = Promise.resolve();

  // Requests from the engine to the CLI (only `print`), keyed by our own ids.
  const pendingOutgoing = new Map();
  let outgoingId = 0;
  function printToCli(content) {
    const id = `prisma-offline-print-${++outgoingId}`;
    return new Promise((resolve, reject) => {
      pendingOutgoing.set(id, { resolve, reject });
      send({ jsonrpc: '2.0', id, method: 'print', params: { content } });
    });
  }
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });

  const finished = new Promise((resolve) => {
    rl.on('line', (line) => {
      if (!line.trim()) return;
      let request;
      try {
        request = JSON.parse(line);
      } catch {
        send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
        return;
      }
      if (request.method === undefined && pendingOutgoing.has(request.id)) {
        // The CLI's answer to one of our `print` requests.
        const pending = pendingOutgoing.get(request.id);
        pendingOutgoing.delete(request.id);
        if (request.error) pending.reject(new Error(request.error.message ?? 'print failed'));
        else pending.resolve(request.result);
        return;
      }
      if (request.id === undefined || request.id === null) return; // notifications
      queue = queue.then(async () => {
        try {
          const result = await call(request.method, request.params);
          send({ jsonrpc: '2.0', id: request.id, result: result === undefined ? null : result });
        } catch (error) {
          send({ jsonrpc: '2.0', id: request.id, error: error.rpc });
        }
        if (panicked) {
          logLine('ERROR', { is_panic: true, message: panics.get() || 'schema engine panicked' });
          await pgAdapter.dropLeftoverShadowDatabases();
          process.exit(101);
        }
      });
    });
    rl.on('close', () => resolve(queue));
  });
  await finished;
  await queue;
}

async function shutdown(code) {
  await pgAdapter.dropLeftoverShadowDatabases().catch(() => {});
  process.exit(code);
}

async function main(argv = process.argv.slice(2)) {
  // The CLI stops the engine by closing stdin and then sending SIGTERM right away.
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(130));
  process.stdout.on('error', () => {}); // EPIPE after the CLI went away
  process.stderr.on('error', () => {});

  let args;
  try {
    args = parseArgs(argv);
  } catch (error) {
    process.stderr.write(`schema-engine (prisma-offline): ${error.message}\n`);
    return 1;
  }
  try {
    if (args.help) {
      process.stdout.write('schema-engine (prisma-offline): Prisma schema engine wasm behind the native engine interface. See infra/prisma-offline/README.md.\n');
      return 0;
    }
    if (args.version) {
      process.stdout.write(`schema-engine-cli ${loadEnginesVersion()} (wasm, infra/prisma-offline)\n`);
      return 0;
    }
    if (args.cli) return await runCliCommand(args);
    await serve(args);
    await pgAdapter.dropLeftoverShadowDatabases();
    return 0;
  } catch (error) {
    const message = error instanceof PinError ? error.message : error?.stack ?? String(error);
    logLine('ERROR', { is_panic: false, message }, 'schema_engine::logger');
    if (!args.cli) process.stderr.write(`${message}\n`);
    return 1;
  }
}

module.exports = { main, parseArgs, cleanMessage };
