/* SPDX-License-Identifier: MIT */
/*
 * Channels and select (weft/chan.h).
 *
 * Design. A channel is one heap block: a spinlock, a ring buffer of
 * `cap` elements, and two FIFO queues of blocked operations (senders,
 * receivers). Every decision about a channel (is it closed, what is
 * buffered, who is queued, which queued operation completes) is made under
 * its lock. A blocked operation is a wait record (core/waitrec.h, which
 * states its lifetime) with its clauses: a `struct wait` (a wf__wait) on
 * its caller's stack, and a `struct op` (a wf__clause with the element
 * and the channel) linked into one channel queue (a wf__clauseq); a
 * select links one op per case, all pointing at the one `struct wait` of
 * the call.
 *
 * Completing a blocked operation. Whoever completes it (a sender finding a
 * queued receiver, a receiver finding a queued sender or making room in
 * the buffer, a closer) pops its `op` under the channel's lock and claims
 * its `wait`. A select's wait is claimed with a CAS WAITING -> CLAIMED:
 * only one claim can succeed, so a select blocked on many channels
 * completes exactly one case and is woken once; an `op` whose claim fails
 * belongs to a select that already completed elsewhere or gave up, and is
 * dropped from the queue. A single send or receive needs no CAS (see
 * Giving up). The completer then copies the element, stores the result,
 * copies the waiter's identity (fiber or thread parker) to its own stack
 * and publishes the case index with a seq_cst store; from that moment the
 * waiter may return and its stack is gone, so the wake-up is sent from the
 * copy, after the channel's lock is released. A late wake-up of a fiber or
 * thread that has moved on is spurious, which every park tolerates
 * (fibers are type-stable, thread parkers are never freed). A sender or
 * receiver completes under the lock the one op it claimed; a closer claims
 * every queued op under the lock into a list of its own, and completes and
 * wakes them one by one after releasing it (a claimed wait cannot go away:
 * see Claimed), so that no wake-up, possibly a futex call, runs under the
 * lock however long the list.
 *
 * Parking. A fiber parks on its wait's `state` word
 * (wf__fiber_park_word), not on its permit: the completer's seq_cst store
 * of the state and the parker's store of PARKING form the Dekker pair, and
 * the wake-up is a kick. That saves the two permit exchanges per blocked
 * operation and leaves wf_park/wf_unpark's permit alone. When the waiter
 * is already fully parked (off its stack), the completer takes it outright
 * (wf__fiber_claim_parked: PARKED -> CLAIMED) and queues it itself after
 * the lock is released; the state store then needs no Dekker order, which
 * saves one more locked instruction per hand-over. Plain threads sleep on
 * their futex parker.
 *
 * Giving up. A single operation whose park reports a deadline,
 * cancellation or shutdown takes the channel's lock: if its `op` is still
 * linked nobody completed it, and it unlinks it and leaves; if not, a
 * completer popped it, and either finished under that lock (its result is
 * there) or, being a closer, marked it CLAIMED under that lock and will
 * complete it after (see Claimed). A select CASes WAITING -> GAVE_UP; if
 * that fails a completer claimed it first, and the select reports the
 * completion instead. Then, for every case still linked, it takes that
 * channel's lock and unlinks its `op` (`linked` is only read and written
 * under the channel's lock; a popped `op` is never touched by the
 * completer once it has published the final state).
 *
 * Claimed. A wait in CLAIMED belongs to its completer, which still writes
 * into the waiter's stack and will publish the final state; the waiter
 * must not leave before. The window is usually a few instructions, but a
 * completer may copy an element of up to WF_CHAN_ELEM_MAX bytes or be
 * descheduled, so the waiter spins only briefly and then parks on the
 * state word with expect CLAIMED, a park that neither its deadline nor
 * cancellation (nor, for a plain thread, shutdown) ends: the operation has
 * happened. The completer's final store and kick, or its claim of the
 * parked fiber, wakes it.
 *
 * Select. It locks every distinct channel of its cases in address order
 * (the global lock order for channels, so two selects never deadlock),
 * looks at each case, and picks one ready case uniformly at random
 * (reservoir sampling over the ready ones, so a case's chance does not
 * depend on its position). If none is ready it links one `op` per case and
 * unlocks them all: the check and the linking happen under all the locks,
 * so a completion cannot slip in between. Queued `op`s of finished waits
 * are pruned whenever a queue is examined.
 *
 * A case that is ready only because another select waits on the other
 * side is ready by a peek (a relaxed load of that select's state): that
 * select can be claimed through another channel, or give up, without this
 * channel's lock, so the claim that follows may fail. Then the select
 * looks at its cases again; each failed claim has unlinked a dead `op`,
 * and nobody links new ones while all the locks are held, so the retries
 * end. A select never reports a case it did not complete.
 *
 * Invariants (lock held): a buffered channel with waiting receivers has an
 * empty buffer; one with waiting senders has a full buffer; a closed
 * channel has no waiting senders, and no waiting receivers once drained.
 *
 * Orders: the spinlock's acquire/release orders all channel state; `state`
 * of a wait is the one field read outside any lock (see `complete` and
 * `wait_done`). `count` is an atomic only so wf_chan_len can read it
 * without the lock (relaxed: a snapshot).
 *
 * Rejected: waking from under the lock, as the sync wait queue does. The
 * waiter would then have to take the channel's lock again after waking to
 * know the completer is done with its record, an extra trip of the lock's
 * cache line between workers on every blocked operation.
 *
 * Model: tests/model/chan.pml (spin): a select on two receives, a select
 * with a send and a deadline, a single send, a closer of both channels;
 * unbuffered, or one channel with one slot. With -DOLD_SELECT it is the protocol before the look-again
 * fix, and spin finds the select reporting a case it did not complete;
 * as the code is now it verifies. q_ready's relaxed peek is modelled as
 * a possibly stale read (the current value or WAITING); parking on the
 * state word is abstracted (tests/model/park.pml checks it); the
 * invariants below are asserted at every unlock. Left out: buffers of
 * more than one slot, plain-thread waiters, claim_parked, shutdown's
 * abandon hook, more than two cases.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/fault.h"
#include "common/atomic.h"
#include "common/copy.h"
#include "core/core_int.h"
#include "core/waitrec.h"
#include "weft/chan.h"

struct wf_chan {
    struct wf__spin lock;
    atomic_bool closed;       /* written under lock; wf_chan_closed reads it */
    size_t esz;               /* element size; fixed */
    uint32_t magic;           /* LIVE until the last release; see check() */
    size_t cap;               /* buffer slots; fixed */
    size_t head;              /* oldest buffered element; lock */
    atomic_size_t count;      /* buffered elements; written under lock */
    struct wf__clauseq sendq; /* of struct op's clauses; lock */
    struct wf__clauseq recvq; /* of struct op's clauses; lock */
    atomic_long refs;
    unsigned char *buf;       /* cap * esz bytes, after the struct */
};

