import { MemleakTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { TRACEFLEET_MAX_STACK_DEPTH } from '../../lib/kernel-limits';
import { mapBytes, unwindPrivateBytes } from '../kernel-memory';
import type { RunType } from '../run-type';
import { MemleakRun, type MemleakNativeParts } from './memleak.run';

/** memleak.bpf.c's constants (memleak.h) and the native tracer's defaults (memleak_tracer.cc). */
const MEMLEAK = { allocKey: 8, allocValue: 24, stackMapEntries: 16384, overflowEntries: 16384, stackBytes: TRACEFLEET_MAX_STACK_DEPTH * 8, counters: 7 * 8 } as const;

/**
 * memleak.bpf.c: "allocs" (maxAllocs entries of address → 24 B; preallocated in kernel mode: ~80 B per
 * entry plus 16 B per bucket, so 10 M entries take ~1.1 GB), the two stack maps (whole stacks per
 * entry, ~17 MB each), per-CPU scratch and counters, and per-thread task storage (small, not counted).
 */
export function memleakKernelBytes(maxAllocs: number): number {
  return (
    mapBytes.hash(maxAllocs, MEMLEAK.allocKey, MEMLEAK.allocValue) +
    mapBytes.stackTrace(MEMLEAK.stackMapEntries, MEMLEAK.stackBytes) +
    mapBytes.hash(MEMLEAK.overflowEntries, 4, MEMLEAK.stackBytes) +
    mapBytes.percpuArray(1, MEMLEAK.stackBytes) +
    mapBytes.percpuArray(1, MEMLEAK.counters) +
    mapBytes.global() +
    unwindPrivateBytes()
  );
}

export const memleakRunType: RunType<'memleak', 'memleak', MemleakNativeParts> = {
  jobType: 'memleak',
  available: (host) => host.btf,
  kernelBytes: (s) => memleakKernelBytes(s?.maxAllocs || 1_000_000),
  batches: { memleakSnapshot: {} },
  native: () => ({ createMemleak: (opts) => new MemleakTracer({ objectPath: objectPath('memleak'), ...opts }) }),
  create: (...a) => new MemleakRun(...a),
};
