import type { Report } from '../generated/prisma/client';
import type { TopFunctions } from '../profiles/top-functions';
import type { ReportDiff } from './report-diff';

export interface ReportSummary {
  id: string;
  scheduleId: string;
  seq: number;
  status: string;
  reason: string | null;
  createdAt: string;
  finishedAt: string | null;
  incidentId: string | null;
  totalSamples: number;
  nodeTotals: Record<string, number> | null;
  baseReportId: string | null;
  links: Record<string, string>;
}

export interface ReportView extends ReportSummary {
  topFunctions: TopFunctions | null;
  /** Against the base report: functions whose share of self samples grew or shrank the most. */
  diff: (ReportDiff & { baseReportId: string; baseSeq: number }) | null;
}

export function reportLinks(r: Pick<Report, 'id' | 'scheduleId' | 'incidentId' | 'baseReportId' | 'folded'>): Record<string, string> {
  const base = `/api/v1/schedules/${r.scheduleId}/reports/${r.id}`;
  return {
    self: base,
    ...(r.folded ? { flamegraphSvg: `${base}/flamegraph.svg`, flamegraphFolded: `${base}/flamegraph.folded` } : {}),
    ...(r.folded && r.baseReportId ? { diffSvg: `${base}/diff.svg` } : {}),
    ...(r.incidentId ? { incident: `/api/v1/incidents/${r.incidentId}` } : {}),
  };
}

export function toReportSummary(r: Report): ReportSummary {
  return {
    id: r.id,
    scheduleId: r.scheduleId,
    seq: r.seq,
    status: r.status,
    reason: r.reason,
    createdAt: r.createdAt.toISOString(),
    finishedAt: r.finishedAt ? r.finishedAt.toISOString() : null,
    incidentId: r.incidentId,
    totalSamples: Number(r.totalSamples),
    nodeTotals: (r.nodeTotals as Record<string, number> | null) ?? null,
    baseReportId: r.baseReportId,
    links: reportLinks(r),
  };
}

export function toReportView(r: Report): ReportView {
  return {
    ...toReportSummary(r),
    topFunctions: (r.topFunctions as unknown as TopFunctions | null) ?? null,
    diff: (r.diff as unknown as ReportView['diff']) ?? null,
  };
}
