// Types of the memleak tracer's facade (MemleakTracer in index.ts): options, snapshots, layout.
import type { UnwindCounters, Unwinder } from './unwind';
import type { TargetCgroupOption } from './target-types';
import type { PythonCounters, PythonFrameFields, PythonLayoutSink } from './python-types';

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

/**
 * targetCgroup (either mode): only allocations made by tasks of that cgroup subtree are recorded; frees are matched
 * whichever task makes them (in kernel mode a kworker may free what the target allocated).
 */
export interface MemleakOptions extends TargetCgroupOption {
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
  /**
   * User mode: malloc's `ret` sites (file offsets, 1 to 64): a plain uprobe on each and no entry probe, one trap per
   * call instead of two. The size is then read from glibc's chunk header: the usable size, 8 to 23 bytes over the
   * request (up to a page over for a chunk mmap()ed on its own).
   */
  mallocReturns?: bigint[];
  /**
   * User mode, with `unwinder`: more of malloc's return sites (file offsets, 1 to 64), emulated instructions inside its
   * frame after which %rax is final (return-cover.ts): attached like mallocReturns; the stack is walked from there
   * with the unwinder and malloc's own frame dropped.
   */
  mallocInside?: bigint[];
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
  /**
   * User mode: read each picked allocation's Python frames at the call (the process given with setPythonProcess)
   * and keep each distinct chain once in the kernel (py_stacks: up to 4,096 chains of 1,032 bytes, allocated as they
   * come). Default false.
   */
  python?: boolean;
}

/** One live tracked allocation (the grouped form is MemleakSnapshot.stacks). */
export interface MemleakAllocation {
  stackId: number;
  size: bigint;
  tsNs: bigint;
}

/** One group per native stack and Python chain (pyFrames: empty without python or outside Python code). */
export interface MemleakStack extends PythonFrameFields {
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
  /** Key of the Python chain in the kernel's py_stacks; 0: none. */
  pyStackId: number;
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
  /** Allocations whose Python frames were read but not kept: the chain map was full. */
  pyStackErrors: bigint;
  /** How Python frames were read (all zero without python). */
  python: PythonCounters;
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
  /** Python chains kept in the kernel (trimmed like the stacks); 0 without python. */
  pyStackEntries: number;
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
  offsets: Record<'size' | 'ts_ns' | 'stack_id' | 'py_stack_id', number>;
  MEMLEAK_DEFAULT_MAX_ALLOCS: number;
  MEMLEAK_STACK_MAP_ENTRIES: number;
  MEMLEAK_OVERFLOW_ID_BASE: number;
  MEMLEAK_OVERFLOW_ENTRIES: number;
  MEMLEAK_PY_STACK_ENTRIES: number;
  MEMLEAK_COUNTER_ALLOCS_SEEN: number;
  MEMLEAK_COUNTER_ALLOCS_TRACED: number;
  MEMLEAK_COUNTER_FREES: number;
  MEMLEAK_COUNTER_FREES_MATCHED: number;
  MEMLEAK_COUNTER_UNTRACKED: number;
  MEMLEAK_COUNTER_STACK_ERRORS: number;
  MEMLEAK_COUNTER_BYTES_SEEN: number;
  MEMLEAK_COUNTER_PY_STACK_ERRORS: number;
  MEMLEAK_COUNTER_MAX: number;
}

export interface NativeMemleakTracer extends PythonLayoutSink {
  start(): void;
  snapshot(minAgeNs?: bigint): MemleakSnapshot;
  stop(): void;
  close(): void;
}
