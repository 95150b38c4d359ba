/**
 * A minimal pprof reader, written apart from the encoder (it shares no code with it), so tests
 * and the end-to-end suite can check what `profile.pprof` serves: gunzip, walk the protobuf wire
 * format field by field, resolve string indices, locations and functions. It accepts what other
 * pprof writers produce too (packed or unpacked repeated fields, several lines per location).
 */
import { gunzipSync } from 'node:zlib';

export interface PprofValueType {
  type: string;
  unit: string;
}

export interface PprofSample {
  /** Leaf first, as stored. */
  locationIds: number[];
  values: bigint[];
  labels: { key: string; str: string; num: bigint }[];
}

export interface DecodedPprof {
  stringTable: string[];
  sampleType: PprofValueType[];
  samples: PprofSample[];
  mappings: Map<number, { filename: string; hasFunctions: boolean }>;
  /** Location id → function ids of its lines (innermost first). */
  locations: Map<number, { mappingId: number; functionIds: number[] }>;
  functions: Map<number, { name: string; systemName: string }>;
  timeNanos: bigint;
  durationNanos: bigint;
  periodType: PprofValueType | undefined;
  period: bigint;
  comments: string[];
  defaultSampleType: string;
}

interface Field {
  no: number;
  wire: number;
  /** Varint value (wire 0), or undefined. */
  int?: bigint;
  /** Length-delimited payload (wire 2), or undefined. */
  bytes?: Uint8Array;
}

function readVarint(b: Uint8Array, pos: { i: number }): bigint {
  let v = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (pos.i >= b.length) throw new Error('pprof: truncated varint');
    const byte = b[pos.i++];
    v |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return v;
  }
  throw new Error('pprof: varint longer than 10 bytes');
}

function fields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  const pos = { i: 0 };
  while (pos.i < b.length) {
    const key = readVarint(b, pos);
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (no === 0) throw new Error('pprof: field number 0');
    if (wire === 0) out.push({ no, wire, int: readVarint(b, pos) });
    else if (wire === 2) {
      const len = Number(readVarint(b, pos));
      if (pos.i + len > b.length) throw new Error(`pprof: field ${no} runs past the end`);
      out.push({ no, wire, bytes: b.subarray(pos.i, pos.i + len) });
      pos.i += len;
    } else if (wire === 1) pos.i += 8;
    else if (wire === 5) pos.i += 4;
    else throw new Error(`pprof: unsupported wire type ${wire} (field ${no})`);
    if (pos.i > b.length) throw new Error(`pprof: field ${no} runs past the end`);
  }
  return out;
}

/** A repeated varint field, packed or not. */
function ints(fs: Field[], no: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fs) {
    if (f.no !== no) continue;
    if (f.int !== undefined) out.push(f.int);
    else if (f.bytes !== undefined) {
      const pos = { i: 0 };
      while (pos.i < f.bytes.length) out.push(readVarint(f.bytes, pos));
    }
  }
  return out;
}

function int(fs: Field[], no: number): bigint {
  let v = 0n;
  for (const f of fs) if (f.no === no && f.int !== undefined) v = f.int; // last one wins
  return v;
}

function messages(fs: Field[], no: number): Field[][] {
  return fs.filter((f) => f.no === no && f.bytes !== undefined).map((f) => fields(f.bytes!));
}

/** Decodes a pprof profile; gzipped input (as served) is gunzipped first. */
export function decodePprof(data: Uint8Array): DecodedPprof {
  const raw = data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  const top = fields(raw);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const stringTable = top.filter((f) => f.no === 6).map((f) => decoder.decode(f.bytes ?? new Uint8Array()));
  const s = (i: bigint): string => {
    if (i >= BigInt(stringTable.length)) throw new Error(`pprof: string index ${i} out of ${stringTable.length}`);
    return stringTable[Number(i)];
  };
  const valueType = (m: Field[]): PprofValueType => ({ type: s(int(m, 1)), unit: s(int(m, 2)) });

  const mappings = new Map<number, { filename: string; hasFunctions: boolean }>();
  for (const m of messages(top, 3)) mappings.set(Number(int(m, 1)), { filename: s(int(m, 5)), hasFunctions: int(m, 7) !== 0n });
  const functions = new Map<number, { name: string; systemName: string }>();
  for (const m of messages(top, 5)) functions.set(Number(int(m, 1)), { name: s(int(m, 2)), systemName: s(int(m, 3)) });
  const locations = new Map<number, { mappingId: number; functionIds: number[] }>();
  for (const m of messages(top, 4)) {
    locations.set(Number(int(m, 1)), { mappingId: Number(int(m, 2)), functionIds: messages(m, 4).map((l) => Number(int(l, 1))) });
  }
  const samples = messages(top, 2).map((m) => ({
    locationIds: ints(m, 1).map(Number),
    values: ints(m, 2),
    labels: messages(m, 3).map((l) => ({ key: s(int(l, 1)), str: s(int(l, 2)), num: int(l, 3) })),
  }));
  const periodTypes = messages(top, 11);
  return {
    stringTable,
    sampleType: messages(top, 1).map(valueType),
    samples,
    mappings,
    locations,
    functions,
    timeNanos: int(top, 9),
    durationNanos: int(top, 10),
    periodType: periodTypes.length > 0 ? valueType(periodTypes[periodTypes.length - 1]) : undefined,
    period: int(top, 12),
    comments: ints(top, 13).map(s),
    defaultSampleType: s(int(top, 14)),
  };
}

/**
 * Each sample as a root-first list of function names with its value at `valueIndex`
 * (the same shape as the folded format). Throws on a dangling location or function id.
 */
export function pprofStacks(p: DecodedPprof, valueIndex = 0): { frames: string[]; count: bigint; labels: Record<string, string> }[] {
  return p.samples.map((sm, n) => {
    const leafFirst: string[] = [];
    for (const id of sm.locationIds) {
      const loc = p.locations.get(id);
      if (loc === undefined) throw new Error(`pprof: sample ${n} names location ${id}, which does not exist`);
      for (const fid of loc.functionIds) {
        const fn = p.functions.get(fid);
        if (fn === undefined) throw new Error(`pprof: location ${id} names function ${fid}, which does not exist`);
        leafFirst.push(fn.name);
      }
    }
    if (valueIndex >= sm.values.length) throw new Error(`pprof: sample ${n} has ${sm.values.length} values, wanted index ${valueIndex}`);
    const labels: Record<string, string> = {};
    for (const l of sm.labels) labels[l.key] = l.str;
    return { frames: leafFirst.reverse(), count: sm.values[valueIndex], labels };
  });
}

/** Sums a decoded profile's value at `valueIndex` per root-first path, keyed by frames joined with ";". */
export function pprofTotalsByPath(p: DecodedPprof, valueIndex = 0): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const s of pprofStacks(p, valueIndex)) {
    const key = s.frames.join(';');
    out.set(key, (out.get(key) ?? 0n) + s.count);
  }
  return out;
}
