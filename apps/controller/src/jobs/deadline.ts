/** Time allowed between POST and the agent starting, counted into the run deadline. */
export const DISPATCH_ALLOWANCE_SEC = 10;

/**
 * When a job's "deadline" task fires: its start (now, or an incident's startAt) plus its duration, the
 * dispatch allowance and TRACEFLEET_RESULT_GRACE_SEC. The reconciler computes it again from the Job row
 * when Redis lost the task.
 */
export function deadlineAt(job: { createdAt: Date; startAt: Date | null; durationSec: number }, resultGraceSec: number): number {
  const start = Math.max(job.createdAt.getTime(), job.startAt?.getTime() ?? 0);
  return start + (job.durationSec + DISPATCH_ALLOWANCE_SEC + resultGraceSec) * 1000;
}
