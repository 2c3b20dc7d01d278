/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_future.c - futures and promises through weft/future.h:
 * every outcome (complete, fail, cancel) with every way of consuming it
 * (then before and after, await in a fiber, wait from a plain thread),
 * completion from a foreign thread, a fiber, a timer (a sleeping fiber),
 * when_all / when_any with mixed outcomes and cancellation, wf_async,
 * deadlines and cancellation of the waiter, and a stress of completions
 * racing with waits and callbacks. Run under ASan, LSan finds any leak.
 *
 * Nothing is timed: where a case wants a waiter to be parked before the
 * completion comes, it naps a little, and every check holds either way.
 */
#include <weft.h>

#include "wtest_rt.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum { OK, FAIL, CANCEL };
#define VALUE U2P(0x1234)
#define ERR (-EIO)

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void init_rt(int workers)
{
    struct wf_config c = config(workers);
    int rc = wf_init(&c);
    if (rc != 0)
        WT_FAIL("wf_init: %s (%d)", wf_strerror(rc), rc);
}

static void settle(struct wf_promise *p, struct wf_future *f, int how)
{
    switch (how) {
    case OK:
        WT_CHECK_EQ(wf_promise_complete(p, VALUE), 0);
        break;
    case FAIL:
        WT_CHECK_EQ(wf_promise_fail(p, ERR), 0);
        break;
    default:
        WT_CHECK_EQ(wf_future_cancel(f), 0);
        WT_CHECK(wf_promise_cancelled(p));
        WT_CHECK_EQ(wf_promise_complete(p, VALUE), WF_ECANCELED);
        break;
    }
}

static void check_outcome(struct wf_future *f, int how)
{
    void *v = NULL;
    WT_CHECK(wf_future_done(f));
    int rc = wf_future_result(f, &v);
    switch (how) {
    case OK:
        WT_CHECK_EQ(rc, 0);
        WT_CHECK(v == VALUE);
        break;
    case FAIL:
        WT_CHECK_EQ(rc, ERR);
        WT_CHECK(v == NULL);
        break;
    default:
        WT_CHECK_EQ(rc, WF_ECANCELED);
        WT_CHECK(v == NULL);
        break;
    }
}

/* ---- basics and misuse -------------------------------------------------- */

