import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let table: Record<string, string> | undefined;

/**
 * The x86-64 syscall name of a number ("" when unknown). The table is generated at build time from
 * the kernel's UAPI header (scripts/syscall-names.mjs) and read once; a missing table is a broken build.
 */
export function syscallName(nr: number): string {
  table ??= JSON.parse(readFileSync(join(__dirname, 'syscall-names.json'), 'utf8')) as Record<string, string>;
  return table[String(nr)] ?? '';
}
