// The oomkill facade (oomkill.bpf.o through the addon's OomkillTracer): OOM kills from the oom:mark_victim tracepoint.
import { loadAddon } from './index';
import type { NativeOomkillTracer, OomkillStats, OomkillTracerOptions } from './oomkill-types';

/**
 * OOM kills: one tracepoint program on oom:mark_victim streams each kill (the victim's pid, comm, uid, oom_score_adj and
 * memory figures in KiB; the trigger: the task whose allocation ran out). The constructor loads the program (errors
 * carry the verifier log); start() attaches (tracefs must be mounted) and starts the poll thread.
 */
export class OomkillTracer {
  readonly #native: NativeOomkillTracer;

  constructor(opts: OomkillTracerOptions) {
    this.#native = new (loadAddon().OomkillTracer)(opts);
  }

  start(): void {
    this.#native.start();
  }

  /** Detaches, drains the ring buffer, delivers the last batch, then resolves with the final stats. */
  stop(): Promise<OomkillStats> {
    return this.#native.stop();
  }

  stats(): OomkillStats {
    return this.#native.stats();
  }

  /** With targetPids: reports this process's kills (as the victim) from now on. */
  addTargetPid(pid: number): void {
    this.#native.addTargetPid(pid);
  }

  removeTargetPid(pid: number): void {
    this.#native.removeTargetPid(pid);
  }

  /** Frees every BPF fd of this tracer; idempotent; stops a running tracer. */
  close(): void {
    this.#native.close();
  }
}
