import { OffCpuTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { MAP_OVERHEAD, mapBytes, unwindPrivateBytes } from '../kernel-memory';
import type { RunType } from '../run-type';
import { AGENT_MAX_PROFILE_STACKS } from '../cpu-profile/aggregate';
import { OffCpuRun, type OffCpuNativeParts } from './off-cpu.run';

/** OFFCPU_DEFAULT_MAX_STACKS and OFFCPU_DEFAULT_MAX_TASKS (offcpu.h). */
const MAX_STACKS = 16_384;
const MAX_TASKS = 10_240;
/** A stack: 127 frames of 8 bytes (TRACEFLEET_MAX_STACK_DEPTH). */
const STACK_BYTES = 127 * 8;
/** struct offcpu_key (48 B), offcpu_value (16 B), offcpu_start (56 B). */
const KEY_BYTES = 48;

/**
 * offcpu.bpf.o: the blocked-thread map (tid → start), the counts (key → value), the user stacks (allocated as
 * filled; counted full), the kernel stack map, the per-CPU scratch (a stack and a start) and counters, .rodata,
 * the unwinder's own maps.
 */
export function offCpuKernelBytes(maxTasks: number, kernelStacks: boolean, userStacksFilled = true): number {
  // user_stacks (BPF_F_NO_PREALLOC) holds only its buckets until stacks arrive: admission counts it full.
  const userStacks = userStacksFilled ? mapBytes.hash(MAX_STACKS, 8, STACK_BYTES) : MAX_STACKS * 16 + MAP_OVERHEAD;
  return (
    mapBytes.hash(maxTasks, 4, KEY_BYTES + 8) +
    mapBytes.hash(MAX_STACKS, KEY_BYTES, 16) +
    userStacks +
    mapBytes.stackTrace(kernelStacks ? MAX_STACKS : 1, STACK_BYTES) +
    mapBytes.percpuArray(1, STACK_BYTES + KEY_BYTES + 8) +
    mapBytes.percpuArray(5, 8) +
    mapBytes.global() +
    unwindPrivateBytes()
  );
}

export const offCpuRunType: RunType<'offCpu', 'off-cpu', OffCpuNativeParts> = {
  jobType: 'off-cpu',
  // tp_btf needs the kernel's BTF; kernel stacks are named from /proc/kallsyms.
  available: (host) => host.btf && host.exists('/proc/kallsyms') && host.objectBuilt('offcpu'),
  kernelBytes: (s) => offCpuKernelBytes(s?.maxTasks || MAX_TASKS, !s?.skipKernelStacks),
  batches: { profileBatch: { maxStacks: AGENT_MAX_PROFILE_STACKS } },
  native: () => ({ createOffCpu: (opts) => new OffCpuTracer({ objectPath: objectPath('offcpu'), ...opts }) }),
  create: (...a) => new OffCpuRun(...a),
};
