/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_timer.c - part of test_core (see test_core.c): sleep timers: cancelled sleepers leave no timer behind.
 */
#include "core_cases.h"

/* ---- timers ------------------------------------------------------------- */

static atomic_int tm_ready;

static void *timer_victim(void *arg)
{
    uintptr_t i = P2U(arg);
    int rc;
    atomic_fetch_add(&tm_ready, 1);
    switch (i % 4) {
    case 0:
        rc = wf_sleep_until(WF_FOREVER);
        break;
    case 1:
        rc = wf_sleep(3600 * WF_SEC);
        break;
    case 2:
        while ((rc = wf_park(wf_deadline_in(3600 * WF_SEC))) == 0) {
        }
        break;
    default:
        /* distinct deadlines, an hour away */
        rc = wf_sleep_until(wf_deadline_in(3600 * WF_SEC + (int64_t)i));
        break;
    }
    return U2P((intptr_t)rc);
}

static void *timers_main(void *arg)
{
    int n = (int)P2U(arg);
    struct wf_fiber *h = malloc((size_t)n * sizeof *h);
    WT_CHECK(h != NULL);
    for (int i = 0; i < n; i++)
        h[i] = go(timer_victim, U2P(i));
    fiber_wait(&tm_ready, n);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0);
    for (int i = 0; i < n; i++)
        WT_CHECK_EQ(wf_cancel(h[i]), 0);
    for (int i = 0; i < n; i++) {
        intptr_t rc = (intptr_t)join(h[i]);
        if (rc != WF_ECANCELED)
            WT_FAIL("timer victim %d returned %d", i, (int)rc);
    }
    free(h);
    /* the timer structures are consistent afterwards */
    struct wf_fiber s[200];
    for (int i = 0; i < 200; i++)
        s[i] = go(timed_sleeper, U2P(1 + i % 20));
    for (int i = 0; i < 200; i++)
        WT_CHECK_EQ(P2U(join(s[i])), 0x51);
    return U2P(n);
}

WT_CASE(timers_cancelled_not_leaked)
{
    int n = (int)scaled(10000);
    WT_CHECK_EQ(P2U(run_main(2, timers_main, U2P(n))), n);
    /* the runtime shut down cleanly and comes back */
    atomic_store(&tm_ready, 0);
    WT_CHECK_EQ(P2U(run_main(4, timers_main, U2P(100))), 100);
}

/* Cancel-then-join of sleepers at random moments: before they run, while
 * they sleep, after their short sleep ended. */
static void *short_or_long_sleeper(void *arg)
{
    int64_t ns = (int64_t)P2U(arg);
    int64_t dl = wf_deadline_in(ns);
    int rc = wf_sleep_until(dl);
    if (rc == 0)
        WT_CHECK(wf_now() >= dl);
    else
        WT_CHECK_EQ(rc, WF_ECANCELED);
    return U2P((intptr_t)rc);
}

static void *cancel_join_main(void *arg)
{
    uint64_t rng = wt_seed();
    int n = (int)P2U(arg);
    int cancelled = 0, finished = 0;
    for (int i = 0; i < n; i++) {
        int64_t ns = (wt_rand(&rng) % 2) ? 3600 * WF_SEC
                                         : (int64_t)(wt_rand(&rng) % 200000);
        struct wf_fiber f = go(short_or_long_sleeper, U2P(ns));
        switch (wt_rand(&rng) % 3) {
        case 0:
            break;
        case 1:
            WT_CHECK_EQ(wf_yield(), 0);
            break;
        default:
            WT_CHECK_EQ(wf_sleep((int64_t)(wt_rand(&rng) % 100000)), 0);
            break;
        }
        WT_CHECK_EQ(wf_cancel(f), 0);
        intptr_t rc = (intptr_t)join(f);
        if (ns == 3600 * WF_SEC)
            WT_CHECK_EQ(rc, WF_ECANCELED);
        cancelled += rc == WF_ECANCELED;
        finished += rc == 0;
    }
    WT_CHECK_EQ(cancelled + finished, n);
    return NULL;
}

WT_CASE(sleeper_cancel_then_join)
{
    run_main(2, cancel_join_main, U2P(scaled(3000)));
}
