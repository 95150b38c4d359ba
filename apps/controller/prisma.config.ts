// Prisma CLI configuration for the controller (Prisma 7 keeps the datasource URL here, not in
// the schema). Run the CLI through infra/prisma-offline/prisma.mjs: it works without network
// access (see infra/prisma-offline/README.md).
import path from 'node:path';
import { defineConfig } from 'prisma/config';

// A plain `npx prisma ...` in this directory would first try to download the native schema
// engine; point it at the offline engine unless the caller chose an engine explicitly.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(__dirname, '..', '..', 'infra', 'prisma-offline', 'schema-engine');

export default defineConfig({
  // A multi-file schema: src/prisma/schema.prisma (generator, datasource, jobs, runs) and each folder's
  // own <name>.prisma next to its code (src/syscount/syscount.prisma, ...).
  schema: path.join(__dirname, 'src'),
  migrations: {
    path: path.join(__dirname, 'prisma', 'migrations'),
  },
  datasource: {
    url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/tracefleet',
    // Optional: a dedicated, disposable database for `migrate dev` (otherwise a temporary one is
    // created and dropped, which needs CREATEDB).
    shadowDatabaseUrl: process.env.SHADOW_DATABASE_URL || undefined,
  },
});
