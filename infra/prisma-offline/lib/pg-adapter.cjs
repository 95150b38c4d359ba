'use strict';
// The database driver the wasm schema engine talks through: @prisma/adapter-pg, wrapped as a
// migration-aware adapter factory, with the workarounds the schema engine needs:
//
//  1. PostgreSQL's internal `"char"` type (OID 18, e.g. pg_class.relkind, pg_constraint.contype)
//     appears in the engine's catalog queries; adapter-pg 7.10.1 rejects it as an unsupported
//     column type. Its text form is a one-character string, so it is reported as `text` (OID 25).
//  2. adapter-pg's connectToShadowDb() drops the temporary shadow database while its own pool
//     still holds connections ("being accessed by other users"), and builds the shadow pool
//     config as {...config, database}, which pg ignores when a connectionString is present (the
//     connection string wins), so the "shadow" pool would talk to the main database. Here the
//     shadow database gets its own connection string, its pool is closed before the drop, and
//     the drop falls back to WITH (FORCE).
//  3. adapter-pg's executeScript() splits scripts on every ";" (also inside strings, comments and
//     dollar-quoted bodies). The native engine sends a migration script as one simple-protocol
//     query; so does this adapter.

const crypto = require('node:crypto');
const { loadPgDriver } = require('./pins.cjs');

const OID_CHAR = 18;
const OID_TEXT = 25;

function parsePostgresUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('The datasource URL is not a valid URL (expected postgresql://user@host:port/database).');
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new Error(
      `prisma-offline drives the schema engine through @prisma/adapter-pg and supports PostgreSQL URLs only (got ${parsed.protocol}//...).`,
    );
  }
  return parsed;
}

/**
 * pg config for a Prisma-style URL: `schema` is a Prisma parameter, not a pg one, and
 * `connect_timeout` (seconds, default 10 here; 5 in the native engine) becomes pg's connection timeout.
 */
function pgConfigFor(url) {
  const parsed = parsePostgresUrl(url);
  const schema = parsed.searchParams.get('schema') || undefined;
  parsed.searchParams.delete('schema');
  const connectTimeout = Number(parsed.searchParams.get('connect_timeout') ?? 10);
  const config = { connectionString: parsed.toString() };
  if (Number.isFinite(connectTimeout) && connectTimeout > 0) config.connectionTimeoutMillis = connectTimeout * 1000;
  return { config, schema, parsed };
}

