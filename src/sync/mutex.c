/* SPDX-License-Identifier: MIT */
/*
 * Mutex and condition variable on the wait queue (sync_int.h).
 *
 * Mutex. `owner` is 0 when free, else the owner's tag (wf__owner_tag: a
 * fiber id, or a plain thread's address tag), so an unlock by anyone else
 * is detected (WF_EPERM). Locking is a CAS 0 -> tag; on failure the locker
 * takes the spinlock, counts itself in `nwait`, tries the CAS once more
 * and queues. It does not spin first: a spinner that wins takes the lock's
 * and the protected data's cache lines to its core every few operations,
 * while a parked waiter leaves the owner to run from its own cache, and
 * its worker runs other fibers. Spinning first was slower at every spin
 * count tried (docs/PERFORMANCE.md, "Why the code is as it is"); glibc's
 * default mutex does not spin either.
 *
 * Lost wake-ups are excluded by a Dekker pair, all seq_cst: the locker
 * increments `nwait` then CASes `owner`; the unlocker stores owner = 0
 * then loads `nwait`. Either the locker's CAS sees the free mutex, or the
 * unlocker sees nwait > 0 and takes the spinlock to wake the head (the
 * locker increments, CASes and links in one critical section, so the
 * unlocker, once it has the lock, finds the record linked).
 *
 * Starvation. A woken waiter competes with new lockers (barging keeps the
 * lock busy instead of idle while the waiter gets scheduled), and if it
 * loses it requeues at the head, keeping its place and its first-queued
 * time. An unlock that finds the head has waited over HANDOFF_NS does not
 * free the mutex at all: it stores the head's tag as owner, marks the
 * record `granted` and wakes it, so the oldest waiter always gets in
 * within about a millisecond of its turn. (Go's sync.Mutex starvation
 * mode, by the same reasoning.)
 *
 * Condvar. A waiter links its record on the condvar's queue while it still
 * holds the mutex, then unlocks the mutex, then parks: a signal sent after
 * the unlock finds the record. Signals pop records, so a record's `woken`
 * says it was signalled; a signal that races with the waiter's deadline
 * or cancellation is reported as success, never lost. Relocking the mutex
 * afterwards ignores deadline and cancellation (the caller's code expects
 * to hold it).
 */
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "sync_int.h"
#include "weft/sync.h"

#define HANDOFF_NS (1 * WF_MSEC)

struct mutex {
    _Atomic uint64_t owner; /* 0 or the owner's tag */
    /* Lockers about to queue or queued, not yet woken: incremented by a
     * locker before its last CAS, decremented when it gets the mutex or
     * gives up, or by the unlocker that pops it, all under `lock`; read
     * lock-free by unlock (the Dekker pair above). A woken waiter is not
     * counted until it tries again, so the unlocks that follow a wake-up
     * take the fast path (as glibc's futex mutex does). */
    atomic_int nwait;
    struct wf__spin lock;
    struct wf__waitq q;
};
_Static_assert(sizeof(struct mutex) <= WF_MUTEX_SIZE, "wf_mutex too small");
_Static_assert(_Alignof(struct mutex) <= 8, "wf_mutex alignment");

struct cond {
    struct wf__spin lock;
    struct wf__waitq q;
};
_Static_assert(sizeof(struct cond) <= WF_COND_SIZE, "wf_cond too small");
_Static_assert(_Alignof(struct cond) <= 8, "wf_cond alignment");

static struct mutex *M(struct wf_mutex *m)
{
    return (struct mutex *)(void *)m->opaque;
}

static struct cond *C(struct wf_cond *c)
{
    return (struct cond *)(void *)c->opaque;
}

int wf_mutex_init(struct wf_mutex *m)
{
    if (!m)
        return WF_EINVAL;
    memset(m, 0, sizeof *m);
    return 0;
}

int wf_mutex_destroy(struct wf_mutex *mu)
{
    if (!mu)
        return WF_EINVAL;
    struct mutex *m = M(mu);
    wf__spin_lock(&m->lock);
    bool busy = atomic_load_explicit(&m->owner, memory_order_relaxed) != 0 ||
                !wf__waitq_empty(&m->q);
    wf__spin_unlock(&m->lock);
    if (busy)
        return WF_EBUSY;
    /* Waiters that gave up may still be leaving. */
    wf__waitq_drain(&m->lock, &m->q);
    return 0;
}

