import { readFileSync } from 'node:fs';
import { TRACEFLEET_MAX_STACK_DEPTH } from '../lib/kernel-limits';

/**
 * Kernel memory a run's BPF maps take, estimated from its spec before anything is loaded, so the
 * agent can refuse a run that would push the node past its policy (policy.ts). The figures follow how
 * the kernel sizes each map type (what `bpftool map show` reports as bytes_memlock) and the map
 * definitions in packages/bpf/src/<probe>/*.bpf.c with the sizes the native tracers set before load;
 * kernel-memory.spec.ts loads the real objects and checks each estimate against the kernel's own
 * numbers. They are upper bounds: a user-mode memleak map is allocated as it fills, but may fill.
 *
 * The unwind maps every tracer shares are not counted here: they belong to the node's UnwindService
 * and have their own limit (TRACEFLEET_AGENT_UNWIND_TABLE_MB).
 */

/** Per-map overhead seen on top of the entries (the map struct, locks, extra per-CPU elements): at most ~3 KiB. */
const MAP_OVERHEAD = 4096;
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

/** Ring buffer sizes: the native tracers' defaults, which the agent's runs do not change. */
export const RING_BYTES = { profile: 4 << 20, usdt: 4 << 20, ssl: 8 << 20 } as const;

/** profile.bpf.o: events ring buffer, per-CPU counters, .rodata, and the unwinder's per-CPU scratch and counters. */
export function cpuProfileKernelBytes(): number {
  return mapBytes.ringbuf(RING_BYTES.profile) + mapBytes.percpuArray(2, 8) + mapBytes.global() + unwindPrivateBytes();
}

/** usdt.bpf.o: events ring buffer, hits per probe and counters (per-CPU), libbpf's USDT spec maps. */
export function usdtKernelBytes(): number {
  // libbpf's usdt.bpf.h: __bpf_usdt_specs (array of 256 specs of 208 B) and __bpf_usdt_ip_to_spec_id (hash, 4 × 256 ips).
  const libbpfUsdt = 256 * 208 + MAP_OVERHEAD + mapBytes.hash(1024, 8, 4);
  // Globals: .rodata, .bss and .kconfig (usdt.bpf.h reads LINUX_HAS_BPF_COOKIE).
  return mapBytes.ringbuf(RING_BYTES.usdt) + mapBytes.percpuArray(64, 8) + mapBytes.percpuArray(2, 8) + libbpfUsdt + 3 * mapBytes.global() + unwindPrivateBytes();
}

/** memleak.bpf.c's constants (memleak.h) and the native tracer's defaults (memleak_tracer.cc). */
const MEMLEAK = { allocKey: 8, allocValue: 24, stackMapEntries: 16384, overflowEntries: 16384, stackBytes: TRACEFLEET_MAX_STACK_DEPTH * 8, counters: 7 * 8 } as const;

/**
 * memleak.bpf.c: "allocs" (maxAllocs entries of address → 24 B; preallocated in kernel mode: ~80 B per
 * entry plus 16 B per bucket, so 10 M entries take ~1.1 GB), the two stack maps (whole stacks per
 * entry, ~17 MB each), per-CPU scratch and counters, and per-thread task storage (small, not counted).
 */
export function memleakKernelBytes(maxAllocs: number): number {
  return (
    mapBytes.hash(maxAllocs, MEMLEAK.allocKey, MEMLEAK.allocValue) +
    mapBytes.stackTrace(MEMLEAK.stackMapEntries, MEMLEAK.stackBytes) +
    mapBytes.hash(MEMLEAK.overflowEntries, 4, MEMLEAK.stackBytes) +
    mapBytes.percpuArray(1, MEMLEAK.stackBytes) +
    mapBytes.percpuArray(1, MEMLEAK.counters) +
    mapBytes.global() +
    unwindPrivateBytes()
  );
}

/** ssl.bpf.c (ssl.h): events ring buffer, calls in flight (LRU), pid filter, excluded pids, a per-CPU record scratch (header + 16 KiB + stack). */
export function sslCaptureKernelBytes(): number {
  const scratch = 64 + 16384 + TRACEFLEET_MAX_STACK_DEPTH * 8;
  return (
    mapBytes.ringbuf(RING_BYTES.ssl) +
    mapBytes.hash(16384, 8, 56) +
    mapBytes.hash(4096, 4, 1) +
    mapBytes.hash(64, 4, 1) +
    mapBytes.percpuArray(1, scratch) +
    mapBytes.percpuArray(5, 8) +
    mapBytes.global() +
    unwindPrivateBytes()
  );
}

/**
 * What each object's own copy of unwind.bpf.h takes (counters, scratch, the row cache of 1024 slots of 32 bytes
 * per CPU, the placeholder maps replaced by the shared ones).
 */
function unwindPrivateBytes(): number {
  return mapBytes.percpuArray(11, 8) + mapBytes.percpuArray(1, 1056) + mapBytes.percpuArray(1024, 32) + 3 * MAP_OVERHEAD;
}

/** syscount.bpf.o: the (process, syscall) hash map (8 B keys, 24 B values), per-CPU counters, .rodata. */
export function syscountKernelBytes(maxKeys: number): number {
  return mapBytes.hash(maxKeys, 8, 24) + mapBytes.percpuArray(2, 8) + mapBytes.global();
}
