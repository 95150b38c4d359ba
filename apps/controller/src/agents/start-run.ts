import type { StartRun, Target } from '@tracefleet/proto';
import { badField } from '../common/bad-field';
import type { JobTarget } from '../common/job-params';
import { runSpec } from './run-spec';
import { cgroupPathError } from '../common/cgroup-path';

/** Exactly one of pid, comm, all, cgroup or container. */
export function toTarget(t: JobTarget): Target {
  const given = (['pid', 'comm', 'all', 'cgroup', 'container'] as const).filter((k) => t[k] !== undefined);
  if (given.length !== 1) badField('target', 'must have exactly one of pid, comm, all, cgroup or container');
  if (t.pid !== undefined) return { kind: { $case: 'pid', value: t.pid } };
  if (t.comm !== undefined) return { kind: { $case: 'comm', value: t.comm } };
  if (t.cgroup !== undefined) {
    const err = cgroupPathError(t.cgroup);
    if (err) badField('target.cgroup', err);
    return { kind: { $case: 'cgroup', value: t.cgroup } };
  }
  if (t.container !== undefined) return { kind: { $case: 'container', value: t.container } };
  return { kind: { $case: 'all', value: true } };
}

/**
 * The StartRun for one run, from the stored job. Built by the replica that holds the node's
 * session, at the moment it sends it, so queued commands carry only the run id.
 */
export function buildStartRun(
  job: { id: string; type: string; durationSec: number; params: unknown; startAt?: Date | null },
  runId: string,
): StartRun {
  const params = job.params as Record<string, unknown> & { target: JobTarget };
  return {
    jobId: job.id,
    runId,
    durationSec: job.durationSec,
    target: toTarget(params.target),
    spec: runSpec(job.type, params),
    startAtUnixMs: BigInt(job.startAt?.getTime() ?? 0),
  };
}
