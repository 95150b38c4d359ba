// The kernel side's record, from the same header the BPF program is built with.
#pragma once

#include <linux/types.h>

#include "profile/profile.h"

static_assert(sizeof(struct profile_event) % 8 == 0, "profile_event must stay 8-byte aligned");
