/**
 * A job's target, filtered in the kernel (packages/bpf/src/target.bpf.h): a cgroup v2 subtree, and a set of
 * processes the agent keeps. Both combine (AND) with a tracer's own pid and comm options; both are off by default.
 */

/** A cgroup v2 subtree: a task passes when it is in this cgroup or in any cgroup below it. */
export interface TargetCgroup {
  /** The cgroup's id: its directory's inode number on a cgroup2 mount (`fs.statSync(dir, { bigint: true }).ino`). > 0. */
  id: bigint | number;
  /** Its depth below the root cgroup, 0..1000: the root is 0, `<cgroup2 mount>/a` is 1, `<mount>/a/b` is 2. */
  level: number;
}

/** The option of every tracer that filters by cgroup. */
export interface TargetCgroupOption {
  /** Only tasks in this cgroup v2 subtree. */
  targetCgroup?: TargetCgroup;
}

/** The options of the tracers that also filter by a pid set (Profiler, UsdtTracer, SyscountTracer). */
export interface TargetOptions extends TargetCgroupOption {
  /**
   * Only processes whose tgid was given with addTargetPid (none at first): for hosts where the target's
   * processes have no cgroup v2 of their own to go by (docker on cgroup v1). Up to TRACEFLEET_MAX_TARGET_PIDS
   * (16384, `layouts().limits`). Default false.
   */
  targetPids?: boolean;
}

/** The methods of a tracer made with targetPids: true (the others throw). */
export interface TargetPidSink {
  /** Adds a process (its tgid, > 0) to the pid set; throws naming the limit when the set is full. */
  addTargetPid(pid: number): void;
  /** Removes a process from the pid set; nothing to do when it is not there. */
  removeTargetPid(pid: number): void;
}

/**
 * How full a tracer's ring buffer is (stats().ring): its size, the bytes written and not yet read now, and
 * the most the poll thread found waiting before a poll. sizeBytes 0: the fill could not be read.
 */
export interface RingFill {
  sizeBytes: number;
  availBytes: number;
  peakBytes: number;
}
