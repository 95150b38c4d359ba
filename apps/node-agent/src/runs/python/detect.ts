/**
 * Whether a process runs CPython, which version, and where its interpreter state lives: what the
 * profile program needs (struct py_proc) to read its frames, and what code-names.ts needs to check
 * the code objects it names.
 *
 * The interpreter is a file the process maps: a static build (Debian's /usr/bin/python3.11 defines
 * _PyRuntime itself) or libpython3.X.so (pyenv, the python Docker images, embedders). Files are read
 * through /proc/PID/map_files, which reaches a file of another mount namespace and one replaced since,
 * and told apart by (st_dev, st_ino): a fleet of identical workers costs one ELF parse. The files and
 * memory of a traced process are hostile input: every read is bounded and checked.
 */
import { statSync, type Stats } from 'node:fs';
import { basename } from 'node:path';
import { type DwarfMemberQuery, type DwarfStructOffsets, dwarfStructOffsets } from '@tracefleet/native';
import { ElfError, type ElfFile, errMessage, findObjectSymbols, openElf } from '../../lib/elf';
import { processExists, procPath, readMaps, type MapEntry } from '../../lib/proc';
import { DEBUG_OFFSETS_313, type DebugOffsets, parseDebugOffsets } from './debug-offsets';
import { dwarfQueries, layoutFromDwarf, type LayoutSource } from './dwarf-layout';
import { encodePyProc, layoutFor, type PyLayout, SUPPORTED_VERSIONS } from './layout';
import { type MemoryReader, readProcessMemory } from './memory';

export interface PythonProcess {
  kind: 'python';
  /** "3.11.2"; "3.9.18" read from the file when the runtime has no Py_Version (before 3.11) */
  version: string;
  minor: number;
  layout: PyLayout;
  /** where the layout's offsets came from: the interpreter file's DWARF, the table, or both (dwarf-layout.ts) */
  layoutSource: LayoutSource;
  /** struct py_proc for the profile program's py_procs map */
  pyProc: Buffer;
  /** runtime address of _PyRuntime.interpreters.head */
  interpHeadAddr: bigint;
  /** runtime address of PyCode_Type: every code object's ob_type */
  codeType: bigint;
  /** runtime address of PyUnicode_Type (names and file names are str objects) */
  unicodeType: bigint;
  /** the file defining the interpreter, as the process maps it */
  path: string;
}

export type PythonDetection =
  | PythonProcess
  | { kind: 'unsupported'; version: string; reason: string; path: string }
  | { kind: 'none' };

export interface DetectOptions {
  /** the process's memory (default: /proc/PID/mem) */
  readMemory?: MemoryReader;
  /** struct offsets from an ELF file's DWARF (default: the addon's dwarfStructOffsets) */
  structOffsets?: (path: string, queries: DwarfMemberQuery[], seenAs: string) => DwarfStructOffsets;
}

// python3.11, python3.7m, libpython3.11.so.1.0, libpython3.13t.so.1.0; not libpython3.so (the stable-ABI shim).
const CANDIDATE = /^(?:lib)?python(\d)\.(\d{1,2})([a-z]*)(?:$|[.\-_])/;
/** Files larger than this are not read as interpreters (a libpython with debug info is ~30 MiB). */
const MAX_ELF_BYTES = 512 * 1024 * 1024;
/** .rodata searched for the version string at most (libpython's is ~1 MiB). */
const MAX_RODATA_BYTES = 16 * 1024 * 1024;
/** Distinct version-like strings kept from one .rodata (zlib's, expat's, ... are there too). */
const MAX_RODATA_VERSIONS = 64;
const MAX_CACHED_FILES = 256;
/** Distinct candidate files looked at per process: more is not an interpreter's address space. */
const MAX_CANDIDATES = 8;

interface NameInfo {
  major: number;
  minor: number;
  /** ABI flags from the file name: d (debug), t (free-threaded), m (pymalloc, 3.7 and older) */
  flags: string;
}

/** What the file at hand is, from its name alone; undefined for a file that is not named like an interpreter. */
export function pythonFileName(path: string): NameInfo | undefined {
  const m = CANDIDATE.exec(basename(path));
  return m ? { major: Number(m[1]), minor: Number(m[2]), flags: m[3] } : undefined;
}

