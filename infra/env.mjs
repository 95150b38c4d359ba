// Reads the git-ignored .env that infra/setup.sh writes.
import { readFileSync } from 'node:fs';

export function readDotEnv(path = new URL('../.env', import.meta.url)) {
  const out = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(.*)\s*$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}
