import type { StartRun } from '@tracefleet/proto';
import type { JobRequest } from '../common/job-request';
import type { FieldCaps } from '../common/wire-shape';
import type { JobRun } from '../generated/prisma/client';
import type { Scope } from '../auth/scopes';
import type { NodePolicy } from '../common/node-policy';
import type { JobTypeOpenApi } from '../common/openapi-build';
import { MEMLEAK } from '../memleak/memleak.type';
import { CPU_PROFILE } from '../profiles/cpu-profile.type';
import { SSL_CAPTURE } from '../ssl/ssl-capture.type';
import { RUNQLAT } from '../runqlat/runqlat.type';
import { BIOLATENCY } from '../biolatency/biolatency.type';
import { OFF_CPU } from '../off-cpu/off-cpu.type';
import { SYSCOUNT } from '../syscount/syscount.type';
import { TCP } from '../tcp/tcp.type';
import { OOMKILL } from '../oomkill/oomkill.type';
import { EXEC_OPEN } from '../exec-open/exec-open.type';
import { USDT } from '../usdt/usdt.type';

/**
 * One job type as the shared folders (jobs/, runs/, agents/, openapi/) see it. A type's own folder
 * defines it (its request fields and their type-dependent checks, the parameters stored, its StartRun
 * part, its view links) and adds one line to JOB_TYPE_DEFS; its read routes are its own.
 */
export interface JobTypeDef {
  /** The REST name; the database enum value is the same with '_' for '-'. */
  name: string;
  /** Request fields this type takes besides type, durationSec and target; other types refuse them. */
  fields: readonly string[];
  /** The class whose class-validator decorators give its own fields' shapes and limits (<type>.dto.ts); the request DTO joins them. */
  dto: new () => object;
  /** Its OpenAPI part: what a request of this type is, and its fields' descriptions and defaults (JSON Schema). */
  docs: {
    description: string;
    fields: Record<string, object>;
    /** Its tag, a request example, its own read routes, their views and its fields in the job view (`<type>.openapi.ts`). */
    openapi?: JobTypeOpenApi;
  };
  /** Checks what depends on the type (BadRequestException naming the field); the parameters stored with the job. */
  params(body: JobRequest): object;
  /** The StartRun spec from the stored parameters. */
  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']>;
  /** Links the job view adds after `self`. */
  links(base: string): Record<string, string>;
  /** Fields this type adds to each run in GET /jobs/:id, and to the job (from its runs' views). */
  view?: { run(r: JobRun): Record<string, unknown>; job?(runs: Record<string, unknown>[]): Record<string, unknown> };
  /** Checks of its own against a node's registered policy (placement skips the node): the refusal in the agent's words, or undefined. */
  nodePolicy?(params: Record<string, unknown>, policy: NodePolicy): string | undefined;
  /** The scope a token needs, besides `jobs`, to create this type's jobs or read their captured data. */
  scope?: Scope;
  /**
   * The capability a node must have registered to run a job with these parameters: the type's name, or
   * "<type>:<feature>" when they use what older agents would ignore (default: the name).
   */
  capability?(params: Record<string, unknown>): string;
  /** The flame graph's title, subtitle and count name when its counts are not CPU samples. */
  flameGraph?(job: { id: string; status: string; params: { durationSec?: number } }, where: string, total: bigint): { title: string; subtitle: string; countName: string };
  /** Its result messages' caps, by AgentMessage field (agents/batch-limits.ts checks them before decoding). */
  wire?: readonly FieldCaps[];
}

const DEFS = [CPU_PROFILE, USDT, MEMLEAK, SSL_CAPTURE, SYSCOUNT, RUNQLAT, BIOLATENCY, TCP, OFF_CPU, OOMKILL, EXEC_OPEN] as const;

/** The job types, in the order the API lists them. */
export const JOB_TYPE_DEFS: readonly JobTypeDef[] = DEFS;

type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
/** Every type's own request fields in one object type (what jobs/dto/create-job.dto.ts joins). */
export type JobTypeFields = Intersection<InstanceType<(typeof DEFS)[number]['dto']>>;

/** The definition of a REST or database type name ('ssl-capture' or 'ssl_capture'). */
export function jobTypeDef(type: string): JobTypeDef | undefined {
  const name = type.replace(/_/g, '-');
  return JOB_TYPE_DEFS.find((d) => d.name === name);
}

/** The database enum value of a REST type name. */
export const dbJobType = (name: string): string => name.replace(/-/g, '_');

/** The types that take a request field, by name ("usdt and ssl-capture"), for the refusal of the others. */
export function typesTaking(field: string): string[] {
  return JOB_TYPE_DEFS.filter((d) => d.fields.includes(field)).map((d) => d.name);
}
