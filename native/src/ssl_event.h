// The kernel side's record header and constants, from the same header the BPF program is built with.
#pragma once

#include <linux/types.h>

#include "ssl/ssl.h"

static_assert(sizeof(struct ssl_event) % 8 == 0, "ssl_event must stay 8-byte aligned");
static_assert(SSL_FN_MAX <= (1 << SSL_COOKIE_FN_BITS), "function ids must fit the cookie's low bits");
