/**
 * Where the TLS libraries live: the files a process maps that define a covered library's record
 * functions (OpenSSL's libssl.so.*, GnuTLS's libgnutls.so.*, or an executable with OpenSSL linked in
 * statically, such as node), NSS's libnspr4.so next to its libssl3.so, the system's copies of those
 * libraries, and files a job names. Files are told apart by (st_dev, st_ino) and read at most once per
 * version, so a fleet of node processes costs one look at /usr/bin/node. A process using a TLS library
 * that is not covered (wolfSSL, a JVM's JSSE, a stripped Go program, ...) is named with it.
 */
import { execFileSync } from 'node:child_process';
import { realpathSync, statSync, type Stats } from 'node:fs';
import { basename } from 'node:path';
import { dynstrMentions, readFunctionSymbols, symstrMentions } from '../../lib/elf';
import { mappedFilePath, ProcError, readComm, readExe, readMaps, type MapEntry } from '../../lib/proc';
import { isGoExecutable, uncoveredTls } from './uncovered';

export type TlsLibrary = 'openssl' | 'gnutls' | 'go' | 'nss';

interface LibraryDef {
  library: TlsLibrary;
  /** its name in messages */
  label: string;
  /** the shared object's file name (none: linked into executables only) */
  soname?: RegExp;
  /** what such a file must define to be probed */
  required: readonly string[];
  /** the functions a capture probes (required first) */
  data: readonly string[];
  /** probed only when the job asks for handshakes */
  handshake?: string;
}

/** The libraries a capture covers, in the order a file defining several is taken as one of them. */
export const TLS_LIBRARIES: readonly LibraryDef[] = [
  {
    library: 'openssl',
    label: 'OpenSSL',
    soname: /^libssl\.so(\.|$)/,
    required: ['SSL_read', 'SSL_write'],
    data: ['SSL_read', 'SSL_write', 'SSL_read_ex', 'SSL_write_ex'],
    handshake: 'SSL_do_handshake',
  },
  {
    library: 'gnutls',
    label: 'GnuTLS',
    soname: /^libgnutls\.so(\.|$)/,
    required: ['gnutls_record_recv', 'gnutls_record_send'],
    data: ['gnutls_record_recv', 'gnutls_record_send'],
  },
  {
    library: 'go',
    label: "Go's crypto/tls",
    required: ['crypto/tls.(*Conn).Read', 'crypto/tls.(*Conn).Write'],
    data: ['crypto/tls.(*Conn).Read', 'crypto/tls.(*Conn).Write'],
  },
  {
    // NSS's SSL layer is reached through NSPR's I/O functions, which serve every descriptor: the
    // kernel keeps the calls on descriptors whose methods table lies in the process's libssl3.so
    // (ProcessScan.nssLayer). A process mapping NSPR without libssl3.so has no NSS TLS.
    library: 'nss',
    label: 'NSS',
    soname: /^libnspr4\.so$/,
    required: ['PR_Read', 'PR_Write'],
    data: ['PR_Read', 'PR_Write', 'PR_Recv', 'PR_Send'],
  },
];

/** NSS's SSL library, whose mappings tell its descriptors apart (not OpenSSL's libssl.so.N). */
const NSS_SSL = /^libssl3\.so$/;

const DEF = new Map(TLS_LIBRARIES.map((d) => [d.library, d]));

export function libraryDef(library: TlsLibrary): LibraryDef {
  return DEF.get(library)!;
}

const ALL_FUNCTIONS = TLS_LIBRARIES.flatMap((d) => [...d.data, ...(d.handshake ? [d.handshake] : [])]);
const ANY_REQUIRED = TLS_LIBRARIES.flatMap((d) => d.required);

