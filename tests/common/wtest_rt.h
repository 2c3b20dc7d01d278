/* SPDX-License-Identifier: MIT */
/*
 * tests/common/wtest_rt.h - what tests of the runtime share on top of
 * wtest.h: integer/pointer casts for fiber arguments, sanitizer-scaled
 * counts, and a wf_run() and a wf_shutdown() that must succeed and leave
 * no fiber behind.
 */
#ifndef WEFT_TESTS_WTEST_RT_H
#define WEFT_TESTS_WTEST_RT_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include <weft.h>

#include "wtest.h"

#define U2P(x) ((void *)(uintptr_t)(x))
#define P2U(p) ((uintptr_t)(p))

/* Counts scaled down under sanitizers (the checks stay): by 10; and by
 * WEFT_TEST_SCALE (wtest.h). Never below 1 for a positive n. */
static inline long scaled(long n)
{
    long r = (wt_sanitized() ? n / 10 : n) / wt_scale_divisor();
    return n > 0 && r < 1 ? 1 : r;
}

/* A config with every field at its default but the worker count. */
static inline struct wf_config config(int workers)
{
    struct wf_config c;
    memset(&c, 0, sizeof c);
    c.workers = workers;
    return c;
}

/* wf_run() that must succeed, whatever it discards; returns main's
 * result. For cases that leave fibers behind on purpose. */
static inline void *run_main_leaving(int workers, wf_fiber_fn *fn, void *arg)
{
    struct wf_config c = config(workers);
    void *res = U2P(0xdead);
    int rc = wf_run(&c, fn, arg, &res);
    if (rc != 0)
        WT_FAIL("wf_run: %s (%d)", wf_strerror(rc), rc);
    return res;
}

/* Fails if the last stop of the runtime discarded a fiber. */
#define WT_CHECK_NONE_DISCARDED()                                          \
    do {                                                                   \
        size_t wt_n_ = wf_shutdown_discarded();                            \
        if (wt_n_ != 0)                                                    \
            WT_FAIL("the runtime's stop discarded %zu fiber(s)", wt_n_);   \
    } while (0)

/* Waits until at most `keep` fibers are alive: fibers that have done
 * their work (completed a future, sent their result) may still be on
 * their way out, and a stop would count them as discarded. Gives up after
 * 10 s, leaving the check that follows to report the fibers left. */
static inline void wt_settle_fibers(size_t keep)
{
    for (int i = 0; i < 10000 && wf_fibers_alive() > keep; i++) {
        if (wf_sleep(WF_MSEC) == WF_EPERM) { /* a plain thread */
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

struct wt_main {
    wf_fiber_fn *fn;
    void *arg;
};

static inline void *wt_main_settled(void *arg)
{
    struct wt_main *m = arg;
    void *res = m->fn(m->arg);
    wt_settle_fibers(1); /* this one */
    return res;
}

/* wf_run() that must succeed and leave no fiber behind (every fiber main
 * started has returned, or returns soon after main); returns main's
 * result. */
static inline void *run_main(int workers, wf_fiber_fn *fn, void *arg)
{
    struct wt_main m = {fn, arg};
    void *res = run_main_leaving(workers, wt_main_settled, &m);
    WT_CHECK_NONE_DISCARDED();
    return res;
}

/* wf_shutdown() that must succeed and leave no fiber behind. */
#define shutdown_clean()                                                   \
    do {                                                                   \
        wt_settle_fibers(0);                                               \
        WT_CHECK_EQ(wf_shutdown(), 0);                                     \
        WT_CHECK_NONE_DISCARDED();                                         \
    } while (0)

#endif
