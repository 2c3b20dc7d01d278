/* SPDX-License-Identifier: MIT */
/*
 * Reader-writer lock on two wait queues (sync_int.h), one for readers and
 * one for writers, under one spinlock.
 *
 * Policy (phase-fair, so neither side starves): a reader enters at once
 * only if no writer holds the lock and none waits; otherwise it queues. A
 * writer enters if the lock is free. When a writer unlocks, every reader
 * waiting at that moment is admitted as one batch (ahead of the writers
 * that wait); when the last reader unlocks, the oldest writer is admitted.
 * So a stream of readers cannot starve a writer (new readers queue behind
 * it), and a stream of writers cannot starve readers (each write unlock
 * lets the waiting readers in).
 *
 * Hand-over instead of wake-and-retry: the unlocker updates the state on
 * the waiter's behalf (readers += batch, or writer = the waiter's tag)
 * and pops its record with `granted` set, all under the lock; a popped
 * record is always granted here, so the wait queue's rule (a wake that
 * races with a deadline or cancellation counts as success) means a
 * granted lock is never dropped on the floor. A waiter that gives up was
 * still linked and was granted nothing; a writer that gives up may have
 * been what kept readers queued, so it admits them if no writer is left.
 *
 * Every field is protected by `lock`; no lock-free fast path (measure
 * first: the uncontended cost is one spinlock round trip).
 */
#include <stddef.h>
#include <string.h>

#include "sync_int.h"
#include "weft/sync.h"

struct rwlock {
    int readers;      /* readers holding it; lock */
    int wwait;        /* writers queued; lock */
    uint64_t writer;  /* tag of the writer holding it, or 0; lock */
    struct wf__spin lock;
    struct wf__waitq rq, wq;
};
_Static_assert(sizeof(struct rwlock) <= WF_RWLOCK_SIZE &&
                   _Alignof(struct rwlock) <= 8,
               "wf_rwlock storage too small");

static struct rwlock *RW(struct wf_rwlock *rw)
{
    return (struct rwlock *)(void *)rw->opaque;
}

int wf_rwlock_init(struct wf_rwlock *rw)
{
    if (!rw)
        return WF_EINVAL;
    memset(rw, 0, sizeof *rw);
    return 0;
}

int wf_rwlock_destroy(struct wf_rwlock *rwp)
{
    if (!rwp)
        return WF_EINVAL;
    struct rwlock *rw = RW(rwp);
    wf__spin_lock(&rw->lock);
    bool busy = rw->readers || rw->writer || !wf__waitq_empty(&rw->rq) ||
                !wf__waitq_empty(&rw->wq);
    wf__spin_unlock(&rw->lock);
    if (busy)
        return WF_EBUSY;
    wf__waitq_drain(&rw->lock, &rw->rq);
    wf__waitq_drain(&rw->lock, &rw->wq);
    return 0;
}

/* Admit every queued reader as one batch. Lock held, no writer. */
static void admit_readers(struct rwlock *rw)
{
    struct wf__wqrec *r;
    while ((r = wf__waitq_pop(&rw->rq))) {
        rw->readers++;
        r->granted = true;
        wf__waiter_kick(&r->wt.w);
    }
}

/* Hand the lock to the oldest writer, if any. Lock held, lock free. */
static bool admit_writer(struct rwlock *rw)
{
    struct wf__wqrec *r = wf__waitq_pop(&rw->wq);
    if (!r)
        return false;
    rw->wwait--;
    rw->writer = r->tag;
    r->granted = true;
    wf__waiter_kick(&r->wt.w);
    return true;
}

static bool read_ok(const struct rwlock *rw)
{
    return !rw->writer && rw->wwait == 0;
}

/* Take the lock for reading / writing if that is allowed now. Lock held. */
static bool try_read(struct rwlock *rw)
{
    if (!read_ok(rw))
        return false;
    rw->readers++;
    return true;
}

static bool try_write(struct rwlock *rw, uint64_t me)
{
    if (rw->writer || rw->readers)
        return false;
    rw->writer = me;
    return true;
}

