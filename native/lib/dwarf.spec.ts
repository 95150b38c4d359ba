import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { dwarfStructOffsets, type DwarfMemberQuery, type DwarfStructOffsets } from './index';
import { compileC, tempDir } from './spec-support';

const PYENV = '/root/.pyenv/versions';

function need(file: string): string {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: these specs read pyenv's builds (pyenv install the version) and Debian's python3.11`);
  return file;
}

function members(r: DwarfStructOffsets): Record<string, number | string> {
  assert.ok(r.ok, JSON.stringify(r));
  return Object.fromEntries(r.members.map((m) => [`${m.struct}.${m.member}`, m.ok ? m.offset : m.error]));
}

// Offsets measured with gdb on these builds (apps/node-agent/src/runs/python/layout.ts holds them all).
const KNOWN: { version: string; lib: string; queries: [DwarfMemberQuery, number][] }[] = [
  {
    version: '3.8.18',
    lib: 'libpython3.8.so.1.0',
    queries: [
      [{ struct: '_PyRuntimeState', member: 'interpreters.head' }, 32],
      [{ struct: 'PyInterpreterState', member: 'tstate_head' }, 8],
      [{ struct: 'PyThreadState', member: 'thread_id' }, 176],
      [{ struct: 'PyFrameObject', member: 'f_back' }, 24],
      [{ struct: 'PyCodeObject', member: 'co_name' }, 112],
    ],
  },
  {
    version: '3.11.7',
    lib: 'libpython3.11.so.1.0',
    queries: [
      [{ struct: '_PyRuntimeState', member: 'interpreters.head' }, 40],
      [{ struct: 'PyInterpreterState', member: 'threads.head' }, 16],
      [{ struct: '_PyCFrame', member: 'current_frame' }, 8],
      [{ struct: '_PyInterpreterFrame', member: 'is_entry' }, 68],
      [{ struct: 'PyCodeObject', member: 'co_qualname' }, 128],
    ],
  },
  {
    version: '3.13.0',
    lib: 'libpython3.13.so.1.0',
    queries: [
      [{ struct: '_PyRuntimeState', member: 'interpreters.head' }, 632],
      [{ struct: 'PyInterpreterState', member: 'threads.head' }, 7344],
      [{ struct: 'PyThreadState', member: 'current_frame' }, 72],
      [{ struct: '_PyInterpreterFrame', member: 'owner' }, 70],
      [{ struct: 'PyCodeObject', member: 'co_firstlineno' }, 68],
    ],
  },
];

describe('dwarfStructOffsets: pyenv builds (DWARF in libpython)', { timeout: 60_000 }, () => {
  for (const k of KNOWN) {
    test(`${k.version}: the offsets gdb measured`, () => {
      const lib = need(path.join(PYENV, k.version, 'lib', k.lib));
      const r = dwarfStructOffsets(lib, k.queries.map(([q]) => q));
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.debugFile, lib);
      assert.deepEqual(members(r), Object.fromEntries(k.queries.map(([q, off]) => [`${q.struct}.${q.member}`, off])));
      for (const m of r.members) assert.ok(m.ok && m.size === (m.member === 'owner' || m.member === 'is_entry' ? 1 : m.member === 'co_firstlineno' ? 4 : 8), JSON.stringify(m));
    });
  }

  test("a struct's size, a bitfield, pointer sizes; absent structs and members say which", () => {
    const lib = need(path.join(PYENV, '3.12.1', 'lib', 'libpython3.12.so.1.0'));
    const r = dwarfStructOffsets(lib, [
      { struct: 'PyASCIIObject' },
      { struct: 'PyASCIIObject', member: 'state.kind' },
      { struct: 'PyThreadState', member: 'next' },
      { struct: 'PyThreadState', member: 'no_such_member' },
      { struct: 'PyThreadState', member: 'next.x' },
      { struct: 'NoSuchStruct', member: 'x' },
    ]);
    assert.ok(r.ok);
    const [size, kind, next, absent, notStruct, noStruct] = r.members;
    assert.deepEqual(size, { struct: 'PyASCIIObject', member: '', ok: true, offset: 0, size: 40 });
    assert.deepEqual(kind, { struct: 'PyASCIIObject', member: 'state.kind', ok: true, offset: 32, size: 4, bitOffset: 32 * 8 + 2, bitSize: 3 });
    assert.deepEqual(next, { struct: 'PyThreadState', member: 'next', ok: true, offset: 8, size: 8 });
    assert.deepEqual(absent, { struct: 'PyThreadState', member: 'no_such_member', ok: false, error: 'PyThreadState has no member no_such_member' });
    assert.deepEqual(notStruct, { struct: 'PyThreadState', member: 'next.x', ok: false, error: 'PyThreadState.next is not a struct or union' });
    assert.ok(!noStruct.ok && noStruct.error === `no struct NoSuchStruct in the debug info of ${lib}`, JSON.stringify(noStruct));
  });

  test('the search is bounded: a unit limit gives up and says so', () => {
    const lib = need(path.join(PYENV, '3.13.0', 'lib', 'libpython3.13.so.1.0'));
    const r = dwarfStructOffsets(lib, [{ struct: 'NoSuchStruct' }], { maxCompileUnits: 3 });
    assert.ok(r.ok);
    assert.equal(r.compileUnits, 3);
    assert.match((r.members[0] as { error: string }).error, /no struct NoSuchStruct .*\(gave up after 3 compile units\)/);
    const t = dwarfStructOffsets(lib, [{ struct: 'NoSuchStruct' }], { timeoutMs: 1 });
    assert.ok(t.ok);
    assert.match((t.members[0] as { error: string }).error, /gave up after 1 ms/);
  });
});

describe('dwarfStructOffsets: files without DWARF, separate debug files, hostile files', { timeout: 60_000 }, () => {
  const dir = tempDir('dwarf');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const q = [{ struct: 'PyThreadState', member: 'thread_id' }];

  test("Debian's python3.11 has no debug info (unless python3.11-dbg is installed)", () => {
    const exe = need('/usr/bin/python3.11');
    const r = dwarfStructOffsets(exe, q);
    const buildId = /Build ID: (\w+)/.exec(execFileSync('readelf', ['-n', exe], { encoding: 'utf8' }))?.[1] ?? '';
    if (fs.existsSync(`/usr/lib/debug/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`)) {
      assert.ok(r.ok && r.debugFile.startsWith('/usr/lib/debug/'), JSON.stringify(r));
      return;
    }
    assert.deepEqual(r, {
      ok: false,
      compileUnits: 0,
      noDebugInfo: true,
      error: 'no debug info in /usr/bin/python3.11 (No DWARF information found; no separate debug file by build-id or .gnu_debuglink)',
    });
  });

  const SOURCE = `
struct inner { int a; union { char b; long c; }; struct { unsigned flag : 3, wide : 20; } bits; };
typedef struct outer { void *p; struct inner in; struct { int x; int y; }; } Outer;
Outer global;
int main(void) { return (int)sizeof(global); }
`;

  test('DWARF in a separate file named by .gnu_debuglink; nested, anonymous and bitfield members', () => {
    const exe = compileC(dir, 'linked', SOURCE, ['-g', '-O0']);
    execFileSync('objcopy', ['--only-keep-debug', exe, `${exe}.debug`]);
    execFileSync('objcopy', ['--strip-debug', `--add-gnu-debuglink=${exe}.debug`, exe]);
    const r = dwarfStructOffsets(exe, [
      { struct: 'Outer', member: 'in.c' },
      { struct: 'outer', member: 'in.bits.wide' },
      { struct: 'Outer', member: 'y' },
      { struct: 'inner', member: 'bits' },
      { struct: 'Outer' },
    ]);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.debugFile, `${exe}.debug`);
    assert.deepEqual(members(r), { 'Outer.in.c': 16, 'outer.in.bits.wide': 24, 'Outer.y': 36, 'inner.bits': 16, 'Outer.': 0 });
    assert.equal(r.members[1].ok && r.members[1].bitOffset, 24 * 8 + 3);
    assert.equal(r.members[4].ok && r.members[4].size, 40);
    // Opened by another path (as through /proc/PID/map_files), the debuglink is looked for beside where it is seen.
    const other = path.join(dir, 'elsewhere');
    fs.mkdirSync(other);
    fs.copyFileSync(exe, path.join(other, 'linked'));
    const away = dwarfStructOffsets(path.join(other, 'linked'), [{ struct: 'Outer', member: 'y' }]);
    assert.ok(!away.ok && away.noDebugInfo, JSON.stringify(away));
    const seen = dwarfStructOffsets(path.join(other, 'linked'), [{ struct: 'Outer', member: 'y' }], { seenAs: exe });
    assert.ok(seen.ok && seen.debugFile === `${exe}.debug` && seen.members[0].ok && seen.members[0].offset === 36, JSON.stringify(seen));
  });

  test('a stripped file whose debuglink names a missing file: no debug info', () => {
    const exe = compileC(dir, 'stripped', SOURCE, ['-g', '-O0']);
    execFileSync('objcopy', ['--only-keep-debug', exe, path.join(dir, 'gone.debug')]);
    execFileSync('objcopy', ['--strip-debug', `--add-gnu-debuglink=${path.join(dir, 'gone.debug')}`, exe]);
    fs.rmSync(path.join(dir, 'gone.debug'));
    const r = dwarfStructOffsets(exe, q);
    assert.ok(!r.ok && r.noDebugInfo, JSON.stringify(r));
  });

  test('not ELF, a FIFO, a missing file, a truncated ELF and garbage DWARF are answers, not crashes', () => {
    const text = path.join(dir, 'text');
    fs.writeFileSync(text, 'not an ELF file\n'.repeat(100));
    const notElf = dwarfStructOffsets(text, q);
    assert.ok(!notElf.ok && !notElf.noDebugInfo && /^read .*text: /.test(notElf.error), JSON.stringify(notElf));
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.deepEqual(dwarfStructOffsets(fifo, q), { ok: false, compileUnits: 0, noDebugInfo: false, error: `open ${fifo}: not a regular file (FIFO)` });
    const missing = dwarfStructOffsets(path.join(dir, 'missing'), q);
    assert.ok(!missing.ok && /^open /.test(missing.error));

    const lib = need(path.join(PYENV, '3.11.7', 'lib', 'libpython3.11.so.1.0'));
    const bytes = fs.readFileSync(lib);
    for (const size of [64, 4096, bytes.length >> 1, bytes.length - 100]) {
      const cut = path.join(dir, `cut-${size}`);
      fs.writeFileSync(cut, bytes.subarray(0, size));
      const r = dwarfStructOffsets(cut, q);
      assert.ok(!r.ok || r.members.every((m) => typeof m.ok === 'boolean'), JSON.stringify(r));
    }
    // .debug_info and .debug_abbrev overwritten with noise: libdw's errors become "no struct", nothing crashes.
    const sections = execFileSync('readelf', ['-S', '-W', lib], { encoding: 'utf8' });
    for (const name of ['.debug_info', '.debug_abbrev', '.debug_str']) {
      const m = new RegExp(`\\${name}\\s+\\w+\\s+[0-9a-f]+ ([0-9a-f]+) ([0-9a-f]+)`).exec(sections);
      assert.ok(m, `${name} not in ${lib}`);
      const copy = Buffer.from(bytes);
      const [off, len] = [parseInt(m[1], 16), parseInt(m[2], 16)];
      let seed = 12345;
      for (let i = off + 11; i < off + len; i += 7) copy[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
      const bad = path.join(dir, `noise${name}`);
      fs.writeFileSync(bad, copy);
      const r = dwarfStructOffsets(bad, [...q, { struct: '_PyRuntimeState', member: 'interpreters.head' }]);
      assert.ok(!r.ok || r.members.length === 2, JSON.stringify(r));
    }
  });

  test('bad arguments are TypeErrors with the usage', () => {
    assert.throws(() => dwarfStructOffsets('/bin/true', 'x' as never), /TypeError.*queries must be an array/s);
    assert.throws(() => dwarfStructOffsets('/bin/true', [{ struct: '' }]), /queries\[0\]\.struct must not be empty/);
    assert.throws(() => dwarfStructOffsets('/bin/true', [{ struct: 'a', bogus: 1 } as never]), /unknown option queries\[0\]\.bogus/);
    assert.throws(() => dwarfStructOffsets('/bin/true', q, { timeoutMs: 0 }), /timeoutMs/);
  });
});
