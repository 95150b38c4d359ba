/**
 * Kernel limits the agent's TypeScript relies on, by the names packages/bpf/src/limits.h gives them for
 * the BPF programs and the addon; kernel-limits.spec.ts checks these against the addon's layouts().limits.
 */

/** A task's comm: at most 15 bytes and a NUL (the kernel's TASK_COMM_LEN). */
export const TRACEFLEET_COMM_LEN = 16;

/** The most bytes of a comm (TRACEFLEET_COMM_LEN less the NUL). */
export const MAX_COMM_BYTES = TRACEFLEET_COMM_LEN - 1;

/** Frames of one stack the BPF programs keep (the kernel's default perf_event_max_stack). */
export const TRACEFLEET_MAX_STACK_DEPTH = 127;

/** Processes a run's target pid set holds at most (target.bpf.h's target_pids map, for cgroup v1 targets). */
export const TRACEFLEET_MAX_TARGET_PIDS = 16_384;
