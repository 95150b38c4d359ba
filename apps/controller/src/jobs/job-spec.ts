import { BadRequestException } from '@nestjs/common';
import { MemleakMode, type StartRun, type UsdtProbeRef } from '@tracefleet/proto';
import type { CreateJobDto } from './dto/create-job.dto';
import { JOB_TYPE_DEFS, jobTypeDef } from '../job-types/registry';
import { compilePattern, MAX_TOTAL_PROGRAM_SIZE, PatternError } from '@tracefleet/redact';

export function badField(field: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${field} ${why}`] });
}

export const DEFAULT_MAX_EVENTS = 10_000;
export const DEFAULT_SLOWEST_N = 10;

interface PairParam {
  label: string;
  begin: string;
  end: string;
}

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

/** The stored, normalized parameters of a usdt job (what dispatch turns into a UsdtSpec). */
export interface UsdtParams {
  probes: string[];
  binary?: string;
  pairs: PairParam[];
  preset?: string;
  maxEvents: number;
  slowestN: number;
  userStacks: boolean;
}

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

/** The stored, normalized parameters of an ssl-capture job. */
export interface SslParams {
  maxDataBytes: number;
  binaries: string[];
  userStacks: boolean;
  maxEvents: number;
  maxTotalBytes: number;
  redactHeaders: string[];
  redactPatterns: string[];
  redaction: boolean;
  handshakes: boolean;
  retentionHours: number;
}

/** The stored, normalized parameters of a memleak job. */
export interface MemleakParams {
  mode: 'user' | 'kernel';
  intervalSec: number;
  minAgeSec: number;
  sampleEvery: number;
  sampleBytes: number;
  maxAllocs: number;
  topN: number;
}

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

function probeRef(p: string): UsdtProbeRef {
  const [provider, name] = p.split(':');
  return { provider, name };
}

/** The StartRun spec for stored job parameters. */
export function runSpec(type: string, params: Record<string, unknown>): StartRun['spec'] {
  const registered = jobTypeDef(type);
  if (registered) return registered.spec(params);
  if (type === 'cpu_profile') return { $case: 'cpuProfile', value: { frequencyHz: params.frequencyHz as number } };
  if (type === 'memleak') {
    const m = params as unknown as MemleakParams;
    return {
      $case: 'memleak',
      value: {
        mode: m.mode === 'kernel' ? MemleakMode.MEMLEAK_MODE_KERNEL : MemleakMode.MEMLEAK_MODE_USER,
        intervalSec: m.intervalSec,
        minAgeSec: m.minAgeSec,
        sampleEvery: m.sampleEvery,
        sampleBytes: BigInt(m.sampleBytes),
        maxAllocs: m.maxAllocs,
        topN: m.topN,
      },
    };
  }
  if (type === 'ssl_capture') {
    const p = params as unknown as SslParams;
    return {
      $case: 'sslCapture',
      value: {
        maxDataBytes: p.maxDataBytes,
        binaries: p.binaries,
        userStacks: p.userStacks,
        maxEvents: p.maxEvents,
        maxTotalBytes: BigInt(p.maxTotalBytes),
        redactHeaders: p.redactHeaders,
        redactPatterns: p.redactPatterns,
        redactionOff: !p.redaction,
        handshakes: p.handshakes,
      },
    };
  }
  const u = params as unknown as UsdtParams;
  return {
    $case: 'usdt',
    value: {
      probes: u.probes.map(probeRef),
      binary: u.binary ?? '',
      pairs: u.pairs.map((p) => ({ label: p.label, begin: probeRef(p.begin), end: probeRef(p.end) })),
      maxEvents: u.maxEvents,
      slowestN: u.slowestN,
      userStacks: u.userStacks,
      preset: u.preset ?? '',
    },
  };
}
