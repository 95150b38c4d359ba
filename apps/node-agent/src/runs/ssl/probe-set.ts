/**
 * The TLS library files one ssl-capture run probes: where each function's probes go (placement.ts),
 * the attachments the tracer made, what could not be probed and why, and — for a duty-cycled capture
 * — taking every probe out for the off part of each period and putting it back for the on part
 * (the places are computed once per file; only the attachments come and go).
 */
import type { SslFunctionName, SslLinkKind, SslProbeSpec, SslTracer } from '@tracefleet/native';
import type { ElfError } from '../../lib/elf';
import type { SslProbeSites } from '../../probes/placement';
import { describeSites } from './capture-helpers';
import { libraryDef, type SslFile } from './discovery';

/** Distinct files probed per run: every attachment is a pair of uprobes per function. */
export const MAX_FILES = 64;

export interface ProbeSetOptions {
  place(path: string, fns: string[]): Map<string, SslProbeSites | ElfError>;
  /** also probe the libraries' handshake functions */
  handshakes: boolean;
  /** a pid target: the uprobes go into that process only */
  pid?: number;
  warn(message: string): void;
  log(message: string): void;
}

/** Why a file could not be probed, for a file the job named (the run fails with it). */
export class ProbeFailure extends Error {}

interface Probed {
  file: SslFile;
  specs: SslProbeSpec[];
  /** the tracer's attachment ids; empty while paused */
  ids: number[];
}

export class SslProbeSet {
  private readonly probed = new Map<string, Probed>();
  private readonly failed = new Set<string>();
  private readonly byAttachId = new Map<number, { path: string; fn: SslFunctionName }>();
  readonly text: string[] = [];
  readonly failures: string[] = [];
  private readonly capped: string[] = [];
  private paused = false;
  /** the detachAsync() of a pause, while it runs */
  private detaching: Promise<void> | undefined;

  constructor(
    private readonly tracer: SslTracer,
    private readonly o: ProbeSetOptions,
  ) {}

  /** How the tracer links its uprobes (what a pause waits for). */
  get linkKind(): SslLinkKind {
    return this.tracer.linkKind;
  }

  get size(): number {
    return this.probed.size;
  }

  paths(): string[] {
    return [...this.probed.values()].map((p) => p.file.path);
  }

  /** The probed file an event's attachment belongs to. */
  pathOf(attachId: number): string {
    return this.byAttachId.get(attachId)?.path ?? '';
  }

  /** What the report lists: each function's sites, what was not probed, and the files over the cap. */
  report(): string[] {
    const out = [...this.text];
    if (this.capped.length > 0) {
      out.push(`not probed (over the ${MAX_FILES}-file cap): ${this.capped.slice(0, 20).join(', ')}${this.capped.length > 20 ? ` and ${this.capped.length - 20} more` : ''}`);
    }
    return out;
  }

