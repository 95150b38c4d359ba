// What the specs of the tracers that read Python frames share: Debian's interpreter and its layout.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3.11';

/**
 * struct py_proc of Debian's python3.11 (non-PIE, _PyRuntime in the binary): CPython 3.11's offsets, written by
 * hand here (the agent finds them from the interpreter's ELF file: apps/node-agent/src/runs/python/detect.ts).
 */
export function debianPython311Layout(): Buffer {
  const syms = execFileSync('readelf', ['--dyn-syms', '-W', PYTHON], { encoding: 'utf8' });
  const m = /^\s*\d+:\s+([0-9a-f]+)\s+\S+\s+OBJECT\s+GLOBAL\s+DEFAULT\s+\d+\s+_PyRuntime$/m.exec(syms);
  assert.ok(m, `_PyRuntime not in ${PYTHON}'s .dynsym`);
  const b = Buffer.alloc(32);
  b.writeBigUInt64LE(BigInt(`0x${m[1]}`) + 40n, 0); // &_PyRuntime.interpreters.head
  // threads.head, next, thread_id, cframe, current_frame, f_code, previous, is_entry
  [16, 8, 152, 56, 8, 32, 48, 68].forEach((v, i) => b.writeUInt16LE(v, 8 + 2 * i));
  b.writeUInt8(2, 24); // PY_MODEL_IS_ENTRY
  return b;
}
