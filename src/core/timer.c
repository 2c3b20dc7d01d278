/* SPDX-License-Identifier: MIT */
/*
 * Timer heap (see timer.h). A 4-ary heap: half the depth of a binary heap,
 * and the four children of a node share a cache line of the array.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/fault.h"
#include "timer.h"
#include "trace/trace.h"

#define ARITY 4

void wf__timers_init(struct wf__timers *ts)
{
    ts->h = NULL;
    ts->n = ts->cap = ts->reserved = 0;
    atomic_init(&ts->earliest, INT64_MAX);
    atomic_init(&ts->lock.held, false);
}

void wf__timers_destroy(struct wf__timers *ts)
{
    for (uint32_t i = 0; i < ts->n; i++) {
        struct wf__timer *t = ts->h[i].t;
        atomic_store_explicit(&t->heap, NULL, memory_order_relaxed);
        if (t->discard)
            t->discard(t);
    }
    free(ts->h);
    ts->h = NULL;
    ts->n = ts->cap = ts->reserved = 0;
}

/* Heap entries carry their deadline, so sifting compares within the
 * array (four children share a cache line) instead of following a pointer
 * to every timer it compares: with a million timers that is one cache miss
 * per level instead of five. */
static void place(struct wf__timers *ts, uint32_t i, struct wf__tentry e)
{
    ts->h[i] = e;
    e.t->idx = i;
}

static void sift_up(struct wf__timers *ts, uint32_t i)
{
    struct wf__tentry e = ts->h[i];
    while (i > 0) {
        uint32_t p = (i - 1) / ARITY;
        if (ts->h[p].deadline <= e.deadline)
            break;
        place(ts, i, ts->h[p]);
        i = p;
    }
    place(ts, i, e);
}

static void sift_down(struct wf__timers *ts, uint32_t i)
{
    struct wf__tentry e = ts->h[i];
    for (;;) {
        uint32_t c = i * ARITY + 1, best = i;
        int64_t bd = e.deadline;
        for (uint32_t k = c; k < c + ARITY && k < ts->n; k++)
            if (ts->h[k].deadline < bd) {
                best = k;
                bd = ts->h[k].deadline;
            }
        if (best == i)
            break;
        place(ts, i, ts->h[best]);
        i = best;
    }
    place(ts, i, e);
}

static void update_earliest(struct wf__timers *ts)
{
    /* relaxed: readers treat it as a hint (see timer.h). */
    atomic_store_explicit(&ts->earliest, ts->n ? ts->h[0].deadline : INT64_MAX,
                          memory_order_relaxed);
}

static void remove_at(struct wf__timers *ts, uint32_t i)
{
    struct wf__tentry last = ts->h[--ts->n];
    if (i < ts->n) {
        place(ts, i, last);
        if (i > 0 && last.deadline < ts->h[(i - 1) / ARITY].deadline)
            sift_up(ts, i);
        else
            sift_down(ts, i);
    }
}

/* Make room for one more entry beyond the reserved ones. Lock held. */
static int grow(struct wf__timers *ts)
{
    if (ts->n + ts->reserved < ts->cap)
        return 0;
    uint32_t cap = ts->cap ? ts->cap * 2 : 64;
    struct wf__tentry *h = wf__realloc(ts->h, cap * sizeof *h);
    if (!h)
        return -ENOMEM;
    ts->h = h;
    ts->cap = cap;
    return 0;
}

static void insert(struct wf__timers *ts, struct wf__timer *t, int64_t deadline)
{
    t->deadline = deadline;
    atomic_store_explicit(&t->heap, ts, memory_order_relaxed);
    ts->h[ts->n] = (struct wf__tentry){deadline, t};
    t->idx = ts->n++;
    sift_up(ts, t->idx);
    update_earliest(ts);
}

int wf__timer_add(struct wf__timers *ts, struct wf__timer *t, int64_t deadline)
{
    wf__spin_lock(&ts->lock);
    int err = grow(ts);
    if (err == 0)
        insert(ts, t, deadline);
    wf__spin_unlock(&ts->lock);
    return err;
}

