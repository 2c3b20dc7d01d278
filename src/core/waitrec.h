/* SPDX-License-Identifier: MIT */
/*
 * src/core/waitrec.h - wait records: how any party of weft waits.
 *
 * One family, as Go's sudog or libdill's clauses:
 *
 *   struct wf__waiter  who waits: a fiber, or a plain thread's parker.
 *   struct wf__wait    one blocking call: who, the word it parks on, and
 *                      the hook shutdown uses to unlink it. A join, a
 *                      scope wait, a sync or channel operation is one.
 *   struct wf__clause  one place a wait is linked: a queue of one object.
 *                      A scope wait or a single channel operation has one;
 *                      a select has one per case, all pointing at its one
 *                      wait, whose state says which case completed.
 *   struct wf__clauseq a FIFO of clauses: a channel's send and receive
 *                      queues, a sync primitive's wait queue.
 *   struct wf__wqrec   the sync layer's wait queue record (sync_int.h): a
 *                      wait with its one clause and the hand-over fields
 *                      the primitives share.
 *   (chan.c's struct wait and struct op are a wait and a clause with the
 *   channel's fields: the element, the channel.)
 *
 * Parking. Every wait parks on its own `state` word
 * (wf__waiter_park_word: a fiber parks with wf__fiber_park_word, a plain
 * thread sleeps on its futex parker), never on a fiber's permit, which
 * belongs to wf_park/wf_unpark. A waker stores the word (seq_cst: the
 * waker's half of the park-on-word Dekker pair, sched.c), then kicks the
 * waiter (wf__waiter_kick). A park may return spuriously; every waiter
 * re-reads its word in a loop.
 *
 * Lifetime. A record lives on its waiter's stack. It is linked into an
 * object (a queue, a join slot, a scope's waiter list) only while the
 * waiter waits, and unlinked, under that object's lock, by the waker
 * that completes it or by the waiter itself (deadline, cancellation),
 * always before the waiter returns: nobody touches a record after that.
 * A waker that must wake after releasing the object's lock copies the
 * wf__waiter first (the waiter may return as soon as it sees the final
 * state; fibers are type-stable and thread parkers never freed, so a late
 * kick is a spurious wake-up). Shutdown included: wf_shutdown discards
 * fibers blocked in such waits, and their stacks with them, while the
 * objects they wait on (owned by the user) outlive the runtime; a fiber
 * whose record is linked into such an object points its `waiting` field
 * at the record's `ab`, and wf__fibers_abandon calls ab.unlink for each
 * fiber it discards, with the workers stopped, so that the object forgets
 * the record before the stack goes. `waiting` is cleared by the waiter,
 * not by its waker, so a record already completed and unlinked, whose
 * fiber has not run since, still reaches ab.unlink: the hook must look at
 * the record's state and leave one that is no longer linked alone (its
 * object may be gone already: chan.c's abandon). A plain thread is registered with
 * the runtime while it waits (wf__waiter_self / wf__wait_init), so that
 * shutdown can wake it (WF_ESHUTDOWN) and wait until it has left.
 *
 * Model: tests/model/park.pml checks a word wait linked under a lock
 * against its waker, a cancellation and the permit, including that no
 * waker writes a record after its waiter returned.
 */
#ifndef WEFT_CORE_WAITREC_H
#define WEFT_CORE_WAITREC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct wf__fcb;
struct wf__tparker;

/* What a parked fiber waits for: passed by every park, kept in the
 * fiber's control block while it is parked (`why`), for the tracer and
 * the fiber list. WF__WHY_NONE while it runs or is runnable. */
enum wf__why {
    WF__WHY_NONE,
    WF__WHY_PARK,  /* wf_park */
    WF__WHY_SLEEP, /* wf_sleep, wf_sleep_until */
    WF__WHY_JOIN,  /* wf_join */
    WF__WHY_SCOPE, /* a scope's wait or close */
    WF__WHY_CHAN,  /* a channel send, receive or select */
    WF__WHY_MUTEX,
    WF__WHY_RWLOCK,
    WF__WHY_COND,
    WF__WHY_SEM,
    WF__WHY_WAITGROUP,
    WF__WHY_BARRIER,
    WF__WHY_ONCE,
    WF__WHY_EVENT,
    WF__WHY_FUTURE, /* waiting for a future (wf_future_wait, await) */
    WF__WHY_IO,     /* descriptor readiness or an I/O completion */
    WF__WHY_TASKS,  /* a task group's wait */
    WF__WHY_COUNT
};

/* The reason's short name ("chan", "mutex", ...; "" for NONE). */
const char *wf__why_name(enum wf__why why);

/* Whether a wait for this reason can end only through another fiber or a
 * plain thread inside a weft call, never by itself (I/O, a timer, a pool
 * job, a signal, a future a callback completes): the deadlock watch
 * trusts these waits, for fibers and plain threads (inspect.c). */
static inline bool wf__why_sure(enum wf__why why)
{
    switch (why) {
    case WF__WHY_JOIN:
    case WF__WHY_SCOPE:
    case WF__WHY_CHAN:
    case WF__WHY_MUTEX:
    case WF__WHY_RWLOCK:
    case WF__WHY_COND:
    case WF__WHY_SEM:
    case WF__WHY_WAITGROUP:
    case WF__WHY_BARRIER:
    case WF__WHY_ONCE:
    case WF__WHY_EVENT:
        return true;
    default:
        return false;
    }
}

