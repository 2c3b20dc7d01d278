/* SPDX-License-Identifier: MIT */
/*
 * Futures and promises (weft/future.h).
 *
 * Design. A promise and its future are one heap object; struct wf_promise
 * is never defined, a promise pointer is the object's address. The object
 * counts references: one for the promise (given up when the producer
 * completes it, after the callbacks ran) and one per future reference. A
 * spinlock guards the pending state: the callback list, the cancel
 * handler and the wait queue (the sync layer's, so fibers park and plain
 * threads sleep on their futex). `state` moves once from PENDING to DONE
 * under the lock; it is also read without the lock (wf_future_done and the
 * fast path of the waits) with acquire, paired with the release store made
 * after the outcome fields are written.
 *
 * Completing (complete, fail, cancel) sets the outcome and DONE, detaches
 * the callback list and wakes every waiter, all under the lock; then, with
 * the lock dropped, runs the callbacks in registration order (and, for a
 * cancel, the cancel handler). A `then` that comes after DONE runs its
 * callback at once. So every callback runs exactly once, and never under a
 * weft lock.
 *
 * Cancel versus the producer. A producer that completes a cancelled
 * future gets WF_ECANCELED, and must be able to free what its cancel
 * handler uses once that call returns. So a cancel marks the object
 * `cancel_busy` (under the lock, together with DONE) until its callbacks
 * and handler have returned, and the producer's completion waits (yields)
 * while it is set. A producer that completes from inside that very
 * cancel (a callback or handler cancelling an input whose completion
 * completes this future: when_all/when_any do that) must not wait for
 * itself: each fiber (or plain thread) keeps a short stack of the
 * cancels it runs, frames on its own stack, and a completion of a future
 * found on it does not wait. The stack is the fiber's, not the thread's:
 * a callback of a cancel may itself wait (yielding) for another thread's
 * cancel, and the fiber may come back on another worker, where it must
 * still find its frames (and the worker it left must not keep them).
 *
 * Rejected: a second object for the promise (an extra allocation per
 * future, for a distinction the type system already makes); running
 * callbacks under the lock (a callback that completes another future
 * would nest locks in any order).
 *
 * Model: tests/model/future.pml (spin): a producer with a cancel
 * handler, two consumers with then / wait / cancel / release. Left out:
 * when_all / when_any and the per-fiber stack of running cancels, the
 * inline callback slot (one FIFO there), the waiter's deadline.
 */
#include <sched.h>
#include <stdlib.h>

#include "common/fault.h"
#include "async_int.h"
#include "sync/sync_int.h"
#include "weft/fiber.h"
#include "weft/future.h"

enum { PENDING, DONE };

struct cb {
    wf_future_fn *fn;
    void *arg;
    struct cb *next;
    bool heap;                 /* freed after it ran */
};

struct wf_future {
    struct wf__spin lock;
    atomic_int state;          /* PENDING -> DONE once, under lock */
    atomic_int refs;           /* promise + future references */
    atomic_bool cancel_busy;   /* a cancel runs callbacks/handler */
    bool cancelled;            /* lock (written before DONE) */
    bool given_up;             /* the producer completed the promise; lock */
    uint32_t magic;            /* LIVE until freed; see check() */
    int err;                   /* written before DONE */
    void *value;               /* written before DONE */
    void (*drop)(void *value); /* frees value with the object; before DONE */
    struct cb first;           /* inline slot for the first callback; lock */
    bool first_used;           /* lock */
    struct cb *cbs, **cbs_tail; /* further callbacks, FIFO; lock */
    wf_cancel_fn *on_cancel;   /* lock */
    void *cancel_arg;          /* lock */
    struct wf__waitq q;        /* lock */
};

/* The cancels the calling fiber or thread runs, innermost first (see the
 * top). */
struct cancel_frame {
    const struct wf_future *f;
    struct cancel_frame *up;
};
static WF__TLS struct cancel_frame *thread_cancels;

/* Where the caller's stack of cancels is: its fiber's (which moves with
 * it between workers), or a plain thread's. Fetched anew after anything
 * that may switch (wf__fiber_self is not inlined). */
static struct cancel_frame **cancels(void)
{
    struct wf__fcb *self = wf__fiber_self();
    return self ? (struct cancel_frame **)&self->cancels : &thread_cancels;
}

/* A live object's magic and what freeing it leaves (offset 16: out of the
 * way of what malloc writes into a freed chunk), so that a future or
 * promise used after it was freed is caught while its memory has not been
 * handed out again (ASan catches it always). */
