/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_misuse.c - part of test_core (see test_core.c): misuse errors: double joins, detach, self-join, bad
 * arguments, fiber-only calls from plain threads or without a runtime,
 * stale handles.
 */
#include "core_cases.h"

/* ---- misuse ---------------------------------------------------------- */

static void *double_join_main(void *arg)
{
    struct wf_fiber f = go(value_fn, U2P(4));
    void *r = NULL;
    WT_CHECK_EQ(wf_join(f, &r, WF_FOREVER), 0);
    WT_CHECK_EQ(P2U(r), 9);
    r = U2P(0x1);
    WT_CHECK_EQ(wf_join(f, &r, WF_FOREVER), WF_ESRCH);
    WT_CHECK_EQ(wf_detach(f), WF_ESRCH);
    WT_CHECK_EQ(wf_cancel(f), WF_ESRCH);
    WT_CHECK_EQ(wf_join((struct wf_fiber){0}, &r, WF_FOREVER), WF_ESRCH);
    WT_CHECK_EQ(wf_join((struct wf_fiber){UINT64_MAX}, &r, WF_FOREVER),
                WF_ESRCH);
    WT_CHECK_EQ(wf_detach((struct wf_fiber){0}), WF_ESRCH);
    return NULL;
}

WT_CASE(double_join)
{
    run_main(2, double_join_main, NULL);
    /* {0} from a plain thread */
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_join((struct wf_fiber){0}, NULL, WF_FOREVER), WF_ESRCH);
    WT_CHECK_EQ(wf_join((struct wf_fiber){0}, NULL, 0), WF_ESRCH);
    shutdown_clean();
}

