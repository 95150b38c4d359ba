// Typed facade over the tracefleet_native addon and the one place that loads it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeUnwinder, UnwindCounters, Unwinder, UnwinderOptions, UnwindTable } from './unwind';

export * from './unwind';

export interface ProfilerOptions {
  /** Path to profile.bpf.o (`objectPath('profile')` from @tracefleet/bpf). */
  objectPath: string;
  /** Samples per second per CPU, 1..1000. */
  frequencyHz: number;
  /** Only this tgid; 0 or undefined profiles every process. */
  targetPid?: number;
  /** Only tasks whose comm is exactly this (at most 15 bytes). */
  targetComm?: string;
  /** Also sample the idle task (pid 0). Default false. */
  includeIdle?: boolean;
  /** Ring buffer size, a power of two >= 4096. Default 4 MiB. */
  ringBufferBytes?: number;
  /** Bound of the native queue between the poll thread and JS; overflow is counted. Default 65536. */
  maxQueuedSamples?: number;
  /** Walk user stacks with this Unwinder's tables (frame pointers only without it). */
  unwinder?: Unwinder;
  /** Called on the JS thread with batches of at most 1024 samples, about every 100 ms. */
  onSamples: (samples: RawSample[]) => void;
}

export interface RawSample {
  pid: number;
  tid: number;
  cpu: number;
  comm: string;
  /** Leaf first, as returned by bpf_get_stack. */
  kernelStack: BigUint64Array;
  /** Leaf first; every frame but the leaf is a return address. */
  userStack: BigUint64Array;
  /** 0 or a negative errno from bpf_get_stack. */
  kernelStackError: number;
  userStackError: number;
}

export interface ProfilerStats {
  /** Samples that passed the in-kernel filter, summed over CPUs. */
  samplesSeen: bigint;
  /** Ring buffer reserve failures, summed over CPUs. */
  kernelDrops: bigint;
  /** Samples dropped by the native queue because JS did not keep up. */
  queueDrops: bigint;
  /** Samples handed to onSamples. */
  delivered: bigint;
  /** How user stacks were walked (all zero without an unwinder). */
  unwind: UnwindCounters;
}

/** sizeof/offsetof of struct profile_event and the constants the addon was compiled with. */
export interface EventLayout {
  size: number;
  offsets: Record<
    'pid' | 'tid' | 'cpu' | 'kernel_stack_bytes' | 'user_stack_bytes' | 'comm' | 'pad' | 'kernel_stack' | 'user_stack',
    number
  >;
  TASK_COMM_LEN: number;
  MAX_STACK_DEPTH: number;
  PROFILE_COUNTER_SAMPLES: number;
  PROFILE_COUNTER_DROPS: number;
  PROFILE_COUNTER_MAX: number;
}

interface NativeProfiler {
  start(): void;
  stop(): Promise<ProfilerStats>;
  stats(): ProfilerStats;
  close(): void;
}

/** What the Symbolizer holds and how often its caches answered. */
export interface SymbolizerStats {
  /** Distinct mapped files (ELF images, the vDSO) open, each shared by every process that maps it. */
  files: number;
  /** Symbols indexed over those files. */
  symbols: number;
  /** Processes with state kept: their maps, identity, perf map and resolved addresses. */
  processes: number;
  /** (pid, address) → name results held, over all processes; bounded. */
  cachedAddresses: number;
  /** User frames asked for since the Symbolizer was created. */
  lookups: number;
  /** Of those, answered from a process's address cache. */
  cacheHits: number;
  /** Reads of /proc/<pid>/maps: at first sight of a process, then at most once a second when an address lies outside every mapping. */
  mapsReads: number;
}

interface NativeSymbolizer {
  symbolizeUser(pid: number, addrs: BigUint64Array): string[];
  symbolizeKernel(addrs: BigUint64Array): string[];
  forget(pid: number): void;
  stats(): SymbolizerStats;
  close(): void;
}

export interface UsdtAttachSpec {
  /** Binary or shared library holding the probe (e.g. /usr/bin/python3.11, .../libjvm.so). */
  path: string;
  provider: string;
  name: string;
  /** Index reported back in events and in UsdtStats.hits, 0..63. Attachments may share one (same string settings). */
  probe: number;
  /** Argument (0..11) holding a user pointer to a string; up to 63 bytes are copied into `str`. */
  strArg?: number;
  /** Argument (0..11) holding that string's length; without it the string is read up to its NUL. */
  strLenArg?: number;
}

