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

#include <weft.h>

#include "wtest.h"

#define U2P(x) ((void *)(uintptr_t)(x))
#define P2U(p) ((uintptr_t)(p))

/* Counts scaled down under sanitizers (the checks stay): by 10. */
static inline long scaled(long n)
{
    return wt_sanitized() ? n / 10 : n;
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

/* wf_run() that must succeed and leave no fiber behind (every fiber main
 * started has returned when main returns); returns main's result. */
static inline void *run_main(int workers, wf_fiber_fn *fn, void *arg)
{
    void *res = run_main_leaving(workers, fn, arg);
    WT_CHECK_NONE_DISCARDED();
    return res;
}

/* wf_shutdown() that must succeed and leave no fiber behind. */
#define shutdown_clean()                                                   \
    do {                                                                   \
        WT_CHECK_EQ(wf_shutdown(), 0);                                     \
        WT_CHECK_NONE_DISCARDED();                                         \
    } while (0)

#endif
