import type { ProgressInput } from '../jobs/job-progress';

/** Jobs as GET /jobs/:id/progress reads them (the parts of a JobView it uses), for specs. */
export const PROGRESS_JOB = '00000000-0000-4000-8000-000000000001';
export const PROGRESS_T0 = Date.parse('2026-03-01T10:00:00.000Z');
/** The time `ms` after PROGRESS_T0, as the view writes times. */
export const at = (ms: number): string => new Date(PROGRESS_T0 + ms).toISOString();

export type ProgressRun = ProgressInput['runs'][number];

/** A run of node n1, running since PROGRESS_T0, nothing counted yet. */
export function progressRun(over: Partial<ProgressRun> = {}): ProgressRun {
  return {
    node: 'n1',
    status: 'running',
    reason: null,
    samplesTaken: 0,
    samplesStored: 0,
    samplesDroppedKernel: 0,
    samplesDroppedAgent: 0,
    samplesLostTransit: 0,
    batchesReceived: 0,
    startedAt: at(0),
    finishedAt: null,
    ...over,
  };
}

/** A 4 s cpu-profile job running since PROGRESS_T0, its totals summed from `runs`. */
export function progressView(over: Partial<ProgressInput> = {}, runs: ProgressRun[] = [progressRun()]): ProgressInput {
  const sum = (k: 'samplesTaken' | 'samplesStored' | 'samplesDroppedKernel' | 'samplesDroppedAgent' | 'samplesLostTransit'): number => runs.reduce((a, r) => a + r[k], 0);
  return {
    id: PROGRESS_JOB,
    type: 'cpu-profile',
    status: 'running',
    reason: null,
    stoppedBy: null,
    createdAt: at(-200),
    startedAt: at(0),
    finishedAt: null,
    startAt: null,
    params: { type: 'cpu-profile', durationSec: 4, frequencyHz: 99, target: { pid: 1 } },
    totals: {
      samplesTaken: sum('samplesTaken'),
      samplesStored: sum('samplesStored'),
      samplesDroppedKernel: sum('samplesDroppedKernel'),
      samplesDroppedAgent: sum('samplesDroppedAgent'),
      samplesLostTransit: sum('samplesLostTransit'),
    },
    runs,
    ...over,
  };
}
