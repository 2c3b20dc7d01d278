/* SPDX-License-Identifier: MIT */
/*
 * Structured concurrency: scopes own fibers.
 *
 * A scope keeps its running members in a list (protected by s->lock) and
 * counts them; a member unlinks itself when it returns (wf__fiber_finish,
 * off the member's stack) and, when it was the last, wakes every waiter
 * while still holding the lock. Waiters link a record on their own stack
 * and unlink it themselves under the lock, so a member never touches a
 * record that is gone, and the closer frees the scope only once the count
 * is zero and no other waiter is linked.
 *
 * Cancellation reaches members through their handles (slot lock, see
 * fiber.c) and descends into the scopes they have open; the lock order is
 * in core_int.h. Closing waits without being interruptible: a scope that
 * gave up waiting could free itself while members still point at it.
 *
 * Join set (WF_SCOPE_JOINSET). Each member is started through `jmember`,
 * whose argument is a node allocated by wf_scope_go (so a member's exit
 * never allocates, and cannot fail): the member stores its result in the
 * node and the node is the fiber's `arg`, which wf__scope_member_exit
 * reads from the control block (still intact: the block is recycled only
 * after the exit step). Under s->lock the exit moves the node from
 * `pending` to the tail of `done`, so `done` is in completion order, and
 * kicks every waiter of wf_scope_next (all of them: one woken waiter may
 * be giving up on its deadline, and a node left for nobody while another
 * sleeps would be a lost wake-up). A node is taken by exactly one
 * wf_scope_next, under the lock.
 *
 * Error group. `err` is the first failure (wf_scope_fail, or the
 * deadline); it is set once, under the lock, so two failures racing each
 * other (or the deadline) have one winner, and the loser learns it
 * (WF_EALREADY). With WF_SCOPE_FAILFAST the winner also marks the scope
 * `cancelled` and cancels the members in the same critical section: a
 * member that joins later (wf__scope_add, under the lock) starts
 * cancelled, so no member escapes the cancellation whichever side of it
 * it was started on.
 *
 * Deadline. A user timer (weft/timer.h) in the scope fires `expire` on a
 * worker's scheduler loop: under the lock it marks the scope expired and
 * cancelled, and, if members still run and the scope is not closing,
 * records WF_ETIMEDOUT and cancels them. Whether the last member's exit or
 * the deadline came first is decided by the order in which they took the
 * lock: an exit first leaves nlive == 0 and the scope's result 0. Close
 * stops the timer (wf_timer_stop waits out a callback that runs) before
 * it frees the scope, so the callback never sees freed memory.
 */
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>

#include "common/fault.h"
#include "core_int.h"
#include "weft/timer.h"

/* A join-set member's record: allocated by wf_scope_go, freed by the
 * wf_scope_next that takes it (or the close that drops it). */
struct jnode {
    wf_fiber_fn *fn;
    void *arg;
    void *result;              /* written by the member before it returns */
    struct wf_fiber fiber;     /* set under s->lock when it joins */
    struct jnode *prev, *next; /* in pending or done; s->lock */
};

struct jlist {
    struct jnode *head, *tail;
};

struct wf_scope {
    struct wf__spin lock;
    struct wf__fcb *head;   /* running members; lock */
    uint32_t magic;           /* LIVE until freed; see check() */
    int nlive;                /* lock */
    bool closing;             /* lock */
    /* Waits for the members (core/waitrec.h), each on its waiter's stack
     * and linked while it waits; state 1: the members were all gone.
     * lock */
    struct wf__clauseq waiters;
    uint64_t owner_id;        /* opening fiber, 0 for a plain thread */
    struct wf_scope *owner_next; /* in the owner's list; owner's slot lock */
    struct wf_scope *all_prev, *all_next; /* rt->scopes_lock */
    unsigned flags;                       /* WF_SCOPE_*; fixed at open */
    int err;                              /* first failure, 0 none; lock */
    bool cancelled;           /* new members start cancelled; lock */
    bool expired;             /* the deadline fired; lock */
    int64_t deadline;         /* fixed at open; WF_FOREVER: none */
    struct wf__clauseq nextq; /* wf_scope_next waiters; lock */
    struct jlist pending;     /* join-set members running; lock */
    struct jlist done;        /* returned, not taken; completion order; lock */
    struct wf_timer timer;    /* the deadline's, when there is one */
};

