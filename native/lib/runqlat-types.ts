// Types of the run-queue latency facade (RunqlatTracer in runqlat.ts).
import type { NativeMapTracer } from './map-tracer';
import type { TargetOptions } from './target-types';

export interface RunqlatOptions extends TargetOptions {
  /** Path to runqlat.bpf.o (`objectPath('runqlat')` from @tracefleet/bpf). */
  objectPath: string;
  /** Measure the threads of one process only (its tgid). */
  pid?: number;
  /** One histogram per cgroup v2 cgroup of the waiting thread (up to 1024), else one for the whole target. */
  perCgroup?: boolean;
  /** Threads waiting on a run queue at once the kernel map holds, 64..2^20; enqueues beyond are counted as `noStart`. Default 10240. */
  maxTasks?: number;
}

export interface RunqlatHistogram {
  /** The cgroup v2 id of the waiting threads (perCgroup), else 0n. */
  cgroupId: bigint;
  /** Slot i counts waits of [2^i, 2^(i+1)) µs (slot 0 also under 1 µs); the last slot everything above. */
  slots: bigint[];
  /** Sum of the waits, ns. */
  totalNs: bigint;
}

export interface RunqlatReading {
  histograms: RunqlatHistogram[];
  /** Waits measured and put in a histogram. */
  latencies: bigint;
  /** Enqueues the full start map refused (maxTasks): their wait was not measured. */
  noStart: bigint;
  /** Waits measured whose cgroup found the histogram map full. */
  noHist: bigint;
}

export type NativeRunqlatTracer = NativeMapTracer<RunqlatReading>;

export interface RunqlatLayout {
  keySize: number;
  histSize: number;
  totalNsOffset: number;
  RUNQLAT_SLOTS: number;
  RUNQLAT_DEFAULT_MAX_TASKS: number;
  RUNQLAT_MAX_HISTS: number;
  RUNQLAT_COUNTER_MAX: number;
}
