import type { Incident } from '../generated/prisma/client';
import type { JobWithRuns } from '../jobs/job-runs.read';
import { startSkew, type StartSkew } from './skew';
import { iso } from '../jobs/job.view';

type IncidentWithJobs = Incident & { jobs: JobWithRuns[] };

export interface IncidentRunView {
  node: string;
  status: string;
  reason: string | null;
  startedAt: string | null;
  /** Actual start (the agent's STARTED time) minus the incident's startAt. */
  startDelayMs: number | null;
  finishedAt: string | null;
  samplesStored: number;
}

export interface IncidentJobView {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  durationSec: number;
  /** This job's own start skew over its nodes. */
  startSkewMs: number | null;
  runs: IncidentRunView[];
  links: Record<string, string>;
}

export interface IncidentView {
  id: string;
  name: string | null;
  status: string;
  scheduleId: string | null;
  createdAt: string;
  startAt: string;
  nodes: unknown;
  /** Latest minus earliest actual start over every run of every job (null until one started). */
  startSkewMs: number | null;
  skew: Omit<StartSkew, 'startSkewMs'>;
  jobs: IncidentJobView[];
  /** Each node's status per job: { node: { jobId: status } }. */
  byNode: Record<string, Record<string, string>>;
  links: Record<string, string>;
}

const ACTIVE_JOB = ['queued', 'running'];

/** running while any job is; completed when all completed; partial when some did or were stopped (they keep what they captured); failed otherwise. */
export function incidentStatus(jobs: { status: string }[]): string {
  if (jobs.length === 0) return 'failed';
  if (jobs.some((j) => ACTIVE_JOB.includes(j.status))) return 'running';
  if (jobs.every((j) => j.status === 'completed')) return 'completed';
  if (jobs.some((j) => j.status === 'completed' || j.status === 'partial' || j.status === 'stopped')) return 'partial';
  return 'failed';
}

export function toIncidentView(inc: IncidentWithJobs): IncidentView {
  const base = `/api/v1/incidents/${inc.id}`;
  const jobs = [...inc.jobs]
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id))
    .map((j): IncidentJobView => {
      const type = j.type.replace('_', '-');
      const jb = `/api/v1/jobs/${j.id}`;
      return {
        id: j.id,
        type,
        status: j.status,
        reason: j.reason,
        durationSec: j.durationSec,
        startSkewMs: startSkew(j.runs.map((r) => ({ job: j.id, node: r.node.name, startedAt: r.startedAt })), inc.startAt).startSkewMs,
        runs: j.runs
          .map((r) => ({
            node: r.node.name,
            status: r.status,
            reason: r.reason,
            startedAt: iso(r.startedAt),
            startDelayMs: r.startedAt ? r.startedAt.getTime() - inc.startAt.getTime() : null,
            finishedAt: iso(r.finishedAt),
            samplesStored: Number(r.samplesReceived),
          }))
          .sort((a, b) => a.node.localeCompare(b.node)),
        links: {
          self: jb,
          flamegraphSvg: `${jb}/flamegraph.svg`,
          flamegraphFolded: `${jb}/flamegraph.folded`,
          ...(type === 'cpu-profile' ? { pprof: `${jb}/profile.pprof`, speedscope: `${jb}/profile.speedscope.json` } : {}),
          ...(type === 'usdt' ? { usdt: `${jb}/usdt` } : {}),
          ...(type === 'memleak' ? { memleak: `${jb}/memleak` } : {}),
          ...(type === 'ssl-capture' ? { sslEvents: `${jb}/ssl-events`, http: `${jb}/http` } : {}),
        },
      };
    });
  const byNode: Record<string, Record<string, string>> = {};
  for (const j of jobs) for (const r of j.runs) (byNode[r.node] ??= {})[j.id] = r.status;
  const { startSkewMs, ...skew } = startSkew(
    inc.jobs.flatMap((j) => j.runs.map((r) => ({ job: j.id, node: r.node.name, startedAt: r.startedAt }))),
    inc.startAt,
  );
  const hasProfile = jobs.some((j) => j.type === 'cpu-profile');
  return {
    id: inc.id,
    name: inc.name,
    status: incidentStatus(jobs),
    scheduleId: inc.scheduleId,
    createdAt: inc.createdAt.toISOString(),
    startAt: inc.startAt.toISOString(),
    nodes: inc.nodes,
    startSkewMs,
    skew,
    jobs,
    byNode: Object.fromEntries(Object.entries(byNode).sort(([a], [b]) => a.localeCompare(b))),
    links: {
      self: base,
      ...(hasProfile ? { flamegraphSvg: `${base}/flamegraph.svg`, flamegraphFolded: `${base}/flamegraph.folded`, functions: `${base}/functions` } : {}),
    },
  };
}
