// The exec-open facade (execopen.bpf.o through the addon's ExecOpenTracer): execsnoop and opensnoop.
import { loadAddon } from './index';
import type { NativeExecOpenTracer, ExecOpenStats, ExecOpenTracerOptions } from './execopen-types';

/**
 * Execs and opens: tracepoints on execve/execveat and open/openat/openat2 stream each call when it returns (pid,
 * comm, file name and argv or path, flags, return code). The constructor loads the programs (errors carry the
 * verifier log); start() attaches and starts the poll thread.
 */
export class ExecOpenTracer {
  readonly #native: NativeExecOpenTracer;

  constructor(opts: ExecOpenTracerOptions) {
    this.#native = new (loadAddon().ExecOpenTracer)(opts);
  }

  start(): void {
    this.#native.start();
  }

  /** Detaches, drains the ring buffer, delivers the last batch, then resolves with the final stats. */
  stop(): Promise<ExecOpenStats> {
    return this.#native.stop();
  }

  stats(): ExecOpenStats {
    return this.#native.stats();
  }

  /** With targetPids: traces this process (tgid) from now on. */
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
