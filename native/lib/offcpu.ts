// The off-CPU facade (offcpu.bpf.o through the addon's OffCpuTracer).
import { loadAddon } from './index';
import { MapTracer } from './map-tracer';
import type { NativeOffCpuTracer, OffCpuDelta, OffCpuOptions, OffCpuStats } from './offcpu-types';

/**
 * Time threads spend blocked off the CPU, by stack (libbpf-tools offcputime): tp_btf sched_switch takes a blocking
 * thread's user stack (the agent's unwind tables) and kernel stack as it goes off, and adds the time until it runs
 * again to that key in the kernel. The constructor loads the program (errors carry the verifier log); start()
 * attaches; read() returns each key's growth since the previous read.
 */
export class OffCpuTracer extends MapTracer<NativeOffCpuTracer, OffCpuDelta[]> {
  readonly #native: NativeOffCpuTracer;

  constructor(opts: OffCpuOptions) {
    const { unwinder, ...rest } = opts;
    const native = new (loadAddon().OffCpuTracer)(unwinder ? { ...rest, unwinder: unwinder.handle } : rest);
    super(native);
    this.#native = native;
  }

  /** The kernel's counters and the unwinder's (what read() returns is the growth of each key since the last read). */
  stats(): OffCpuStats {
    return this.#native.stats();
  }
}