export interface SslFile {
  /** `${dev}:${ino}`: one file, whatever path or process it is seen through */
  key: string;
  /** the path as the process or the job names it */
  path: string;
  /** a path the agent can open: through /proc/PID/root for another mount namespace, /proc/PID/map_files for a deleted file */
  openPath: string;
  /** the library's shared object, or an executable (or other object) with it linked in */
  kind: 'library' | 'executable';
  library: TlsLibrary;
  /** which of the library's functions (TLS_LIBRARIES) the file defines */
  functions: string[];
}

export interface ProcessScan {
  pid: number;
  comm: string;
  /** TLS library files the process maps (each defines its library's required functions) */
  files: SslFile[];
  /** why `files` is empty, e.g. "pid 123 (sleep): no TLS library mapped (libssl.so.*, libgnutls.so.*, NSS) and /usr/bin/sleep exports no SSL_read" */
  reason?: string;
  /** the process was gone before it could be read */
  gone?: boolean;
  /** it maps no file at all (a kernel thread): not worth listing */
  kernelThread?: boolean;
  /** NSS: the addresses [lo, hi) of the process's libssl3.so mappings (SslTracer.setNssLayer) */
  nssLayer?: { lo: bigint; hi: bigint };
}

/** The covered library whose shared object `path` names, if any. */
export function libraryOfPath(path: string): TlsLibrary | undefined {
  const name = basename(path);
  return TLS_LIBRARIES.find((d) => d.soname?.test(name))?.library;
}

export function isLibssl(path: string): boolean {
  return libraryOfPath(path) === 'openssl';
}

