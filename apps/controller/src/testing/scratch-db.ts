// A throwaway PostgreSQL database for the controller's database specs: created fresh, migrated with
// the committed migrations (the offline Prisma wrapper), dropped at the end. PostgreSQL being down is
// a failure that names it, never a skip.
//
// TRACEFLEET_DB_TEST_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres) is the server.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import type { ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';

const ROOT = join(__dirname, '..', '..', '..', '..');
const ADMIN_URL = process.env.TRACEFLEET_DB_TEST_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function admin(sql: string): Promise<void> {
  const c = new Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${ADMIN_URL} (${(err as Error).message}); run npm run setup`);
  }
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export interface ScratchDb {
  url: string;
  prisma: PrismaService;
  /** Disconnects and drops the database. */
  drop(): Promise<void>;
}

/** Creates database `name` afresh (dropping a leftover one), applies the migrations, connects. */
export async function scratchDb(name: string): Promise<ScratchDb> {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}`);
  const res = spawnSync(process.execPath, [join(ROOT, 'infra/prisma-offline/prisma.mjs'), 'migrate', 'deploy', '--config', join(ROOT, 'apps/controller/prisma.config.ts')], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: url },
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`migrate deploy failed:\n${res.stdout}\n${res.stderr}`);
  const prisma = new PrismaService({ databaseUrl: url } as ControllerEnv);
  return {
    url,
    prisma,
    async drop() {
      await prisma.$disconnect();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
