import { SyscountTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { mapBytes } from '../kernel-memory';
import type { RunType } from '../run-type';
import { SyscountRun, type SyscountNativeParts } from './syscount.run';

/** syscount.bpf.o: the (process, syscall) hash map (8 B keys, 24 B values), per-CPU counters, .rodata. */
export function syscountKernelBytes(maxKeys: number): number {
  return mapBytes.hash(maxKeys, 8, 24) + mapBytes.percpuArray(2, 8) + mapBytes.global();
}

export const syscountRunType: RunType<'syscount', 'syscount', SyscountNativeParts> = {
  jobType: 'syscount',
  // The raw_syscalls:sys_enter tracepoint (tracefs is mounted at run start if needed) and syscount.bpf.o.
  available: (host) => host.btf && host.objectBuilt('syscount'),
  kernelBytes: (s) => syscountKernelBytes(s?.maxKeys || 16_384),
  native: () => ({ createSyscount: (opts) => new SyscountTracer({ objectPath: objectPath('syscount'), ...opts }) }),
  create: (...a) => new SyscountRun(...a),
};
