/**
 * CPython 3.13's own table of struct offsets for debuggers and profilers: _PyRuntime starts with a
 * _Py_DebugOffsets (cookie "xdebugpy", PY_VERSION_HEX, then the offsets of the runtime, interpreter,
 * thread and frame structs, code and string objects as 64-bit words), filled in by the build that runs.
 * Read from the process's memory, it gives the layout of a binary without debug info; its own layout is
 * 3.13's (measured from pyenv's 3.13.0 DWARF, checked by dwarf-layout.spec.ts) and later versions are not
 * assumed to keep it. The process is hostile: every value is checked before it is used.
 */
import type { LayoutField } from './dwarf-layout';

export const DEBUG_OFFSETS_COOKIE = 'xdebugpy';

/** 3.13's _Py_DebugOffsets: its size and where each field's offset lies in it (8-byte words). */
export const DEBUG_OFFSETS_313 = {
  size: 584,
  version: 8,
  freeThreaded: 16,
  fields: {
    runtimeInterpHead: 40, // runtime_state.interpreters_head
    interpThreads: 72, // interpreter_state.threads_head
    tstateNext: 168, // thread_state.next
    tstateFrame: 184, // thread_state.current_frame
    tstateThreadId: 192, // thread_state.thread_id
    framePrevious: 232, // interpreter_frame.previous
    frameCode: 240, // interpreter_frame.executable
    frameFlag: 264, // interpreter_frame.owner
    'code.filename': 280, // code_object.filename
    'code.name': 296, // code_object.qualname
    'code.firstLineno': 312, // code_object.firstlineno
    'unicode.asciiData': 560, // unicode_object.asciiobject_size
  } satisfies Partial<Record<LayoutField, number>>,
  /** the member paths of the fields above, for the spec that checks them against DWARF */
  members: {
    runtimeInterpHead: 'runtime_state.interpreters_head',
    interpThreads: 'interpreter_state.threads_head',
    tstateNext: 'thread_state.next',
    tstateFrame: 'thread_state.current_frame',
    tstateThreadId: 'thread_state.thread_id',
    framePrevious: 'interpreter_frame.previous',
    frameCode: 'interpreter_frame.executable',
    frameFlag: 'interpreter_frame.owner',
    'code.filename': 'code_object.filename',
    'code.name': 'code_object.qualname',
    'code.firstLineno': 'code_object.firstlineno',
    'unicode.asciiData': 'unicode_object.asciiobject_size',
  } as Record<string, string>,
} as const;

/** Offsets beyond this are no offsets of these structs (py_proc holds 16-bit offsets; PY_OFF_NONE is 0xffff). */
const MAX_OFFSET = 0xfff0;

export type DebugOffsets = { ok: true; values: Partial<Record<LayoutField, number>> } | { ok: false; why: string };

/** The offsets in a copy of _PyRuntime's first bytes, for the interpreter of version `hex` (PY_VERSION_HEX). */
export function parseDebugOffsets(bytes: Buffer | undefined, hex: bigint | undefined): DebugOffsets {
  const d = DEBUG_OFFSETS_313;
  if (!bytes || bytes.length < d.size) return { ok: false, why: '_PyRuntime could not be read' };
  if (bytes.toString('latin1', 0, 8) !== DEBUG_OFFSETS_COOKIE) return { ok: false, why: `_PyRuntime does not start with "${DEBUG_OFFSETS_COOKIE}"` };
  const version = bytes.readBigUInt64LE(d.version);
  if (version >> 16n !== 0x030dn || (hex !== undefined && version !== hex)) {
    return { ok: false, why: `_Py_DebugOffsets is of version 0x${version.toString(16)}, not 3.13${hex === undefined ? '' : ` (0x${hex.toString(16)})`}` };
  }
  if (bytes.readBigUInt64LE(d.freeThreaded) !== 0n) return { ok: false, why: '_Py_DebugOffsets says the build is free-threaded' };
  const values: Partial<Record<LayoutField, number>> = {};
  for (const [field, at] of Object.entries(d.fields) as [LayoutField, number][]) {
    const v = bytes.readBigUInt64LE(at);
    if (v > BigInt(MAX_OFFSET)) return { ok: false, why: `_Py_DebugOffsets holds ${v} for ${field}` };
    values[field] = Number(v);
  }
  return { ok: true, values };
}
