/**
 * An interpreter's layout from its own binary: the struct offsets of PyLayout read from the DWARF of the file
 * that defines the interpreter (libpython3.X.so or python3.X, or its separate debug file found by build-id or
 * .gnu_debuglink), with layout.ts's table for what DWARF cannot give (the model, PY_OFF_NONE fields) and for
 * files without debug info; for 3.13 without DWARF, the _Py_DebugOffsets the process itself holds
 * (debug-offsets.ts) come before the table. Where sources know a field and disagree, DWARF wins — it
 * describes the build that runs, the table the build it was measured on — and the disagreement is reported.
 */
import type { DwarfMemberOffset, DwarfMemberQuery, DwarfStructOffsets } from '@tracefleet/native';
import type { DebugOffsets } from './debug-offsets';
import { PY_OFF_NONE, type PyLayout } from './layout';

/** A PyLayout field that is a struct offset, as notes name it. */
export type LayoutField =
  | 'runtimeInterpHead'
  | 'interpThreads'
  | 'tstateNext'
  | 'tstateThreadId'
  | 'tstateFrame'
  | 'cframeFrame'
  | 'frameCode'
  | 'framePrevious'
  | 'frameFlag'
  | 'code.firstLineno'
  | 'code.name'
  | 'code.filename'
  | 'unicode.asciiData'
  | 'unicode.compactData';

/** Where DWARF holds a field: a member (or, with no member, the struct's size) and the width the readers of the field assume. */
interface Source {
  struct: string;
  member?: string;
  /** bytes the BPF program or code-names.ts reads there; a member of another width is not used */
  size?: number;
}

const COMMON: Partial<Record<LayoutField, Source>> = {
  runtimeInterpHead: { struct: '_PyRuntimeState', member: 'interpreters.head', size: 8 },
  tstateNext: { struct: 'PyThreadState', member: 'next', size: 8 },
  tstateThreadId: { struct: 'PyThreadState', member: 'thread_id', size: 8 },
  'code.firstLineno': { struct: 'PyCodeObject', member: 'co_firstlineno', size: 4 },
  'code.filename': { struct: 'PyCodeObject', member: 'co_filename', size: 8 },
  'unicode.asciiData': { struct: 'PyASCIIObject' },
  'unicode.compactData': { struct: 'PyCompactUnicodeObject' },
};

// 3.8-3.10: frames are PyFrameObjects hanging off tstate->frame.
const FRAME_OBJECT: Partial<Record<LayoutField, Source>> = {
  ...COMMON,
  interpThreads: { struct: 'PyInterpreterState', member: 'tstate_head', size: 8 },
  tstateFrame: { struct: 'PyThreadState', member: 'frame', size: 8 },
  frameCode: { struct: 'PyFrameObject', member: 'f_code', size: 8 },
  framePrevious: { struct: 'PyFrameObject', member: 'f_back', size: 8 },
  'code.name': { struct: 'PyCodeObject', member: 'co_name', size: 8 },
};

// 3.11-3.12: _PyInterpreterFrames reached through tstate->cframe.
const CFRAME: Partial<Record<LayoutField, Source>> = {
  ...COMMON,
  interpThreads: { struct: 'PyInterpreterState', member: 'threads.head', size: 8 },
  tstateFrame: { struct: 'PyThreadState', member: 'cframe', size: 8 },
  cframeFrame: { struct: '_PyCFrame', member: 'current_frame', size: 8 },
  frameCode: { struct: '_PyInterpreterFrame', member: 'f_code', size: 8 },
  framePrevious: { struct: '_PyInterpreterFrame', member: 'previous', size: 8 },
  'code.name': { struct: 'PyCodeObject', member: 'co_qualname', size: 8 },
};

const SOURCES: ReadonlyMap<number, Partial<Record<LayoutField, Source>>> = new Map([
  [8, FRAME_OBJECT],
  [9, FRAME_OBJECT],
  [10, FRAME_OBJECT],
  [11, { ...CFRAME, frameFlag: { struct: '_PyInterpreterFrame', member: 'is_entry', size: 1 } }],
  [12, { ...CFRAME, frameFlag: { struct: '_PyInterpreterFrame', member: 'owner', size: 1 } }],
  [
    13,
    {
      ...CFRAME,
      tstateFrame: { struct: 'PyThreadState', member: 'current_frame', size: 8 }, // no _PyCFrame any more
      cframeFrame: undefined,
      frameCode: { struct: '_PyInterpreterFrame', member: 'f_executable', size: 8 },
      frameFlag: { struct: '_PyInterpreterFrame', member: 'owner', size: 1 },
    },
  ],
]);

/** Where a field's offset came from, in the order they are preferred. */
export type OffsetSource = 'DWARF' | '_Py_DebugOffsets' | 'table';

/** Which layout a process was given, and from where. */
export interface LayoutSource {
  /** where most fields came from: 'dwarf' when DWARF gave any, else 'debug-offsets' when _Py_DebugOffsets did */
  from: 'dwarf' | 'debug-offsets' | 'table';
  /** the file whose DWARF was read (the interpreter's, or its separate debug file) */
  debugFile?: string;
  fromDwarf: LayoutField[];
  /** fields read from the process's _Py_DebugOffsets (3.13), where DWARF gave none */
  fromDebugOffsets: LayoutField[];
  /** fields DWARF has a source for but did not give (absent member, unexpected width), nor _Py_DebugOffsets: the table's used */
  fromTable: { field: LayoutField; why: string }[];
  /** fields where two sources differ: the first one's used */
  disagreements: { field: LayoutField; used: OffsetSource; value: number; other: OffsetSource; otherValue: number }[];
  /** why no DWARF was read at all (no debug info, unreadable file, ...) */
  why?: string;
  /** why _Py_DebugOffsets were not used (3.13 only) */
  debugOffsetsWhy?: string;
}

