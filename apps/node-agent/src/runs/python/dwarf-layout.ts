/**
 * An interpreter's layout from its own binary: the struct offsets of PyLayout read from the DWARF of the file
 * that defines the interpreter (libpython3.X.so or python3.X, or its separate debug file found by build-id or
 * .gnu_debuglink), with layout.ts's table for what DWARF cannot give (the model, PY_OFF_NONE fields) and for
 * files without debug info. Where both know a field and disagree, DWARF wins — it describes the build that
 * runs, the table the build it was measured on — and the disagreement is reported.
 */
import type { DwarfMemberQuery, DwarfStructOffsets } from '@tracefleet/native';
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

/** Which layout a process was given, and from where. */
export interface LayoutSource {
  /** 'dwarf' when at least one field came from DWARF */
  from: 'dwarf' | 'table';
  /** the file whose DWARF was read (the interpreter's, or its separate debug file) */
  debugFile?: string;
  fromDwarf: LayoutField[];
  /** fields DWARF has a source for but did not give (absent member, unexpected width): the table's used */
  fromTable: { field: LayoutField; why: string }[];
  /** fields where DWARF and the table differ: DWARF's used */
  disagreements: { field: LayoutField; dwarf: number; table: number }[];
  /** why no DWARF was read at all (no debug info, unreadable file, ...) */
  why?: string;
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

/**
 * `table` with every field DWARF answered for replaced by DWARF's offset. `answer` is dwarfStructOffsets' answer
 * to dwarfQueries(table.minor). A copy: the table is never changed.
 */
export function layoutFromDwarf(table: PyLayout, answer: DwarfStructOffsets): { layout: PyLayout; source: LayoutSource } {
  if (!answer.ok) return { layout: table, source: { from: 'table', fromDwarf: [], fromTable: [], disagreements: [], why: answer.error } };
  const layout: PyLayout = { ...table, code: { ...table.code }, unicode: { ...table.unicode } };
  const source: LayoutSource = { from: 'table', debugFile: answer.debugFile, fromDwarf: [], fromTable: [], disagreements: [] };
  const queries = dwarfQueries(table.minor);
  queries.forEach(({ field, size }, i) => {
    const m = answer.members[i];
    if (!m || !m.ok) return source.fromTable.push({ field, why: m ? m.error : 'no answer' });
    if (size !== undefined && m.size !== size) return source.fromTable.push({ field, why: `${m.struct}.${m.member} is ${m.size ?? '?'} bytes, not ${size}` });
    const dwarf = m.member === '' ? m.size : m.offset;
    if (dwarf === undefined || m.bitOffset !== undefined || dwarf >= PY_OFF_NONE) return source.fromTable.push({ field, why: `${m.struct}.${m.member} has no usable offset` });
    const known = get(table, field);
    if (known !== dwarf) source.disagreements.push({ field, dwarf, table: known });
    set(layout, field, dwarf);
    source.fromDwarf.push(field);
  });
  if (source.fromDwarf.length > 0) source.from = 'dwarf';
  return { layout, source };
}

/** What a run's notes say of where a version's layout came from (one line, then one per disagreement). */
export function describeLayoutSource(version: string, file: string, s: LayoutSource): string[] {
  if (s.from === 'table') return [`python ${version}: struct offsets from the table of measured builds (${s.why ?? `no field found in the debug info of ${file}`})`];
  const partial = s.fromTable.length > 0 ? `; from the table: ${s.fromTable.map((t) => `${t.field} (${t.why})`).join(', ')}` : '';
  const lines = [`python ${version}: struct offsets from the DWARF of ${s.debugFile ?? file} (${s.fromDwarf.length} fields)${partial}`];
  for (const d of s.disagreements) lines.push(`python ${version}: DWARF and the table disagree on ${d.field} (DWARF ${d.dwarf}, table ${d.table}); DWARF's used`);
  return lines;
}
