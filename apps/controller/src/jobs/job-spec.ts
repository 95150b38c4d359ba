import type { CreateJobDto } from './dto/create-job.dto';
import { JOB_TYPE_DEFS, jobTypeDef } from '../job-types/registry';
import { badField } from '../common/bad-field';
import type { MemleakParams, PairParam, SslParams, UsdtParams } from '../common/job-params';
import { compilePattern, MAX_TOTAL_PROGRAM_SIZE, PatternError } from '@tracefleet/redact';

export const DEFAULT_MAX_EVENTS = 10_000;
export const DEFAULT_SLOWEST_N = 10;

/** What a preset traces: the probes, and the begin/end pairs whose durations it measures. */
export const PRESETS: Record<string, { probes: string[]; pairs: PairParam[] }> = {
  'python-gc': {
    probes: ['python:gc__start', 'python:gc__done'],
    pairs: [{ label: 'gc', begin: 'python:gc__start', end: 'python:gc__done' }],
  },
  'jvm-gc': {
    probes: ['hotspot:gc__begin', 'hotspot:gc__end', 'hotspot:mem__pool__gc__begin', 'hotspot:mem__pool__gc__end'],
    pairs: [
      { label: 'gc', begin: 'hotspot:gc__begin', end: 'hotspot:gc__end' },
      { label: 'mem_pool_gc', begin: 'hotspot:mem__pool__gc__begin', end: 'hotspot:mem__pool__gc__end' },
    ],
  },
};

const USDT_ONLY = ['probes', 'binary', 'pairs', 'preset', 'slowestN'] as const;
const MEMLEAK_ONLY = ['intervalSec', 'minAgeSec', 'sampleEvery', 'sampleBytes', 'maxAllocs', 'topN'] as const;
const SSL_ONLY = ['maxDataBytes', 'binaries', 'maxTotalBytes', 'redactHeaders', 'redactPatterns', 'redaction', 'handshakes', 'retentionHours'] as const;
/** Fields shared by usdt and ssl-capture jobs. */
const EVENT_FIELDS = ['maxEvents', 'userStacks'] as const;

export const SSL_DEFAULTS = {
  maxDataBytes: 4096,
  maxEvents: 100_000,
  maxTotalBytes: 64 * 1024 * 1024,
  retentionHours: 24,
} as const;

function onlyFor(dto: CreateJobDto, type: string, fields: readonly (keyof CreateJobDto)[]): void {
  for (const f of fields) if (dto[f] !== undefined) badField(String(f), `applies only to ${type} jobs`);
}

