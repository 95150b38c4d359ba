import { OomkillTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { mapBytes } from '../kernel-memory';
import type { RunType } from '../run-type';
import { OomkillRun, oomkillRingBytes, type OomkillNativeParts } from './oomkill.run';

/** oomkill.bpf.o: the ring buffer, per-CPU counters, .rodata and .bss. */
export function oomkillKernelBytes(maxEvents: number): number {
  return mapBytes.ringbuf(oomkillRingBytes(maxEvents)) + mapBytes.percpuArray(3, 8) + 2 * mapBytes.global();
}

export const oomkillRunType: RunType<'oomkill', 'oomkill', OomkillNativeParts> = {
  jobType: 'oomkill',
  // A classic tracepoint (oom:mark_victim: its record carries the victim's memory figures); the run mounts
  // tracefs when missing. And oomkill.bpf.o.
  available: (host) => host.btf && host.objectBuilt('oomkill'),
  kernelBytes: (s) => oomkillKernelBytes(s?.maxEvents ?? 0),
  batches: { oomKills: {} },
  native: () => ({ createOomkill: (opts) => new OomkillTracer({ objectPath: objectPath('oomkill'), ...opts }) }),
  create: (...a) => new OomkillRun(...a),
};