#define LIVE 0x66757472u /* "futr" */
#define DEAD 0xdeadf07eu
_Static_assert(offsetof(struct wf_future, magic) >= 16,
               "magic past free()'s words");

static inline void check(const struct wf_future *f, const char *call)
{
    if (__builtin_expect(f->magic != LIVE, 0))
        wf__misuse(call, f->magic == DEAD
                             ? "future or promise used after it was freed "
                               "(released too often, or its promise "
                               "completed twice)"
                             : "not a future or promise of weft");
}

static struct wf_future *of(struct wf_promise *p, const char *call)
{
    struct wf_future *f = (struct wf_future *)(void *)p;
    check(f, call);
    return f;
}

static void put(struct wf_future *f)
{
    /* acq_rel: the last decrement must see every other holder's writes
     * (release by them, acquire by the freer). */
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    WF_ASSERT(!f->cbs && !wf__waitq_busy(&f->q));
    if (f->drop)
        f->drop(f->value);
    f->magic = DEAD;
    free(f);
}

int wf_promise_create(struct wf_promise **p, struct wf_future **f)
{
    if (!p || !f)
        return WF_EINVAL;
    struct wf_future *o = wf__calloc(1, sizeof *o);
    if (!o)
        return WF_ENOMEM;
    atomic_init(&o->state, PENDING);
    atomic_init(&o->refs, 2);
    o->magic = LIVE;
    o->cbs_tail = &o->cbs;
    *p = (struct wf_promise *)(void *)o;
    *f = o;
    return 0;
}

struct wf_future *wf_future_ref(struct wf_future *f)
{
    if (f) {
        check(f, "wf_future_ref");
        /* relaxed: the caller already holds a reference. */
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    }
    return f;
}

void wf_future_release(struct wf_future *f)
{
    if (f) {
        check(f, "wf_future_release");
        put(f);
    }
}

/* Detach the callbacks (lock held); run them later with run_cbs. */
struct cblist {
    struct cb first;
    bool has_first;
    struct cb *rest;
};

static void take_cbs(struct wf_future *f, struct cblist *l)
{
    l->has_first = f->first_used;
    l->first = f->first;
    l->rest = f->cbs;
    f->first_used = false;
    f->cbs = NULL;
    f->cbs_tail = &f->cbs;
}

static void run_cbs(struct wf_future *f, struct cblist *l)
{
    if (l->has_first)
        l->first.fn(f, l->first.arg);
    for (struct cb *c = l->rest, *next; c; c = next) {
        next = c->next;
        bool heap = c->heap; /* fn may free c when it is not heap */
        c->fn(f, c->arg);
        if (heap)
            free(c);
    }
}

static bool cancelling_here(const struct wf_future *f)
{
    for (struct cancel_frame *c = *cancels(); c; c = c->up)
        if (c->f == f)
            return true;
    return false;
}

static void wait_cancel_done(struct wf_future *f)
{
    if (cancelling_here(f))
        return;
    /* acquire: pairs with the release store that ends the cancel, so the
     * handler's writes are visible to the producer that frees its state. */
    while (atomic_load_explicit(&f->cancel_busy, memory_order_acquire)) {
        struct wf__fcb *self = wf__fiber_self();
        if (self)
            wf__fiber_yield(self);
        else
            sched_yield();
    }
}

static int settle(struct wf_future *f, int err, void *value,
                  void (*drop)(void *), const char *call)
{
    struct cblist l;
    wf__spin_lock(&f->lock);
    if (f->given_up) {
        wf__spin_unlock(&f->lock);
        wf__misuse(call, "promise completed twice (its first completion "
                         "gave it up)");
    }
    f->given_up = true;
    if (atomic_load_explicit(&f->state, memory_order_relaxed) != PENDING) {
        /* Only a cancel can have completed it: the promise was ours. */
        wf__spin_unlock(&f->lock);
        wait_cancel_done(f);
        put(f);
        return WF_ECANCELED;
    }
    f->err = err;
    f->value = err ? NULL : value;
    f->drop = err ? NULL : drop;
    f->on_cancel = NULL;
    take_cbs(f, &l);
    /* release: pairs with the acquire loads of wf_future_done/result. */
    atomic_store_explicit(&f->state, DONE, memory_order_release);
    wf__waitq_wake_all(&f->q);
    wf__spin_unlock(&f->lock);
    run_cbs(f, &l);
    put(f); /* the promise's reference */
    return 0;
}

