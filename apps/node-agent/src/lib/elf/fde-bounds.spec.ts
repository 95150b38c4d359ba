import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireFunctionSymbol, withElf } from './index';
import { functionBoundsAt } from './fde-bounds';

const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';

describe('function bounds from .eh_frame_hdr', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-fde-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("agree with the symbol table for libc's exported functions, from any byte inside them", () => {
    assert.ok(fs.existsSync(LIBC), `missing this machine's C library: ${LIBC}`);
    withElf(LIBC, {}, (elf) => {
      for (const name of ['malloc', 'free', 'calloc', 'memcpy', 'printf']) {
        const sym = requireFunctionSymbol(LIBC, name);
        for (const at of [sym.fileOffset, sym.fileOffset + sym.size / 2n, sym.fileOffset + sym.size - 1n]) {
          const b = functionBoundsAt(elf, at);
          // An FDE may cover a function's hot part only (a cold part has its own): within the symbol, and holding `at`.
          assert.ok(b && b.start >= sym.fileOffset && b.end <= sym.fileOffset + sym.size && b.start <= at && at < b.end, `${name} @0x${at.toString(16)}: ${JSON.stringify(b, (_, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
        }
      }
      assert.equal(functionBoundsAt(elf, 0n), undefined, 'the ELF header is in no function');
      assert.equal(functionBoundsAt(elf, 1n << 40n), undefined, 'past the file');
    });
  });

  it('a hostile or broken .eh_frame_hdr gives no bounds, never a throw or wrong bounds', () => {
    const src = fs.readFileSync(LIBC);
    const sym = requireFunctionSymbol(LIBC, 'malloc');
    const hdr = withElf(LIBC, {}, (elf) => elf.sectionNames().find((s) => s.name === '.eh_frame_hdr'));
    assert.ok(hdr, 'libc has an .eh_frame_hdr');
    const at = Number(hdr.offset);
    const variants: [string, (b: Buffer) => void][] = [
      ['version 2', (b) => (b[at] = 2)],
      ['table not datarel|sdata4', (b) => (b[at + 3] = 0x03)],
      ['fde_count 0', (b) => b.writeUInt32LE(0, at + 8)],
      ['fde_count past the section', (b) => b.writeUInt32LE(0x7fffffff, at + 8)],
      ['every FDE pointer at the header itself', (b) => {
        const n = b.readUInt32LE(at + 8);
        for (let i = 0; i < n; i++) b.writeInt32LE(0, at + 12 + i * 8 + 4);
      }],
      ['every FDE pointer far outside the file', (b) => {
        const n = b.readUInt32LE(at + 8);
        for (let i = 0; i < n; i++) b.writeInt32LE(0x7ffffff0, at + 12 + i * 8 + 4);
      }],
      ['start locations shifted by one', (b) => {
        const n = b.readUInt32LE(at + 8);
        for (let i = 0; i < n; i++) b.writeInt32LE(b.readInt32LE(at + 12 + i * 8) + 1, at + 12 + i * 8);
      }],
    ];
    for (const [what, corrupt] of variants) {
      const copy = Buffer.from(src);
      corrupt(copy);
      const file = path.join(dir, 'libc-broken.so');
      fs.writeFileSync(file, copy);
      const b = withElf(file, {}, (elf) => functionBoundsAt(elf, sym.fileOffset + 8n));
      assert.equal(b, undefined, what);
    }
  });
});
