// Types of the CPU profiler's facade (Profiler in index.ts): options, samples, stats, layout.
import type { UnwindCounters, Unwinder } from './unwind';
import type { PythonCounters, PythonFrameFields } from './python-types';
import type { TargetOptions, TargetPidSink, RingFill } from './target-types';

export interface ProfilerOptions extends TargetOptions {
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
  /**
   * Fold identical samples (same pid, comm, stacks and stack errors) that wait for the same delivery into one
   * with a `count`; tid and cpu are the first one's. maxQueuedSamples then bounds distinct samples. Default false.
   */
  foldSamples?: boolean;
  /** Walk user stacks with this Unwinder's tables (frame pointers only without it). */
  unwinder?: Unwinder;
  /** Read the Python frames of the processes given with setPythonProcess. Default false. */
  python?: boolean;
  /** Called on the JS thread with batches of at most 1024 samples, about every 100 ms. */
  onSamples: (samples: RawSample[]) => void;
}

export interface RawSample extends PythonFrameFields {
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
  /** Samples this one stands for: 1, or more with foldSamples. */
  count: number;
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
  python: PythonCounters;
  ring: RingFill;
}

/** sizeof/offsetof of struct profile_event and the constants the addon was compiled with. */
export interface EventLayout {
  size: number;
  offsets: Record<
    | 'pid'
    | 'tid'
    | 'cpu'
    | 'kernel_stack_bytes'
    | 'user_stack_bytes'
    | 'comm'
    | 'py_frames_count'
    | 'py_truncated'
    | 'kernel_stack'
    | 'user_stack'
    | 'py_frames',
    number
  >;
  PROFILE_COUNTER_SAMPLES: number;
  PROFILE_COUNTER_DROPS: number;
  PROFILE_COUNTER_MAX: number;
}

export interface NativeProfiler extends TargetPidSink {
  start(): void;
  stop(): Promise<ProfilerStats>;
  stats(): ProfilerStats;
  close(): void;
  setPythonProcess(pid: number, layout: Buffer): void;
  forgetPythonProcess(pid: number): void;
}
