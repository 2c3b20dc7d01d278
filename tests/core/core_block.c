/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_block.c - part of test_core (see test_core.c): blocking points: cancellation at each of them, deadlines,
 * park/unpark.
 */
#include "core_cases.h"

/* ---- cancellation ---------------------------------------------------- */

enum block_kind { BK_SLEEP, BK_JOIN, BK_PARK, BK_SCOPE };

struct victim {
    enum block_kind kind;
    atomic_int ready;
    int rc1, rc2, rc3;
    bool cancelled_before, cancelled_after;
    struct wf_fiber other;   /* BK_JOIN: the fiber it joins */
    atomic_int release;      /* BK_SCOPE: lets the scope's member end */
    atomic_int member_done;  /* BK_SCOPE */
    atomic_int member_cancelled; /* BK_SCOPE: it saw wf_cancelled() */
    int close_rc;
};

/* Runs until released, ignoring cancellation but noting it. */
static void *scope_member_fn(void *arg)
{
    struct victim *v = arg;
    while (!atomic_load(&v->release)) {
        if (wf_cancelled())
            atomic_store(&v->member_cancelled, 1);
        if (wf_sleep(WF_MSEC) != 0)
            wf_yield();
    }
    atomic_store(&v->member_done, 1);
    return NULL;
}

static int block_once(struct victim *v, struct wf_scope *s, int64_t deadline)
{
    int rc;
    void *r;
    switch (v->kind) {
    case BK_SLEEP:
        return wf_sleep_until(deadline);
    case BK_JOIN:
        return wf_join(v->other, &r, deadline);
    case BK_PARK:
        while ((rc = wf_park(deadline)) == 0) {
        }
        return rc;
    case BK_SCOPE:
        return wf_scope_wait(s, deadline);
    }
    return 1;
}

static void *victim_fn(void *arg)
{
    struct victim *v = arg;
    struct wf_scope *s = NULL;
    v->cancelled_before = wf_cancelled();
    if (v->kind == BK_JOIN)
        v->other = go(park_forever, NULL);
    if (v->kind == BK_SCOPE) {
        WT_CHECK_EQ(wf_scope_open(&s), 0);
        WT_CHECK_EQ(wf_scope_go(s, NULL, scope_member_fn, v), 0);
    }
    atomic_store(&v->ready, 1);
    v->rc1 = block_once(v, s, WF_FOREVER);
    /* sticky: a second wait fails at once (a finite deadline so that a
     * non-sticky cancel shows as a wrong code, not as a hang) */
    v->rc2 = block_once(v, s, wf_deadline_in(5 * WF_SEC));
    v->rc3 = wf_sleep_until(wf_deadline_in(5 * WF_SEC));
    v->cancelled_after = wf_cancelled();
    if (v->kind == BK_SCOPE) {
        /* cancelling the victim cancelled the scope it has open */
        if (!fiber_poll(&v->member_cancelled, 1, 10 * WF_SEC))
            WT_FAIL("the member of a cancelled fiber's open scope was not "
                    "cancelled (10 s)");
        WT_CHECK_EQ(atomic_load(&v->member_done), 0);
        atomic_store(&v->release, 1);
        v->close_rc = wf_scope_close(s);
        WT_CHECK_EQ(atomic_load(&v->member_done), 1);
    }
    return U2P(0x77);
}

static void check_victim(struct victim *v, void *res)
{
    WT_CHECK_EQ(P2U(res), 0x77);
    WT_CHECK(!v->cancelled_before);
    WT_CHECK_EQ(v->rc1, WF_ECANCELED);
    WT_CHECK_EQ(v->rc2, WF_ECANCELED);
    WT_CHECK_EQ(v->rc3, WF_ECANCELED);
    WT_CHECK(v->cancelled_after);
    if (v->kind == BK_JOIN) {
        /* the fiber it was joining is untouched and still joinable */
        WT_CHECK_EQ(wf_cancel(v->other), 0);
        WT_CHECK_EQ((intptr_t)join(v->other), WF_ECANCELED);
    }
    if (v->kind == BK_SCOPE)
        WT_CHECK(v->close_rc >= 0);
}

