/* SPDX-License-Identifier: MIT */
/*
 * Timer heap (see timer.h). An 8-ary heap: a third of the depth of a
 * binary heap, and the eight children of a node fill two adjacent cache
 * lines of the array (grow() aligns them), which the hardware fetches
 * together. With a million timers a pop is a chain of dependent cache
 * misses, one per level, plus a store to each timer it moves (its idx):
 * fewer levels is what makes it cheaper. 4-ary (one line per level, ten
 * levels for a million) popped slower on the same load, 16-ary about the
 * same as 8-ary with twice the compares.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/fault.h"
#include "timer.h"
#include "trace/trace.h"

#define ARITY 8
#define LINE  64 /* cache line */

void wf__timers_init(struct wf__timers *ts)
{
    ts->h = NULL;
    ts->mem = NULL;
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
    free(ts->mem);
    ts->mem = NULL;
    ts->h = NULL;
    ts->n = ts->cap = ts->reserved = 0;
}

/* Heap entries carry their deadline, so sifting compares within the
 * array (a node's children are two adjacent lines) instead of following
 * a pointer to every timer it compares: with a million timers that is
 * one miss per level instead of nine. */
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

/* Where the array starts inside its allocation: the offset that puts
 * entry 1, and so every node's first child (ARITY * i + 1), at the start
 * of a cache line. malloc aligns to 16, the size of an entry. */
static size_t array_offset(void *mem)
{
    return (LINE - ((uintptr_t)mem + sizeof(struct wf__tentry)) % LINE) % LINE;
}

/* Ask for transparent huge pages over the whole 2 MiB pages of a large
 * array: a pop walks a path from the root to a leaf of a heap that can
 * be many MiB, and with 4 KiB pages its lower levels miss the TLB. */
static void advise_huge(void *mem, size_t size)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (size < 2 * huge)
        return;
    uintptr_t lo = ((uintptr_t)mem + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)mem + size) & ~(huge - 1);
    if (lo < hi)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* a hint only */
#else
    (void)mem;
    (void)size;
#endif
}

/* Make room for one more entry beyond the reserved ones. Lock held.
 * A new block rather than realloc: the huge-page advice has to come
 * before the copy touches the pages (and it splits the mapping, which
 * defeats realloc's mremap anyway). */
static int grow(struct wf__timers *ts)
{
    if (ts->n + ts->reserved < ts->cap)
        return 0;
    uint32_t cap = ts->cap ? ts->cap * 2 : 64;
    size_t size = (size_t)cap * sizeof(struct wf__tentry) + LINE;
    char *mem = wf__malloc(size);
    if (!mem)
        return -ENOMEM;
    advise_huge(mem, size);
    struct wf__tentry *h =
        (struct wf__tentry *)(void *)(mem + array_offset(mem));
    if (ts->n)
        memcpy(h, ts->h, ts->n * sizeof *h);
    free(ts->mem);
    ts->mem = mem;
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
    struct wf__timers *ts =
        atomic_load_explicit(&t->heap, memory_order_acquire);
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
    struct wf__timers *ts =
        atomic_load_explicit(&t->heap, memory_order_acquire);
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