interface FileFacts {
  size: number;
  mtimeMs: number;
  /** link-time addresses of the symbols the file defines */
  runtime?: bigint;
  codeType?: bigint;
  unicodeType?: bigint;
  pyVersion?: bigint;
  /** Py_Version's value as the file holds it (a const: what the process reads, unless it was tampered with) */
  pyVersionInFile?: bigint;
  /** the "X.Y.Z" strings of the file's .rodata: PY_VERSION is one of them (read when there is no Py_Version) */
  rodataVersions?: string[];
  /** PT_LOAD segments: to place the file's addresses in a process */
  loads: { offset: bigint; vaddr: bigint; filesz: bigint; memsz: bigint }[];
  /** why the file could not be read */
  error?: string;
  /** the answers of its DWARF (or that it has none), by the minor version they were asked for */
  dwarf?: Map<number, DwarfStructOffsets>;
}

const facts = new Map<string, FileFacts>();
let parses = 0;

/** ELF files parsed so far (a spec checks that one interpreter file is parsed once, whatever the process count). */
export function elfParses(): number {
  return parses;
}

/** Forgets every file read (specs). */
export function clearDetectCache(): void {
  facts.clear();
}

function factsOf(openPath: string, st: Stats): FileFacts {
  const key = `${st.dev}:${st.ino}`;
  const hit = facts.get(key);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit;
  parses++;
  const f = readFacts(openPath, st);
  if (facts.size >= MAX_CACHED_FILES) facts.delete(facts.keys().next().value!);
  facts.set(key, f);
  return f;
}

function readFacts(openPath: string, st: Stats): FileFacts {
  const base: FileFacts = { size: st.size, mtimeMs: st.mtimeMs, loads: [] };
  let elf: ElfFile;
  try {
    elf = openElf(openPath, { maxBytes: MAX_ELF_BYTES, purpose: 'Python detection' });
  } catch (err) {
    return { ...base, error: errMessage(err) };
  }
  try {
    const syms = findObjectSymbols(elf, ['_PyRuntime', 'PyCode_Type', 'PyUnicode_Type', 'Py_Version']);
    const loads = elf.loadSegments().map(({ offset, vaddr, filesz, memsz }) => ({ offset, vaddr, filesz, memsz }));
    // Only where the file maps it is a symbol's address the process's.
    const placed = (n: string): bigint | undefined => {
      const s = syms.get(n);
      return s && elf.vaddrToFileOffset(s.vaddr, false) !== undefined ? s.vaddr : undefined;
    };
    const out: FileFacts = {
      ...base,
      loads,
      runtime: placed('_PyRuntime'),
      codeType: placed('PyCode_Type'),
      unicodeType: placed('PyUnicode_Type'),
      pyVersion: placed('Py_Version'),
    };
    const hexOff = out.pyVersion === undefined ? undefined : elf.vaddrToFileOffset(out.pyVersion, true);
    if (hexOff !== undefined) out.pyVersionInFile = elf.read(hexOff, 8, 'Py_Version').readBigUInt64LE(0);
    if (out.codeType !== undefined && out.pyVersion === undefined) out.rodataVersions = rodataVersions(elf);
    return out;
  } catch (err) {
    if (err instanceof ElfError) return { ...base, error: err.message };
    throw err;
  } finally {
    elf.close();
  }
}

/**
 * The version-like strings ("3.9.18", "1.2.13") that end a string of .rodata. PY_VERSION is one: sys.version
 * is built from it, though the linker may have merged it into the tail of a longer string (pyenv's
 * "/root/.pyenv/versions/3.9.18"), so it is not always a string of its own.
 */
function rodataVersions(elf: ElfFile): string[] | undefined {
  const sec = elf.sectionNames().find((s) => s.name === '.rodata');
  if (!sec || sec.size === 0n || sec.size > BigInt(MAX_RODATA_BYTES)) return undefined;
  const text = elf.sectionData(sec, '.rodata').toString('latin1');
  const found = new Set<string>();
  for (const m of text.matchAll(/(?<![0-9.])(\d\.\d{1,2}\.\d{1,3}(?:(?:a|b|rc)\d{1,3})?\+?)\0/g)) {
    found.add(m[1]);
    if (found.size >= MAX_RODATA_VERSIONS) break;
  }
  return [...found];
}

/** PY_VERSION among the file's version strings: the one of the file name's major.minor, when there is exactly one. */
function fileVersion(f: FileFacts, name: NameInfo): string | undefined {
  const mine = (f.rodataVersions ?? []).filter((v) => v.startsWith(`${name.major}.${name.minor}.`));
  return mine.length === 1 ? mine[0] : undefined;
}

