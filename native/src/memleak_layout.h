// The kernel side's map value and counter indices, from the same header the BPF program is built with.
#pragma once

#include <linux/types.h>

#include "memleak/memleak.h"

static_assert(sizeof(struct memleak_alloc) == 24, "memleak_alloc must stay 24 bytes");
static_assert(sizeof(struct memleak_py_stack) == 8 + 8 * TRACEFLEET_MAX_PY_FRAMES, "memleak_py_stack: a header word, then the frames");
static_assert(TRACEFLEET_MAX_STACK_DEPTH <= 127, "deeper than the kernel's default perf_event_max_stack");