function databaseOf(url) {
  return decodeURIComponent(parsePostgresUrl(url).pathname.replace(/^\//, '')) || 'postgres';
}

function withDatabase(url, database) {
  const parsed = parsePostgresUrl(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

function hostOf(url) {
  const parsed = parsePostgresUrl(url);
  return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}`;
}

function log(message, extra = {}) {
  process.stderr.write(
    `${JSON.stringify({ timestamp: new Date().toISOString(), level: 'INFO', fields: { message, ...extra }, target: 'prisma_offline::pg_adapter' })}\n`,
  );
}

function quoteIdent(name) {
  return `"${String(name).replace(/"/g, '""')}"`;
}

/** Apply workarounds 1 and 3 to an adapter (and, for 1, to the transactions it starts). */
function patchQueryable(queryable) {
  const performIO = queryable.performIO.bind(queryable);
  queryable.performIO = async (query) => {
    const result = await performIO(query);
    for (const field of result.fields ?? []) {
      if (field.dataTypeID === OID_CHAR) field.dataTypeID = OID_TEXT;
    }
    return result;
  };
  if (typeof queryable.executeScript === 'function' && queryable.client) {
    queryable.executeScript = async (script) => {
      try {
        await queryable.client.query(script);
      } catch (error) {
        queryable.onError(error);
      }
    };
  }
  if (typeof queryable.startTransaction === 'function') {
    const startTransaction = queryable.startTransaction.bind(queryable);
    queryable.startTransaction = async (...args) => patchQueryable(await startTransaction(...args));
  }
  return queryable;
}

/** Temporary shadow databases created by this process, dropped on shutdown if still there. */
const liveShadowDatabases = new Map(); // name -> admin url

async function withClient(pg, url, fn) {
  const client = new pg.Client(pgConfigFor(url).config);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function dropDatabase(pg, adminUrl, name) {
  await withClient(pg, adminUrl, async (client) => {
    try {
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
    } catch (error) {
      if (error && error.code === '55006') {
        // Still in use (a connection the engine did not give back): PostgreSQL >= 13 can force it.
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      } else {
        throw error;
      }
    }
  });
  liveShadowDatabases.delete(name);
  log('Dropped temporary shadow database', { database: name });
}

async function dropLeftoverShadowDatabases() {
  if (liveShadowDatabases.size === 0) return;
  const { pg } = loadPgDriver();
  await Promise.allSettled([...liveShadowDatabases].map(([name, adminUrl]) => dropDatabase(pg, adminUrl, name)));
}

/** Empties a configured (persistent) shadow database, as the native engine does before using it. */
async function resetShadowDatabase(pg, shadowUrl) {
  await withClient(pg, shadowUrl, async (client) => {
    const { rows } = await client.query(
      `SELECT nspname FROM pg_namespace
        WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`,
    );
    for (const { nspname } of rows) await client.query(`DROP SCHEMA ${quoteIdent(nspname)} CASCADE`);
    await client.query('CREATE SCHEMA IF NOT EXISTS public');
  });
}

/**
 * The adapter factory handed to the wasm SchemaEngine (already bound with
 * bindMigrationAwareSqlAdapterFactory, i.e. Result-returning).
 */
function createMigrationAwareFactory({ url, shadowDatabaseUrl }) {
  if (!url) throw new Error('No datasource URL: set datasource.url in prisma.config.ts (apps/controller reads DATABASE_URL).');
  const { adapterPg, pg, utils } = loadPgDriver();
  const main = pgConfigFor(url);
  const options = main.schema ? { schema: main.schema } : undefined;

  const factory = {
    provider: 'postgres',
    adapterName: '@prisma/adapter-pg',
    async connect() {
      return patchQueryable(await new adapterPg.PrismaPg(main.config, options).connect());
    },
    async connectToShadowDb() {
      if (shadowDatabaseUrl) {
        if (databaseOf(shadowDatabaseUrl) === databaseOf(url) && hostOf(shadowDatabaseUrl) === hostOf(url)) {
          throw new Error('The shadow database URL points to the main database; use a separate database for shadowDatabaseUrl.');
        }
        await resetShadowDatabase(pg, shadowDatabaseUrl);
        const shadow = pgConfigFor(shadowDatabaseUrl);
        return patchQueryable(
          await new adapterPg.PrismaPg(shadow.config, shadow.schema ? { schema: shadow.schema } : undefined).connect(),
        );
      }
      const name = `prisma_migrate_shadow_db_${crypto.randomUUID()}`;
      try {
        await withClient(pg, url, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
      } catch (error) {
        const hint =
          error && error.code === '42501'
            ? ' The role needs CREATEDB (ALTER ROLE ... CREATEDB), or configure datasource.shadowDatabaseUrl.'
            : '';
        throw new Error(`Prisma Migrate could not create the shadow database: ${error.message}.${hint}`);
      }
      liveShadowDatabases.set(name, url);
      log('Created temporary shadow database', { database: name });
      const shadowUrl = withDatabase(url, name);
      const adapter = patchQueryable(await new adapterPg.PrismaPg(pgConfigFor(shadowUrl).config, options).connect());
      const disposePool = adapter.dispose.bind(adapter);
      let disposed = null;
      adapter.dispose = () => {
        disposed ??= (async () => {
          try {
            await disposePool(); // closes the shadow pool first ...
          } finally {
            await dropDatabase(pg, url, name); // ... then drops the database.
          }
        })();
        return disposed;
      };
      return adapter;
    },
  };
  return utils.bindMigrationAwareSqlAdapterFactory(factory);
}

module.exports = {
  createMigrationAwareFactory,
  dropLeftoverShadowDatabases,
  parsePostgresUrl,
  pgConfigFor,
  databaseOf,
  withDatabase,
  hostOf,
  quoteIdent,
};
