/**
 * Where OpenSSL lives: the files a process maps that define SSL_read/SSL_write (a libssl.so.*, or
 * an executable with OpenSSL linked in statically, such as node), the system's libssl, and files
 * a job names. Files are told apart by (st_dev, st_ino) and read at most once per version, so a
 * fleet of node processes costs one look at /usr/bin/node.
 */
import { execFileSync } from 'node:child_process';
import { realpathSync, statSync, type Stats } from 'node:fs';
import { basename } from 'node:path';
import { dynstrMentions, readFunctionSymbols } from '../../lib/elf';
import { mappedFilePath, ProcError, readComm, readExe, readMaps, type MapEntry } from '../../lib/proc';

/** The functions a capture probes; SSL_read and SSL_write are required. */
export const SSL_DATA_FUNCTIONS = ['SSL_read', 'SSL_write', 'SSL_read_ex', 'SSL_write_ex'] as const;
const REQUIRED = ['SSL_read', 'SSL_write'];
const ALL_FUNCTIONS = [...SSL_DATA_FUNCTIONS, 'SSL_do_handshake'];

export interface SslFile {
  /** `${dev}:${ino}`: one file, whatever path or process it is seen through */
  key: string;
  /** the path as the process or the job names it */
  path: string;
  /** a path the agent can open: through /proc/PID/root for another mount namespace, /proc/PID/map_files for a deleted file */
  openPath: string;
  kind: 'libssl' | 'executable';
  /** which of SSL_read, SSL_write, SSL_read_ex, SSL_write_ex, SSL_do_handshake the file defines */
  functions: string[];
}

export interface ProcessScan {
  pid: number;
  comm: string;
  /** OpenSSL files the process maps (each has SSL_read and SSL_write) */
  files: SslFile[];
  /** why `files` is empty, e.g. "pid 123 (sleep): no libssl.so.* mapped and /usr/bin/sleep exports no SSL_read" */
  reason?: string;
  /** the process was gone before it could be read */
  gone?: boolean;
  /** it maps no file at all (a kernel thread): not worth listing */
  kernelThread?: boolean;
}

const LIBSSL = /^libssl\.so(\.|$)/;

export function isLibssl(path: string): boolean {
  return LIBSSL.test(basename(path));
}

// ---------------------------------------------------------------------------
// What a file defines, cached per (dev, ino) and version
// ---------------------------------------------------------------------------

interface FileFacts {
  size: number;
  mtimeMs: number;
  functions: string[];
}

const MAX_CACHED_FILES = 4096;
const facts = new Map<string, FileFacts>();
let elfReads = 0;

/** ELF files read in full so far (tests check that a fleet of one binary costs one read). */
export function fullReads(): number {
  return elfReads;
}

export function fileKey(st: Stats): string {
  return `${st.dev}:${st.ino}`;
}

/**
 * Which SSL functions the file at `openPath` (stat'ed as `st`) defines; [] for a file without
 * them or that is not ELF. Throws only when the file cannot be read or is refused (ElfError:
 * not a regular file, e.g. a FIFO put where a mapped library was).
 */
export function sslFunctionsOf(openPath: string, st: Stats = statSync(openPath)): string[] {
  const key = fileKey(st);
  const hit = facts.get(key);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.functions;
  let functions: string[] = [];
  if (dynstrMentions(openPath, REQUIRED) !== false) {
    elfReads++;
    try {
      const syms = readFunctionSymbols(openPath);
      functions = ALL_FUNCTIONS.filter((f) => syms.has(f));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EREAD' || code === 'EREFUSED') throw err;
      functions = []; // not an x86-64 ELF we can read: it holds nothing to probe
    }
  }
  if (facts.size >= MAX_CACHED_FILES) facts.delete(facts.keys().next().value!);
  facts.set(key, { size: st.size, mtimeMs: st.mtimeMs, functions });
  return functions;
}

function hasRequired(functions: string[]): boolean {
  return REQUIRED.every((f) => functions.includes(f));
}

