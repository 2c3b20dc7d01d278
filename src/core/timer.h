/* SPDX-License-Identifier: MIT */
/*
 * src/core/timer.h - per-worker timer heaps.
 *
 * Each worker owns one timer heap: an 8-ary min-heap of timers ordered by
 * deadline and, once it holds many, a wheel of ~1 ms buckets in front of
 * it for the deadlines further out (timer.c), so that the heap proper
 * holds only what is due soon and stays small. A timer is intrusive
 * (lives in its owner, e.g. a fiber's control block) and knows where it
 * is (heap array or bucket, and its index there), so removal is O(log n)
 * or O(1); the heap array holds each timer's deadline beside its pointer
 * (16 bytes a timer), so sifting compares within the array instead of
 * chasing a pointer per comparison. The heap has a spinlock because a timer
 * is removed by whoever owns it (a fiber resumed on another worker) and
 * idle workers fire the expired timers of busy ones; `earliest` lets
 * everyone look without the lock.
 *
 * Firing happens with the heap lock held, so a timer's owner that removes
 * it (wf__timer_cancel) either removes it first or waits until the firing
 * is over: the fire callback never runs on a timer whose owner has moved on.
 * "In the heap" below means in the array or in a bucket: both are under
 * the same lock, and a timer moves from a bucket to the array only under
 * it, so the protocol does not tell them apart.
 */
#ifndef WEFT_CORE_TIMER_H
#define WEFT_CORE_TIMER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/futex.h"

struct wf__timers;

struct wf__timer {
    int64_t deadline;
    uint32_t idx;                        /* position in the heap or bucket */
    bool in_wheel;                       /* in a bucket (timer.c) */
    _Atomic(struct wf__timers *) heap;   /* NULL when not armed */
    void (*fire)(struct wf__timer *t);   /* called with the heap locked */
    /* Called for a timer still armed when its heap is destroyed (runtime
     * shutdown), or NULL. */
    void (*discard)(struct wf__timer *t);
};

/* A heap slot: the timer and a copy of its deadline. */
struct wf__tentry {
    int64_t deadline;
    struct wf__timer *t;
};

struct wf__wheel;

struct wf__timers {
    struct wf__spin lock;
    struct wf__tentry *h; /* protected by lock; inside mem, see grow() */
    void *mem;            /* the allocation; protected by lock */
    uint32_t n, cap;      /* protected by lock; cap counts wheel_n too */
    uint32_t reserved;    /* slots promised to wf__timer_add_reserved; lock */
    uint32_t wheel_n;     /* timers in buckets; lock */
    struct wf__wheel *wheel; /* NULL until the heap is large; lock */
    int64_t horizon;         /* every timer due before it is in h; lock */
    int64_t wheel_next;      /* no bucket timer is due before it; lock */
    /* INT64_MAX when empty; never later than the earliest deadline, and
     * possibly earlier (wheel_next, timer.c); written under lock */
    _Atomic int64_t earliest;
};

void wf__timers_init(struct wf__timers *ts);
/* Free the heap; timers still in it are disarmed and told (discard). */
void wf__timers_destroy(struct wf__timers *ts);

/* Arm t in ts. Returns 0 or -ENOMEM. t must not be armed. */
int wf__timer_add(struct wf__timers *ts, struct wf__timer *t, int64_t deadline);

/* What an owner with a state of its own (user timers) needs: the arming
 * and the store of `state` into *word happen in one critical section of
 * the heap's lock, so whoever takes that lock (a fire, a removal) sees
 * both or neither. *first tells whether t became the heap's earliest
 * timer (decided under the lock: a sleeping owner must then be woken).
 * 0 or -ENOMEM (then nothing was stored). */
int wf__timer_add_state(struct wf__timers *ts, struct wf__timer *t,
                        int64_t deadline, atomic_int *word, int state,
                        bool *first);

/* Promise one slot for a later wf__timer_add_reserved, growing the heap
 * now if needed: 0 or -ENOMEM. wf__timers_unreserve gives it back. */
int wf__timers_reserve(struct wf__timers *ts);
void wf__timers_unreserve(struct wf__timers *ts);
/* wf__timer_add_state into a reserved slot: cannot fail. */
void wf__timer_add_reserved(struct wf__timers *ts, struct wf__timer *t,
                            int64_t deadline, atomic_int *word, int state,
                            bool *first);

/* Disarm t if still armed; returns when no fire of t is in progress. */
void wf__timer_cancel(struct wf__timer *t);
/* Disarm t if it is in a heap, storing `state` into *word in the same
 * critical section. true if it was removed (it has not fired and will
 * not); false if it was in no heap (fired, or never armed). */
bool wf__timer_remove(struct wf__timer *t, atomic_int *word, int state);

/* Fire every timer with deadline <= now (at most `max`); returns how many. */
int wf__timers_run(struct wf__timers *ts, int64_t now, int max);

static inline int64_t wf__timers_earliest(struct wf__timers *ts)
{
    /* relaxed: a hint; the heap is re-read under the lock before firing. */
    return atomic_load_explicit(&ts->earliest, memory_order_relaxed);
}

/* Number of armed timers (tests). */
uint32_t wf__timers_count(struct wf__timers *ts);

#endif