WT_CASE(misuse)
{
    struct wf_promise *p;
    struct wf_future *f;
    void *v;
    WT_CHECK_EQ(wf_promise_create(NULL, &f), WF_EINVAL);
    WT_CHECK_EQ(wf_promise_create(&p, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_promise_complete(NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_promise_fail(NULL, ERR), WF_EINVAL);
    WT_CHECK_EQ(wf_future_result(NULL, &v), WF_EINVAL);
    WT_CHECK_EQ(wf_future_then(NULL, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_future_wait(NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_future_await(NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_future_cancel(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_future_when_any(&f, NULL, 0), WF_EINVAL);
    WT_CHECK(!wf_future_done(NULL));
    wf_future_release(NULL);

    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK(!wf_future_done(f));
    WT_CHECK_EQ(wf_future_result(f, &v), WF_EAGAIN);
    WT_CHECK_EQ(wf_future_then(f, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_promise_on_cancel(p, NULL, NULL), WF_EINVAL);
    /* Fiber-only await from a plain thread; a plain-thread wait needs a
     * runtime. */
    WT_CHECK_EQ(wf_future_await(f, WF_FOREVER), WF_EPERM);
    WT_CHECK_EQ(wf_future_wait(f, WF_FOREVER), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_async(&f, NULL, NULL), WF_EINVAL);
    /* A success code given to fail still fails the future. */
    WT_CHECK_EQ(wf_promise_fail(p, 0), 0);
    WT_CHECK_EQ(wf_future_result(f, &v), WF_EINVAL);
    WT_CHECK_EQ(wf_future_cancel(f), WF_EALREADY);
    WT_CHECK_EQ(wf_future_wait(f, WF_FOREVER), 0); /* done: no runtime needed */
    wf_future_release(f);
}

WT_CASE(release_order)
{
    /* Either side may finish first; LSan checks that nothing is left. */
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    wf_future_release(f);
    WT_CHECK_EQ(wf_promise_complete(p, VALUE), 0);

    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK(wf_future_ref(f) == f);
    WT_CHECK_EQ(wf_promise_fail(p, ERR), 0);
    wf_future_release(f);
    check_outcome(f, FAIL);
    wf_future_release(f);

    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_future_cancel(f), 0);
    wf_future_release(f);
    WT_CHECK_EQ(wf_promise_complete(p, VALUE), WF_ECANCELED);
}

/* ---- then --------------------------------------------------------------- */

struct seen {
    atomic_int calls;
    atomic_int order[8];
    atomic_int n;
    int how;
};

static void then_fn(struct wf_future *f, void *arg)
{
    struct seen *s = arg;
    check_outcome(f, s->how);
    atomic_fetch_add(&s->calls, 1);
}

static void then_ord(struct wf_future *f, void *arg)
{
    struct seen *s = (struct seen *)((uintptr_t)arg & ~(uintptr_t)7);
    int idx = (int)((uintptr_t)arg & 7);
    (void)f;
    s->order[atomic_fetch_add(&s->n, 1)] = idx;
}

WT_CASE(then_each_outcome)
{
    for (int how = OK; how <= CANCEL; how++) {
        /* registered before, after, and several of them in order */
        struct wf_promise *p;
        struct wf_future *f;
        static struct seen s __attribute__((aligned(8)));
        memset(&s, 0, sizeof s);
        s.how = how;
        WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
        WT_CHECK_EQ(wf_future_then(f, then_fn, &s), 0);
        for (int i = 0; i < 5; i++)
            WT_CHECK_EQ(wf_future_then(f, then_ord, (void *)((uintptr_t)&s | (uintptr_t)i)), 0);
        WT_CHECK_EQ(wf_future_then(f, then_fn, &s), 0);
        WT_CHECK_EQ(atomic_load(&s.calls), 0);
        settle(p, f, how);
        WT_CHECK_EQ(atomic_load(&s.calls), 2);
        WT_CHECK_EQ(atomic_load(&s.n), 5);
        for (int i = 0; i < 5; i++)
            WT_CHECK_EQ(s.order[i], i);
        WT_CHECK_EQ(wf_future_then(f, then_fn, &s), 0); /* after: at once */
        WT_CHECK_EQ(atomic_load(&s.calls), 3);
        wf_future_release(f);
    }
}

static void release_in_then(struct wf_future *f, void *arg)
{
    (void)arg;
    wf_future_release(f); /* the consumer's only reference */
}

WT_CASE(then_releases)
{
    for (int how = OK; how <= CANCEL; how++) {
        struct wf_promise *p;
        struct wf_future *f;
        WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
        WT_CHECK_EQ(wf_future_then(f, release_in_then, NULL), 0);
        if (how == CANCEL) {
            /* the canceller's reference is the one released inside */
            WT_CHECK_EQ(wf_future_cancel(f), 0);
            WT_CHECK_EQ(wf_promise_fail(p, ERR), WF_ECANCELED);
        } else if (how == OK) {
            WT_CHECK_EQ(wf_promise_complete(p, VALUE), 0);
        } else {
            WT_CHECK_EQ(wf_promise_fail(p, ERR), 0);
        }
    }
}

/* ---- cancel handler ------------------------------------------------------ */

static atomic_int handler_calls;
static void handler(void *arg)
{
    (void)arg;
    atomic_fetch_add(&handler_calls, 1);
}

WT_CASE(cancel_handler)
{
    struct wf_promise *p;
    struct wf_future *f;
    /* called once on cancel */
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_promise_on_cancel(p, handler, NULL), 0);
    WT_CHECK(!wf_promise_cancelled(p));
    WT_CHECK_EQ(wf_future_cancel(f), 0);
    WT_CHECK_EQ(wf_future_cancel(f), WF_EALREADY);
    WT_CHECK_EQ(atomic_load(&handler_calls), 1);
    WT_CHECK_EQ(wf_promise_on_cancel(p, handler, NULL), WF_ECANCELED);
    WT_CHECK_EQ(wf_promise_fail(p, ERR), WF_ECANCELED);
    check_outcome(f, CANCEL);
    wf_future_release(f);
    /* never after completion */
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_promise_on_cancel(p, handler, NULL), 0);
    WT_CHECK_EQ(wf_promise_complete(p, VALUE), 0);
    WT_CHECK_EQ(wf_future_cancel(f), WF_EALREADY);
    WT_CHECK_EQ(atomic_load(&handler_calls), 1);
    wf_future_release(f);
}

/* ---- await / wait ------------------------------------------------------- */

/* Who completes, when the consumer already waits. */
enum { BY_THREAD, BY_FIBER, BY_TIMER };

struct job {
    struct wf_promise *p;
    struct wf_future *f;
    int how;
    long delay_ms;
};

static void *thread_settle(void *arg)
{
    struct job *j = arg;
    nap_ms(j->delay_ms);
    settle(j->p, j->f, j->how);
    return NULL;
}

static void *fiber_settle(void *arg)
{
    struct job *j = arg;
    if (j->delay_ms)
        WT_CHECK_EQ(wf_sleep(j->delay_ms * WF_MSEC), 0); /* a timer */
    else
        wf_yield();
    settle(j->p, j->f, j->how);
    return NULL;
}

/* Consume job j (already set up) by await from a fiber. */
static void *await_fiber(void *arg)
{
    struct job *j = arg;
    WT_CHECK_EQ(wf_future_await(j->f, WF_FOREVER), 0);
    check_outcome(j->f, j->how);
    return NULL;
}

static void await_matrix(bool plain_waiter)
{
    init_rt(2);
    for (int by = BY_THREAD; by <= BY_TIMER; by++)
        for (int how = OK; how <= CANCEL; how++)
            for (int early = 0; early < 2; early++) {
                struct job j = {0};
                j.how = how;
                j.delay_ms = early ? 0 : 20;
                WT_CHECK_EQ(wf_promise_create(&j.p, &j.f), 0);
                wf_future_ref(j.f); /* the canceller's, for thread_settle */
                if (early)
                    settle(j.p, j.f, how);
                pthread_t t;
                struct wf_fiber fb;
                if (!early) {
                    if (by == BY_THREAD)
                        WT_CHECK_EQ(pthread_create(&t, NULL, thread_settle, &j), 0);
                    else
                        WT_CHECK_EQ(wf_go(&fb, fiber_settle, &j), 0);
                }
                if (plain_waiter) {
                    WT_CHECK_EQ(wf_future_wait(j.f, WF_FOREVER), 0);
                    check_outcome(j.f, how);
                } else {
                    struct wf_fiber w;
                    WT_CHECK_EQ(wf_go(&w, await_fiber, &j), 0);
                    WT_CHECK_EQ(wf_join(w, NULL, WF_FOREVER), 0);
                }
                if (!early) {
                    if (by == BY_THREAD)
                        pthread_join(t, NULL);
                    else
                        WT_CHECK_EQ(wf_join(fb, NULL, WF_FOREVER), 0);
                }
                wf_future_release(j.f);
                wf_future_release(j.f);
            }
    shutdown_clean();
}

WT_CASE(await_each_outcome) { await_matrix(false); }
WT_CASE(wait_each_outcome) { await_matrix(true); }

static void *await_deadline_main(void *arg)
{
    (void)arg;
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_future_await(f, wf_deadline_in(5 * WF_MSEC)), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_future_await(f, 0), WF_ETIMEDOUT); /* past: an attempt */
    WT_CHECK(!wf_future_done(f));
    WT_CHECK_EQ(wf_promise_complete(p, VALUE), 0);
    WT_CHECK_EQ(wf_future_await(f, 0), 0);
    check_outcome(f, OK);
    wf_future_release(f);
    return NULL;
}

WT_CASE(await_deadline) { run_main(2, await_deadline_main, NULL); }

WT_CASE(wait_deadline_thread)
{
    init_rt(1);
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_future_wait(f, wf_deadline_in(5 * WF_MSEC)), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_promise_fail(p, ERR), 0);
    WT_CHECK_EQ(wf_future_wait(f, WF_FOREVER), 0);
    check_outcome(f, FAIL);
    wf_future_release(f);
    shutdown_clean();
}

static atomic_int awaiter_in;
static void *cancelled_awaiter(void *arg)
{
    struct wf_future *f = arg;
    atomic_store(&awaiter_in, 1);
    int rc = wf_future_await(f, WF_FOREVER);
    return U2P((uintptr_t)-rc);
}

static void *await_cancel_main(void *arg)
{
    (void)arg;
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    struct wf_fiber w;
    WT_CHECK_EQ(wf_go(&w, cancelled_awaiter, f), 0);
    while (!atomic_load(&awaiter_in))
        wf_yield();
    wf_sleep(2 * WF_MSEC);
    WT_CHECK_EQ(wf_cancel(w), 0);
    void *r;
    WT_CHECK_EQ(wf_join(w, &r, WF_FOREVER), 0);
    WT_CHECK_EQ((int)P2U(r), ECANCELED);
    /* The waiter's cancellation leaves the future alone. */
    WT_CHECK(!wf_future_done(f));
    WT_CHECK_EQ(wf_promise_complete(p, VALUE), 0);
    check_outcome(f, OK);
    wf_future_release(f);
    return NULL;
}

WT_CASE(await_cancelled) { run_main(2, await_cancel_main, NULL); }

static void *shutdown_waiter(void *arg)
{
    return U2P((uintptr_t)-wf_future_wait(arg, WF_FOREVER));
}

WT_CASE(wait_shutdown)
{
    init_rt(1);
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, shutdown_waiter, f), 0);
    nap_ms(10);
    shutdown_clean();
    void *r;
    pthread_join(t, &r);
    WT_CHECK_EQ((int)P2U(r), ESHUTDOWN);
    WT_CHECK_EQ(wf_promise_complete(p, VALUE), 0);
    wf_future_release(f);
}