static void *cancel_from_fiber_main(void *arg)
{
    struct victim *v = arg;
    struct wf_fiber f = go(victim_fn, v);
    fiber_wait(&v->ready, 1);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0); /* let it block */
    WT_CHECK_EQ(wf_cancel(f), 0);
    WT_CHECK_EQ(wf_cancel(f), 0); /* twice is fine */
    WT_CHECK(!wf_cancelled());    /* the canceller is not cancelled */
    check_victim(v, join(f));
    WT_CHECK_EQ(wf_cancel(f), WF_ESRCH); /* joined: stale */
    return NULL;
}

static void cancel_from_fiber(enum block_kind kind)
{
    static struct victim v;
    v.kind = kind;
    run_main(2, cancel_from_fiber_main, &v);
}

static void cancel_from_thread(enum block_kind kind)
{
    static struct victim v;
    v.kind = kind;
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct wf_fiber f = go(victim_fn, &v);
    thread_wait(&v.ready, 1);
    nap_ms(20);
    WT_CHECK_EQ(wf_cancel(f), 0);
    WT_CHECK_EQ(wf_cancel(f), 0);
    check_victim(&v, join(f));
    WT_CHECK_EQ(wf_cancel(f), WF_ESRCH);
    shutdown_clean();
}

WT_CASE(cancel_sleep_from_fiber)
{
    cancel_from_fiber(BK_SLEEP);
}

WT_CASE(cancel_sleep_from_thread)
{
    cancel_from_thread(BK_SLEEP);
}

WT_CASE(cancel_join_from_fiber)
{
    cancel_from_fiber(BK_JOIN);
}

WT_CASE(cancel_join_from_thread)
{
    cancel_from_thread(BK_JOIN);
}

WT_CASE(cancel_park_from_fiber)
{
    cancel_from_fiber(BK_PARK);
}

WT_CASE(cancel_park_from_thread)
{
    cancel_from_thread(BK_PARK);
}

WT_CASE(cancel_scope_wait_from_fiber)
{
    cancel_from_fiber(BK_SCOPE);
}

WT_CASE(cancel_scope_wait_from_thread)
{
    cancel_from_thread(BK_SCOPE);
}

/* Cancelled before it blocks at all: its first blocking call fails. */
static atomic_int cb_go;

static void *cancel_before_fn(void *arg)
{
    while (!atomic_load(&cb_go))
        wf_yield();
    bool c = wf_cancelled();
    int rc1 = wf_sleep(WF_SEC);
    int rc2 = wf_park(WF_FOREVER);
    WT_CHECK(c);
    WT_CHECK_EQ(rc1, WF_ECANCELED);
    WT_CHECK_EQ(rc2, WF_ECANCELED);
    /* non-blocking calls still work */
    WT_CHECK_EQ(wf_yield(), 0);
    WT_CHECK(wf_self().id != 0);
    return U2P(3);
}

static void *cancel_before_main(void *arg)
{
    struct wf_fiber f = go(cancel_before_fn, NULL);
    WT_CHECK_EQ(wf_cancel(f), 0);
    atomic_store(&cb_go, 1);
    WT_CHECK_EQ(P2U(join(f)), 3);
    return NULL;
}

WT_CASE(cancel_before_blocking)
{
    run_main(2, cancel_before_main, NULL);
}

/* Cancelling a fiber that has returned but is not joined yet is fine, and
 * the join still gets its result; so is unparking it. */
static atomic_int fin_done;

static void *finish_fn(void *arg)
{
    atomic_store(&fin_done, 1);
    return U2P(0xf1);
}

static void *cancel_finished_main(void *arg)
{
    struct wf_fiber f = go(finish_fn, NULL);
    fiber_wait(&fin_done, 1);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0); /* let it return */
    WT_CHECK_EQ(wf_cancel(f), 0);
    WT_CHECK_EQ(wf_unpark(f), 0);
    void *r = NULL;
    WT_CHECK_EQ(wf_join(f, &r, WF_FOREVER), 0);
    WT_CHECK_EQ(P2U(r), 0xf1);
    WT_CHECK_EQ(wf_cancel(f), WF_ESRCH);
    WT_CHECK_EQ(wf_unpark(f), WF_ESRCH);
    WT_CHECK_EQ(wf_cancel((struct wf_fiber){0}), WF_ESRCH);
    return NULL;
}

WT_CASE(cancel_finished_unjoined)
{
    run_main(2, cancel_finished_main, NULL);
}

/* ---- deadlines ------------------------------------------------------- */

