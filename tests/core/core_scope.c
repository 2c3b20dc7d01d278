/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_scope.c - part of test_core (see test_core.c): scopes: wait, close, cancel, nesting, closing scopes, member
 * handles; and the cases found by review (scope waiters, stale handles
 * across restarts, permits kept across internal waits, a member waiting on
 * its own scope).
 */
#include "core_cases.h"

/* ---- scopes ----------------------------------------------------------- */

static atomic_int scope_done;

static void *scope_sleeper(void *arg)
{
    int64_t dl = wf_deadline_in((int64_t)P2U(arg) * WF_MSEC);
    WT_CHECK_EQ(wf_sleep_until(dl), 0);
    WT_CHECK(wf_now() >= dl);
    atomic_fetch_add(&scope_done, 1);
    return NULL;
}

static void *scope_wait_main(void *arg)
{
    struct wf_scope *s = NULL;
    uint64_t rng = wt_seed();
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    WT_CHECK(s != NULL);
    for (int i = 0; i < 100; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, scope_sleeper,
                                U2P(10 + wt_rand(&rng) % 50)), 0);
    /* a deadline before the first can end */
    WT_CHECK_EQ(wf_scope_wait(s, wf_now() - 1), WF_ETIMEDOUT);
    int64_t dl = wf_deadline_in(2 * WF_MSEC);
    int rc = wf_scope_wait(s, dl);
    if (rc == WF_ETIMEDOUT)
        WT_CHECK(wf_now() >= dl);
    else
        WT_CHECK_EQ(rc, 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(atomic_load(&scope_done), 100);
    /* a second wait returns at once, members with options work */
    WT_CHECK_EQ(wf_scope_wait(s, 0), 0);
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.name = "member";
    o.worker = 1;
    WT_CHECK_EQ(wf_scope_go(s, &o, scope_sleeper, U2P(1)), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(atomic_load(&scope_done), 101);
    WT_CHECK_EQ(wf_scope_close(s), 0); /* nothing left to cancel */
    return NULL;
}

WT_CASE(scope_wait_waits_for_all)
{
    run_main(2, scope_wait_main, NULL);
}

static atomic_int sc_ready, sc_cancelled;

static void *forever_member(void *arg)
{
    atomic_fetch_add(&sc_ready, 1);
    int rc = wf_sleep_until(WF_FOREVER);
    if (rc == WF_ECANCELED)
        atomic_fetch_add(&sc_cancelled, 1);
    return NULL;
}

static void *scope_close_main(void *arg)
{
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    for (int i = 0; i < 5; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, scope_sleeper, U2P(1)), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0); /* these 5 are done */
    for (int i = 0; i < 10; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, forever_member, NULL), 0);
    fiber_wait(&sc_ready, 10);
    WT_CHECK_EQ(wf_sleep(10 * WF_MSEC), 0);
    WT_CHECK_EQ(wf_scope_wait(s, wf_deadline_in(5 * WF_MSEC)), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_scope_close(s), 10);
    WT_CHECK_EQ(atomic_load(&sc_cancelled), 10);
    WT_CHECK(!wf_cancelled()); /* closing cancels members, not the owner */
    return NULL;
}

WT_CASE(scope_close_cancels_sleepers)
{
    run_main(2, scope_close_main, NULL);
}

static void *scope_cancel_main(void *arg)
{
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    for (int i = 0; i < 10; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, forever_member, NULL), 0);
    fiber_wait(&sc_ready, 10);
    WT_CHECK_EQ(wf_scope_cancel(s), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(atomic_load(&sc_cancelled), 10);
    WT_CHECK(!wf_cancelled());
    WT_CHECK_EQ(wf_scope_close(s), 0); /* all had already returned */
    return NULL;
}

WT_CASE(scope_cancel_then_wait)
{
    run_main(2, scope_cancel_main, NULL);
}

/* Nested scopes: a member M of the outer scope opens an inner scope with 5
 * members, each of which does the same, down to 125 leaves sleeping
 * forever. Cancelling M (by handle, or by closing the outer scope) must
 * cancel all of them: a member that sees its own cancellation waits until
 * its 5 children have seen theirs *before* it closes its scope (closing
 * would cancel them too, and hide a missing propagation). */
static atomic_int nest_ready, nest_cancelled;
static _Atomic uint64_t nest_m_id;

