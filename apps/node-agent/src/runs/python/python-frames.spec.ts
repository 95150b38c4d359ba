// PythonFrames' bookkeeping of processes against real ones: a process is looked at once, again after an exec
// (a fork of a shell or of a container runtime becoming the interpreter), and not again for a thread that
// named itself. Detection itself is stood in for (detect.spec.ts tests it on real interpreters).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PythonFrames } from './python-frames';
import { PythonNames } from './code-names';
import type { PythonDetection } from './detect';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

describe('PythonFrames', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  it('looks at a process again after an exec, not for a thread that named itself', async () => {
    // sh waits for a line, then execs sleep: the same pid with another program.
    const child = spawn('sh', ['-c', 'read x; exec sleep 30'], { stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(child);
    const pid = child.pid!;
    for (let i = 0; i < 100 && comm(pid) !== 'sh'; i++) await sleep(10);
    const looked: string[] = [];
    const forgotten: number[] = [];
    // The stand-in says "python" for the first program, "none" for what it execs.
    const detect = (p: number): PythonDetection => {
      looked.push(comm(p));
      if (looked.length > 1) return { kind: 'none' };
      const layoutSource = { from: 'table', fromDwarf: [], fromDebugOffsets: [], fromTable: [], disagreements: [], why: 'no debug info' };
      return { kind: 'python', version: '3.11.2', path: '/usr/bin/python3.11', layoutSource } as unknown as PythonDetection;
    };
    const frames = new PythonFrames({ setPythonProcess: () => undefined, forgetPythonProcess: (p) => forgotten.push(p) }, { addProcess: () => undefined, forget: () => undefined, close: () => undefined, stats: () => ({ failed: 0 }) } as unknown as PythonNames, detect);
    frames.seeSamples([{ pid, comm: 'sh' }, { pid, comm: 'sh' }]);
    assert.deepEqual(looked, ['sh'], 'looked at once');
    frames.seeSamples([{ pid, comm: 'worker' }]);
    assert.deepEqual(looked, ['sh'], 'a thread name is no exec: /proc still says sh');
    child.stdin!.write('\n');
    for (let i = 0; i < 200 && comm(pid) !== 'sleep'; i++) await sleep(10);
    assert.equal(comm(pid), 'sleep');
    frames.seeSamples([{ pid, comm: 'sleep' }]);
    assert.deepEqual(looked, ['sh', 'sleep'], 'looked at again after the exec');
    assert.deepEqual(forgotten, [pid], "the old program's layout is taken out of the map");
    frames.seeSamples([{ pid, comm: 'sh' }, { pid, comm: 'sleep' }]);
    assert.deepEqual(looked, ['sh', 'sleep'], 'a sample from before the exec, still queued, changes nothing');
    assert.match(frames.notes(undefined).join('\n'), /python: 1 process\(es\) \(3\.11\.2\)/);
  });
});
