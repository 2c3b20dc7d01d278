/* SPDX-License-Identifier: MIT */
/*
 * The wait queue (see sync_int.h for the contract).
 *
 * Design. Records are linked on the waiters' stacks in a doubly linked
 * FIFO under the primitive's spinlock (a wf__clauseq of their clauses,
 * core/waitrec.h); there is no allocation and no
 * reference counting. A pop unlinks the record and sets `woken` under the
 * lock, then wakes the waiter (still under the lock, like scope.c: the
 * record may vanish as soon as the lock is dropped). The waiter loops
 * "unlock, park, lock, check woken", because every park may return
 * spuriously (sched.c); it decides only under the lock, so a wake either
 * lands before it looks (it reports success) or finds it unlinked and is
 * never sent. The spinlock's acquire/release is the only ordering used:
 * `woken`, `linked` and `granted` are plain fields under it.
 *
 * Parking. A waiter parks on its record's `state` word, never on its
 * fiber's permit (which belongs to wf_park/wf_unpark): a pop stores 1
 * there (seq_cst) before it kicks the waiter, the other half of the
 * park-on-word Dekker pair (sched.c). A waiter that must wait again
 * (requeued at the head after losing to a barger) is linked anew, which
 * stores 0 under the lock; a kick still on its way from the earlier pop is
 * then a spurious wake-up, which the loop absorbs.
 *
 * Rejected: waking outside the lock (from a copy of the waiter). It would
 * keep futex calls out of the critical section, but a late wake would then
 * land on whatever the waiter waits for next; a spurious wake is allowed,
 * yet it makes the hand-over protocols (mutex handoff) harder to reason
 * about. Measure before revisiting.
 */
#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#include "sync_int.h"

/* Shutdown discards the record's fiber (see sync_int.h). */
static void abandon(struct wf__abandon *a)
{
    struct wf__wqrec *r =
        (struct wf__wqrec *)((char *)a - offsetof(struct wf__wqrec, wt.ab));
    wf__spin_lock(r->lock);
    if (r->cl.linked) {
        wf__clauseq_unlink(&r->q->cq, &r->cl);
        if (r->abandoned)
            r->abandoned(r);
    }
    wf__wqrec_done(r->q, r);
    wf__spin_unlock(r->lock);
}

int wf__wqrec_init(struct wf__wqrec *r, enum wf__why why)
{
    r->why = (uint8_t)why;
    r->wt.ab.unlink = abandon;
    r->lock = NULL;
    r->q = NULL;
    r->abandoned = NULL;
    r->cl.wait = &r->wt;
    r->cl.prev = r->cl.next = NULL;
    r->cl.idx = 0;
    r->cl.linked = false;
    r->cl.queue = 0;
    atomic_init(&r->wt.state, 0);
    r->woken = false;
    r->granted = false;
    r->tag = 0;
    r->since = 0;
    r->counted = false;
    return wf__wait_init(&r->wt, wf__fiber_self());
}

void wf__wqrec_done(struct wf__waitq *q, struct wf__wqrec *r)
{
    WF_ASSERT(!r->cl.linked);
    if (r->counted) {
        WF_ASSERT(q->inside > 0);
        q->inside--;
        r->counted = false;
    }
    if (r->wt.w.fiber)
        r->wt.w.fiber->waiting = NULL;
}

void wf__wqrec_finish(struct wf__wqrec *r)
{
    wf__wait_finish(&r->wt);
}

void wf__waitq_link(struct wf__spin *lock, struct wf__waitq *q,
                    struct wf__wqrec *r, bool front)
{
    WF_ASSERT(!r->cl.linked);
    if (!r->counted) {
        q->inside++;
        r->counted = true;
        r->lock = lock;
        r->q = q;
        if (r->wt.w.fiber) /* until wf__wqrec_done */
            r->wt.w.fiber->waiting = &r->wt.ab;
    }
    r->woken = false;
    /* relaxed: under the lock, which every writer holds; the waiter's
     * seq_cst look comes after it in its own order. */
    atomic_store_explicit(&r->wt.state, 0, memory_order_relaxed);
    wf__clauseq_link(&q->cq, &r->cl, front);
}

int wf__waitq_park(struct wf__spin *lock, struct wf__waitq *q,
                   struct wf__wqrec *r, int64_t deadline, bool cancellable)
{
    int err = 0;
    while (!r->woken) {
        wf__spin_unlock(lock);
        int rc = cancellable ? wf__waiter_park_word(&r->wt.w, &r->wt.state, 0,
                                                    deadline, r->why)
                             : wf__waiter_park_word_nocancel(
                                   &r->wt.w, &r->wt.state, 0, deadline, r->why);
        wf__spin_lock(lock);
        if (rc != 0 && !r->woken) {
            err = rc;
            break;
        }
    }
    if (r->cl.linked)
        wf__clauseq_unlink(&q->cq, &r->cl);
    return r->woken ? 0 : err;
}

int wf__waitq_wait(struct wf__spin *lock, struct wf__waitq *q,
                   struct wf__wqrec *r, int64_t deadline, bool front,
                   bool cancellable)
{
    wf__waitq_link(lock, q, r, front);
    return wf__waitq_park(lock, q, r, deadline, cancellable);
}

struct wf__wqrec *wf__waitq_pop(struct wf__waitq *q)
{
    struct wf__wqrec *r = wf__waitq_head(q);
    if (!r)
        return NULL;
    wf__clauseq_unlink(&q->cq, &r->cl);
    r->woken = true;
    /* seq_cst: the waker's half of park-on-word (pairs with the parker's
     * store of PARKING and its load of the word, sched.c): store, then
     * kick. */
    atomic_store_explicit(&r->wt.state, 1, memory_order_seq_cst);
    return r;
}

bool wf__waitq_wake_one(struct wf__waitq *q)
{
    struct wf__wqrec *r = wf__waitq_pop(q);
    if (!r)
        return false;
    wf__waiter_kick(&r->wt.w);
    return true;
}

int wf__waitq_wake_all(struct wf__waitq *q)
{
    int n = 0;
    while (wf__waitq_wake_one(q))
        n++;
    return n;
}

void wf__waitq_drain(struct wf__spin *lock, struct wf__waitq *q)
{
    wf__spin_lock(lock);
    while (q->inside > 0) {
        wf__spin_unlock(lock);
        if (wf__fiber_self())
            wf__fiber_yield(wf__fiber_self());
        else
            sched_yield();
        wf__spin_lock(lock);
    }
    wf__spin_unlock(lock);
}

uint64_t wf__thread_tag(void)
{
    /* Only called on plain threads, which never migrate. */
    static WF__TLS char anchor;
    return (uint64_t)(uintptr_t)&anchor | (UINT64_C(1) << 63);
}
