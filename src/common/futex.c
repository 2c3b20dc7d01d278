/* SPDX-License-Identifier: MIT */
/*
 * Futex and spinlock implementation (Linux).
 *
 * FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, which is
 * what every weft deadline is, so no relative conversion can drift.
 * The futexes are process-private (FUTEX_PRIVATE_FLAG).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "futex.h"

int wf__futex_wait(atomic_uint *word, unsigned expected, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;

    if (deadline != INT64_MAX) {
        if (deadline < 0)
            deadline = 0;
        ts.tv_sec = deadline / 1000000000;
        ts.tv_nsec = deadline % 1000000000;
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (unsigned *)word,
                     FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp,
                     NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == 0)
        return 0;
    if (errno == ETIMEDOUT)
        return -ETIMEDOUT;
    if (errno == EINTR)
        return -EINTR;
    return 0; /* EAGAIN: the value had already changed */
}

void wf__futex_wake(atomic_uint *word, int n)
{
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG,
            n < 0 ? INT_MAX : n, NULL, NULL, 0);
}

atomic_bool wf__oversubscribed;
atomic_ulong wf__spin_yields;

void wf__backoff_yield(struct wf__backoff *b)
{
    wf__backoff_gave_up(b);
    sched_yield(); /* whoever we wait for may have been preempted */
}

void wf__spin_lock_slow(struct wf__spin *l)
{
    struct wf__backoff b = WF__BACKOFF_INIT;
    for (;;) {
        while (atomic_load_explicit(&l->held, memory_order_relaxed))
            wf__backoff_pause(&b);
        /* acquire: pairs with the release in wf__spin_unlock. */
        if (!atomic_exchange_explicit(&l->held, true, memory_order_acquire))
            return;
    }
}
