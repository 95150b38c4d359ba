// A throwaway PostgreSQL database for the controller's database specs: created fresh and owned by the
// role of DATABASE_URL (the tracefleet role setup made: not a superuser), migrated with the committed
// migrations as that role (the offline Prisma wrapper), dropped at the end. Creating and dropping need
// the administrator; everything else runs as the controller would. PostgreSQL being down is a failure
// that names it, never a skip.
//
// DATABASE_URL (environment, else the repository's .env) gives the role and its password;
// TRACEFLEET_DB_TEST_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres) the administrator.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import type { ControllerEnv } from '../config/env';
import { PrismaService } from '../prisma/prisma.service';
import { ROOT, ident, redact, serviceUrl } from './service-urls';

const ADMIN_URL = process.env.TRACEFLEET_DB_TEST_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function admin(sql: string): Promise<void> {
  const c = new Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${redact(ADMIN_URL)} (${(err as Error).message}); run npm run setup`);
  }
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export interface ScratchDb {
  /** The role's URL for this database. */
  url: string;
  prisma: PrismaService;
  /** Disconnects and drops the database. */
  drop(): Promise<void>;
}

/** Creates database `name` afresh (dropping a leftover one) owned by the role, applies the migrations as it, connects. */
export async function scratchDb(name: string): Promise<ScratchDb> {
  const u = new URL(serviceUrl('DATABASE_URL'));
  u.pathname = `/${name}`;
  const url = u.toString();
  const role = decodeURIComponent(u.username);
  if (!role) throw new Error('DATABASE_URL names no role: run npm run setup (it writes the tracefleet role into .env)');
  await admin(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${ident(name)} OWNER ${ident(role)}`);
  const res = spawnSync(process.execPath, [join(ROOT, 'infra/prisma-offline/prisma.mjs'), 'migrate', 'deploy', '--config', join(ROOT, 'apps/controller/prisma.config.ts')], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: url },
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`migrate deploy as ${role} failed:\n${res.stdout}\n${res.stderr}`);
  const prisma = new PrismaService({ databaseUrl: url } as ControllerEnv);
  return {
    url,
    prisma,
    async drop() {
      await prisma.$disconnect();
      await admin(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
    },
  };
}
