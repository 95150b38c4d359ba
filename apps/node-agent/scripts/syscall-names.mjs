// Build step: the x86-64 syscall table (number → name) from the kernel's UAPI header, which
// linux-libc-dev installs (libbpf-dev depends on it), as dist/runs/syscount/syscall-names.json.
// Generated rather than written out by hand: the header is the table the kernel was built from.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const header = process.env.SYSCALL_HEADER ?? '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
const out = join(dirname(new URL(import.meta.url).pathname), '..', 'dist', 'runs', 'syscount', 'syscall-names.json');
let text;
try {
  text = readFileSync(header, 'utf8');
} catch (err) {
  console.error(`syscall-names: cannot read ${header} (${err.message}); install linux-libc-dev`);
  process.exit(1);
}
const names = {};
for (const m of text.matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) names[m[2]] = m[1];
if (Object.keys(names).length < 300) {
  console.error(`syscall-names: ${header} lists only ${Object.keys(names).length} syscalls; not the x86-64 table`);
  process.exit(1);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(names));