/* A live channel's magic, and what the last release leaves. Offset 16, out
 * of the way of what malloc writes into a freed chunk, so that a channel
 * used after its last release is caught as long as its memory has not been
 * handed out again (ASan catches it always). */
#define LIVE 0x6368616eu /* "chan" */
#define DEAD 0xdeadc4a2u
_Static_assert(offsetof(struct wf_chan, magic) >= 16, "magic past free()'s words");

/* Every entry point: a use after the last release aborts, naming the call. */
static inline void check(const struct wf_chan *c, const char *call)
{
    if (__builtin_expect(c->magic != LIVE, 0))
        wf__misuse(call, c->magic == DEAD
                             ? "channel used after its last wf_chan_release"
                             : "not a channel made by wf_chan_create");
}

enum {
    WAITING = -1, /* linked, nobody has completed it */
    CLAIMED = -2, /* a completer is filling it in */
    GAVE_UP = -3, /* its waiter left (deadline, cancellation, shutdown) */
};

/* One blocking call: a send, a receive or a select; a wait record
 * (core/waitrec.h) on its caller's stack. wt.state: WAITING, CLAIMED,
 * GAVE_UP, or the case index; wt.ab unlinks a discarded fiber's ops. */
struct wait {
    struct wf__wait wt;
    int result;           /* 0 or WF_EPIPE; written before state's store */
    bool multi;           /* a select: its ops sit on several channels */
    struct op *ops;       /* its ops, for shutdown (fibers) */
    size_t nops;
};

/* One case of a blocking call, linked in one channel's queue: the wait's
 * clause on that channel (core/waitrec.h). cl.wait is the call's
 * wait.wt; cl.idx the case index reported to the waiter; cl.queue SENDQ
 * or RECVQ; cl.prev, cl.next and cl.linked are c->lock's. 48 bytes, as
 * before the clause was shared. */
struct op {
    struct wf__clause cl;
    struct wf_chan *c;
    void *elem; /* source (send) or destination (receive) */
};

_Static_assert(sizeof(void *) != 8 || sizeof(struct op) == 48,
               "an op is six words, as before it embedded the clause");

