/* SPDX-License-Identifier: MIT */
/*
 * tests/common/wtest_fiber.h - helpers that tests of the blocking layers
 * (sync, chan, timers) share: start a runtime the main thread can join,
 * spawn and join fibers and plain threads that must succeed, and nap a
 * plain thread.
 */
#ifndef WEFT_TESTS_WTEST_FIBER_H
#define WEFT_TESTS_WTEST_FIBER_H

#include <pthread.h>
#include <time.h>

#include "wtest_rt.h"

/* wf_init() that must succeed: the calling thread stays a plain thread. */
static inline void init_rt(int workers)
{
    struct wf_config c = config(workers);
    int rc = wf_init(&c);
    if (rc != 0)
        WT_FAIL("wf_init: %s (%d)", wf_strerror(rc), rc);
}

/* Sleep the calling OS thread (not a fiber park). */
static inline void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static inline struct wf_fiber go(wf_fiber_fn *fn, void *arg)
{
    struct wf_fiber f = {0};
    int rc = wf_go(&f, fn, arg);
    if (rc != 0)
        WT_FAIL("wf_go: %s (%d)", wf_strerror(rc), rc);
    return f;
}

static inline void *join(struct wf_fiber f)
{
    void *r = U2P(0xbad);
    int rc = wf_join(f, &r, WF_FOREVER);
    if (rc != 0)
        WT_FAIL("wf_join: %s (%d)", wf_strerror(rc), rc);
    return r;
}

static inline pthread_t thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0)
        WT_FAIL("pthread_create");
    return t;
}

#endif
