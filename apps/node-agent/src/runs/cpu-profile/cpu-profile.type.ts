import { Profiler } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { mapBytes, pythonPrivateBytes, unwindPrivateBytes } from '../kernel-memory';
import { profileRingBytes } from './ring-bytes';
import type { RunType } from '../run-type';
import { AGENT_MAX_PROFILE_STACKS } from './aggregate';
import { CpuProfileRun, type NativeParts } from './cpu-profile.run';

/** profile.bpf.o: events ring buffer, per-CPU counters, .rodata, the unwinder's per-CPU scratch and counters, Python's maps. */
export function cpuProfileKernelBytes(frequencyHz: number): number {
  return mapBytes.ringbuf(profileRingBytes(frequencyHz)) + mapBytes.percpuArray(2, 8) + mapBytes.global() + unwindPrivateBytes() + pythonPrivateBytes();
}

export const cpuProfileRunType: RunType<'cpuProfile', 'cpu-profile', NativeParts> = {
  jobType: 'cpu-profile',
  // Kernel stacks are named from /proc/kallsyms.
  available: (host) => host.btf && host.exists('/proc/kallsyms'),
  // No spec (the first agents' StartRun): the highest rate this estimate may meet.
  kernelBytes: (spec) => cpuProfileKernelBytes(spec?.frequencyHz ?? 1000),
  batches: { profileBatch: { maxStacks: AGENT_MAX_PROFILE_STACKS } },
  native: () => ({ createProfiler: (opts) => new Profiler({ objectPath: objectPath('profile'), ...opts }) }),
  create: (...a) => new CpuProfileRun(...a),
};