/** The library whose required functions `functions` holds, first in TLS_LIBRARIES order. */
export function libraryOf(functions: readonly string[]): TlsLibrary | undefined {
  return TLS_LIBRARIES.find((d) => d.required.every((f) => functions.includes(f)))?.library;
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
 * Which functions of the covered TLS libraries the file at `openPath` (stat'ed as `st`) defines; []
 * for a file without them or that is not ELF. Throws only when the file cannot be read or is refused (ElfError:
 * not a regular file, e.g. a FIFO put where a mapped library was).
 */
export function sslFunctionsOf(openPath: string, st: Stats = statSync(openPath)): string[] {
  const key = fileKey(st);
  const hit = facts.get(key);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.functions;
  let functions: string[] = [];
  // Go programs are static: no dynamic symbols, but a .symtab with crypto/tls's methods unless stripped.
  // So is an OpenSSL-API library linked into an executable without exporting it (BoringSSL in Envoy).
  if (dynstrMentions(openPath, ANY_REQUIRED) !== false || isGoExecutable(openPath) || symstrMentions(openPath, ANY_REQUIRED) === true) {
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

/** The functions of `library` that `functions` does not have, e.g. "SSL_read and SSL_write". */
function missingRequired(functions: string[], library: TlsLibrary): string {
  return libraryDef(library)
    .required.filter((f) => !functions.includes(f))
    .join(' and ');
}

/** The file's library and its functions, when it defines a covered library's required ones. */
function asTlsFile(key: string, path: string, openPath: string, functions: string[], soname: TlsLibrary | undefined): SslFile | undefined {
  const library = libraryOf(functions);
  if (!library) return undefined;
  const def = libraryDef(library);
  const mine = functions.filter((f) => def.data.includes(f) || f === def.handshake);
  return { key, path, openPath, kind: soname === library ? 'library' : 'executable', library, functions: mine };
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/**
 * The TLS library files `pid` maps: every libssl.so* and libgnutls.so*, and every executable
 * mapping (the main program, other shared objects) that defines a covered library's functions.
 * Never throws: a process that vanished comes back `gone`, one without a covered library with the
 * reason, naming a TLS library it uses that is not covered.
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
  let libraryMapped = false;
  const nssLayer = nssLayerOf(maps);
  for (const m of maps) {
    const soname = libraryOfPath(m.path);
    if (!soname && !m.perms.includes('x')) continue;
    const id = `${m.path}\0${m.inode}`;
    if (seenPaths.has(id)) continue;
    seenPaths.add(id);
    libraryMapped ||= soname !== undefined;
    const openPath = mappedFilePath(pid, m);
    let st: Stats;
    let functions: string[];
    try {
      st = statSync(openPath);
      functions = sslFunctionsOf(openPath, st);
    } catch (err) {
      if (soname) notes.push(`${m.path} cannot be read (${(err as Error).message})`);
      continue;
    }
    const key = fileKey(st);
    if (files.has(key)) continue;
    const file = asTlsFile(key, m.path, openPath, functions, soname);
    if (file?.library === 'nss' && !nssLayer) {
      notes.push(`${m.path} is NSPR without NSS's libssl3.so (no NSS TLS)`);
      continue;
    }
    if (file) files.set(key, file);
    else if (soname) notes.push(`${m.path} defines no ${missingRequired(functions, soname)}`);
  }
  if (files.size > 0) return { pid, comm, files: [...files.values()], ...(nssLayer && [...files.values()].some((f) => f.library === 'nss') ? { nssLayer } : {}) };
  const exeText = exe ? `${exe} exports no SSL_read` : 'it has no executable';
  const head = libraryMapped ? notes.join('; ') : 'no TLS library mapped (libssl.so.*, libgnutls.so.*, NSS)';
  // A Go program here has no crypto/tls symbols: stripped, or built without crypto/tls.
  const uncovered = uncoveredTls(pid, maps, exe);
  const tail = uncovered ? `; it uses ${uncovered}, which ssl-capture does not cover` : '';
  return { pid, comm, files: [], reason: `pid ${pid} (${comm}): ${head} and ${exeText}${tail}` };
}

/** The span of the process's libssl3.so (NSS) mappings, or undefined when it maps none. */
export function nssLayerOf(maps: readonly MapEntry[]): { lo: bigint; hi: bigint } | undefined {
  let lo: bigint | undefined;
  let hi = 0n;
  for (const m of maps) {
    if (!NSS_SSL.test(basename(m.path))) continue;
    if (lo === undefined || m.startAddr < lo) lo = m.startAddr;
    if (m.endAddr > hi) hi = m.endAddr;
  }
  return lo === undefined ? undefined : { lo, hi };
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
  const file = asTlsFile(fileKey(st), path, path, functions, libraryOfPath(path));
  if (!file) {
    const soname = libraryOfPath(path);
    const missing = soname ? missingRequired(functions, soname) : missingRequired(functions, 'openssl');
    throw new Error(`binary ${path}: exports no ${missing} (not OpenSSL or GnuTLS, or a build without symbols)`);
  }
  return file;
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

const FALLBACK_LIBGNUTLS = ['/usr/lib/x86_64-linux-gnu/libgnutls.so.30', '/lib/x86_64-linux-gnu/libgnutls.so.30', '/usr/lib64/libgnutls.so.30'];

/** libssl.so.N and libgnutls.so.N entries of `ldconfig -p` for x86-64 (libssl3.so is NSS, not OpenSSL). */
export function parseLdconfig(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*((?:libssl|libgnutls)\.so[.\d]*)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
    if (m && m[2].includes('x86-64')) out.push(m[3]);
  }
  return out;
}

/** The host's libssl and libgnutls files (deduplicated by inode), as they are seen by the agent. */
export function systemLibssl(): SslFile[] {
  let listed: string[] = [];
  try {
    listed = parseLdconfig(execFileSync('ldconfig', ['-p'], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    listed = []; // no ldconfig: the usual places below
  }
  const out = new Map<string, SslFile>();
  for (const candidate of [...listed, ...FALLBACK_LIBSSL, ...FALLBACK_LIBGNUTLS]) {
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
      const file = asTlsFile(key, path, path, sslFunctionsOf(path, st), libraryOfPath(path));
      if (file) out.set(key, file);
    } catch {
      continue;
    }
  }
  return [...out.values()];
}
