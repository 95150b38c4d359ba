// The tcp facade (tcp.bpf.o through the addon's TcpTracer): tcplife and tcpconnlat from sock:inet_sock_set_state.
import { loadAddon } from './index';
import type { NativeTcpTracer, TcpStats, TcpTracerOptions } from './tcp-types';

/**
 * TCP connections: one tp_btf program on sock:inet_sock_set_state streams each connection when it closes (pid,
 * comm, addresses, ports, bytes, lifetime, connect latency) and keeps a log2 histogram of connect latency. The
 * constructor loads the program (errors carry the verifier log); start() attaches and starts the poll thread.
 */
export class TcpTracer {
  readonly #native: NativeTcpTracer;

  constructor(opts: TcpTracerOptions) {
    this.#native = new (loadAddon().TcpTracer)(opts);
  }

  start(): void {
    this.#native.start();
  }

  /** Detaches, drains the ring buffer, delivers the last batch, then resolves with the final stats. */
  stop(): Promise<TcpStats> {
    return this.#native.stop();
  }

  stats(): TcpStats {
    return this.#native.stats();
  }

  /** With targetPids: traces this process's connections (tgid) from now on. */
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