export interface UsdtTracerOptions {
  /** Path to usdt.bpf.o (`objectPath('usdt')` from @tracefleet/bpf). */
  objectPath: string;
  /** Attach for this process only, and filter its tgid in the kernel; undefined/0 = every process that maps the file. */
  pid?: number;
  /** 1..64 probes; one BPF program serves them all, told apart by the attach cookie. */
  probes: UsdtAttachSpec[];
  /** Events taken over the whole run, 0..10_000_000; later hits are only counted (UsdtStats.overBudget). */
  maxEvents: number;
  /** Record the user stack (leaf first, up to 127 frames) with each event. Default false. */
  captureStacks?: boolean;
  /** Ring buffer size, a power of two >= 4096. Default 4 MiB. */
  ringBufferBytes?: number;
  /** Bound of the native queue between the poll thread and JS; overflow is counted. Default 65536. */
  maxQueuedEvents?: number;
  /** Called on the JS thread with batches of at most 1024 events, about every 100 ms. */
  /** Walk captured user stacks with this Unwinder's tables (frame pointers only without it). */
  unwinder?: Unwinder;
  onEvents: (events: UsdtRawEvent[]) => void;
}

export interface UsdtRawEvent {
  probe: number;
  pid: number;
  tid: number;
  /** bpf_ktime_get_ns: CLOCK_MONOTONIC, comparable with process.hrtime.bigint(). */
  tsNs: bigint;
  /** The probe's arguments as signed 64-bit values (at most 12). */
  args: BigInt64Array;
  /** For a probe with strArg: the bytes read (at most 63), decoded as UTF-8. */
  str?: string;
  /** For a probe with strArg whose string could not be read: a negative errno. */
  strError?: number;
  /** Leaf first; empty without captureStacks. */
  userStack: BigUint64Array;
  /** 0 or a negative errno from bpf_get_stack. */
  userStackError: number;
}

export interface UsdtStats {
  /** Hits that passed the pid filter, per probe index (up to the highest index in use), summed over CPUs. */
  hits: bigint[];
  /** Hits after maxEvents events were taken. */
  overBudget: bigint;
  /** Ring buffer reserve failures. */
  kernelDrops: bigint;
  /** Events dropped by the native queue because JS did not keep up. */
  queueDrops: bigint;
  /** Events handed to onEvents. */
  delivered: bigint;
  /** How captured user stacks were walked (all zero without an unwinder). */
  unwind: UnwindCounters;
}

/** sizeof/offsetof of struct usdt_event and the constants of usdt.h the addon was compiled with. */
export interface UsdtEventLayout {
  size: number;
  offsets: Record<
    'ts_ns' | 'probe' | 'pid' | 'tid' | 'argc' | 'args' | 'str_len' | 'user_stack_bytes' | 'str' | 'user_stack',
    number
  >;
  USDT_MAX_PROBES: number;
  USDT_MAX_ARGS: number;
  USDT_STR_LEN: number;
  USDT_MAX_STACK_DEPTH: number;
  USDT_NO_ARG: number;
  USDT_COUNTER_OVER_BUDGET: number;
  USDT_COUNTER_DROPS: number;
  USDT_COUNTER_MAX: number;
}

interface NativeUsdtTracer {
  start(): void;
  stop(): Promise<UsdtStats>;
  stats(): UsdtStats;
  close(): void;
}

export type MemleakFunction =
  | 'malloc'
  | 'calloc'
  | 'realloc'
  | 'reallocarray'
  | 'posix_memalign'
  | 'memalign'
  | 'aligned_alloc'
  | 'valloc'
  | 'pvalloc'
  | 'mmap'
  | 'free'
  | 'munmap';

