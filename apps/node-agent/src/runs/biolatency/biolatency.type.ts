import { BiolatencyTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { MAP_OVERHEAD, mapBytes, possibleCpus } from '../kernel-memory';
import type { RunType } from '../run-type';
import { BiolatencyRun, PER_DISK_HISTS, PER_PROCESS_HISTS, type BiolatencyNativeParts } from './biolatency.run';

/** struct biolat_start (8 + 8 + 4 + 16 + 4), struct biolat_key (4 + 4 + 16), struct biolat_hist ((27 + 24 + 2) × 8). */
const START_BYTES = 40;
const KEY_BYTES = 24;
const HIST_BYTES = 53 * 8;

/** A preallocated BPF_MAP_TYPE_PERCPU_HASH: the buckets, each element (header, key, a per-CPU pointer) and its value on every CPU. */
function percpuHashBytes(entries: number, key: number, value: number, cpus = possibleCpus()): number {
  const r8 = (n: number): number => Math.ceil(n / 8) * 8;
  return 2 ** Math.ceil(Math.log2(Math.max(1, entries))) * 16 + entries * (48 + r8(key) + 8) + entries * r8(value) * cpus + MAP_OVERHEAD;
}

/**
 * biolatency.bpf.o: the in-flight map (8 B request pointer → start), the histograms (perProcess: a shared hash; per
 * disk: a per-CPU hash; the other one keeps one entry), per-CPU counters, .rodata.
 */
export function biolatencyKernelBytes(maxRequests: number, perProcess: boolean): number {
  const shared = mapBytes.hash(perProcess ? PER_PROCESS_HISTS : 1, KEY_BYTES, HIST_BYTES);
  const perCpu = percpuHashBytes(perProcess ? 1 : PER_DISK_HISTS, KEY_BYTES, HIST_BYTES);
  return mapBytes.hash(maxRequests, 8, START_BYTES) + shared + perCpu + mapBytes.percpuArray(4, 8) + mapBytes.global();
}

export const biolatencyRunType: RunType<'biolatency', 'biolatency', BiolatencyNativeParts> = {
  jobType: 'biolatency',
  // tp_btf programs need the kernel's BTF (no tracefs); and biolatency.bpf.o.
  available: (host) => host.btf && host.objectBuilt('biolatency'),
  kernelBytes: (s) => biolatencyKernelBytes(s?.maxRequests || 10_240, s?.perProcess ?? false),
  native: () => ({ createBiolatency: (opts) => new BiolatencyTracer({ objectPath: objectPath('biolatency'), ...opts }) }),
  create: (...a) => new BiolatencyRun(...a),
};