enum { RECVQ = 0, SENDQ = 1 }; /* struct op's cl.queue */

/* The op whose clause cl is (every clause in a channel's queue is). */
static inline struct op *op_of(struct wf__clause *cl)
{
    return (struct op *)((char *)cl - offsetof(struct op, cl));
}

/* The blocking call an op belongs to. */
static inline struct wait *wait_of(const struct op *o)
{
    return (struct wait *)((char *)o->cl.wait - offsetof(struct wait, wt));
}

static inline struct wf__clauseq *queue_of(struct wf_chan *c, bool send)
{
    return send ? &c->sendq : &c->recvq;
}

/* A wake-up to send once the lock is released. */
struct wake {
    struct wf__waiter w;
    bool pending;
    bool claimed; /* w.fiber was parked and is ours to queue */
};

/* ---- queues ------------------------------------------------------------------ */

static void op_link(struct op *o)
{
    wf__clauseq_link(queue_of(o->c, o->cl.queue == SENDQ), &o->cl, false);
}

static void op_unlink(struct op *o)
{
    wf__clauseq_unlink(queue_of(o->c, o->cl.queue == SENDQ), &o->cl);
}

/* Pop the oldest queued op whose wait this caller could claim, claiming
 * it; ops of finished waits met on the way are dropped. NULL if none.
 * A single operation's wait needs no CAS: it gives up only under this
 * lock, after unlinking, so while linked it is WAITING and ours. */
static struct op *q_claim(struct wf__clauseq *q)
{
    struct wf__clause *cl;
    while ((cl = q->head)) {
        wf__clauseq_unlink(q, cl);
        struct op *o = op_of(cl);
        if (!wait_of(o)->multi)
            return o;
        int expect = WAITING;
        /* acquire: orders the claim before the copies into the waiter's
         * memory that follow it (the waiter's own writes were published
         * by the lock when it linked). */
        if (atomic_compare_exchange_strong_explicit(
                &cl->wait->state, &expect, CLAIMED, memory_order_acquire,
                memory_order_relaxed))
            return o;
    }
    return NULL;
}

/* Whether the queue holds an op that could be claimed now; prunes ops of
 * finished waits from its head. */
static bool q_ready(struct wf__clauseq *q)
{
    struct wf__clause *cl;
    while ((cl = q->head)) {
        /* relaxed: a hint; q_claim decides with the CAS. */
        if (atomic_load_explicit(&cl->wait->state, memory_order_relaxed) ==
            WAITING)
            return true;
        wf__clauseq_unlink(q, cl);
    }
    return false;
}

/* The claimed op is done with `result`: publish it and note whom to wake.
 * After the store the waiter may return: touch nothing of it. */
static void complete(struct op *o, int result, struct wake *wk)
{
    struct wait *w = wait_of(o);
    wk->w = w->wt.w;
    wk->pending = true;
    w->result = result;
    if (w->wt.w.fiber && wf__fiber_claim_parked(w->wt.w.fiber)) {
        /* The fiber is off its stack and now ours to queue: it reads the
         * state only after wf__fiber_run_claimed (send_wake), whose
         * release store of its wstate publishes this one. relaxed would
         * do; release keeps the element copy and `result` ordered here
         * too. */
        wk->claimed = true;
        atomic_store_explicit(&w->wt.state, o->cl.idx, memory_order_release);
        return;
    }
    /* seq_cst: it releases the element copy and `result` to the waiter's
     * acquire load in wait_done, and it is the waker's half of the Dekker
     * pair of wf__fiber_park_word (store the word, then look at wstate). */
    wk->claimed = false;
    atomic_store_explicit(&w->wt.state, o->cl.idx, memory_order_seq_cst);
}

/* The wake-up goes without the permit (a kick): the waiter parks on its
 * `state` word, so a user's wf_unpark is left alone. */
static void send_wake(struct wake *wk)
{
    if (!wk->pending)
        return;
    if (wk->claimed)
        wf__fiber_run_claimed(wk->w.fiber, true);
    else
        wf__waiter_kick(&wk->w);
}

/* ---- buffer -------------------------------------------------------------------- */

static inline unsigned char *slot(struct wf_chan *c, size_t i)
{
    i += c->head;
    if (i >= c->cap)
        i -= c->cap;
    return c->buf + i * c->esz;
}

static inline size_t count_of(const struct wf_chan *c)
{
    /* relaxed: written only under the lock we hold, or a snapshot. */
    return atomic_load_explicit(&c->count, memory_order_relaxed);
}

