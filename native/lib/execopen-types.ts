// Types of the exec-open tracer's facade (ExecOpenTracer in execopen.ts): options, events, stats, layout.
import type { RingFill, TargetOptions, TargetPidSink } from './target-types';

export interface ExecOpenTracerOptions extends TargetOptions {
  /** Path to execopen.bpf.o (`objectPath('execopen')` from @tracefleet/bpf). */
  objectPath: string;
  /** Only this process (tgid). */
  pid?: number;
  /** Only tasks with this comm (1..15 bytes, exact); an exec is matched on the new program's comm. */
  comm?: string;
  /** Trace execve/execveat. Default true. */
  exec?: boolean;
  /** Trace open/openat/openat2. Default true. Not both false. */
  open?: boolean;
  /** Only calls that returned an error. */
  failedOnly?: boolean;
  /** Events streamed over the whole run, 0..10_000_000; later ones are only counted (`overBudget`). */
  maxEvents: number;
  /** Threads inside an open at once, 64..2^20 (execs: 1024); more are counted as `noStart`. Default 8192. */
  maxPending?: number;
  /** Ring buffer size, a power of two >= 4096. Default 1 MiB. */
  ringBufferBytes?: number;
  /** Bound of the native queue between the poll thread and JS; overflow is counted. Default 65536. */
  maxQueuedEvents?: number;
  /** Called on the JS thread with batches of events, in the order they returned per CPU. */
  onEvents: (events: ExecOpenRawEvent[]) => void;
}

/**
 * One exec or open, sent when the syscall returned. Strings read from the traced process's memory have control
 * bytes escaped as \xNN and backslashes doubled; other bytes are decoded as UTF-8 (invalid ones become U+FFFD).
 */
export interface ExecOpenRawEvent {
  kind: 'exec' | 'open';
  syscall: 'execve' | 'execveat' | 'open' | 'openat' | 'openat2';
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  /** At the return: an exec's new program when it succeeded. */
  comm: string;
  /** 0 or an fd, or -errno. */
  ret: number;
  /** bpf_ktime_get_ns (CLOCK_MONOTONIC) at the return. */
  tsNs: bigint;
  /** The directory fd of openat/openat2/execveat; -100 (AT_FDCWD) otherwise. */
  dfd: number;
  /** The exec's file name or the opened path (as passed: may be relative). */
  path: string;
  /** exec: argv (at most 20 entries of 127 bytes). */
  args?: string[];
  /** open: the flags and mode. */
  flags?: number;
  mode?: number;
  /** argv had more entries than were read. */
  argsTruncated: boolean;
  /** An argument or the path was cut at its byte limit. */
  truncated: boolean;
  /** A read of the process's memory failed (what follows it is missing). */
  readFailed: boolean;
}

export interface ExecOpenStats {
  /** Execs and opens that returned and passed the filters (streamed or not). */
  execs: bigint;
  opens: bigint;
  /** Calls not followed: the pending maps were full (maxPending). */
  noStart: bigint;
  overBudget: bigint;
  kernelDrops: bigint;
  queueDrops: bigint;
  delivered: bigint;
  ring: RingFill;
}

export interface NativeExecOpenTracer extends TargetPidSink {
  start(): void;
  stop(): Promise<ExecOpenStats>;
  stats(): ExecOpenStats;
  close(): void;
}

export interface ExecOpenLayout {
  size: number;
  openArgsSize: number;
  offsets: Record<string, number>;
  EXECOPEN_MAX_ARGS: number;
  EXECOPEN_ARG_BYTES: number;
  EXECOPEN_DATA_BYTES: number;
  EXECOPEN_PATH_BYTES: number;
  EXECOPEN_HEADER_BYTES: number;
  EXECOPEN_COUNTER_MAX: number;
}
