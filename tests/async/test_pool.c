/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_pool.c - the blocking-call pool (wf_blocking,
 * weft/future.h) and wf_getaddrinfo (weft/io.h): calls run on plain pool
 * threads, never more at once than the pool's size (set by call or by
 * WEFT_BLOCKING_THREADS), cancelled calls still run, shutdown drains the
 * queue, resolution results and errors. Nothing is timed.
 */
#include <weft.h>
#include <weft/io.h>

#include "wtest_rt.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>

static void init_rt(int workers)
{
    struct wf_config c = config(workers);
    int rc = wf_init(&c);
    if (rc != 0)
        WT_FAIL("wf_init: %s (%d)", wf_strerror(rc), rc);
}

static atomic_int inside, most, ran;

static void *slow(void *arg)
{
    int now = atomic_fetch_add(&inside, 1) + 1;
    int m = atomic_load(&most);
    while (now > m && !atomic_compare_exchange_weak(&most, &m, now)) {
    }
    /* On a plain thread, not a worker. */
    WT_CHECK_EQ(wf_worker_index(), WF_EPERM);
    usleep(2000);
    atomic_fetch_sub(&inside, 1);
    atomic_fetch_add(&ran, 1);
    return arg;
}

static void run_many(int n)
{
    struct wf_future **f = calloc((size_t)n, sizeof *f);
    WT_CHECK(f);
    for (int i = 0; i < n; i++)
        WT_CHECK_EQ(wf_blocking(&f[i], slow, U2P(i + 1)), 0);
    for (int i = 0; i < n; i++) {
        void *v;
        WT_CHECK_EQ(wf_future_wait(f[i], WF_FOREVER), 0);
        WT_CHECK_EQ(wf_future_result(f[i], &v), 0);
        WT_CHECK_EQ(P2U(v), (uintptr_t)i + 1);
        wf_future_release(f[i]);
    }
    free(f);
}