static void *join_deadline_main(void *arg)
{
    struct wf_fiber f = go(park_forever, NULL);
    for (int ms = 1; ms <= 40; ms *= 3) {
        int64_t dl = wf_deadline_in(ms * WF_MSEC);
        WT_CHECK_EQ(wf_join(f, NULL, dl), WF_ETIMEDOUT);
        WT_CHECK(wf_now() >= dl);
    }
    /* a deadline in the past: a non-blocking attempt */
    WT_CHECK_EQ(wf_join(f, NULL, wf_now() - 1), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_join(f, NULL, 0), WF_ETIMEDOUT);
    /* still joinable, by us */
    WT_CHECK_EQ(wf_cancel(f), 0);
    WT_CHECK_EQ((intptr_t)join(f), WF_ECANCELED);
    /* a past deadline on a finished fiber joins it */
    struct wf_fiber g = go(finish_fn, NULL);
    fiber_wait(&fin_done, 1);
    void *r = NULL;
    int rc;
    while ((rc = wf_join(g, &r, 0)) == WF_ETIMEDOUT)
        wf_sleep(WF_MSEC);
    WT_CHECK_EQ(rc, 0);
    WT_CHECK_EQ(P2U(r), 0xf1);
    return NULL;
}

WT_CASE(join_deadline)
{
    run_main(2, join_deadline_main, NULL);
}

static void *park_deadline_main(void *arg)
{
    for (int ms = 1; ms <= 81; ms *= 3) {
        int64_t dl = wf_deadline_in(ms * WF_MSEC);
        int rc;
        while ((rc = wf_park(dl)) == 0) {
        }
        WT_CHECK_EQ(rc, WF_ETIMEDOUT);
        WT_CHECK(wf_now() >= dl);
    }
    /* a past deadline with no permit: a non-blocking attempt */
    WT_CHECK_EQ(wf_park(0), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_park(wf_now() - 1), WF_ETIMEDOUT);
    /* with a permit it succeeds at once */
    WT_CHECK_EQ(wf_unpark(wf_self()), 0);
    WT_CHECK_EQ(wf_park(0), 0);
    WT_CHECK_EQ(wf_park(0), WF_ETIMEDOUT);
    return NULL;
}

WT_CASE(park_deadline)
{
    run_main(2, park_deadline_main, NULL);
}

static void *sleep_zero_main(void *arg)
{
    for (int i = 0; i < 1000; i++) {
        WT_CHECK_EQ(wf_sleep(0), 0);
        WT_CHECK_EQ(wf_sleep(-1), 0);
        WT_CHECK_EQ(wf_sleep(INT64_MIN), 0);
        WT_CHECK_EQ(wf_sleep_until(0), 0);
        WT_CHECK_EQ(wf_sleep_until(-5), 0);
        WT_CHECK_EQ(wf_sleep_until(wf_now()), 0);
    }
    int64_t dl = wf_deadline_in(15 * WF_MSEC);
    WT_CHECK_EQ(wf_sleep_until(dl), 0);
    WT_CHECK(wf_now() >= dl);
    int64_t before = wf_now();
    WT_CHECK_EQ(wf_sleep(15 * WF_MSEC), 0);
    WT_CHECK(wf_now() >= before + 15 * WF_MSEC);
    return U2P(1);
}

WT_CASE(sleep_zero_and_negative)
{
    WT_CHECK_EQ(P2U(run_main(2, sleep_zero_main, NULL)), 1);
    /* from a plain thread too */
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    for (int i = 0; i < 1000; i++) {
        WT_CHECK_EQ(wf_sleep(0), 0);
        WT_CHECK_EQ(wf_sleep(-1), 0);
        WT_CHECK_EQ(wf_sleep_until(0), 0);
    }
    shutdown_clean();
}

WT_CASE(time_and_strerror)
{
    int64_t a = wf_now(), b = wf_now();
    WT_CHECK(a > 0 && b >= a);
    WT_CHECK_EQ(wf_deadline_in(INT64_MAX), WF_FOREVER);
    WT_CHECK_EQ(wf_deadline_in(INT64_MAX - 1), WF_FOREVER);
    int64_t lo = wf_now();
    int64_t d = wf_deadline_in(-5);
    int64_t hi = wf_now();
    WT_CHECK(d >= lo && d <= hi);
    d = wf_deadline_in(WF_SEC);
    WT_CHECK(d >= hi + WF_SEC);
    int codes[] = {WF_EPERM, WF_ESRCH, WF_EAGAIN, WF_ENOMEM, WF_EBUSY,
                   WF_EINVAL, WF_EDEADLK, WF_ENOSYS, WF_EALREADY,
                   WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = wf_strerror(codes[i]);
        WT_CHECK(s != NULL && s[0] != '\0');
        WT_CHECK(strcmp(s, wf_strerror(-codes[i])) == 0);
        for (size_t j = 0; j < i; j++)
            WT_CHECK(strcmp(s, wf_strerror(codes[j])) != 0);
    }
    WT_CHECK(wf_strerror(0) != NULL);
    WT_CHECK(wf_strerror(-99999) != NULL);
    WT_CHECK(wf_strerror(INT_MIN) != NULL);
}

