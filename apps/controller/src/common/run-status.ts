export const TERMINAL_RUN = ['completed', 'failed'] as const;
export const ACTIVE_RUN = ['pending', 'dispatched', 'running'] as const;
export const TERMINAL_JOB = ['completed', 'partial', 'failed', 'stopped'] as const;

export type RunOutcome = { status: 'completed' | 'partial' | 'failed' | 'stopped'; reason: string | null };

/**
 * A job's end state from its runs' end states: all completed, some, or none. A completed run that
 * lost data on the way (`lostData`: samples the agent sent that were not stored) makes the job
 * partial too, with its reason: results with a hole are never reported as complete. A job a token
 * stopped ends `stopped`, whatever its runs did.
 */
export function jobOutcome(runs: { status: string; reason: string | null; nodeName: string; lostData?: boolean }[], stoppedBy?: string | null): RunOutcome {
  const failed = runs.filter((r) => r.status === 'failed');
  const completed = runs.filter((r) => r.status === 'completed');
  const lossy = completed.filter((r) => r.lostData);
  const reasons = [
    ...failed.map((r) => `${r.nodeName}: ${r.reason ?? 'failed'}`),
    ...lossy.map((r) => `${r.nodeName}: ${r.reason ?? 'data lost between agent and storage'}`),
  ];
  const reason = reasons.length ? reasons.join('; ') : null;
  // Stopped on request (POST /jobs/:id/stop): what the runs captured until then is kept; failures still say why.
  if (stoppedBy) return { status: 'stopped', reason: `stopped by the ${stoppedBy} token${reason ? `; ${reason}` : ''}` };
  if (completed.length === runs.length && runs.length > 0 && lossy.length === 0) return { status: 'completed', reason: null };
  if (completed.length > 0) return { status: 'partial', reason };
  return { status: 'failed', reason: reason ?? 'no node ran the job' };
}
