// Types of the oomkill tracer's facade (OomkillTracer in oomkill.ts): options, kills, stats, layout.
import type { RingFill, TargetOptions, TargetPidSink } from './target-types';

export interface OomkillTracerOptions extends TargetOptions {
  /** Path to oomkill.bpf.o (`objectPath('oomkill')` from @tracefleet/bpf). */
  objectPath: string;
  /** Only kills of this victim (its pid as the kernel names it). */
  pid?: number;
  /** Only kills of a victim with this comm (1..15 bytes, exact). */
  comm?: string;
  /** Kills streamed over the whole run, 0..1_000_000; later ones are only counted (`overBudget`). */
  maxEvents: number;
  /** Ring buffer size, a power of two >= 4096. Default 64 KiB. */
  ringBufferBytes?: number;
  /** Bound of the native queue between the poll thread and JS; overflow is counted. Default 4096. */
  maxQueuedEvents?: number;
  /** Called on the JS thread with batches of kills. */
  onEvents: (kills: OomkillRawKill[]) => void;
}

/** One OOM kill, as oom:mark_victim saw it. */
export interface OomkillRawKill {
  /** bpf_ktime_get_ns (CLOCK_MONOTONIC) when the victim was marked. */
  tsNs: bigint;
  victimPid: number;
  victimComm: string;
  /** The task running when the victim was marked: the one whose allocation or charge ran out (tgid, thread id, comm). */
  triggerPid: number;
  triggerTid: number;
  triggerComm: string;
  /** The victim's uid and oom_score_adj. */
  uid: number;
  oomScoreAdj: number;
  /** The victim's mm in KiB: total_vm, RSS (anon, file, shmem) and page tables. */
  totalVmKb: bigint;
  anonRssKb: bigint;
  fileRssKb: bigint;
  shmemRssKb: bigint;
  pgtablesKb: bigint;
}

export interface OomkillStats {
  /** Kills that passed the filters (streamed or not). */
  kills: bigint;
  overBudget: bigint;
  kernelDrops: bigint;
  queueDrops: bigint;
  delivered: bigint;
  ring: RingFill;
}

export interface NativeOomkillTracer extends TargetPidSink {
  start(): void;
  stop(): Promise<OomkillStats>;
  stats(): OomkillStats;
  close(): void;
}

export interface OomkillLayout {
  size: number;
  offsets: Record<string, number>;
  OOMKILL_COUNTER_MAX: number;
}
