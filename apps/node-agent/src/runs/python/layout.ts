/**
 * CPython's memory layouts, per minor version, and the agent's mirror of
 * packages/bpf/src/python/python.h (the contract with the profile program; layout.spec.ts checks
 * the two agree). The BPF side walks runtime → interpreter → thread states → frames with the
 * offsets of struct py_proc; user space turns the code objects it reports into names with the
 * code and string offsets kept here.
 *
 * Where the offsets come from: the interpreter file's own DWARF when it has some (dwarf-layout.ts,
 * through the addon's dwarfStructOffsets: libpython3.X.so of pyenv and source builds, or a separate
 * debug file by build-id or .gnu_debuglink), field by field; for 3.13 without DWARF, the
 * _Py_DebugOffsets the process keeps at the start of _PyRuntime (debug-offsets.ts); else, and for
 * fields neither can give, the table below. Its offsets were measured with gdb on pyenv's builds (3.8.18, 3.9.18, 3.10.13,
 * 3.11.7, 3.12.1, 3.13.0, debug info in libpython3.X.so.1.0) and are used for every release of the
 * minor series, picked by the exact version read from the binary: CPython avoids changing these
 * structs within one. dwarf-layout.spec.ts checks the table against those builds' DWARF;
 * detect.spec.ts walks live processes of each of them and of Debian's 3.11.2 (no debug info: the
 * table alone). Where DWARF and the table disagree DWARF is used and the run's notes say so. Debug
 * (`d`) and free-threaded (`t`) builds lay objects out differently and are not covered (detect.ts).
 */

export const TRACEFLEET_MAX_PY_FRAMES = 128;

export const PY_MODEL_FRAME_OBJECT = 1;
export const PY_MODEL_IS_ENTRY = 2;
export const PY_MODEL_CSTACK = 3;
export type PyModel = typeof PY_MODEL_FRAME_OBJECT | typeof PY_MODEL_IS_ENTRY | typeof PY_MODEL_CSTACK;

export const PY_OFF_NONE = 0xffff;
export const PY_FRAME_OWNED_BY_CSTACK = 3;

/** Set on the outermost frame word of one C call of the eval loop. */
export const PY_FRAME_ENTRY = 1n;
/** A frame word's code object address (the low bits are flags: code objects are 8-byte aligned). */
export const PY_FRAME_ADDR_MASK = 0xffff_ffff_ffff_fff8n;

export const PY_ERR_NO_THREAD = -1;
export const PY_ERR_READ = -2;

export const PY_COUNTER_STACKS = 0;
export const PY_COUNTER_FRAMES = 1;
export const PY_COUNTER_NO_THREAD = 2;
export const PY_COUNTER_READ_FAULT = 3;
export const PY_COUNTER_TRUNCATED = 4;
export const PY_COUNTER_MAX = 5;

export const PY_MAX_PROCS = 4096;
export const PY_MAX_THREADS = 8192;
export const PY_MAX_THREAD_WALK = 512;

/** struct py_proc: its size and field offsets (little-endian, natural alignment). */
export const PY_PROC_SIZE = 32;
export const PY_PROC_OFFSETS = {
  interp_head: 0,
  interp_threads: 8,
  tstate_next: 10,
  tstate_thread_id: 12,
  tstate_frame: 14,
  cframe_frame: 16,
  frame_code: 18,
  frame_previous: 20,
  frame_flag: 22,
  model: 24,
  pad: 25,
} as const;

/** PyObject.ob_type, in every version here (no Py_TRACE_REFS, no free threading). */
export const PY_OB_TYPE = 8;
/** PyASCIIObject.length (Py_ssize_t). */
export const PY_UNICODE_LENGTH = 16;
/** PyASCIIObject.state: a 32-bit bitfield, interned bits 0-1, kind 2-4, compact 5, ascii 6. */
export const PY_UNICODE_STATE = 32;

export interface PyLayout {
  minor: number;
  model: PyModel;
  /** offsetof(_PyRuntimeState, interpreters.head) */
  runtimeInterpHead: number;
  /** the struct py_proc fields, as python.h documents them */
  interpThreads: number;
  tstateNext: number;
  tstateThreadId: number;
  tstateFrame: number;
  cframeFrame: number;
  frameCode: number;
  framePrevious: number;
  frameFlag: number;
  /** PyCodeObject: co_firstlineno (int32), the name (co_qualname from 3.11, co_name before), co_filename */
  code: { firstLineno: number; name: number; filename: number };
  /** where a compact string's characters start: sizeof(PyASCIIObject), sizeof(PyCompactUnicodeObject) */
  unicode: { asciiData: number; compactData: number };
}

