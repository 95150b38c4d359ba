import type { Job, JobRun } from '../generated/prisma/client';

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
  attached: string[];
  startedAt: string | null;
  finishedAt: string | null;
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
  totals: { samplesTaken: number; samplesDroppedKernel: number; samplesDroppedAgent: number; samplesLostTransit: number; samplesStored: number };
  runs: RunView[];
  links: { self: string; flamegraphSvg: string; flamegraphFolded: string; usdt?: string; usdtEvents?: string; memleak?: string };
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
      attached: r.attached,
      startedAt: iso(r.startedAt),
      finishedAt: iso(r.finishedAt),
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
    totals: {
      samplesTaken: sum('samplesTaken'),
      samplesDroppedKernel: sum('samplesDroppedKernel'),
      samplesDroppedAgent: sum('samplesDroppedAgent'),
      samplesLostTransit: sum('samplesLostTransit'),
      samplesStored: sum('samplesStored'),
    },
    runs,
    links: {
      self: base,
      flamegraphSvg: `${base}/flamegraph.svg`,
      flamegraphFolded: `${base}/flamegraph.folded`,
      ...(job.type === 'usdt' ? { usdt: `${base}/usdt`, usdtEvents: `${base}/usdt/events` } : {}),
      ...(job.type === 'memleak' ? { memleak: `${base}/memleak` } : {}),
    },
  };
}