static void *detach_main(void *arg)
{
    struct wf_fiber f = go(wait_release, U2P(5));
    WT_CHECK_EQ(wf_detach(f), 0);
    WT_CHECK_EQ(wf_detach(f), WF_EINVAL);
    void *r = U2P(0x1);
    WT_CHECK_EQ(wf_join(f, &r, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_join(f, &r, 0), WF_EINVAL);
    WT_CHECK_EQ(P2U(r), 0x1);
    atomic_store(&release_flag, 1);
    /* once it has returned, the handle is stale */
    int rc;
    while ((rc = wf_detach(f)) == WF_EINVAL)
        WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    WT_CHECK_EQ(rc, WF_ESRCH);
    WT_CHECK_EQ(atomic_load(&released_done), 1);
    WT_CHECK_EQ(wf_join(f, NULL, WF_FOREVER), WF_ESRCH);
    /* a detached fiber that has already finished */
    struct wf_fiber g = go(value_fn, U2P(1));
    WT_CHECK_EQ(wf_detach(g), 0);
    rc = wf_join(g, NULL, 0); /* running: detached; returned: gone */
    WT_CHECK(rc == WF_EINVAL || rc == WF_ESRCH);
    /* wf_go with out NULL starts detached */
    atomic_store(&release_flag, 0);
    WT_CHECK_EQ(wf_go(NULL, wait_release, NULL), 0);
    atomic_store(&release_flag, 1);
    while (atomic_load(&released_done) < 2)
        WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    return NULL;
}

WT_CASE(detach_twice_and_join_detached)
{
    run_main(2, detach_main, NULL);
}

static void *self_join_fn(void *arg)
{
    void *r = U2P(0x1);
    WT_CHECK_EQ(wf_join(wf_self(), &r, WF_FOREVER), WF_EDEADLK);
    WT_CHECK_EQ(wf_join(wf_self(), &r, 0), WF_EDEADLK);
    WT_CHECK_EQ(P2U(r), 0x1);
    return U2P(0x5e1f);
}

static void *self_join_main(void *arg)
{
    struct wf_fiber f = go(self_join_fn, NULL);
    /* still joinable: the failed self-joins changed nothing */
    WT_CHECK_EQ(P2U(join(f)), 0x5e1f);
    WT_CHECK_EQ(wf_join(wf_self(), NULL, WF_FOREVER), WF_EDEADLK);
    return NULL;
}

WT_CASE(join_self)
{
    run_main(2, self_join_main, NULL);
}

struct cjoiner {
    struct wf_fiber target;
    int rc;
    void *res;
};
static atomic_int cj_returned;

static void *cj_joiner(void *arg)
{
    struct cjoiner *j = arg;
    j->rc = wf_join(j->target, &j->res, WF_FOREVER);
    atomic_fetch_add(&cj_returned, 1);
    return NULL;
}

static void *concurrent_join_main(void *arg)
{
    static struct cjoiner j[2];
    struct wf_fiber t = go(wait_release, U2P(0x55));
    j[0] = (struct cjoiner){t, 1, NULL};
    j[1] = (struct cjoiner){t, 1, NULL};
    struct wf_fiber h0 = go(cj_joiner, &j[0]);
    struct wf_fiber h1 = go(cj_joiner, &j[1]);
    /* one of them is refused at once, the other waits */
    fiber_wait(&cj_returned, 1);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0);
    WT_CHECK_EQ(atomic_load(&cj_returned), 1);
    int refused = j[0].rc == WF_EINVAL ? 0 : 1;
    WT_CHECK_EQ(j[refused].rc, WF_EINVAL);
    WT_CHECK_EQ(j[1 - refused].rc, 1); /* still waiting */
    /* a third joiner and a detach are refused too, and change nothing */
    WT_CHECK_EQ(wf_join(t, NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_detach(t), WF_EINVAL);
    atomic_store(&release_flag, 1);
    join(h0);
    join(h1);
    WT_CHECK_EQ(j[1 - refused].rc, 0);
    WT_CHECK_EQ(P2U(j[1 - refused].res), 0x55);
    WT_CHECK_EQ(wf_join(t, NULL, WF_FOREVER), WF_ESRCH);
    return NULL;
}

WT_CASE(concurrent_joiners)
{
    run_main(2, concurrent_join_main, NULL);
}

static void check_bad_spawns(int workers)
{
    struct wf_fiber f = {0xabc};
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    WT_CHECK_EQ(wf_go(&f, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_go(NULL, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_go_opts(&f, &o, NULL, NULL), WF_EINVAL);
    int bad_workers[] = {workers, workers + 1, 1000, -2, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof bad_workers / sizeof bad_workers[0]; i++) {
        o.worker = bad_workers[i];
        WT_CHECK_EQ(wf_go_opts(&f, &o, counted_fn, NULL), WF_EINVAL);
    }
    o.worker = WF_ANY_WORKER;
    size_t bad_sizes[] = {((size_t)1 << 30) + 1, (size_t)1 << 40, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        o.stack_size = bad_sizes[i];
        WT_CHECK_EQ(wf_go_opts(&f, &o, counted_fn, NULL), WF_EINVAL);
    }
    WT_CHECK_EQ(f.id, 0xabc); /* *out untouched */
    /* the limits themselves are fine */
    o.stack_size = 0;
    o.worker = workers - 1;
    WT_CHECK_EQ(wf_go_opts(&f, &o, counted_fn, U2P(8)), 0);
    WT_CHECK(f.id != 0xabc && f.id != 0);
    WT_CHECK_EQ(P2U(join(f)), 8);
    WT_CHECK_EQ(atomic_load(&counted_runs), 1); /* only the good one ran */
    atomic_store(&counted_runs, 0);
}

static void *bad_spawn_main(void *arg)
{
    check_bad_spawns(2);
    /* the same through a scope: nothing becomes a member */
    struct wf_scope *s = NULL;
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, NULL, NULL), WF_EINVAL);
    o.worker = 2;
    WT_CHECK_EQ(wf_scope_go(s, &o, counted_fn, NULL), WF_EINVAL);
    o.worker = WF_ANY_WORKER;
    o.stack_size = SIZE_MAX;
    WT_CHECK_EQ(wf_scope_go(s, &o, counted_fn, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_scope_wait(s, 0), 0); /* no members */
    WT_CHECK_EQ(wf_scope_close(s), 0);
    WT_CHECK_EQ(atomic_load(&counted_runs), 0);
    return NULL;
}

WT_CASE(bad_spawn_arguments)
{
    run_main(2, bad_spawn_main, NULL);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    check_bad_spawns(2); /* from a plain thread */
    shutdown_clean();
}

static void check_plain_thread_calls(void)
{
    WT_CHECK_EQ(wf_yield(), WF_EPERM);
    WT_CHECK_EQ(wf_park(WF_FOREVER), WF_EPERM);
    WT_CHECK_EQ(wf_park(0), WF_EPERM);
    WT_CHECK_EQ(wf_pin_self(), WF_EPERM);
    WT_CHECK_EQ(wf_worker_index(), WF_EPERM);
    WT_CHECK_EQ(wf_self().id, 0);
    WT_CHECK(wf_self_name() == NULL);
    WT_CHECK(!wf_cancelled());
    static int v;
    unsigned key;
    WT_CHECK_EQ(wf_fls_key_create(&key, NULL), 0);
    WT_CHECK_EQ(wf_fls_set(key, &v), WF_EPERM);
    WT_CHECK(wf_fls_get(key) == NULL);
}

static void *plain_thread_fn(void *arg)
{
    check_plain_thread_calls();
    return NULL;
}

WT_CASE(fiber_only_calls_from_plain_thread)
{
    /* no runtime at all */
    check_plain_thread_calls();
    /* a running runtime, from the thread that started it and another */
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    check_plain_thread_calls();
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, plain_thread_fn, NULL), 0);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    shutdown_clean();
}

