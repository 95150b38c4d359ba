import type { StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../config';
import type { JobType } from '../policy';
import { CpuProfileRun, type NativeParts } from './cpu-profile/cpu-profile.run';
import { cpuProfileKernelBytes, memleakKernelBytes, sslCaptureKernelBytes, syscountKernelBytes, usdtKernelBytes } from './kernel-memory';
import { MemleakRun, type MemleakNativeParts } from './memleak/memleak.run';
import { SslCaptureRun, type SslNativeParts } from './ssl/ssl-capture.run';
import { SyscountRun, type SyscountNativeParts } from './syscount/syscount.run';
import type { MessageSink, TracingRun } from './tracing-run';
import { UsdtRun, type UsdtNativeParts } from './usdt/usdt.run';

/** What every run type needs from the native addon, together. */
export type RunNativeParts = NativeParts & UsdtNativeParts & MemleakNativeParts & SslNativeParts & SyscountNativeParts;

export type SpecCase = NonNullable<StartRun['spec']>['$case'];
type SpecOf<C extends SpecCase> = Extract<NonNullable<StartRun['spec']>, { $case: C }>['value'];

/** One job type on the agent: its name in policies, its kernel memory, its run. */
export interface RunType<C extends SpecCase = SpecCase> {
  jobType: JobType;
  /** The BPF maps' kernel memory for this spec (admission's estimate). */
  kernelBytes(spec: SpecOf<C> | undefined): number;
  create(start: StartRun, cfg: AgentConfig, sink: MessageSink, native: RunNativeParts, log: (msg: string) => void): TracingRun;
}

/**
 * The agent's job types, by StartRun spec: the only place that names them all. A new type adds its
 * folder under runs/ and one line here (and its name in policy.ts's JOB_TYPES).
 */
export const RUN_TYPES: { [C in SpecCase]: RunType<C> } = {
  cpuProfile: { jobType: 'cpu-profile', kernelBytes: () => cpuProfileKernelBytes(), create: (...a) => new CpuProfileRun(...a) },
  usdt: { jobType: 'usdt', kernelBytes: () => usdtKernelBytes(), create: (...a) => new UsdtRun(...a) },
  memleak: { jobType: 'memleak', kernelBytes: (s) => memleakKernelBytes(s?.maxAllocs || 1_000_000), create: (...a) => new MemleakRun(...a) },
  sslCapture: { jobType: 'ssl-capture', kernelBytes: () => sslCaptureKernelBytes(), create: (...a) => new SslCaptureRun(...a) },
  syscount: { jobType: 'syscount', kernelBytes: (s) => syscountKernelBytes(s?.maxKeys || 16_384), create: (...a) => new SyscountRun(...a) },
};

/** The run type of a StartRun (no spec: a cpu-profile, which is what the first agents were sent). */
export function runTypeOf(start: StartRun): RunType {
  return RUN_TYPES[start.spec?.$case ?? 'cpuProfile'] as RunType;
}

/** The kernel-memory estimate for a StartRun, by its type. */
export function estimateKernelBytes(start: StartRun): number {
  return runTypeOf(start).kernelBytes(start.spec?.value as never);
}
