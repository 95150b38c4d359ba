/**
 * The stored, normalized parameters of each job type: jobs/ writes them (typeParams), agents/ turns
 * them into a StartRun, ssl/ reads its own.
 */

/** The largest pid Linux hands out (PID_MAX_LIMIT on 64-bit). */
export const PID_MAX = 4_194_304;

/** Which processes a run traces: exactly one of pid, comm, all, cgroup or container (the job's target). */
export interface JobTarget {
  pid?: number;
  comm?: string;
  all?: boolean;
  cgroup?: string;
  container?: string;
}

export interface PairParam {
  label: string;
  begin: string;
  end: string;
}

/** The stored, normalized parameters of a usdt job (what dispatch turns into a UsdtSpec). */
export interface UsdtParams {
  probes: string[];
  binary?: string;
  pairs: PairParam[];
  preset?: string;
  maxEvents: number;
  slowestN: number;
  userStacks: boolean;
}

/** The stored, normalized parameters of an ssl-capture job. */
export interface SslParams {
  maxDataBytes: number;
  binaries: string[];
  userStacks: boolean;
  maxEvents: number;
  maxTotalBytes: number;
  redactHeaders: string[];
  redactPatterns: string[];
  redaction: boolean;
  handshakes: boolean;
  retentionHours: number;
  /** Duty cycle (both set or neither): probes attached dutyOnMs in every dutyPeriodMs. */
  dutyOnMs?: number;
  dutyPeriodMs?: number;
  /** headers: only calls that start an HTTP/1 message, their head only. Absent in jobs from before it: full. */
  mode?: 'full' | 'headers';
  /** Content filter; absent when the job captures every connection. */
  filter?: { http: boolean; prefixes: string[]; ports?: number[] };
}

/** The stored, normalized parameters of a memleak job. */
export interface MemleakParams {
  mode: 'user' | 'kernel';
  intervalSec: number;
  minAgeSec: number;
  sampleEvery: number;
  sampleBytes: number;
  maxAllocs: number;
  topN: number;
  /** How malloc is probed (user mode): 'entry' (entry probe + uretprobe, exact sizes) or 'returns' (its ret sites only: one trap, chunk-header sizes). Absent in jobs from before it: 'entry'. */
  mallocProbe?: 'entry' | 'returns';
}
