/**
 * Names of the code objects a sample's Python frame words point at: `qualname (file.py:firstline)`,
 * read from the traced process's memory after the sample. The process may have freed the object
 * since, or be hostile: the object must be a code object (ob_type is the process's PyCode_Type), its
 * strings compact str objects of sane length; anything else gives a bracketed placeholder and a
 * count, never a throw, and no read is larger than a few KiB.
 */
import type { PythonProcess } from './detect';
import { PY_FRAME_ADDR_MASK, PY_OB_TYPE, PY_UNICODE_LENGTH, PY_UNICODE_STATE, type PyLayout } from './layout';
import { type MemoryReader, ProcMemory } from './memory';

/** What names of one process need: detectPython's answer. */
export type PythonNamesProcess = Pick<PythonProcess, 'layout' | 'codeType'> & Partial<Pick<PythonProcess, 'unicodeType'>>;

export interface PythonNamesOptions {
  /** the processes' memory (default: /proc/PID/mem, kept open per pid) */
  read?: MemoryReader;
  /** names cached over all processes at most */
  maxEntries?: number;
}

export interface PythonNamesStats {
  /** names read from memory */
  resolved: number;
  /** code objects that gave a placeholder (unreadable, not a code object, a bad string) */
  failed: number;
  cacheHits: number;
  /** names cached now */
  cached: number;
  processes: number;
}

/** Characters in a name (co_qualname, co_name) and in a file name at most. */
export const MAX_NAME_CHARS = 256;
export const MAX_FILENAME_CHARS = 1024;
const DEFAULT_MAX_ENTRIES = 200_000;

const KIND_SHIFT = 2;
const KIND_MASK = 0x7;
const COMPACT = 1 << 5;
const ASCII = 1 << 6;

interface Proc {
  info: PythonNamesProcess;
  names: Map<bigint, string>;
}

/**
 * Escapes what must not reach a flame graph as is: C0/C1 controls, lone surrogates, and the
 * bidirectional overrides that would let a name reorder the text shown around it.
 */