/** The queries for Python 3.`minor`'s fields, in the order of their fields. */
export function dwarfQueries(minor: number): { field: LayoutField; query: DwarfMemberQuery; size?: number }[] {
  const sources = SOURCES.get(minor) ?? {};
  return Object.entries(sources)
    .filter((e): e is [LayoutField, Source] => e[1] !== undefined)
    .map(([field, s]) => ({ field, query: s.member === undefined ? { struct: s.struct } : { struct: s.struct, member: s.member }, size: s.size }));
}

function get(layout: PyLayout, field: LayoutField): number {
  const [a, b] = field.split('.') as [string, string | undefined];
  const v = (layout as unknown as Record<string, unknown>)[a];
  return (b === undefined ? v : (v as Record<string, number>)[b]) as number;
}

function set(layout: PyLayout, field: LayoutField, value: number): void {
  const [a, b] = field.split('.') as [string, string | undefined];
  const l = layout as unknown as Record<string, unknown>;
  if (b === undefined) l[a] = value;
  else l[a] = { ...(l[a] as Record<string, number>), [b]: value };
}

/** One field's DWARF offset, or why not. */
function dwarfValue(m: DwarfMemberOffset, size: number | undefined): number | string {
  if (!m.ok) return m.error;
  if (size !== undefined && m.size !== size) return `${m.struct}.${m.member} is ${m.size ?? '?'} bytes, not ${size}`;
  const v = m.member === '' ? m.size : m.offset;
  if (v === undefined || m.bitOffset !== undefined || v >= PY_OFF_NONE) return `${m.struct}.${m.member} has no usable offset`;
  return v;
}

/**
 * `table` with each field taken from the first source that has it: DWARF (`answer`, dwarfStructOffsets' answer to
 * dwarfQueries(table.minor)), then the process's _Py_DebugOffsets (`debug`, 3.13), then the table. A copy: the
 * table is never changed.
 */
export function layoutFromDwarf(table: PyLayout, answer: DwarfStructOffsets, debug?: DebugOffsets): { layout: PyLayout; source: LayoutSource } {
  const layout: PyLayout = { ...table, code: { ...table.code }, unicode: { ...table.unicode } };
  const source: LayoutSource = { from: 'table', fromDwarf: [], fromDebugOffsets: [], fromTable: [], disagreements: [] };
  const dwarf = new Map<LayoutField, number>();
  const missing = new Map<LayoutField, string>();
  if (answer.ok) {
    source.debugFile = answer.debugFile;
    dwarfQueries(table.minor).forEach(({ field, size }, i) => {
      const v = answer.members[i] ? dwarfValue(answer.members[i], size) : 'no answer';
      if (typeof v === 'number') dwarf.set(field, v);
      else missing.set(field, v);
    });
  } else {
    source.why = answer.error;
  }
  const fromDebug = debug?.ok ? debug.values : {};
  if (debug && !debug.ok) source.debugOffsetsWhy = debug.why;
  const fields = new Set<LayoutField>([...dwarf.keys(), ...missing.keys(), ...(Object.keys(fromDebug) as LayoutField[])]);
  for (const field of fields) {
    const values: [OffsetSource, number | undefined][] = [
      ['DWARF', dwarf.get(field)],
      ['_Py_DebugOffsets', fromDebug[field]],
      ['table', get(table, field)],
    ];
    const known = values.filter((v): v is [OffsetSource, number] => v[1] !== undefined && !(v[0] === 'table' && v[1] === PY_OFF_NONE));
    if (known.length === 0) continue;
    const [used, value] = known[0];
    set(layout, field, value);
    if (used === 'DWARF') source.fromDwarf.push(field);
    else if (used === '_Py_DebugOffsets') source.fromDebugOffsets.push(field);
    else if (missing.has(field)) source.fromTable.push({ field, why: missing.get(field)! });
    for (const [other, otherValue] of known.slice(1)) if (otherValue !== value) source.disagreements.push({ field, used, value, other, otherValue });
  }
  source.from = source.fromDwarf.length > 0 ? 'dwarf' : source.fromDebugOffsets.length > 0 ? 'debug-offsets' : 'table';
  return { layout, source };
}

const named = (s: OffsetSource): string => (s === 'table' ? 'the table' : s);

/** What a run's notes say of where a version's layout came from (one line, then one per disagreement). */
export function describeLayoutSource(version: string, file: string, s: LayoutSource): string[] {
  const whyNot = [s.why, s.debugOffsetsWhy].filter((w) => w !== undefined).join('; ');
  const parts: string[] = [];
  if (s.fromDwarf.length > 0) parts.push(`from the DWARF of ${s.debugFile ?? file} (${s.fromDwarf.length} fields)`);
  if (s.fromDebugOffsets.length > 0) parts.push(`from _Py_DebugOffsets in the process (${s.fromDebugOffsets.length} fields${s.why ? `; ${s.why}` : ''})`);
  if (parts.length === 0) return [`python ${version}: struct offsets from the table of measured builds (${whyNot || `no field found in the debug info of ${file}`})`];
  const partial = s.fromTable.length > 0 ? `; from the table: ${s.fromTable.map((t) => `${t.field} (${t.why})`).join(', ')}` : '';
  const lines = [`python ${version}: struct offsets ${parts.join(' and ')}${partial}`];
  for (const d of s.disagreements) {
    lines.push(`python ${version}: ${d.used} and ${named(d.other)} disagree on ${d.field} (${d.used} ${d.value}, ${d.other} ${d.otherValue}); ${d.used}'s used`);
  }
  return lines;
}
