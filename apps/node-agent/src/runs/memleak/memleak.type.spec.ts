import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { MemleakTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { ensureTracefs } from '../../lib/tracefs';
import { mapBytes } from '../kernel-memory';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { memleakKernelBytes } from './memleak.type';

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
});
