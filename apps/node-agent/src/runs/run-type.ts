import type { Symbolizer } from '@tracefleet/native';
import type { StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../config';
import type { BatchBounds } from '../message-bounds';
import type { AgentPolicy } from '../policy';
import type { UnwindService } from '../unwind/unwind-service';
import type { MessageSink, TracingRun } from './tracing-run';

export type SpecCase = NonNullable<StartRun['spec']>['$case'];
export type SpecOf<C extends SpecCase> = Extract<NonNullable<StartRun['spec']>, { $case: C }>['value'];

/** What host.ts finds on this node; each run type's `available` decides from it. */
export interface HostProbe {
  /** /sys/kernel/btf/vmlinux exists: CO-RE objects load. */
  btf: boolean;
  exists(path: string): boolean;
  /** packages/bpf built `<name>.bpf.o` (objectPath finds it). */
  objectBuilt(name: string): boolean;
}

/** The native parts runs of several types share; agent.ts makes them once. The rest are each type's own (`native`). */
export interface SharedNativeParts {
  createSymbolizer(): Symbolizer;
  /** The node's unwind tables; without it user stacks are walked by frame pointer only. */
  unwind?: UnwindService;
}

/**
 * One job type on the agent, everything the agent's shared code needs of it. Each is written in its
 * own runs/<type>/<type>.type.ts and listed once in runs/registry.ts's RUN_TYPES.
 * C: its StartRun spec case; J: its name in policies and capabilities; N: its run's native parts.
 */
export interface RunType<C extends SpecCase = SpecCase, J extends string = string, N = unknown> {
  /** Its name in policy files (allowJobTypes), in Register.capabilities and on the controller. */
  jobType: J;
  /** Whether this node can run it (host.ts lists it in Register.capabilities only then). */
  available(host: HostProbe): boolean;
  /**
   * Features of the type this agent has that older agents lack, listed in Register.capabilities as
   * "<jobType>:<feature>": the controller sends jobs that need one only to nodes that list it.
   */
  features?: readonly string[];
  /** The BPF maps' kernel memory for this spec (admission's estimate; checked against bpftool in its spec). */
  kernelBytes(spec: SpecOf<C> | undefined): number;
  /** The node policy's checks of this type's own (policy-admission.ts): a reason to refuse, or undefined. */
  admit?(spec: SpecOf<C> | undefined, policy: AgentPolicy): string | undefined;
  /** The result batches its runs stream, which link.ts checks before sending (message-bounds.ts). */
  batches?: BatchBounds;
  /** Its tracer factories on the real addon (agent.ts adds the shared parts). */
  native(): Omit<N, keyof SharedNativeParts>;
  create(start: StartRun, cfg: AgentConfig, sink: MessageSink, native: N, log: (msg: string) => void): TracingRun;
}
