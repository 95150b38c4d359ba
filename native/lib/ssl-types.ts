// Types of the TLS tracer's facade (SslTracer in index.ts): probes, options, events, stats, layout.
import type { UnwindCounters, Unwinder } from './unwind';
import type { TargetCgroupOption, RingFill } from './target-types';
import type { PythonCounters, PythonFrameFields, PythonLayoutSink } from './python-types';

export type SslFunctionName =
  | 'SSL_read'
  | 'SSL_write'
  | 'SSL_read_ex'
  | 'SSL_write_ex'
  | 'SSL_do_handshake'
  | 'gnutls_record_recv'
  | 'gnutls_record_send'
  | 'crypto/tls.(*Conn).Read'
  | 'crypto/tls.(*Conn).Write'
  | 'PR_Read'
  | 'PR_Write'
  | 'PR_Recv'
  | 'PR_Send';

/** The functions SslTracer can probe, in the order of their ids in ssl.h (SSL_FN_READ = 1, ...). */
export const SSL_FUNCTIONS: readonly SslFunctionName[] = [
  'SSL_read',
  'SSL_write',
  'SSL_read_ex',
  'SSL_write_ex',
  'SSL_do_handshake',
  'gnutls_record_recv',
  'gnutls_record_send',
  'crypto/tls.(*Conn).Read',
  'crypto/tls.(*Conn).Write',
  'PR_Read',
  'PR_Write',
  'PR_Recv',
  'PR_Send',
];

/** OpenSSL's functions of SSL_FUNCTIONS (what libssl.so.3 defines). */
export const OPENSSL_FUNCTIONS: readonly SslFunctionName[] = SSL_FUNCTIONS.filter((f) => f.startsWith('SSL_'));

export interface SslProbeSpec {
  /** File to probe: libssl.so.3, libgnutls.so.30, a binary with OpenSSL linked in; may be a /proc/PID/root/... path. */
  path: string;
  fn: SslFunctionName;
  /**
   * File offset of the entry site: the function's own offset, or any instruction boundary before the arguments
   * are touched where %rdi (SSL*), %rsi (buf), %rdx (num) and %rcx (readbytes/written of the _ex functions) still
   * hold them. A site the kernel emulates (a jump, a push) costs far less than one it single-steps (`sub`, `mov`).
   */
  entryOffset: bigint;
  /**
   * 'uretprobe': a uretprobe at returnOffset, which must be the function's entry offset. 'uprobe': a plain uprobe at
   * returnOffset, a site inside the function that every return path passes with the return value in %eax.
   */
  returnKind: 'uretprobe' | 'uprobe';
  returnOffset: bigint;
  /**
   * More plain-uprobe return sites (returnKind 'uprobe' only), up to 64: Go's crypto/tls functions take one on each
   * `ret` (their return values are in registers there; a uretprobe would corrupt a Go stack that moves).
   */
  moreReturns?: bigint[];
  /** Attach for this process only; undefined or -1: every process that maps the file. */
  pid?: number;
}

/** targetCgroup: only processes of that cgroup subtree, ANDed with pids / comm (which OR with each other). */
/** How SslTracer links uprobes: 'uprobe_multi' (one link per file, program and probe kind) or 'perf_event' (one per offset). */
export type SslLinkKind = 'uprobe_multi' | 'perf_event';

