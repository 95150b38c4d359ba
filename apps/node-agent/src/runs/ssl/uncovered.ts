/**
 * TLS libraries ssl-capture does not cover, recognised so that a run names them instead of saying
 * only "no OpenSSL": wolfSSL, Mbed TLS, an OpenSSL-API library (OpenSSL, BoringSSL) linked statically without symbols, a JVM (its TLS is JSSE,
 * in Java code), and Go programs without crypto/tls symbols (stripped: the methods cannot be found).
 * Read from what the process maps; a Go executable is told by its `.go.buildinfo` / `.gopclntab`
 * section, read once per file version.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { withElf, type ElfFile } from '../../lib/elf';
import { procRootPath, type MapEntry } from '../../lib/proc';

interface Known {
  soname: RegExp;
  name: string;
}

const KNOWN: readonly Known[] = [
  { soname: /^libwolfssl\.so(\.|$)/, name: 'wolfSSL' },
  { soname: /^libmbedtls\.so(\.|$)/, name: 'Mbed TLS' },
  { soname: /^libjvm\.so$/, name: "a JVM's TLS (JSSE, implemented in Java)" },
];

const GO_SECTIONS = new Set(['.go.buildinfo', '.gopclntab', '.note.go.buildid']);
const MAX_CACHED = 1024;
const goCache = new Map<string, boolean>();

/**
 * What `look` finds in the ELF file at `openPath`, worked out once per file version (dev, inode,
 * size, mtime) and kept in `cache`; `none` for a file that is gone, not ELF or not readable.
 */
function perFileVersion<T>(cache: Map<string, T>, openPath: string, none: T, look: (elf: ElfFile) => T): T {
  let key: string;
  try {
    const st = statSync(openPath);
    key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return none;
  }
  if (cache.has(key)) return cache.get(key)!;
  let found = none;
  try {
    found = withElf(openPath, { purpose: 'TLS library discovery' }, look);
  } catch {
    found = none; // not ELF, or not readable: nothing to say about it
  }
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(key, found);
  return found;
}

/** Whether the ELF file at `openPath` is a Go program; false for anything unreadable. */
export function isGoExecutable(openPath: string): boolean {
  return perFileVersion(goCache, openPath, false, (elf) => elf.sectionNames().some((s) => GO_SECTIONS.has(s.name)));
}

/**
 * The TLS library `pid` uses that ssl-capture does not cover, named with the file that shows it
 * ("wolfSSL (/usr/lib/x86_64-linux-gnu/libwolfssl.so.35)", "Go's crypto/tls (/usr/local/bin/app is a Go
 * program)"), or undefined when none is seen.
 */
export function uncoveredTls(pid: number, maps: readonly MapEntry[], exe: string | undefined): string | undefined {
  for (const m of maps) {
    const name = basename(m.path);
    const k = KNOWN.find((x) => x.soname.test(name));
    if (k) return `${k.name} (${m.path})`;
  }
  if (exe && isGoExecutable(procRootPath(pid, exe))) {
    return `Go's crypto/tls without symbols (${exe} is a Go program with no crypto/tls.(*Conn).Read in its symbol table: stripped, or no TLS)`;
  }
  const version = exe ? opensslVersionIn(procRootPath(pid, exe)) : undefined;
  if (version) {
    return `an OpenSSL-API library linked in statically without symbols (${exe} holds "${version}": OpenSSL or BoringSSL, but no symbol names SSL_read)`;
  }
  return undefined;
}

/** .rodata read at most this far for a version string: a large static program (Envoy) has tens of MiB. */
const MAX_RODATA_BYTES = 256 * 1024 * 1024;
const RODATA_CHUNK = 8 * 1024 * 1024;
const versionCache = new Map<string, string | undefined>();

/**
 * A mark of an OpenSSL-API library linked into an executable, from its .rodata: the source path its
 * error macros keep ("../ssl/ssl_lib.c" in OpenSSL, "…/ssl/ssl_lib.cc" in BoringSSL: linked with SSL_read
 * itself) or the version text ("OpenSSL 1.1.1 (compatible; BoringSSL)"). Read once per file version;
 * undefined for none or an unreadable file.
 */
export function opensslVersionIn(openPath: string): string | undefined {
  return perFileVersion(versionCache, openPath, undefined, (elf) => {
    const sections = elf.sectionNames();
    // With a symbol table, a linked-in SSL_read would have been named there: only stripped files are read.
    if (sections.some((s) => s.name === '.symtab')) return undefined;
    const rodata = sections.find((s) => s.name === '.rodata');
    if (!rodata) return undefined;
    const end = rodata.size < BigInt(MAX_RODATA_BYTES) ? rodata.size : BigInt(MAX_RODATA_BYTES);
    // Chunks overlap by the longest text looked for, so one cut between two is still seen.
    for (let at = 0n; at < end; at += BigInt(RODATA_CHUNK - 64)) {
      const n = end - at < BigInt(RODATA_CHUNK) ? end - at : BigInt(RODATA_CHUNK);
      const m = /OpenSSL \d\.\d+\.\d+[ -~]{0,48}|[ -~]{0,64}\bssl\/ssl_lib\.cc?(?![ -~])/.exec(elf.readClipped(rodata.offset + at, n, '.rodata').toString('latin1'));
      if (m) return m[0].trim();
    }
    return undefined;
  });
}
