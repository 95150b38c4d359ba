import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { MemleakTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { ensureTracefs } from '../../lib/tracefs';
import { mapBytes } from '../kernel-memory';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { memleakKernelBytes, memleakPythonBytes } from './memleak.type';

describe('memleak kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  before(() => ensureTracefs());

  it('memleak, kernel mode, at several maxAllocs: the allocs map dominates (~80 B an entry + 16 B a bucket)', () => {
    for (const maxAllocs of [1000, 100_000, 1_000_000]) {
      const real = measure(() => new MemleakTracer({ objectPath: objectPath('memleak'), mode: 'kernel', maxAllocs }));
      assertClose(memleakKernelBytes(maxAllocs), real, `memleak maxAllocs=${maxAllocs}`);
      const allocs = real.maps.find((m) => m.name === 'allocs')!;
      assert.ok(Math.abs(mapBytes.hash(maxAllocs, 8, 24) - allocs.bytes_memlock) < 8192, `allocs map: kernel ${allocs.bytes_memlock}, model ${mapBytes.hash(maxAllocs, 8, 24)}`);
    }
  });

  it('memleak, user mode: the same maps, allocated as they fill; the estimate is their ceiling', () => {
    const real = measure(() => new MemleakTracer({ objectPath: objectPath('memleak'), mode: 'user', pid: process.pid, maxAllocs: 100_000 }));
    assert.ok(memleakKernelBytes(100_000) >= real.total, `estimate ${memleakKernelBytes(100_000)} < kernel ${real.total}`);
  });

  it('memleak, user mode with python: the Python maps at full size (py_stacks allocated as chains come) are within the estimate', () => {
    const real = measure(() => new MemleakTracer({ objectPath: objectPath('memleak'), mode: 'user', pid: process.pid, maxAllocs: 100_000, python: true }));
    assert.ok(memleakKernelBytes(100_000, true) >= real.total, `estimate ${memleakKernelBytes(100_000, true)} < kernel ${real.total}`);
    const byName = (name: string): number => real.maps.find((m) => m.name === name)?.bytes_memlock ?? -1;
    // The thread-state cache is preallocated: its full size, as the estimate counts it.
    assert.ok(Math.abs(byName('py_threads') - mapBytes.hash(8192, 4, 8)) < 65536, `py_threads: kernel ${byName('py_threads')}, model ${mapBytes.hash(8192, 4, 8)}`);
    // An empty py_stacks holds its buckets only: at most what the estimate gives it full.
    const pyStacks = byName('py_stacks');
    assert.ok(pyStacks > 0 && pyStacks <= mapBytes.hash(4096, 4, 1032), `py_stacks: kernel ${pyStacks}`);
    assert.ok(memleakPythonBytes(true) - memleakPythonBytes(false) > 4_000_000, 'the Python maps at full size: ~5 MB');
  });

  it('memleak, kernel mode: the Python maps are shrunk to one entry each', () => {
    const real = measure(() => new MemleakTracer({ objectPath: objectPath('memleak'), mode: 'kernel', maxAllocs: 1000 }));
    for (const name of ['py_stacks', 'py_threads', 'py_procs']) {
      const map = real.maps.find((m) => m.name === name);
      assert.ok(map && map.bytes_memlock < 64 * 1024, `${name}: ${map?.bytes_memlock}`);
    }
  });
});
