// The service URLs the database and Redis specs connect with: the environment's, else those of the .env
// infra/setup.sh wrote (the tracefleet PostgreSQL role and the Tracefleet Redis user, with passwords).
// Neither set is a failure that names it, never a skip. The e2e harness uses these too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..', '..', '..');

/** KEY=value lines of the repository's .env (infra/setup.sh writes it: tokens and the local services' credentials). */
export function readDotEnv(): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(join(ROOT, '.env'), 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

export function serviceUrl(name: 'DATABASE_URL' | 'REDIS_URL'): string {
  const v = process.env[name] || readDotEnv()[name];
  if (!v) throw new Error(`${name} is set neither in the environment nor in ${join(ROOT, '.env')}: run npm run setup`);
  return v;
}

/** A URL fit for a message: the password masked. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

/** `"name"` for SQL, whatever the name holds. */
export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
