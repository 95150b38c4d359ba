import { ExecOpenTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { mapBytes } from '../kernel-memory';
import type { RunType } from '../run-type';
import { ExecOpenRun, execOpenRingBytes, type ExecOpenNativeParts } from './exec-open.run';

/** execopen.h: an exec in progress (struct execopen_event, argv included), an open in progress, the map sizes. */
const EXEC_ENTRY_BYTES = 72 + 2816;
const OPEN_ENTRY_BYTES = 24;
const MAX_EXECS = 1024;
const MAX_OPENS = 8192;

/**
 * execopen.bpf.o: the "execs" map (1024 threads → 2.9 KB, or 1 entry when execs are not traced), the "opens" map
 * (8192 threads → 24 B, or 1), the ring buffer, per-CPU counters, .rodata (with the 2.9 KB empty event) and .bss.
 */
export function execOpenKernelBytes(exec: boolean, open: boolean, maxEvents: number): number {
  return (
    mapBytes.hash(exec ? MAX_EXECS : 1, 4, EXEC_ENTRY_BYTES) +
    mapBytes.hash(open ? MAX_OPENS : 1, 4, OPEN_ENTRY_BYTES) +
    mapBytes.ringbuf(execOpenRingBytes(maxEvents)) +
    mapBytes.percpuArray(5, 8) +
    2 * mapBytes.global()
  );
}

export { execOpenRingBytes };

export const execOpenRunType: RunType<'execOpen', 'exec-open', ExecOpenNativeParts> = {
  jobType: 'exec-open',
  // The syscalls tracepoints (tracefs is mounted at run start if needed) and execopen.bpf.o.
  available: (host) => host.btf && host.objectBuilt('execopen'),
  kernelBytes: (s) => execOpenKernelBytes(s?.exec ?? true, s?.open ?? true, s?.maxEvents ?? 0),
  batches: { execOpenEvents: {} },
  native: () => ({ createExecOpen: (opts) => new ExecOpenTracer({ objectPath: objectPath('execopen'), ...opts }) }),
  create: (...a) => new ExecOpenRun(...a),
};