export interface MemleakOptions {
  /** Path to memleak.bpf.o (`objectPath('memleak')` from @tracefleet/bpf). */
  objectPath: string;
  /** 'user': one process's libc allocator through uprobes; 'kernel': the kmem/percpu tracepoints (needs tracefs mounted). */
  mode: 'user' | 'kernel';
  /** User mode: the target process (required). */
  pid?: number;
  /** User mode: the libc the target maps, e.g. /proc/PID/root/lib/x86_64-linux-gnu/libc.so.6. Default: found in /proc/PID/maps. */
  libc?: string;
  /**
   * User mode: per function, the file offset of its entry uprobe (default: the symbol's own offset).
   * For free and munmap any instruction boundary where %rdi still holds the pointer will do (a site the kernel
   * emulates costs ~20× less than one it single-steps); the return probes of allocation functions stay on the symbol.
   */
  entryOffsets?: Partial<Record<MemleakFunction, bigint>>;
  /** Live allocations the kernel map holds, 1..2^26; inserts beyond count as `untracked`. Default 1,000,000. */
  maxAllocs?: number;
  /** Trace every Nth allocation seen on each CPU. Default 1 (all). */
  sampleEvery?: number;
  /** Trace the allocation that makes a CPU's byte count cross a multiple of this (so any allocation this big or bigger). 0 = off (default). Not with sampleEvery > 1. */
  sampleBytes?: number;
  /** Frames kept per stack, 1..127. Default 127. */
  stackDepth?: number;
  /** Entries of the primary stack map (default 16384); stacks colliding there are kept in a second map. For tests. */
  stackMapEntries?: number;
  /** User mode: walk allocation stacks with this Unwinder's tables (frame pointers only without it). */
  unwinder?: Unwinder;
}

/** One live tracked allocation (the grouped form is MemleakSnapshot.stacks). */
export interface MemleakAllocation {
  stackId: number;
  size: bigint;
  tsNs: bigint;
}

export interface MemleakStack {
  /** Key in the kernel stack map; negative: bpf_get_stackid's errno (the stacks are then empty). */
  stackId: number;
  bytes: bigint;
  count: number;
  /** bpf_ktime_get_ns of the oldest allocation in the group. */
  oldestNs: bigint;
  /** Leaf first (user mode); the leaf is the allocation's return address in its caller. */
  userStack: BigUint64Array;
  /** Leaf first (kernel mode). */
  kernelStack: BigUint64Array;
}

export interface MemleakCounters {
  /**
   * Allocation calls seen. User mode: the target's, leaving out calls made inside another allocation call (glibc's
   * malloc mmapping a big block, realloc(NULL, n) calling malloc), which the outer call accounts for. Kernel mode: all.
   */
  allocsSeen: bigint;
  /** Of those, the ones the sampler picked. */
  allocsTraced: bigint;
  /** Frees of a non-NULL address. */
  frees: bigint;
  /** Frees that removed a live tracked allocation. */
  freesMatched: bigint;
  /** Picked allocations that were not recorded because a map was full. */
  untracked: bigint;
  /** bpf_get_stackid failures (stack map full, hash collision, unreadable stack). */
  stackErrors: bigint;
  /** How allocation stacks were walked (all zero without an unwinder). */
  unwind: UnwindCounters;
}

export interface MemleakSnapshot {
  /** CLOCK_MONOTONIC, the clock of oldestNs. */
  nowNs: bigint;
  /**
   * Stacks kept in the kernel's stack map (16,384 at most). Stacks that no live allocation used at
   * this snapshot and the previous one are removed, so long runs do not fill it with freed stacks.
   */
  stackMapEntries: number;
  /** Outstanding allocations grouped by stack id, most bytes first. */
  stacks: MemleakStack[];
  counters: MemleakCounters;
  /** What start() attached: "malloc in /lib/.../libc.so.6 @0x98930 (entry, return)", "tracepoint kmem/kmalloc", ... */
  attached: string[];
  /** Functions this libc lacks, aliases probed under another name, tracepoints this kernel lacks, each with the reason. */
  skipped: string[];
}

/** sizeof/offsetof of struct memleak_alloc and the constants of memleak.h the addon was compiled with. */
export interface MemleakLayout {
  size: number;
  offsets: Record<'size' | 'ts_ns' | 'stack_id' | 'pad', number>;
  MEMLEAK_MAX_STACK_DEPTH: number;
  MEMLEAK_DEFAULT_MAX_ALLOCS: number;
  MEMLEAK_STACK_MAP_ENTRIES: number;
  MEMLEAK_OVERFLOW_ID_BASE: number;
  MEMLEAK_OVERFLOW_ENTRIES: number;
  MEMLEAK_COUNTER_ALLOCS_SEEN: number;
  MEMLEAK_COUNTER_ALLOCS_TRACED: number;
  MEMLEAK_COUNTER_FREES: number;
  MEMLEAK_COUNTER_FREES_MATCHED: number;
  MEMLEAK_COUNTER_UNTRACKED: number;
  MEMLEAK_COUNTER_STACK_ERRORS: number;
  MEMLEAK_COUNTER_BYTES_SEEN: number;
  MEMLEAK_COUNTER_MAX: number;
}

