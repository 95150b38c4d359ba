/**
 * Encodes stored stacks as a pprof profile (github.com/google/pprof proto/profile.proto), the
 * format `go tool pprof`, Grafana/Pyroscope and most profilers read.
 *
 * One Function and one Location per distinct frame name (the name is all we keep; kernel
 * frames keep their "_[k]" suffix, JIT frames "_[j]"), one Mapping that says functions are
 * already symbolized (so pprof does not try to symbolize addresses we do not have), one
 * Sample per (node, stack, origin) labelled node=NAME and, where the agent knew them, cgroup=PATH,
 * container=ID and pod_uid=UID; locations leaf first as pprof requires.
 */
import { gzipSync } from 'node:zlib';
import type { StackCount } from '../flamegraph/flamegraph';
import type { OriginLabels } from '../origins';
import { ProtoWriter } from './proto-writer';

/** Field numbers of profile.proto. */
export const PPROF = {
  profile: {
    sampleType: 1,
    sample: 2,
    mapping: 3,
    location: 4,
    function: 5,
    stringTable: 6,
    timeNanos: 9,
    durationNanos: 10,
    periodType: 11,
    period: 12,
    comment: 13,
    defaultSampleType: 14,
  },
  valueType: { type: 1, unit: 2 },
  sample: { locationId: 1, value: 2, label: 3 },
  label: { key: 1, str: 2 },
  mapping: { id: 1, filename: 5, hasFunctions: 7 },
  location: { id: 1, mappingId: 2, line: 4 },
  line: { functionId: 1 },
  function: { id: 1, name: 2, systemName: 3 },
} as const;

export interface PprofInput {
  /** Stacks (root first) per node; each sample is labelled with its node. */
  nodes: { node: string; stacks: (StackCount & { origin?: OriginLabels })[] }[];
  /** Sampling frequency: adds a cpu/nanoseconds value (count × 1e9 / hz) and the period. */
  frequencyHz?: number;
  /** When the profile started, ns since the Unix epoch. */
  timeNanos?: bigint;
  durationNanos?: bigint;
  /** Free-form lines shown by `pprof -comments`. */
  comments?: string[];
  /** What a count is when not a sample (off-cpu: off_cpu/microseconds); frequencyHz is then not used. */
  countType?: { type: string; unit: string };
}

/** The uncompressed profile message. */
export function encodePprof(input: PprofInput): Uint8Array {
  const P = PPROF.profile;
  const strings = new Map<string, number>([['', 0]]);
  const str = (s: string): number => {
    let i = strings.get(s);
    if (i === undefined) {
      i = strings.size;
      strings.set(s, i);
    }
    return i;
  };
  const hz = input.countType ? undefined : input.frequencyHz;
  const periodNs = hz !== undefined && Number.isFinite(hz) && hz > 0 ? BigInt(Math.round(1e9 / hz)) : undefined;

  const w = new ProtoWriter();
  const valueType = (field: number, type: string, unit: string): void => {
    const t = str(type);
    const u = str(unit);
    w.message(field, (m) => m.uint64(PPROF.valueType.type, t).uint64(PPROF.valueType.unit, u));
  };
  const countType = input.countType ?? { type: 'samples', unit: 'count' };
  valueType(P.sampleType, countType.type, countType.unit);
  if (periodNs !== undefined) valueType(P.sampleType, 'cpu', 'nanoseconds');

  // Location id = function id = 1 + index of the frame name.
  const locationOf = new Map<string, number>();
  const frameNames: string[] = [];
  const nodeKey = str('node');
  const originKeys = { cgroup: str('cgroup'), container: str('container'), pod: str('pod_uid') };
  for (const { node, stacks } of input.nodes) {
    for (const s of stacks) {
      const count = BigInt(s.count);
      if (count === 0n) continue;
      const ids = new Array<number>(s.frames.length);
      for (let i = 0; i < s.frames.length; i++) {
        const name = s.frames[s.frames.length - 1 - i]; // leaf first
        let id = locationOf.get(name);
        if (id === undefined) {
          frameNames.push(name);
          id = frameNames.length;
          locationOf.set(name, id);
        }
        ids[i] = id;
      }
      const values = periodNs === undefined ? [count] : [count, count * periodNs];
      w.message(P.sample, (m) => {
        m.packed(PPROF.sample.locationId, ids);
        m.packed(PPROF.sample.value, values);
        const label = (key: number, value: string): void => {
          const v = str(value);
          m.message(PPROF.sample.label, (l) => l.uint64(PPROF.label.key, key).uint64(PPROF.label.str, v));
        };
        label(nodeKey, node);
        if (s.origin) {
          label(originKeys.cgroup, s.origin.cgroup);
          if (s.origin.containerId) label(originKeys.container, s.origin.containerId);
          if (s.origin.podUid) label(originKeys.pod, s.origin.podUid);
        }
      });
    }
  }

  const mappingId = 1;
  const mappingFile = str('tracefleet');
  w.message(P.mapping, (m) => {
    m.uint64(PPROF.mapping.id, mappingId).uint64(PPROF.mapping.filename, mappingFile).bool(PPROF.mapping.hasFunctions, true);
  });
  for (let i = 0; i < frameNames.length; i++) {
    const id = i + 1;
    w.message(P.location, (m) => {
      m.uint64(PPROF.location.id, id).uint64(PPROF.location.mappingId, mappingId);
      m.message(PPROF.location.line, (l) => l.uint64(PPROF.line.functionId, id));
    });
  }
  for (let i = 0; i < frameNames.length; i++) {
    const name = str(frameNames[i]);
    w.message(P.function, (m) => {
      m.uint64(PPROF.function.id, i + 1).uint64(PPROF.function.name, name).uint64(PPROF.function.systemName, name);
    });
  }

  if (input.timeNanos !== undefined && input.timeNanos > 0n) w.uint64(P.timeNanos, input.timeNanos);
  if (input.durationNanos !== undefined && input.durationNanos > 0n) w.uint64(P.durationNanos, input.durationNanos);
  if (periodNs !== undefined) {
    valueType(P.periodType, 'cpu', 'nanoseconds');
    w.uint64(P.period, periodNs);
  } else {
    valueType(P.periodType, countType.type, countType.unit);
    w.uint64(P.period, 1);
  }
  const comments = (input.comments ?? []).map(str);
  if (comments.length > 0) w.packed(P.comment, comments);

  // Last: every index above has been interned by now.
  for (const s of strings.keys()) w.string(P.stringTable, s);
  return w.finish();
}

/** The profile as served: gzipped, as pprof files are. */
export function encodePprofGzip(input: PprofInput): Buffer {
  return gzipSync(encodePprof(input));
}
