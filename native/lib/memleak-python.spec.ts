// MemleakTracer's Python frames (memleak/python.bpf.h): read at each picked allocation of Debian's python3.11,
// kept once per distinct chain in the kernel, and handed back with the snapshot's groups.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, test } from 'node:test';

import { MemleakTracer, type MemleakSnapshot } from './index';
import { memleakObject } from './memleak-spec-support';
import { PYTHON, debianPython311Layout } from './python-spec-support';
import { Target } from './usdt-spec-support';

/** Keeps 2,000 bytearrays of 4 KiB (each one malloc) from grow(), called by <module>; frees some from drop(). */
const SCRIPT = `
import sys
keep = []
def grow(n):
    for _ in range(n):
        keep.append(bytearray(4096))
print('ready', flush=True)
sys.stdin.readline()
grow(2000)
print('leaked', flush=True)
sys.stdin.readline()
`;

const PY_BYTES = 2000n * 4096n;

async function leak(python: boolean, giveLayout: boolean): Promise<MemleakSnapshot> {
  assert.ok(fs.existsSync(PYTHON), `${PYTHON} is missing: npm run setup installs python3.11`);
  const child = new Target(PYTHON, ['-c', SCRIPT], { stdin: true });
  let tracer: MemleakTracer | undefined;
  try {
    await child.waitFor('ready');
    tracer = new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: child.pid, python });
    if (giveLayout) tracer.setPythonProcess(child.pid, debianPython311Layout());
    tracer.start();
    child.child.stdin!.write('go\n');
    await child.waitFor('leaked');
    tracer.stop();
    return tracer.snapshot();
  } finally {
    tracer?.close();
    child.kill();
  }
}

describe('MemleakTracer: Python frames of allocations', () => {
  test("grow()'s allocations carry its frame chain: grow, then <module> (an eval entry)", async () => {
    const snap = await leak(true, true);
    const withPy = snap.stacks.filter((s) => s.pyStatus > 0);
    assert.ok(withPy.length > 0, `no group with Python frames: ${snap.stacks.map((s) => s.pyStatus)}`);
    const grown = withPy.filter((s) => s.pyStatus === 2);
    const bytes = grown.reduce((n, s) => n + s.bytes, 0n);
    assert.ok(bytes >= PY_BYTES, `${bytes} bytes under a two-frame chain, expected >= ${PY_BYTES}`);
    // One chain for all of grow()'s allocations, whatever their native stacks.
    const chains = new Set(grown.filter((s) => s.bytes >= 4096n * 100n).map((s) => s.pyStackId));
    assert.equal(chains.size, 1, `chains: ${[...chains]}`);
    const top = grown.find((s) => s.bytes >= 4096n * 100n)!;
    assert.equal(top.pyFrames.length, 2);
    assert.deepEqual([...top.pyFrames].map((w) => w & 1n), [0n, 1n]);
    assert.equal(top.pyTruncated, false);
    assert.ok(snap.pyStackEntries >= 1, `pyStackEntries ${snap.pyStackEntries}`);
    assert.ok(snap.counters.python.stacks >= 2000n, JSON.stringify(snap.counters.python, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
    assert.equal(snap.counters.python.readFaults, 0n);
    assert.equal(snap.counters.pyStackErrors, 0n);
  });

  test('without python, or without the process given, groups carry no Python frames', async () => {
    for (const [python, give] of [[false, false], [true, false]]) {
      const snap = await leak(python, give);
      const bytes = snap.stacks.reduce((n, s) => n + s.bytes, 0n);
      assert.ok(bytes >= PY_BYTES, `python ${python}: ${bytes} bytes`);
      assert.ok(snap.stacks.every((s) => s.pyStatus === 0 && s.pyFrames.length === 0 && s.pyStackId === 0));
      assert.equal(snap.pyStackEntries, 0);
      assert.equal(snap.counters.python.stacks, 0n);
    }
  });

  test('python is for user mode; setPythonProcess needs it', () => {
    assert.throws(
      () => new MemleakTracer({ objectPath: memleakObject(), mode: 'kernel', python: true }),
      (err: unknown) => err instanceof TypeError && /option python is for mode 'user' only/.test((err as Error).message),
    );
    const without = new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: process.pid });
    try {
      assert.throws(() => without.setPythonProcess(process.pid, Buffer.alloc(32)), /made without python: true/);
      assert.throws(() => without.setPythonProcess(0, Buffer.alloc(32)), /tracer\.setPythonProcess\(pid: integer > 0/);
    } finally {
      without.close();
    }
  });
});