int wf__timer_add_state(struct wf__timers *ts, struct wf__timer *t,
                        int64_t deadline, atomic_int *word, int state,
                        bool *first)
{
    wf__spin_lock(&ts->lock);
    int err = grow(ts);
    if (err == 0) {
        insert(ts, t, deadline);
        *first = t->idx == 0;
        /* seq_cst, after the insert: read lock-free by the owner's other
         * parties, who then find t->heap set (utimer.c). */
        atomic_store_explicit(word, state, memory_order_seq_cst);
    }
    wf__spin_unlock(&ts->lock);
    return err;
}

int wf__timers_reserve(struct wf__timers *ts)
{
    wf__spin_lock(&ts->lock);
    int err = grow(ts);
    if (err == 0)
        ts->reserved++;
    wf__spin_unlock(&ts->lock);
    return err;
}

void wf__timers_unreserve(struct wf__timers *ts)
{
    wf__spin_lock(&ts->lock);
    ts->reserved--;
    wf__spin_unlock(&ts->lock);
}

void wf__timer_add_reserved(struct wf__timers *ts, struct wf__timer *t,
                            int64_t deadline, atomic_int *word, int state,
                            bool *first)
{
    wf__spin_lock(&ts->lock);
    ts->reserved--;
    insert(ts, t, deadline);
    *first = t->idx == 0;
    /* seq_cst: as in wf__timer_add_state */
    atomic_store_explicit(word, state, memory_order_seq_cst);
    wf__spin_unlock(&ts->lock);
}

void wf__timer_cancel(struct wf__timer *t)
{
    /* acquire: pairs with the release in wf__timers_run, so NULL means
     * any fire of t has finished; non-NULL is re-checked under the lock. */
    struct wf__timers *ts = atomic_load_explicit(&t->heap, memory_order_acquire);
    if (!ts)
        return;
    wf__spin_lock(&ts->lock);
    if (atomic_load_explicit(&t->heap, memory_order_relaxed) == ts) {
        remove_at(ts, t->idx);
        atomic_store_explicit(&t->heap, NULL, memory_order_relaxed);
        update_earliest(ts);
    }
    wf__spin_unlock(&ts->lock);
}

bool wf__timer_remove(struct wf__timer *t, atomic_int *word, int state)
{
    /* acquire: as in wf__timer_cancel; a non-NULL heap is re-checked
     * under its lock. */
    struct wf__timers *ts = atomic_load_explicit(&t->heap, memory_order_acquire);
    if (!ts)
        return false;
    bool removed = false;
    wf__spin_lock(&ts->lock);
    if (atomic_load_explicit(&t->heap, memory_order_relaxed) == ts) {
        remove_at(ts, t->idx);
        atomic_store_explicit(&t->heap, NULL, memory_order_relaxed);
        update_earliest(ts);
        /* seq_cst, after heap: whoever acts on the new state (a start
         * that arms t again) finds heap NULL. One that reads NULL first
         * sees the old state for a moment, and must not act on that. */
        atomic_store_explicit(word, state, memory_order_seq_cst);
        removed = true;
    }
    wf__spin_unlock(&ts->lock);
    return removed;
}

int wf__timers_run(struct wf__timers *ts, int64_t now, int max)
{
    int fired = 0;
    if (wf__timers_earliest(ts) > now || !wf__spin_trylock(&ts->lock))
        return 0;
    while (ts->n && ts->h[0].deadline <= now && fired < max) {
        struct wf__timer *t = ts->h[0].t;
        wf__trace_timer(now - ts->h[0].deadline);
        remove_at(ts, 0);
        t->fire(t);
        /* release, after the fire: an owner that reads NULL in
         * wf__timer_cancel (acquire) knows the fire is over. */
        atomic_store_explicit(&t->heap, NULL, memory_order_release);
        fired++;
    }
    update_earliest(ts);
    wf__spin_unlock(&ts->lock);
    return fired;
}

uint32_t wf__timers_count(struct wf__timers *ts)
{
    wf__spin_lock(&ts->lock);
    uint32_t n = ts->n;
    wf__spin_unlock(&ts->lock);
    return n;
}
