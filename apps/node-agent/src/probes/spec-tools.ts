// Helpers shared by the probe specs (entry-site.spec.ts, return-site.spec.ts): real files and real
// tools, and a missing one fails the test naming it — never a skip.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export function requireFile(p: string, what: string): void {
  assert.ok(fs.existsSync(p), `missing ${what}: ${p} does not exist`);
}

export function requireTool(tool: string, pkg: string): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir, tool);
    if (fs.existsSync(p)) return p;
  }
  assert.fail(`missing tool: ${tool} is not on PATH (install ${pkg})`);
}

export function run(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}
