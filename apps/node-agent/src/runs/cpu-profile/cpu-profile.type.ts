import { Profiler } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { mapBytes, unwindPrivateBytes } from '../kernel-memory';
import { PY_COUNTER_MAX, PY_MAX_PROCS, PY_MAX_THREADS, PY_PROC_SIZE, TRACEFLEET_MAX_PY_FRAMES } from '../python/layout';
import type { RunType } from '../run-type';
import { AGENT_MAX_PROFILE_STACKS } from './aggregate';
import { CpuProfileRun, type NativeParts } from './cpu-profile.run';

/** The profiler's ring buffer: the native default, which the run does not change. */
const RING_BYTES = 4 << 20;

/** python.bpf.h's maps: py_procs (filled as used), the thread-state cache (LRU, preallocated), counters, scratch. */
function pythonBytes(): number {
  const walk = PY_PROC_SIZE + 40 + 8 * TRACEFLEET_MAX_PY_FRAMES; // struct py_walk
  return mapBytes.hash(PY_MAX_PROCS, 4, PY_PROC_SIZE) + mapBytes.hash(PY_MAX_THREADS, 4, 8) + mapBytes.percpuArray(PY_COUNTER_MAX, 8) + mapBytes.percpuArray(1, walk);
}

/** profile.bpf.o: events ring buffer, per-CPU counters, .rodata, the unwinder's per-CPU scratch and counters, Python's maps. */
export function cpuProfileKernelBytes(): number {
  return mapBytes.ringbuf(RING_BYTES) + mapBytes.percpuArray(2, 8) + mapBytes.global() + unwindPrivateBytes() + pythonBytes();
}

export const cpuProfileRunType: RunType<'cpuProfile', 'cpu-profile', NativeParts> = {
  jobType: 'cpu-profile',
  // Kernel stacks are named from /proc/kallsyms.
  available: (host) => host.btf && host.exists('/proc/kallsyms'),
  kernelBytes: () => cpuProfileKernelBytes(),
  batches: { profileBatch: { maxStacks: AGENT_MAX_PROFILE_STACKS } },
  native: () => ({ createProfiler: (opts) => new Profiler({ objectPath: objectPath('profile'), ...opts }) }),
  create: (...a) => new CpuProfileRun(...a),
};
