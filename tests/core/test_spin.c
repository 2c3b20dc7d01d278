/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_spin.c - every spin is bounded and adaptive (common/
 * futex.h's wf__backoff): a waiter for a lock whose holder does not let go
 * gives up spinning and yields; it gives up sooner while the machine is
 * oversubscribed; idle workers then stop spinning; and the monitor notices
 * an oversubscribed machine by itself.
 *
 * The checks are on counters of give-ups, never on durations: a spin that
 * did not give up would hang the case until ctest's timeout fails it.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/futex.h"
#include "core/core_test.h"
#include "wtest_rt.h"

/* ---- the backoff's budget ------------------------------------------------ */

static unsigned spins_before_giving_up(void)
{
    struct wf__backoff b = WF__BACKOFF_INIT;
    unsigned n = 0;
    while (wf__backoff_spin(&b))
        n++;
    return n;
}

WT_CASE(backoff_spins_less_when_oversubscribed)
{
    unsigned long y0 = atomic_load(&wf__spin_yields);
    wf__test_force_oversubscribed(0);
    unsigned quiet = spins_before_giving_up();
    wf__test_force_oversubscribed(1);
    unsigned loaded = spins_before_giving_up();
    wf__test_force_oversubscribed(-1);
    WT_CHECK_EQ(quiet, WF__SPIN_PAUSES);
    WT_CHECK_EQ(loaded, WF__SPIN_PAUSES_LOADED);
    WT_CHECK(loaded < quiet);
    /* Each wait counted its give-up once. */
    WT_CHECK_EQ(atomic_load(&wf__spin_yields) - y0, 2);
}

/* ---- a spinlock whose holder does not let go ----------------------------- */

static struct wf__spin lock;
static atomic_int waiter_has_lock;

static void *lock_waiter(void *arg)
{
    (void)arg;
    wf__spin_lock(&lock);
    atomic_store(&waiter_has_lock, 1);
    wf__spin_unlock(&lock);
    return NULL;
}

/* The holder (this thread) keeps the lock until the waiter has given up
 * spinning: an unbounded spin would never get there. */
static void holder_waits_for_give_up(void)
{
    unsigned long y0 = atomic_load(&wf__spin_yields);
    wf__spin_lock(&lock);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, lock_waiter, NULL), 0);
    while (atomic_load(&wf__spin_yields) == y0)
        sched_yield();
    WT_CHECK_EQ(atomic_load(&waiter_has_lock), 0);
    wf__spin_unlock(&lock);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    WT_CHECK_EQ(atomic_load(&waiter_has_lock), 1);
}

WT_CASE(spinlock_waiter_yields_to_a_stuck_holder)
{
    wf__test_force_oversubscribed(0);
    holder_waits_for_give_up();
}

WT_CASE(spinlock_waiter_yields_to_a_stuck_holder_loaded)
{
    wf__test_force_oversubscribed(1);
    holder_waits_for_give_up();
    wf__test_force_oversubscribed(-1);
}

/* ---- idle workers -------------------------------------------------------- */

/* Fibers that wake each other across two workers: each wake leaves one
 * worker idle, searching, then parking. */
static void *pong(void *arg)
{
    struct wf_chan *c = arg;
    long v;
    while (wf_chan_recv(c, &v, WF_FOREVER) == 0 && v >= 0)
        ;
    return NULL;
}

static void *idle_main(void *arg)
{
    (void)arg;
    struct wf_chan *c;
    WT_CHECK_EQ(wf_chan_create(&c, sizeof(long), 0), 0);
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.worker = 1;
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go_opts(&f, &o, pong, c), 0);
    for (long i = 0; i < 2000; i++) {
        WT_CHECK_EQ(wf_chan_send(c, &i, WF_FOREVER), 0);
        if (i % 16 == 0)
            wf_sleep(10 * WF_USEC); /* let the other worker go idle */
    }
    long stop = -1;
    WT_CHECK_EQ(wf_chan_send(c, &stop, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_join(f, NULL, WF_FOREVER), 0);
    wf_chan_release(c);
    return NULL;
}

WT_CASE(idle_workers_stop_spinning_when_oversubscribed)
{
    struct wf_config c = config(2);
    wf__test_force_oversubscribed(0);
    unsigned long cut0 = wf__test_idle_spins_cut();
    WT_CHECK_EQ(wf_run(&c, idle_main, NULL, NULL), 0);
    WT_CHECK_EQ(wf__test_idle_spins_cut(), cut0); /* quiet: full spins */

    wf__test_force_oversubscribed(1);
    WT_CHECK_EQ(wf_run(&c, idle_main, NULL, NULL), 0);
    wf__test_force_oversubscribed(-1);
    WT_CHECK(wf__test_idle_spins_cut() > cut0);
}

/* ---- the monitor's samples ----------------------------------------------- */

static atomic_int hogs_stop;

static void *hog(void *arg)
{
    (void)arg;
    volatile unsigned long n = 0;
    while (!atomic_load_explicit(&hogs_stop, memory_order_relaxed))
        n++;
    return NULL;
}

/* Keeps a worker awake (so the monitor samples) until the flag is set. */
static void *watch_main(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&wf__oversubscribed, memory_order_relaxed))
        wf_sleep(WF_MSEC);
    return NULL;
}

WT_CASE(monitor_sees_an_oversubscribed_machine)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    WT_CHECK(ncpu > 0);
    int nhogs = (int)ncpu * 3 + 2; /* runnable threads: well over the CPUs */
    pthread_t t[3 * 64 + 2];
    if (nhogs > (int)(sizeof t / sizeof t[0]))
        WT_SKIP("too many CPUs for this case");
    for (int i = 0; i < nhogs; i++)
        WT_CHECK_EQ(pthread_create(&t[i], NULL, hog, NULL), 0);
    struct wf_config c = config(1);
    /* Returns once the monitor has set the flag (else ctest's timeout). */
    WT_CHECK_EQ(wf_run(&c, watch_main, NULL, NULL), 0);
    atomic_store(&hogs_stop, 1);
    for (int i = 0; i < nhogs; i++)
        WT_CHECK_EQ(pthread_join(t[i], NULL), 0);
    /* wf_shutdown hands the flag back clear. */
    WT_CHECK(!atomic_load(&wf__oversubscribed));
}

WT_MAIN()
