import type { StartRun, UsdtProbeRef } from '@tracefleet/proto';
import { badField } from '../common/bad-field';
import type { PairParam, UsdtParams } from '../common/job-params';
import type { JobRequest } from '../common/job-request';
import type { SharedJobFields } from '../common/job-fields';
import { UsdtFields } from './usdt.dto';
import { flameGraphLinks } from '../profiles/flamegraph/links';
import { MAX_RECEIVE_MESSAGE_BYTES, MAX_STACK_FRAMES, MAX_STRING_BYTES, frames, runIdField, strings, text, type FieldCaps, type Shape } from '../common/wire-shape';
import { USDT_OPENAPI } from './usdt.openapi';

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

const USDT_EVENT: Shape = {
  // USDT probes take at most 12 arguments (sys/sdt.h).
  5: { name: 'args', kind: 'num', maxPer: 64 },
  6: frames('stack'),
  // The agent reads at most 63 bytes (USDT_STR_LEN).
  7: { name: 'str', kind: 'str', maxLen: 1024 },
};
const USDT_OCCURRENCE: Shape = {
  5: { name: 'beginArgs', kind: 'num', maxPer: 64 },
  6: { name: 'stack', kind: 'str', maxLen: MAX_STRING_BYTES, maxPer: MAX_STACK_FRAMES, total: 'strings' },
};
const USDT_PAIR_REPORT: Shape = {
  1: { name: 'label', kind: 'str', maxLen: 1024 },
  // Log2 buckets of a u64 duration: 64.
  4: { name: 'buckets', kind: 'num', maxPer: 128 },
  // slowestN <= 1,000 (job DTO).
  5: { name: 'slowest', kind: 'msg', maxPer: 2000, total: 'occurrences', shape: USDT_OCCURRENCE },
};

/** Its messages' caps, checked before decoding (agents/batch-limits.ts); the agent sends 5,000 events per batch (EVENTS_PER_BATCH). */
const WIRE: readonly FieldCaps[] = [
  {
    field: 7,
    type: 'usdtEvents',
    maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
    shape: { 1: runIdField, 3: strings, 4: { name: 'events', kind: 'msg', total: 'events', shape: USDT_EVENT } },
    totals: { events: 10_000, strings: 100_000, frames: 10_000 * 256 },
  },
  {
    field: 8,
    type: 'usdtReport',
    maxBytes: 4 * 1024 * 1024,
    shape: {
      1: runIdField,
      2: { name: 'probeCounts', kind: 'num', maxPer: 4096 },
      6: { name: 'pairs', kind: 'msg', maxPer: 1024, shape: USDT_PAIR_REPORT },
      7: { ...text('attached'), maxPer: 4096 },
    },
    totals: { occurrences: 20_000, strings: 200_000 },
  },
];

const presetList = Object.entries(PRESETS)
  .map(([name, p]) => `\`${name}\`: ${p.probes.join(', ')}`)
  .join('; ');

function probeRef(p: string): UsdtProbeRef {
  const [provider, name] = p.split(':');
  return { provider, name };
}

/** The usdt job type: USDT probes of a process or a binary, hit counts, pair durations, events. */
export const USDT = {
  name: 'usdt',
  fields: ['probes', 'binary', 'pairs', 'preset', 'maxEvents', 'slowestN', 'userStacks'] as const,
  /** Its own fields' shapes and limits (the request DTO joins them; maxEvents and userStacks are shared). */
  dto: UsdtFields,

  /** Its OpenAPI part: the description of its request and of its fields (limits come from the DTO's decorators); the rest in usdt.openapi.ts. */
  docs: {
    description: 'USDT probes of a process or a binary: hits per probe, begin/end pair durations, captured events with arguments.',
    openapi: USDT_OPENAPI,
    fields: {
    probes: { description: '"provider:probe" names (a preset adds its own; at most 64 in all).' },
    binary: { description: 'Absolute path of the ELF file with the probes; required with target all. Without it the agent looks in the target pid\'s executable and mapped libraries.' },
    pairs: { items: { $ref: '#/components/schemas/UsdtPair' }, description: 'Per-thread durations from begin to end (log2 histogram, slowest occurrences).' },
    preset: { description: `Probes and pairs for a runtime's GC pauses: ${presetList}.` },
    slowestN: { description: 'Slowest occurrences kept per pair.', default: DEFAULT_SLOWEST_N },
    userStacks: { description: 'Capture the user stack at each event; stacks also form the job\'s flame graph.', default: false },
    maxEvents: { description: 'Events kept with their arguments per node (0 = count only); every hit is counted in the kernel either way.', default: DEFAULT_MAX_EVENTS },
    },
  },

  params(dto: JobRequest<UsdtFields & SharedJobFields>): UsdtParams {
    if (dto.target.comm !== undefined) badField('target.comm', 'is not supported for usdt jobs; use target.pid, or target.all with binary');
    if (dto.target.all && !dto.binary) badField('binary', 'is required when target is all: it names the file whose probes to attach in every process');
    if ((dto.target.cgroup !== undefined || dto.target.container !== undefined) && !dto.binary) {
      badField('binary', `is required when target is ${dto.target.cgroup !== undefined ? 'cgroup' : 'container'}: it names the file whose probes to attach in the target's processes`);
    }
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
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
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
  },

  flameGraph: (job: { id: string; status: string; params: { durationSec?: number } }, where: string, total: bigint) => ({
    title: `USDT probe stacks · job ${job.id.slice(0, 8)}`,
    subtitle: `${where} · ${total.toLocaleString('en-US')} events with stacks · ${job.params.durationSec ?? '?'} s · ${job.status}`,
    countName: 'events',
  }),

  wire: WIRE,

  links: (base: string): Record<string, string> => ({
    ...flameGraphLinks(base),
    usdt: `${base}/usdt`,
    usdtEvents: `${base}/usdt/events`,
  }),
};