/** PY_VERSION_HEX as a version: 0x030b02f0 → "3.11.2", 0x030d00c1 → "3.13.0rc1". */
export function versionFromHex(hex: bigint): { major: number; minor: number; text: string } | undefined {
  if (hex <= 0n || hex > 0xffffffffn) return undefined;
  const h = Number(hex);
  const major = h >>> 24;
  const minor = (h >>> 16) & 0xff;
  const micro = (h >>> 8) & 0xff;
  const level = (h >>> 4) & 0xf;
  const serial = h & 0xf;
  const tag = { 0xa: 'a', 0xb: 'b', 0xc: 'rc', 0xf: '' }[level];
  if (major < 2 || major > 9 || minor > 99 || tag === undefined) return undefined;
  return { major, minor, text: `${major}.${minor}.${micro}${tag === '' ? '' : `${tag}${serial}`}` };
}

/**
 * The load bias of a file that `m` maps: the kernel places file offset X of a PT_LOAD segment at
 * X - p_offset + p_vaddr + bias, so one mapping inside a segment fixes it (0 for a non-PIE
 * executable, the load address for a PIE or shared object).
 */
export function loadBias(loads: FileFacts['loads'], m: Pick<MapEntry, 'startAddr' | 'offset'>): bigint | undefined {
  for (const seg of loads) {
    const pageStart = seg.offset & ~0xfffn;
    if (m.offset < pageStart || m.offset >= seg.offset + seg.filesz) continue;
    const bias = m.startAddr - m.offset + seg.offset - seg.vaddr;
    if ((bias & 0xfffn) === 0n) return bias;
  }
  return undefined;
}

interface Candidate {
  map: MapEntry;
  name: NameInfo;
  openPath: string;
  facts: FileFacts;
}

function candidatesOf(pid: number, maps: MapEntry[]): Candidate[] {
  const out: Candidate[] = [];
  const seen = new Set<string>();
  for (const m of maps) {
    const name = pythonFileName(m.path);
    if (!name) continue;
    const id = `${m.dev}:${m.inode}`;
    if (seen.has(id)) continue;
    seen.add(id);
    if (out.length >= MAX_CANDIDATES) break;
    // map_files names drop the leading zeros maps pads addresses with (00400000 in maps, 400000 there).
    const openPath = procPath(pid, `map_files/${m.startAddr.toString(16)}-${m.endAddr.toString(16)}`);
    let st: Stats;
    try {
      st = statSync(openPath);
    } catch (err) {
      out.push({ map: m, name, openPath, facts: { size: 0, mtimeMs: 0, loads: [], error: `${openPath}: ${errMessage(err)}` } });
      continue;
    }
    out.push({ map: m, name, openPath, facts: factsOf(openPath, st) });
  }
  return out;
}

/** DWARF searches give up after this long: an interpreter's takes ~0.1-0.7 s (libpython3.13 is the slowest here). */
const DWARF_TIMEOUT_MS = 5000;

function nativeStructOffsets(path: string, queries: DwarfMemberQuery[], seenAs: string): DwarfStructOffsets {
  try {
    return dwarfStructOffsets(path, queries, { seenAs, maxBytes: MAX_ELF_BYTES, timeoutMs: DWARF_TIMEOUT_MS });
  } catch (err) {
    return { ok: false, error: `DWARF not read: ${errMessage(err)}`, noDebugInfo: false, compileUnits: 0 };
  }
}

/** The candidate file's DWARF answers for Python 3.`minor`, read once per file (and minor); errors name the file as the process maps it. */
function dwarfOf(c: Candidate, minor: number, read: NonNullable<DetectOptions['structOffsets']>): DwarfStructOffsets {
  c.facts.dwarf ??= new Map();
  let answer = c.facts.dwarf.get(minor);
  if (!answer) {
    // The process's path, for a .gnu_debuglink file beside it (on this host's file system, as the symbolizer looks).
    answer = read(c.openPath, dwarfQueries(minor).map((q) => q.query), c.map.path.replace(/ \(deleted\)$/, ''));
    if (!answer.ok) answer = { ...answer, error: answer.error.split(c.openPath).join(c.map.path) };
    else if (answer.debugFile === c.openPath) answer = { ...answer, debugFile: c.map.path };
    c.facts.dwarf.set(minor, answer);
  }
  return answer;
}

