/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_shutdown.c - part of test_core (see test_core.c):
 * shutdown with blocked fibers and blocked plain threads, and the count of
 * discarded fibers (wf_shutdown_discarded).
 */
#include "core_cases.h"

/* ---- shutdown with blocked fibers ------------------------------------- */

static atomic_int blk_started, blk_resumed;
static struct wf_fiber *blk_handles;

static void *blocked_fn(void *arg)
{
    uintptr_t i = P2U(arg);
    atomic_fetch_add(&blk_started, 1);
    switch (i % 3) {
    case 0:
        while (wf_park(WF_FOREVER) == 0) {
        }
        break;
    case 1:
        wf_sleep(3600 * WF_SEC);
        break;
    default:
        /* a chain of joiners: each joins the previous joiner, the first
         * one a sleeper */
        wf_join(blk_handles[i >= 5 ? i - 3 : i - 1], NULL, WF_FOREVER);
        break;
    }
    atomic_fetch_add(&blk_resumed, 1); /* must never happen */
    return NULL;
}

static void *blocked_main(void *arg)
{
    int n = (int)P2U(arg);
    for (int i = 0; i < n; i++)
        blk_handles[i] = go(blocked_fn, U2P(i));
    fiber_wait(&blk_started, n);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0);
    return U2P(0x1234);
}

WT_CASE(shutdown_with_blocked_fibers)
{
    enum { N = 1000 };
    blk_handles = calloc(N, sizeof *blk_handles);
    WT_CHECK_EQ(P2U(run_main_leaving(4, blocked_main, U2P(N))), 0x1234);
    WT_CHECK_EQ(atomic_load(&blk_resumed), 0); /* discarded, not resumed */
    WT_CHECK_EQ(wf_shutdown_discarded(), N);
    /* a second runtime works */
    WT_CHECK_EQ(P2U(run_main_leaving(2, restart_main, U2P(2))), 100 * 100);
    WT_CHECK_EQ(wf_shutdown_discarded(), 1);
    /* the same through wf_init / wf_shutdown */
    atomic_store(&blk_started, 0);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    for (int i = 0; i < N; i++)
        blk_handles[i] = go(blocked_fn, U2P(i));
    thread_wait(&blk_started, N);
    nap_ms(20);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(atomic_load(&blk_resumed), 0);
    WT_CHECK_EQ(wf_shutdown_discarded(), N);
    WT_CHECK_EQ(P2U(run_main_leaving(2, restart_main, U2P(2))), 100 * 100);
    WT_CHECK_EQ(wf_shutdown_discarded(), 1);
    free(blk_handles);
}

/* wf_shutdown makes a plain thread blocked in wf_join return WF_ESHUTDOWN. */
static struct wf_fiber sd_target;
static atomic_int sd_entered;
static atomic_int sd_rc = 1;

static void *sd_joiner(void *arg)
{
    atomic_store(&sd_entered, 1);
    atomic_store(&sd_rc, wf_join(sd_target, NULL, WF_FOREVER));
    return NULL;
}

WT_CASE(shutdown_wakes_blocked_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    sd_target = go(park_forever, NULL);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, sd_joiner, NULL), 0);
    thread_wait(&sd_entered, 1);
    nap_ms(50);
    WT_CHECK_EQ(atomic_load(&sd_rc), 1); /* still blocked */
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_shutdown_discarded(), 1); /* sd_target */
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    WT_CHECK_EQ(atomic_load(&sd_rc), WF_ESHUTDOWN);
    WT_CHECK_EQ(P2U(run_main_leaving(2, restart_main, U2P(2))), 100 * 100);
}

/* ---- the count of discarded fibers ---------------------------------------- */

/* Blocks forever: on the channel arg if there is one, else in a sleep. */
static atomic_int dc_started;
static void *dc_blocked(void *arg)
{
    atomic_fetch_add(&dc_started, 1);
    if (arg) {
        int v;
        wf_chan_recv(arg, &v, WF_FOREVER);
    } else {
        wf_sleep(3600 * WF_SEC);
    }
    return NULL;
}

WT_CASE(shutdown_discarded_counts_blocked)
{
    enum { N = 40 };
    struct wf_chan *ch;
    WT_CHECK_EQ(wf_shutdown_discarded(), 0); /* no stop yet */
    WT_CHECK_EQ(wf_chan_create(&ch, sizeof(int), 0), 0);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    for (int i = 0; i < N; i++) {
        struct wf_fiber f = go(dc_blocked, i % 2 ? (void *)ch : NULL);
        if (i % 4 == 0)
            WT_CHECK_EQ(wf_detach(f), 0); /* detached ones count too */
    }
    thread_wait(&dc_started, N);
    nap_ms(20);
    /* From a plain thread: the blocked ones, nobody else. */
    WT_CHECK_EQ(wf_fibers_alive(), N);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_fibers_alive(), 0); /* no runtime */
    WT_CHECK_EQ(wf_shutdown_discarded(), N);
    WT_CHECK_EQ(wf_shutdown_discarded(), N); /* stays until the next stop */
    /* The next stop counts afresh: a clean one reports 0. */
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(P2U(join(go(ret_arg, U2P(7)))), 7);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_shutdown_discarded(), 0);
    wf_chan_release(ch);
}

/* Returns at once; its result is never claimed. */
static atomic_int dc_returned;
static void *dc_quick(void *arg)
{
    atomic_fetch_add(&dc_returned, 1);
    return arg;
}

WT_CASE(shutdown_discarded_zero_when_clean)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    /* Joined, detached and returned, returned but never joined: none was
     * cut short, so none counts. */
    WT_CHECK_EQ(P2U(join(go(ret_arg, U2P(3)))), 3);
    WT_CHECK_EQ(wf_detach(go(dc_quick, NULL)), 0);
    go(dc_quick, NULL);
    thread_wait(&dc_returned, 2);
    /* Returned, joined or not: none alive once they are out. */
    for (int i = 0; i < 10000 && wf_fibers_alive() > 0; i++)
        nap_ms(1);
    WT_CHECK_EQ(wf_fibers_alive(), 0);
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, ret_arg, NULL), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_scope_close(s), 0); /* none had to be cancelled */
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_shutdown_discarded(), 0);
    /* The same through wf_run, whose main leaves nothing. */
    WT_CHECK_EQ(P2U(run_main_leaving(2, ret_arg, U2P(5))), 5);
    WT_CHECK_EQ(wf_shutdown_discarded(), 0);
}