struct nest_node {
    int depth;
    atomic_int *parent_seen; /* the parent's count of cancelled children */
    atomic_int children_seen;
};

static void *nest_member(void *arg)
{
    struct nest_node *me = arg;
    struct nest_node kids[5];
    struct wf_scope *s = NULL;
    if (me->depth == 0)
        atomic_store(&nest_m_id, wf_self().id);
    if (me->depth < 3) {
        WT_CHECK_EQ(wf_scope_open(&s), 0);
        for (int i = 0; i < 5; i++) {
            kids[i].depth = me->depth + 1;
            kids[i].parent_seen = &me->children_seen;
            atomic_init(&kids[i].children_seen, 0);
            WT_CHECK_EQ(wf_scope_go(s, NULL, nest_member, &kids[i]), 0);
        }
    }
    atomic_fetch_add(&nest_ready, 1);
    int rc = s ? wf_scope_wait(s, WF_FOREVER) : wf_sleep_until(WF_FOREVER);
    /* A leaf's sleep can only end by cancellation. An inner member's scope
     * wait may also see its own (cancelled) members all gone before it sees
     * its own cancellation, and the runtime then reports success; either
     * way the member must have been cancelled. */
    if ((rc == WF_ECANCELED || (s && rc == 0)) && wf_cancelled()) {
        atomic_fetch_add(&nest_cancelled, 1);
    } else {
        fprintf(stderr, "nested member at depth %d: %s wait returned %d (%s)\n",
                me->depth, s ? "scope" : "sleep", rc, wf_strerror(rc));
    }
    if (s) {
        if (!fiber_poll(&me->children_seen, 5, 10 * WF_SEC))
            WT_FAIL("depth %d: only %d of 5 members of its open scope were "
                    "cancelled with it (10 s)", me->depth,
                    atomic_load(&me->children_seen));
        WT_CHECK(wf_scope_close(s) >= 0);
    }
    if (me->parent_seen && wf_cancelled())
        atomic_fetch_add(me->parent_seen, 1);
    return NULL;
}

/* 1 + 5 + 25 + 125 fibers in the tree */
#define NEST_TOTAL 156

static void *nested_main(void *arg)
{
    int by_handle = (int)P2U(arg);
    static struct nest_node root; /* depth 0, no parent */
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, nest_member, &root), 0);
    fiber_wait(&nest_ready, NEST_TOTAL);
    WT_CHECK_EQ(wf_sleep(10 * WF_MSEC), 0);
    if (by_handle) {
        struct wf_fiber m = {atomic_load(&nest_m_id)};
        WT_CHECK_EQ(wf_cancel(m), 0);
        WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
        WT_CHECK_EQ(atomic_load(&nest_cancelled), NEST_TOTAL);
        WT_CHECK_EQ(wf_scope_close(s), 0);
    } else {
        WT_CHECK_EQ(wf_scope_close(s), 1);
        WT_CHECK_EQ(atomic_load(&nest_cancelled), NEST_TOTAL);
    }
    return NULL;
}

WT_CASE(scope_nested_cancel_member)
{
    run_main(2, nested_main, U2P(1));
}

WT_CASE(scope_nested_close_outer)
{
    run_main(4, nested_main, U2P(0));
}

/* wf_scope_go on a scope that is being closed. */
static struct wf_scope *closing_scope;
static atomic_int cl_ready;
static int cl_rc = 1;

static void *closing_member(void *arg)
{
    atomic_store(&cl_ready, 1);
    while (wf_park(WF_FOREVER) == 0) {
    }
    /* cancelled by wf_scope_close, which is now waiting for us */
    cl_rc = wf_scope_go(closing_scope, NULL, counted_fn, NULL);
    return NULL;
}

static void *closing_main(void *arg)
{
    WT_CHECK_EQ(wf_scope_open(&closing_scope), 0);
    WT_CHECK_EQ(wf_scope_go(closing_scope, NULL, closing_member, NULL), 0);
    fiber_wait(&cl_ready, 1);
    WT_CHECK_EQ(wf_scope_close(closing_scope), 1);
    WT_CHECK_EQ(cl_rc, WF_EINVAL);
    WT_CHECK_EQ(atomic_load(&counted_runs), 0);
    return NULL;
}

WT_CASE(scope_go_on_closing_scope)
{
    run_main(2, closing_main, NULL);
}

/* A cancelled owner's wf_scope_close still waits for every member. */
static atomic_int owner_ready, member_done_flag;

