import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dwarfStructOffsets, type DwarfStructOffsets } from '@tracefleet/native';
import { clearDetectCache, detectPython, type PythonProcess } from './detect';
import { describeLayoutSource, dwarfQueries, layoutFromDwarf } from './dwarf-layout';
import { layoutFor, PY_OFF_NONE, type PyLayout } from './layout';
import { PythonFrames } from './python-frames';

const PYENV = '/root/.pyenv/versions';
const BUILDS = ['3.8.18', '3.9.18', '3.10.13', '3.11.7', '3.12.1', '3.13.0'];

function need(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: these specs read real interpreters (pyenv install the version, or apt-get install python3.11)`);
  return path;
}

/** The fields of a layout that are offsets and have a value (not PY_OFF_NONE). */
function offsetFields(l: PyLayout): string[] {
  const fields = ['runtimeInterpHead', 'interpThreads', 'tstateNext', 'tstateThreadId', 'tstateFrame', 'cframeFrame', 'frameCode', 'framePrevious', 'frameFlag'];
  return [
    ...fields.filter((f) => (l as unknown as Record<string, number>)[f] !== PY_OFF_NONE),
    'code.firstLineno',
    'code.name',
    'code.filename',
    'unicode.asciiData',
    'unicode.compactData',
  ].sort();
}

describe('python layouts from DWARF', { timeout: 60_000 }, () => {
  for (const version of BUILDS) {
    it(`${version}: libpython's DWARF gives every offset of the table, and agrees with it`, () => {
      const minor = Number(version.split('.')[1]);
      const table = layoutFor(3, minor)!;
      const answer = dwarfStructOffsets(need(join(PYENV, version, 'lib', `libpython3.${minor}.so.1.0`)), dwarfQueries(minor).map((q) => q.query));
      const { layout, source } = layoutFromDwarf(table, answer);
      assert.deepEqual(source.fromTable, []);
      assert.deepEqual(source.disagreements, []);
      assert.equal(source.from, 'dwarf');
      assert.deepEqual([...source.fromDwarf].sort(), offsetFields(table));
      assert.deepEqual(layout, table);
    });
  }

  it('where DWARF and the table disagree, DWARF is used and the notes say so; what DWARF lacks comes from the table', () => {
    const table = layoutFor(3, 11)!;
    const queries = dwarfQueries(11);
    const real = dwarfStructOffsets(need(join(PYENV, '3.11.7', 'lib', 'libpython3.11.so.1.0')), queries.map((q) => q.query));
    assert.ok(real.ok);
    // Another build of 3.11, as if: a thread id moved, a member gone, a member of another width.
    const at = (field: string) => queries.findIndex((q) => q.field === field);
    const members = [...real.members];
    members[at('tstateThreadId')] = { ...members[at('tstateThreadId')], ok: true, offset: 160, size: 8 };
    members[at('frameFlag')] = { struct: '_PyInterpreterFrame', member: 'is_entry', ok: false, error: '_PyInterpreterFrame has no member is_entry' };
    members[at('code.name')] = { struct: 'PyCodeObject', member: 'co_qualname', ok: true, offset: 128, size: 4 };
    const answer: DwarfStructOffsets = { ...real, debugFile: '/usr/lib/debug/.build-id/ab/cd.debug', members };
    const { layout, source } = layoutFromDwarf(table, answer);
    assert.equal(layout.tstateThreadId, 160);
    assert.equal(layout.frameFlag, table.frameFlag);
    assert.equal(layout.code.name, table.code.name);
    assert.deepEqual(source.disagreements, [{ field: 'tstateThreadId', used: 'DWARF', value: 160, other: 'table', otherValue: 152 }]);
    assert.deepEqual(
      source.fromTable.map((t) => t.field),
      ['code.name', 'frameFlag'],
    );
    const notes = describeLayoutSource('3.11.9', 'libpython3.11.so.1.0', source);
    assert.match(notes[0], /^python 3\.11\.9: struct offsets from the DWARF of \/usr\/lib\/debug\/\.build-id\/ab\/cd\.debug \(12 fields\); from the table: code\.name \(PyCodeObject\.co_qualname is 4 bytes, not 8\), frameFlag \(_PyInterpreterFrame has no member is_entry\)$/);
    assert.equal(notes[1], "python 3.11.9: DWARF and the table disagree on tstateThreadId (DWARF 160, table 152); DWARF's used");
    assert.equal(table.tstateThreadId, 152, 'the table itself is left alone');
  });

  it('no debug info: the table, and why', () => {
    const table = layoutFor(3, 11)!;
    const { layout, source } = layoutFromDwarf(table, { ok: false, noDebugInfo: true, compileUnits: 0, error: 'no debug info in /usr/bin/python3.11 (...)' });
    assert.deepEqual(layout, table);
    assert.deepEqual(describeLayoutSource('3.11.2', 'python3.11', source), ['python 3.11.2: struct offsets from the table of measured builds (no debug info in /usr/bin/python3.11 (...))']);
  });
});

