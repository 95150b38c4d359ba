// Typed facade over the tracefleet_native addon and the one place that loads it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeUnwinder, Unwinder, UnwinderOptions, UnwindTable } from './unwind';
import type { MemleakLayout, MemleakOptions, MemleakSnapshot, NativeMemleakTracer } from './memleak-types';
import type { NativeSyscountTracer, SyscountLayout, SyscountOptions } from './syscount-types';
import type { NativeRunqlatTracer, RunqlatLayout, RunqlatOptions } from './runqlat-types';
import type { BiolatencyLayout, BiolatencyOptions, NativeBiolatencyTracer } from './biolatency-types';
import type { NativeTcpTracer, TcpLayout, TcpTracerOptions } from './tcp-types';
import type { NativeOomkillTracer, OomkillLayout, OomkillTracerOptions } from './oomkill-types';
import type { ExecOpenLayout, ExecOpenTracerOptions, NativeExecOpenTracer } from './execopen-types';
import type { NativeOffCpuOptions, NativeOffCpuTracer, OffCpuLayout } from './offcpu-types';
import type { NativeSslTracer, SslEventLayout, SslLinkKind, SslProbeSpec, SslStats, SslTracerOptions } from './ssl-types';
import type { NativeDwarf } from './dwarf-types';
import type { NativeUsdtTracer, UsdtEventLayout, UsdtStats, UsdtTracerOptions } from './usdt-types';

export * from './unwind';
export * from './usdt-types';
export * from './memleak-types';
export * from './map-tracer';
export * from './syscount-types';
export * from './syscount';
export * from './runqlat-types';
export * from './runqlat';
export * from './biolatency-types';
export * from './biolatency';
export * from './tcp-types';
export * from './tcp';
export * from './oomkill-types';
export * from './oomkill';
export * from './execopen-types';
export * from './execopen';
export * from './offcpu-types';
export * from './offcpu';
export * from './ssl-types';
export * from './python-types';
export * from './profiler-types';
export * from './target-types';
export * from './dwarf-types';
import type { EventLayout, NativeProfiler, ProfilerOptions, ProfilerStats } from './profiler-types';

/** What the Symbolizer holds and how often its caches answered. */
export interface SymbolizerStats {
  /** Distinct mapped files (ELF images, the vDSO) open, each shared by every process that maps it. */
  files: number;
  /** Symbols indexed over those files. */
  symbols: number;
  /** Processes with state kept: their maps, identity, perf map and resolved addresses. */
  processes: number;
  /** (pid, address) → name results held, over all processes; bounded. */
  cachedAddresses: number;
  /** User frames asked for since the Symbolizer was created. */
  lookups: number;
  /** Of those, answered from a process's address cache. */
  cacheHits: number;
  /** Reads of /proc/<pid>/maps: at first sight of a process, then at most once a second when an address lies outside every mapping. */
  mapsReads: number;
  /** Processes whose /tmp/perf-PID.map was refused: not a regular file, owned by another user than the process's or root, or world-writable. */
  perfMapsRefused: number;
  /** Perf map lines longer than 8 KiB, skipped unread. */
  perfMapLinesTooLong: number;
  /** Perf map bytes beyond perfMapMaxBytes, left unread (summed over processes). */
  perfMapBytesNotRead: number;
  /** Executable file mappings that are no regular file (a device mapped PROT_EXEC): never opened, named module+offset. */
  mappingsRefused: number;
  /** The latest of those refusals, e.g. "perf map /tmp/perf-12.map: owned by uid 65534, not by the process (uid 0) or root"; '' when none. */
  lastRefusal: string;
}

export interface SymbolizerOptions {
  /** The most of a /tmp/perf-PID.map read (default 64 MiB); what lies beyond is left unread and counted. */
  perfMapMaxBytes?: number;
}

/** safeOpenCheck's answer: whether the agent would open the file, and if not why (never its size then). */
export type SafeOpenCheck = { ok: true; size: number } | { ok: false; error: string };