WT_CASE(calls_without_runtime)
{
    struct wf_fiber f = {777};
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    struct wf_scope *s = (struct wf_scope *)U2P(0x5c);
    WT_CHECK_EQ(wf_go(&f, counted_fn, NULL), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_go(NULL, counted_fn, NULL), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_go_opts(&f, &o, counted_fn, NULL), WF_ESHUTDOWN);
    WT_CHECK_EQ(f.id, 777);
    WT_CHECK_EQ(wf_scope_open(&s), WF_ESHUTDOWN);
    WT_CHECK(s == (struct wf_scope *)U2P(0x5c));
    WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_shutdown(), WF_ESHUTDOWN);
    /* and again after a runtime has come and gone */
    run_main(2, ret_arg, NULL);
    WT_CHECK_EQ(wf_go(&f, counted_fn, NULL), WF_ESHUTDOWN);
    WT_CHECK_EQ(f.id, 777);
    WT_CHECK_EQ(wf_shutdown(), WF_ESHUTDOWN);
    WT_CHECK_EQ(atomic_load(&counted_runs), 0);
}

/* Stale handles stay stale after their slots are reused by new fibers. */
static atomic_int reuse_bad;

static void *reuse_fn(void *arg)
{
    if (wf_cancelled() || wf_sleep(100 * WF_USEC) != 0)
        atomic_fetch_add(&reuse_bad, 1);
    return arg;
}

static void *stale_reuse_main(void *arg)
{
    struct wf_fiber old[100];
    for (int i = 0; i < 100; i++)
        old[i] = go(value_fn, U2P(i));
    for (int i = 0; i < 100; i++)
        join(old[i]);
    for (int round = 0; round < 20; round++) {
        struct wf_fiber h[500];
        for (int i = 0; i < 500; i++)
            h[i] = go(reuse_fn, U2P(i));
        /* poke every old handle while the new fibers live */
        for (int i = 0; i < 100; i++) {
            WT_CHECK_EQ(wf_cancel(old[i]), WF_ESRCH);
            WT_CHECK_EQ(wf_unpark(old[i]), WF_ESRCH);
            WT_CHECK_EQ(wf_detach(old[i]), WF_ESRCH);
            WT_CHECK_EQ(wf_join(old[i], NULL, 0), WF_ESRCH);
        }
        for (int i = 0; i < 500; i++) {
            for (int k = 0; k < 100; k++)
                WT_CHECK(h[i].id != old[k].id);
            WT_CHECK_EQ(P2U(join(h[i])), i);
        }
    }
    WT_CHECK_EQ(atomic_load(&reuse_bad), 0); /* nobody new was cancelled */
    return NULL;
}

WT_CASE(stale_handles_after_reuse)
{
    run_main(2, stale_reuse_main, NULL);
}
