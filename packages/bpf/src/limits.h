/* Limits every probe shares, one name each; included by the BPF programs and the native addon
 * (native/src). native/lib/layout.spec.ts checks the addon was built with these values. */
#ifndef TRACEFLEET_LIMITS_H
#define TRACEFLEET_LIMITS_H

#define TRACEFLEET_COMM_LEN 16         /* the kernel's TASK_COMM_LEN: comm with its NUL */
#define TRACEFLEET_MAX_STACK_DEPTH 127 /* frames per stack: the kernel's default perf_event_max_stack */
#define TRACEFLEET_MAX_TARGET_PIDS 16384 /* processes in a job's pid set (target.bpf.h's target_pids) */

#endif /* TRACEFLEET_LIMITS_H */