/** The first mapping of the candidate's file whose bias makes sense (maps list a file's mappings in address order). */
function biasOf(c: Candidate, maps: MapEntry[]): bigint | undefined {
  for (const m of maps) {
    if (m.dev !== c.map.dev || m.inode !== c.map.inode || m.path !== c.map.path) continue;
    const bias = loadBias(c.facts.loads, m);
    if (bias !== undefined) return bias;
  }
  return undefined;
}

/**
 * Whether `pid` runs a CPython this agent can read frames of. 'unsupported' says why not (the
 * process is then profiled natively); 'none' when it maps no interpreter, or is gone. Nothing the
 * process or its files hold makes it throw (unreadable or malformed files become reasons). When a
 * process maps several interpreters (an embedder loading two), the lowest-addressed one is taken.
 */
export function detectPython(pid: number, options: DetectOptions = {}): PythonDetection {
  const readMemory = options.readMemory ?? readProcessMemory;
  let maps: MapEntry[];
  try {
    maps = readMaps(pid);
  } catch {
    return { kind: 'none' };
  }
  const candidates = candidatesOf(pid, maps);
  if (candidates.length === 0) return { kind: 'none' };
  // The interpreter is the file that defines PyCode_Type (pyenv's python3.11 only calls into libpython).
  const interp = candidates.find((c) => c.facts.codeType !== undefined);
  if (!interp) {
    const broken = candidates.find((c) => c.facts.error !== undefined);
    // A process that ended while it was looked at is no process to report.
    if (!broken || !processExists(pid)) return { kind: 'none' };
    const version = `${broken.name.major}.${broken.name.minor}`;
    const reason = `python ${version}: cannot read ${broken.map.path} (${broken.facts.error}); profiled natively`;
    return { kind: 'unsupported', version, path: broken.map.path, reason };
  }
  const { facts: f, name, map } = interp;
  const path = map.path;
  const bias = biasOf(interp, maps);
  const unsupported = (version: string, why: string): PythonDetection => ({
    kind: 'unsupported',
    version,
    path,
    reason: `python ${version}: ${why}; profiled natively`,
  });

  // The running version: Py_Version (3.11+) as the process holds it, else PY_VERSION as the file holds it, else the name's.
  let { major, minor } = name;
  const hexAt = f.pyVersion !== undefined && bias !== undefined ? readMemory(pid, f.pyVersion + bias, 8) : undefined;
  const fromHex = (hexAt && versionFromHex(hexAt.readBigUInt64LE(0))) || (f.pyVersionInFile !== undefined ? versionFromHex(f.pyVersionInFile) : undefined);
  if (fromHex) ({ major, minor } = fromHex);
  const version = fromHex?.text ?? fileVersion(f, name) ?? `${major}.${minor} (from the file name ${basename(path)})`;

  if (name.flags.includes('t')) return unsupported(version, 'a free-threaded build (objects are laid out differently)');
  if (name.flags.includes('d')) return unsupported(version, 'a debug build (its layouts were not measured)');
  const table = layoutFor(major, minor);
  if (!table) return unsupported(version, `no frame layout for this version (supported: ${SUPPORTED_VERSIONS})`);
  if (bias === undefined) return unsupported(version, `${path} is mapped where none of its loadable segments is`);
  if (f.runtime === undefined) return unsupported(version, `${path} defines no _PyRuntime`);
  // 3.13 keeps its own offsets at the start of _PyRuntime: the running build's, where the file has no DWARF.
  let debugOffsets: DebugOffsets | undefined;
  if (major === 3 && minor === 13) {
    const hex = hexAt ? hexAt.readBigUInt64LE(0) : f.pyVersionInFile;
    debugOffsets = parseDebugOffsets(readMemory(pid, f.runtime + bias, DEBUG_OFFSETS_313.size), hex);
  }
  const { layout, source } = layoutFromDwarf(table, dwarfOf(interp, minor, options.structOffsets ?? nativeStructOffsets), debugOffsets);
  const interpHeadAddr = f.runtime + bias + BigInt(layout.runtimeInterpHead);
  return {
    kind: 'python',
    version,
    minor,
    layout,
    layoutSource: source,
    pyProc: encodePyProc(layout, interpHeadAddr),
    interpHeadAddr,
    codeType: f.codeType! + bias,
    unicodeType: f.unicodeType === undefined ? 0n : f.unicodeType + bias,
    path,
  };
}
