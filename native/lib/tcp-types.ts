// Types of the tcp tracer's facade (TcpTracer in tcp.ts): options, connections, stats, layout.
import type { RingFill, TargetOptions, TargetPidSink } from './target-types';

export interface TcpTracerOptions extends TargetOptions {
  /** Path to tcp.bpf.o (`objectPath('tcp')` from @tracefleet/bpf). */
  objectPath: string;
  /** Only connections named by this process (tgid). */
  pid?: number;
  /** Only connections named by a task with this comm (1..15 bytes, exact). */
  comm?: string;
  /** Only IPv4 (4) or IPv6 (6) connections; both when absent. */
  family?: 4 | 6;
  /** Only connections whose local or remote port is one of these (at most 8). */
  ports?: number[];
  /** Connections streamed over the whole run, 0..10_000_000; later ones are only counted (`overBudget`). */
  maxEvents: number;
  /** Sockets followed at once, 64..2^20; births beyond are counted as `noStart`. Default 16384. */
  maxSockets?: number;
  /** Ring buffer size, a power of two >= 4096. Default 1 MiB. */
  ringBufferBytes?: number;
  /** Bound of the native queue between the poll thread and JS; overflow is counted. Default 65536. */
  maxQueuedEvents?: number;
  /** Called on the JS thread with batches of closed connections. */
  onEvents: (connections: TcpRawConnection[]) => void;
}

/** One connection, sent when it reached TCP_CLOSE. */
export interface TcpRawConnection {
  /** Who it is attributed to (see pidSource). */
  pid: number;
  comm: string;
  family: 4 | 6;
  /** Local and remote address, as inet_ntop writes them. */
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  /** bpf_ktime_get_ns (CLOCK_MONOTONIC) at its first state change and at TCP_CLOSE. */
  startNs: bigint;
  endNs: bigint;
  /** SYN_SENT to ESTABLISHED, ns; 0n for a passive socket or a connect that failed. */
  connectNs: bigint;
  /** tcp_sock.bytes_received and bytes_acked at close. */
  rxBytes: bigint;
  txBytes: bigint;
  /** This side called connect(). */
  active: boolean;
  /** The task named: the one that called connect(), the one that called close(), or whoever ran at the final CLOSE. */
  pidSource: 'connect' | 'close' | 'current';
}

export interface TcpStats {
  /** Connections that closed and passed the filters (streamed or not). */
  closed: bigint;
  /** Active connects measured into connectSlots. */
  connects: bigint;
  /** Sockets the full socks map refused (maxSockets). */
  noStart: bigint;
  /** Closes of sockets not followed: born before the run started, or refused by the full map (noStart). */
  untracked: bigint;
  overBudget: bigint;
  kernelDrops: bigint;
  queueDrops: bigint;
  delivered: bigint;
  /** Slot i counts connects of [2^i, 2^(i+1)) µs (slot 0 also under 1 µs); the last slot everything above. */
  connectSlots: bigint[];
  connectTotalNs: bigint;
  ring: RingFill;
}

export interface NativeTcpTracer extends TargetPidSink {
  start(): void;
  stop(): Promise<TcpStats>;
  stats(): TcpStats;
  close(): void;
}

export interface TcpLayout {
  size: number;
  sockInfoSize: number;
  histSize: number;
  offsets: Record<string, number>;
  TCP_SLOTS: number;
  TCP_MAX_PORTS: number;
  TCP_DEFAULT_MAX_SOCKETS: number;
  TCP_COUNTER_MAX: number;
}