export interface PerfMapReaderStats {
  entries: number;
  refused: number;
  linesTooLong: number;
  bytesNotRead: number;
  refusal: string;
  /** The file it reads: the one given, or the process's own map (through /proc/PID/root in another mount namespace). */
  path: string;
}

interface NativePerfMapReader {
  refresh(): boolean;
  find(addr: bigint): string | null;
  stats(): PerfMapReaderStats;
}

interface NativeSymbolizer {
  symbolizeUser(pid: number, addrs: BigUint64Array): string[];
  symbolizeKernel(addrs: BigUint64Array): string[];
  forget(pid: number): void;
  stats(): SymbolizerStats;
  close(): void;
}

/** Options as the addon takes them: the Unwinder's native object in place of the facade. */
type WithNativeUnwinder<T extends { unwinder?: Unwinder }> = Omit<T, 'unwinder'> & { unwinder?: NativeUnwinder };

/** The addon's options from the facade's. */
function nativeOptions<T extends { unwinder?: Unwinder }>(opts: T): WithNativeUnwinder<T> {
  const { unwinder, ...rest } = opts;
  return unwinder ? { ...rest, unwinder: unwinder.handle } : rest;
}

export interface NativeAddon extends NativeDwarf {
  Profiler: new (opts: WithNativeUnwinder<ProfilerOptions>) => NativeProfiler;
  Symbolizer: new (opts?: SymbolizerOptions) => NativeSymbolizer;
  safeOpenCheck(path: string, maxBytes?: number, root?: string): SafeOpenCheck;
  PerfMapReader: new (pid: number, path: string, maxBytes: number) => NativePerfMapReader;
  UsdtTracer: new (opts: WithNativeUnwinder<UsdtTracerOptions>) => NativeUsdtTracer;
  MemleakTracer: new (opts: WithNativeUnwinder<MemleakOptions>) => NativeMemleakTracer;
  SyscountTracer: new (opts: SyscountOptions) => NativeSyscountTracer;
  RunqlatTracer: new (opts: RunqlatOptions) => NativeRunqlatTracer;
  BiolatencyTracer: new (opts: BiolatencyOptions) => NativeBiolatencyTracer;
  TcpTracer: new (opts: TcpTracerOptions) => NativeTcpTracer;
  OomkillTracer: new (opts: OomkillTracerOptions) => NativeOomkillTracer;
  ExecOpenTracer: new (opts: ExecOpenTracerOptions) => NativeExecOpenTracer;
  OffCpuTracer: new (opts: NativeOffCpuOptions) => NativeOffCpuTracer;
  SslTracer: new (opts: WithNativeUnwinder<SslTracerOptions>) => NativeSslTracer;
  layouts(): Layouts;
  functionOffsets(path: string, names: string[]): Record<string, bigint>;
  Unwinder: new (opts: UnwinderOptions) => NativeUnwinder;
  unwindTable(path: string): UnwindTable;
  releaseMemory(): boolean;
  fixMallocThresholds(): boolean;
}

export const addonPath = path.resolve(__dirname, '..', 'build', 'Release', 'tracefleet_native.node');
export const buildCommand = 'npm run build -w @tracefleet/native';

let addon: NativeAddon | undefined;

/** Loads the addon (once); the error says which file was tried and how to build it. */
export function loadAddon(file: string = addonPath): NativeAddon {
  if (file === addonPath && addon) return addon;
  if (!fs.existsSync(file)) {
    throw new Error(
      `@tracefleet/native: addon not found at ${file}; build it with \`${buildCommand}\` ` +
        '(needs libbpf-dev, libelf-dev, libdw-dev, zlib1g-dev and a C++ compiler)',
    );
  }
  let loaded: NativeAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as NativeAddon;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`@tracefleet/native: loading ${file} failed: ${message}; rebuild it with \`${buildCommand}\``, {
      cause: err,
    });
  }
  if (file === addonPath) addon = loaded;
  return loaded;
}