static inline void set_count(struct wf_chan *c, size_t n)
{
    atomic_store_explicit(&c->count, n, memory_order_relaxed);
}

/* Under the lock, which orders it (relaxed). */
static inline bool is_closed(const struct wf_chan *c)
{
    return atomic_load_explicit(&c->closed, memory_order_relaxed);
}

/* An element copy; nothing for 0-byte elements (whose source may be
 * NULL) or a NULL destination (a receive that discards). */
static inline void copy(void *dst, const void *src, size_t n)
{
    if (n && dst)
        wf__copy_elem(dst, src, n);
}

/* ---- the operations, lock held ---------------------------------------------- */

/* Send now if possible: 0 sent, WF_EPIPE closed, WF_EAGAIN must wait. */
static int send_locked(struct wf_chan *c, const void *elem, struct wake *wk)
{
    if (is_closed(c))
        return WF_EPIPE;
    struct op *r = q_claim(&c->recvq);
    if (r) {
        copy(r->elem, elem, c->esz);
        complete(r, 0, wk);
        return 0;
    }
    size_t n = count_of(c);
    if (n < c->cap) {
        copy(slot(c, n), elem, c->esz);
        set_count(c, n + 1);
        return 0;
    }
    return WF_EAGAIN;
}

/* Receive now if possible: 0 received, WF_EPIPE closed and drained,
 * WF_EAGAIN must wait. */
static int recv_locked(struct wf_chan *c, void *elem, struct wake *wk)
{
    size_t n = count_of(c);
    if (n > 0) {
        copy(elem, slot(c, 0), c->esz);
        c->head = c->head + 1 == c->cap ? 0 : c->head + 1;
        n--;
        /* The buffer was full if a sender waits: its element moves in. */
        struct op *s = q_claim(&c->sendq);
        if (s) {
            copy(slot(c, n), s->elem, c->esz);
            n++;
            complete(s, 0, wk);
        }
        set_count(c, n);
        return 0;
    }
    struct op *s = q_claim(&c->sendq);
    if (s) {
        copy(elem, s->elem, c->esz);
        complete(s, 0, wk);
        return 0;
    }
    return is_closed(c) ? WF_EPIPE : WF_EAGAIN;
}

/* Whether a send (a receive) on c could complete now. */
static bool send_ready(struct wf_chan *c)
{
    return is_closed(c) || count_of(c) < c->cap || q_ready(&c->recvq);
}

static bool recv_ready(struct wf_chan *c)
{
    return is_closed(c) || count_of(c) > 0 || q_ready(&c->sendq);
}

/* ---- waiting --------------------------------------------------------------------- */

static bool passed(int64_t deadline)
{
    return deadline != WF_FOREVER && wf_now() >= deadline;
}

/* A completer owns w (CLAIMED) and will publish the final state: usually
 * after a few instructions, but it may be copying a large element, or be
 * descheduled. Spin a little (wf__backoff_spin: less while the machine is
 * oversubscribed), then park on the word; the completer's final
 * store and kick (or its claim of our parked fiber) wakes us. The deadline
 * and cancellation no longer count: the operation happened. Out of line,
 * so that the common paths that inline wait_done stay small. */
static __attribute__((noinline)) int wait_claimed(struct wait *w)
{
    struct wf__backoff b = WF__BACKOFF_INIT;
    for (;;) {
        /* acquire: pairs with the store in complete(). */
        int s = atomic_load_explicit(&w->wt.state, memory_order_acquire);
        if (s != CLAIMED) {
            WF_ASSERT(s >= 0); /* CLAIMED only ever becomes a case index */
            return s;
        }
        if (!wf__backoff_spin(&b))
            wf__waiter_park_word_nocancel(&w->wt.w, &w->wt.state, CLAIMED,
                                          WF_FOREVER, WF__WHY_CHAN);
    }
}

/* Park until a completer finishes w, or the wait ends otherwise. Returns
 * the completed case index (>= 0) or the error that ended the wait, when
 * no case completed. A single operation (`single`) is then unlinked; a
 * select's wait is GAVE_UP and the caller unlinks its ops. */