int wf_promise_complete(struct wf_promise *p, void *value)
{
    if (!p)
        return WF_EINVAL;
    return settle(of(p, "wf_promise_complete"), 0, value, NULL,
                  "wf_promise_complete");
}

int wf_promise_complete_owned(struct wf_promise *p, void *value,
                              void (*drop)(void *value))
{
    if (!p || !drop)
        return WF_EINVAL;
    return settle(of(p, "wf_promise_complete_owned"), 0, value, drop,
                  "wf_promise_complete_owned");
}

int wf_promise_fail(struct wf_promise *p, int err)
{
    if (!p)
        return WF_EINVAL;
    if (err >= 0)
        err = WF_EINVAL;
    return settle(of(p, "wf_promise_fail"), err, NULL, NULL,
                  "wf_promise_fail");
}

int wf_promise_on_cancel(struct wf_promise *p, wf_cancel_fn *fn, void *arg)
{
    if (!p || !fn)
        return WF_EINVAL;
    struct wf_future *f = of(p, "wf_promise_on_cancel");
    int rc = 0;
    wf__spin_lock(&f->lock);
    if (f->given_up) {
        wf__spin_unlock(&f->lock);
        wf__misuse("wf_promise_on_cancel", "promise used after its completion");
    }
    if (atomic_load_explicit(&f->state, memory_order_relaxed) != PENDING) {
        rc = f->cancelled ? WF_ECANCELED : WF_EALREADY;
    } else {
        f->on_cancel = fn;
        f->cancel_arg = arg;
    }
    wf__spin_unlock(&f->lock);
    return rc;
}

bool wf_promise_cancelled(const struct wf_promise *p)
{
    if (!p)
        return false;
    const struct wf_future *f = (const struct wf_future *)(const void *)p;
    check(f, "wf_promise_cancelled");
    /* acquire: pairs with the release store of DONE; `cancelled` is
     * written before it and never changes afterwards. */
    return atomic_load_explicit(&f->state, memory_order_acquire) == DONE &&
           f->cancelled;
}

bool wf_future_done(const struct wf_future *f)
{
    if (!f)
        return false;
    check(f, "wf_future_done");
    /* acquire: pairs with the release store of DONE. */
    return atomic_load_explicit(&f->state, memory_order_acquire) == DONE;
}

int wf_future_result(const struct wf_future *f, void **value)
{
    if (!f)
        return WF_EINVAL;
    check(f, "wf_future_result");
    if (!wf_future_done(f))
        return WF_EAGAIN;
    if (f->err == 0 && value)
        *value = f->value;
    return f->err;
}

/* Link c to f's callbacks, or return false if f is already done (then
 * the caller runs it). The inline slot is used only while no callback is
 * linked, so callbacks run in registration order. */
static bool add_cb(struct wf_future *f, struct cb *c)
{
    wf__spin_lock(&f->lock);
    if (atomic_load_explicit(&f->state, memory_order_relaxed) != PENDING) {
        wf__spin_unlock(&f->lock);
        return false;
    }
    if (!f->first_used && !f->cbs && c->heap) {
        f->first = *c;
        f->first_used = true;
        wf__spin_unlock(&f->lock);
        free(c);
        return true;
    }
    *f->cbs_tail = c;
    f->cbs_tail = &c->next;
    wf__spin_unlock(&f->lock);
    return true;
}

int wf_future_then(struct wf_future *f, wf_future_fn *fn, void *arg)
{
    if (!f || !fn)
        return WF_EINVAL;
    check(f, "wf_future_then");
    wf__spin_lock(&f->lock);
    bool done = atomic_load_explicit(&f->state, memory_order_relaxed) != PENDING;
    if (!done && !f->first_used && !f->cbs) {
        f->first = (struct cb){fn, arg, NULL, false};
        f->first_used = true;
        wf__spin_unlock(&f->lock);
        return 0;
    }
    wf__spin_unlock(&f->lock);
    if (!done) {
        struct cb *c = wf__malloc(sizeof *c);
        if (!c)
            return WF_ENOMEM;
        *c = (struct cb){fn, arg, NULL, true};
        if (add_cb(f, c))
            return 0;
        free(c);
    }
    fn(f, arg);
    return 0;
}

