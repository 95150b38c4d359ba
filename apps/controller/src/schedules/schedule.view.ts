import type { Schedule } from '../generated/prisma/client';
import { nextFires } from './cron';
import type { Scope } from '../auth/scopes';
import { hideSecrets } from '../auth/secret-fields';

export interface ScheduleView {
  id: string;
  name: string | null;
  cron: string | null;
  everyMs: number | null;
  nodes: unknown;
  bundle: unknown;
  keepReports: number;
  leadMs: number;
  createdAt: string;
  ticks: number;
  skippedTicks: number;
  lastTickAt: string | null;
  /** The next three fire times (UTC). */
  nextRuns: string[];
  latestReport: { id: string; seq: number; status: string; createdAt: string } | null;
  links: { self: string; reports: string };
}

/** The view a token with these scopes may see: the bundle's `redactPatterns` only with ssl-capture. */
export function scheduleViewFor(view: ScheduleView, scopes: readonly Scope[]): ScheduleView {
  return { ...view, bundle: hideSecrets(view.bundle, scopes) };
}

export function toScheduleView(s: Schedule, latest: { id: string; seq: number; status: string; createdAt: Date } | null): ScheduleView {
  const timing = s.cron !== null ? { cron: s.cron } : { everyMs: s.everyMs ?? 0 };
  const base = `/api/v1/schedules/${s.id}`;
  return {
    id: s.id,
    name: s.name,
    cron: s.cron,
    everyMs: s.everyMs,
    nodes: s.nodes,
    bundle: s.bundle,
    keepReports: s.keepReports,
    leadMs: s.leadMs,
    createdAt: s.createdAt.toISOString(),
    ticks: s.ticks,
    skippedTicks: s.skippedTicks,
    lastTickAt: s.lastTickAt ? s.lastTickAt.toISOString() : null,
    nextRuns: nextFires(timing, 3).map((d) => d.toISOString()),
    latestReport: latest ? { id: latest.id, seq: latest.seq, status: latest.status, createdAt: latest.createdAt.toISOString() } : null,
    links: { self: base, reports: `${base}/reports` },
  };
}