export interface SslTracerOptions extends TargetCgroupOption {
  /** Path to ssl.bpf.o (`objectPath('ssl')` from @tracefleet/bpf). */
  objectPath: string;
  /** Plaintext bytes copied per call, 0..16384; a call that moved more is marked `truncated`. */
  maxDataBytes: number;
  /** Record the user stack at the return (leaf first, up to 127 frames). Default false. */
  captureStacks?: boolean;
  /**
   * In-kernel tgid filter (up to 4096, changed with setPids()); ORed with comm. Give [] to start empty and add pids
   * later. Neither pids nor comm: every process.
   */
  pids?: number[];
  /** In-kernel exact comm filter, 1..15 bytes. */
  comm?: string;
  /** Never traced (up to 64). The tracer's own process is never traced either. */
  excludePids?: number[];
  /** Ring buffer size, a power of two >= 4096 (a record is 104 bytes + data + stack + Python frames). Default 8 MiB. */
  ringBufferBytes?: number;
  /**
   * Bound of the native queue between the poll thread and JS; overflow is counted (queueDrops). Default 65536.
   * Each queued event holds its data: the queue can take up to maxQueuedEvents × (maxDataBytes + 1 KiB).
   */
  maxQueuedEvents?: number;
  /** Called on the JS thread with batches of at most 1024 events, about every 100 ms. */
  /** Walk captured user stacks with this Unwinder's tables (frame pointers only without it). */
  unwinder?: Unwinder;
  /**
   * With captureStacks: read the Python frames of the processes given with setPythonProcess at the return (the
   * caller's frames are still current there), up to 128 more words per record. Default false.
   */
  python?: boolean;
  /**
   * Content filter (up to 16, 1..16 bytes each, no NUL): a connection (pid, ssl) is recorded from its first call whose
   * plaintext starts with one of these; the calls before, and all calls of connections that never match, are counted
   * (`filtered`) and never copied. Handshakes pass.
   */
  prefixes?: Buffer[];
  /**
   * Headers only (non-empty; same limits): a call is recorded only when its plaintext starts with one of these; the
   * others are counted (`skipped`) and summed into the connection's next record of the same direction.
   */
  messageStarts?: Buffer[];
  /**
   * Port filter (up to 16 ports, 1..65535): a connection is recorded when its socket's local or peer port is one of
   * these. Its socket is learnt from the first read/write/send/recv syscall inside one of its calls (syscall
   * tracepoints, attached for this only; Go: from its *net.TCPConn); until then its calls are `filtered` (and counted
   * in `noSocket`).
   */
  ports?: number[];
  /**
   * One perf-event uprobe per offset, even where the kernel has uprobe_multi links (Linux 6.6+; by default every
   * attach() call then takes one link per file, program and probe kind, and a detach waits for the kernel's RCU
   * grace periods once per link rather than once per offset). For comparing the two in a bench.
   */
  perOffsetLinks?: boolean;
  onEvents: (events: SslRawEvent[]) => void;
}

export interface SslRawEvent extends PythonFrameFields {
  pid: number;
  tid: number;
  comm: string;
  fn: SslFunctionName;
  /** The id attach() returned for the probe pair that recorded this call. */
  attachId: number;
  /** The function's int return value. */
  ret: number;
  /** Bytes the call moved: ret > 0 for SSL_read/SSL_write, *readbytes/*written for the _ex functions when ret == 1, else 0. */
  length: number;
  /** From the entry probe to the return probe. */
  latencyNs: number;
  /** The SSL* argument: tells connections apart. */
  ssl: bigint;
  /** bpf_ktime_get_ns at the return: CLOCK_MONOTONIC, comparable with process.hrtime.bigint(). */
  tsNs: bigint;
  /** The first min(length, maxDataBytes) bytes (fewer on readError). */
  data: Buffer;
  /** length > maxDataBytes. */
  truncated: boolean;
  /** Reading the caller's memory failed: data is a shorter prefix, or (for _ex) length is unknown and 0. */
  readError: boolean;
  /** Leaf first; empty without captureStacks. */
  userStack: BigUint64Array;
  /** 0 or a negative errno from bpf_get_stack. */
  userStackError: number;
  /** messageStarts: calls of this connection and direction skipped since its previous record, and their bytes. */
  skippedCalls: number;
  skippedBytes: number;
}

export interface SslStats {
  /** Returns of calls that passed the filter at entry, summed over CPUs; = delivered + kernelDrops + queueDrops once stopped. */
  eventsSeen: bigint;
  /** Ring buffer output failures (ring full). */
  kernelDrops: bigint;
  /** Events dropped by the native queue because JS did not keep up. */
  queueDrops: bigint;
  /** Events handed to onEvents. */
  delivered: bigint;
  /** Returns of a filtered-in process with no matching entry: calls under way when the probes were attached. */
  orphanReturns: bigint;
  /** Calls made inside a traced call of the same thread; only the outer one is recorded. */
  nested: bigint;
  /** Events with readError. */
  readErrors: bigint;
  /** Calls of connections the content filter (prefixes) has not admitted: not copied, not in eventsSeen. */
  filtered: bigint;
  /** messageStarts: calls that started no message: not copied, not in eventsSeen. */
  skipped: bigint;
  /** ports: calls filtered because their connection's socket was not known yet (also in filtered). */
  noSocket: bigint;
  /** How captured user stacks were walked (all zero without an unwinder). */
  unwind: UnwindCounters;
  /** How Python frames were read (all zero without python or without a process given). */
  python: PythonCounters;
  ring: RingFill;
}

