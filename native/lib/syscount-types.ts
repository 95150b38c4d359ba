// Types of the syscall counter's facade (SyscountTracer in syscount.ts).
import type { NativeMapTracer } from './map-tracer';
import type { TargetOptions } from './target-types';

export interface SyscountOptions extends TargetOptions {
  /** Path to syscount.bpf.o (`objectPath('syscount')` from @tracefleet/bpf). */
  objectPath: string;
  /** Count one process only (its tgid). */
  pid?: number;
  /** Count every process with this comm (1..15 bytes), including ones started later. Not with pid. */
  comm?: string;
  /** Distinct (process, syscall) pairs the kernel map holds, 1..2^20; calls of pairs beyond count as `uncounted`. Default 16384. */
  maxKeys?: number;
}

export interface SyscountEntry {
  pid: number;
  /** The syscall number (x86-64). */
  nr: number;
  /** The process's comm when the pair was first seen. */
  comm: string;
  count: bigint;
}

export interface SyscountReading {
  entries: SyscountEntry[];
  /** Calls of the target counted in the kernel. */
  calls: bigint;
  /** Calls of the target whose pair a full map refused. */
  uncounted: bigint;
}

export type NativeSyscountTracer = NativeMapTracer<SyscountReading>;

export interface SyscountLayout {
  keySize: number;
  valueSize: number;
  countOffset: number;
  commOffset: number;
  SYSCOUNT_DEFAULT_MAX_KEYS: number;
  SYSCOUNT_COUNTER_MAX: number;
}
