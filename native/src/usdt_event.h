// The kernel side's record, from the same header the BPF program is built with.
#pragma once

#include <linux/types.h>

#include "usdt/usdt.h"

static_assert(sizeof(struct usdt_event) % 8 == 0, "usdt_event must stay 8-byte aligned");
static_assert(USDT_MAX_ARGS < USDT_NO_ARG, "an argument index must never equal USDT_NO_ARG");
