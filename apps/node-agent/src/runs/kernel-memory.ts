import { readFileSync } from 'node:fs';
import { PY_COUNTER_MAX, PY_MAX_PROCS, PY_MAX_THREADS, PY_PROC_SIZE, TRACEFLEET_MAX_PY_FRAMES } from './python/layout';
import { TRACEFLEET_MAX_TARGET_PIDS } from '../lib/kernel-limits';

/**
 * Kernel memory a run's BPF maps take, estimated from its spec before anything is loaded, so the
 * agent can refuse a run that would push the node past its policy (policy.ts). The figures follow how
 * the kernel sizes each map type (what `bpftool map show` reports as bytes_memlock) and the map
 * definitions in packages/bpf/src/<probe>/*.bpf.c with the sizes the native tracers set before load.
 * Each run type's estimate is its RunType's `kernelBytes`, in runs/<type>/<type>.type.ts, built with
 * the helpers here; its <type>.type.spec.ts loads the real object and checks the estimate against the
 * kernel's own numbers. They are upper bounds: a user-mode memleak map is allocated as it fills, but may fill.
 *
 * The unwind maps every tracer shares are not counted here: they belong to the node's UnwindService
 * and have their own limit (TRACEFLEET_AGENT_UNWIND_TABLE_MB).
 */

/** Per-map overhead seen on top of the entries (the map struct, locks, extra per-CPU elements): at most ~3 KiB. */
export const MAP_OVERHEAD = 4096;
/** struct htab_elem before the key (hash, LRU hash). */
const HTAB_ELEM_HEADER = 48;
/** struct stack_map_bucket before the frames. */
const STACK_BUCKET_HEADER = 16;
const PAGE = 4096;

const round8 = (n: number): number => Math.ceil(n / 8) * 8;
const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

let possibleCpusCache: number | undefined;
/** Per-CPU maps are sized by the possible CPUs, not the online ones. */
export function possibleCpus(): number {
  if (possibleCpusCache !== undefined) return possibleCpusCache;
  let n = 0;
  try {
    for (const range of readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')) {
      const [a, b] = range.split('-').map(Number);
      n += b === undefined ? 1 : b - a + 1;
    }
  } catch {
    n = 0;
  }
  possibleCpusCache = n > 0 ? n : 1;
  return possibleCpusCache;
}

/** The kernel's size of one map, by type (kernel/bpf/hashtab.c, stackmap.c, arraymap.c, ringbuf.c). */
export const mapBytes = {
  /** BPF_MAP_TYPE_HASH / LRU_HASH: a power-of-two bucket array (16 B each) and every element preallocated (or allowed to be). */
  hash: (entries: number, key: number, value: number, cpus = possibleCpus()): number =>
    pow2(entries) * 16 + (entries + cpus) * (HTAB_ELEM_HEADER + round8(key) + round8(value)) + MAP_OVERHEAD,
  /** BPF_MAP_TYPE_STACK_TRACE: 8 B per bucket, and each preallocated bucket holds a whole stack. */
  stackTrace: (entries: number, value: number): number => pow2(entries) * 8 + entries * (STACK_BUCKET_HEADER + round8(value)) + MAP_OVERHEAD,
  percpuArray: (entries: number, value: number, cpus = possibleCpus()): number => entries * round8(value) * cpus + MAP_OVERHEAD,
  /** .rodata / .bss: one page, mmapable. */
  global: (): number => 2 * PAGE,
  /** The data pages, a page pointer per page, the consumer and producer pages. */
  ringbuf: (bytes: number): number => bytes + (bytes / PAGE) * 8 + 8 * PAGE + MAP_OVERHEAD,
};

/**
 * What each object's own copy of unwind.bpf.h takes (counters, scratch, the row cache of 1024 slots of 32 bytes
 * per CPU, the placeholder maps replaced by the shared ones).
 */
export function unwindPrivateBytes(): number {
  return mapBytes.percpuArray(11, 8) + mapBytes.percpuArray(1, 1056) + mapBytes.percpuArray(1024, 32) + 3 * MAP_OVERHEAD;
}

/**
 * What each object's copy of python.bpf.h takes (profile, usdt, ssl; memleak in user mode): py_procs (allocated as filled; counted full),
 * the thread-state cache (LRU, preallocated), counters and the per-CPU walk scratch (struct py_walk).
 */
export function pythonPrivateBytes(): number {
  const walk = PY_PROC_SIZE + 40 + 8 * TRACEFLEET_MAX_PY_FRAMES;
  return mapBytes.hash(PY_MAX_PROCS, 4, PY_PROC_SIZE) + mapBytes.hash(PY_MAX_THREADS, 4, 8) + mapBytes.percpuArray(PY_COUNTER_MAX, 8) + mapBytes.percpuArray(1, walk);
}

/** python.bpf.h's maps in an object that reads no Python frames and shrinks py_procs and py_threads to one entry (memleak). */
export function pythonShrunkBytes(): number {
  const walk = PY_PROC_SIZE + 40 + 8 * TRACEFLEET_MAX_PY_FRAMES;
  return mapBytes.hash(1, 4, PY_PROC_SIZE) + mapBytes.hash(1, 4, 8) + mapBytes.percpuArray(PY_COUNTER_MAX, 8) + mapBytes.percpuArray(1, walk);
}


/**
 * What each object's copy of target.bpf.h's pid set takes (profile, usdt, syscount; ssl and memleak have none).
 * With targetPids, a hash of up to TRACEFLEET_MAX_TARGET_PIDS tgids, allocated as the agent adds them (counted full:
 * the bucket array, then per tgid the element header, the 4-byte key and 1-byte value each rounded to 8, and the
 * free-list node of an element that is not preallocated). Without it the tracer shrinks the map to one entry before
 * load: a map's overhead, no more. The cgroup filter is two read-only globals: no map of its own.
 */
export function targetPidsBytes(pidSet: boolean): number {
  if (!pidSet) return MAP_OVERHEAD;
  const n = TRACEFLEET_MAX_TARGET_PIDS;
  return pow2(n) * 16 + n * (HTAB_ELEM_HEADER + round8(4) + round8(1) + 8) + MAP_OVERHEAD;
}