/**
 * CPU profiler: profile.bpf.o on a software CPU-clock perf event on every online CPU.
 * The constructor loads the program (the error carries the verifier log); start() attaches.
 */
export class Profiler {
  readonly #native: NativeProfiler;

  constructor(opts: ProfilerOptions) {
    this.#native = new (loadAddon().Profiler)(nativeOptions(opts));
  }

  /** Opens one perf event per online CPU, attaches, starts the poll thread. */
  start(): void {
    this.#native.start();
  }

  /** Detaches, drains the ring buffer, delivers the last batch, then resolves with final stats. */
  stop(): Promise<ProfilerStats> {
    return this.#native.stop();
  }

  stats(): ProfilerStats {
    return this.#native.stats();
  }

  /** Frees every BPF and perf fd of this profiler; idempotent. */
  close(): void {
    this.#native.close();
  }

  /** Reads this process's Python frames from now on; `layout` is its struct py_proc (python.h). */
  setPythonProcess(pid: number, layout: Buffer): void {
    this.#native.setPythonProcess(pid, layout);
  }

  forgetPythonProcess(pid: number): void {
    this.#native.forgetPythonProcess(pid);
  }

  /** With targetPids: samples this process (tgid) from now on. */
  addTargetPid(pid: number): void {
    this.#native.addTargetPid(pid);
  }

  removeTargetPid(pid: number): void {
    this.#native.removeTargetPid(pid);
  }
}

/**
 * Turns stacks (leaf first) into names: user frames via libdwfl and JIT perf maps, kernel frames via kallsyms.
 * Mapped files are opened once and shared by every process that maps them; resolved (pid, address) pairs are
 * cached, so repeated flushes cost little. A process's state outlives it: its samples still resolve after it exits.
 */
export class Symbolizer {
  readonly #native: NativeSymbolizer;

  constructor(opts?: SymbolizerOptions) {
    this.#native = new (loadAddon().Symbolizer)(opts);
  }

  /**
   * `addrs` is a user stack, leaf first; frames after the leaf are looked up at addr - 1.
   * Names: function, `<module>+0x<offset>`, `<jit name>_[j]` or `[unknown mapping]+0x<addr>`.
   */
  symbolizeUser(pid: number, addrs: BigUint64Array): string[] {
    return this.#native.symbolizeUser(pid, addrs);
  }

  /** `addrs` is a kernel stack, leaf first. Names: `<symbol>_[k]` or `[kernel]+0x<addr>_[k]`. */
  symbolizeKernel(addrs: BigUint64Array): string[] {
    return this.#native.symbolizeKernel(addrs);
  }

  /** Drops what is cached for pid (its maps and resolved addresses; shared files stay while others use them). */
  forget(pid: number): void {
    this.#native.forget(pid);
  }

  stats(): SymbolizerStats {
    return this.#native.stats();
  }

  close(): void {
    this.#native.close();
  }
}

/**
 * USDT tracer: usdt.bpf.o attached to each requested probe, the probe index as attach cookie.
 * The constructor loads the program (the error carries the verifier log); start() attaches.
 */
export class UsdtTracer {
  readonly #native: NativeUsdtTracer;

  constructor(opts: UsdtTracerOptions) {
    this.#native = new (loadAddon().UsdtTracer)(nativeOptions(opts));
  }

  /**
   * Attaches every probe in order and starts the poll thread. When one fails it throws naming
   * the probe and the binary ("attach usdt python:gc__start in /usr/bin/python3.11: ...") and
   * detaches those it had attached.
   */
  start(): void {
    this.#native.start();
  }

  /** Detaches, drains the ring buffer, delivers the last batch, then resolves with final stats. */
  stop(): Promise<UsdtStats> {
    return this.#native.stop();
  }

  stats(): UsdtStats {
    return this.#native.stats();
  }

  /** Frees every BPF and perf fd of this tracer; idempotent. */
  close(): void {
    this.#native.close();
  }

