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
 *
 * The wheel. Once a heap holds WHEEL_MIN timers it gets a wheel: a ring
 * of WHEEL_SLOTS buckets, each an unordered array of the timers due in one
 * span of 2^WHEEL_SHIFT ns (about 1 ms), covering [horizon, horizon +
 * WHEEL_SLOTS spans). A timer due in that window goes to its bucket
 * (O(1), no sifting); one due before the horizon, or beyond the window,
 * goes to the heap array. When a bucket timer may be due (wheel_next <=
 * now), wf__timers_run moves every bucket that starts at or before now
 * into the array and advances the horizon past now. So the array holds
 * the timers due within about a span, plus the far ones: it stays small
 * and in cache, and a timer costs one append and one move instead of a
 * pop through a deep heap. Invariants, under the lock:
 *   - every timer due before `horizon` is in the array (so firing from
 *     the array alone, after moving the buckets that start <= now, fires
 *     every due timer, in deadline order);
 *   - bucket timers are due in [horizon, horizon + WHEEL_SLOTS spans), so
 *     a slot names one span of the window;
 *   - wheel_next <= the earliest bucket deadline (the start of its
 *     bucket after a move, possibly earlier after a removal; a run at
 *     wheel_next moves that bucket, or finds it empty, and recomputes);
 *   - cap >= n + wheel_n + reserved, so moving buckets never allocates.
 * Equal deadlines have no promised order, in the array or across a move.
 * Considered: a hierarchical wheel with cascading (Linux's), which rounds
 * deadlines or cascades every timer several times; one level suffices
 * when the far ones simply stay in the heap.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/fault.h"
#include "timer.h"
#include "weft/common.h"
#include "trace/trace.h"

#define ARITY 8
#define LINE  64 /* cache line */

#define WHEEL_SHIFT 20   /* a bucket spans 2^20 ns, about 1 ms */
#define WHEEL_SLOTS 2048 /* about 2.1 s of buckets */
#define WHEEL_MIN   4096 /* armed timers before a heap gets its wheel */
#define SPAN        ((int64_t)1 << WHEEL_SHIFT)

/* One bucket: an unordered array of the timers due in its span (their
 * deadlines are in the timers: a bucket is never searched). */
struct wf__bucket {
    struct wf__timer **t;
    uint32_t n, cap;
};

struct wf__wheel {
    uint64_t map[WHEEL_SLOTS / 64]; /* nonempty buckets */
    struct wf__bucket b[WHEEL_SLOTS];
};

static uint32_t slot_of(int64_t deadline)
{
    return (uint32_t)((uint64_t)deadline >> WHEEL_SHIFT) & (WHEEL_SLOTS - 1);
}

void wf__timers_init(struct wf__timers *ts)
{
    ts->h = NULL;
    ts->mem = NULL;
    ts->n = ts->cap = ts->reserved = ts->wheel_n = 0;
    ts->wheel = NULL;
    ts->horizon = 0;
    ts->wheel_next = INT64_MAX;
    atomic_init(&ts->earliest, INT64_MAX);
    atomic_init(&ts->lock.held, false);
}

static void discard(struct wf__timer *t)
{
    atomic_store_explicit(&t->heap, NULL, memory_order_relaxed);
    if (t->discard)
        t->discard(t);
}

void wf__timers_destroy(struct wf__timers *ts)
{
    for (uint32_t i = 0; i < ts->n; i++)
        discard(ts->h[i].t);
    if (ts->wheel) {
        for (uint32_t s = 0; s < WHEEL_SLOTS; s++) {
            struct wf__bucket *b = &ts->wheel->b[s];
            for (uint32_t i = 0; i < b->n; i++)
                discard(b->t[i]);
            free(b->t);
        }
        free(ts->wheel);
    }
    free(ts->mem);
    ts->mem = NULL;
    ts->h = NULL;
    ts->wheel = NULL;
    ts->n = ts->cap = ts->reserved = ts->wheel_n = 0;
    ts->wheel_next = INT64_MAX;
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
    int64_t e = ts->n ? ts->h[0].deadline : INT64_MAX;
    if (ts->wheel_next < e)
        e = ts->wheel_next;
    /* relaxed: readers treat it as a hint (see timer.h). */
    atomic_store_explicit(&ts->earliest, e, memory_order_relaxed);
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
    if (ts->n + ts->wheel_n + ts->reserved < ts->cap)
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

/* Into the array, which has room (grow). */
static void heap_put(struct wf__timers *ts, struct wf__tentry e)
{
    e.t->in_wheel = false;
    ts->h[ts->n] = e;
    sift_up(ts, ts->n++);
}

/* Into its bucket, if the wheel takes it: false sends it to the array
 * (outside the window, or no memory for the bucket). */
static bool wheel_put(struct wf__timers *ts, struct wf__timer *t,
                      int64_t deadline)
{
    struct wf__wheel *w = ts->wheel;
    if (!w && ts->n >= WHEEL_MIN) {
        /* No wheel is no error: the array takes everything. */
        w = ts->wheel = wf__calloc(1, sizeof *w);
        if (!w)
            return false;
        ts->horizon = (wf_now() & ~(SPAN - 1)) + SPAN;
    }
    if (!w || deadline < ts->horizon ||
        deadline - ts->horizon >= WHEEL_SLOTS * SPAN)
        return false;
    uint32_t s = slot_of(deadline);
    struct wf__bucket *b = &w->b[s];
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 16;
        struct wf__timer **bt = wf__realloc(b->t, cap * sizeof *bt);
        if (!bt)
            return false;
        b->t = bt;
        b->cap = cap;
    }
    b->t[b->n] = t;
    t->idx = b->n++;
    t->in_wheel = true;
    w->map[s / 64] |= (uint64_t)1 << (s % 64);
    ts->wheel_n++;
    if (deadline < ts->wheel_next)
        ts->wheel_next = deadline;
    return true;
}

/* Take t out of its bucket (O(1): the bucket's last entry fills the
 * hole). wheel_next may now be early, which the invariant allows. */
static void wheel_remove(struct wf__timers *ts, struct wf__timer *t)
{
    uint32_t s = slot_of(t->deadline);
    struct wf__bucket *b = &ts->wheel->b[s];
    struct wf__timer *last = b->t[--b->n];
    if (t->idx < b->n) {
        b->t[t->idx] = last;
        last->idx = t->idx;
    }
    t->in_wheel = false;
    if (b->n == 0)
        ts->wheel->map[s / 64] &= ~((uint64_t)1 << (s % 64));
    if (--ts->wheel_n == 0)
        ts->wheel_next = INT64_MAX;
}

/* Where the first nonempty bucket from the horizon on starts (the map
 * finds it): a lower bound of the bucket timers' deadlines, early by
 * less than a span, which costs a sleeping worker one early wake-up. */
static int64_t wheel_first(struct wf__timers *ts)
{
    if (ts->wheel_n == 0)
        return INT64_MAX;
    struct wf__wheel *w = ts->wheel;
    uint32_t s0 = slot_of(ts->horizon);
    for (uint32_t k = 0; k < WHEEL_SLOTS; k++) {
        uint32_t s = (s0 + k) & (WHEEL_SLOTS - 1);
        uint64_t word = w->map[s / 64] >> (s % 64);
        if (word) /* the next set bit is in this word */
            return ts->horizon +
                   (int64_t)(k + (uint32_t)__builtin_ctzll(word)) * SPAN;
        k += 63 - s % 64; /* nothing more in this word: skip to the next */
    }
    return INT64_MAX; /* not reached: wheel_n counts a timer somewhere */
}

/* Move every bucket that starts at or before now into the array, and the
 * horizon past now. The array has room for them (cap counts wheel_n). */
static void wheel_advance(struct wf__timers *ts, int64_t now)
{
    struct wf__wheel *w = ts->wheel;
    while (ts->horizon <= now && ts->wheel_n > 0) {
        uint32_t s = slot_of(ts->horizon);
        struct wf__bucket *b = &w->b[s];
        for (uint32_t i = 0; i < b->n; i++)
            heap_put(ts, (struct wf__tentry){b->t[i]->deadline, b->t[i]});
        ts->wheel_n -= b->n;
        b->n = 0;
        w->map[s / 64] &= ~((uint64_t)1 << (s % 64));
        ts->horizon += SPAN;
    }
    if (ts->horizon <= now) /* the wheel is empty: skip ahead */
        ts->horizon = (now & ~(SPAN - 1)) + SPAN;
    ts->wheel_next = wheel_first(ts);
}

static void insert(struct wf__timers *ts, struct wf__timer *t, int64_t deadline)
{
    t->deadline = deadline;
    atomic_store_explicit(&t->heap, ts, memory_order_relaxed);
    if (!wheel_put(ts, t, deadline))
        heap_put(ts, (struct wf__tentry){deadline, t});
    update_earliest(ts);
}

/* Detach t, which is in ts. */
static void detach(struct wf__timers *ts, struct wf__timer *t)
{
    if (t->in_wheel)
        wheel_remove(ts, t);
    else
        remove_at(ts, t->idx);
}

/* Whether a timer due at `deadline` would become ts's earliest. */
static bool is_first(struct wf__timers *ts, int64_t deadline)
{
    /* relaxed: written only under the lock, which we hold. */
    return deadline < atomic_load_explicit(&ts->earliest, memory_order_relaxed);
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
        *first = is_first(ts, deadline);
        insert(ts, t, deadline);
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
    *first = is_first(ts, deadline);
    insert(ts, t, deadline);
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
        detach(ts, t);
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
        detach(ts, t);
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
    if (ts->wheel_next <= now)
        wheel_advance(ts, now);
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
    uint32_t n = ts->n + ts->wheel_n;
    wf__spin_unlock(&ts->lock);
    return n;
}