/* ---- combinators -------------------------------------------------------- */

WT_CASE(when_all_mixed)
{
    enum { N = 6 };
    struct wf_promise *p[N];
    struct wf_future *f[N], *all;
    WT_CHECK_EQ(wf_future_when_all(&all, NULL, 0), 0);
    WT_CHECK_EQ(wf_future_result(all, NULL), 0);
    wf_future_release(all);

    /* all succeed, in any order */
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_promise_create(&p[i], &f[i]), 0);
    WT_CHECK_EQ(wf_promise_complete(p[2], VALUE), 0); /* done before */
    WT_CHECK_EQ(wf_future_when_all(&all, f, N), 0);
    for (int i = N - 1; i >= 0; i--) {
        if (i == 2)
            continue;
        WT_CHECK(!wf_future_done(all));
        WT_CHECK_EQ(wf_promise_complete(p[i], VALUE), 0);
    }
    WT_CHECK_EQ(wf_future_result(all, NULL), 0);
    wf_future_release(all);
    for (int i = 0; i < N; i++)
        wf_future_release(f[i]);

    /* mixed: the lowest-index failure wins, after all are done */
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_promise_create(&p[i], &f[i]), 0);
    WT_CHECK_EQ(wf_future_when_all(&all, f, N), 0);
    WT_CHECK_EQ(wf_promise_fail(p[4], -EIO), 0);
    WT_CHECK_EQ(wf_future_cancel(f[1]), 0);
    WT_CHECK_EQ(wf_promise_complete(p[1], VALUE), WF_ECANCELED);
    WT_CHECK_EQ(wf_promise_complete(p[0], VALUE), 0);
    WT_CHECK_EQ(wf_promise_complete(p[3], VALUE), 0);
    WT_CHECK_EQ(wf_promise_complete(p[5], VALUE), 0);
    WT_CHECK(!wf_future_done(all));
    WT_CHECK_EQ(wf_promise_fail(p[2], -ENOENT), 0);
    WT_CHECK_EQ(wf_future_result(all, NULL), WF_ECANCELED);
    wf_future_release(all);
    for (int i = 0; i < N; i++)
        wf_future_release(f[i]);

    /* cancelling the aggregate cancels the inputs */
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_promise_create(&p[i], &f[i]), 0);
    WT_CHECK_EQ(wf_promise_complete(p[0], VALUE), 0);
    WT_CHECK_EQ(wf_future_when_all(&all, f, N), 0);
    WT_CHECK_EQ(wf_future_cancel(all), 0);
    WT_CHECK_EQ(wf_future_result(all, NULL), WF_ECANCELED);
    check_outcome(f[0], OK);
    for (int i = 1; i < N; i++) {
        check_outcome(f[i], CANCEL);
        WT_CHECK_EQ(wf_promise_complete(p[i], VALUE), WF_ECANCELED);
    }
    wf_future_release(all);
    for (int i = 0; i < N; i++)
        wf_future_release(f[i]);
}

