// Types of the USDT tracer's facade (UsdtTracer in index.ts): options, events, stats, layout.
import type { UnwindCounters, Unwinder } from './unwind';
import type { PythonCounters, PythonFrameFields, PythonLayoutSink } from './python-types';
import type { TargetOptions, TargetPidSink, RingFill } from './target-types';

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

export interface UsdtTracerOptions extends TargetOptions {
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
  /** With captureStacks: read the Python frames of the processes given with setPythonProcess. Default false. */
  python?: boolean;
  onEvents: (events: UsdtRawEvent[]) => void;
}

export interface UsdtRawEvent extends PythonFrameFields {
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
  /** Hits that passed the pid and target filters, per probe index (up to the highest index in use), summed over CPUs. */
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
  python: PythonCounters;
  ring: RingFill;
}

/** sizeof/offsetof of struct usdt_event and the constants of usdt.h the addon was compiled with. */
export interface UsdtEventLayout {
  size: number;
  offsets: Record<
    | 'ts_ns'
    | 'probe'
    | 'pid'
    | 'tid'
    | 'argc'
    | 'args'
    | 'str_len'
    | 'user_stack_bytes'
    | 'str'
    | 'user_stack'
    | 'py_frames_count'
    | 'py_truncated'
    | 'pad'
    | 'py_frames',
    number
  >;
  USDT_MAX_PROBES: number;
  USDT_MAX_ARGS: number;
  USDT_STR_LEN: number;
  USDT_NO_ARG: number;
  USDT_COUNTER_OVER_BUDGET: number;
  USDT_COUNTER_DROPS: number;
  USDT_COUNTER_MAX: number;
}

export interface NativeUsdtTracer extends PythonLayoutSink, TargetPidSink {
  start(): void;
  stop(): Promise<UsdtStats>;
  stats(): UsdtStats;
  close(): void;
}
