/* SPDX-License-Identifier: MIT */
/*
 * Semaphore, wait group, barrier, once and one-shot event on the wait
 * queue (sync_int.h).
 *
 * Each keeps its state beside its queue under one spinlock, so the
 * condition a waiter checks and the queue it links on change together: a
 * waiter checks, links and unlocks in one critical section, and whoever
 * changes the condition wakes under the same lock, so no wake-up is lost
 * between the check and the park. The wait queue reports a wake that
 * races with a deadline or cancellation as success; each primitive then
 * re-checks (semaphore: a barger may have taken the unit, and the waiter
 * requeues at the head) or relies on the wake meaning "done" (wait group,
 * barrier, once, event: their wakes are wake_all at a state change that
 * cannot be undone for that waiter).
 *
 * Read outside the lock: the once's `state` and the event's `set` (fast
 * paths; see the orders at each access), and the barrier's `count`, which
 * is fixed by wf_barrier_init.
 *
 * Rejected: a lock-free counter for the semaphore (the futex semaphore
 * pattern). It would make uncontended post/wait cheaper, but a waiter must
 * then be told apart from a barger without the lock; measure first.
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "sync_int.h"
#include "weft/sync.h"

struct sem {
    int count; /* lock */
    struct wf__spin lock;
    struct wf__waitq q;
};
struct waitgroup {
    long count; /* lock */
    struct wf__spin lock;
    struct wf__waitq q;
};
struct barrier {
    int count;     /* participants per round; fixed */
    int arrived;   /* lock */
    unsigned gen;  /* rounds completed; lock */
    struct wf__spin lock;
    struct wf__waitq q;
};
struct once {
    atomic_int state; /* ONCE_*; written under lock */
    uint64_t runner;  /* tag of the caller running fn; lock */
    struct wf__spin lock;
    struct wf__waitq q;
};
struct event {
    atomic_bool set; /* written under lock */
    struct wf__spin lock;
    struct wf__waitq q;
};

enum { ONCE_NEW, ONCE_RUNNING, ONCE_DONE };