WT_CASE(when_any_mixed)
{
    enum { N = 5 };
    struct wf_promise *p[N];
    struct wf_future *f[N], *any;
    void *v;
    for (int how = OK; how <= CANCEL; how++) {
        for (int i = 0; i < N; i++)
            WT_CHECK_EQ(wf_promise_create(&p[i], &f[i]), 0);
        WT_CHECK_EQ(wf_future_when_any(&any, f, N), 0);
        WT_CHECK(!wf_future_done(any));
        settle(p[3], f[3], how);
        WT_CHECK_EQ(wf_future_result(any, &v), 0);
        WT_CHECK_EQ(P2U(v), 3);
        /* later completions change nothing */
        WT_CHECK_EQ(wf_promise_fail(p[0], ERR), 0);
        WT_CHECK_EQ(wf_future_result(any, &v), 0);
        WT_CHECK_EQ(P2U(v), 3);
        /* the aggregate is done: cancelling it does not touch inputs */
        WT_CHECK_EQ(wf_future_cancel(any), WF_EALREADY);
        for (int i = 1; i < N; i++)
            if (i != 3)
                WT_CHECK_EQ(wf_promise_complete(p[i], VALUE), 0);
        wf_future_release(any);
        for (int i = 0; i < N; i++)
            wf_future_release(f[i]);
    }
    /* an input already done */
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_promise_create(&p[i], &f[i]), 0);
    WT_CHECK_EQ(wf_promise_fail(p[4], ERR), 0);
    WT_CHECK_EQ(wf_future_when_any(&any, f, N), 0);
    WT_CHECK_EQ(wf_future_result(any, &v), 0);
    WT_CHECK_EQ(P2U(v), 4);
    wf_future_release(any);
    /* cancel propagates while pending */
    WT_CHECK_EQ(wf_future_when_any(&any, f, N - 1), 0);
    WT_CHECK_EQ(wf_future_cancel(any), 0);
    for (int i = 0; i < N - 1; i++) {
        check_outcome(f[i], CANCEL);
        WT_CHECK_EQ(wf_promise_complete(p[i], VALUE), WF_ECANCELED);
    }
    wf_future_release(any);
    for (int i = 0; i < N; i++)
        wf_future_release(f[i]);
}

