/**
 * Cgroup and container targets (`{"cgroup": "/path"}`, `{"container": "<id or prefix>"}`): which processes
 * they hold now and later, and how the kernel is told. Where the target is a cgroup v2 cgroup, the BPF
 * program compares the task's ancestor cgroup id (target.bpf.h): every process in it or below, from its
 * first instruction, whenever it started. Where it is not (a v1-only host; docker's cgroupfs driver on v1),
 * the agent keeps a pid set in the program's target_pids map from a /proc scan every 500 ms: a process
 * is traced from the scan after it joined, so one that lives less than a scan period may be missed.
 */
import type { Target } from '@tracefleet/proto';
import {
  cgroupExists,
  cgroupV2Id,
  containerRefProblem,
  findCgroupProcesses,
  findContainerProcesses,
  resolveContainer,
  validateCgroupTarget,
  validateContainerRef,
  type ProcessScan,
} from '../lib/proc';
import { RunRejected } from './tracing-run';

/** The tracer methods a pid-set target drives (Profiler, UsdtTracer, SyscountTracer; SslTracer through pidListSink). */
export interface TargetPidSink {
  addTargetPid(pid: number): void;
  removeTargetPid(pid: number): void;
}

/** A pid sink over a tracer that takes its whole pid list at once (SslTracer.setPids). */
export function pidListSink(setPids: (pids: number[]) => void): TargetPidSink {
  const pids = new Set<number>();
  return {
    addTargetPid(pid) {
      pids.add(pid);
      setPids([...pids]);
    },
    removeTargetPid(pid) {
      if (pids.delete(pid)) setPids([...pids]);
    },
  };
}

/** The tracer options of a group target: exactly one of the two. */
export interface GroupTargetFilter {
  targetCgroup?: { id: bigint; level: number };
  targetPids?: boolean;
}

export const RESCAN_MS = 500;

export class GroupTarget {
  private timer: NodeJS.Timeout | undefined;
  private readonly inSet = new Set<number>();
  private sink: TargetPidSink | undefined;
  /** Pids the set could not take (its map full); counted, said in the run's notes. */
  private refused = 0;
  private lastError = '';

  private constructor(
    readonly kind: 'cgroup' | 'container',
    /** The cgroup path, or the container's full id. */
    readonly value: string,
    readonly filter: GroupTargetFilter,
    private readonly scanNow: () => ProcessScan,
    readonly why: string,
  ) {}

  /** The group target of a start message, or undefined for pid / comm / all. RunRejected when it names nothing here. */
  static from(target: Target | undefined, nodeName: string): GroupTarget | undefined {
    const kind = target?.kind;
    if (kind?.$case === 'cgroup') return GroupTarget.cgroup(kind.value, nodeName);
    if (kind?.$case === 'container') return GroupTarget.container(kind.value, nodeName);
    return undefined;
  }

  private static cgroup(path: string, nodeName: string): GroupTarget {
    const bad = validateCgroupTarget(path);
    if (bad) throw new RunRejected(bad);
    const v2 = cgroupV2Id(path);
    const scanNow = (): ProcessScan => findCgroupProcesses(path);
    if (v2) return new GroupTarget('cgroup', path, { targetCgroup: v2 }, scanNow, `cgroup v2 ${path}: filtered in the kernel by its cgroup id`);
    if (!cgroupExists(path)) throw new RunRejected(`no cgroup ${path} on node ${nodeName} (in the cgroup v2 hierarchy or any v1 hierarchy mounted)`);
    return new GroupTarget('cgroup', path, { targetPids: true }, scanNow, `cgroup ${path} is a cgroup v1 cgroup: ${pidSetWhy}`);
  }

  private static container(ref: string, nodeName: string): GroupTarget {
    const bad = validateContainerRef(ref);
    if (bad) throw new RunRejected(bad);
    const { ids, processes } = resolveContainer(ref);
    const problem = containerRefProblem(ref, ids);
    if (problem) throw new RunRejected(`${problem} on node ${nodeName}`);
    const id = ids[0];
    const scanNow = (): ProcessScan => findContainerProcesses(id);
    // The container's own cgroup v2 cgroup, when all its processes are in one that the kernel can compare.
    const v2Paths = new Set<string>();
    for (const { cgroups } of processes) {
      const v2 = cgroups.v2;
      v2Paths.add(v2 !== undefined && v2 !== '/' && v2.includes(id) ? v2 : '');
    }
    const [path] = [...v2Paths];
    const v2 = v2Paths.size === 1 && path !== '' ? cgroupV2Id(path) : undefined;
    if (v2) return new GroupTarget('container', id, { targetCgroup: v2 }, scanNow, `container ${id.slice(0, 12)} is cgroup v2 ${path}: filtered in the kernel by its cgroup id`);
    return new GroupTarget('container', id, { targetPids: true }, scanNow, `container ${id.slice(0, 12)} has no cgroup v2 cgroup of its own (cgroup v1): ${pidSetWhy}`);
  }

  /** Pids in the target now. */
  pids(): number[] {
    return this.scanNow().processes.map((p) => p.pid);
  }

  /** Pids in the target now, as a set. */
  memberSet(): Set<number> {
    return new Set(this.pids());
  }

  /** What the run's start message says about the target. */
  describe(): string {
    return this.kind === 'cgroup' ? `cgroup ${this.value}` : `container ${this.value.slice(0, 12)}`;
  }

  /**
   * For a pid-set target: fills the tracer's set now and keeps it current every RESCAN_MS (new processes
   * added, exited or moved ones removed). `onNew` hears of each process added (unwind tables, runtimes).
   * Nothing to do for a v2 target: the kernel follows it.
   */
  follow(sink: TargetPidSink, onNew: (pids: number[]) => void = () => undefined): void {
    if (!this.filter.targetPids) return;
    this.sink = sink;
    this.rescan(onNew);
    this.timer = setInterval(() => this.rescan(onNew), RESCAN_MS);
    this.timer.unref();
  }

  private rescan(onNew: (pids: number[]) => void): void {
    if (!this.sink) return;
    const now = new Set(this.pids());
    const added: number[] = [];
    for (const pid of now) {
      if (this.inSet.has(pid)) continue;
      try {
        this.sink.addTargetPid(pid);
        this.inSet.add(pid);
        added.push(pid);
      } catch (err) {
        this.refused++;
        this.lastError = (err as Error).message;
      }
    }
    for (const pid of this.inSet) {
      if (now.has(pid)) continue;
      this.sink.removeTargetPid(pid);
      this.inSet.delete(pid);
    }
    if (added.length > 0) onNew(added);
  }

  /** Stops following; the tracer's set stays as it is (the tracer is closed next). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sink = undefined;
  }

  notes(): string[] {
    const out = [`target ${this.why}`];
    if (this.refused > 0) out.push(`${this.refused} processes of the target could not be added to the pid set (${this.lastError})`);
    return out;
  }
}

const pidSetWhy = `its processes are followed by a /proc scan every ${RESCAN_MS} ms and filtered in the kernel by pid (a process is traced from the scan after it joined; one that lives less than ${RESCAN_MS} ms may be missed)`;