interface NativeMemleakTracer {
  start(): void;
  snapshot(minAgeNs?: bigint): MemleakSnapshot;
  stop(): void;
  close(): void;
}

export type SslFunctionName = 'SSL_read' | 'SSL_write' | 'SSL_read_ex' | 'SSL_write_ex' | 'SSL_do_handshake';

/** The functions SslTracer can probe, in the order of their ids in ssl.h (SSL_FN_READ = 1, ...). */
export const SSL_FUNCTIONS: readonly SslFunctionName[] = ['SSL_read', 'SSL_write', 'SSL_read_ex', 'SSL_write_ex', 'SSL_do_handshake'];

export interface SslProbeSpec {
  /** File to probe: libssl.so.3, a binary with OpenSSL linked in; may be a /proc/PID/root/... path. */
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
  /** Attach for this process only; undefined or -1: every process that maps the file. */
  pid?: number;
}

export interface SslTracerOptions {
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
  /** Ring buffer size, a power of two >= 4096 (a record is 88 bytes + data + stack). Default 8 MiB. */
  ringBufferBytes?: number;
  /**
   * Bound of the native queue between the poll thread and JS; overflow is counted (queueDrops). Default 65536.
   * Each queued event holds its data: the queue can take up to maxQueuedEvents × (maxDataBytes + 1 KiB).
   */
  maxQueuedEvents?: number;
  /** Called on the JS thread with batches of at most 1024 events, about every 100 ms. */
  /** Walk captured user stacks with this Unwinder's tables (frame pointers only without it). */
  unwinder?: Unwinder;
  onEvents: (events: SslRawEvent[]) => void;
}

export interface SslRawEvent {
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
  /** How captured user stacks were walked (all zero without an unwinder). */
  unwind: UnwindCounters;
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
    | 'pad',
    number
  >;
  callSize: number;
  callOffsets: Record<'ssl' | 'buf' | 'num' | 'lenptr' | 'ts_ns' | 'cookie' | 'depth' | 'pad', number>;
  SSL_COMM_LEN: number;
  SSL_MAX_DATA: number;
  SSL_DATA_CHUNK: number;
  SSL_MAX_STACK_DEPTH: number;
  SSL_MAX_CALLS: number;
  SSL_MAX_PIDS: number;
  SSL_MAX_EXCLUDED: number;
  SSL_NEST_MAX_AGE_NS: number;
  SSL_FN_READ: number;
  SSL_FN_WRITE: number;
  SSL_FN_READ_EX: number;
  SSL_FN_WRITE_EX: number;
  SSL_FN_DO_HANDSHAKE: number;
  SSL_FN_MAX: number;
  SSL_COOKIE_FN_BITS: number;
  SSL_FLAG_TRUNCATED: number;
  SSL_FLAG_READ_ERROR: number;
  SSL_COUNTER_EVENTS_SEEN: number;
  SSL_COUNTER_KERNEL_DROPS: number;
  SSL_COUNTER_ORPHAN_RETURNS: number;
  SSL_COUNTER_NESTED: number;
  SSL_COUNTER_READ_ERRORS: number;
  SSL_COUNTER_MAX: number;
}

interface NativeSslTracer {
  start(): void;
  attach(probes: SslProbeSpec[]): number[];
  detach(ids: number[]): void;
  setPids(add: number[], remove?: number[]): void;
  stop(): Promise<SslStats>;
  stats(): SslStats;
  close(): void;
}

/** Options as the addon takes them: the Unwinder's native object in place of the facade. */
type WithNativeUnwinder<T extends { unwinder?: Unwinder }> = Omit<T, 'unwinder'> & { unwinder?: NativeUnwinder };

/** The addon's options from the facade's. */
function nativeOptions<T extends { unwinder?: Unwinder }>(opts: T): WithNativeUnwinder<T> {
  const { unwinder, ...rest } = opts;
  return unwinder ? { ...rest, unwinder: unwinder.handle } : rest;
}

