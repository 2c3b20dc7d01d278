/* SPDX-License-Identifier: MIT */
/*
 * tests/async/wt_rings.h - what the ring tests share (test_rings.c,
 * test_rings_mshot.c): a guard deadline, whether rings are asked for and
 * in use, fibers started and joined under the guard; the TCP pair is wt_tcp.h's.
 */
#ifndef WEFT_TESTS_WT_RINGS_H
#define WEFT_TESTS_WT_RINGS_H

#include <weft.h>
#include <weft/io.h>

#include "wt_tcp.h"
#include "wtest_rt.h"

#include <stdlib.h>
#include <string.h>

#define GUARD (20 * WF_SEC)

static bool rings_wanted(void)
{
    const char *s = getenv("WEFT_IO_RINGS");
    return s && strcmp(s, "1") == 0;
}

/* Rings must be in use when asked for (skip where the kernel refuses). */
static void check_rings(void)
{
    if (rings_wanted() && !wf_io_rings()) {
        fprintf(stderr, "SKIP: WEFT_IO_RINGS=1 but no ring here\n");
        exit(77);
    }
    if (!rings_wanted())
        WT_CHECK(!wf_io_rings());
}

static struct wf_fiber go(wf_fiber_fn *fn, void *arg)
{
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, fn, arg), 0);
    return f;
}

static void *join(struct wf_fiber f)
{
    void *r = NULL;
    WT_CHECK_EQ(wf_join(f, &r, wf_deadline_in(GUARD)), 0);
    return r;
}

#endif