function escapeCodePoint(cp: number): string {
  if (cp === 0x0a) return '\\n';
  if (cp === 0x09) return '\\t';
  if (cp === 0x0d) return '\\r';
  const control = cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
  const bidi = (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp === 0x2028 || cp === 0x2029;
  const surrogate = cp >= 0xd800 && cp <= 0xdfff;
  if (control) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (bidi || surrogate) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return String.fromCodePoint(cp);
}

/** A compact str's characters (`kind` bytes each) as text; undefined for a character past U+10FFFF. */
export function decodeChars(data: Buffer, kind: 1 | 2 | 4): string | undefined {
  let out = '';
  for (let i = 0; i + kind <= data.length; i += kind) {
    const cp = kind === 1 ? data[i] : kind === 2 ? data.readUInt16LE(i) : data.readUInt32LE(i);
    if (cp > 0x10ffff) return undefined;
    out += escapeCodePoint(cp);
  }
  return out;
}

export class PythonNames {
  private procs = new Map<number, Proc>();
  private readonly read: MemoryReader;
  private readonly memory: ProcMemory | undefined;
  private readonly maxEntries: number;
  private total = 0;
  private counters = { resolved: 0, failed: 0, cacheHits: 0 };

  constructor(options: PythonNamesOptions = {}) {
    if (options.read) {
      const read = options.read;
      this.read = (pid, addr, length) => {
        try {
          return read(pid, addr, length);
        } catch {
          return undefined; // a reader that throws is one that could not read: name() never throws
        }
      };
    } else {
      this.memory = new ProcMemory();
      this.read = this.memory.read;
    }
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_MAX_ENTRIES);
  }

  /** Names `pid`'s code objects from now on; a pid given again (reused) starts afresh. */
  addProcess(pid: number, info: PythonNamesProcess): void {
    this.forget(pid);
    this.procs.set(pid, { info, names: new Map() });
  }

  /** Drops what is known of `pid` and closes its memory. */
  forget(pid: number): void {
    const p = this.procs.get(pid);
    if (p) {
      this.total -= p.names.size;
      this.procs.delete(pid);
    }
    this.memory?.forget(pid);
  }

  close(): void {
    this.procs.clear();
    this.total = 0;
    this.memory?.close();
  }

  stats(): PythonNamesStats {
    return { ...this.counters, cached: this.total, processes: this.procs.size };
  }

  /** `qualname (file.py:firstline)` of the code object of frame word `word`, or a bracketed placeholder. */
  name(pid: number, word: bigint): string {
    const addr = word & PY_FRAME_ADDR_MASK;
    const p = this.procs.get(pid);
    if (!p) {
      this.counters.failed++;
      return placeholder(addr, 'not a Python process');
    }
    const hit = p.names.get(addr);
    if (hit !== undefined) {
      this.counters.cacheHits++;
      return hit;
    }
    const resolved = this.resolve(pid, p.info, addr);
    const name = typeof resolved === 'string' ? resolved : placeholder(addr, resolved.failed);
    if (typeof resolved === 'string') this.counters.resolved++;
    else this.counters.failed++;
    this.remember(p, addr, name);
    return name;
  }

  private remember(p: Proc, addr: bigint, name: string): void {
    if (this.total >= this.maxEntries) {
      // Oldest first: this process's own, else the longest-known process's.
      const from = p.names.size > 0 ? p : [...this.procs.values()].find((q) => q.names.size > 0);
      if (from) {
        from.names.delete(from.names.keys().next().value!);
        this.total--;
      }
    }
    p.names.set(addr, name);
    this.total++;
  }

  private resolve(pid: number, info: PythonNamesProcess, addr: bigint): string | { failed: string } {
    const { code } = info.layout;
    const span = Math.max(PY_OB_TYPE, code.firstLineno + 4, code.name, code.filename) + 8;
    const obj = addr === 0n ? undefined : this.read(pid, addr, span);
    if (!obj || obj.length < span) return { failed: 'unreadable' };
    if (obj.readBigUInt64LE(PY_OB_TYPE) !== info.codeType) return { failed: 'not a code object' };
    const qualname = this.readStr(pid, info, obj.readBigUInt64LE(code.name), MAX_NAME_CHARS);
    if (qualname === undefined) return { failed: 'bad name' };
    const filename = this.readStr(pid, info, obj.readBigUInt64LE(code.filename), MAX_FILENAME_CHARS);
    if (filename === undefined) return { failed: 'bad file name' };
    const line = obj.readInt32LE(code.firstLineno);
    return `${qualname} (${filename.slice(filename.lastIndexOf('/') + 1)}:${line})`;
  }

  /** A compact str object's text (escaped), or undefined when `addr` is not one of at most `maxChars`. */
  private readStr(pid: number, info: PythonNamesProcess, addr: bigint, maxChars: number): string | undefined {
    const u: PyLayout['unicode'] = info.layout.unicode;
    if (addr === 0n || (addr & 7n) !== 0n) return undefined;
    // Only PyASCIIObject's fields are needed (a short ASCII str may end before sizeof(PyCompactUnicodeObject)).
    const head = this.read(pid, addr, u.asciiData);
    if (!head || head.length < u.asciiData) return undefined;
    if (info.unicodeType && head.readBigUInt64LE(PY_OB_TYPE) !== info.unicodeType) return undefined;
    const length = head.readBigInt64LE(PY_UNICODE_LENGTH);
    const state = head.readUInt32LE(PY_UNICODE_STATE);
    if (length < 0n || length > BigInt(maxChars) || (state & COMPACT) === 0) return undefined;
    const kind = (state >> KIND_SHIFT) & KIND_MASK;
    if (kind !== 1 && kind !== 2 && kind !== 4) return undefined;
    const ascii = (state & ASCII) !== 0;
    if (ascii && kind !== 1) return undefined;
    const n = Number(length);
    if (n === 0) return '';
    const data = this.read(pid, addr + BigInt(ascii ? u.asciiData : u.compactData), n * kind);
    if (!data || data.length < n * kind) return undefined;
    if (ascii && data.some((b) => b > 0x7f)) return undefined;
    return decodeChars(data, kind);
  }
}

function placeholder(addr: bigint, why: string): string {
  return `[python code 0x${addr.toString(16)}: ${why}]`;
}