function missingRequired(functions: string[]): string {
  return REQUIRED.filter((f) => !functions.includes(f)).join(' and ');
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/**
 * The OpenSSL files `pid` maps: every libssl.so*, and every executable mapping (the main
 * program, other shared objects) that defines SSL_read and SSL_write. Never throws: a process
 * that vanished comes back `gone`, one without OpenSSL with the reason.
 */
export function scanProcess(pid: number): ProcessScan {
  const comm = readComm(pid) ?? '?';
  let maps: MapEntry[];
  try {
    maps = readMaps(pid);
  } catch (err) {
    const why = err instanceof ProcError ? err.detail : (err as Error).message;
    return { pid, comm, files: [], gone: true, reason: `pid ${pid} (${comm}): cannot read its maps (${why})` };
  }
  let exe: string | undefined;
  try {
    exe = readExe(pid).replace(/ \(deleted\)$/, '');
  } catch {
    exe = undefined; // kernel threads have none
  }
  if (maps.length === 0) return { pid, comm, files: [], kernelThread: true, reason: `pid ${pid} (${comm}): maps no files (a kernel thread?)` };

  const files = new Map<string, SslFile>();
  const notes: string[] = [];
  const seenPaths = new Set<string>();
  let libsslMapped = false;
  for (const m of maps) {
    const libssl = isLibssl(m.path);
    if (!libssl && !m.perms.includes('x')) continue;
    const id = `${m.path}\0${m.inode}`;
    if (seenPaths.has(id)) continue;
    seenPaths.add(id);
    libsslMapped ||= libssl;
    const openPath = mappedFilePath(pid, m);
    let st: Stats;
    let functions: string[];
    try {
      st = statSync(openPath);
      functions = sslFunctionsOf(openPath, st);
    } catch (err) {
      if (libssl) notes.push(`${m.path} cannot be read (${(err as Error).message})`);
      continue;
    }
    const key = fileKey(st);
    if (files.has(key)) continue;
    if (hasRequired(functions)) {
      files.set(key, { key, path: m.path, openPath, kind: libssl ? 'libssl' : 'executable', functions });
    } else if (libssl) {
      notes.push(`${m.path} defines no ${missingRequired(functions)}`);
    }
  }
  if (files.size > 0) return { pid, comm, files: [...files.values()] };
  const exeText = exe ? `${exe} exports no SSL_read` : 'it has no executable';
  const head = libsslMapped ? notes.join('; ') : 'no libssl.so.* mapped';
  return { pid, comm, files: [], reason: `pid ${pid} (${comm}): ${head} and ${exeText}` };
}

// ---------------------------------------------------------------------------
// Files named by path: the system libssl, the job's binaries
// ---------------------------------------------------------------------------

/** Inspects a file the job names; throws an Error naming the path when it is unusable. */
export function inspectBinary(path: string): SslFile {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new Error(`binary ${path}: ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`}`);
  }
  if (!st.isFile()) throw new Error(`binary ${path}: not a regular file`);
  let functions: string[];
  try {
    functions = sslFunctionsOf(path, st);
  } catch (err) {
    throw new Error(`binary ${path}: cannot be read (${(err as Error).message})`);
  }
  if (!hasRequired(functions)) throw new Error(`binary ${path}: exports no ${missingRequired(functions)} (not OpenSSL, or a build without symbols)`);
  return { key: fileKey(st), path, openPath: path, kind: isLibssl(path) ? 'libssl' : 'executable', functions };
}

const FALLBACK_LIBSSL = [
  '/usr/lib/x86_64-linux-gnu/libssl.so.3',
  '/usr/lib/x86_64-linux-gnu/libssl.so.1.1',
  '/lib/x86_64-linux-gnu/libssl.so.3',
  '/usr/lib64/libssl.so.3',
  '/usr/lib64/libssl.so.1.1',
  '/usr/lib/libssl.so.3',
  '/usr/local/lib64/libssl.so.3',
  '/usr/local/lib/libssl.so.3',
];

/** libssl.so.N entries of `ldconfig -p` for x86-64 (libssl3.so is NSS, not OpenSSL). */
export function parseLdconfig(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(libssl\.so[.\d]*)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
    if (m && m[2].includes('x86-64')) out.push(m[3]);
  }
  return out;
}

/** The host's OpenSSL libssl files (deduplicated by inode), as they are seen by the agent. */
export function systemLibssl(): SslFile[] {
  let listed: string[] = [];
  try {
    listed = parseLdconfig(execFileSync('ldconfig', ['-p'], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    listed = []; // no ldconfig: the usual places below
  }
  const out = new Map<string, SslFile>();
  for (const candidate of [...listed, ...FALLBACK_LIBSSL]) {
    let path: string;
    let st: Stats;
    try {
      path = realpathSync(candidate);
      st = statSync(path);
    } catch {
      continue;
    }
    const key = fileKey(st);
    if (out.has(key)) continue;
    try {
      const functions = sslFunctionsOf(path, st);
      if (hasRequired(functions)) out.set(key, { key, path, openPath: path, kind: 'libssl', functions });
    } catch {
      continue;
    }
  }
  return [...out.values()];
}
