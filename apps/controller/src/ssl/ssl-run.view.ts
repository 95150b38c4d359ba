import type { JobRun } from '../generated/prisma/client';
import type { SslRunReport } from './ssl.service';

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

/** ssl-capture: the runs' counters summed. */
export type SslTotals = Omit<SslRunView, 'noOpenssl' | 'attached' | 'reported'>;

/** One ssl-capture run in GET /jobs/:id: the agent's SslReport and what the controller stored or refused. */
export function sslRunView(r: JobRun): SslRunView {
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
    filteredCalls: n('filteredCalls'),
    skippedCalls: n('skippedCalls'),
    noSocketCalls: n('noSocketCalls'),
    noOpenssl: rep?.noOpenssl ?? [],
    attached: r.attached,
    bytesStored: Number(r.sslBytesStored),
    refusedByController: { events: Number(r.eventsRefused), bytes: Number(r.sslBytesRefused) },
    reported: rep !== null,
  };
}

/** The job's sslTotals: its runs' counters summed. */
export function sslTotals(runs: SslRunView[]): SslTotals {
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
    filteredCalls: sum('filteredCalls'),
    skippedCalls: sum('skippedCalls'),
    noSocketCalls: sum('noSocketCalls'),
    bytesStored: sum('bytesStored'),
    refusedByController: {
      events: runs.reduce((a, r) => a + r.refusedByController.events, 0),
      bytes: runs.reduce((a, r) => a + r.refusedByController.bytes, 0),
    },
  };
}
