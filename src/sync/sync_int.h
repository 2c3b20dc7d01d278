/* SPDX-License-Identifier: MIT */
/*
 * src/sync/sync_int.h - the wait queue every sync primitive is built on.
 *
 * A wait queue is a FIFO of wait records (core/waitrec.h, which states
 * their lifetime, shutdown included), protected by the owning primitive's
 * spinlock (struct wf__spin). A waiter links its record and parks on the
 * record's `state` word; a waker pops records from the head, marks them
 * `woken`, stores `state` and kicks their waiter, all under the lock. A
 * record is unlinked either by the waker that pops it or by its waiter
 * (on a deadline, cancellation or shutdown), always under the lock.
 *
 * No lost wake-ups: `woken` is only ever set by a pop, under the lock, and
 * the waiter reads it under the lock after every park. A waiter whose
 * deadline or cancellation races with a wake reports the wake (returns 0)
 * rather than the error; the primitive then re-checks its condition, so
 * whatever the wake announced is either consumed or left for the next
 * waiter, never dropped. A waiter that gives up was still linked, so no
 * wake was spent on it.
 *
 * Shutdown: a linked record's `abandoned` hook lets the primitive forget
 * the counts it kept for a discarded fiber.
 *
 * Lock order: a primitive's spinlock is taken before the core's leaf locks
 * (waking a fiber may take a worker's inbox lock or the idle lock; waking
 * a plain thread is a futex call). No primitive holds two sync locks at
 * once (wf_cond_wait releases the condvar's lock before the mutex's).
 */
#ifndef WEFT_SYNC_INT_H
#define WEFT_SYNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_int.h"

/* A waiter's record (core/waitrec.h: its lifetime); on the waiter's
 * stack while it waits: a wait and its one clause. wt.state: 0 waiting,
 * 1 popped: the park word, written under the queue lock. wt.ab: unlinks
 * a discarded fiber's record at shutdown. cl: the queue link (cl.wait is
 * &wt; cl.prev, cl.next, cl.linked under the queue lock; idx and queue
 * unused). What a waker touches (wt, cl, the flags, tag, since) comes
 * first, in 88 bytes; what only shutdown reads comes last. */
struct wf__wqrec {
    struct wf__wait wt;    /* who waits, the park word, ab */
    struct wf__clause cl;  /* the link in the queue */
    bool woken;            /* set by a pop; queue lock */
    bool granted;          /* primitive-specific hand-over; queue lock */
    bool counted;          /* counted in q->inside; queue lock */
    uint8_t why;           /* enum wf__why, for its park; fixed */
    uint64_t tag;          /* primitive-specific (mutex: owner tag) */
    int64_t since;         /* when it first queued (mutex handoff) */
    struct wf__spin *lock; /* the queue's lock and queue, while */
    struct wf__waitq *q;   /* it is linked (for ab) */
    /* Called under the lock when shutdown unlinks the record of a
     * discarded fiber, for the primitive to forget the counts it kept
     * for it (a mutex's nwait, a barrier's arrivals); or NULL. */
    void (*abandoned)(struct wf__wqrec *r);
};

_Static_assert(sizeof(void *) != 8 || offsetof(struct wf__wqrec, lock) == 88,
               "what a waker touches lies in the first 88 bytes");

/* The record whose clause cl is (every clause in a wait queue is). */
static inline struct wf__wqrec *wf__wqrec_of(struct wf__clause *cl)
{
    return (struct wf__wqrec *)((char *)cl - offsetof(struct wf__wqrec, cl));
}

struct wf__waitq {
    struct wf__clauseq cq; /* of wf__wqrec's clauses; owner's lock */
    int inside;            /* records between first link and done; lock */
};

/* Prepare a record for the calling fiber or thread (registers a plain
 * thread so runtime shutdown can wake it, which takes a runtime mutex: so
 * call it before taking the primitive's lock, on slow paths only). Pair
 * with wf__wqrec_done (lock held) and wf__wqrec_finish (lock released).
 * Returns 0, or WF_ESHUTDOWN for a plain thread when no runtime runs
 * (then nothing is to be paired). */
int wf__wqrec_init(struct wf__wqrec *r, enum wf__why why);
/* The record's wait is over (lock held; r unlinked). Afterwards the
 * caller may touch the primitive only until it releases the lock. Call
 * wf__wqrec_finish after releasing the lock. */
void wf__wqrec_done(struct wf__waitq *q, struct wf__wqrec *r);
/* After the lock is released: unregister a plain thread. */
void wf__wqrec_finish(struct wf__wqrec *r);

/* Link r at the tail (or, for a waiter that was woken and lost a race,
 * at the head, so it keeps its place). `lock` held: the queue's lock. */
void wf__waitq_link(struct wf__spin *lock, struct wf__waitq *q,
                    struct wf__wqrec *r, bool front);

/* Wait until r is woken (popped) or the deadline, cancellation (only if
 * cancellable) or runtime shutdown (plain threads) ends the wait. Called
 * and returns with `lock` held; r must have been linked, and is unlinked on
 * return. Returns 0 if r was woken (even if the deadline or a cancellation
 * came at the same time), else WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN or
 * WF_ENOMEM. (wf__waitq_link clears `woken`; a record popped between its
 * link and this call returns 0 at once.) */
int wf__waitq_park(struct wf__spin *lock, struct wf__waitq *q,
                   struct wf__wqrec *r, int64_t deadline, bool cancellable);

/* wf__waitq_link then wf__waitq_park. */
int wf__waitq_wait(struct wf__spin *lock, struct wf__waitq *q,
                   struct wf__wqrec *r, int64_t deadline, bool front,
                   bool cancellable);

/* The oldest record, or NULL. Lock held. */
static inline struct wf__wqrec *wf__waitq_head(const struct wf__waitq *q)
{
    return q->cq.head ? wf__wqrec_of(q->cq.head) : NULL;
}

/* Unlink the head and mark it woken, without waking it (the caller may set
 * `granted` first, then call wf__waiter_kick(&r->wt.w) under the lock).
 * NULL if empty. Lock held. */
struct wf__wqrec *wf__waitq_pop(struct wf__waitq *q);
/* Pop and wake the oldest waiter; false if there was none. Lock held. */
bool wf__waitq_wake_one(struct wf__waitq *q);
/* Pop and wake every waiter; returns how many. Lock held. */
int wf__waitq_wake_all(struct wf__waitq *q);

/* Whether anyone is linked, or woken but not yet gone. Lock held. */
static inline bool wf__waitq_busy(const struct wf__waitq *q)
{
    return q->inside > 0;
}
static inline bool wf__waitq_empty(const struct wf__waitq *q)
{
    return q->cq.head == NULL;
}

/* Wait (yielding) until no record is inside q; for destroy functions once
 * nobody is linked any more. Takes and releases `lock`. */
void wf__waitq_drain(struct wf__spin *lock, struct wf__waitq *q);

/* A plain thread's tag: an address unique to the thread, bit 63 set. */
uint64_t wf__thread_tag(void);

/* Who is calling, as a non-zero tag: the fiber id (bit 63 clear), or a
 * plain thread's tag. Inline: mutexes ask on every lock and unlock. */
static inline uint64_t wf__owner_tag(void)
{
    struct wf__fcb *f = wf__fiber_self();
    return f ? f->id & ~(UINT64_C(1) << 63) : wf__thread_tag();
}

/* The same for a caller that already found its fiber (NULL: a thread). */
static inline uint64_t wf__owner_tag_of(struct wf__fcb *f)
{
    return f ? f->id & ~(UINT64_C(1) << 63) : wf__thread_tag();
}

#endif