static int wait_done(struct wait *w, struct op *single, int64_t deadline)
{
    for (;;) {
        /* acquire: pairs with the store in complete(). */
        int s = atomic_load_explicit(&w->wt.state, memory_order_acquire);
        if (s >= 0)
            return s;
        if (s == CLAIMED)
            return wait_claimed(w);
        /* A fiber parks straight through the scheduler: one call less
         * than through wf__waiter_park_word, on every blocked operation. */
        int rc = w->wt.w.fiber
                     ? wf__fiber_park_word(w->wt.w.fiber, &w->wt.state, WAITING,
                                           deadline, WF__WHY_CHAN)
                     : wf__waiter_park_word(&w->wt.w, &w->wt.state, WAITING,
                                            deadline, WF__WHY_CHAN);
        if (rc == 0)
            continue;
        if (single) {
            /* Give up under the lock: still linked means nobody completed
             * it; unlinked means a completer took it, and either finished
             * under this lock or (a closer) left it CLAIMED, so the loop
             * finds the final state or waits for it. */
            wf__spin_lock(&single->c->lock);
            bool linked = single->cl.linked;
            if (linked)
                op_unlink(single);
            wf__spin_unlock(&single->c->lock);
            if (linked)
                return rc;
            continue;
        }
        int expect = WAITING;
        /* relaxed: on failure a completer's claim won, and the loop reads
         * its published state again with acquire. */
        if (atomic_compare_exchange_strong_explicit(
                &w->wt.state, &expect, GAVE_UP, memory_order_relaxed,
                memory_order_relaxed))
            return rc;
    }
}

/* Unlink o if it is still queued (its wait is finished). */
static void op_cancel(struct op *o)
{
    wf__spin_lock(&o->c->lock);
    if (o->cl.linked)
        op_unlink(o);
    wf__spin_unlock(&o->c->lock);
}

/* Set up w for `self` (the calling fiber, found by the caller) or, when
 * self is NULL, for the calling plain thread (registered with the
 * runtime, so shutdown can wake it: a runtime mutex, so not under a
 * channel lock). */
static int wait_init(struct wait *w, bool multi, struct wf__fcb *self)
{
    int err = wf__wait_init(&w->wt, self);
    atomic_init(&w->wt.state, WAITING);
    w->result = 0;
    w->multi = multi;
    return err;
}

/* wf_shutdown discards a fiber blocked here: the channels it waits on
 * outlive its stack, so unlink every op of its wait still queued. An op
 * that a completer popped is left alone: the wait it belongs to is over
 * (the fiber was queued to run again, and never did), and its channel
 * may have been released since, so not even its lock may be touched. */
static void abandon(struct wf__abandon *a)
{
    struct wait *w =
        (struct wait *)((char *)a - offsetof(struct wait, wt.ab));
    /* seq_cst, no order needed: the workers are stopped (joined), so
     * what they stored is visible; relaxed would do. */
    int st = atomic_load_explicit(&w->wt.state, memory_order_seq_cst);
    for (size_t i = 0; i < w->nops; i++) {
        struct op *o = &w->ops[i];
        if (!o->c)
            continue;
        /* Completed: a single operation's one op, or the case a select
         * reported, was popped (WAITING and a select's CLAIMED or
         * GAVE_UP leave its ops to the locked check). */
        if (st >= 0 && (!w->multi || o->cl.idx == st))
            continue;
        if (st == CLAIMED && !w->multi)
            continue;
        op_cancel(o);
    }
}

/* A fiber's ops are queued (their channels' locks held): until
 * wait_finish, shutdown can find them through the fiber. */
static void wait_linked(struct wait *w, struct op *ops, size_t n)
{
    if (!w->wt.w.fiber)
        return;
    w->ops = ops;
    w->nops = n;
    w->wt.ab.unlink = abandon;
    w->wt.w.fiber->waiting = &w->wt.ab;
}

/* The wait is over: a plain thread leaves the runtime's registry, a fiber
 * forgets its ops. */
static void wait_finish(struct wait *w)
{
    if (w->wt.w.tp)
        wf__wait_finish(&w->wt);
    else if (w->wt.w.fiber)
        w->wt.w.fiber->waiting = NULL;
}

/* ---- single operations -------------------------------------------------------- */

/* A send (send = true) or a receive with a deadline; block = false makes it
 * a try. Read as Go's chansend: prepare, lock, complete now if possible
 * (send_locked / recv_locked: closed, hand to a queued waiter, buffer),
 * else block. */
