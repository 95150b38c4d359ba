import type { JobTarget } from './job-params';

/**
 * A job request as the job types read it (jobs/dto/create-job.dto.ts validates its fields' shapes and
 * limits first; each type's `params` checks what depends on the type). Fields a type does not take are
 * refused before its `params` runs.
 */
export interface JobRequest {
  type: string;
  durationSec: number;
  target: JobTarget;
  frequencyHz?: number;
  // usdt
  probes?: string[];
  binary?: string;
  pairs?: { label?: string; begin: string; end: string }[];
  preset?: string;
  slowestN?: number;
  // usdt and ssl-capture
  maxEvents?: number;
  userStacks?: boolean;
  // memleak
  intervalSec?: number;
  minAgeSec?: number;
  sampleEvery?: number;
  sampleBytes?: number;
  maxAllocs?: number;
  topN?: number;
  // ssl-capture
  maxDataBytes?: number;
  binaries?: string[];
  maxTotalBytes?: number;
  redactHeaders?: string[];
  redactPatterns?: string[];
  redaction?: boolean;
  handshakes?: boolean;
  retentionHours?: number;
  // syscount
  maxKeys?: number;
}
