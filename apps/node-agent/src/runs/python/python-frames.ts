import type { PythonCounters, PythonFrameFields } from '@tracefleet/native';
import { PythonNames } from './code-names';
import { basename } from 'node:path';
import { detectPython, type PythonDetection } from './detect';
import { describeLayoutSource } from './dwarf-layout';
import { mergePythonFrames } from './merge';
import { readComm } from '../../lib/proc';

/** What a run needs of its tracer: where a Python process's interpreter layout goes. */
export interface PythonLayoutSink {
  setPythonProcess(pid: number, layout: Buffer): void;
  forgetPythonProcess?(pid: number): void;
}

/** A sample or event with Python frames, of process `pid`. */
export type WithPythonFrames = PythonFrameFields & { pid: number };

/** Processes looked at per run at most: beyond it new ones are profiled natively and counted. */
const MAX_PROCESSES = 65_536;
/** Thread names remembered per process as not being an exec (past it, /proc is read again for those). */
const MAX_THREAD_COMMS = 64;
/** Interpreter files (and versions) whose layout's origin the notes tell, at most. */
const MAX_LAYOUT_NOTES = 16;

/**
 * Python frames for one run (cpu-profile; usdt and ssl-capture with userStacks; memleak in user mode): which
 * sampled processes run CPython (detect.ts), their interpreters' layouts in the program's py_procs map, and
 * the names of their code objects (code-names.ts) put in place of the eval loop's frames (merge.ts). A process is looked at when it is named as the target or when
 * its first samples arrive (a process started after the job began), and again when its samples carry another
 * comm than it had then (an exec: a fork of a shell or of a container runtime becoming python3); samples
 * taken before that carry no Python frames.
 */
export class PythonFrames {
  /** pid → what it was found to be, and its comm then. */
  private readonly seen = new Map<number, { kind: PythonDetection['kind'] | 'error'; comm: string | undefined; threadComms?: Set<string> }>();
  private readonly versions = new Map<string, number>();
  /** "version file" → where its layout came from, as notes say it */
  private readonly layoutNotes = new Map<string, string[]>();
  private readonly unsupported = new Map<string, { reason: string; pids: number[] }>();
  private errors = 0;
  private lastError = '';
  private notLookedAt = 0;

  constructor(
    private readonly sink: PythonLayoutSink,
    private readonly names = new PythonNames(),
    private readonly detect: (pid: number) => PythonDetection = detectPython,
  ) {}

  /** Looks at the processes of these pids (or samples) that were not looked at before. */
  see(pids: Iterable<number>): void {
    for (const pid of pids) {
      if (this.seen.has(pid)) continue;
      if (this.seen.size >= MAX_PROCESSES) {
        this.notLookedAt++;
        continue;
      }
      this.seen.set(pid, { comm: readComm(pid), kind: this.lookAt(pid) });
    }
  }

  /** Looks at the processes of these samples met for the first time, or since an exec (another comm). */
  seeSamples(samples: { pid: number; comm?: string }[]): void {
    for (const s of samples) {
      const known = this.seen.get(s.pid);
      if (known !== undefined && s.comm !== undefined && known.comm !== undefined && s.comm !== known.comm && !known.threadComms?.has(s.comm)) {
        // A sample's comm is its thread's: a thread that named itself is no exec. The process's own comm says.
        const now = readComm(s.pid);
        if (now === undefined) continue; // gone: nothing to look at
        if (now === known.comm) {
          known.threadComms ??= new Set();
          if (known.threadComms.size < MAX_THREAD_COMMS) known.threadComms.add(s.comm);
          continue;
        }
        this.seen.delete(s.pid);
        if (known.kind === 'python') {
          this.names.forget(s.pid);
          this.sink.forgetPythonProcess?.(s.pid);
        }
      } else if (known !== undefined) continue;
      this.see([s.pid]);
    }
  }

  private lookAt(pid: number): PythonDetection['kind'] | 'error' {
    let found: PythonDetection;
    try {
      found = this.detect(pid);
      if (found.kind === 'python') {
        this.names.addProcess(pid, found);
        this.sink.setPythonProcess(pid, found.pyProc);
        this.versions.set(found.version, (this.versions.get(found.version) ?? 0) + 1);
        const key = `${found.version} ${found.path}`;
        if (!this.layoutNotes.has(key) && this.layoutNotes.size < MAX_LAYOUT_NOTES) {
          this.layoutNotes.set(key, describeLayoutSource(found.version, basename(found.path), found.layoutSource));
        }
      } else if (found.kind === 'unsupported') {
        const u = this.unsupported.get(found.version) ?? { reason: found.reason, pids: [] };
        if (u.pids.length < 5) u.pids.push(pid);
        this.unsupported.set(found.version, u);
      }
      return found.kind;
    } catch (err) {
      // A process gone meanwhile, or an interpreter this agent could not read: profiled natively, counted.
      this.errors++;
      this.lastError = err instanceof Error ? err.message : String(err);
      return 'error';
    }
  }

  frames(s: WithPythonFrames, userRootFirst: string[]): string[] {
    return mergePythonFrames(userRootFirst, s.pyFrames, s.pyTruncated, (word) => this.names.name(s.pid, word));
  }

  /** What the run's user should know: which interpreters got Python frames, which did not and why. */
  notes(counters: PythonCounters | undefined): string[] {
    const notes: string[] = [];
    const processes = [...this.versions.values()].reduce((a, n) => a + n, 0);
    if (processes > 0) {
      const versions = [...this.versions.entries()].map(([v, n]) => (n > 1 ? `${v} ×${n}` : v)).join(', ');
      let line = `python: ${processes} process(es) (${versions}) with Python frames`;
      if (counters && counters.stacks > 0n) {
        line += `; of their ${counters.stacks} samples ${counters.noThread} were of threads without a Python thread state`;
        if (counters.readFaults > 0n) line += `, ${counters.readFaults} cut by a read fault`;
        if (counters.truncated > 0n) line += `, ${counters.truncated} deeper than 128 Python frames (outermost left out)`;
      }
      const names = this.names.stats();
      if (names.failed > 0) line += `; ${names.failed} code object(s) unreadable`;
      notes.push(line);
      for (const lines of this.layoutNotes.values()) notes.push(...lines);
    }
    for (const [, u] of this.unsupported) notes.push(`${u.reason} (pid ${u.pids.join(', ')})`);
    if (this.errors > 0) notes.push(`python: ${this.errors} process(es) could not be read for Python frames, profiled natively (latest: ${this.lastError})`);
    if (this.notLookedAt > 0) notes.push(`python: ${this.notLookedAt} process(es) past ${MAX_PROCESSES} not looked at for Python frames`);
    return notes;
  }

  close(): void {
    this.names.close();
  }
}

/** What a stack's folding needs of PythonFrames (specs give a stand-in). */
export type PythonFramer = Pick<PythonFrames, 'frames'>;

/**
 * A stack's user frames, root first: the native ones symbolized, with the Python frames in place of the eval
 * loop's when the stack has some (cpu-profile samples, usdt and ssl-capture events, memleak stacks).
 */
export function userFramesOf(
  s: WithPythonFrames & { userStack: BigUint64Array },
  symbolizer: { symbolizeUser(pid: number, addrs: BigUint64Array): string[] },
  python?: PythonFramer,
): string[] {
  const user = s.userStack.length > 0 ? symbolizer.symbolizeUser(s.pid, s.userStack).reverse() : [];
  return python && s.pyFrames.length > 0 ? python.frames(s, user) : user;
}
