import type { StartRun } from '@tracefleet/proto';
import type { AgentPolicy, JobType } from './policy';
import { estimateKernelBytes, runTypeOf } from './runs/registry';

const MIB = 1024 * 1024;

/** The job type of a StartRun, as policy files and capabilities name it. */
export function jobTypeOf(start: StartRun): JobType {
  return runTypeOf(start).jobType;
}

/** What the policy says of one run on its own, whatever else runs: a reason to refuse, or undefined. */
export function staticRefusal(policy: AgentPolicy, start: StartRun, kernelBytes: number): string | undefined {
  const runType = runTypeOf(start);
  const type = runType.jobType;
  if (!policy.allowJobTypes.includes(type)) {
    return `this node's policy does not run ${type} jobs (allowJobTypes: ${policy.allowJobTypes.join(', ') || 'none'})`;
  }
  // The checks of the type's own (its RunType's admit).
  const own = runType.admit?.(start.spec?.value as never, policy);
  if (own) return own;
  if (start.durationSec > policy.maxDurationSec) {
    return `durationSec ${start.durationSec} is over this node's policy (maxDurationSec: ${policy.maxDurationSec})`;
  }
  if (kernelBytes > policy.maxKernelMemoryBytes) {
    return `this run's BPF maps would take ~${mib(kernelBytes)} MiB of kernel memory, over this node's policy (maxKernelMemoryMb: ${mib(policy.maxKernelMemoryBytes)})`;
  }
  return undefined;
}

function mib(bytes: number): number {
  return Math.ceil(bytes / MIB);
}

/** A run admitted: give it back once the run has ended, however it ended (idempotent). */
export interface Ticket {
  readonly kernelBytes: number;
  release(): void;
}

/**
 * Counts the runs going on this node and the kernel memory their maps may take, and admits a new run
 * only within the node's policy. The controller is told the policy and places jobs by it, but this is
 * the check that holds when the controller is wrong or not ours.
 */
export class Admission {
  private readonly held = new Map<string, number>();
  private bytes = 0;

  constructor(
    private readonly policy: AgentPolicy,
    private readonly estimate: (start: StartRun) => number = estimateKernelBytes,
  ) {}

  get running(): number {
    return this.held.size;
  }

  get kernelBytes(): number {
    return this.bytes;
  }

  /** A ticket, or the reason the run is refused. */
  admit(start: StartRun): Ticket | { refused: string } {
    let kernelBytes: number;
    try {
      kernelBytes = this.estimate(start);
    } catch (err) {
      return { refused: `cannot estimate this run's kernel memory: ${err instanceof Error ? err.message : String(err)}` };
    }
    const why = staticRefusal(this.policy, start, kernelBytes);
    if (why) return { refused: why };
    if (this.held.has(start.runId)) return { refused: `run ${start.runId} is already admitted on this node` };
    if (this.held.size >= this.policy.maxConcurrentRuns) {
      return { refused: `this node already runs ${this.held.size} run(s), its policy's limit (maxConcurrentRuns: ${this.policy.maxConcurrentRuns})` };
    }
    if (this.bytes + kernelBytes > this.policy.maxKernelMemoryBytes) {
      return {
        refused:
          `this run's BPF maps would take ~${mib(kernelBytes)} MiB of kernel memory and the node's running runs take ~${mib(this.bytes)} MiB, ` +
          `over this node's policy (maxKernelMemoryMb: ${mib(this.policy.maxKernelMemoryBytes)})`,
      };
    }
    this.held.set(start.runId, kernelBytes);
    this.bytes += kernelBytes;
    let released = false;
    return {
      kernelBytes,
      release: () => {
        if (released) return;
        released = true;
        this.held.delete(start.runId);
        this.bytes -= kernelBytes;
      },
    };
  }
}
