import type { QueueTask } from '../queue/job-queue';

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

/** A queued task with the options it is queued with. */
export interface QueuedTask {
  task: QueueTask;
  opts: { jobId: string; delayMs?: number };
}

/**
 * A job's two tasks, with the ids that make queueing them again a no-op: POST queues them, and the
 * reconciler queues again those Redis no longer holds. One place, so both name them alike.
 */
export function jobTasks(job: { id: string; createdAt: Date; startAt: Date | null; durationSec: number }, resultGraceSec: number, now: number): { dispatch: QueuedTask; deadline: QueuedTask } {
  return {
    dispatch: { task: { name: 'dispatch', data: { jobId: job.id } }, opts: { jobId: `dispatch-${job.id}` } },
    deadline: { task: { name: 'deadline', data: { jobId: job.id } }, opts: { jobId: `deadline-${job.id}`, delayMs: Math.max(0, deadlineAt(job, resultGraceSec) - now) } },
  };
}
