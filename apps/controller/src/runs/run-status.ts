export const TERMINAL_RUN = ['completed', 'failed'] as const;
export const ACTIVE_RUN = ['pending', 'dispatched', 'running'] as const;
export const TERMINAL_JOB = ['completed', 'partial', 'failed'] as const;

export type RunOutcome = { status: 'completed' | 'partial' | 'failed'; reason: string | null };

/** A job's end state from its runs' end states: all completed, some, or none. */
export function jobOutcome(runs: { status: string; reason: string | null; nodeName: string }[]): RunOutcome {
  const failed = runs.filter((r) => r.status === 'failed');
  const completed = runs.filter((r) => r.status === 'completed');
  const reason = failed.length ? failed.map((r) => `${r.nodeName}: ${r.reason ?? 'failed'}`).join('; ') : null;
  if (completed.length === runs.length && runs.length > 0) return { status: 'completed', reason: null };
  if (completed.length > 0) return { status: 'partial', reason };
  return { status: 'failed', reason: reason ?? 'no node ran the job' };
}
