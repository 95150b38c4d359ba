import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfError, findObjectSymbols, openElf, withElf } from '.';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const LIBPYTHON = '/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0';
const dir = mkdtempSync(join(tmpdir(), 'tf-symbols-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface ReadelfSym {
  value: bigint;
  size: bigint;
  type: string;
  bind: string;
  ndx: string;
  name: string;
}

/** readelf's view of one table: `.dynsym` or `.symtab`. */
function readelf(path: string, table: '.dynsym' | '.symtab'): ReadelfSym[] {
  const text = execFileSync('readelf', ['-sW', table === '.dynsym' ? '--dyn-syms' : '--syms', path], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const part = text.split(/\nSymbol table '/).find((p) => p.startsWith(`${table}'`)) ?? '';
  const out: ReadelfSym[] = [];
  for (const line of part.split('\n')) {
    const m = /^\s*\d+:\s+([0-9a-f]+)\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s+(\S+)\s+(\S+)/.exec(line);
    if (m) out.push({ value: BigInt(`0x${m[1]}`), size: BigInt(m[2].startsWith('0x') ? m[2] : Number(m[2])), type: m[3], bind: m[4], ndx: m[5], name: m[6].replace(/@.*$/, '') });
  }
  return out;
}

describe('findObjectSymbols', () => {
  it("finds libc's data symbols as readelf shows them, and no function", () => {
    const dyn = readelf(LIBC, '.dynsym');
    const want = ['stdin', 'optind', '_IO_2_1_stderr_', 'free', 'no_such_symbol'];
    const found = withElf(LIBC, {}, (elf) => findObjectSymbols(elf, want));
    for (const name of ['stdin', 'optind', '_IO_2_1_stderr_']) {
      const r = dyn.find((s) => s.name === name && s.type === 'OBJECT' && s.ndx !== 'UND')!;
      assert.deepEqual(found.get(name), { name, vaddr: r.value, size: r.size, table: 'dynsym', local: false });
    }
    assert.equal(found.has('free'), false); // a function
    assert.equal(found.has('no_such_symbol'), false);
  });

  it("finds libpython's _PyRuntime in .dynsym and a static variable only .symtab has", () => {
    const dyn = readelf(LIBPYTHON, '.dynsym');
    const all = readelf(LIBPYTHON, '.symtab');
    const rt = dyn.find((s) => s.name === '_PyRuntime')!;
    const count = new Map<string, number>();
    for (const s of all) count.set(s.name, (count.get(s.name) ?? 0) + 1);
    const local = all.find((s) => s.type === 'OBJECT' && s.bind === 'LOCAL' && s.ndx !== 'UND' && count.get(s.name) === 1 && !dyn.some((d) => d.name === s.name))!;
    assert.ok(local, 'libpython has a local data symbol');
    const found = withElf(LIBPYTHON, {}, (elf) => findObjectSymbols(elf, ['_PyRuntime', local.name, 'Py_Initialize']));
    assert.deepEqual(found.get('_PyRuntime'), { name: '_PyRuntime', vaddr: rt.value, size: rt.size, table: 'dynsym', local: false });
    assert.deepEqual(found.get(local.name), { name: local.name, vaddr: local.value, size: local.size, table: 'symtab', local: true });
    assert.equal(found.has('Py_Initialize'), false);
  });

  it('refuses a symbol table that claims more than the file holds, with ElfError', () => {
    const src = '/usr/bin/true';
    const { shoff, dynsym } = withElf(src, {}, (elf) => ({ shoff: readFileSync(src).readBigUInt64LE(40), dynsym: elf.sections.find((s) => s.type === 11)! }));
    const patch = (name: string, field: number, value: bigint): string => {
      const p = join(dir, name);
      copyFileSync(src, p);
      const b = readFileSync(p);
      b.writeBigUInt64LE(value, Number(shoff) + dynsym.index * 64 + field);
      writeFileSync(p, b);
      return p;
    };
    const cases: [string, string, RegExp][] = [
      ['huge-size', patch('huge-size', 32, 0x7fff_ffff_fff0n), /claims \d+ symbols/],
      ['past-end', patch('past-end', 32, 24n * 200_000n), /extends past the end of the file/],
      ['tiny-entries', patch('tiny-entries', 56, 1n), /1-byte entries/],
    ];
    for (const [what, path, message] of cases) {
      const elf = openElf(path);
      try {
        assert.throws(() => findObjectSymbols(elf, ['stdin']), (e: unknown) => e instanceof ElfError && e.code === 'EMALFORMED' && message.test(e.message), what);
      } finally {
        elf.close();
      }
    }
  });
});