WT_CASE(bounded_size)
{
    struct wf_future *f;
    WT_CHECK_EQ(wf_blocking(&f, slow, NULL), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_blocking(NULL, slow, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_blocking(&f, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_blocking_set_threads(-1), WF_EINVAL);
    WT_CHECK_EQ(wf_blocking_set_threads(5000), WF_EINVAL);
    wf_blocking_set_threads(3);
    init_rt(2);
    run_many(60);
    WT_CHECK(atomic_load(&most) >= 1 && atomic_load(&most) <= 3);
    WT_CHECK_EQ(atomic_load(&ran), 60);
    /* lowered while threads exist: still bounded afterwards */
    WT_CHECK_EQ(wf_blocking_set_threads(1), 3);
    atomic_store(&most, 0);
    run_many(10);
    WT_CHECK_EQ(atomic_load(&most), 1);
    shutdown_clean();
}

WT_CASE(env_size)
{
    setenv("WEFT_BLOCKING_THREADS", "2", 1);
    wf_blocking_set_threads(0);
    init_rt(1);
    run_many(40);
    WT_CHECK(atomic_load(&most) >= 1 && atomic_load(&most) <= 2);
    shutdown_clean();
}

static void *await_blocking_main(void *arg)
{
    (void)arg;
    /* await from fibers while pool threads complete */
    struct wf_future *f[32], *all;
    for (int i = 0; i < 32; i++)
        WT_CHECK_EQ(wf_blocking(&f[i], slow, U2P(i)), 0);
    WT_CHECK_EQ(wf_future_when_all(&all, f, 32), 0);
    WT_CHECK_EQ(wf_future_await(all, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(all, NULL), 0);
    wf_future_release(all);
    for (int i = 0; i < 32; i++)
        wf_future_release(f[i]);
    return NULL;
}

WT_CASE(await_in_fiber)
{
    wf_blocking_set_threads(4);
    run_main(2, await_blocking_main, NULL);
    WT_CHECK_EQ(atomic_load(&ran), 32);
}

WT_CASE(cancel_still_runs)
{
    wf_blocking_set_threads(1);
    init_rt(1);
    struct wf_future *f[8];
    for (int i = 0; i < 8; i++)
        WT_CHECK_EQ(wf_blocking(&f[i], slow, NULL), 0);
    for (int i = 0; i < 8; i++) {
        int rc = wf_future_cancel(f[i]);
        WT_CHECK(rc == 0 || rc == WF_EALREADY);
        WT_CHECK(wf_future_done(f[i]));
        wf_future_release(f[i]);
    }
    /* shutdown drains the queue: every fn ran */
    shutdown_clean();
    WT_CHECK_EQ(atomic_load(&ran), 8);
    /* and the pool works again in the next runtime */
    init_rt(1);
    run_many(3);
    shutdown_clean();
    WT_CHECK_EQ(atomic_load(&ran), 11);
}

WT_CASE(shutdown_drains)
{
    wf_blocking_set_threads(2);
    init_rt(2);
    struct wf_future *f[20];
    for (int i = 0; i < 20; i++)
        WT_CHECK_EQ(wf_blocking(&f[i], slow, NULL), 0);
    shutdown_clean();
    WT_CHECK_EQ(atomic_load(&ran), 20);
    for (int i = 0; i < 20; i++) {
        WT_CHECK_EQ(wf_future_result(f[i], NULL), 0);
        wf_future_release(f[i]);
    }
}

/* wf_shutdown waits for the pool's calls, so from inside one (or from a
 * callback the pool thread runs) it cannot work: WF_EDEADLK, and the
 * runtime goes on. */
static void *shutdown_job(void *arg)
{
    (void)arg;
    return U2P((uintptr_t)(intptr_t)wf_shutdown());
}

static atomic_int cb_rc;

static void shutdown_cb(struct wf_future *f, void *arg)
{
    (void)f;
    (void)arg;
    atomic_store(&cb_rc, wf_shutdown());
}

static void *complete_job(void *arg)
{
    wf_promise_complete(arg, NULL);
    return NULL;
}

WT_CASE(shutdown_from_job)
{
    init_rt(2);
    struct wf_future *f;
    void *v = NULL;
    WT_CHECK_EQ(wf_blocking(&f, shutdown_job, NULL), 0);
    WT_CHECK_EQ(wf_future_wait(f, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(f, &v), 0);
    WT_CHECK_EQ((int)(intptr_t)P2U(v), WF_EDEADLK);
    wf_future_release(f);

    /* A then-callback run by the pool thread that completes its future. */
    struct wf_promise *p;
    struct wf_future *g;
    WT_CHECK_EQ(wf_promise_create(&p, &g), 0);
    atomic_store(&cb_rc, 1);
    WT_CHECK_EQ(wf_future_then(g, shutdown_cb, NULL), 0);
    WT_CHECK_EQ(wf_blocking(&f, complete_job, p), 0);
    WT_CHECK_EQ(wf_future_wait(f, WF_FOREVER), 0);
    WT_CHECK_EQ(atomic_load(&cb_rc), WF_EDEADLK);
    wf_future_release(f);
    wf_future_release(g);

    /* Still running, and it stops as usual. */
    WT_CHECK_EQ(wf_blocking(&f, slow, U2P(7)), 0);
    WT_CHECK_EQ(wf_future_wait(f, WF_FOREVER), 0);
    wf_future_release(f);
    shutdown_clean();
}

static void *resolve_main(void *arg)
{
    (void)arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    struct wf_future *f;
    void *v = NULL;

    WT_CHECK_EQ(wf_getaddrinfo(&f, NULL, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_getaddrinfo(&f, "127.0.0.1", "8080", &hints), 0);
    WT_CHECK_EQ(wf_future_await(f, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(f, &v), 0);
    struct addrinfo *ai = v;
    WT_CHECK(ai && ai->ai_family == AF_INET);
    struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;
    WT_CHECK_EQ(ntohs(sin->sin_port), 8080);
    WT_CHECK_EQ(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    wf_future_release(f); /* frees the list */

    WT_CHECK_EQ(wf_getaddrinfo(&f, "::1", NULL, &hints), 0);
    WT_CHECK_EQ(wf_future_await(f, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(f, &v), 0);
    WT_CHECK(((struct addrinfo *)v)->ai_family == AF_INET6);
    wf_future_release(f);

    WT_CHECK_EQ(wf_getaddrinfo(&f, "not-a-number", NULL, &hints), 0);
    WT_CHECK_EQ(wf_future_await(f, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(f, &v), -ENOENT);
    wf_future_release(f);

    hints.ai_family = 12345;
    WT_CHECK_EQ(wf_getaddrinfo(&f, "127.0.0.1", NULL, &hints), 0);
    WT_CHECK_EQ(wf_future_await(f, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(f, &v), WF_EINVAL);
    wf_future_release(f);

    /* cancelled lookups (queued or running) leak nothing */
    hints.ai_family = 0;
    for (int i = 0; i < 20; i++) {
        WT_CHECK_EQ(wf_getaddrinfo(&f, "127.0.0.1", "80", &hints), 0);
        int rc = wf_future_cancel(f);
        WT_CHECK(rc == 0 || rc == WF_EALREADY);
        wf_future_release(f);
    }
    /* released before it completes */
    WT_CHECK_EQ(wf_getaddrinfo(&f, "127.0.0.1", "80", &hints), 0);
    wf_future_release(f);
    return NULL;
}

WT_CASE(getaddrinfo)
{
    wf_blocking_set_threads(2);
    run_main(2, resolve_main, NULL);
}

WT_MAIN()
