// The off-CPU facade (offcpu.bpf.o through the addon's OffCpuTracer).
import { loadAddon } from './index';
import type { NativeOffCpuTracer, OffCpuDelta, OffCpuOptions, OffCpuStats } from './offcpu-types';

/**
 * Time threads spend blocked off the CPU, by stack (libbpf-tools offcputime): tp_btf sched_switch takes a blocking
 * thread's user stack (the agent's unwind tables) and kernel stack as it goes off, and adds the time until it runs
 * again to that key in the kernel. The constructor loads the program (errors carry the verifier log); start()
 * attaches; read() returns each key's growth since the previous read.
 */
export class OffCpuTracer {
  readonly #native: NativeOffCpuTracer;

  constructor(opts: OffCpuOptions) {
    const { unwinder, ...rest } = opts;
    this.#native = new (loadAddon().OffCpuTracer)(unwinder ? { ...rest, unwinder: unwinder.handle } : rest);
  }

  start(): void {
    this.#native.start();
  }

  read(): OffCpuDelta[] {
    return this.#native.read();
  }

  stats(): OffCpuStats {
    return this.#native.stats();
  }

  /** Detaches the tracepoint; the maps stay readable for a last read(). */
  stop(): void {
    this.#native.stop();
  }

  /** With targetPids: measures this process's threads (tgid) from now on. */
  addTargetPid(pid: number): void {
    this.#native.addTargetPid(pid);
  }

  removeTargetPid(pid: number): void {
    this.#native.removeTargetPid(pid);
  }

  /** Frees every BPF fd of this tracer; idempotent. */
  close(): void {
    this.#native.close();
  }
}