/** sizeof/offsetof of struct ssl_event and struct ssl_call and the constants of ssl.h the addon was compiled with. */
export interface SslEventLayout {
  size: number;
  offsets: Record<
    | 'ts_ns'
    | 'latency_ns'
    | 'ssl'
    | 'ret'
    | 'length'
    | 'pid'
    | 'tid'
    | 'comm'
    | 'fn'
    | 'attach_id'
    | 'data_len'
    | 'flags'
    | 'stack_bytes'
    | 'py_frames_count'
    | 'py_truncated'
    | 'skipped_calls'
    | 'pad'
    | 'skipped_bytes',
    number
  >;
  callSize: number;
  callOffsets: Record<'ssl' | 'buf' | 'num' | 'lenptr' | 'ts_ns' | 'cookie' | 'depth' | 'sock_fd', number>;
  SSL_MAX_DATA: number;
  SSL_DATA_CHUNK: number;
  SSL_MAX_CALLS: number;
  SSL_MAX_PIDS: number;
  SSL_MAX_EXCLUDED: number;
  SSL_NEST_MAX_AGE_NS: number;
  SSL_FN_READ: number;
  SSL_FN_WRITE: number;
  SSL_FN_READ_EX: number;
  SSL_FN_WRITE_EX: number;
  SSL_FN_DO_HANDSHAKE: number;
  SSL_FN_GNUTLS_RECV: number;
  SSL_FN_GNUTLS_SEND: number;
  SSL_FN_GO_READ: number;
  SSL_FN_GO_WRITE: number;
  SSL_FN_NSS_READ: number;
  SSL_FN_NSS_WRITE: number;
  SSL_FN_NSS_RECV: number;
  SSL_FN_NSS_SEND: number;
  SSL_MAX_NSS: number;
  SSL_FN_MAX: number;
  SSL_COOKIE_FN_BITS: number;
  SSL_FLAG_TRUNCATED: number;
  SSL_FLAG_READ_ERROR: number;
  SSL_COUNTER_EVENTS_SEEN: number;
  SSL_COUNTER_KERNEL_DROPS: number;
  SSL_COUNTER_ORPHAN_RETURNS: number;
  SSL_COUNTER_NESTED: number;
  SSL_COUNTER_READ_ERRORS: number;
  SSL_COUNTER_FILTERED: number;
  SSL_COUNTER_SKIPPED: number;
  SSL_COUNTER_MAX: number;
  SSL_MAX_CONNS: number;
  SSL_MAX_PREFIXES: number;
  SSL_PREFIX_BYTES: number;
  SSL_MAX_PORTS: number;
  SSL_COUNTER_NO_SOCKET: number;
}

export interface NativeSslTracer extends PythonLayoutSink {
  start(): void;
  attach(probes: SslProbeSpec[]): number[];
  detach(ids: number[]): void;
  /**
   * detach() on a worker thread: the kernel waits for RCU grace periods once per link it removes (~0.07 s
   * each here), which would stall the JS thread. Until the promise settles, attach, detach, stop and close throw.
   */
  detachAsync(ids: number[]): Promise<void>;
  linkKind(): SslLinkKind;
  setPids(add: number[], remove?: number[]): void;
  /**
   * Where `pid` maps NSS's libssl3.so ([lo, hi), the addresses of its mappings): PR_Read/PR_Write/PR_Recv/PR_Send on
   * a descriptor whose methods table lies there are TLS (an NSS SSL layer); on others (files, plain sockets), and in
   * processes never given, they are ignored. lo = hi = 0n forgets the pid. Up to 4096 processes.
   */
  setNssLayer(pid: number, lo: bigint, hi: bigint): void;
  stop(): Promise<SslStats>;
  stats(): SslStats;
  close(): void;
}