export interface NativeAddon {
  Profiler: new (opts: WithNativeUnwinder<ProfilerOptions>) => NativeProfiler;
  Symbolizer: new () => NativeSymbolizer;
  layout(): EventLayout;
  UsdtTracer: new (opts: WithNativeUnwinder<UsdtTracerOptions>) => NativeUsdtTracer;
  usdtLayout(): UsdtEventLayout;
  MemleakTracer: new (opts: WithNativeUnwinder<MemleakOptions>) => NativeMemleakTracer;
  memleakLayout(): MemleakLayout;
  SslTracer: new (opts: WithNativeUnwinder<SslTracerOptions>) => NativeSslTracer;
  sslLayout(): SslEventLayout;
  functionOffsets(path: string, names: string[]): Record<string, bigint>;
  Unwinder: new (opts: UnwinderOptions) => NativeUnwinder;
  unwindTable(path: string): UnwindTable;
}

export const addonPath = path.resolve(__dirname, '..', 'build', 'Release', 'tracefleet_native.node');
export const buildCommand = 'npm run build -w @tracefleet/native';

let addon: NativeAddon | undefined;

/** Loads the addon (once); the error says which file was tried and how to build it. */
export function loadAddon(file: string = addonPath): NativeAddon {
  if (file === addonPath && addon) return addon;
  if (!fs.existsSync(file)) {
    throw new Error(
      `@tracefleet/native: addon not found at ${file}; build it with \`${buildCommand}\` ` +
        '(needs libbpf-dev, libelf-dev, libdw-dev, zlib1g-dev and a C++ compiler)',
    );
  }
  let loaded: NativeAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as NativeAddon;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`@tracefleet/native: loading ${file} failed: ${message}; rebuild it with \`${buildCommand}\``, {
      cause: err,
    });
  }
  if (file === addonPath) addon = loaded;
  return loaded;
}

/**
 * CPU profiler: profile.bpf.o on a software CPU-clock perf event on every online CPU.
 * The constructor loads the program (the error carries the verifier log); start() attaches.
 */
export class Profiler {
  readonly #native: NativeProfiler;

  constructor(opts: ProfilerOptions) {
    this.#native = new (loadAddon().Profiler)(nativeOptions(opts));
  }

  /** Opens one perf event per online CPU, attaches, starts the poll thread. */
  start(): void {
    this.#native.start();
  }

  /** Detaches, drains the ring buffer, delivers the last batch, then resolves with final stats. */
  stop(): Promise<ProfilerStats> {
    return this.#native.stop();
  }

  stats(): ProfilerStats {
    return this.#native.stats();
  }

  /** Frees every BPF and perf fd of this profiler; idempotent. */
  close(): void {
    this.#native.close();
  }
}

/**
 * Turns stacks (leaf first) into names: user frames via libdwfl and JIT perf maps, kernel frames via kallsyms.
 * Mapped files are opened once and shared by every process that maps them; resolved (pid, address) pairs are
 * cached, so repeated flushes cost little. A process's state outlives it: its samples still resolve after it exits.
 */
export class Symbolizer {
  readonly #native: NativeSymbolizer;

  constructor() {
    this.#native = new (loadAddon().Symbolizer)();
  }

  /**
   * `addrs` is a user stack, leaf first; frames after the leaf are looked up at addr - 1.
   * Names: function, `<module>+0x<offset>`, `<jit name>_[j]` or `[unknown mapping]+0x<addr>`.
   */
  symbolizeUser(pid: number, addrs: BigUint64Array): string[] {
    return this.#native.symbolizeUser(pid, addrs);
  }

  /** `addrs` is a kernel stack, leaf first. Names: `<symbol>_[k]` or `[kernel]+0x<addr>_[k]`. */
  symbolizeKernel(addrs: BigUint64Array): string[] {
    return this.#native.symbolizeKernel(addrs);
  }

  /** Drops what is cached for pid (its maps and resolved addresses; shared files stay while others use them). */
  forget(pid: number): void {
    this.#native.forget(pid);
  }

  stats(): SymbolizerStats {
    return this.#native.stats();
  }

  close(): void {
    this.#native.close();
  }
}

/** Layout of struct profile_event as compiled into the addon. */
export function layout(): EventLayout {
  return loadAddon().layout();
}

/**
 * USDT tracer: usdt.bpf.o attached to each requested probe, the probe index as attach cookie.
 * The constructor loads the program (the error carries the verifier log); start() attaches.
 */
export class UsdtTracer {
  readonly #native: NativeUsdtTracer;

  constructor(opts: UsdtTracerOptions) {
    this.#native = new (loadAddon().UsdtTracer)(nativeOptions(opts));
  }