int wf_rwlock_tryrdlock(struct wf_rwlock *rwp)
{
    if (!rwp)
        return WF_EINVAL;
    struct rwlock *rw = RW(rwp);
    wf__spin_lock(&rw->lock);
    int err = try_read(rw) ? 0 : WF_EBUSY;
    wf__spin_unlock(&rw->lock);
    return err;
}

int wf_rwlock_rdlock(struct wf_rwlock *rwp, int64_t deadline)
{
    if (!rwp)
        return WF_EINVAL;
    struct rwlock *rw = RW(rwp);
    uint64_t me = wf__owner_tag();
    wf__spin_lock(&rw->lock);
    if (rw->writer == me) {
        wf__spin_unlock(&rw->lock);
        return WF_EDEADLK;
    }
    if (try_read(rw)) {
        wf__spin_unlock(&rw->lock);
        return 0;
    }
    wf__spin_unlock(&rw->lock);
    struct wf__wqrec r;
    int err = wf__wqrec_init(&r, WF__WHY_RWLOCK);
    if (err)
        return err;
    wf__spin_lock(&rw->lock);
    if (!try_read(rw))
        err = wf__waitq_wait(&rw->lock, &rw->rq, &r, deadline, false, true);
    WF_ASSERT(err != 0 || !r.woken || r.granted);
    wf__wqrec_done(&rw->rq, &r);
    wf__spin_unlock(&rw->lock);
    wf__wqrec_finish(&r);
    return err;
}

int wf_rwlock_trywrlock(struct wf_rwlock *rwp)
{
    if (!rwp)
        return WF_EINVAL;
    struct rwlock *rw = RW(rwp);
    uint64_t me = wf__owner_tag();
    wf__spin_lock(&rw->lock);
    int err = try_write(rw, me) ? 0 : WF_EBUSY;
    wf__spin_unlock(&rw->lock);
    return err;
}

/* Shutdown discarded a queued writer: it is counted in wwait. (Every
 * waiter left at shutdown is a discarded fiber: nobody to admit.) */
static void writer_abandoned(struct wf__wqrec *r)
{
    struct rwlock *rw =
        (struct rwlock *)((char *)r->q - offsetof(struct rwlock, wq));
    rw->wwait--;
}

int wf_rwlock_wrlock(struct wf_rwlock *rwp, int64_t deadline)
{
    if (!rwp)
        return WF_EINVAL;
    struct rwlock *rw = RW(rwp);
    uint64_t me = wf__owner_tag();
    wf__spin_lock(&rw->lock);
    if (rw->writer == me) {
        wf__spin_unlock(&rw->lock);
        return WF_EDEADLK;
    }
    if (try_write(rw, me)) {
        wf__spin_unlock(&rw->lock);
        return 0;
    }
    wf__spin_unlock(&rw->lock);
    struct wf__wqrec r;
    int err = wf__wqrec_init(&r, WF__WHY_RWLOCK);
    if (err)
        return err;
    r.tag = me;
    r.abandoned = writer_abandoned;
    wf__spin_lock(&rw->lock);
    if (!try_write(rw, me)) {
        rw->wwait++;
        err = wf__waitq_wait(&rw->lock, &rw->wq, &r, deadline, false, true);
        if (err) {
            /* Not granted (a grant is a wake, reported as 0). We may have
             * been what held the readers back. */
            rw->wwait--;
            if (read_ok(rw))
                admit_readers(rw);
        }
    }
    wf__wqrec_done(&rw->wq, &r);
    wf__spin_unlock(&rw->lock);
    wf__wqrec_finish(&r);
    return err;
}

int wf_rwlock_unlock(struct wf_rwlock *rwp)
{
    if (!rwp)
        return WF_EINVAL;
    struct rwlock *rw = RW(rwp);
    uint64_t me = wf__owner_tag();
    int err = 0;
    wf__spin_lock(&rw->lock);
    if (rw->writer) {
        if (rw->writer != me) {
            err = WF_EPERM;
        } else {
            rw->writer = 0;
            if (!wf__waitq_empty(&rw->rq))
                admit_readers(rw);
            else
                admit_writer(rw);
        }
    } else if (rw->readers > 0) {
        if (--rw->readers == 0)
            admit_writer(rw);
    } else {
        err = WF_EPERM;
    }
    wf__spin_unlock(&rw->lock);
    return err;
}