static int wait_common(struct wf_future *f, int64_t deadline,
                       bool cancellable)
{
    wf__coop_spend(wf__fiber_self());
    if (wf_future_done(f))
        return 0;
    struct wf__wqrec r;
    int err = wf__wqrec_init(&r, WF__WHY_FUTURE);
    if (err)
        return err;
    wf__spin_lock(&f->lock);
    if (atomic_load_explicit(&f->state, memory_order_relaxed) == PENDING)
        err = wf__waitq_wait(&f->lock, &f->q, &r, deadline, false,
                             cancellable);
    wf__wqrec_done(&f->q, &r);
    wf__spin_unlock(&f->lock);
    wf__wqrec_finish(&r);
    return err;
}

int wf_future_await(struct wf_future *f, int64_t deadline)
{
    if (!f)
        return WF_EINVAL;
    check(f, "wf_future_await");
    if (!wf__fiber_self())
        return WF_EPERM;
    return wait_common(f, deadline, true);
}

int wf_future_wait(struct wf_future *f, int64_t deadline)
{
    if (!f)
        return WF_EINVAL;
    check(f, "wf_future_wait");
    return wait_common(f, deadline, true);
}

int wf__future_wait_nocancel(struct wf_future *f)
{
    return wait_common(f, WF_FOREVER, false);
}

int wf_future_cancel(struct wf_future *f)
{
    if (!f)
        return WF_EINVAL;
    check(f, "wf_future_cancel");
    struct cblist l;
    wf__spin_lock(&f->lock);
    if (atomic_load_explicit(&f->state, memory_order_relaxed) != PENDING) {
        wf__spin_unlock(&f->lock);
        return WF_EALREADY;
    }
    wf_cancel_fn *handler = f->on_cancel;
    void *harg = f->cancel_arg;
    f->on_cancel = NULL;
    f->cancelled = true;
    f->err = WF_ECANCELED;
    f->value = NULL;
    take_cbs(f, &l);
    /* relaxed: published by the release store of DONE below and by the
     * lock; the producer reads it with acquire. */
    atomic_store_explicit(&f->cancel_busy, true, memory_order_relaxed);
    wf_future_ref(f); /* a callback may drop the caller's reference */
    /* release: pairs with the acquire loads of wf_future_done/result. */
    atomic_store_explicit(&f->state, DONE, memory_order_release);
    wf__waitq_wake_all(&f->q);
    wf__spin_unlock(&f->lock);

    struct cancel_frame **top = cancels();
    struct cancel_frame frame = {f, *top};
    *top = &frame;
    run_cbs(f, &l);
    if (handler)
        handler(harg);
    /* The same fiber's (or thread's) stack, wherever it runs now. */
    *cancels() = frame.up;
    /* release: pairs with the producer's acquire in wait_cancel_done. */
    atomic_store_explicit(&f->cancel_busy, false, memory_order_release);
    put(f);
    return 0;
}

/* ---- combinators --------------------------------------------------------- */

/*
 * An aggregate lives until every input's callback and the cancel handler
 * are done with it: `refs` starts at n (one per input callback) + 1 (the
 * handler's), and the handler's is dropped by the handler when it runs, or
 * by whoever completes the promise successfully (then the handler never
 * will run). The inputs are referenced until the aggregate is freed, so
 * the handler can cancel them.
 */
struct agg {
    struct wf_promise *p;
    atomic_size_t left;      /* inputs not yet completed */
    atomic_bool won;         /* when_any: the promise was completed */
    atomic_size_t refs;
    size_t n;
    struct wf_future **in;   /* referenced inputs */
    struct cb node[];        /* one callback record per input */
};

static void agg_put(struct agg *a)
{
    /* acq_rel: as put(). */
    if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < a->n; i++)
        wf_future_release(a->in[i]);
    free(a->in);
    free(a);
}

static void agg_cancel(void *arg)
{
    struct agg *a = arg;
    for (size_t i = 0; i < a->n; i++)
        wf_future_cancel(a->in[i]);
    agg_put(a);
}

/* The promise was completed: drop the handler's reference unless the
 * handler has it (it was cancelled). */
static void agg_settled(struct agg *a, int rc)
{
    if (rc == 0)
        agg_put(a);
}

static void all_cb(struct wf_future *f, void *arg)
{
    (void)f;
    struct agg *a = arg;
    /* acq_rel: the last input's callback must see the others' outcomes. */
    if (atomic_fetch_sub_explicit(&a->left, 1, memory_order_acq_rel) == 1) {
        int err = 0;
        for (size_t i = 0; i < a->n && !err; i++)
            err = wf_future_result(a->in[i], NULL);
        agg_settled(a, err ? wf_promise_fail(a->p, err)
                           : wf_promise_complete(a->p, NULL));
    }
    agg_put(a);
}