/* when_all of when_any, completed from threads while fibers await. */
static void *many_thread(void *arg)
{
    struct wf_promise **p = arg;
    for (int i = 0; i < 64; i++) {
        if (i % 3 == 0)
            wf_promise_fail(p[i], ERR);
        else
            wf_promise_complete(p[i], U2P(i));
    }
    return NULL;
}

static void *nested_main(void *arg)
{
    (void)arg;
    struct wf_promise *p[64];
    struct wf_future *f[64], *any[8], *all;
    for (int i = 0; i < 64; i++)
        WT_CHECK_EQ(wf_promise_create(&p[i], &f[i]), 0);
    for (int k = 0; k < 8; k++)
        WT_CHECK_EQ(wf_future_when_any(&any[k], f + 8 * k, 8), 0);
    WT_CHECK_EQ(wf_future_when_all(&all, any, 8), 0);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, many_thread, p), 0);
    WT_CHECK_EQ(wf_future_await(all, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(all, NULL), 0);
    pthread_join(t, NULL);
    for (int k = 0; k < 8; k++) {
        void *v;
        WT_CHECK_EQ(wf_future_result(any[k], &v), 0);
        WT_CHECK(P2U(v) < 8);
        wf_future_release(any[k]);
    }
    wf_future_release(all);
    for (int i = 0; i < 64; i++)
        wf_future_release(f[i]);
    return NULL;
}

WT_CASE(when_nested_threads) { run_main(2, nested_main, NULL); }

/* A cancel whose callback yields (it completes a promise whose own cancel
 * handler is running on another thread, and waits for it) and moves to
 * another worker meanwhile. Cancelling a when_all runs the user's
 * callback first, then the handler that cancels the inputs, whose
 * callback completes the aggregate from inside its own cancel: the
 * fiber must still know it is that cancel's runner, on whatever worker
 * it now is, or it waits for itself. WEFT_DEBUG_MIGRATE makes every
 * yield a move; rounds go on until one cancel has moved. */
