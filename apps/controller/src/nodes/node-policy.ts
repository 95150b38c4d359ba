import type { AgentPolicy } from '@tracefleet/proto';
import type { NodePolicy } from '../common/node-policy';
import { JOB_TYPE_DEFS, jobTypeDef } from '../job-types/registry';

export type { NodePolicy } from '../common/node-policy';

/** What placement asks of a node's policy about one job. */
export interface PolicyJob {
  type: string;
  durationSec: number;
  /** The parameters its type stored (JobTypeDef.params): what the type's own `nodePolicy` check reads. */
  params: Record<string, unknown>;
}

const JOB_TYPES = JOB_TYPE_DEFS.map((d) => d.name);
/** 1 TiB: the most the agent's own parser accepts. */
const MAX_KERNEL_BYTES = 2 ** 40;

/**
 * The stored form of a Register.policy, or null when the agent sent none (an agent older than policies:
 * placement then skips nothing for policy). What an agent says of itself only restricts that agent's
 * own placement, but it is still input from the network: unknown job types are dropped and numbers
 * clamped to the agent's own ranges, so the row holds nothing odd.
 */
export function policyFromRegister(p: AgentPolicy | undefined): NodePolicy | null {
  if (!p) return null;
  const clamp = (v: number, max: number): number => Math.min(Math.max(Number.isFinite(v) ? Math.floor(v) : 0, 0), max);
  return {
    allowJobTypes: [...new Set(p.allowJobTypes.filter((t) => JOB_TYPES.includes(t)))],
    allowSslCapture: p.allowSslCapture === true,
    allowRedactionOff: p.allowRedactionOff === true,
    maxConcurrentRuns: clamp(p.maxConcurrentRuns, 256),
    maxKernelMemoryBytes: clamp(Number(p.maxKernelMemoryBytes), MAX_KERNEL_BYTES),
    maxDurationSec: clamp(p.maxDurationSec, 86400),
  };
}

/** Reads a stored policy back (the JSON column); anything malformed counts as none. */
export function storedPolicy(json: unknown): NodePolicy | null {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return null;
  const p = json as Partial<NodePolicy>;
  if (!Array.isArray(p.allowJobTypes) || typeof p.maxDurationSec !== 'number') return null;
  return p as NodePolicy;
}

/**
 * Why the node's policy refuses the job, in the agent's words, or undefined. Only what the job itself
 * decides: kernel memory and concurrent runs depend on what the node runs at the time and on the
 * agent's estimate of its maps, so the agent checks those when the run arrives (and fails it with the reason).
 */
export function policyRefusal(policy: NodePolicy | null, job: PolicyJob): string | undefined {
  if (!policy) return undefined;
  if (!policy.allowJobTypes.includes(job.type)) {
    return `its policy does not run ${job.type} jobs (allowJobTypes: ${policy.allowJobTypes.join(', ') || 'none'})`;
  }
  const own = jobTypeDef(job.type)?.nodePolicy?.(job.params, policy);
  if (own) return own;
  if (job.durationSec > policy.maxDurationSec) return `durationSec ${job.durationSec} is over its policy (maxDurationSec: ${policy.maxDurationSec})`;
  return undefined;
}