  /** With python and captureStacks: reads this process's Python frames from now on (struct py_proc, python.h). */
  setPythonProcess(pid: number, layout: Buffer): void {
    this.#native.setPythonProcess(pid, layout);
  }

  forgetPythonProcess(pid: number): void {
    this.#native.forgetPythonProcess(pid);
  }

  /** With targetPids: traces this process's hits (tgid) from now on. */
  addTargetPid(pid: number): void {
    this.#native.addTargetPid(pid);
  }

  removeTargetPid(pid: number): void {
    this.#native.removeTargetPid(pid);
  }
}

/**
 * Outstanding allocations by stack: uprobes on one process's libc allocator (user mode) or the kmem/percpu
 * tracepoints (kernel mode). The constructor resolves the probe sites and loads the program (errors name the step
 * and carry the verifier log); start() attaches.
 */
export class MemleakTracer {
  readonly #native: NativeMemleakTracer;

  constructor(opts: MemleakOptions) {
    this.#native = new (loadAddon().MemleakTracer)(nativeOptions(opts));
  }

  /**
   * Attaches every probe. An attach error names the function and the file (or the tracepoint), and what was
   * attached is detached again. Functions this libc lacks were already skipped (MemleakSnapshot.skipped).
   */
  start(): void {
    this.#native.start();
  }

  /** Reads the live-allocation map, grouped by stack; only allocations at least minAgeNs old count. */
  snapshot(minAgeNs?: bigint): MemleakSnapshot {
    return this.#native.snapshot(minAgeNs);
  }

  /** Detaches every probe; the maps stay readable for a final snapshot. */
  stop(): void {
    this.#native.stop();
  }

  /** With python (user mode): reads this process's Python frames from now on (struct py_proc, python.h). */
  setPythonProcess(pid: number, layout: Buffer): void {
    this.#native.setPythonProcess(pid, layout);
  }

  forgetPythonProcess(pid: number): void {
    this.#native.forgetPythonProcess(pid);
  }

  /** Frees every BPF and perf fd of this tracer; idempotent. */
  close(): void {
    this.#native.close();
  }
}

/**
 * TLS plaintext: uprobe pairs on OpenSSL's SSL_read/SSL_write(_ex)/SSL_do_handshake record each call's bytes,
 * return value and latency. The constructor loads ssl.bpf.o (the error carries the verifier log); probes are
 * attached and detached with attach()/detach(), before or after start().
 */
export class SslTracer {
  readonly #native: NativeSslTracer;

  constructor(opts: SslTracerOptions) {
    this.#native = new (loadAddon().SslTracer)(nativeOptions(opts));
  }

  /** Starts the poll thread; probes may be attached before or after. */
  start(): void {
    this.#native.start();
  }

  /**
   * Attaches each spec's return probe, then its entry probe, and returns one id per spec (for detach() and
   * SslRawEvent.attachId). With uprobe_multi links (linkKind) one link carries every offset of a file, program and
   * probe kind. When one fails it throws naming the functions, the file, the offsets and the errno
   * ("attach uprobe SSL_read entry in /usr/lib/.../libssl.so.3 @0x35430: ...") and detaches what this call attached.
   */
  attach(probes: SslProbeSpec[]): number[] {
    return this.#native.attach(probes);
  }

  /**
   * Detaches the given attachments; ids already detached (or never issued) are ignored. Ids of one attach() call
   * share links: those not given are attached again at once under the same ids.
   */
  detach(ids: number[]): void {
    this.#native.detach(ids);
  }

  /** How uprobes are linked (SslLinkKind). */
  get linkKind(): SslLinkKind {
    return this.#native.linkKind();
  }

  /**
   * detach() on a worker thread: the kernel waits for RCU grace periods for each link it removes (about
   * 0.07 s each on this kernel), which would stall the JS thread. Until the promise settles, attach, detach,
   * detachAsync, stop and close throw.
   */
  detachAsync(ids: number[]): Promise<void> {
    return this.#native.detachAsync(ids);
  }

