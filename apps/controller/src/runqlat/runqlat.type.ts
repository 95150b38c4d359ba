import { BadRequestException } from '@nestjs/common';
import type { RunqlatReport, StartRun } from '@tracefleet/proto';
import type { PrismaClient } from '../generated/prisma/client';
import { runIdField, type FieldCaps } from '../common/wire-shape';
import type { JobRequest } from '../common/job-request';
import { RUNQLAT_OPENAPI } from './runqlat.openapi';
import { MAX_MAX_TASKS, MIN_MAX_TASKS, RunqlatFields } from './runqlat.dto';
import { RUNQLAT_SLOTS } from './runqlat.view';

export const DEFAULT_MAX_TASKS = 10_240;
/** Histograms one report may carry: the kernel keeps at most 1024 (RUNQLAT_MAX_HISTS). */
export const MAX_REPORT_HISTOGRAMS = 1024;
const U63 = 2n ** 63n - 1n;

export interface RunqlatParams {
  perCgroup: boolean;
  maxTasks: number;
}

function bad(field: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${field} ${why}`] });
}

/**
 * The runqlat job type, whole: its request fields and their limits, its StartRun part, its wire caps, how
 * one agent report is stored, and its links in the job view. job-types/registry.ts is the only place that lists it.
 */
export const RUNQLAT = {
  name: 'runqlat',
  fields: ['perCgroup', 'maxTasks'] as const,
  dto: RunqlatFields,

  docs: {
    description:
      'Scheduler run-queue latency (tp_btf sched_wakeup, sched_wakeup_new, sched_switch): log2 histograms (µs) of how long the ' +
      "target's threads waited runnable before they ran, merged across nodes and per node. Targets: a pid, all, a cgroup or a container (not a comm).",
    openapi: RUNQLAT_OPENAPI,
    fields: {
      perCgroup: { description: "One histogram per cgroup v2 cgroup of the waiting thread (up to 1024 per node).", default: false },
      maxTasks: { description: 'Threads waiting on a run queue at once that each node measures; enqueues beyond are counted as noStart.', default: DEFAULT_MAX_TASKS },
    },
  },

  /** Checked again here, for a caller that did not go through the DTO; a comm target is refused (the kernel side has no comm filter). */
  params(body: JobRequest<{ perCgroup?: unknown; maxTasks?: unknown }>): RunqlatParams {
    const perCgroup = body.perCgroup ?? false;
    if (typeof perCgroup !== 'boolean') bad('perCgroup', 'must be a boolean value');
    const maxTasks = body.maxTasks ?? DEFAULT_MAX_TASKS;
    if (typeof maxTasks !== 'number' || !Number.isInteger(maxTasks) || maxTasks < MIN_MAX_TASKS || maxTasks > MAX_MAX_TASKS) {
      bad('maxTasks', `must be an integer in [${MIN_MAX_TASKS}, ${MAX_MAX_TASKS}]`);
    }
    if (body.target?.comm !== undefined) bad('target.comm', 'is not supported by runqlat: target a pid, all, a cgroup or a container');
    return { perCgroup, maxTasks };
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
    const p = params as unknown as RunqlatParams;
    return { $case: 'runqlat', value: { perCgroup: p.perCgroup, maxTasks: p.maxTasks } };
  },

  links(base: string): Record<string, string> {
    return { runqlat: `${base}/runqlat`, runqlatText: `${base}/runqlat.txt`, runqlatSvg: `${base}/runqlat.svg` };
  },

  /** AgentMessage field 15: checked on the wire before it is decoded (agents/batch-limits.ts). */
  wire: [
    {
      field: 15,
      type: 'runqlatReport',
      maxBytes: 1024 * 1024,
      shape: {
        1: runIdField,
        2: { name: 'histograms', kind: 'msg', maxPer: MAX_REPORT_HISTOGRAMS, shape: { 2: { name: 'slots', kind: 'num', maxPer: RUNQLAT_SLOTS } } },
      },
      totals: {},
    },
  ] as readonly FieldCaps[],

  /**
   * Stores one run's report (a cumulative snapshot: it replaces the run's earlier one). Histograms of the
   * wrong length or with counts beyond 2^63 are not stored. Returns the histograms stored.
   */
  async store(prisma: PrismaClient, run: { id: string }, report: RunqlatReport): Promise<bigint> {
    const rows = new Map<bigint, { runId: string; cgroupId: bigint; slots: bigint[]; totalNs: bigint }>();
    for (const h of report.histograms.slice(0, MAX_REPORT_HISTOGRAMS)) {
      if (h.slots.length !== RUNQLAT_SLOTS || h.cgroupId > U63 || h.totalNs > U63 || h.slots.some((c) => c > U63)) continue;
      rows.set(h.cgroupId, { runId: run.id, cgroupId: h.cgroupId, slots: h.slots, totalNs: h.totalNs });
    }
    const clamp = (v: bigint): bigint => (v > U63 ? U63 : v);
    const totals = { latencies: clamp(report.latencies), noStart: clamp(report.noStart), noHist: clamp(report.noHist), final: report.final };
    await prisma.$transaction([
      prisma.runqlatHistogram.deleteMany({ where: { runId: run.id } }),
      prisma.runqlatHistogram.createMany({ data: [...rows.values()] }),
      prisma.runqlatTotals.upsert({ where: { runId: run.id }, create: { runId: run.id, ...totals }, update: totals }),
      prisma.jobRun.update({ where: { id: run.id }, data: { samplesReceived: BigInt(rows.size) } }),
    ]);
    return BigInt(rows.size);
  },
};
