/**
 * TLS libraries ssl-capture does not cover, recognised so that a run names them instead of saying
 * only "no OpenSSL": wolfSSL, Mbed TLS, a JVM (its TLS is JSSE,
 * in Java code), and Go programs without crypto/tls symbols (stripped: the methods cannot be found).
 * Read from what the process maps; a Go executable is told by its `.go.buildinfo` / `.gopclntab`
 * section, read once per file version.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { withElf } from '../../lib/elf';
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

/** Whether the ELF file at `openPath` is a Go program; false for anything unreadable. */
export function isGoExecutable(openPath: string): boolean {
  let key: string;
  try {
    const st = statSync(openPath);
    key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return false;
  }
  const hit = goCache.get(key);
  if (hit !== undefined) return hit;
  let go = false;
  try {
    go = withElf(openPath, { purpose: 'TLS library discovery' }, (elf) => elf.sectionNames().some((s) => GO_SECTIONS.has(s.name)));
  } catch {
    go = false; // not ELF, or not readable: nothing to say about it
  }
  if (goCache.size >= MAX_CACHED) goCache.delete(goCache.keys().next().value!);
  goCache.set(key, go);
  return go;
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
  return undefined;
}
