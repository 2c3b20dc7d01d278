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
 */
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>

#include "core_int.h"

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

static void scope_free(struct wf_scope *s)
{
    s->magic = DEAD;
    free(s);
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

int wf_scope_open(struct wf_scope **out)
{
    struct wf__rt *rt = &wf__rt;
    if (!out)
        return WF_EINVAL;
    /* seq_cst (acquire would do: pairs with wf_init's release store). */
    if (atomic_load_explicit(&rt->state, memory_order_seq_cst) !=
        WF__RT_RUNNING)
        return WF_ESHUTDOWN;
    struct wf_scope *s = calloc(1, sizeof *s);
    if (!s)
        return WF_ENOMEM;
    s->magic = LIVE;
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

int wf_scope_go(struct wf_scope *s, const struct wf_fiber_opts *opts,
                wf_fiber_fn *fn, void *arg)
{
    if (!s)
        return WF_EINVAL;
    check(s, "wf_scope_go");
    return wf__spawn(NULL, opts, fn, arg, s);
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
static int wait_members(struct wf_scope *s, int64_t deadline, bool cancellable)
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
    if (wf_cancelled())
        return WF_ECANCELED;
    return wait_members(s, deadline, true);
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
    wf__spin_lock(&s->lock);
    s->closing = true;
    int n = cancel_members(s);
    wf__spin_unlock(&s->lock);
    int err;
    do
        err = wait_members(s, WF_FOREVER, false);
    while (err == -ETIMEDOUT);
    if (err == -ESHUTDOWN)
        return err; /* the runtime is going away and frees the scope */
    /* Other waiters were woken with the last member; let them unlink their
     * records before the scope goes. */
    for (;;) {
        wf__spin_lock(&s->lock);
        bool alone = !s->waiters.head;
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
    return n;
}

void wf__scopes_abandon(struct wf__rt *rt)
{
    while (rt->scopes) {
        struct wf_scope *s = rt->scopes;
        rt->scopes = s->all_next;
        scope_free(s);
    }
}
