/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_core_hooks.c - core behaviour that the public API cannot
 * show, seen through src/core/core_test.h: timers are removed, not
 * leaked, and stacks get guard pages up to the configured cap only.
 */
#include <stdatomic.h>

#include "core/core_test.h"
#include "wtest_rt.h"


static atomic_int started;

static void *sleeper(void *arg)
{
    atomic_fetch_add(&started, 1);
    return U2P((uintptr_t)-wf_sleep((int64_t)P2U(arg)));
}

static void *timed_parker(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    int rc;
    while ((rc = wf_park(wf_deadline_in(3600 * WF_SEC))) == 0 &&
           !wf_cancelled())
        ;
    return U2P((uintptr_t)-rc);
}

static void wait_started(int n)
{
    while (atomic_load(&started) < n)
        wf_sleep(WF_MSEC);
    wf_sleep(20 * WF_MSEC); /* the last ones have armed their timers */
}

static void *timers_main(void *arg)
{
    enum { N = 1000 };
    static struct wf_fiber f[N];
    (void)arg;
    long base = wf__test_pending_timers();
    WT_CHECK(base >= 0);

    /* Sleepers cancelled: their timers go with them. */
    atomic_store(&started, 0);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(&f[i], sleeper, U2P(3600 * WF_SEC)), 0);
    wait_started(N);
    WT_CHECK_EQ(wf__test_pending_timers(), base + N);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_cancel(f[i]), 0);
    for (int i = 0; i < N; i++) {
        void *r;
        WT_CHECK_EQ(wf_join(f[i], &r, WF_FOREVER), 0);
        WT_CHECK_EQ(P2U(r), ECANCELED);
    }
    WT_CHECK_EQ(wf__test_pending_timers(), base);

    /* Parks with a deadline ended by cancellation: the same. */
    atomic_store(&started, 0);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(&f[i], timed_parker, NULL), 0);
    wait_started(N);
    WT_CHECK_EQ(wf__test_pending_timers(), base + N);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_cancel(f[i]), 0);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf__test_pending_timers(), base);

    /* Sleepers that run to their deadline leave nothing either. */
    atomic_store(&started, 0);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(&f[i], sleeper, U2P(i % 7 * WF_MSEC)), 0);
    for (int i = 0; i < N; i++) {
        void *r;
        WT_CHECK_EQ(wf_join(f[i], &r, WF_FOREVER), 0);
        WT_CHECK_EQ(P2U(r), 0);
    }
    WT_CHECK_EQ(wf__test_pending_timers(), base);
    return NULL;
}

WT_CASE(timers_removed_not_leaked)
{
    struct wf_config c = { .workers = 2, .stall_ns = -1 };
    WT_CHECK_EQ(wf_run(&c, timers_main, NULL, NULL), 0);
    WT_CHECK_EQ(wf__test_pending_timers(), WF_ESHUTDOWN);
}

static void *park_until_cancelled(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    while (wf_park(WF_FOREVER) == 0)
        ;
    return NULL;
}

static void *guard_main(void *arg)
{
    enum { N = 300 };
    static struct wf_fiber f[N];
    long cap = (long)P2U(arg);
    atomic_store(&started, 0);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(&f[i], park_until_cancelled, NULL), 0);
    wait_started(N);
    /* main's stack and N others exist: exactly `cap` have guards. */
    WT_CHECK_EQ(wf__test_guarded_stacks(), cap);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_cancel(f[i]), 0);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
    return NULL;
}

WT_CASE(guard_pages_up_to_the_cap)
{
    struct wf_config c = { .workers = 2, .guarded_stacks = 10, .stall_ns = -1 };
    WT_CHECK_EQ(wf_run(&c, guard_main, U2P(10), NULL), 0);
    struct wf_config none = { .workers = 2, .guarded_stacks = -1, .stall_ns = -1 };
    WT_CHECK_EQ(wf_run(&none, guard_main, U2P(0), NULL), 0);
}

WT_MAIN()
