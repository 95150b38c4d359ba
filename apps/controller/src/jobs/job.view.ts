import type { SslRunView, SslTotals } from '../ssl/ssl-run.view';
import { unwindView, type UnwindRunStats } from '../runs/unwind-stats';
import type { Scope } from '../auth/scopes';
import { hideSecrets } from '../auth/secret-fields';
import { jobTypeDef } from '../job-types/registry';
import type { JobWithRuns } from './job-runs.read';

export interface RunView {
  node: string;
  status: string;
  reason: string | null;
  targetExited: boolean;
  samplesTaken: number;
  samplesDroppedKernel: number;
  samplesDroppedAgent: number;
  samplesLostTransit: number;
  samplesStored: number;
  batchesReceived: number;
  seqGaps: number;
  /** Batches that arrived but could not be stored after retries; their samples count as lost. */
  batchesNotStored: number;
  storeError: string | null;
  /** Batches that arrived again after they were stored (resent after a lost acknowledgement): dropped, counted once. */
  duplicatesDropped: number;
  /** Result batches that waited in the agent's spool on disk, and those its full spool dropped. */
  batchesSpooled: number;
  batchesOverflowed: number;
  /** The agent's user-stack unwinding counters; null when the run took no user stacks (or its agent sent none). */
  unwind: UnwindRunStats | null;
  attached: string[];
  startedAt: string | null;
  finishedAt: string | null;
  ssl?: SslRunView;
}

export interface JobView {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  /** The token (api or capture) that stopped the job (POST /jobs/:id/stop); null otherwise. */
  stoppedBy: string | null;
  params: unknown;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Incident or schedule tick the job belongs to, and the common attach time of its runs. */
  incidentId: string | null;
  scheduleId: string | null;
  startAt: string | null;
  /** Which nodes the selector chose, and why each other node it matched or named was skipped. */
  selection: { selector: unknown; selected: string[]; skipped: { node: string; reason: string; code?: string }[]; skippedNotListed: number };
  totals: { samplesTaken: number; samplesDroppedKernel: number; samplesDroppedAgent: number; samplesLostTransit: number; samplesStored: number };
  runs: RunView[];
  /** ssl-capture: the runs' counters summed (a job type adds its own fields: job-types/registry.ts `view`). */
  sslTotals?: SslTotals;
  /** Each registered job type (job-types/registry.ts) adds its own links (syscount: `syscount`). */
  links: {
    self: string;
    flamegraphSvg?: string;
    flamegraphFolded?: string;
    usdt?: string;
    usdtEvents?: string;
    memleak?: string;
    sslEvents?: string;
    sslEventsStream?: string;
    http?: string;
  };
}

/** The view a token with these scopes may see: `params.redactPatterns` only with ssl-capture (auth/secret-fields.ts). */
export function jobViewFor(view: JobView, scopes: readonly Scope[]): JobView {
  return { ...view, params: hideSecrets(view.params, scopes) };
}

export const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toJobView(job: JobWithRuns): JobView {
  const def = jobTypeDef(job.type);
  const runs: RunView[] = job.runs
    .map((r) => ({
      node: r.node.name,
      status: r.status,
      reason: r.reason,
      targetExited: r.targetExited,
      samplesTaken: Number(r.samplesTaken),
      samplesDroppedKernel: Number(r.samplesDroppedKernel),
      samplesDroppedAgent: Number(r.samplesDroppedAgent),
      samplesLostTransit: Number(r.samplesLostTransit),
      samplesStored: Number(r.samplesReceived),
      batchesReceived: r.batchesReceived,
      seqGaps: r.seqGaps,
      batchesNotStored: r.batchesNotStored,
      duplicatesDropped: r.duplicatesDropped,
      batchesSpooled: Number(r.batchesSpooled),
      batchesOverflowed: Number(r.batchesOverflowed),
      storeError: r.storeError,
      unwind: unwindView(r.unwindStats),
      attached: r.attached,
      startedAt: iso(r.startedAt),
      finishedAt: iso(r.finishedAt),
      ...def?.view?.run(r),
    }))
    .sort((a, b) => a.node.localeCompare(b.node));
  const sum = (k: keyof RunView): number => runs.reduce((acc, r) => acc + (r[k] as number), 0);
  const base = `/api/v1/jobs/${job.id}`;
  return {
    id: job.id,
    type: job.type.replace('_', '-'),
    status: job.status,
    reason: job.reason,
    stoppedBy: job.stoppedBy,
    params: job.params,
    createdAt: job.createdAt.toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    incidentId: job.incidentId,
    scheduleId: job.scheduleId,
    startAt: iso(job.startAt),
    selection: selectionOf(job.params),
    totals: {
      samplesTaken: sum('samplesTaken'),
      samplesDroppedKernel: sum('samplesDroppedKernel'),
      samplesDroppedAgent: sum('samplesDroppedAgent'),
      samplesLostTransit: sum('samplesLostTransit'),
      samplesStored: sum('samplesStored'),
    },
    runs,
    ...def?.view?.job?.(runs as unknown as Record<string, unknown>[]),
    links: {
      self: base,
      // Each job type says what it links to (job-types/registry.ts).
      ...def?.links(base),
      ...(job.type === 'usdt' ? { usdt: `${base}/usdt`, usdtEvents: `${base}/usdt/events` } : {}),
      ...(job.type === 'memleak' ? { memleak: `${base}/memleak` } : {}),
      ...(job.type === 'ssl_capture' ? { sslEvents: `${base}/ssl-events`, sslEventsStream: `${base}/ssl-events/stream`, http: `${base}/http` } : {}),
    },
  };
}

function selectionOf(params: unknown): JobView['selection'] {
  const p = (params ?? {}) as { nodes?: unknown; selected?: string[]; skipped?: { node: string; reason: string; code?: string }[]; skippedNotListed?: number };
  return { selector: p.nodes ?? null, selected: p.selected ?? [], skipped: p.skipped ?? [], skippedNotListed: p.skippedNotListed ?? 0 };
}
