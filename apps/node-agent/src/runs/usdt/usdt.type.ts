import { UsdtTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { MAP_OVERHEAD, mapBytes, pythonPrivateBytes, unwindPrivateBytes } from '../kernel-memory';
import type { RunType } from '../run-type';
import { UsdtRun, type UsdtNativeParts } from './usdt.run';

/**
 * The estimate's ring buffer: the native default, 4 MiB. UsdtRun asks for more when maxEvents is large
 * (ringBytesFor: up to 64 MiB), which the estimate does not count yet.
 */
const RING_BYTES = 4 << 20;

/** usdt.bpf.o: events ring buffer, hits per probe and counters (per-CPU), libbpf's USDT spec maps. */
export function usdtKernelBytes(): number {
  // libbpf's usdt.bpf.h: __bpf_usdt_specs (array of 256 specs of 208 B) and __bpf_usdt_ip_to_spec_id (hash, 4 × 256 ips).
  const libbpfUsdt = 256 * 208 + MAP_OVERHEAD + mapBytes.hash(1024, 8, 4);
  // Globals: .rodata, .bss and .kconfig (usdt.bpf.h reads LINUX_HAS_BPF_COOKIE).
  return mapBytes.ringbuf(RING_BYTES) + mapBytes.percpuArray(64, 8) + mapBytes.percpuArray(2, 8) + libbpfUsdt + 3 * mapBytes.global() + unwindPrivateBytes() + pythonPrivateBytes();
}

export const usdtRunType: RunType<'usdt', 'usdt', UsdtNativeParts> = {
  jobType: 'usdt',
  available: (host) => host.btf,
  kernelBytes: () => usdtKernelBytes(),
  batches: { usdtEvents: {} },
  native: () => ({ createTracer: (opts) => new UsdtTracer({ objectPath: objectPath('usdt'), ...opts }) }),
  create: (...a) => new UsdtRun(...a),
};