static struct {
    struct wf_promise *pq;
    struct wf_future *fq;
    atomic_int stage;  /* 1: Q's handler runs; 2: the callback waits */
    int w0;            /* the worker the callback started on */
    atomic_bool moved; /* the callback came back on another worker */
} MV;

static void mv_handler(void *arg)
{
    (void)arg;
    atomic_store(&MV.stage, 1);
    while (atomic_load(&MV.stage) != 2)
        sched_yield();
    usleep(20000); /* the waiting fiber yields, and moves, meanwhile */
}

static void *mv_cancel_q(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_future_cancel(MV.fq), 0);
    return NULL;
}

static void mv_cb(struct wf_future *f, void *arg)
{
    (void)f;
    (void)arg;
    MV.w0 = wf_worker_index();
    atomic_store(&MV.stage, 2);
    WT_CHECK_EQ(wf_promise_complete(MV.pq, NULL), WF_ECANCELED);
    if (wf_worker_index() != MV.w0)
        atomic_store(&MV.moved, true);
}

static void *mv_round(void *arg)
{
    (void)arg;
    struct wf_promise *px;
    struct wf_future *fx, *all;
    WT_CHECK_EQ(wf_promise_create(&px, &fx), 0);
    WT_CHECK_EQ(wf_promise_create(&MV.pq, &MV.fq), 0);
    WT_CHECK_EQ(wf_promise_on_cancel(MV.pq, mv_handler, NULL), 0);
    WT_CHECK_EQ(wf_future_when_all(&all, &fx, 1), 0);
    WT_CHECK_EQ(wf_future_then(all, mv_cb, NULL), 0);
    atomic_store(&MV.stage, 0);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, mv_cancel_q, NULL), 0);
    while (atomic_load(&MV.stage) != 1)
        wf_yield();
    WT_CHECK_EQ(wf_future_cancel(all), 0);
    check_outcome(all, CANCEL);
    check_outcome(fx, CANCEL);
    WT_CHECK_EQ(wf_promise_complete(px, NULL), WF_ECANCELED);
    pthread_join(t, NULL);
    wf_future_release(all);
    wf_future_release(fx);
    wf_future_release(MV.fq);
    return NULL;
}

static void *mv_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50 && !atomic_load(&MV.moved); i++) {
        struct wf_fiber r;
        WT_CHECK_EQ(wf_go(&r, mv_round, NULL), 0);
        int rc = wf_join(r, NULL, wf_deadline_in(5 * WF_SEC));
        if (rc != 0)
            WT_FAIL("round %d: the cancel did not finish (%d)", i, rc);
    }
    WT_CHECK(atomic_load(&MV.moved));
    return NULL;
}

WT_CASE(cancel_moves_worker)
{
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(2, mv_main, NULL);
}

/* ---- wf_async ------------------------------------------------------------- */

static void *square(void *arg)
{
    uintptr_t x = P2U(arg);
    wf_yield();
    return U2P(x * x);
}

static atomic_int sleeper_in;
static void *sleeper(void *arg)
{
    (void)arg;
    atomic_store(&sleeper_in, 1);
    int rc = wf_sleep(3600 * WF_SEC);
    return U2P((uintptr_t)-rc);
}

static void *async_main(void *arg)
{
    (void)arg;
    enum { N = 100 };
    struct wf_future *f[N], *all;
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_async(&f[i], square, U2P(i)), 0);
    WT_CHECK_EQ(wf_future_when_all(&all, f, N), 0);
    WT_CHECK_EQ(wf_future_await(all, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(all, NULL), 0);
    for (int i = 0; i < N; i++) {
        void *v;
        WT_CHECK_EQ(wf_future_result(f[i], &v), 0);
        WT_CHECK_EQ(P2U(v), (uintptr_t)i * i);
        wf_future_release(f[i]);
    }
    wf_future_release(all);

    /* cancelling the future cancels the fiber */
    struct wf_future *s;
    WT_CHECK_EQ(wf_async(&s, sleeper, NULL), 0);
    while (!atomic_load(&sleeper_in))
        wf_yield();
    WT_CHECK_EQ(wf_future_cancel(s), 0);
    WT_CHECK_EQ(wf_future_result(s, NULL), WF_ECANCELED);
    wf_future_release(s);
    /* cancelled before it even ran: fn runs, cancelled */
    atomic_store(&sleeper_in, 0);
    WT_CHECK_EQ(wf_async(&s, sleeper, NULL), 0);
    WT_CHECK_EQ(wf_future_cancel(s), 0);
    wf_future_release(s);
    while (!atomic_load(&sleeper_in))
        wf_yield();
    return NULL;
}