/** Checks the fields that depend on the job type; returns the type-specific parameters to store. */
export function typeParams(dto: CreateJobDto): { frequencyHz: number } | UsdtParams | MemleakParams | SslParams | object {
  for (const def of JOB_TYPE_DEFS) if (dto.type !== def.name) onlyFor(dto, def.name, def.fields as readonly (keyof CreateJobDto)[]);
  if (dto.type !== 'usdt') onlyFor(dto, 'usdt', USDT_ONLY);
  if (dto.type !== 'memleak') onlyFor(dto, 'memleak', MEMLEAK_ONLY);
  if (dto.type !== 'ssl-capture') onlyFor(dto, 'ssl-capture', SSL_ONLY);
  if (dto.type !== 'usdt' && dto.type !== 'ssl-capture') onlyFor(dto, 'usdt and ssl-capture', EVENT_FIELDS);
  if (dto.type !== 'cpu-profile') onlyFor(dto, 'cpu-profile', ['frequencyHz']);
  const registered = jobTypeDef(dto.type);
  if (registered) return registered.params(dto as unknown as Record<string, unknown>);
  if (dto.type === 'cpu-profile') return { frequencyHz: dto.frequencyHz ?? 99 };
  if (dto.type === 'memleak') return memleakParams(dto);
  if (dto.type === 'ssl-capture') return sslParams(dto);
  if (dto.target.comm !== undefined) badField('target.comm', 'is not supported for usdt jobs; use target.pid, or target.all with binary');
  if (dto.target.all && !dto.binary) badField('binary', 'is required when target is all: it names the file whose probes to attach in every process');
  const preset = dto.preset ? PRESETS[dto.preset] : undefined;
  const probes = [...new Set([...(preset?.probes ?? []), ...(dto.probes ?? [])])];
  const pairs: PairParam[] = [...(preset?.pairs ?? [])];
  (dto.pairs ?? []).forEach((p, i) => {
    const label = p.label ?? `${p.begin}..${p.end}`;
    if (pairs.some((q) => q.label === label)) badField(`pairs[${i}].label`, `"${label}" is used twice`);
    if (p.begin === p.end) badField(`pairs[${i}]`, 'begin and end must be different probes');
    pairs.push({ label, begin: p.begin, end: p.end });
    for (const probe of [p.begin, p.end]) if (!probes.includes(probe)) probes.push(probe);
  });
  if (probes.length === 0) badField('probes', 'must name at least one "provider:probe", or give a preset');
  if (probes.length > 64) badField('probes', 'must not name more than 64 probes (with the preset and pairs)');
  return {
    probes,
    binary: dto.binary,
    pairs,
    preset: dto.preset,
    maxEvents: dto.maxEvents ?? DEFAULT_MAX_EVENTS,
    slowestN: dto.slowestN ?? DEFAULT_SLOWEST_N,
    userStacks: dto.userStacks ?? false,
  };
}

function memleakParams(dto: CreateJobDto): MemleakParams {
  if (dto.sampleEvery !== undefined && dto.sampleBytes !== undefined) badField('sampleBytes', 'cannot be combined with sampleEvery');
  const intervalSec = dto.intervalSec ?? 5;
  if (intervalSec > dto.durationSec) badField('intervalSec', `must not be greater than durationSec (${dto.durationSec})`);
  return {
    // A process's allocations through its libc, or (target all) the kernel's allocations on the node.
    mode: dto.target.all ? 'kernel' : 'user',
    intervalSec,
    minAgeSec: dto.minAgeSec ?? 0,
    sampleEvery: dto.sampleEvery ?? 1,
    sampleBytes: dto.sampleBytes ?? 0,
    maxAllocs: dto.maxAllocs ?? 1_000_000,
    topN: dto.topN ?? 50,
  };
}

function sslParams(dto: CreateJobDto): SslParams {
  if (dto.maxEvents !== undefined && dto.maxEvents < 1) badField('maxEvents', 'must be at least 1 for ssl-capture jobs (every call is counted either way)');
  const redactPatterns = dto.redactPatterns ?? [];
  let instructions = 0;
  redactPatterns.forEach((p, i) => {
    try {
      instructions += compilePattern(p).programSize();
    } catch (err) {
      if (err instanceof PatternError) badField(`redactPatterns[${i}]`, `"${p}" is refused: ${err.message}`);
      throw err;
    }
  });
  if (instructions > MAX_TOTAL_PROGRAM_SIZE) badField('redactPatterns', `compile to ${instructions} RE2 instructions in all (at most ${MAX_TOTAL_PROGRAM_SIZE}: every captured call goes through each pattern)`);
  const lower = (dto.redactHeaders ?? []).map((h) => h.toLowerCase());
  return {
    maxDataBytes: dto.maxDataBytes ?? SSL_DEFAULTS.maxDataBytes,
    binaries: [...new Set(dto.binaries ?? [])],
    userStacks: dto.userStacks ?? false,
    maxEvents: dto.maxEvents ?? SSL_DEFAULTS.maxEvents,
    maxTotalBytes: dto.maxTotalBytes ?? SSL_DEFAULTS.maxTotalBytes,
    redactHeaders: [...new Set(lower)],
    redactPatterns,
    redaction: dto.redaction ?? true,
    handshakes: dto.handshakes ?? false,
    retentionHours: dto.retentionHours ?? SSL_DEFAULTS.retentionHours,
  };
}
