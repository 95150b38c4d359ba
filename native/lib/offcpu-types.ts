// Types of the off-CPU facade (OffCpuTracer in offcpu.ts).
import type { TargetOptions, TargetPidSink } from './target-types';
import type { NativeUnwinder, UnwindCounters, Unwinder } from './unwind';

export interface OffCpuOptions extends TargetOptions {
  /** Path to offcpu.bpf.o (`objectPath('offcpu')` from @tracefleet/bpf). */
  objectPath: string;
  /** Measure the threads of one process only (its tgid). */
  pid?: number;
  /** Measure the threads of this name only (at most 15 bytes). */
  comm?: string;
  /** Blocks shorter than this are not counted (only counted as `short`), 1 ns..1 h. Default 1000 (1 µs, as offcputime). */
  minBlockNs?: number;
  /** Take each block's kernel stack (bpf_get_stackid). Default true. */
  kernelStacks?: boolean;
  /**
   * The wall-clock view: also sample the target's threads on the CPU at this rate (per CPU, software CPU clock),
   * each sample counted as 1e6/wallClockHz µs with onCpu set; keys then carry the tid. 0..1000, default 0 (off).
   */
  wallClockHz?: number;
  /** Threads blocked at once the kernel map holds, 64..2^20; switch-outs beyond are counted as `noStart`. Default 10240. */
  maxTasks?: number;
  /** Distinct (process, comm, stacks) keys, user stacks and kernel stacks kept, 64..2^20 each. Default 16384. */
  maxStacks?: number;
  /** The node's unwind tables: user stacks walked with .eh_frame (else frame pointers). */
  unwinder?: Unwinder;
}

/** One key's growth since the previous read(): blocked time under one process, thread name and pair of stacks. */
export interface OffCpuDelta {
  pid: number;
  /** The thread (with wallClockHz), else 0. */
  tid: number;
  /** On-CPU samples of the wall-clock view (us = samples × 1e6/wallClockHz), not blocked time. */
  onCpu: boolean;
  comm: string;
  /** Blocked microseconds added (floor of the total's µs now minus at the previous read: the sum over reads is exact). */
  us: number;
  /** Blocks added. */
  blocks: number;
  /** Leaf first; empty for a kernel thread, an unreadable stack or when user_stacks was full. */
  userStack: BigUint64Array;
  kernelStack: BigUint64Array;
  /** Negative errno of the walk or of the stack's lookup; 0 otherwise. */
  userStackError: number;
  kernelStackError: number;
}

export interface OffCpuStats {
  /** Blocks of at least minBlockNs, counted (and on-CPU samples, with wallClockHz). */
  blocks: bigint;
  /** Blocks shorter than minBlockNs, not counted. */
  short: bigint;
  /** Switch-outs the full start map refused (maxTasks): not measured. */
  noStart: bigint;
  /** Blocks lost because the counts map was full (maxStacks). */
  noCount: bigint;
  /** Blocks counted without their user stack because user_stacks was full. */
  noUserStack: bigint;
  unwind: UnwindCounters;
}

export interface NativeOffCpuTracer extends TargetPidSink {
  start(): void;
  read(): OffCpuDelta[];
  stats(): OffCpuStats;
  stop(): void;
  close(): void;
}

export type NativeOffCpuOptions = Omit<OffCpuOptions, 'unwinder'> & { unwinder?: NativeUnwinder };

export interface OffCpuLayout {
  keySize: number;
  valueSize: number;
  startSize: number;
  commOffset: number;
  tgidOffset: number;
  OFFCPU_DEFAULT_MAX_TASKS: number;
  OFFCPU_DEFAULT_MAX_STACKS: number;
  OFFCPU_DEFAULT_MIN_BLOCK_NS: number;
  OFFCPU_COUNTER_MAX: number;
}