describe('detectPython picks DWARF where the interpreter has it', { timeout: 60_000 }, () => {
  const children: ChildProcess[] = [];
  after(() => children.forEach((c) => c.kill('SIGKILL')));

  function start(exe: string): Promise<number> {
    const child = spawn(need(exe), ['-c', 'import time; print("ready", flush=True); time.sleep(600)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    return new Promise((resolve, reject) => {
      child.stdout!.once('data', () => resolve(child.pid!));
      child.once('exit', (code) => reject(new Error(`${exe} exited (${code})`)));
    });
  }

  it("pyenv's 3.12.1: the layout from libpython's DWARF, read once per file; the run's notes say so", async () => {
    clearDetectCache();
    const pids = [await start(join(PYENV, '3.12.1', 'bin', 'python3.12')), await start(join(PYENV, '3.12.1', 'bin', 'python3.12'))];
    let reads = 0;
    const counting = (path: string, queries: Parameters<typeof dwarfStructOffsets>[1]) => {
      reads++;
      return dwarfStructOffsets(path, queries);
    };
    const found = pids.map((pid) => detectPython(pid, { structOffsets: counting }));
    for (const d of found) {
      assert.equal(d.kind, 'python', 'reason' in d ? d.reason : d.kind);
      const p = d as PythonProcess;
      assert.equal(p.layoutSource.from, 'dwarf');
      assert.match(p.layoutSource.debugFile ?? '', /libpython3\.12\.so\.1\.0$/);
      assert.deepEqual(p.layout, layoutFor(3, 12));
    }
    assert.equal(reads, 1, 'one DWARF read for two processes of one interpreter file');
    const frames = new PythonFrames({ setPythonProcess() {} }, undefined, (pid) => detectPython(pid));
    frames.see(pids);
    const notes = frames.notes(undefined);
    assert.match(notes[0], /^python: 2 process\(es\) \(3\.12\.1 ×2\) with Python frames/);
    assert.match(notes[1], /^python 3\.12\.1: struct offsets from the DWARF of .*libpython3\.12\.so\.1\.0 \(14 fields\)$/);
    assert.equal(notes.length, 2, JSON.stringify(notes));
    frames.close();
  });

  it("Debian's python3.11 (no debug info): the table, and the notes say why", async () => {
    const pid = await start('/usr/bin/python3.11');
    const d = detectPython(pid);
    assert.equal(d.kind, 'python', 'reason' in d ? d.reason : d.kind);
    const p = d as PythonProcess;
    assert.equal(p.layoutSource.from, 'table');
    assert.match(p.layoutSource.why ?? '', /^no debug info in \/usr\/bin\/python3\.11 /);
    assert.deepEqual(p.layout, layoutFor(3, 11));
  });
});
