import { IsBoolean, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';

/** Requests in flight an agent's kernel map holds at most (BiolatencyTracer's maxRequests). */
export const MIN_MAX_REQUESTS = 64;
export const MAX_MAX_REQUESTS = 1 << 20;
/** A block device's name as /sys/class/block lists it ("sda", "nvme0n1", "loop3", "dm-0"). */
export const DISK_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The biolatency request fields: shapes and limits (biolatency.type.ts checks them again for callers that skip the DTO). */
export class BiolatencyFields {
  /** One histogram per (disk, process current at issue) instead of per disk. */
  @IsOptional()
  @IsBoolean()
  perProcess?: boolean;

  /** Latency from the request's insertion into the queue (queue + device time), else from its issue. */
  @IsOptional()
  @IsBoolean()
  queued?: boolean;

  /** Only this whole disk, by its name on the nodes. */
  @IsOptional()
  @IsString()
  @Matches(DISK_RE, { message: 'disk must be a block device name like sda, nvme0n1 or loop3 (letters, digits, . _ -; at most 64)' })
  disk?: string;

  /** Requests in flight at once, per node, that the kernel map holds. */
  @IsOptional()
  @IsInt()
  @Min(MIN_MAX_REQUESTS)
  @Max(MAX_MAX_REQUESTS)
  maxRequests?: number;
}