/* Who waits: a fiber, or a plain thread. */
struct wf__waiter {
    struct wf__fcb *fiber;
    struct wf__tparker *tp;
};

/* Called by wf_shutdown, with the workers stopped, for a fiber it
 * discards while its record is linked in an object the user owns: the
 * object forgets the record (and fixes any count it kept for it). */
struct wf__abandon {
    void (*unlink)(struct wf__abandon *a);
};

/* One blocking call; on its waiter's stack. */
struct wf__wait {
    struct wf__waiter w;
    atomic_int state;      /* the park word; its values are the user's */
    struct wf__abandon ab; /* set by waits linked in user-owned objects */
};

/* One place a wait is linked: a doubly linked queue under its object's
 * lock (a wf__clauseq, or a list of the object's own). Embedded in the
 * subsystem's own record of the place (a channel's op, a sync wait
 * queue's record), which a queue walker finds from it by container-of.
 * idx and queue fill what would be padding: 32 bytes in all. */
struct wf__clause {
    struct wf__wait *wait;
    struct wf__clause *prev, *next; /* the object's lock */
    int idx;       /* which case of its wait this is: the value a
                    * completion here publishes in wait->state (a select);
                    * 0 where a wait has one clause; fixed while linked */
    bool linked;   /* the object's lock */
    uint8_t queue; /* which of its object's queues (a channel: send or
                    * receive), for the object; fixed while linked */
};

_Static_assert(sizeof(void *) != 8 || sizeof(struct wf__clause) == 32,
               "a clause is four words: idx, linked and queue fill padding");

/* A FIFO of clauses, under its object's lock. */
struct wf__clauseq {
    struct wf__clause *head, *tail;
};

/* Link cl at the tail of q, or at its head (front). Object's lock held. */
static inline void wf__clauseq_link(struct wf__clauseq *q,
                                    struct wf__clause *cl, bool front)
{
    if (front) {
        cl->prev = NULL;
        cl->next = q->head;
        if (q->head)
            q->head->prev = cl;
        else
            q->tail = cl;
        q->head = cl;
    } else {
        cl->next = NULL;
        cl->prev = q->tail;
        if (q->tail)
            q->tail->next = cl;
        else
            q->head = cl;
        q->tail = cl;
    }
    cl->linked = true;
}

/* Unlink cl, which is linked in q; leaves its prev and next NULL. Object's
 * lock held. */
static inline void wf__clauseq_unlink(struct wf__clauseq *q,
                                      struct wf__clause *cl)
{
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        q->head = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    else
        q->tail = cl->prev;
    cl->prev = cl->next = NULL;
    cl->linked = false;
}

/* A plain thread's parker is allocated at its first wait and kept for the
 * thread's life: a blocking call that reaches wf__waiter_self from a plain
 * thread calls this first, before it changes anything, and fails with
 * WF_ENOMEM when it does. 0 for a fiber or a thread that has one. */
int wf__thread_parker_ready(void);
/* The calling context's waiter; NULL tp/fiber never both. A plain
 * thread is registered so that shutdown can wake it: pair with
 * wf__waiter_done. Needs wf__thread_parker_ready's success. */
void wf__waiter_self(struct wf__waiter *w);
/* Park on a word while *word == expect (fibers: wf__fiber_park_word;
 * plain threads: their futex parker). 0 when the word changed or maybe
 * spuriously (re-check it), -ETIMEDOUT, -ECANCELED (fibers; not with
 * _nocancel), -ESHUTDOWN (plain thread at runtime shutdown), -ENOMEM. */
int wf__waiter_park_word(struct wf__waiter *w, atomic_int *word, int expect,
                         int64_t deadline, enum wf__why why);
int wf__waiter_park_word_nocancel(struct wf__waiter *w, atomic_int *word,
                                  int expect, int64_t deadline,
                                  enum wf__why why);
/* The matching wake-up, after storing the word with seq_cst: kick the
 * fiber (no permit; to the run-next slot, or with _tail to the tail of
 * the queue) or wake the thread. */
void wf__waiter_kick(const struct wf__waiter *w);
void wf__waiter_kick_tail(const struct wf__waiter *w);
/* The wait is over (unregisters a plain thread's parker). */
void wf__waiter_done(struct wf__waiter *w);

/* Prepare a wait for the calling fiber (`self`, found by the caller) or,
 * when self is NULL, the calling plain thread, which is registered with
 * the runtime (a runtime mutex: call it before taking an object's lock,
 * on slow paths only). Returns 0, or WF_ESHUTDOWN for a plain thread when
 * no runtime runs (then nothing is to be finished). The state word is
 * left to the caller. */
int wf__wait_init_thread(struct wf__wait *wt);
static inline int wf__wait_init(struct wf__wait *wt, struct wf__fcb *self)
{
    wt->w.fiber = self; /* all a fiber's wait needs */
    wt->w.tp = NULL;
    return self ? 0 : wf__wait_init_thread(wt);
}
/* After the wait, no object lock held: unregister a plain thread. */
static inline void wf__wait_finish(struct wf__wait *wt)
{
    if (wt->w.tp)
        wf__waiter_done(&wt->w);
}

#endif