static void any_cb(struct wf_future *f, void *arg)
{
    struct agg *a = arg;
    bool no = false;
    /* seq_cst CAS, no order needed: only picks the first to settle; the
     * promise publishes the outcome. */
    if (atomic_compare_exchange_strong_explicit(&a->won, &no, true,
                                                memory_order_seq_cst,
                                                memory_order_seq_cst)) {
        size_t idx = 0;
        while (a->in[idx] != f)
            idx++;
        agg_settled(a, wf_promise_complete(a->p, (void *)(uintptr_t)idx));
    }
    agg_put(a);
}

static int combine(struct wf_future **out, struct wf_future *const *fs,
                   size_t n, bool any)
{
    if (!out || (n > 0 && !fs) || (any && n == 0))
        return WF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!fs[i])
            return WF_EINVAL;
        check(fs[i], any ? "wf_future_when_any" : "wf_future_when_all");
    }
    if (n > (SIZE_MAX - sizeof(struct agg)) / sizeof(struct cb))
        return WF_ENOMEM;
    struct wf_future *f;
    struct wf_promise *p;
    int err = wf_promise_create(&p, &f);
    if (err)
        return err;
    if (n == 0) {
        wf_promise_complete(p, NULL);
        *out = f;
        return 0;
    }
    struct agg *a = wf__malloc(sizeof *a + n * sizeof a->node[0]);
    struct wf_future **in = wf__malloc(n * sizeof *in);
    if (!a || !in) {
        free(a);
        free(in);
        wf_promise_fail(p, WF_ENOMEM);
        wf_future_release(f);
        return WF_ENOMEM;
    }
    a->p = p;
    atomic_init(&a->left, n);
    atomic_init(&a->won, false);
    atomic_init(&a->refs, n + 1);
    a->n = n;
    a->in = in;
    for (size_t i = 0; i < n; i++)
        a->in[i] = wf_future_ref(fs[i]);
    /* Registered before any input callback can complete the promise. */
    wf_promise_on_cancel(p, agg_cancel, a);
    *out = f;
    /* From here nothing can fail: each input's callback record is part of
     * the aggregate (not freed by run_cbs), so a partly wired aggregate
     * never has to be unwound. */
    for (size_t i = 0; i < n; i++) {
        struct cb *c = &a->node[i];
        *c = (struct cb){any ? any_cb : all_cb, a, NULL, false};
        if (!add_cb(a->in[i], c))
            c->fn(a->in[i], a);
    }
    return 0;
}

int wf_future_when_all(struct wf_future **out, struct wf_future *const *fs,
                       size_t n)
{
    return combine(out, fs, n, false);
}

int wf_future_when_any(struct wf_future **out, struct wf_future *const *fs,
                       size_t n)
{
    return combine(out, fs, n, true);
}

/* ---- wf_async ------------------------------------------------------------- */

struct async_job {
    struct wf_promise *p;
    wf_fiber_fn *fn;
    void *arg;
    struct wf_fiber self;
};

static void async_cancel(void *arg)
{
    struct async_job *j = arg;
    wf_cancel(j->self);
}

static void *async_body(void *arg)
{
    struct async_job *j = arg;
    j->self = wf_self();
    if (wf_promise_on_cancel(j->p, async_cancel, j) == WF_ECANCELED)
        wf_cancel(j->self);
    void *res = j->fn(j->arg);
    /* Waits for a running cancel handler, so j can go afterwards. */
    wf_promise_complete(j->p, res);
    free(j);
    return NULL;
}

int wf_async(struct wf_future **out, wf_fiber_fn *fn, void *arg)
{
    if (!out || !fn)
        return WF_EINVAL;
    if (!wf__rt_running())
        return WF_ESHUTDOWN;
    struct async_job *j = wf__malloc(sizeof *j);
    if (!j)
        return WF_ENOMEM;
    struct wf_future *f;
    int err = wf_promise_create(&j->p, &f);
    if (err)
        goto out_job;
    j->fn = fn;
    j->arg = arg;
    j->self.id = 0;
    err = wf_go(NULL, async_body, j);
    if (err)
        goto out_promise;
    *out = f;
    return 0;

out_promise:
    wf_promise_fail(j->p, err);
    wf_future_release(f);
out_job:
    free(j);
    return err;
}
