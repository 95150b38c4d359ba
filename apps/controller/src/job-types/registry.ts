import type { AgentMessage, StartRun } from '@tracefleet/proto';
import type { PrismaClient } from '../generated/prisma/client';
import { SYSCOUNT } from '../syscount/syscount.type';

type ReportCase = NonNullable<AgentMessage['msg']>['$case'];

/**
 * One job type as the shared folders (jobs/, runs/, agents/, openapi/) see it. A type's own folder
 * defines it whole (its request fields and limits, StartRun part, wire caps, storage, view links) and
 * adds one line to JOB_TYPE_DEFS; its REST routes are its own Nest module.
 *
 * Partial: syscount is the first type defined this way; cpu-profile, usdt, memleak and ssl-capture
 * still go through the per-type code in jobs/job-spec.ts, agents/run-spec.ts, runs/runs.service.ts and
 * agents/agent.gateway.ts.
 */
export interface JobTypeDef {
  /** The REST name; the database enum value is the same with '_' for '-'. */
  name: string;
  /** Request fields only this type takes: other types refuse them ("applies only to ... jobs"). */
  fields: readonly string[];
  /** Validates this type's request fields (BadRequestException naming the field); the parameters stored with the job. */
  params(body: Record<string, unknown>): object;
  /** The StartRun spec from the stored parameters. */
  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']>;
  /** Links the job view adds. */
  links(base: string): Record<string, string>;
  /** Its agent report: the AgentMessage field and case, caps checked before decoding (agents/batch-limits.ts). */
  wire: { field: number; case: ReportCase; maxBytes: number; shape: object };
  /** Stores one report of a run; returns the entries stored (compared with RunFinished.samplesSent). */
  store(prisma: PrismaClient, run: { id: string; jobId: string }, report: never): Promise<bigint>;
}

/** The registered job types. */
export const JOB_TYPE_DEFS: readonly JobTypeDef[] = [SYSCOUNT];

/** The definition of a REST or database type name ('syscount'), if it is registered. */
export function jobTypeDef(type: string): JobTypeDef | undefined {
  const name = type.replace(/_/g, '-');
  return JOB_TYPE_DEFS.find((d) => d.name === name);
}

/** The definition whose agent report has this message case. */
export function jobTypeOfReport(msgCase: string): JobTypeDef | undefined {
  return JOB_TYPE_DEFS.find((d) => d.wire.case === msgCase);
}