  /** Adds, then removes tgids of the in-kernel filter; only for a tracer created with option pids. */
  setPids(add: number[], remove?: number[]): void {
    this.#native.setPids(add, remove);
  }

  /** Where `pid` maps NSS's libssl3.so: see NativeSslTracer.setNssLayer. */
  setNssLayer(pid: number, lo: bigint, hi: bigint): void {
    this.#native.setNssLayer(pid, lo, hi);
  }

  /** With python and captureStacks: reads this process's Python frames from now on (struct py_proc, python.h). */
  setPythonProcess(pid: number, layout: Buffer): void {
    this.#native.setPythonProcess(pid, layout);
  }

  forgetPythonProcess(pid: number): void {
    this.#native.forgetPythonProcess(pid);
  }

  /** Detaches everything, drains the ring buffer, delivers the last batch, then resolves with final stats; idempotent. */
  stop(): Promise<SslStats> {
    return this.#native.stop();
  }

  stats(): SslStats {
    return this.#native.stats();
  }

  /** Frees every BPF and perf fd of this tracer; idempotent; stops a running tracer. */
  close(): void {
    this.#native.close();
  }
}

/** Every record layout and constant the addon was compiled with, by probe, and the limits they share (limits.h). */
export interface Layouts {
  limits: { TRACEFLEET_COMM_LEN: number; TRACEFLEET_MAX_STACK_DEPTH: number; TRACEFLEET_MAX_TARGET_PIDS: number };
  profile: EventLayout;
  /** struct py_proc (python.h), what setPythonProcess takes. */
  python: { size: number; offsets: Record<string, number>; TRACEFLEET_MAX_PY_FRAMES: number; PY_COUNTER_MAX: number };
  usdt: UsdtEventLayout;
  memleak: MemleakLayout;
  ssl: SslEventLayout;
  syscount: SyscountLayout;
  runqlat: RunqlatLayout;
  biolatency: BiolatencyLayout;
  tcp: TcpLayout;
  oomkill: OomkillLayout;
  execopen: ExecOpenLayout;
  offcpu: OffCpuLayout;
}

export function layouts(): Layouts {
  return loadAddon().layouts();
}

/**
 * File offsets of the named functions in an ELF file (.dynsym, then .symtab; the default symbol version), as
 * uprobes take them. Names not found are absent from the result.
 */
export function functionOffsets(path: string, names: string[]): Record<string, bigint> {
  return loadAddon().functionOffsets(path, names);
}

/**
 * malloc_trim(0): hands the free pages of every malloc arena back to the kernel (glibc keeps what runs freed
 * below its trim threshold, which grows to 64 MiB). True when some memory was released.
 */
export function releaseMemory(): boolean {
  return loadAddon().releaseMemory();
}

/**
 * Fixes glibc's mmap threshold (256 KiB) and trim threshold (1 MiB), which otherwise grow with the largest block
 * freed, so that large temporaries (unwind table rows, libbpf's BTF copy) go back to the kernel when freed instead
 * of staying in the process's RSS. Process-wide: for the agent, called once at its start. True when glibc took both.
 */
export function fixMallocThresholds(): boolean {
  return loadAddon().fixMallocThresholds();
}

/**
 * Whether the addon would open `path` for reading (safe_open.h): only a regular file of at most
 * maxBytes, checked on an O_PATH descriptor before any real open. For specs and diagnostics.
 */
export function safeOpenCheck(path: string, maxBytes?: number, root?: string): SafeOpenCheck {
  return loadAddon().safeOpenCheck(path, maxBytes, root);
}

/** The symbolizer's reader of one perf map file, on its own (specs give it hostile files; '' reads the process's own map). */
export function perfMapReader(pid: number, path: string, maxBytes: number): NativePerfMapReader {
  return new (loadAddon().PerfMapReader)(pid, path, maxBytes);
}