  /**
   * Puts the probe pairs on one file for every process that maps it (the kernel filter picks the
   * target); while paused, only works out where. `fatal`: a failure throws ProbeFailure; otherwise
   * it is reported and the file not retried.
   */
  add(file: SslFile, fatal: boolean): void {
    if (this.probed.has(file.key) || this.failed.has(file.key)) return;
    const fail = (why: string): void => {
      this.failed.add(file.key);
      if (fatal) throw new ProbeFailure(why);
      this.failures.push(why);
      this.text.push(`not probed: ${why}`);
      this.o.warn(why);
    };
    if (this.probed.size >= MAX_FILES) {
      this.failed.add(file.key);
      if (this.capped.length === 0) this.o.warn(`more than ${MAX_FILES} distinct TLS library files: ${file.path} and later ones are not probed`);
      this.capped.push(file.path);
      return;
    }
    const def = libraryDef(file.library);
    const fns: string[] = [...def.data, ...(this.o.handshakes && def.handshake ? [def.handshake] : [])];
    let sites: Map<string, SslProbeSites | ElfError>;
    try {
      sites = this.o.place(file.openPath, fns);
    } catch (err) {
      return fail(`${file.path}: cannot place probes (${(err as Error).message})`);
    }
    const specs: SslProbeSpec[] = [];
    const text: string[] = [];
    const skipped: string[] = [];
    for (const fn of fns) {
      const s = sites.get(fn);
      if (!s || s instanceof Error) {
        const why = s ? s.message.replace(`${file.openPath}: `, '') : 'not placed';
        if (def.required.includes(fn)) return fail(`${fn} in ${file.path} cannot be probed: ${why}`);
        skipped.push(`${fn} in ${file.path}: not probed (${why})`);
        continue;
      }
      // A pid target: the uprobes go into that process only (the kernel filters uprobes by mm, so
      // all its threads), and every other process using the same library runs untouched. comm and
      // all targets need every mapper of the file (processes started later included).
      specs.push({
        path: file.openPath,
        fn: fn as SslFunctionName,
        entryOffset: s.entry.fileOffset,
        returnKind: s.ret.kind,
        returnOffset: s.ret.fileOffset,
        ...(s.moreReturns?.length ? { moreReturns: s.moreReturns } : {}),
        ...(this.o.pid !== undefined ? { pid: this.o.pid } : {}),
      });
      text.push(describeSites(file.path, s, def.label));
    }
    let ids: number[] = [];
    if (!this.paused) {
      try {
        ids = this.attach(file, specs);
      } catch (err) {
        return fail(`${file.path}: ${(err as Error).message}`);
      }
    }
    this.probed.set(file.key, { file, specs, ids });
    this.text.push(...text, ...skipped);
    this.o.log(`probing ${file.path}: ${text.join('; ')}`);
    for (const [fn, site] of sites) if (!(site instanceof Error) && site.ret.kind === 'uretprobe') this.o.log(`${fn} in ${file.path} returns through a uretprobe: ${site.ret.reason}`);
  }

  private attach(file: SslFile, specs: SslProbeSpec[]): number[] {
    const ids = this.tracer.attach(specs);
    ids.forEach((id, i) => this.byAttachId.set(id, { path: file.path, fn: specs[i].fn }));
    return ids;
  }

  /**
   * Takes every probe out (the off part of a duty cycle), off the JS thread: the kernel waits for an
   * RCU grace periods once per link it removes (per uprobe without uprobe_multi links). Events already in the ring still arrive.
   */
  async pause(): Promise<void> {
    if (this.paused) return;
    this.paused = true;
    this.detaching = this.tracer.detachAsync(this.takeIds()).finally(() => (this.detaching = undefined));
    await this.detaching;
  }

  /** A pause's detach is running (the tracer refuses stop and close meanwhile). */
  get busy(): boolean {
    return this.detaching !== undefined;
  }

  /** A pause's detach has finished (before the tracer may be stopped or closed). */
  async settled(): Promise<void> {
    await this.detaching?.catch(() => undefined);
  }

  /** Puts every probe back; a file that no longer attaches is reported and left out. */
  async resume(): Promise<void> {
    if (!this.paused) return;
    await this.settled();
    this.paused = false;
    for (const [key, p] of this.probed) {
      try {
        p.ids = this.attach(p.file, p.specs);
      } catch (err) {
        const why = `${p.file.path}: attaching again failed (${(err as Error).message}); not probed from here on`;
        this.probed.delete(key);
        this.failed.add(key);
        this.failures.push(why);
        this.text.push(`not probed: ${why}`);
        this.o.warn(why);
      }
    }
  }

  /** Detaches every attachment (pause, and the run's end). */
  detachAll(): void {
    const ids = this.takeIds();
    if (ids.length) this.tracer.detach(ids);
  }

  /** Every attachment id, each file left with none. */
  private takeIds(): number[] {
    const ids = [...this.probed.values()].flatMap((p) => p.ids);
    for (const p of this.probed.values()) p.ids = [];
    return ids;
  }
}
