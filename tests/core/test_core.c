/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_core.c - the core layer through its public API. The
 * program test_core is built from several files, one per subject:
 *   core_runtime.c   the runtime's life cycle, many fibers
 *   core_fiber.c     yields and migration, stack sizes, pinning, names and
 *                    ids, fiber-local storage
 *   core_block.c     cancellation at every blocking point, deadlines,
 *                    park/unpark
 *   core_misuse.c    misuse errors
 *   core_scope.c     scopes
 *   core_reports.c   stack overflow reports, stall reports, idle CPU use
 *   core_timer.c     timers
 *   core_shutdown.c  shutdown with blocked fibers
 *   core_stress.c    park/unpark, spawn/join and joiner stress
 * This file holds the helpers they share (declared in core_cases.h) and
 * WT_MAIN().
 *
 * How the cases are built. Each case starts its own runtime (wf_run() or
 * wf_init()) with the worker count it needs; 2 and 4 workers are used even
 * on a 2-core machine, 1 where the case is about one worker. When a case
 * needs another fiber to have reached some point it polls a flag (with
 * wf_sleep() in a fiber, nanosleep() in a plain thread); where it wants that
 * fiber to be *blocked* it waits a little longer after the flag, but every
 * check holds whether or not the fiber was blocked yet (cancellation is
 * sticky, a park permit is kept), so no outcome depends on timing. A hang is
 * caught by the ctest timeout; no case asserts that something was fast.
 *
 * Stress cases take WT_SEED and WT_THREADS (see wtest.h) and print the seed
 * when they fail. Under sanitizers the big counts are divided by 10 (never
 * the checks): 100,000 fibers instead of a million, 10,000 sleepers instead
 * of 100,000, and so on. The one CPU-time bound (idle CPU, measured with
 * getrusage, not wall time) holds under ASan and TSan too (their background
 * threads used well under 2 ms in a second when measured), so it is not
 * skipped there.
 */
#include "core_cases.h"

/* ---- helpers --------------------------------------------------------- */

/* Counts of fibers created: by 10 under ASan, by 100 under TSan, which
 * gives every fiber a thread context of its own and makes a spawn cost
 * about a millisecond (a million fibers would take a quarter of an hour). */
long scaled_spawns(long n)
{
    return wt_under_tsan() ? n / 100 : scaled(n);
}

void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Wait in a fiber until *flag >= v. Works in a cancelled fiber too (its
 * sleeps return at once, so it falls back to yielding). */
void fiber_wait(atomic_int *flag, int v)
{
    while (atomic_load(flag) < v)
        if (wf_sleep(WF_MSEC) != 0)
            wf_yield();
}

/* Poll in a (possibly cancelled) fiber until *flag >= v; false if that
 * has not happened after `limit` ns (a deadline, so that a missing wake
 * fails with a message instead of a ctest timeout). */
bool fiber_poll(atomic_int *flag, int v, int64_t limit)
{
    int64_t end = wf_deadline_in(limit);
    while (atomic_load(flag) < v) {
        if (wf_now() >= end)
            return false;
        if (wf_sleep(WF_MSEC) != 0)
            wf_yield();
    }
    return true;
}

/* Wait in a plain thread until *flag >= v. */
void thread_wait(atomic_int *flag, int v)
{
    while (atomic_load(flag) < v)
        nap_ms(1);
}

struct wf_fiber go(wf_fiber_fn *fn, void *arg)
{
    struct wf_fiber f = {0};
    int rc = wf_go(&f, fn, arg);
    if (rc != 0)
        WT_FAIL("wf_go: %s (%d)", wf_strerror(rc), rc);
    WT_CHECK(f.id != 0);
    return f;
}

struct wf_fiber go_named(const char *name, int worker, wf_fiber_fn *fn,
                                void *arg)
{
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    struct wf_fiber f = {0};
    o.name = name;
    o.worker = worker;
    int rc = wf_go_opts(&f, &o, fn, arg);
    if (rc != 0)
        WT_FAIL("wf_go_opts: %s (%d)", wf_strerror(rc), rc);
    WT_CHECK(f.id != 0);
    return f;
}

void *join(struct wf_fiber f)
{
    void *r = U2P(0xbad);
    int rc = wf_join(f, &r, WF_FOREVER);
    if (rc != 0)
        WT_FAIL("wf_join(%llu): %s (%d)", (unsigned long long)f.id,
                wf_strerror(rc), rc);
    return r;
}

void *ret_arg(void *arg)
{
    return arg;
}

atomic_int release_flag;
atomic_int released_done;

/* Waits for release_flag, counts itself in released_done, returns arg. */
void *wait_release(void *arg)
{
    fiber_wait(&release_flag, 1);
    atomic_fetch_add(&released_done, 1);
    return arg;
}

/* Counts its runs in counted_runs, returns arg. */
atomic_int counted_runs;
void *counted_fn(void *arg)
{
    atomic_fetch_add(&counted_runs, 1);
    return arg;
}

/* Returns 2 * arg + 1 and counts its runs. */
atomic_long value_runs;
void *value_fn(void *arg)
{
    atomic_fetch_add_explicit(&value_runs, 1, memory_order_relaxed);
    return U2P(2 * P2U(arg) + 1);
}

/* Parks until cancelled (spurious returns are allowed by wf_park and looped
 * over); returns what ended the wait, i.e. WF_ECANCELED. */
atomic_int parkers_started;
void *park_forever(void *arg)
{
    int rc;
    atomic_fetch_add(&parkers_started, 1);
    while ((rc = wf_park(WF_FOREVER)) == 0) {
    }
    return U2P((intptr_t)rc);
}

/* Runs until *(atomic_int *)arg becomes non-zero, ignoring cancellation
 * (so that its owner can observe states while it still runs). */
void *run_until_released(void *arg)
{
    fiber_wait(arg, 1);
    return U2P(0x600d);
}

/* Sleeps until a deadline arg ms ahead, checks it woke after it, returns
 * 0x51. */
void *timed_sleeper(void *arg)
{
    int64_t dl = wf_deadline_in((int64_t)P2U(arg) * WF_MSEC);
    WT_CHECK_EQ(wf_sleep_until(dl), 0);
    WT_CHECK(wf_now() >= dl);
    return U2P(0x51);
}

/* Main of a runtime of arg workers: spawns and joins 100 value_fn fibers
 * and returns the sum of their results, leaving one fiber parked (which
 * the runtime's shutdown discards). */
void *restart_main(void *arg)
{
    WT_CHECK_EQ(wf_workers(), (int)P2U(arg));
    struct wf_fiber h[100];
    uint64_t sum = 0;
    for (int i = 0; i < 100; i++)
        h[i] = go(value_fn, U2P(i));
    for (int i = 0; i < 100; i++)
        sum += P2U(join(h[i]));
    /* left parked: discarded when main returns */
    WT_CHECK_EQ(wf_detach(go(park_forever, NULL)), 0);
    return U2P(sum);
}

int64_t cpu_time_ns(void)
{
    struct rusage ru;
    WT_CHECK_EQ(getrusage(RUSAGE_SELF, &ru), 0);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * WF_SEC +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * WF_USEC;
}

WT_MAIN()
