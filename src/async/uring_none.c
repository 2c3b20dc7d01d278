/* SPDX-License-Identifier: MIT */
/*
 * Builds without liburing: no io_uring backend (see backend.h).
 */
#include <stddef.h>

#include "backend.h"

const struct wf__backend *wf__backend_uring(void)
{
    return NULL;
}
