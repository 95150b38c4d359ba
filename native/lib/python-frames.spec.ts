// The profile program's Python frames (python.bpf.h) on a real interpreter, with its layout written by hand
// here (the agent finds it from the interpreter's ELF file: apps/node-agent/src/runs/python/detect.ts), and the
// checks at setPythonProcess's boundary.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { Profiler } from './index';
import { PYTHON, debianPython311Layout } from './python-spec-support';
import { profileObject, runUntilReady, tempDir } from './spec-support';

const SCRIPT = `
def f(n):
    x = 0
    for i in range(n):
        x += i * i
    return x

def g():
    while True:
        f(100000)

print("ready", flush=True)
g()
`;

describe('Profiler: Python frames', () => {
  const dir = tempDir('python-frames');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('reads the frame chain of a CPython 3.11 thread: three code objects, the entry bit on the outermost', async () => {
    assert.ok(fs.existsSync(PYTHON), `${PYTHON} is missing: npm run setup installs python3.11`);
    const script = path.join(dir, 'busy.py');
    fs.writeFileSync(script, SCRIPT);
    const child = await runUntilReady(PYTHON, [script]);
    const samples: import('./index').RawSample[] = [];
    let profiler: Profiler | undefined;
    try {
      profiler = new Profiler({ objectPath: profileObject(), frequencyHz: 99, targetPid: child.pid!, python: true, onSamples: (s) => samples.push(...s) });
      profiler.setPythonProcess(child.pid!, debianPython311Layout());
      profiler.start();
      await new Promise((r) => setTimeout(r, 1500));
      const stats = await profiler.stop();
      assert.ok(samples.length >= 50, `${samples.length} samples`);
      // Nearly every sample is in f (three frames); one taken in g between two calls of f has two, g's and
      // <module>'s. Nothing else may come: no other count, no errors.
      const withFrames = samples.filter((s) => s.pyStatus === 3);
      const inG = samples.filter((s) => s.pyStatus === 2);
      assert.ok(withFrames.length >= samples.length * 0.95, `frames in ${withFrames.length} of ${samples.length}: ${samples.map((s) => s.pyStatus)}`);
      assert.equal(withFrames.length + inG.length, samples.length, `statuses: ${samples.map((s) => s.pyStatus)}`);
      for (const s of [...withFrames, ...inG]) {
        const words = [...s.pyFrames];
        assert.equal(words.length, s.pyStatus);
        const entries = s.pyStatus === 3 ? [0n, 0n, 1n] : [0n, 1n];
        assert.deepEqual(words.map((w) => w & 1n), entries, 'f and g run in <module>\'s eval call: only <module> is an entry');
        assert.ok(words.every((w) => w > 0x1000n && (w & ~7n) % 8n === 0n));
        assert.equal(s.pyTruncated, false);
      }
      if (inG.length > 0 && withFrames.length > 0) {
        // g's and <module>'s code objects are the outer two of a sample in f.
        assert.deepEqual([...inG[0].pyFrames], [...withFrames[0].pyFrames].slice(1));
      }
      assert.equal(stats.python.stacks, BigInt(samples.length));
      assert.equal(stats.python.frames, BigInt(withFrames.length * 3 + inG.length * 2));
      assert.equal(stats.python.readFaults, 0n);
    } finally {
      profiler?.close();
      child.kill('SIGKILL');
    }
  });

  test('a process not given, or given a layout that leads nowhere, costs no frames and is counted', async () => {
    const child = await runUntilReady(PYTHON, ['-c', 'print("ready", flush=True)\nwhile True: pass']);
    const samples: import('./index').RawSample[] = [];
    let profiler: Profiler | undefined;
    try {
      profiler = new Profiler({ objectPath: profileObject(), frequencyHz: 99, targetPid: child.pid!, python: true, onSamples: (s) => samples.push(...s) });
      // A hostile or stale layout: interp_head points at the zero page.
      const bad = debianPython311Layout();
      bad.writeBigUInt64LE(0x10n, 0);
      profiler.setPythonProcess(child.pid!, bad);
      profiler.start();
      await new Promise((r) => setTimeout(r, 1000));
      const stats = await profiler.stop();
      assert.ok(samples.length >= 30);
      assert.ok(samples.every((s) => s.pyStatus === -2 && s.pyFrames.length === 0), `statuses: ${samples.map((s) => s.pyStatus)}`);
      assert.equal(stats.python.readFaults, BigInt(samples.length));
    } finally {
      profiler?.close();
      child.kill('SIGKILL');
    }
  });

  test('setPythonProcess checks its arguments, and needs python: true', () => {
    const withPython = new Profiler({ objectPath: profileObject(), frequencyHz: 99, python: true, onSamples: () => {} });
    const without = new Profiler({ objectPath: profileObject(), frequencyHz: 99, onSamples: () => {} });
    try {
      const usage = /tracer\.setPythonProcess\(pid: integer > 0, layout: Buffer/;
      assert.throws(() => withPython.setPythonProcess(0, Buffer.alloc(32)), usage);
      assert.throws(() => withPython.setPythonProcess(1.5, Buffer.alloc(32)), usage);
      assert.throws(() => withPython.setPythonProcess(2 ** 33, Buffer.alloc(32)), usage);
      assert.throws(() => withPython.setPythonProcess(1, Buffer.alloc(31)), usage);
      assert.throws(() => withPython.setPythonProcess(1, 'x' as unknown as Buffer), usage);
      assert.throws(() => without.setPythonProcess(1, Buffer.alloc(32)), /made without python: true/);
      withPython.setPythonProcess(1, Buffer.alloc(32));
      withPython.forgetPythonProcess(1);
      withPython.forgetPythonProcess(1); // not there: nothing to do
      assert.equal(withPython.stats().python.stacks, 0n);
      assert.equal(without.stats().python.stacks, 0n);
    } finally {
      withPython.close();
      without.close();
    }
  });
});
