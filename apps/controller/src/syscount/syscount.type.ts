import { BadRequestException } from '@nestjs/common';
import type { StartRun, SyscountReport } from '@tracefleet/proto';
import type { PrismaClient } from '../generated/prisma/client';
import { runIdField, type FieldCaps } from '../common/wire-shape';
import { SYSCOUNT_OPENAPI } from './syscount.openapi';
import { MAX_KEYS, SyscountFields } from './syscount.dto';
import type { JobRequest } from '../common/job-request';

export const DEFAULT_MAX_KEYS = 16_384;
/** Entries one SyscountReport may carry (the agent sends at most 10,000: syscount.run.ts). */
export const MAX_REPORT_ENTRIES = 10_000;
/** comm is 15 bytes on the node; a name from the x86-64 table is under 32: these caps leave room, not more. */
const MAX_COMM_BYTES = 64;
const MAX_NAME_BYTES = 64;

export interface SyscountParams {
  maxKeys: number;
}

function bad(field: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${field} ${why}`] });
}

/** A syscall name as agents send it: lower-case identifier characters, or "" (unknown). Anything else is not stored as sent. */
function cleanName(name: string): string {
  return /^[a-z0-9_]{0,63}$/.test(name) ? name : '';
}

/** comm as the kernel keeps it: up to 15 bytes; control characters shown as '?' so a hostile name cannot forge output lines. */
function cleanComm(comm: string): string {
  // eslint-disable-next-line no-control-regex
  return comm.slice(0, 15).replace(/[\u0000-\u001f\u007f]/g, '?');
}

/**
 * The syscount job type, whole: its request fields and their limits, its StartRun part, its wire caps,
 * how one agent report is stored, and its links in the job view. The controller's job-types registry
 * (job-types/registry.ts) is the only place that lists it.
 */
export const SYSCOUNT = {
  name: 'syscount',
  fields: ['maxKeys'] as const,
  /** Its fields' shapes and limits (the request DTO joins them). */
  dto: SyscountFields,

  /** Its OpenAPI part: the description of its request and of its fields (limits come from the DTO's decorators); the rest in syscount.openapi.ts. */
  docs: {
    description: 'Syscall counts per process (tracepoint raw_syscalls:sys_enter), merged across nodes.',
    openapi: SYSCOUNT_OPENAPI,
    fields: {
    maxKeys: { description: '(process, syscall) pairs counted per node; calls of pairs beyond are counted as uncounted.', default: DEFAULT_MAX_KEYS },
    },
  },

  /** maxKeys is checked again here, for a caller that did not go through the DTO. */
  params(body: JobRequest<{ maxKeys?: unknown }>): SyscountParams {
    const maxKeys = body.maxKeys ?? DEFAULT_MAX_KEYS;
    if (typeof maxKeys !== 'number' || !Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > MAX_KEYS) bad('maxKeys', `must be an integer in [1, ${MAX_KEYS}]`);
    return { maxKeys };
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
    return { $case: 'syscount', value: { maxKeys: (params as unknown as SyscountParams).maxKeys } };
  },

  links(base: string): Record<string, string> {
    return { syscount: `${base}/syscount` };
  },

  /** AgentMessage field 13: checked on the wire before it is decoded (agents/batch-limits.ts). */
  wire: [
    {
      field: 13,
      type: 'syscountReport',
      maxBytes: 4 * 1024 * 1024,
      shape: {
        1: runIdField,
        2: { name: 'entries', kind: 'msg', maxPer: MAX_REPORT_ENTRIES, shape: { 2: { name: 'comm', kind: 'str', maxLen: MAX_COMM_BYTES }, 4: { name: 'name', kind: 'str', maxLen: MAX_NAME_BYTES } } },
      },
      totals: {},
    },
  ] as readonly FieldCaps[],

  /**
   * Stores one run's report: its counts (a pair sent twice counts once: the last one stands) and its totals.
   * Returns how many entries were stored, which RunFinished's samplesSent is compared with.
   */
  async store(prisma: PrismaClient, run: { id: string }, report: SyscountReport): Promise<bigint> {
    const rows = new Map<string, { runId: string; pid: number; nr: number; name: string; comm: string; count: bigint }>();
    for (const e of report.entries.slice(0, MAX_REPORT_ENTRIES)) {
      if (e.pid < 1 || e.pid > 2 ** 31 - 1 || e.nr > 2 ** 31 - 1 || e.count > 2n ** 63n - 1n) continue;
      rows.set(`${e.pid}:${e.nr}`, { runId: run.id, pid: e.pid, nr: e.nr, name: cleanName(e.name), comm: cleanComm(e.comm), count: e.count });
    }
    const totals = {
      calls: report.calls.toString(),
      uncounted: report.uncounted.toString(),
      entriesLeftOut: report.entriesLeftOut.toString(),
      callsLeftOut: report.callsLeftOut.toString(),
      entriesRefused: report.entries.length - rows.size,
    };
    await prisma.$transaction([
      prisma.syscountCount.deleteMany({ where: { runId: run.id } }),
      prisma.syscountCount.createMany({ data: [...rows.values()] }),
      prisma.syscountTotals.upsert({ where: { runId: run.id }, create: { runId: run.id, totals }, update: { totals } }),
      prisma.jobRun.update({ where: { id: run.id }, data: { samplesReceived: BigInt(rows.size) } }),
    ]);
    return BigInt(rows.size);
  },
};
