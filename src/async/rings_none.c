/* SPDX-License-Identifier: MIT */
/*
 * Builds without liburing: no per-worker rings (rings.h); every socket
 * call takes the readiness path, and WEFT_IO_RINGS=1 says so once.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "core/config.h"
#include "rings.h"
#include "weft/io.h"

static void tell_once(void)
{
    static atomic_bool told;
    /* relaxed: one line per process. */
    if (wf__config_io_rings() &&
        !atomic_exchange_explicit(&told, true, memory_order_relaxed))
        fprintf(stderr, "weft: WEFT_IO_RINGS=1: io_uring rings cannot be "
                        "used (built without liburing); sockets use "
                        "readiness\n");
}

bool wf__ring_io(int fd, enum wf__ring_kind kind, void *buf, size_t n,
                 int flags, int64_t deadline, int what, ssize_t *out)
{
    (void)fd, (void)kind, (void)buf, (void)n, (void)flags, (void)deadline;
    (void)what, (void)out;
    tell_once();
    return false;
}

bool wf__rings_in_use(void)
{
    tell_once();
    return false;
}

bool wf_io_rings(void)
{
    return wf__rings_in_use();
}

int wf__ring_event(uint32_t index)
{
    (void)index;
    return -1;
}

void wf__ring_cancel(struct wf__clause *cl, int why)
{
    (void)cl, (void)why; /* nothing is ever linked */
}