static bool try_cas(struct mutex *m, uint64_t me)
{
    uint64_t zero = 0;
    /* acquire: pairs with the seq_cst store of 0 in unlock_owned, so the
     * previous owner's critical section happens before ours. */
    return atomic_compare_exchange_strong_explicit(
        &m->owner, &zero, me, memory_order_acquire, memory_order_relaxed);
}

/* Shutdown discarded a queued locker: it is counted in nwait. */
static void locker_abandoned(struct wf__wqrec *r)
{
    struct mutex *m = (struct mutex *)((char *)r->q - offsetof(struct mutex, q));
    /* relaxed: as every nwait change under the spinlock. */
    atomic_fetch_sub_explicit(&m->nwait, 1, memory_order_relaxed);
}

static int lock_slow(struct mutex *m, uint64_t me, int64_t deadline,
                     bool cancellable)
{
    struct wf__wqrec r;
    int ierr = wf__wqrec_init(&r, WF__WHY_MUTEX);
    if (ierr)
        return ierr;
    r.tag = me;
    r.abandoned = locker_abandoned;
    r.since = wf_now();
    wf__spin_lock(&m->lock);
    int err = 0;
    bool front = false;
    for (;;) {
        /* seq_cst: the locker's first half of the Dekker pair with
         * unlock_owned (pairs with its store of owner and load of nwait;
         * the CAS below is the locker's second half). Counted again on
         * every round: whoever popped us uncounted us. */
        atomic_fetch_add_explicit(&m->nwait, 1, memory_order_seq_cst);
        uint64_t zero = 0;
        /* seq_cst: the locker's second half of the Dekker pair (after
         * its nwait increment; pairs with unlock_owned's store of owner
         * and load of nwait); also acquires the previous owner's critical
         * section. The failure order is seq_cst as well: a failed CAS is
         * still the load that half of the pair needs. */
        if (atomic_compare_exchange_strong_explicit(&m->owner, &zero, me,
                                                    memory_order_seq_cst,
                                                    memory_order_seq_cst)) {
            /* relaxed: a stale read by an unlocker only sends it down
             * the slow path, which takes the lock. */
            atomic_fetch_sub_explicit(&m->nwait, 1, memory_order_relaxed);
            break;
        }
        err = wf__waitq_wait(&m->lock, &m->q, &r, deadline, front,
                             cancellable);
        if (r.granted) { /* handed over: owner is already our tag */
            err = 0;
            break;
        }
        if (err) { /* not popped, so still counted */
            atomic_fetch_sub_explicit(&m->nwait, 1, memory_order_relaxed);
            break;
        }
        front = true; /* woken, lost to a barger: keep our place */
    }
    wf__wqrec_done(&m->q, &r);
    wf__spin_unlock(&m->lock);
    wf__wqrec_finish(&r);
    return err;
}

static int mutex_lock(struct mutex *m, uint64_t me, int64_t deadline,
                      bool cancellable)
{
    if (try_cas(m, me))
        return 0;
    return lock_slow(m, me, deadline, cancellable);
}

/* Pop the oldest waiter, uncount it (it counts itself again if it must
 * wait again) and wake it. Spinlock held. */
static struct wf__wqrec *pop_waiter(struct mutex *m)
{
    struct wf__wqrec *r = wf__waitq_pop(&m->q);
    if (r)
        /* relaxed: ordered by the spinlock for other slow paths; a stale
         * value seen by an unlocker's fast path is harmless (see nwait). */
        atomic_fetch_sub_explicit(&m->nwait, 1, memory_order_relaxed);
    return r;
}

static void wake_one(struct mutex *m)
{
    struct wf__wqrec *r = pop_waiter(m);
    if (r)
        wf__waiter_kick(&r->wt.w);
}

static void unlock_owned(struct mutex *m)
{
    /* relaxed: a hint; the decisive load below is seq_cst. */
    if (atomic_load_explicit(&m->nwait, memory_order_relaxed) == 0) {
        /* seq_cst: releases the critical section (pairs with try_cas's
         * acquire) and is the unlocker's first half of the Dekker pair
         * (pairs with lock_slow's nwait increment and CAS of owner). */
        atomic_store_explicit(&m->owner, 0, memory_order_seq_cst);
        /* seq_cst: the unlocker's second half of the Dekker pair: a
         * locker that missed the store above is counted here. */
        if (atomic_load_explicit(&m->nwait, memory_order_seq_cst) == 0)
            return;
        wf__spin_lock(&m->lock);
        wake_one(m);
        wf__spin_unlock(&m->lock);
        return;
    }
    wf__spin_lock(&m->lock);
    struct wf__wqrec *h = wf__waitq_head(&m->q);
    if (h && wf_now() - h->since > HANDOFF_NS) {
        pop_waiter(m);
        h->granted = true;
        /* relaxed: the new owner learns of it through `granted`, read
         * under the spinlock, whose release/acquire orders this store and
         * our critical section before its own. */
        atomic_store_explicit(&m->owner, h->tag, memory_order_relaxed);
        wf__waiter_kick(&h->wt.w);
    } else {
        /* seq_cst: as in the fast path. Here the spinlock we hold
         * already orders it against lock_slow's increment and CAS, made
         * under that lock, so release would do. */
        atomic_store_explicit(&m->owner, 0, memory_order_seq_cst);
        wake_one(m);
    }
    wf__spin_unlock(&m->lock);
}

