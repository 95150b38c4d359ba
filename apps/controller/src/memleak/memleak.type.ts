import { MemleakMode, type StartRun } from '@tracefleet/proto';
import { badField } from '../common/bad-field';
import type { MemleakParams } from '../common/job-params';
import type { JobRequest } from '../common/job-request';
import { MemleakFields } from './memleak.dto';
import { flameGraphLinks } from '../profiles/flamegraph/links';
import { MAX_RECEIVE_MESSAGE_BYTES, frames, runIdField, strings, text, type FieldCaps, type Shape } from '../common/wire-shape';
import { MEMLEAK_OPENAPI } from './memleak.openapi';

const MEMLEAK_STACK: Shape = { 1: frames() };
/** Its snapshot's caps, checked before decoding (agents/batch-limits.ts); the agent sends topN <= 1,000 stacks per snapshot. */
const WIRE: readonly FieldCaps[] = [
  {
    field: 10,
    type: 'memleakSnapshot',
    maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
    shape: { 1: runIdField, 5: strings, 6: { name: 'stacks', kind: 'msg', total: 'stacks', shape: MEMLEAK_STACK }, 15: { ...text('attached'), maxPer: 4096 } },
    totals: { stacks: 2000, strings: 2000 * 256 },
  },
];

/** The memleak job type: outstanding allocations by stack, snapshotted every intervalSec. */
export const MEMLEAK = {
  name: 'memleak',
  fields: ['intervalSec', 'minAgeSec', 'sampleEvery', 'sampleBytes', 'maxAllocs', 'topN', 'mallocProbe'] as const,
  /** Its fields' shapes and limits (the request DTO joins them). */
  dto: MemleakFields,

  /** Its OpenAPI part: the description of its request and of its fields (limits come from the DTO's decorators); the rest in memleak.openapi.ts. */
  docs: {
    description: 'Outstanding allocations by stack, snapshotted every intervalSec (target all: the kernel\'s allocations).',
    openapi: MEMLEAK_OPENAPI,
    fields: {
    intervalSec: { description: 'Seconds between snapshots of outstanding allocations; at most durationSec.', default: 5 },
    minAgeSec: { description: 'Only allocations at least this old count as outstanding.', default: 0 },
    sampleEvery: { description: 'Trace every Nth allocation (results give the scale).', default: 1 },
    sampleBytes: { description: 'Or trace by byte interval; not with sampleEvery.' },
    maxAllocs: { description: 'Live allocations tracked per node; past it allocations are counted as untracked.', default: 1_000_000 },
    topN: { description: 'Stacks kept per snapshot, by outstanding bytes.', default: 50 },
    mallocProbe: {
      description:
        "User mode: 'entry' probes malloc at its entry and return (exact sizes); 'returns' only at its ret instructions (one trap per call, " +
        'sizes read from the chunk header: the usable size, 8 to 23 bytes over the request, a page at most for an mmap()ed chunk). ' +
        "On kernels that single-step ret (not emulated) 'returns' costs more per call than 'entry'; see BENCHMARKS.md.",
      default: 'entry',
    },
    },
  },

  params(dto: JobRequest<MemleakFields>): MemleakParams {
    if (dto.sampleEvery !== undefined && dto.sampleBytes !== undefined) badField('sampleBytes', 'cannot be combined with sampleEvery');
    if (dto.mallocProbe !== undefined && dto.target.all) badField('mallocProbe', 'is for user mode (a process target) only');
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
      mallocProbe: dto.mallocProbe ?? 'entry',
    };
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
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
        ...(m.mallocProbe === 'returns' ? { mallocReturnsOnly: true } : {}),
      },
    };
  },

  wire: WIRE,

  flameGraph: (job: { id: string; status: string }, where: string, total: bigint) => ({
    title: `Outstanding allocations · job ${job.id.slice(0, 8)}`,
    subtitle: `${where} · ${total.toLocaleString('en-US')} bytes outstanding at the latest snapshot · ${job.status}`,
    countName: 'bytes',
  }),

  links: (base: string): Record<string, string> => ({ ...flameGraphLinks(base), memleak: `${base}/memleak` }),
};