#define FITS(T, PUB)                                                       \
    _Static_assert(sizeof(struct T) <= sizeof(struct PUB) &&               \
                       _Alignof(struct T) <= 8,                            \
                   #PUB " storage too small")
FITS(sem, wf_sem);
FITS(waitgroup, wf_waitgroup);
FITS(barrier, wf_barrier);
FITS(once, wf_once);
FITS(event, wf_event);

#define IMPL(T, p) ((struct T *)(void *)(p)->opaque)

/* Common destroy: WF_EBUSY while someone is linked, else wait for woken
 * waiters to leave. */
static int destroy_q(struct wf__spin *lock, struct wf__waitq *q)
{
    wf__spin_lock(lock);
    bool busy = !wf__waitq_empty(q);
    wf__spin_unlock(lock);
    if (busy)
        return WF_EBUSY;
    wf__waitq_drain(lock, q);
    return 0;
}

/* ---- semaphore ------------------------------------------------------------- */

int wf_sem_init(struct wf_sem *s, int value)
{
    if (!s || value < 0)
        return WF_EINVAL;
    memset(s, 0, sizeof *s);
    IMPL(sem, s)->count = value;
    return 0;
}

int wf_sem_destroy(struct wf_sem *s)
{
    if (!s)
        return WF_EINVAL;
    return destroy_q(&IMPL(sem, s)->lock, &IMPL(sem, s)->q);
}

int wf_sem_trywait(struct wf_sem *sp)
{
    if (!sp)
        return WF_EINVAL;
    struct sem *s = IMPL(sem, sp);
    int err = WF_EAGAIN;
    wf__spin_lock(&s->lock);
    if (s->count > 0) {
        s->count--;
        err = 0;
    }
    wf__spin_unlock(&s->lock);
    return err;
}

int wf_sem_wait(struct wf_sem *sp, int64_t deadline)
{
    if (!sp)
        return WF_EINVAL;
    struct sem *s = IMPL(sem, sp);
    wf__coop_spend(wf__fiber_self());
    if (wf_sem_trywait(sp) == 0)
        return 0;
    struct wf__wqrec r;
    int ierr = wf__wqrec_init(&r, WF__WHY_SEM);
    if (ierr)
        return ierr;
    wf__spin_lock(&s->lock);
    int err = 0;
    bool front = false;
    while (s->count == 0) {
        err = wf__waitq_wait(&s->lock, &s->q, &r, deadline, front, true);
        if (err)
            break;
        front = true; /* woken but a barger took the unit: keep our place */
    }
    if (!err)
        s->count--;
    wf__wqrec_done(&s->q, &r);
    wf__spin_unlock(&s->lock);
    wf__wqrec_finish(&r);
    return err;
}

int wf_sem_post(struct wf_sem *sp)
{
    if (!sp)
        return WF_EINVAL;
    struct sem *s = IMPL(sem, sp);
    int err = 0;
    wf__spin_lock(&s->lock);
    if (s->count == INT_MAX) {
        err = WF_EAGAIN;
    } else {
        s->count++;
        wf__waitq_wake_one(&s->q);
    }
    wf__spin_unlock(&s->lock);
    return err;
}

int wf_sem_value(struct wf_sem *sp)
{
    if (!sp)
        return WF_EINVAL;
    struct sem *s = IMPL(sem, sp);
    wf__spin_lock(&s->lock);
    int v = s->count;
    wf__spin_unlock(&s->lock);
    return v;
}

/* ---- wait group ------------------------------------------------------------- */

int wf_waitgroup_init(struct wf_waitgroup *wg)
{
    if (!wg)
        return WF_EINVAL;
    memset(wg, 0, sizeof *wg);
    return 0;
}

int wf_waitgroup_destroy(struct wf_waitgroup *wg)
{
    if (!wg)
        return WF_EINVAL;
    return destroy_q(&IMPL(waitgroup, wg)->lock, &IMPL(waitgroup, wg)->q);
}

int wf_waitgroup_add(struct wf_waitgroup *wgp, int n)
{
    if (!wgp)
        return WF_EINVAL;
    struct waitgroup *wg = IMPL(waitgroup, wgp);
    int err = 0;
    wf__spin_lock(&wg->lock);
    long v = wg->count + n;
    if (v < 0 || v > INT_MAX) {
        err = WF_EINVAL;
    } else {
        wg->count = v;
        if (v == 0)
            wf__waitq_wake_all(&wg->q);
    }
    wf__spin_unlock(&wg->lock);
    return err;
}

int wf_waitgroup_done(struct wf_waitgroup *wg)
{
    return wf_waitgroup_add(wg, -1);
}

int wf_waitgroup_wait(struct wf_waitgroup *wgp, int64_t deadline)
{
    if (!wgp)
        return WF_EINVAL;
    struct waitgroup *wg = IMPL(waitgroup, wgp);
    wf__spin_lock(&wg->lock);
    bool zero = wg->count == 0;
    wf__spin_unlock(&wg->lock);
    if (zero)
        return 0;
    struct wf__wqrec r;
    int ierr = wf__wqrec_init(&r, WF__WHY_WAITGROUP);
    if (ierr)
        return ierr;
    int err = 0;
    wf__spin_lock(&wg->lock);
    /* Woken only by the add that reached zero: a wake means success. */
    if (wg->count != 0)
        err = wf__waitq_wait(&wg->lock, &wg->q, &r, deadline, false, true);
    wf__wqrec_done(&wg->q, &r);
    wf__spin_unlock(&wg->lock);
    wf__wqrec_finish(&r);
    return err;
}

/* ---- barrier ----------------------------------------------------------------- */

int wf_barrier_init(struct wf_barrier *bp, int count)
{
    if (!bp || count < 1)
        return WF_EINVAL;
    memset(bp, 0, sizeof *bp);
    IMPL(barrier, bp)->count = count;
    return 0;
}

int wf_barrier_destroy(struct wf_barrier *bp)
{
    if (!bp)
        return WF_EINVAL;
    return destroy_q(&IMPL(barrier, bp)->lock, &IMPL(barrier, bp)->q);
}

/* The last arrival completes the round. Lock held. */
static void serial_arrival(struct barrier *b)
{
    b->arrived = 0;
    b->gen++;
    wf__waitq_wake_all(&b->q);
}

/* Shutdown discarded a fiber that had arrived in the current round
 * (r->tag: the round it arrived in): the round goes on without it. */
static void arrival_abandoned(struct wf__wqrec *r)
{
    struct barrier *b =
        (struct barrier *)((char *)r->q - offsetof(struct barrier, q));
    if (b->gen == (unsigned)r->tag)
        b->arrived--;
}

int wf_barrier_wait(struct wf_barrier *bp, int64_t deadline)
{
    if (!bp)
        return WF_EINVAL;
    struct barrier *b = IMPL(barrier, bp);
    if (b->count < 1)
        return WF_EINVAL; /* zero storage: never initialised */
    wf__spin_lock(&b->lock);
    if (b->arrived + 1 == b->count) {
        serial_arrival(b);
        wf__spin_unlock(&b->lock);
        return 1;
    }
    wf__spin_unlock(&b->lock);
    struct wf__wqrec r;
    int ierr = wf__wqrec_init(&r, WF__WHY_BARRIER);
    if (ierr)
        return ierr;
    int ret;
    r.abandoned = arrival_abandoned;
    wf__spin_lock(&b->lock);
    unsigned gen = b->gen;
    r.tag = gen;
    if (b->arrived + 1 == b->count) { /* the others came meanwhile */
        serial_arrival(b);
        ret = 1;
    } else {
        b->arrived++;
        /* Woken only by the last arrival of our round. */
        ret = wf__waitq_wait(&b->lock, &b->q, &r, deadline, false, true);
        if (ret != 0) {
            if (b->gen == gen)
                b->arrived--; /* withdraw: the round goes on without us */
            else
                ret = 0;
        }
    }
    wf__wqrec_done(&b->q, &r);
    wf__spin_unlock(&b->lock);
    wf__wqrec_finish(&r);
    return ret;
}

/* ---- once --------------------------------------------------------------------- */

int wf_once(struct wf_once *op, void (*fn)(void))
{
    if (!op || !fn)
        return WF_EINVAL;
    struct once *o = IMPL(once, op);
    /* acquire: pairs with the release store of ONCE_DONE, so fn's effects
     * are visible to a caller that returns here. */
    if (atomic_load_explicit(&o->state, memory_order_acquire) == ONCE_DONE)
        return 0;
    uint64_t me = wf__owner_tag();
    wf__spin_lock(&o->lock);
    /* relaxed: written only under the lock we hold. */
    int st = atomic_load_explicit(&o->state, memory_order_relaxed);
    if (st == ONCE_NEW) {
        atomic_store_explicit(&o->state, ONCE_RUNNING, memory_order_relaxed);
        o->runner = me;
        wf__spin_unlock(&o->lock);
        bool plain = !wf__fiber_self(); /* fibers waiting on it are stuck
                                         * only if this thread is too */
        if (plain)
            wf__outside_begin();
        fn();
        if (plain)
            wf__outside_end();
        wf__spin_lock(&o->lock);
        /* release: pairs with the acquire load of the fast path. */
        atomic_store_explicit(&o->state, ONCE_DONE, memory_order_release);
        wf__waitq_wake_all(&o->q);
        wf__spin_unlock(&o->lock);
        return 0;
    }
    if (st == ONCE_DONE) {
        wf__spin_unlock(&o->lock);
        return 0;
    }
    if (o->runner == me) {
        wf__spin_unlock(&o->lock);
        return WF_EDEADLK;
    }
    wf__spin_unlock(&o->lock);
    struct wf__wqrec r;
    int ierr = wf__wqrec_init(&r, WF__WHY_ONCE);
    if (ierr)
        return ierr;
    int err = 0;
    wf__spin_lock(&o->lock);
    /* Woken only when fn has returned. */
    if (atomic_load_explicit(&o->state, memory_order_relaxed) != ONCE_DONE)
        err = wf__waitq_wait(&o->lock, &o->q, &r, WF_FOREVER, false, true);
    wf__wqrec_done(&o->q, &r);
    wf__spin_unlock(&o->lock);
    wf__wqrec_finish(&r);
    return err;
}

/* ---- event ---------------------------------------------------------------------- */

int wf_event_init(struct wf_event *e)
{
    if (!e)
        return WF_EINVAL;
    memset(e, 0, sizeof *e);
    return 0;
}

int wf_event_destroy(struct wf_event *e)
{
    if (!e)
        return WF_EINVAL;
    return destroy_q(&IMPL(event, e)->lock, &IMPL(event, e)->q);
}

int wf_event_set(struct wf_event *ep)
{
    if (!ep)
        return WF_EINVAL;
    struct event *e = IMPL(event, ep);
    wf__spin_lock(&e->lock);
    /* relaxed: written only under the lock we hold. */
    if (!atomic_load_explicit(&e->set, memory_order_relaxed)) {
        /* release: pairs with the acquire in wf_event_is_set / the fast
         * path of wf_event_wait, so the setter's writes are seen. */
        atomic_store_explicit(&e->set, true, memory_order_release);
        wf__waitq_wake_all(&e->q);
    }
    wf__spin_unlock(&e->lock);
    return 0;
}

bool wf_event_is_set(struct wf_event *ep)
{
    if (!ep)
        return false;
    /* acquire: pairs with the release store in wf_event_set. */
    return atomic_load_explicit(&IMPL(event, ep)->set, memory_order_acquire);
}

int wf_event_wait(struct wf_event *ep, int64_t deadline)
{
    if (!ep)
        return WF_EINVAL;
    struct event *e = IMPL(event, ep);
    if (wf_event_is_set(ep))
        return 0;
    struct wf__wqrec r;
    int ierr = wf__wqrec_init(&r, WF__WHY_EVENT);
    if (ierr)
        return ierr;
    int err = 0;
    wf__spin_lock(&e->lock);
    /* Woken only by the set. */
    if (!atomic_load_explicit(&e->set, memory_order_relaxed))
        err = wf__waitq_wait(&e->lock, &e->q, &r, deadline, false, true);
    wf__wqrec_done(&e->q, &r);
    wf__spin_unlock(&e->lock);
    wf__wqrec_finish(&r);
    return err;
}
