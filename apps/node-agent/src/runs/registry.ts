import type { StartRun } from '@tracefleet/proto';
import type { BatchBounds } from '../message-bounds';
import { targetPidsBytes } from './kernel-memory';
import { cpuProfileRunType } from './cpu-profile/cpu-profile.type';
import { memleakRunType } from './memleak/memleak.type';
import type { HostProbe, RunType, SharedNativeParts, SpecCase } from './run-type';
import { sslCaptureRunType } from './ssl/ssl-capture.type';
import { runqlatRunType } from './runqlat/runqlat.type';
import { biolatencyRunType } from './biolatency/biolatency.type';
import { offCpuRunType } from './off-cpu/off-cpu.type';
import { syscountRunType } from './syscount/syscount.type';
import { tcpRunType } from './tcp/tcp.type';
import { oomkillRunType } from './oomkill/oomkill.type';
import { execOpenRunType } from './exec-open/exec-open.type';
import { usdtRunType } from './usdt/usdt.type';

export type { SpecCase } from './run-type';

/**
 * The agent's job types, by StartRun spec: the only place that names them all. A new type adds its
 * folder under runs/ (its run and its `<type>.type.ts`) and one line here. The order is the order of
 * the names in capabilities and in the default policy.
 */
export const RUN_TYPES = {
  cpuProfile: cpuProfileRunType,
  usdt: usdtRunType,
  memleak: memleakRunType,
  sslCapture: sslCaptureRunType,
  syscount: syscountRunType,
  runqlat: runqlatRunType,
  biolatency: biolatencyRunType,
  tcp: tcpRunType,
  offCpu: offCpuRunType,
  oomkill: oomkillRunType,
  execOpen: execOpenRunType,
} satisfies { [C in SpecCase]: RunType<C> };

type AnyRunType = (typeof RUN_TYPES)[SpecCase];
const ALL: readonly AnyRunType[] = Object.values(RUN_TYPES);

/** A job type's name, as policy files, capabilities and the controller name it. */
export type JobType = AnyRunType['jobType'];

/** Every job type's name, in registry order. */
export const JOB_TYPES: readonly JobType[] = ALL.map((t) => t.jobType);

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** What every run type needs from the native addon, together. */
export type RunNativeParts = UnionToIntersection<{ [C in SpecCase]: Parameters<(typeof RUN_TYPES)[C]['create']>[3] }[SpecCase]>;

/** Every type's tracer factories on the real addon; agent.ts adds the shared parts. */
export function realTracers(): Omit<RunNativeParts, keyof SharedNativeParts> {
  return Object.assign({}, ...ALL.map((t) => t.native()));
}

/** The job types this host can run, in registry order, each followed by its features ("ssl-capture:filters"): Register.capabilities. */
export function capabilitiesOf(host: HostProbe): string[] {
  return ALL.filter((t) => t.available(host)).flatMap((t) => [t.jobType, ...(t.features ?? []).map((f) => `${t.jobType}:${f}`)]);
}

/** Every type's result batches and their caps: what link.ts checks before sending (message-bounds.ts). */
export const BATCH_BOUNDS: BatchBounds = Object.assign({}, ...ALL.map((t) => t.batches ?? {}));

/** The run type of a StartRun (no spec: a cpu-profile, which is what the first agents were sent). */
export function runTypeOf(start: StartRun): RunType<SpecCase, JobType> {
  return RUN_TYPES[start.spec?.$case ?? 'cpuProfile'] as RunType<SpecCase, JobType>;
}

/** Types whose programs keep a target pid set (target.bpf.h) for cgroup and container targets on cgroup v1. */
const PID_SET_TYPES: ReadonlySet<SpecCase> = new Set<SpecCase>(['cpuProfile', 'usdt', 'syscount', 'runqlat', 'biolatency', 'tcp', 'offCpu', 'oomkill', 'execOpen']);

/**
 * The kernel-memory estimate for a StartRun, by its type. A cgroup or container target may need the pid set
 * (where the target has no cgroup v2 cgroup, known only when the run opens): counted at its full size.
 */
export function estimateKernelBytes(start: StartRun): number {
  const group = start.target?.kind?.$case === 'cgroup' || start.target?.kind?.$case === 'container';
  const pidSet = group && PID_SET_TYPES.has(start.spec?.$case ?? 'cpuProfile');
  return runTypeOf(start).kernelBytes(start.spec?.value as never) + (pidSet ? targetPidsBytes(true) - targetPidsBytes(false) : 0);
}