static void *slow_member(void *arg)
{
    fiber_wait(&release_flag, 1);
    WT_CHECK(wf_cancelled());
    atomic_store(&member_done_flag, 1);
    return NULL;
}

static void *cancelled_owner(void *arg)
{
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, slow_member, NULL), 0);
    atomic_store(&owner_ready, 1);
    WT_CHECK_EQ(wf_sleep_until(WF_FOREVER), WF_ECANCELED);
    int n = wf_scope_close(s);
    WT_CHECK_EQ(atomic_load(&member_done_flag), 1);
    WT_CHECK(n >= 0 && n <= 1);
    return U2P(0xc105e);
}

static void *cancelled_owner_main(void *arg)
{
    struct wf_fiber o = go(cancelled_owner, NULL);
    fiber_wait(&owner_ready, 1);
    WT_CHECK_EQ(wf_cancel(o), 0);
    WT_CHECK_EQ(wf_sleep(50 * WF_MSEC), 0);
    WT_CHECK_EQ(atomic_load(&member_done_flag), 0);
    atomic_store(&release_flag, 1);
    WT_CHECK_EQ(P2U(join(o)), 0xc105e);
    return NULL;
}

WT_CASE(scope_close_by_cancelled_owner_waits)
{
    run_main(2, cancelled_owner_main, NULL);
}

/* Members are owned by their scope: their handles cannot be joined or
 * detached, and a refused attempt leaves them members. */
static _Atomic uint64_t member_id;

static void *reporting_member(void *arg)
{
    atomic_store(&member_id, wf_self().id);
    fiber_wait(&release_flag, 1);
    atomic_fetch_add(&released_done, 1);
    return NULL;
}

static void *member_handle_main(void *arg)
{
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, reporting_member, NULL), 0);
    while (atomic_load(&member_id) == 0)
        WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    struct wf_fiber m = {atomic_load(&member_id)};
    WT_CHECK_EQ(wf_join(m, NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_join(m, NULL, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_detach(m), WF_EINVAL);
    WT_CHECK_EQ(wf_scope_wait(s, wf_deadline_in(5 * WF_MSEC)), WF_ETIMEDOUT);
    atomic_store(&release_flag, 1);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(atomic_load(&released_done), 1);
    WT_CHECK_EQ(wf_scope_close(s), 0);
    return NULL;
}

WT_CASE(scope_member_handles)
{
    run_main(2, member_handle_main, NULL);
}

WT_CASE(scope_from_plain_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct wf_scope *s = NULL;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    for (int i = 0; i < 20; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, run_until_released, &release_flag), 0);
    int64_t dl = wf_deadline_in(10 * WF_MSEC);
    WT_CHECK_EQ(wf_scope_wait(s, dl), WF_ETIMEDOUT);
    WT_CHECK(wf_now() >= dl);
    atomic_store(&release_flag, 1);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_scope_close(s), 0);

    /* closing from a plain thread cancels and waits */
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    for (int i = 0; i < 10; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, forever_member, NULL), 0);
    thread_wait(&sc_ready, 10);
    nap_ms(10);
    WT_CHECK_EQ(wf_scope_close(s), 10);
    WT_CHECK_EQ(atomic_load(&sc_cancelled), 10);
    shutdown_clean();
}

/* ---- found by review: scope waiters, stale handles across restarts,
 * permits kept across internal waits, a member waiting on its own scope */

static atomic_int sw_release, sw_done;
static struct wf_scope *sw_scope;

static void *sw_member(void *arg)
{
    (void)arg;
    while (!atomic_load(&sw_release))
        wf_sleep(WF_MSEC);
    return NULL;
}

static void *sw_waiter(void *arg)
{
    (void)arg;
    int rc = wf_scope_wait(sw_scope, wf_deadline_in(30 * WF_SEC));
    atomic_fetch_add(&sw_done, 1);
    return U2P((uintptr_t)(rc == 0));
}

static void *scope_waiters_main(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_scope_open(&sw_scope), 0);
    WT_CHECK_EQ(wf_scope_go(sw_scope, NULL, sw_member, NULL), 0);
    struct wf_fiber a = go(sw_waiter, NULL), b = go(sw_waiter, NULL);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0); /* both are waiting */
    WT_CHECK_EQ(atomic_load(&sw_done), 0);
    atomic_store(&sw_release, 1);
    /* Both waiters return, and succeed, without a deadline passing. */
    WT_CHECK_EQ(P2U(join(a)), 1);
    WT_CHECK_EQ(P2U(join(b)), 1);
    WT_CHECK_EQ(wf_scope_close(sw_scope), 0);
    return NULL;
}

