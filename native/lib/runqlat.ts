// The run-queue latency facade (runqlat.bpf.o through the addon's RunqlatTracer).
import { loadAddon } from './index';
import type { NativeRunqlatTracer, RunqlatOptions, RunqlatReading } from './runqlat-types';

/**
 * Scheduler run-queue latency: log2 histograms (µs) of the time threads wait runnable before they run, from the
 * tp_btf tracepoints sched_wakeup, sched_wakeup_new and sched_switch. The constructor loads the program (errors carry
 * the verifier log); start() attaches; read() returns the histograms so far.
 */
export class RunqlatTracer {
  readonly #native: NativeRunqlatTracer;

  constructor(opts: RunqlatOptions) {
    this.#native = new (loadAddon().RunqlatTracer)(opts);
  }

  start(): void {
    this.#native.start();
  }

  read(): RunqlatReading {
    return this.#native.read();
  }

  /** Detaches the tracepoints; the histograms stay readable. */
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
