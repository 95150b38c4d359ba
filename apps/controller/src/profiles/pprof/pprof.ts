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

/** What the end of a profile says: everything of PprofInput but the nodes. */
export type PprofTail = Omit<PprofInput, 'nodes'>;

/**
 * A pprof message written in parts: the samples node by node as they are read (`addNode`, then `take`
 * the bytes so far), the rest (locations, functions, times, string table) at `finish`. A Profile is a
 * sequence of top-level fields, so the parts concatenated are the whole message, byte for byte what
 * `encodePprof` makes of the same nodes. What it keeps between parts: the string and frame tables.
 */
export class PprofEncoder {
  private readonly strings = new Map<string, number>([['', 0]]);
  private readonly w = new ProtoWriter();
  private readonly locationOf = new Map<string, number>();
  private readonly frameNames: string[] = [];
  private readonly periodNs: bigint | undefined;
  private readonly countType: { type: string; unit: string };
  private readonly nodeKey: number;
  private readonly originKeys: { cgroup: number; container: number; pod: number };

  /** `head`: the sample types depend on frequencyHz and countType, written first. */
  constructor(head: Pick<PprofInput, 'frequencyHz' | 'countType'>) {
    const hz = head.countType ? undefined : head.frequencyHz;
    this.periodNs = hz !== undefined && Number.isFinite(hz) && hz > 0 ? BigInt(Math.round(1e9 / hz)) : undefined;
    this.countType = head.countType ?? { type: 'samples', unit: 'count' };
    this.valueType(PPROF.profile.sampleType, this.countType.type, this.countType.unit);
    if (this.periodNs !== undefined) this.valueType(PPROF.profile.sampleType, 'cpu', 'nanoseconds');
    this.nodeKey = this.str('node');
    this.originKeys = { cgroup: this.str('cgroup'), container: this.str('container'), pod: this.str('pod_uid') };
  }

  /** Distinct frame names so far (the tables this encoder holds). */
  get frames(): number {
    return this.frameNames.length;
  }

  private str(s: string): number {
    let i = this.strings.get(s);
    if (i === undefined) {
      i = this.strings.size;
      this.strings.set(s, i);
    }
    return i;
  }

  private valueType(field: number, type: string, unit: string): void {
    const t = this.str(type);
    const u = this.str(unit);
    this.w.message(field, (m) => m.uint64(PPROF.valueType.type, t).uint64(PPROF.valueType.unit, u));
  }

  /** One Sample per stack with a count, labelled with the node (and its origin). */
  addNode(node: string, stacks: (StackCount & { origin?: OriginLabels })[]): void {
    const { periodNs, locationOf, frameNames, nodeKey, originKeys } = this;
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
      this.w.message(PPROF.profile.sample, (m) => {
        m.packed(PPROF.sample.locationId, ids);
        m.packed(PPROF.sample.value, values);
        const label = (key: number, value: string): void => {
          const v = this.str(value);
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

  /** The bytes written since the last take. */
  take(): Uint8Array {
    return this.w.take();
  }

  /** The rest of the message (after the last take). */
  finish(tail: PprofTail): Uint8Array {
    const P = PPROF.profile;
    const w = this.w;
    const mappingId = 1;
    const mappingFile = this.str('tracefleet');
    w.message(P.mapping, (m) => {
      m.uint64(PPROF.mapping.id, mappingId).uint64(PPROF.mapping.filename, mappingFile).bool(PPROF.mapping.hasFunctions, true);
    });
    // Location id = function id = 1 + index of the frame name.
    for (let i = 0; i < this.frameNames.length; i++) {
      const id = i + 1;
      w.message(P.location, (m) => {
        m.uint64(PPROF.location.id, id).uint64(PPROF.location.mappingId, mappingId);
        m.message(PPROF.location.line, (l) => l.uint64(PPROF.line.functionId, id));
      });
    }
    for (let i = 0; i < this.frameNames.length; i++) {
      const name = this.str(this.frameNames[i]);
      w.message(P.function, (m) => {
        m.uint64(PPROF.function.id, i + 1).uint64(PPROF.function.name, name).uint64(PPROF.function.systemName, name);
      });
    }
    if (tail.timeNanos !== undefined && tail.timeNanos > 0n) w.uint64(P.timeNanos, tail.timeNanos);
    if (tail.durationNanos !== undefined && tail.durationNanos > 0n) w.uint64(P.durationNanos, tail.durationNanos);
    if (this.periodNs !== undefined) {
      this.valueType(P.periodType, 'cpu', 'nanoseconds');
      w.uint64(P.period, this.periodNs);
    } else {
      this.valueType(P.periodType, this.countType.type, this.countType.unit);
      w.uint64(P.period, 1);
    }
    const comments = (tail.comments ?? []).map((c) => this.str(c));
    if (comments.length > 0) w.packed(P.comment, comments);
    // Last: every index above has been interned by now.
    for (const s of this.strings.keys()) w.string(P.stringTable, s);
    return w.take();
  }
}

/** The uncompressed profile message. */
export function encodePprof(input: PprofInput): Uint8Array {
  const enc = new PprofEncoder(input);
  for (const { node, stacks } of input.nodes) enc.addNode(node, stacks);
  const head = enc.take();
  const tail = enc.finish(input);
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

/** The profile as served: gzipped, as pprof files are. */
export function encodePprofGzip(input: PprofInput): Buffer {
  return gzipSync(encodePprof(input));
}