static int chan_op(struct wf_chan *c, void *elem, bool send, int64_t deadline,
                   bool block)
{
    struct wake wk = { .pending = false };
    struct wait w;
    struct op o;
    bool inited = false;
    int rc;

    /* A fiber's record costs nothing to set up, so a blocking call from a
     * fiber prepares it first and takes the lock once. */
    struct wf__fcb *self = block ? wf__fiber_self() : NULL;
    wf__coop_spend(self);
    if (self) {
        rc = wait_init(&w, false, self);
        WF_ASSERT(rc == 0);
        inited = true;
    }

    wf__spin_lock(&c->lock);
    rc = send ? send_locked(c, elem, &wk) : recv_locked(c, elem, &wk);
    if (rc == WF_EAGAIN && block && !inited) {
        /* A plain thread registers only once it knows it must wait: that
         * takes a runtime mutex, not under the channel's lock. Then it
         * tries again, and queues if still needed. */
        wf__spin_unlock(&c->lock);
        if (passed(deadline))
            return WF_ETIMEDOUT;
        rc = wait_init(&w, false, NULL);
        if (rc < 0)
            return rc;
        inited = true;
        wf__spin_lock(&c->lock);
        rc = send ? send_locked(c, elem, &wk) : recv_locked(c, elem, &wk);
    }
    if (rc != WF_EAGAIN || !block) {
        wf__spin_unlock(&c->lock);
        send_wake(&wk);
        if (inited)
            wait_finish(&w);
        return rc;
    }

    /* Block: queue o, then park until a completer finishes it. */
    o.cl.wait = &w.wt;
    o.cl.idx = 0;
    o.cl.queue = send ? SENDQ : RECVQ;
    o.c = c;
    o.elem = elem;
    wf__clauseq_link(queue_of(c, send), &o.cl, false);
    wait_linked(&w, &o, 1);
    wf__spin_unlock(&c->lock);

    rc = wait_done(&w, &o, deadline);
    if (rc >= 0)
        rc = w.result; /* the completer popped o */
    wait_finish(&w);
    return rc;
}

int wf_chan_send(struct wf_chan *c, const void *elem, int64_t deadline)
{
    if (!c)
        return WF_EINVAL;
    check(c, "wf_chan_send");
    if (!elem && c->esz)
        return WF_EINVAL;
    return chan_op(c, (void *)(uintptr_t)elem, true, deadline, true);
}

int wf_chan_recv(struct wf_chan *c, void *elem, int64_t deadline)
{
    if (!c)
        return WF_EINVAL;
    check(c, "wf_chan_recv");
    return chan_op(c, elem, false, deadline, true);
}

int wf_chan_try_send(struct wf_chan *c, const void *elem)
{
    if (!c)
        return WF_EINVAL;
    check(c, "wf_chan_try_send");
    if (!elem && c->esz)
        return WF_EINVAL;
    return chan_op(c, (void *)(uintptr_t)elem, true, 0, false);
}

int wf_chan_try_recv(struct wf_chan *c, void *elem)
{
    if (!c)
        return WF_EINVAL;
    check(c, "wf_chan_try_recv");
    return chan_op(c, elem, false, 0, false);
}

/* ---- lifetime and queries ---------------------------------------------------------- */

int wf_chan_create(struct wf_chan **out, size_t elem_size, size_t capacity)
{
    if (!out || elem_size > WF_CHAN_ELEM_MAX || capacity > WF_CHAN_CAP_MAX)
        return WF_EINVAL;
    /* Both bounds are 2^20 and 2^30: the product fits in 64 bits. */
    size_t bytes = sizeof(struct wf_chan) + elem_size * capacity;
    struct wf_chan *c = wf__malloc(bytes);
    if (!c)
        return WF_ENOMEM;
    atomic_init(&c->lock.held, false);
    atomic_init(&c->closed, false);
    c->esz = elem_size;
    c->magic = LIVE;
    c->cap = capacity;
    c->head = 0;
    atomic_init(&c->count, 0);
    c->sendq.head = c->sendq.tail = NULL;
    c->recvq.head = c->recvq.tail = NULL;
    atomic_init(&c->refs, 1);
    c->buf = (unsigned char *)(c + 1);
    *out = c;
    return 0;
}