/* A live scope's magic, and what freeing it leaves (offset 16, out of the
 * way of what malloc writes into a freed chunk): a scope used after its
 * close (or after the runtime that freed it stopped) is caught while its
 * memory has not been handed out again; ASan catches it always. */
#define LIVE 0x73636f70u /* "scop" */
#define DEAD 0xdead5c0eu
_Static_assert(offsetof(struct wf_scope, magic) >= 16,
               "magic past free()'s words");

static inline void check(const struct wf_scope *s, const char *call)
{
    if (__builtin_expect(s->magic != LIVE, 0))
        wf__misuse(call, s->magic == DEAD
                             ? "scope used after wf_scope_close (or after "
                               "the runtime it belonged to stopped)"
                             : "not a scope made by wf_scope_open");
}

static void jlist_push(struct jlist *l, struct jnode *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

static void jlist_unlink(struct jlist *l, struct jnode *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

static void jlist_free(struct jlist *l)
{
    struct jnode *n = l->head;
    while (n) {
        struct jnode *next = n->next;
        free(n);
        n = next;
    }
    l->head = l->tail = NULL;
}

static void scope_free(struct wf_scope *s)
{
    jlist_free(&s->done);
    jlist_free(&s->pending); /* only after a shutdown discarded members */
    s->magic = DEAD;
    free(s);
}

/* A join-set member's body: the node is its fiber's arg (see the top). */
static void *jmember(void *arg)
{
    struct jnode *n = arg;
    n->result = n->fn(n->arg);
    return NULL;
}

int wf__scope_add(struct wf_scope *s, struct wf__fcb *f)
{
    int err = 0;
    wf__spin_lock(&s->lock);
    if (s->closing) {
        err = WF_EINVAL;
    } else {
        f->sl.prev = NULL;
        f->sl.next = s->head;
        if (s->head)
            s->head->sl.prev = f;
        s->head = f;
        s->nlive++;
        if (s->flags & WF_SCOPE_JOINSET) {
            struct jnode *n = f->arg; /* wf_scope_go's node (jmember) */
            n->fiber.id = f->id;
            jlist_push(&s->pending, n);
        }
        /* Started past the deadline: by the clock, not only once the
         * timer has fired, which a busy worker may delay for as long as
         * it runs (the timer cancels the members running then; a member
         * started after the deadline and before the fire would escape). */
        bool late = s->expired ||
                    (s->deadline != WF_FOREVER && wf_now() >= s->deadline);
        if (late && !s->err)
            s->err = WF_ETIMEDOUT;
        /* relaxed: nobody else sees f before wf__spawn makes it ready,
         * which publishes it. */
        if (s->cancelled || late)
            atomic_store_explicit(&f->cancelled, true, memory_order_relaxed);
    }
    wf__spin_unlock(&s->lock);
    return err;
}

void wf__scope_member_exit(struct wf_scope *s, struct wf__fcb *f)
{
    wf__spin_lock(&s->lock);
    if (f->sl.prev)
        f->sl.prev->sl.next = f->sl.next;
    else
        s->head = f->sl.next;
    if (f->sl.next)
        f->sl.next->sl.prev = f->sl.prev;
    if (s->flags & WF_SCOPE_JOINSET) {
        WF_ASSERT(f->fn == jmember);
        struct jnode *n = f->arg;
        jlist_unlink(&s->pending, n);
        jlist_push(&s->done, n);
        for (struct wf__clause *cl = s->nextq.head; cl; cl = cl->next) {
            /* seq_cst: as below. */
            atomic_store_explicit(&cl->wait->state, 1, memory_order_seq_cst);
            wf__waiter_kick(&cl->wait->w);
        }
    }
    if (--s->nlive == 0) {
        /* Under the lock: a waiter unlinks its record only under it. Waking
         * takes only leaf locks (core_int.h). */
        for (struct wf__clause *cl = s->waiters.head; cl; cl = cl->next) {
            /* seq_cst: the waker's half of park-on-word (pairs with the
             * parker's store of PARKING and its load of the word). */
            atomic_store_explicit(&cl->wait->state, 1, memory_order_seq_cst);
            wf__waiter_kick(&cl->wait->w);
        }
    }
    wf__spin_unlock(&s->lock);
}

static void expire(struct wf_timer *t, void *arg);

int wf_scope_open_ex(struct wf_scope **out, const struct wf_scope_opts *opts)
{
    struct wf__rt *rt = &wf__rt;
    if (!out || (opts && (opts->flags &
                          ~(unsigned)(WF_SCOPE_JOINSET | WF_SCOPE_FAILFAST))))
        return WF_EINVAL;
    /* seq_cst (acquire would do: pairs with wf_init's release store). */
    if (atomic_load_explicit(&rt->state, memory_order_seq_cst) !=
        WF__RT_RUNNING)
        return WF_ESHUTDOWN;
    struct wf_scope *s = wf__calloc(1, sizeof *s);
    if (!s)
        return WF_ENOMEM;
    s->magic = LIVE;
    s->deadline = WF_FOREVER;
    if (opts) {
        s->flags = opts->flags;
        if (opts->deadline != WF_FOREVER) {
            wf_timer_init(&s->timer, expire, s);
            int err = wf_timer_start(&s->timer, opts->deadline);
            if (err < 0) {
                free(s);
                return err;
            }
            s->deadline = opts->deadline;
        }
    }
    struct wf__fcb *self = wf__fiber_self();
    if (self) {
        struct wf__slot *slot = wf__slot_get(self->id);
        if (wf__slot_lock(slot, self->id)) {
            s->owner_id = self->id;
            s->owner_next = self->owned;
            self->owned = s;
            wf__slot_unlock(slot);
        }
    }
    wf__spin_lock(&rt->scopes_lock);
    s->all_next = rt->scopes;
    if (rt->scopes)
        rt->scopes->all_prev = s;
    rt->scopes = s;
    wf__spin_unlock(&rt->scopes_lock);
    *out = s;
    return 0;
}

int wf_scope_open(struct wf_scope **out)
{
    return wf_scope_open_ex(out, NULL);
}

int wf_scope_go(struct wf_scope *s, const struct wf_fiber_opts *opts,
                wf_fiber_fn *fn, void *arg)
{
    if (!s)
        return WF_EINVAL;
    check(s, "wf_scope_go");
    if (!(s->flags & WF_SCOPE_JOINSET))
        return wf__spawn(NULL, opts, fn, arg, s);
    if (!fn)
        return WF_EINVAL;
    struct jnode *n = wf__calloc(1, sizeof *n);
    if (!n)
        return WF_ENOMEM;
    n->fn = fn;
    n->arg = arg;
    int err = wf__spawn(NULL, opts, jmember, n, s);
    if (err < 0)
        free(n); /* never linked: wf__scope_add failed or was not reached */
    return err;
}

/* Cancel every member; s->lock held. Returns how many were running. */
static int cancel_members(struct wf_scope *s)
{
    int n = 0;
    for (struct wf__fcb *f = s->head; f; f = f->sl.next) {
        struct wf__slot *slot = wf__slot_get(f->id);
        struct wf__fcb *m = wf__slot_lock(slot, f->id);
        if (!m)
            continue; /* returned; unlinking itself right now */
        wf__cancel_locked(m);
        wf__slot_unlock(slot);
        n++;
    }
    return n;
}

/* Record the first failure; s->lock held. true if err is it. */
static bool record(struct wf_scope *s, int err)
{
    if (s->err)
        return false;
    s->err = err;
    if (s->flags & WF_SCOPE_FAILFAST) {
        s->cancelled = true;
        cancel_members(s);
    }
    return true;
}

int wf_scope_fail(struct wf_scope *s, int err)
{
    if (!s) {
        struct wf__fcb *self = wf__fiber_self();
        s = self ? self->scope : NULL;
        if (!s)
            return WF_EINVAL;
    }
    check(s, "wf_scope_fail");
    if (err >= 0)
        return WF_EINVAL;
    wf__spin_lock(&s->lock);
    bool first = record(s, err);
    wf__spin_unlock(&s->lock);
    return first ? 0 : WF_EALREADY;
}

/* The deadline's timer callback, on a worker's scheduler loop. */
static void expire(struct wf_timer *t, void *arg)
{
    struct wf_scope *s = arg;
    (void)t;
    wf__spin_lock(&s->lock);
    s->expired = true;
    if (!s->closing) {
        /* Members started from now on start cancelled, whether or not
         * the deadline is the scope's error. */
        s->cancelled = true;
        if (s->nlive > 0) {
            if (!s->err)
                s->err = WF_ETIMEDOUT;
            cancel_members(s);
        }
    }
    wf__spin_unlock(&s->lock);
}

int wf_scope_cancel(struct wf_scope *s)
{
    if (!s)
        return WF_EINVAL;
    check(s, "wf_scope_cancel");
    wf__spin_lock(&s->lock);
    cancel_members(s);
    wf__spin_unlock(&s->lock);
    return 0;
}

void wf__scope_cancel_owned(struct wf__fcb *f)
{
    for (struct wf_scope *s = f->owned; s; s = s->owner_next)
        wf_scope_cancel(s);
}

/* Wait for the member count to reach zero. */
static int wait_members(struct wf_scope *s, int64_t deadline, bool cancellable,
                        int *scope_err)
{
    struct wf__wait sw;
    struct wf__clause cl = { .wait = &sw };
    int err = 0;

    wf__waiter_self(&sw.w);
    atomic_init(&sw.state, 0);
    wf__spin_lock(&s->lock);
    wf__clauseq_link(&s->waiters, &cl, true);
    while (s->nlive > 0 && !err) {
        /* relaxed: under the lock, as the member exit that stores 1; a
         * wake for an earlier emptying (members were added since) is
         * spent. */
        atomic_store_explicit(&sw.state, 0, memory_order_relaxed);
        wf__spin_unlock(&s->lock);
        err = cancellable ? wf__waiter_park_word(&sw.w, &sw.state, 0, deadline,
                                                 WF__WHY_SCOPE)
                          : wf__waiter_park_word_nocancel(
                                &sw.w, &sw.state, 0, deadline, WF__WHY_SCOPE);
        wf__spin_lock(&s->lock);
    }
    if (s->nlive == 0)
        err = 0; /* the members are done: the wait succeeded */
    *scope_err = s->err;
    wf__clauseq_unlink(&s->waiters, &cl);
    wf__spin_unlock(&s->lock);
    wf__waiter_done(&sw.w);
    return err;
}

/* Whether the caller is a member of s (waiting for itself). */
static bool own_member(struct wf_scope *s)
{
    struct wf__fcb *self = wf__fiber_self();
    return self && self->scope == s;
}

int wf_scope_wait(struct wf_scope *s, int64_t deadline)
{
    if (!s)
        return WF_EINVAL;
    check(s, "wf_scope_wait");
    if (own_member(s))
        return WF_EDEADLK;
    if (wf__thread_parker_ready() < 0)
        return WF_ENOMEM;
    if (wf_cancelled())
        return WF_ECANCELED;
    int serr;
    int err = wait_members(s, deadline, true, &serr);
    return err ? err : serr;
}

int wf_scope_next(struct wf_scope *s, struct wf_fiber *fiber, void **result,
                  int64_t deadline)
{
    if (!s)
        return WF_EINVAL;
    check(s, "wf_scope_next");
    if (!(s->flags & WF_SCOPE_JOINSET))
        return WF_EINVAL;
    if (wf__thread_parker_ready() < 0)
        return WF_ENOMEM;
    if (own_member(s))
        return WF_EDEADLK;
    struct wf__wait sw;
    struct wf__clause cl = {.wait = &sw};
    bool linked = false;
    struct jnode *n = NULL;
    int err = 0;

    wf__spin_lock(&s->lock);
    for (;;) {
        if ((n = s->done.head)) {
            jlist_unlink(&s->done, n);
            err = 0;
            break;
        }
        if (s->nlive == 0) {
            err = WF_ESRCH; /* none running, every finished one taken */
            break;
        }
        if (err)
            break; /* gave up: deadline, cancellation, shutdown, memory */
        if (deadline != WF_FOREVER && wf_now() >= deadline) {
            err = WF_ETIMEDOUT;
            break;
        }
        if (wf_cancelled()) {
            err = WF_ECANCELED;
            break;
        }
        if (!linked) {
            /* Registering a plain thread takes a runtime mutex: not
             * under the scope's spinlock. */
            wf__spin_unlock(&s->lock);
            wf__waiter_self(&sw.w);
            atomic_init(&sw.state, 0);
            wf__spin_lock(&s->lock);
            wf__clauseq_link(&s->nextq, &cl, false);
            linked = true;
            continue; /* look again: a member may have returned */
        }
        /* relaxed: under the lock, as the member exit that stores 1. */
        atomic_store_explicit(&sw.state, 0, memory_order_relaxed);
        wf__spin_unlock(&s->lock);
        err =
            wf__waiter_park_word(&sw.w, &sw.state, 0, deadline, WF__WHY_SCOPE);
        wf__spin_lock(&s->lock);
    }
    if (linked)
        wf__clauseq_unlink(&s->nextq, &cl);
    wf__spin_unlock(&s->lock);
    if (linked)
        wf__waiter_done(&sw.w);
    if (!n)
        return err;
    if (fiber)
        *fiber = n->fiber;
    if (result)
        *result = n->result;
    free(n);
    return 0;
}

static void unlink_owner(struct wf_scope *s)
{
    if (!s->owner_id)
        return;
    struct wf__slot *slot = wf__slot_get(s->owner_id);
    struct wf__fcb *owner = wf__slot_lock(slot, s->owner_id);
    if (!owner)
        return;
    for (struct wf_scope **pp = &owner->owned; *pp; pp = &(*pp)->owner_next)
        if (*pp == s) {
            *pp = s->owner_next;
            break;
        }
    wf__slot_unlock(slot);
}

static void unlink_all(struct wf__rt *rt, struct wf_scope *s)
{
    wf__spin_lock(&rt->scopes_lock);
    if (s->all_prev)
        s->all_prev->all_next = s->all_next;
    else
        rt->scopes = s->all_next;
    if (s->all_next)
        s->all_next->all_prev = s->all_prev;
    wf__spin_unlock(&rt->scopes_lock);
}

int wf_scope_close(struct wf_scope *s)
{
    if (!s)
        return WF_EINVAL;
    check(s, "wf_scope_close");
    if (own_member(s))
        return WF_EDEADLK;
    if (wf__thread_parker_ready() < 0)
        return WF_ENOMEM;
    wf__spin_lock(&s->lock);
    s->closing = true;
    int n = cancel_members(s);
    wf__spin_unlock(&s->lock);
    int err, serr;
    do
        err = wait_members(s, WF_FOREVER, false, &serr);
    while (err == -ETIMEDOUT);
    if (err == -ESHUTDOWN)
        return err; /* the runtime is going away and frees the scope */
    /* Waits out a deadline callback that runs now; none runs after. */
    if (s->deadline != WF_FOREVER)
        wf_timer_stop(&s->timer);
    /* Other waiters were woken with the last member; let them unlink their
     * records before the scope goes. */
    for (;;) {
        wf__spin_lock(&s->lock);
        bool alone = !s->waiters.head && !s->nextq.head;
        serr = s->err;
        wf__spin_unlock(&s->lock);
        if (alone)
            break;
        if (wf__fiber_self())
            wf_yield();
        else
            sched_yield();
    }
    unlink_owner(s);
    unlink_all(&wf__rt, s);
    scope_free(s);
    return serr ? serr : n;
}

void wf__scopes_abandon(struct wf__rt *rt)
{
    while (rt->scopes) {
        struct wf_scope *s = rt->scopes;
        rt->scopes = s->all_next;
        scope_free(s);
    }
}