/* ---- park / unpark --------------------------------------------------- */

static atomic_int pk_step;

/* Waiting by yielding, not sleeping: the permit must reach wf_park below,
 * and weft's own blocking calls may consume it (they park too). */
static void yield_until(atomic_int *flag, int v)
{
    while (atomic_load(flag) < v)
        WT_CHECK_EQ(wf_yield(), 0);
}

static void *permit_fn(void *arg)
{
    yield_until(&pk_step, 1); /* main has unparked us (while not parked) */
    /* the permit is there: would hang (ctest timeout) without it */
    WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
    atomic_store(&pk_step, 2);
    return U2P(9);
}

static void *permit_main(void *arg)
{
    struct wf_fiber f = go(permit_fn, NULL);
    WT_CHECK_EQ(wf_unpark(f), 0);
    atomic_store(&pk_step, 1);
    WT_CHECK_EQ(P2U(join(f)), 9);
    WT_CHECK_EQ(atomic_load(&pk_step), 2);
    /* and a fiber may give itself the permit */
    WT_CHECK_EQ(wf_unpark(wf_self()), 0);
    WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
    return NULL;
}

WT_CASE(unpark_before_park)
{
    run_main(2, permit_main, NULL);
}

static void *no_accum_fn(void *arg)
{
    yield_until(&pk_step, 1);
    int rc1 = wf_park(WF_FOREVER);
    int64_t dl = wf_deadline_in(30 * WF_MSEC);
    int rc2 = wf_park(dl);
    WT_CHECK_EQ(rc1, 0);
    WT_CHECK_EQ(rc2, WF_ETIMEDOUT); /* at most one permit is kept */
    WT_CHECK(wf_now() >= dl);
    return NULL;
}

static void *no_accum_main(void *arg)
{
    struct wf_fiber f = go(no_accum_fn, NULL);
    for (int i = 0; i < 5; i++)
        WT_CHECK_EQ(wf_unpark(f), 0);
    atomic_store(&pk_step, 1);
    join(f);
    /* the same for the caller's own permit */
    WT_CHECK_EQ(wf_unpark(wf_self()), 0);
    WT_CHECK_EQ(wf_unpark(wf_self()), 0);
    WT_CHECK_EQ(wf_park(0), 0);
    WT_CHECK_EQ(wf_park(0), WF_ETIMEDOUT);
    return NULL;
}

WT_CASE(unpark_not_accumulated)
{
    run_main(2, no_accum_main, NULL);
}

static void *stale_unpark_main(void *arg)
{
    struct wf_fiber f = go(value_fn, U2P(1));
    WT_CHECK_EQ(P2U(join(f)), 3);
    WT_CHECK_EQ(wf_unpark(f), WF_ESRCH);
    WT_CHECK_EQ(wf_unpark((struct wf_fiber){0}), WF_ESRCH);
    WT_CHECK_EQ(wf_unpark((struct wf_fiber){UINT64_MAX}), WF_ESRCH);
    return NULL;
}

WT_CASE(unpark_stale_handle)
{
    run_main(2, stale_unpark_main, NULL);
}

/* A plain thread wakes a parked fiber. */
static atomic_int flag_set;

static void *park_until_flag(void *arg)
{
    while (!atomic_load(&flag_set))
        WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
    return U2P(0xab);
}

WT_CASE(unpark_from_plain_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct wf_fiber f = go(park_until_flag, NULL);
    nap_ms(20);
    atomic_store(&flag_set, 1);
    WT_CHECK_EQ(wf_unpark(f), 0);
    WT_CHECK_EQ(P2U(join(f)), 0xab);
    WT_CHECK_EQ(wf_unpark(f), WF_ESRCH);
    shutdown_clean();
}