void wf_chan_retain(struct wf_chan *c)
{
    check(c, "wf_chan_retain");
    /* relaxed: the caller already holds a reference (Boost's argument). */
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void wf_chan_release(struct wf_chan *c)
{
    if (!c)
        return;
    check(c, "wf_chan_release");
    /* acq_rel: every use through other references happens before the free. */
    long left = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
    if (left > 1)
        return;
    if (left < 1) /* released more often than created and retained */
        wf__misuse("wf_chan_release", "channel released once too often");
    wf__spin_lock(&c->lock); /* a waiter, if any, is another thread's */
    bool waited_on = c->sendq.head || c->recvq.head;
    wf__spin_unlock(&c->lock);
    if (waited_on)
        wf__misuse("wf_chan_release",
                   "last reference released while operations wait on it");
    c->magic = DEAD;
    free(c);
}

int wf_chan_close(struct wf_chan *c)
{
    if (!c)
        return WF_EINVAL;
    check(c, "wf_chan_close");
    wf__spin_lock(&c->lock);
    if (is_closed(c)) {
        wf__spin_unlock(&c->lock);
        return WF_EPIPE;
    }
    /* release: pairs with the acquire in wf_chan_closed. */
    atomic_store_explicit(&c->closed, true, memory_order_release);
    /* Every waiter goes: receivers only wait on an empty buffer, senders
     * on a full one, and neither can complete any more. Claim them all
     * into a private list under the lock (receivers first), and complete
     * and wake them after it: the list may be long, and each wake-up may
     * cost a futex call. A single operation is marked CLAIMED too, so that
     * one giving up meanwhile, finding itself unlinked, waits for its
     * final state (see Claimed) instead of polling the lock. */
    struct wf__clause *list = NULL, **tail = &list;
    struct op *o;
    while ((o = q_claim(&c->recvq)) || (o = q_claim(&c->sendq))) {
        if (!wait_of(o)->multi)
            /* relaxed: its waiter reads it after taking this lock, or
             * parks on it; the final seq_cst store wakes it either way. */
            atomic_store_explicit(&o->cl.wait->state, CLAIMED,
                                  memory_order_relaxed);
        *tail = &o->cl; /* the unlink left o->cl.next NULL */
        tail = &o->cl.next;
    }
    wf__spin_unlock(&c->lock);
    while (list) {
        o = op_of(list);
        list = list->next; /* before complete(): then o's waiter may return */
        struct wake wk = { .pending = false };
        complete(o, WF_EPIPE, &wk);
        send_wake(&wk);
    }
    return 0;
}

size_t wf_chan_len(const struct wf_chan *c)
{
    if (!c)
        return 0;
    check(c, "wf_chan_len");
    return count_of(c);
}

size_t wf_chan_cap(const struct wf_chan *c)
{
    if (!c)
        return 0;
    check(c, "wf_chan_cap");
    return c->cap;
}

bool wf_chan_closed(const struct wf_chan *c)
{
    if (!c)
        return false;
    check(c, "wf_chan_closed");
    /* acquire: pairs with the release store in wf_chan_close. */
    return atomic_load_explicit(&c->closed, memory_order_acquire);
}

size_t wf_chan_elem_size(const struct wf_chan *c)
{
    if (!c)
        return 0;
    check(c, "wf_chan_elem_size");
    return c->esz;
}

/* ---- select ---------------------------------------------------------------------- */

#define SMALL 8 /* cases handled without allocating */

/* xorshift64*, one state per thread. Only read before the select may
 * park, through this non-inlined function, so a fiber never uses another
 * thread's state after migrating (docs/ARCHITECTURE.md, "Fibers move
 * between threads"). */
static __attribute__((noinline)) uint64_t rand64(void)
{
    static WF__TLS uint64_t s;
    if (s == 0)
        s = (uint64_t)(uintptr_t)&s ^ (uint64_t)wf_now() ^ 0x9E3779B97F4A7C15ull;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n) (n > 0), by Lemire's multiply-shift. */
static size_t rand_below(size_t n)
{
    return (size_t)(((unsigned __int128)rand64() * n) >> 64);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(struct wf_chan *const *)a;
    uintptr_t y = (uintptr_t)*(struct wf_chan *const *)b;
    return x < y ? -1 : x > y;
}

/* The distinct channels of the cases in address order; returns how many. */
static size_t lock_order(const struct wf_select_case *cases, size_t n,
                         struct wf_chan **order)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan)
            order[k++] = cases[i].chan;
    if (k <= SMALL) {
        for (size_t i = 1; i < k; i++) /* insertion sort */
            for (size_t j = i; j > 0 && (uintptr_t)order[j - 1] >
                                            (uintptr_t)order[j]; j--) {
                struct wf_chan *t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
    } else {
        qsort(order, k, sizeof *order, cmp_ptr);
    }
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || order[u - 1] != order[i])
            order[u++] = order[i];
    return u;
}

static void lock_all(struct wf_chan **order, size_t k)
{
    for (size_t i = 0; i < k; i++)
        wf__spin_lock(&order[i]->lock);
}

static void unlock_all(struct wf_chan **order, size_t k)
{
    for (size_t i = k; i-- > 0;)
        wf__spin_unlock(&order[i]->lock);
}