// 3.8-3.10 share one layout. 3.10's tstate->cframe holds only use_tracing: frames still hang off tstate->frame.
const FRAME_OBJECT = {
  model: PY_MODEL_FRAME_OBJECT,
  runtimeInterpHead: 32,
  interpThreads: 8,
  tstateNext: 8,
  tstateThreadId: 176,
  tstateFrame: 24,
  cframeFrame: PY_OFF_NONE,
  frameCode: 32,
  framePrevious: 24,
  frameFlag: PY_OFF_NONE,
  code: { firstLineno: 40, name: 112, filename: 104 },
  unicode: { asciiData: 48, compactData: 72 },
} as const;

const LAYOUTS: readonly PyLayout[] = [
  { minor: 8, ...FRAME_OBJECT },
  { minor: 9, ...FRAME_OBJECT },
  { minor: 10, ...FRAME_OBJECT },
  {
    minor: 11,
    model: PY_MODEL_IS_ENTRY,
    runtimeInterpHead: 40,
    interpThreads: 16,
    tstateNext: 8,
    tstateThreadId: 152,
    tstateFrame: 56, // cframe
    cframeFrame: 8,
    frameCode: 32,
    framePrevious: 48,
    frameFlag: 68, // is_entry (owner is at 69)
    code: { firstLineno: 72, name: 128, filename: 112 },
    unicode: { asciiData: 48, compactData: 72 },
  },
  {
    minor: 12,
    model: PY_MODEL_CSTACK,
    runtimeInterpHead: 40,
    interpThreads: 72,
    tstateNext: 8,
    tstateThreadId: 136,
    tstateFrame: 56, // cframe
    cframeFrame: 0,
    frameCode: 0,
    framePrevious: 8,
    frameFlag: 70, // owner
    code: { firstLineno: 68, name: 128, filename: 112 },
    unicode: { asciiData: 40, compactData: 56 }, // wstr is gone
  },
  {
    minor: 13,
    model: PY_MODEL_CSTACK,
    runtimeInterpHead: 632,
    interpThreads: 7344,
    tstateNext: 8,
    tstateThreadId: 152,
    tstateFrame: 72, // current_frame: no _PyCFrame any more
    cframeFrame: PY_OFF_NONE,
    frameCode: 0, // f_executable
    framePrevious: 8,
    frameFlag: 70, // owner
    code: { firstLineno: 68, name: 128, filename: 112 },
    unicode: { asciiData: 40, compactData: 56 },
  },
];

const BY_MINOR: ReadonlyMap<number, PyLayout> = new Map(LAYOUTS.map((l) => [l.minor, l]));

/** The Python 3 minor versions with a layout, as a user reads them. */
export const SUPPORTED_VERSIONS = `3.${LAYOUTS[0].minor}–3.${LAYOUTS[LAYOUTS.length - 1].minor}`;

/** The layout of Python 3.`minor`; undefined for a version without one. */
export function layoutFor(major: number, minor: number): PyLayout | undefined {
  return major === 3 ? BY_MINOR.get(minor) : undefined;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** The bytes of struct py_proc for a process whose _PyRuntime.interpreters.head is at `interpHeadAddr`. */
export function encodePyProc(layout: PyLayout, interpHeadAddr: bigint): Buffer {
  if (interpHeadAddr <= 0n || interpHeadAddr > U64_MAX) throw new RangeError(`interpreter head address ${interpHeadAddr} is not a 64-bit address`);
  const b = Buffer.alloc(PY_PROC_SIZE); // zero-filled: pad must be zero
  const o = PY_PROC_OFFSETS;
  b.writeBigUInt64LE(interpHeadAddr, o.interp_head);
  b.writeUInt16LE(layout.interpThreads, o.interp_threads);
  b.writeUInt16LE(layout.tstateNext, o.tstate_next);
  b.writeUInt16LE(layout.tstateThreadId, o.tstate_thread_id);
  b.writeUInt16LE(layout.tstateFrame, o.tstate_frame);
  b.writeUInt16LE(layout.cframeFrame, o.cframe_frame);
  b.writeUInt16LE(layout.frameCode, o.frame_code);
  b.writeUInt16LE(layout.framePrevious, o.frame_previous);
  b.writeUInt16LE(layout.frameFlag, o.frame_flag);
  b.writeUInt8(layout.model, o.model);
  return b;
}