WT_CASE(scope_two_waiters)
{
    run_main(2, scope_waiters_main, NULL);
}

static struct wf_fiber stale_old;

static void *stale_first(void *arg)
{
    (void)arg;
    stale_old = go(park_forever, NULL); /* abandoned at shutdown */
    return NULL;
}

static void *stale_second(void *arg)
{
    (void)arg;
    struct wf_fiber fresh = go(park_forever, NULL);
    WT_CHECK(fresh.id != stale_old.id);
    WT_CHECK_EQ(wf_cancel(stale_old), WF_ESRCH);
    WT_CHECK_EQ(wf_unpark(stale_old), WF_ESRCH);
    WT_CHECK_EQ(wf_join(stale_old, NULL, WF_FOREVER), WF_ESRCH);
    WT_CHECK_EQ(wf_detach(stale_old), WF_ESRCH);
    /* The fresh fiber was not touched by any of that. */
    WT_CHECK_EQ(wf_join(fresh, NULL, wf_deadline_in(20 * WF_MSEC)),
                WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_cancel(fresh), 0);
    join(fresh);
    return NULL;
}

WT_CASE(stale_handle_across_restart)
{
    run_main_leaving(1, stale_first, NULL); /* leaves stale_old parked */
    run_main(1, stale_second, NULL);
}

static struct wf_fiber permit_target;

static void *permit_scope_member(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_unpark(permit_target), 0); /* while it waits */
    wf_sleep(10 * WF_MSEC);
    return NULL;
}

static void *permit_scope_main(void *arg)
{
    (void)arg;
    struct wf_scope *s;
    permit_target = wf_self();
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, permit_scope_member, NULL), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_scope_close(s), 0);
    /* The permit given during the wait is still there. */
    WT_CHECK_EQ(wf_park(wf_deadline_in(WF_SEC)), 0);
    return NULL;
}

WT_CASE(permit_kept_across_scope_wait)
{
    run_main(2, permit_scope_main, NULL);
}

static void *own_scope_member(void *arg)
{
    struct wf_scope *s = arg;
    int a = wf_scope_wait(s, WF_FOREVER);
    int b = wf_scope_close(s);
    return U2P((uintptr_t)(a == WF_EDEADLK && b == WF_EDEADLK));
}

static atomic_int own_ok;

static void *own_scope_wrapper(void *arg)
{
    atomic_store(&own_ok, (int)P2U(own_scope_member(arg)));
    return NULL;
}

static void *own_scope_main(void *arg)
{
    (void)arg;
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, own_scope_wrapper, s), 0);
    WT_CHECK_EQ(wf_scope_wait(s, wf_deadline_in(10 * WF_SEC)), 0);
    WT_CHECK_EQ(atomic_load(&own_ok), 1);
    WT_CHECK_EQ(wf_scope_close(s), 0);
    return NULL;
}

WT_CASE(member_waits_on_own_scope)
{
    run_main(2, own_scope_main, NULL);
}

/* A member spawned while its scope is being closed is either refused or
 * cancelled by the close; never left running for ever. The spawner is a
 * member itself, so the scope outlives its calls. */
static atomic_int race_spawned;

static void *race_spawner(void *arg)
{
    struct wf_scope *s = arg;
    for (int i = 0; i < 8; i++)
        if (wf_scope_go(s, NULL, park_forever, NULL) == 0)
            atomic_fetch_add(&race_spawned, 1);
    return NULL;
}

static void *scope_race_main(void *arg)
{
    int rounds = (int)P2U(arg);
    for (int i = 0; i < rounds; i++) {
        struct wf_scope *s;
        WT_CHECK_EQ(wf_scope_open(&s), 0);
        WT_CHECK_EQ(wf_scope_go(s, NULL, race_spawner, s), 0);
        if (i & 1)
            wf_yield();
        WT_CHECK(wf_scope_close(s) >= 0);
    }
    return NULL;
}

WT_CASE(stress_scope_go_vs_close)
{
    run_main(wt_threads(4), scope_race_main,
             U2P(wt_sanitized() ? 200 : 2000));
}
