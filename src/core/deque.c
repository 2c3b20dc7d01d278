/* SPDX-License-Identifier: MIT */
/*
 * Bounded Chase-Lev deque (see deque.h).
 *
 * Invariants: elements live in buf[top .. bottom-1] (indices mod capacity);
 * only the owner moves bottom, top only grows (by CAS). A slot is written
 * only by the owner's push, when bottom - top < capacity, so a thief that
 * read buf[t] before its CAS on top read a value no push can overwrite
 * until top moves past t.
 *
 * Rejected: a growable array (the original paper's) - it needs the old
 * arrays kept alive for late thieves; the scheduler instead spills half a
 * full deque to the global queue, which also rebalances load.
 *
 * Model: tests/model/deque.pml (spin; owner push/pop/take against two
 * thieves, 4 items in 2 slots: nothing taken twice or lost). It checks
 * the algorithm under sequential consistency; the C11 orders are those
 * of the paper above, which proves them. Left out: the retry policy
 * after WF__DEQUE_ABORT, spill.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/fault.h"
#include "common/atomic.h"
#include "deque.h"

int wf__deque_init(struct wf__deque *d, long capacity)
{
    d->buf = wf__calloc((size_t)capacity, sizeof *d->buf);
    if (!d->buf)
        return -ENOMEM;
    d->mask = capacity - 1;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    return 0;
}

void wf__deque_destroy(struct wf__deque *d)
{
    free(d->buf);
    d->buf = NULL;
}

bool wf__deque_push(struct wf__deque *d, void *x)
{
    long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* acquire: pairs with the thieves' CAS on top, so the slot they freed
     * is no longer being read when we overwrite it. */
    long t = atomic_load_explicit(&d->top, memory_order_acquire);
    if (b - t > d->mask)
        return false;
    atomic_store_explicit(&d->buf[b & d->mask], x, memory_order_relaxed);
    /* release: publishes the slot (and the element's contents) with the
     * new bottom; pairs with the acquire load of bottom in steal. A release
     * store rather than the paper's fence + relaxed store: the same code on
     * x86 and AArch64, and TSan models it (it ignores fences). */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return true;
}

void *wf__deque_pop(struct wf__deque *d)
{
    long b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    /* Full fence: the new bottom must be visible before we read top,
     * against a thief that read the old bottom (Dekker with steal's). */
    wf__fence();
    long t = atomic_load_explicit(&d->top, memory_order_relaxed);
    void *x = NULL;
    if (t <= b) {
        x = atomic_load_explicit(&d->buf[b & d->mask], memory_order_relaxed);
        if (t == b) {
            /* Last element: race the thieves for it. */
            if (!atomic_compare_exchange_strong_explicit(
                    &d->top, &t, t + 1, memory_order_seq_cst,
                    memory_order_relaxed))
                x = NULL;
            atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        }
    } else {
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return x;
}

void *wf__deque_steal(struct wf__deque *d)
{
    /* acquire: pairs with the CAS of other thieves. */
    long t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* Full fence: orders our read of top before bottom (Dekker with pop). */
    wf__fence();
    /* acquire: pairs with the release fence in push. */
    long b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b)
        return NULL;
    void *x = atomic_load_explicit(&d->buf[t & d->mask], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                 memory_order_seq_cst,
                                                 memory_order_relaxed))
        return WF__DEQUE_ABORT;
    return x;
}

void *wf__deque_take(struct wf__deque *d)
{
    for (;;) {
        /* acquire: pairs with the thieves' CAS on top. */
        long t = atomic_load_explicit(&d->top, memory_order_acquire);
        /* relaxed: bottom is ours; no pop runs concurrently with this. */
        long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
        if (t >= b)
            return NULL;
        void *x = atomic_load_explicit(&d->buf[t & d->mask],
                                       memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                    memory_order_seq_cst,
                                                    memory_order_relaxed))
            return x;
    }
}

long wf__deque_size(struct wf__deque *d)
{
    long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    long t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b > t ? b - t : 0;
}
