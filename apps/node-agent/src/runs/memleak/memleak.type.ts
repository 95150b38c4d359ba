import { MemleakTracer } from '@tracefleet/native';
import { MemleakMode } from '@tracefleet/proto';
import { objectPath } from '@tracefleet/bpf';
import { TRACEFLEET_MAX_STACK_DEPTH } from '../../lib/kernel-limits';
import { mapBytes, pythonPrivateBytes, pythonShrunkBytes, unwindPrivateBytes } from '../kernel-memory';
import { TRACEFLEET_MAX_PY_FRAMES } from '../python/layout';
import type { RunType } from '../run-type';
import { MemleakRun, type MemleakNativeParts } from './memleak.run';

/** memleak.bpf.c's constants (memleak.h) and the native tracer's defaults (memleak_tracer.cc). */
const MEMLEAK = {
  allocKey: 8,
  allocValue: 24,
  stackMapEntries: 16384,
  overflowEntries: 16384,
  stackBytes: TRACEFLEET_MAX_STACK_DEPTH * 8,
  counters: 8 * 8,
  pyStackEntries: 4096,
  pyStackBytes: 8 + TRACEFLEET_MAX_PY_FRAMES * 8,
} as const;

/**
 * The Python frames of allocations (user mode, memleak/python.bpf.h): python.bpf.h's maps, the distinct chains
 * (py_stacks: 4,096 of 1,032 bytes, allocated as chains come; counted full: ~4.6 MB) and their per-CPU scratch.
 * Without python (kernel mode) the native tracer shrinks the maps to one entry each.
 */
export function memleakPythonBytes(python: boolean): number {
  if (!python) return pythonShrunkBytes() + mapBytes.hash(1, 4, MEMLEAK.pyStackBytes) + mapBytes.percpuArray(1, MEMLEAK.pyStackBytes);
  return pythonPrivateBytes() + mapBytes.hash(MEMLEAK.pyStackEntries, 4, MEMLEAK.pyStackBytes) + mapBytes.percpuArray(1, MEMLEAK.pyStackBytes);
}

/**
 * memleak.bpf.c: "allocs" (maxAllocs entries of address → 24 B; preallocated in kernel mode: ~80 B per
 * entry plus 16 B per bucket, so 10 M entries take ~1.1 GB), the two stack maps (whole stacks per
 * entry, ~17 MB each), per-CPU scratch and counters, and per-thread task storage (small, not counted).
 */
export function memleakKernelBytes(maxAllocs: number, python = false): number {
  return (
    mapBytes.hash(maxAllocs, MEMLEAK.allocKey, MEMLEAK.allocValue) +
    mapBytes.stackTrace(MEMLEAK.stackMapEntries, MEMLEAK.stackBytes) +
    mapBytes.hash(MEMLEAK.overflowEntries, 4, MEMLEAK.stackBytes) +
    mapBytes.percpuArray(1, MEMLEAK.stackBytes) +
    mapBytes.percpuArray(1, MEMLEAK.counters) +
    mapBytes.global() +
    unwindPrivateBytes() +
    memleakPythonBytes(python)
  );
}

export const memleakRunType: RunType<'memleak', 'memleak', MemleakNativeParts> = {
  jobType: 'memleak',
  available: (host) => host.btf,
  // User mode may read Python frames (the agent's pythonFrames, on by default): counted whenever it may.
  kernelBytes: (s) => memleakKernelBytes(s?.maxAllocs || 1_000_000, s?.mode !== MemleakMode.MEMLEAK_MODE_KERNEL),
  batches: { memleakSnapshot: {} },
  native: () => ({ createMemleak: (opts) => new MemleakTracer({ objectPath: objectPath('memleak'), ...opts }) }),
  create: (...a) => new MemleakRun(...a),
};
