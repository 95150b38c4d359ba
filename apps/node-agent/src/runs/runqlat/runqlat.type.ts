import { RunqlatTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { mapBytes } from '../kernel-memory';
import type { RunType } from '../run-type';
import { RunqlatRun, type RunqlatNativeParts } from './runqlat.run';

/** Histograms the kernel keeps with perCgroup (RUNQLAT_MAX_HISTS in runqlat.h); one without. */
const MAX_HISTS = 1024;
/** struct runqlat_hist: 27 slots and the sum. */
const HIST_BYTES = 28 * 8;

/** runqlat.bpf.o: the waiting-thread map (4 B tid → 8 B time), the histograms (8 B keys), per-CPU counters, .rodata. */
export function runqlatKernelBytes(maxTasks: number, perCgroup: boolean): number {
  return mapBytes.hash(maxTasks, 4, 8) + mapBytes.hash(perCgroup ? MAX_HISTS : 1, 8, HIST_BYTES) + mapBytes.percpuArray(3, 8) + mapBytes.global();
}

export const runqlatRunType: RunType<'runqlat', 'runqlat', RunqlatNativeParts> = {
  jobType: 'runqlat',
  // tp_btf programs need the kernel's BTF (no tracefs); and runqlat.bpf.o.
  available: (host) => host.btf && host.objectBuilt('runqlat'),
  kernelBytes: (s) => runqlatKernelBytes(s?.maxTasks || 10_240, s?.perCgroup ?? false),
  native: () => ({ createRunqlat: (opts) => new RunqlatTracer({ objectPath: objectPath('runqlat'), ...opts }) }),
  create: (...a) => new RunqlatRun(...a),
};