  /**
   * Attaches every probe in order and starts the poll thread. When one fails it throws naming
   * the probe and the binary ("attach usdt python:gc__start in /usr/bin/python3.11: ...") and
   * detaches those it had attached.
   */
  start(): void {
    this.#native.start();
  }

  /** Detaches, drains the ring buffer, delivers the last batch, then resolves with final stats. */
  stop(): Promise<UsdtStats> {
    return this.#native.stop();
  }

  stats(): UsdtStats {
    return this.#native.stats();
  }

  /** Frees every BPF and perf fd of this tracer; idempotent. */
  close(): void {
    this.#native.close();
  }
}

/** Layout of struct usdt_event as compiled into the addon. */
export function usdtLayout(): UsdtEventLayout {
  return loadAddon().usdtLayout();
}

/**
 * Outstanding allocations by stack: uprobes on one process's libc allocator (user mode) or the kmem/percpu
 * tracepoints (kernel mode). The constructor resolves the probe sites and loads the program (errors name the step
 * and carry the verifier log); start() attaches.
 */
export class MemleakTracer {
  readonly #native: NativeMemleakTracer;

  constructor(opts: MemleakOptions) {
    this.#native = new (loadAddon().MemleakTracer)(nativeOptions(opts));
  }

  /**
   * Attaches every probe. An attach error names the function and the file (or the tracepoint), and what was
   * attached is detached again. Functions this libc lacks were already skipped (MemleakSnapshot.skipped).
   */
  start(): void {
    this.#native.start();
  }

  /** Reads the live-allocation map, grouped by stack; only allocations at least minAgeNs old count. */
  snapshot(minAgeNs?: bigint): MemleakSnapshot {
    return this.#native.snapshot(minAgeNs);
  }

  /** Detaches every probe; the maps stay readable for a final snapshot. */
  stop(): void {
    this.#native.stop();
  }

  /** Frees every BPF and perf fd of this tracer; idempotent. */
  close(): void {
    this.#native.close();
  }
}

/** Layout of struct memleak_alloc as compiled into the addon. */
export function memleakLayout(): MemleakLayout {
  return loadAddon().memleakLayout();
}

/**
 * TLS plaintext: uprobe pairs on OpenSSL's SSL_read/SSL_write(_ex)/SSL_do_handshake record each call's bytes,
 * return value and latency. The constructor loads ssl.bpf.o (the error carries the verifier log); probes are
 * attached and detached with attach()/detach(), before or after start().
 */
export class SslTracer {
  readonly #native: NativeSslTracer;

  constructor(opts: SslTracerOptions) {
    this.#native = new (loadAddon().SslTracer)(nativeOptions(opts));
  }

  /** Starts the poll thread; probes may be attached before or after. */
  start(): void {
    this.#native.start();
  }

  /**
   * Attaches each spec's return probe, then its entry probe, and returns one id per spec (for detach() and
   * SslRawEvent.attachId). When one fails it throws naming the function, the file, the offset and the errno
   * ("attach uprobe SSL_read entry in /usr/lib/.../libssl.so.3 @0x35430: ...") and detaches what this call attached.
   */
  attach(probes: SslProbeSpec[]): number[] {
    return this.#native.attach(probes);
  }

  /** Detaches the given attachments; ids already detached (or never issued) are ignored. */
  detach(ids: number[]): void {
    this.#native.detach(ids);
  }

  /** Adds, then removes tgids of the in-kernel filter; only for a tracer created with option pids. */
  setPids(add: number[], remove?: number[]): void {
    this.#native.setPids(add, remove);
  }

  /** Detaches everything, drains the ring buffer, delivers the last batch, then resolves with final stats; idempotent. */
  stop(): Promise<SslStats> {
    return this.#native.stop();
  }

  stats(): SslStats {
    return this.#native.stats();
  }

  /** Frees every BPF and perf fd of this tracer; idempotent; stops a running tracer. */
  close(): void {
    this.#native.close();
  }
}

/** Layout of struct ssl_event (and struct ssl_call) as compiled into the addon. */
export function sslLayout(): SslEventLayout {
  return loadAddon().sslLayout();
}

/**
 * File offsets of the named functions in an ELF file (.dynsym, then .symtab; the default symbol version), as
 * uprobes take them. Names not found are absent from the result.
 */
export function functionOffsets(path: string, names: string[]): Record<string, bigint> {
  return loadAddon().functionOffsets(path, names);
}
