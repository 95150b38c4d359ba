import { BadRequestException } from '@nestjs/common';
import type { BiolatencyReport, StartRun } from '@tracefleet/proto';
import type { PrismaClient } from '../generated/prisma/client';
import { runIdField, type FieldCaps } from '../common/wire-shape';
import type { JobRequest } from '../common/job-request';
import { BIOLATENCY_OPENAPI } from './biolatency.openapi';
import { BiolatencyFields, DISK_RE, MAX_MAX_REQUESTS, MIN_MAX_REQUESTS } from './biolatency.dto';
import { LAT_SLOTS, SIZE_SLOTS } from './biolatency.view';

export const DEFAULT_MAX_REQUESTS = 10_240;
/** Histograms one report may carry (the agent's cap: the largest, the rest counted as left out). */
export const MAX_REPORT_HISTOGRAMS = 1024;
const U63 = 2n ** 63n - 1n;
const U31 = 2 ** 31 - 1;

export interface BiolatencyParams {
  perProcess: boolean;
  queued: boolean;
  disk: string;
  maxRequests: number;
}

function bad(field: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${field} ${why}`] });
}

type Row = {
  runId: string;
  disk: string;
  major: number;
  minor: number;
  pid: number;
  comm: string;
  latency: bigint[];
  size: bigint[];
  totalNs: bigint;
  totalBytes: bigint;
};

/**
 * The biolatency job type, whole: its request fields and their limits, its StartRun part, its wire caps, how one agent
 * report is stored, and its links in the job view. job-types/registry.ts is the only place that lists it.
 */
export const BIOLATENCY = {
  name: 'biolatency',
  fields: ['perProcess', 'queued', 'disk', 'maxRequests'] as const,
  dto: BiolatencyFields,

  docs: {
    description:
      "Block I/O latency and size (tp_btf block_rq_insert, block_rq_issue, block_rq_complete; bcc's biolatency and bitesize in one): " +
      'log2 histograms of request latency (µs) and size (KiB) per disk and optionally per process, merged across nodes and per node. ' +
      'The process is the one current when the request was issued: I/O that a kernel worker issues (writeback, a loop device) is the worker\'s. ' +
      'Targets: a pid, all, a cgroup or a container (not a comm).',
    openapi: BIOLATENCY_OPENAPI,
    fields: {
      perProcess: { description: 'One histogram per (disk, process current at issue) instead of one per disk.', default: false },
      queued: { description: 'Latency from the insertion into the I/O scheduler queue (queue + device time, biolatency -Q), else from the issue to the device.', default: false },
      disk: { description: 'Only this whole disk, by its name on the nodes ("sda", "nvme0n1", "loop3"); a node without it refuses the run. Default: every disk.', default: '' },
      maxRequests: { description: 'Requests in flight at once that each node measures; more are counted as startFull.', default: DEFAULT_MAX_REQUESTS },
    },
  },

  /** Checked again here, for a caller that did not go through the DTO; a comm target is refused (the kernel side has no comm filter). */
  params(body: JobRequest<{ perProcess?: unknown; queued?: unknown; disk?: unknown; maxRequests?: unknown }>): BiolatencyParams {
    const perProcess = body.perProcess ?? false;
    if (typeof perProcess !== 'boolean') bad('perProcess', 'must be a boolean value');
    const queued = body.queued ?? false;
    if (typeof queued !== 'boolean') bad('queued', 'must be a boolean value');
    const disk = body.disk ?? '';
    if (typeof disk !== 'string' || (disk !== '' && !DISK_RE.test(disk))) bad('disk', 'must be a block device name like sda, nvme0n1 or loop3 (letters, digits, . _ -; at most 64)');
    const maxRequests = body.maxRequests ?? DEFAULT_MAX_REQUESTS;
    if (typeof maxRequests !== 'number' || !Number.isInteger(maxRequests) || maxRequests < MIN_MAX_REQUESTS || maxRequests > MAX_MAX_REQUESTS) {
      bad('maxRequests', `must be an integer in [${MIN_MAX_REQUESTS}, ${MAX_MAX_REQUESTS}]`);
    }
    if (body.target?.comm !== undefined) bad('target.comm', 'is not supported by biolatency: target a pid, all, a cgroup or a container');
    return { perProcess, queued, disk, maxRequests };
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
    const p = params as unknown as BiolatencyParams;
    return { $case: 'biolatency', value: { perProcess: p.perProcess, queued: p.queued, disk: p.disk ?? '', maxRequests: p.maxRequests } };
  },

  links(base: string): Record<string, string> {
    return { biolatency: `${base}/biolatency`, biolatencyText: `${base}/biolatency.txt`, biolatencySvg: `${base}/biolatency.svg` };
  },

  /** AgentMessage field 18: checked on the wire before it is decoded (agents/batch-limits.ts). */
  wire: [
    {
      field: 18,
      type: 'biolatencyReport',
      maxBytes: 1024 * 1024,
      shape: {
        1: runIdField,
        2: {
          name: 'histograms',
          kind: 'msg',
          maxPer: MAX_REPORT_HISTOGRAMS,
          shape: {
            1: { name: 'disk', kind: 'str', maxLen: 64 },
            5: { name: 'comm', kind: 'str', maxLen: 64 },
            6: { name: 'latency', kind: 'num', maxPer: LAT_SLOTS },
            7: { name: 'size', kind: 'num', maxPer: SIZE_SLOTS },
          },
        },
      },
      totals: {},
    },
  ] as readonly FieldCaps[],

  /**
   * Stores one run's report (a cumulative snapshot: it replaces the run's earlier one). Histograms of the wrong length,
   * with counts beyond 2^63 or a bad disk name are not stored. Returns the histograms stored.
   */
  async store(prisma: PrismaClient, run: { id: string }, report: BiolatencyReport): Promise<bigint> {
    const rows = new Map<string, Row>();
    const big = (v: bigint): boolean => v > U63;
    for (const h of report.histograms.slice(0, MAX_REPORT_HISTOGRAMS)) {
      if (h.latency.length !== LAT_SLOTS || h.size.length !== SIZE_SLOTS) continue;
      if (big(h.totalNs) || big(h.totalBytes) || h.latency.some(big) || h.size.some(big)) continue;
      if (h.major > U31 || h.minor > U31 || h.pid > U31 || (h.disk !== '' && !DISK_RE.test(h.disk))) continue;
      const comm = h.comm.replace(/[\u0000-\u001f]/g, '').slice(0, 16);
      rows.set(`${h.major}:${h.minor}:${h.pid}:${comm}`, {
        runId: run.id,
        disk: h.disk,
        major: h.major,
        minor: h.minor,
        pid: h.pid,
        comm,
        latency: h.latency,
        size: h.size,
        totalNs: h.totalNs,
        totalBytes: h.totalBytes,
      });
    }
    const clamp = (v: bigint): bigint => (v > U63 ? U63 : v);
    const totals = {
      ios: clamp(report.ios),
      startFull: clamp(report.startFull),
      noStart: clamp(report.noStart),
      noHist: clamp(report.noHist),
      histogramsLeftOut: clamp(report.histogramsLeftOut),
      final: report.final,
    };
    await prisma.$transaction([
      prisma.biolatencyHistogram.deleteMany({ where: { runId: run.id } }),
      prisma.biolatencyHistogram.createMany({ data: [...rows.values()] }),
      prisma.biolatencyTotals.upsert({ where: { runId: run.id }, create: { runId: run.id, ...totals }, update: totals }),
      prisma.jobRun.update({ where: { id: run.id }, data: { samplesReceived: BigInt(rows.size) } }),
    ]);
    return BigInt(rows.size);
  },
};
