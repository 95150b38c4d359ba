import { TcpTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { mapBytes } from '../kernel-memory';
import type { RunType } from '../run-type';
import { TcpRun, tcpRingBytes, type TcpNativeParts } from './tcp.run';

/** struct tcp_sock_info (tcp.h): three times, pid, flags and comm. */
const SOCK_INFO_BYTES = 48;
/** struct tcp_hist: 27 slots and the sum. */
const HIST_BYTES = 28 * 8;

/** tcp.bpf.o: the socket map (8 B pointer → 48 B), the ring buffer, the histogram, per-CPU counters, .rodata and .bss. */
export function tcpKernelBytes(maxSockets: number, maxEvents: number): number {
  return (
    mapBytes.hash(maxSockets, 8, SOCK_INFO_BYTES) +
    mapBytes.ringbuf(tcpRingBytes(maxEvents)) +
    mapBytes.percpuArray(1, HIST_BYTES, 1) + // a plain array: one copy

    mapBytes.percpuArray(6, 8) +
    2 * mapBytes.global()
  );
}

export { tcpRingBytes };

export const tcpRunType: RunType<'tcp', 'tcp', TcpNativeParts> = {
  jobType: 'tcp',
  // A tp_btf program needs the kernel's BTF (no tracefs); and tcp.bpf.o.
  available: (host) => host.btf && host.objectBuilt('tcp'),
  kernelBytes: (s) => tcpKernelBytes(s?.maxSockets || 16_384, s?.maxEvents ?? 0),
  batches: { tcpConnections: {} },
  native: () => ({ createTcp: (opts) => new TcpTracer({ objectPath: objectPath('tcp'), ...opts }) }),
  create: (...a) => new TcpRun(...a),
};
