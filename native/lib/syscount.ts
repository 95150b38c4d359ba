// The syscall counter facade (syscount.bpf.o through the addon's SyscountTracer).
import { loadAddon } from './index';
import { MapTracer } from './map-tracer';
import type { NativeSyscountTracer, SyscountOptions, SyscountReading } from './syscount-types';

/**
 * Syscall counts per process from the raw_syscalls:sys_enter tracepoint. The constructor loads the program
 * (errors carry the verifier log); start() attaches; read() returns every (process, syscall) pair counted so far.
 */
export class SyscountTracer extends MapTracer<NativeSyscountTracer, SyscountReading> {
  constructor(opts: SyscountOptions) {
    super(new (loadAddon().SyscountTracer)(opts));
  }
}
