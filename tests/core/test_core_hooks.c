/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_core_hooks.c - core behaviour that the public API cannot
 * show, seen through src/core/core_test.h: timers are removed, not
 * leaked, and stacks get guard pages up to the configured cap only; and
 * the timer heap itself (src/core/timer.h, no runtime needed): order,
 * removal from anywhere, growth past the huge-page size.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_test.h"
#include "core/timer.h"
#include "wtest_rt.h"

static void *sleeper(void *arg)
{
    return U2P((uintptr_t)-wf_sleep((int64_t)P2U(arg)));
}

static void *timed_parker(void *arg)
{
    (void)arg;
    int rc;
    while ((rc = wf_park(wf_deadline_in(3600 * WF_SEC))) == 0 &&
           !wf_cancelled())
        ;
    return U2P((uintptr_t)-rc);
}

/* Waits until n fibers besides the caller are parked: a fiber is listed
 * as parked only once its deadline is in its worker's heap (src/core/
 * sched.c, park), so then every timer is counted. (A 20 ms nap after the
 * last one started was not a handshake: a worker descheduled between a
 * fiber's start and its park left that timer out of the count.) */
static void wait_parked(int n)
{
    static struct wf_fiber_info in[1100];
    int64_t give_up = wf_deadline_in(30 * WF_SEC);
    for (;;) {
        int k = wf_fibers_list(in, sizeof in / sizeof in[0], NULL), parked = 0;
        WT_CHECK(k >= 0);
        for (int i = 0; i < k; i++)
            parked += in[i].state == WF_FIBER_PARKED;
        if (parked >= n)
            return;
        if (wf_now() > give_up)
            WT_FAIL("%d of %d fibers parked after 30 s", parked, n);
        wf_sleep(WF_MSEC);
    }
}

static void *timers_main(void *arg)
{
    enum { N = 1000 };
    static struct wf_fiber f[N];
    (void)arg;
    long base = wf__test_pending_timers();
    WT_CHECK(base >= 0);

    /* Sleepers cancelled: their timers go with them. */
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(&f[i], sleeper, U2P(3600 * WF_SEC)), 0);
    wait_parked(N);
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
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(&f[i], timed_parker, NULL), 0);
    wait_parked(N);
    WT_CHECK_EQ(wf__test_pending_timers(), base + N);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_cancel(f[i]), 0);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf__test_pending_timers(), base);

    /* Sleepers that run to their deadline leave nothing either. */
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
    while (wf_park(WF_FOREVER) == 0)
        ;
    return NULL;
}

static void *guard_main(void *arg)
{
    enum { N = 300 };
    static struct wf_fiber f[N];
    long cap = (long)P2U(arg);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(&f[i], park_until_cancelled, NULL), 0);
    wait_parked(N);
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

/* ---- the timer heap --------------------------------------------------- */

struct hx {
    struct wf__timer t; /* first: the fire hook casts back */
    int fired;
    bool cancelled;
};

static struct {
    int64_t now;  /* of the wf__timers_run pass under way */
    int64_t last; /* deadline of the previous fire */
    long fired, bad;
} hs;

static void hx_fire(struct wf__timer *t)
{
    struct hx *x = (struct hx *)t;
    if (t->deadline > hs.now || t->deadline < hs.last || x->cancelled ||
        x->fired)
        hs.bad++;
    hs.last = t->deadline;
    x->fired++;
    hs.fired++;
}

static uint64_t hx_rand(uint64_t *r)
{
    *r ^= *r >> 12;
    *r ^= *r << 25;
    *r ^= *r >> 27;
    return *r * 0x2545F4914F6CDD1Dull;
}

/* Arm n timers due in [base, base + span), remove a third from scattered
 * places, then fire them with `now` stepping through the span (the heap
 * takes `now` as given, so no time passes): they fire in deadline order,
 * none early, each armed one exactly once, and `earliest` never passes
 * the earliest armed deadline nor stays at or before `now` once a pass
 * has fired everything due. */
static void heap_scenario(int n, int64_t base, int64_t span, int64_t step)
{
    struct hx *x = calloc((size_t)n, sizeof *x);
    WT_CHECK(x != NULL);
    struct wf__timers ts;
    wf__timers_init(&ts);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < n; i++) {
        x[i].t.fire = hx_fire;
        atomic_init(&x[i].t.heap, NULL);
        int64_t d = base + (int64_t)(hx_rand(&rng) % (uint64_t)span);
        WT_CHECK_EQ(wf__timer_add(&ts, &x[i].t, d), 0);
    }
    /* Layout: each node's children start a cache line. */
    WT_CHECK_EQ((uintptr_t)&ts.h[1] % 64, 0);
    WT_CHECK_EQ(wf__timers_count(&ts), (uint32_t)n);
    long removed = 0;
    for (long k = 0; k < n / 3; k++) {
        struct hx *v = &x[k * 104729 % n];
        if (v->cancelled)
            continue;
        wf__timer_cancel(&v->t);
        WT_CHECK(atomic_load(&v->t.heap) == NULL);
        v->cancelled = true;
        removed++;
    }
    WT_CHECK_EQ(wf__timers_count(&ts), (uint32_t)(n - removed));
    memset(&hs, 0, sizeof hs);
    hs.last = INT64_MIN;
    int pass = 0;
    for (hs.now = base - step; hs.now < base + span + step; hs.now += step) {
        if (pass++ % 64 == 0) {
            int64_t min = INT64_MAX;
            for (int i = 0; i < n; i++)
                if (!x[i].cancelled && !x[i].fired && x[i].t.deadline < min)
                    min = x[i].t.deadline;
            WT_CHECK(wf__timers_earliest(&ts) <= min);
        }
        while (wf__timers_run(&ts, hs.now, 1000) == 1000)
            ;
        WT_CHECK(wf__timers_earliest(&ts) > hs.now);
    }
    WT_CHECK_EQ(hs.bad, 0);
    WT_CHECK_EQ(hs.fired, n - removed);
    WT_CHECK_EQ(wf__timers_count(&ts), 0);
    for (int i = 0; i < n; i++)
        WT_CHECK_EQ(x[i].fired, x[i].cancelled ? 0 : 1);
    wf__timers_destroy(&ts);
    free(x);
}

WT_CASE(timer_heap_order_and_removal)
{
    /* All due before the wheel's window: the array alone, more than 4
     * MiB of it (16 bytes an entry, the huge-page path of grow()), with
     * few distinct deadlines, so many are equal. */
    heap_scenario(300000, 0, 5000, 7);
    /* Due from now to 3 s on (beyond the wheel's window of about 2 s):
     * most pass through the wheel's buckets, the rest through the array. */
    heap_scenario(100000, wf_now(), 3 * WF_SEC, 300 * WF_USEC);
}

WT_MAIN()
