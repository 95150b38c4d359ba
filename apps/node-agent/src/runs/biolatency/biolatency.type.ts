import { BiolatencyTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { mapBytes } from '../kernel-memory';
import type { RunType } from '../run-type';
import { BiolatencyRun, PER_DISK_HISTS, PER_PROCESS_HISTS, type BiolatencyNativeParts } from './biolatency.run';

/** struct biolat_start (8 + 8 + 4 + 16 + 4), struct biolat_key (4 + 4 + 16), struct biolat_hist ((27 + 24 + 2) × 8). */
const START_BYTES = 40;
const KEY_BYTES = 24;
const HIST_BYTES = 53 * 8;

/** biolatency.bpf.o: the in-flight map (8 B request pointer → start), the histograms, per-CPU counters, .rodata. */
export function biolatencyKernelBytes(maxRequests: number, perProcess: boolean): number {
  const hists = perProcess ? PER_PROCESS_HISTS : PER_DISK_HISTS;
  return mapBytes.hash(maxRequests, 8, START_BYTES) + mapBytes.hash(hists, KEY_BYTES, HIST_BYTES) + mapBytes.percpuArray(4, 8) + mapBytes.global();
}

export const biolatencyRunType: RunType<'biolatency', 'biolatency', BiolatencyNativeParts> = {
  jobType: 'biolatency',
  // tp_btf programs need the kernel's BTF (no tracefs); and biolatency.bpf.o.
  available: (host) => host.btf && host.objectBuilt('biolatency'),
  kernelBytes: (s) => biolatencyKernelBytes(s?.maxRequests || 10_240, s?.perProcess ?? false),
  native: () => ({ createBiolatency: (opts) => new BiolatencyTracer({ objectPath: objectPath('biolatency'), ...opts }) }),
  create: (...a) => new BiolatencyRun(...a),
};
