/**
 * Kernel limits the agent's TypeScript relies on, named once. The BPF headers (packages/bpf) and the
 * addon's layout export (native EventLayout.TASK_COMM_LEN, .MAX_STACK_DEPTH) carry the same values
 * for the kernel side; native/lib/layout.spec.ts checks those against the compiled objects.
 */

/** TASK_COMM_LEN: a task's comm is at most 15 bytes and a NUL. */
export const TASK_COMM_LEN = 16;

/** The most bytes of a comm (TASK_COMM_LEN less the NUL). */
export const MAX_COMM_BYTES = TASK_COMM_LEN - 1;

/** Frames of one stack the BPF programs keep (the kernel's default perf_event_max_stack). */
export const MAX_STACK_DEPTH = 127;