WT_CASE(async_fibers) { run_main(2, async_main, NULL); }

WT_CASE(async_from_thread)
{
    WT_CHECK_EQ(wf_async(&(struct wf_future *){NULL}, square, U2P(3)),
                WF_ESHUTDOWN);
    init_rt(2);
    struct wf_future *f;
    WT_CHECK_EQ(wf_async(&f, square, U2P(7)), 0);
    WT_CHECK_EQ(wf_future_wait(f, WF_FOREVER), 0);
    void *v;
    WT_CHECK_EQ(wf_future_result(f, &v), 0);
    WT_CHECK_EQ(P2U(v), 49);
    wf_future_release(f);
    shutdown_clean();
}

/* ---- stress --------------------------------------------------------------- */

/* Completions, cancels, callbacks and waits race: a thread and fibers
 * complete or cancel futures that fibers and the main thread await. */
struct race {
    struct wf_promise *p;
    struct wf_future *f;
    atomic_int cbs;
    int how;
};

static void race_cb(struct wf_future *f, void *arg)
{
    struct race *r = arg;
    (void)f;
    atomic_fetch_add(&r->cbs, 1);
}

static void race_settle(struct race *r)
{
    if (r->how == CANCEL)
        wf_future_cancel(r->f);
    else if (r->how == OK)
        wf_promise_complete(r->p, VALUE);
    else
        wf_promise_fail(r->p, ERR);
}

static struct race *races;
static long nraces;

static void *race_thread(void *arg)
{
    (void)arg;
    for (long i = 0; i < nraces; i += 2)
        race_settle(&races[i]);
    return NULL;
}

static void *race_fiber(void *arg)
{
    (void)arg;
    for (long i = 1; i < nraces; i += 2)
        race_settle(&races[i]);
    return NULL;
}

static void *race_awaiter(void *arg)
{
    long start = (long)P2U(arg);
    for (long i = start; i < nraces; i += 2) {
        WT_CHECK_EQ(wf_future_await(races[i].f, WF_FOREVER), 0);
        check_outcome(races[i].f, races[i].how);
    }
    return NULL;
}

WT_CASE(stress_race)
{
    uint64_t seed = wt_seed();
    nraces = scaled(20000);
    races = calloc((size_t)nraces, sizeof *races);
    WT_CHECK(races);
    for (long i = 0; i < nraces; i++) {
        races[i].how = (int)(wt_rand(&seed) % 3);
        WT_CHECK_EQ(wf_promise_create(&races[i].p, &races[i].f), 0);
        WT_CHECK_EQ(wf_future_then(races[i].f, race_cb, &races[i]), 0);
    }
    init_rt(wt_threads(2));
    pthread_t t;
    struct wf_fiber a, b, c;
    WT_CHECK_EQ(wf_go(&a, race_awaiter, U2P(0)), 0);
    WT_CHECK_EQ(wf_go(&b, race_awaiter, U2P(1)), 0);
    WT_CHECK_EQ(wf_go(&c, race_fiber, NULL), 0);
    WT_CHECK_EQ(pthread_create(&t, NULL, race_thread, NULL), 0);
    for (long i = 0; i < nraces; i++)
        WT_CHECK_EQ(wf_future_wait(races[i].f, WF_FOREVER), 0);
    pthread_join(t, NULL);
    WT_CHECK_EQ(wf_join(a, NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_join(b, NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_join(c, NULL, WF_FOREVER), 0);
    shutdown_clean();
    for (long i = 0; i < nraces; i++) {
        check_outcome(races[i].f, races[i].how);
        WT_CHECK_EQ(atomic_load(&races[i].cbs), 1);
        if (races[i].how == CANCEL)
            WT_CHECK_EQ(wf_promise_complete(races[i].p, VALUE), WF_ECANCELED);
        wf_future_release(races[i].f);
    }
    free(races);
}

WT_MAIN()
