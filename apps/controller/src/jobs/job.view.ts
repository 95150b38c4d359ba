import type { Job, JobRun } from '../generated/prisma/client';
import type { SslRunReport } from '../ssl/ssl.service';
import { unwindView, type UnwindRunStats } from '../runs/unwind-stats';
import type { Scope } from '../auth/scopes';
import { hideSecrets } from '../auth/secret-fields';
import { jobTypeDef } from '../job-types/registry';

/** An ssl-capture run's counters: the agent's SslReport, and what the controller stored or refused. */
export interface SslRunView extends SslRunReport {
  eventsStored: number;
  attached: string[];
  bytesStored: number;
  /** Sent by the agent past the job's maxEvents / maxTotalBytes / maxDataBytes: counted, not stored. */
  refusedByController: { events: number; bytes: number };
  /** False until the agent's SslReport arrived (counters from the agent are zero until then). */
  reported: boolean;
}

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
  /** ssl-capture: the runs' counters summed. */
  sslTotals?: Omit<SslRunView, 'noOpenssl' | 'attached' | 'reported'>;
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

type JobWithRuns = Job & { runs: (JobRun & { node: { name: string } })[] };

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toJobView(job: JobWithRuns): JobView {
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
      storeError: r.storeError,
      unwind: unwindView(r.unwindStats),
      attached: r.attached,
      startedAt: iso(r.startedAt),
      finishedAt: iso(r.finishedAt),
      ...(job.type === 'ssl_capture' ? { ssl: sslRunView(r) } : {}),
    }))
    .sort((a, b) => a.node.localeCompare(b.node));
  const sum = (k: keyof RunView): number => runs.reduce((acc, r) => acc + (r[k] as number), 0);
  const base = `/api/v1/jobs/${job.id}`;
  return {
    id: job.id,
    type: job.type.replace('_', '-'),
    status: job.status,
    reason: job.reason,
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
    ...(job.type === 'ssl_capture' ? { sslTotals: sslTotals(runs.map((r) => r.ssl!)) } : {}),
    links: {
      self: base,
      // A registered type says what it links to; the older types all have a flame graph.
      ...(jobTypeDef(job.type)?.links(base) ?? { flamegraphSvg: `${base}/flamegraph.svg`, flamegraphFolded: `${base}/flamegraph.folded` }),
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

function sslRunView(r: JobRun): SslRunView {
  const rep = r.sslReport as unknown as Partial<SslRunReport> | null;
  const n = (k: keyof Omit<SslRunReport, 'noOpenssl'>): number => Number(rep?.[k] ?? 0);
  return {
    eventsSeen: n('eventsSeen'),
    eventsSent: n('eventsSent'),
    eventsStored: Number(r.samplesReceived),
    droppedKernel: n('droppedKernel'),
    droppedAgent: n('droppedAgent'),
    overBudget: n('overBudget'),
    bytesOverBudget: n('bytesOverBudget'),
    truncatedEvents: n('truncatedEvents'),
    redactions: n('redactions'),
    orphanReturns: n('orphanReturns'),
    readErrors: n('readErrors'),
    noOpenssl: rep?.noOpenssl ?? [],
    attached: r.attached,
    bytesStored: Number(r.sslBytesStored),
    refusedByController: { events: Number(r.sslEventsRefused), bytes: Number(r.sslBytesRefused) },
    reported: rep !== null,
  };
}

function sslTotals(runs: SslRunView[]): NonNullable<JobView['sslTotals']> {
  const sum = (k: keyof SslRunView): number => runs.reduce((a, r) => a + (r[k] as number), 0);
  return {
    eventsSeen: sum('eventsSeen'),
    eventsSent: sum('eventsSent'),
    eventsStored: sum('eventsStored'),
    droppedKernel: sum('droppedKernel'),
    droppedAgent: sum('droppedAgent'),
    overBudget: sum('overBudget'),
    bytesOverBudget: sum('bytesOverBudget'),
    truncatedEvents: sum('truncatedEvents'),
    redactions: sum('redactions'),
    orphanReturns: sum('orphanReturns'),
    readErrors: sum('readErrors'),
    bytesStored: sum('bytesStored'),
    refusedByController: {
      events: runs.reduce((a, r) => a + r.refusedByController.events, 0),
      bytes: runs.reduce((a, r) => a + r.refusedByController.bytes, 0),
    },
  };
}
