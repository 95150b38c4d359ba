import { AttachError, isHotSpot, jcmd } from './attach';

/** A JVM's map is asked for again at most this often (before a flush): methods compiled since get their names. */
const REFRESH_MS = 5000;
/** JVMs one run asks at most; more are profiled without JIT names and counted. */
const MAX_JVMS = 256;

interface Jvm {
  askedAt: number;
  maps: number;
  error?: string;
}

/**
 * JIT-compiled Java methods by name for one CPU-profile run: each HotSpot JVM the run samples is asked,
 * through its attach socket (attach.ts), to write /tmp/perf-<pid>.map (`Compiler.perfmap`, JDK 17+), at
 * the start for a named target, on its first samples for any other, and again before each flush at most
 * every REFRESH_MS and at the end; the symbolizer reads the map like any JIT's (through /proc/PID/root,
 * under the JVM's own pid). The interpreter's code is named `Interpreter` there. A JVM that cannot give
 * a map (older than 17, attach disabled, a read-only working directory) is profiled without names, and
 * the run says why.
 */
export class JavaPerfMaps {
  private readonly jvms = new Map<number, Jvm>();
  private readonly looked = new Set<number>();
  private skipped = 0;

  constructor(private readonly ask: (pid: number) => Promise<unknown> = (pid) => jcmd(pid, 'Compiler.perfmap')) {}

  /** Notes which of these processes are JVMs (cheap: one read of their maps, once per pid). */
  see(pids: Iterable<number>): void {
    for (const pid of pids) {
      if (this.looked.has(pid)) continue;
      this.looked.add(pid);
      if (!isHotSpot(pid)) continue;
      if (this.jvms.size >= MAX_JVMS) {
        this.skipped++;
        continue;
      }
      this.jvms.set(pid, { askedAt: 0, maps: 0 });
    }
  }

  get size(): number {
    return this.jvms.size;
  }

  /** Asks every JVM whose map is older than REFRESH_MS (all of them when `all`) to write it again. */
  async refresh(all = false): Promise<void> {
    const now = Date.now();
    const due = [...this.jvms].filter(([, j]) => all || now - j.askedAt >= REFRESH_MS);
    await Promise.all(
      due.map(async ([pid, j]) => {
        j.askedAt = now;
        try {
          await this.ask(pid);
          j.maps++;
          j.error = undefined;
        } catch (err) {
          j.error = err instanceof AttachError ? err.message : `pid ${pid}: ${err instanceof Error ? err.message : String(err)}`;
        }
      }),
    );
  }

  /** What the run's user should know: which JVMs gave maps, which could not and why. */
  notes(): string[] {
    const notes: string[] = [];
    const ok = [...this.jvms.values()].filter((j) => j.maps > 0 && !j.error).length;
    if (ok > 0) notes.push(`java: ${ok} JVM(s) gave perf maps (jcmd Compiler.perfmap): JIT-compiled methods by name, interpreted code as Interpreter`);
    for (const [, j] of this.jvms) if (j.error) notes.push(`java: no perf map, JIT frames unnamed: ${j.error}`);
    if (this.skipped > 0) notes.push(`java: ${this.skipped} JVM(s) past ${MAX_JVMS} not asked for perf maps`);
    return notes;
  }
}
