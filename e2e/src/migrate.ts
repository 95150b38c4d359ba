// Migrating the end-to-end database before a stack starts.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { redact } from '@tracefleet/controller/dist/testing/service-urls';

const ROOT = join(__dirname, '..', '..');

/** The committed migrations the database has applied already (none when it has no migrations table yet). */
async function appliedMigrations(databaseUrl: string): Promise<Set<string>> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const rows = await db.query<{ migration_name: string }>(
      "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
    );
    return new Set(rows.rows.map((r) => r.migration_name));
  } catch (e) {
    if ((e as { code?: string }).code === '42P01') return new Set(); // no _prisma_migrations table: never migrated
    throw e;
  } finally {
    await db.end();
  }
}

/**
 * Brings the e2e database to the committed schema. `prisma migrate deploy` costs ~2 s even with nothing to
 * do, and every test file starts a stack: it runs only when a committed migration is not applied yet
 * (npm test starts from an empty database, so the first stack of a run applies them all).
 */
export async function migrate(databaseUrl: string): Promise<void> {
  const committed = readdirSync(join(ROOT, 'apps/controller/prisma/migrations'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  const applied = await appliedMigrations(databaseUrl);
  if (committed.every((m) => applied.has(m))) return;
  const res = spawnSync(process.execPath, [join(ROOT, 'infra/prisma-offline/prisma.mjs'), 'migrate', 'deploy', '--config', join(ROOT, 'apps/controller/prisma.config.ts')], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`migrate deploy as ${redact(databaseUrl)} failed:\n${res.stdout}\n${res.stderr}`);
}

