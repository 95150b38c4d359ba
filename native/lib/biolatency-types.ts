// Types of the block I/O latency and size facade (BiolatencyTracer in biolatency.ts).
import type { NativeMapTracer } from './map-tracer';
import type { TargetOptions } from './target-types';

export interface BiolatencyOptions extends TargetOptions {
  /** Path to biolatency.bpf.o (`objectPath('biolatency')` from @tracefleet/bpf). */
  objectPath: string;
  /** Only requests issued (inserted, with queued) while a thread of this process (tgid) was current. */
  pid?: number;
  /** Only this whole disk: the kernel's dev_t, major << 20 | minor. */
  dev?: number;
  /** One histogram per (disk, process current at issue), else one per disk. I/O a kworker issues is the kworker's. */
  perProcess?: boolean;
  /** Latency from block_rq_insert (queue + device, biolatency -Q), else from block_rq_issue (device). */
  queued?: boolean;
  /** Requests in flight the kernel map holds, 64..2^20; more are counted as `startFull`. Default 10240. */
  maxRequests?: number;
  /** Histograms the kernel map holds, 1..2^20: (disk, process) keys with perProcess, else disks (a per-CPU map: one copy per CPU); more keys are counted as `noHist`. Default 4096. */
  maxHists?: number;
}

export interface BiolatencyHistogram {
  major: number;
  minor: number;
  /** perProcess: the tgid current at issue, else 0. */
  pid: number;
  /** perProcess: its comm then, else ''. */
  comm: string;
  /** Slot i counts requests of [2^i, 2^(i+1)) µs (slot 0 also < 1 µs); the last slot everything above. */
  latency: bigint[];
  /** Slot i counts requests of [2^i, 2^(i+1)) KiB (slot 0 also < 1 KiB); the last slot everything above. */
  size: bigint[];
  totalNs: bigint;
  totalBytes: bigint;
}

export interface BiolatencyReading {
  histograms: BiolatencyHistogram[];
  /** Requests measured and put in a histogram. */
  ios: bigint;
  /** Starts the full in-flight map refused (maxRequests). */
  startFull: bigint;
  /** Completions without a start: issued before attach, by another process than the target, or refused. */
  noStart: bigint;
  /** Requests measured whose key found the histogram map full. */
  noHist: bigint;
}

export type NativeBiolatencyTracer = NativeMapTracer<BiolatencyReading>;

export interface BiolatencyLayout {
  startSize: number;
  keySize: number;
  histSize: number;
  sizeOffset: number;
  totalNsOffset: number;
  BIOLAT_LAT_SLOTS: number;
  BIOLAT_SIZE_SLOTS: number;
  BIOLAT_DEFAULT_MAX_REQUESTS: number;
  BIOLAT_DEFAULT_MAX_HISTS: number;
  BIOLAT_DEFAULT_MAX_DISKS: number;
  BIOLAT_COUNTER_MAX: number;
}
