import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dwarfStructOffsets } from '@tracefleet/native';
import { DEBUG_OFFSETS_313, parseDebugOffsets } from './debug-offsets';
import { clearDetectCache, detectPython, type PythonProcess } from './detect';
import { describeLayoutSource, layoutFromDwarf } from './dwarf-layout';
import { layoutFor } from './layout';

const LIB = '/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0';
const EXE = '/root/.pyenv/versions/3.13.0/bin/python3.13';

function need(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: pyenv install 3.13.0`);
  return path;
}

/** A _Py_DebugOffsets of 3.13.0 as the table says the process holds it. */
function sample(): Buffer {
  const d = DEBUG_OFFSETS_313;
  const b = Buffer.alloc(d.size);
  b.write('xdebugpy', 0, 'latin1');
  b.writeBigUInt64LE(0x030d00f0n, d.version);
  const table = layoutFor(3, 13)!;
  for (const [field, at] of Object.entries(d.fields)) {
    const [a, k] = field.split('.');
    const v = k === undefined ? (table as never)[a] : (table as never)[a][k];
    b.writeBigUInt64LE(BigInt(v), at);
  }
  return b;
}

describe('_Py_DebugOffsets (3.13)', { timeout: 60_000 }, () => {
  it("its own layout is the one pyenv's 3.13.0 DWARF gives", () => {
    const d = DEBUG_OFFSETS_313;
    const fields = Object.keys(d.fields);
    const r = dwarfStructOffsets(need(LIB), [{ struct: '_Py_DebugOffsets' }, ...fields.map((f) => ({ struct: '_Py_DebugOffsets', member: d.members[f] }))]);
    assert.ok(r.ok);
    assert.deepEqual(r.members[0], { struct: '_Py_DebugOffsets', member: '', ok: true, offset: 0, size: d.size });
    fields.forEach((f, i) => assert.deepEqual(r.members[i + 1], { struct: '_Py_DebugOffsets', member: d.members[f], ok: true, offset: (d.fields as Record<string, number>)[f], size: 8 }));
  });

  it('a hostile or foreign _PyRuntime is refused, saying why', () => {
    assert.deepEqual(parseDebugOffsets(undefined, undefined), { ok: false, why: '_PyRuntime could not be read' });
    const bad = sample();
    bad.write('xdebugpz', 0, 'latin1');
    assert.match((parseDebugOffsets(bad, undefined) as { why: string }).why, /does not start with "xdebugpy"/);
    assert.match((parseDebugOffsets(sample(), 0x030d01f0n) as { why: string }).why, /of version 0x30d00f0, not 3\.13 \(0x30d01f0\)/);
    const big = sample();
    big.writeBigUInt64LE(1n << 40n, DEBUG_OFFSETS_313.fields.tstateThreadId);
    assert.match((parseDebugOffsets(big, undefined) as { why: string }).why, /holds 1099511627776 for tstateThreadId/);
    const ft = sample();
    ft.writeBigUInt64LE(1n, DEBUG_OFFSETS_313.freeThreaded);
    assert.match((parseDebugOffsets(ft, undefined) as { why: string }).why, /free-threaded/);
  });

  it('without DWARF, the fields come from _Py_DebugOffsets; DWARF still wins, and disagreements are named', () => {
    const table = layoutFor(3, 13)!;
    const noDwarf = { ok: false as const, noDebugInfo: true, compileUnits: 0, error: 'no debug info in x' };
    const moved = sample();
    moved.writeBigUInt64LE(160n, DEBUG_OFFSETS_313.fields.tstateThreadId);
    const { layout, source } = layoutFromDwarf(table, noDwarf, parseDebugOffsets(moved, undefined));
    assert.equal(source.from, 'debug-offsets');
    assert.equal(source.fromDebugOffsets.length, 12);
    assert.equal(layout.tstateThreadId, 160);
    assert.equal(layout.unicode.compactData, table.unicode.compactData);
    assert.deepEqual(describeLayoutSource('3.13.5', 'libpython3.13.so.1.0', source), [
      'python 3.13.5: struct offsets from _Py_DebugOffsets in the process (12 fields; no debug info in x)',
      "python 3.13.5: _Py_DebugOffsets and the table disagree on tstateThreadId (_Py_DebugOffsets 160, table 152); _Py_DebugOffsets's used",
    ]);
  });

  describe('a live 3.13.0 process', () => {
    const children: ChildProcess[] = [];
    after(() => children.forEach((c) => c.kill('SIGKILL')));

    it('read from its memory, _Py_DebugOffsets give the layout of the table when the file has no DWARF', async () => {
      const child = spawn(need(EXE), ['-c', 'import time; print("ready", flush=True); time.sleep(600)'], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      await new Promise((resolve) => child.stdout!.once('data', resolve));
      clearDetectCache();
      const noDwarf = () => ({ ok: false as const, noDebugInfo: true, compileUnits: 0, error: 'no debug info (as if stripped)' });
      const d = detectPython(child.pid!, { structOffsets: noDwarf });
      assert.equal(d.kind, 'python', 'reason' in d ? d.reason : d.kind);
      const p = d as PythonProcess;
      assert.equal(p.layoutSource.from, 'debug-offsets');
      assert.deepEqual(p.layoutSource.disagreements, []);
      assert.deepEqual(p.layout, layoutFor(3, 13));
      clearDetectCache();
      const withDwarf = detectPython(child.pid!) as PythonProcess;
      assert.equal(withDwarf.layoutSource.from, 'dwarf');
      assert.deepEqual(withDwarf.layoutSource.disagreements, [], 'DWARF, _Py_DebugOffsets and the table agree');
      clearDetectCache();
    });
  });
});