int wf_mutex_lock(struct wf_mutex *mu, int64_t deadline)
{
    if (!mu)
        return WF_EINVAL;
    struct mutex *m = M(mu);
    struct wf__fcb *self = wf__fiber_self();
    uint64_t me = wf__owner_tag_of(self);
    /* relaxed: only we store our own tag, or a handoff we observed. */
    if (atomic_load_explicit(&m->owner, memory_order_relaxed) == me)
        return WF_EDEADLK;
    wf__coop_spend(self);
    return mutex_lock(m, me, deadline, true);
}

int wf_mutex_trylock(struct wf_mutex *mu)
{
    if (!mu)
        return WF_EINVAL;
    return try_cas(M(mu), wf__owner_tag()) ? 0 : WF_EBUSY;
}

int wf_mutex_unlock(struct wf_mutex *mu)
{
    if (!mu)
        return WF_EINVAL;
    struct mutex *m = M(mu);
    /* relaxed: as in wf_mutex_lock; any other value means "not ours". */
    if (atomic_load_explicit(&m->owner, memory_order_relaxed) !=
        wf__owner_tag())
        return WF_EPERM;
    unlock_owned(m);
    return 0;
}

/* ---- condition variable -------------------------------------------------- */

int wf_cond_init(struct wf_cond *c)
{
    if (!c)
        return WF_EINVAL;
    memset(c, 0, sizeof *c);
    return 0;
}

int wf_cond_destroy(struct wf_cond *cv)
{
    if (!cv)
        return WF_EINVAL;
    struct cond *c = C(cv);
    wf__spin_lock(&c->lock);
    bool busy = !wf__waitq_empty(&c->q);
    wf__spin_unlock(&c->lock);
    if (busy)
        return WF_EBUSY;
    wf__waitq_drain(&c->lock, &c->q);
    return 0;
}

int wf_cond_wait(struct wf_cond *cv, struct wf_mutex *mu, int64_t deadline)
{
    if (!cv || !mu)
        return WF_EINVAL;
    struct cond *c = C(cv);
    struct mutex *m = M(mu);
    uint64_t me = wf__owner_tag();
    if (atomic_load_explicit(&m->owner, memory_order_relaxed) != me)
        return WF_EPERM;
    struct wf__wqrec r;
    int ierr = wf__wqrec_init(&r, WF__WHY_COND);
    if (ierr)
        return ierr;
    wf__spin_lock(&c->lock);
    wf__waitq_link(&c->lock, &c->q, &r, false);
    wf__spin_unlock(&c->lock);
    unlock_owned(m);
    wf__spin_lock(&c->lock);
    int err = wf__waitq_park(&c->lock, &c->q, &r, deadline, true);
    wf__wqrec_done(&c->q, &r);
    wf__spin_unlock(&c->lock);
    wf__wqrec_finish(&r);
    int lerr;
    do
        lerr = mutex_lock(m, me, WF_FOREVER, false);
    while (lerr == WF_ETIMEDOUT || lerr == WF_ECANCELED);
    return lerr ? lerr : err;
}

int wf_cond_signal(struct wf_cond *cv)
{
    if (!cv)
        return WF_EINVAL;
    struct cond *c = C(cv);
    wf__spin_lock(&c->lock);
    wf__waitq_wake_one(&c->q);
    wf__spin_unlock(&c->lock);
    return 0;
}

int wf_cond_broadcast(struct wf_cond *cv)
{
    if (!cv)
        return WF_EINVAL;
    struct cond *c = C(cv);
    wf__spin_lock(&c->lock);
    wf__waitq_wake_all(&c->q);
    wf__spin_unlock(&c->lock);
    return 0;
}