/* With every lock held: complete one ready case chosen uniformly, or
 * return WF_EAGAIN. */
static int select_ready(struct wf_select_case *cases, size_t n,
                        struct wake *wk)
{
    for (;;) {
        size_t pick = 0, nready = 0;
        for (size_t i = 0; i < n; i++) {
            struct wf_chan *c = cases[i].chan;
            if (!c)
                continue;
            bool ready = cases[i].op == WF_CHAN_SEND ? send_ready(c)
                                                     : recv_ready(c);
            /* Reservoir sampling: the k-th ready case replaces the pick
             * with probability 1/k, which leaves each ready case at
             * 1/nready. */
            if (ready && rand_below(++nready) == 0)
                pick = i;
        }
        if (nready == 0)
            return WF_EAGAIN;
        struct wf_select_case *sc = &cases[pick];
        int rc = sc->op == WF_CHAN_SEND ? send_locked(sc->chan, sc->elem, wk)
                                        : recv_locked(sc->chan, sc->elem, wk);
        if (rc != WF_EAGAIN) {
            sc->result = rc;
            return (int)pick;
        }
        /* The case was ready only by a peek (q_ready) at a queued select
         * that has since been claimed through another channel or given
         * up, neither of which takes this channel's lock. Look again:
         * q_claim dropped every dead op it met, and with all our locks
         * held nobody links new ones, so this ends. */
    }
}

static int select_impl(struct wf_select_case *cases, size_t n,
                       int64_t deadline, bool block)
{
    if ((!cases && n > 0) || n > WF_SELECT_MAX)
        return WF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const struct wf_select_case *sc = &cases[i];
        if (sc->op != WF_CHAN_SEND && sc->op != WF_CHAN_RECV)
            return WF_EINVAL;
        if (sc->chan)
            check(sc->chan, block ? "wf_select" : "wf_select_try");
        if (sc->chan && sc->op == WF_CHAN_SEND && !sc->elem && sc->chan->esz)
            return WF_EINVAL;
    }

    struct wf_chan *order_small[SMALL];
    struct op ops_small[SMALL];
    struct wf_chan **order = order_small;
    struct op *ops = ops_small;
    if (n > SMALL) {
        order = wf__malloc(n * sizeof *order);
        ops = wf__malloc(n * sizeof *ops);
        if (!order || !ops) {
            free(order);
            free(ops);
            return WF_ENOMEM;
        }
    }

    struct wake wk = { .pending = false };
    struct wait w;
    bool inited = false;
    int rc;
    size_t k = lock_order(cases, n, order);
    struct wf__fcb *self = block ? wf__fiber_self() : NULL;
    wf__coop_spend(self);

    for (;;) {
        lock_all(order, k);
        rc = select_ready(cases, n, &wk);
        if (rc != WF_EAGAIN || !block || inited)
            break;
        unlock_all(order, k);
        if (passed(deadline)) {
            rc = WF_ETIMEDOUT;
            goto out_free;
        }
        rc = wait_init(&w, true, self);
        if (rc < 0)
            goto out_free;
        inited = true;
    }
    if (rc != WF_EAGAIN || !block) {
        unlock_all(order, k);
        send_wake(&wk);
        goto out_finish;
    }

    /* Nothing ready: queue one op per case, under all the locks. */
    for (size_t i = 0; i < n; i++) {
        struct op *o = &ops[i];
        o->cl.wait = &w.wt;
        o->cl.idx = (int)i;
        o->cl.queue = cases[i].op == WF_CHAN_SEND ? SENDQ : RECVQ;
        o->cl.linked = false;
        o->c = cases[i].chan;
        o->elem = cases[i].elem;
        if (o->c)
            op_link(o);
    }
    wait_linked(&w, ops, n);
    unlock_all(order, k);

    rc = wait_done(&w, NULL, deadline);
    if (rc >= 0)
        cases[rc].result = w.result;
    /* Unlink every op still queued, one channel at a time. */
    for (size_t i = 0; i < n; i++)
        if (ops[i].c && (rc < 0 || (size_t)rc != i))
            op_cancel(&ops[i]);

out_finish:
    if (inited)
        wait_finish(&w);
out_free:
    if (order != order_small) {
        free(order);
        free(ops);
    }
    return rc;
}

int wf_select(struct wf_select_case *cases, size_t n, int64_t deadline)
{
    return select_impl(cases, n, deadline, true);
}

int wf_select_try(struct wf_select_case *cases, size_t n)
{
    return select_impl(cases, n, 0, false);
}
