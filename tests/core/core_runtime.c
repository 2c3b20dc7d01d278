/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_runtime.c - part of test_core (see test_core.c): the runtime's life cycle (wf_run, wf_init, wf_shutdown, restarts,
 * foreign threads) and many fibers (a million, trees, bursts, sleepers).
 */
#include "core_cases.h"

/* ---- life cycle ------------------------------------------------------ */

static int expect_workers;
static atomic_int main_runs;

static void *main_ret(void *arg)
{
    atomic_fetch_add(&main_runs, 1);
    WT_CHECK(wf_self().id != 0);
    WT_CHECK(wf_self_name() != NULL);
    int n = wf_workers();
    WT_CHECK(n >= 1);
    if (expect_workers > 0)
        WT_CHECK_EQ(n, expect_workers);
    int w = wf_worker_index();
    WT_CHECK(w >= 0 && w < n);
    return (char *)arg + 1;
}

WT_CASE(run_returns_result)
{
    static char buf[8];
    void *r = NULL;
    unsetenv("WEFT_WORKERS");
    expect_workers = 2;
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_run(&c, main_ret, buf, &r), 0);
    WT_CHECK(r == buf + 1);
    WT_CHECK_EQ(atomic_load(&main_runs), 1);
    /* result may be NULL */
    WT_CHECK_EQ(wf_run(&c, main_ret, buf, NULL), 0);
    WT_CHECK_EQ(atomic_load(&main_runs), 2);
    /* cfg may be NULL: all defaults (one worker per online CPU) */
    expect_workers = 0;
    r = NULL;
    WT_CHECK_EQ(wf_run(NULL, main_ret, buf + 2, &r), 0);
    WT_CHECK(r == buf + 3);
    WT_CHECK_EQ(atomic_load(&main_runs), 3);
    WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
}

WT_CASE(run_workers_from_env)
{
    static char buf[4];
    void *r = NULL;
    setenv("WEFT_WORKERS", "3", 1);
    expect_workers = 3;
    struct wf_config c = config(0);
    WT_CHECK_EQ(wf_run(&c, main_ret, buf, &r), 0);
    WT_CHECK(r == buf + 1);
    WT_CHECK_EQ(wf_run(NULL, main_ret, buf, &r), 0);
    /* an explicit field wins over the variable */
    expect_workers = 1;
    c.workers = 1;
    WT_CHECK_EQ(wf_run(&c, main_ret, buf, &r), 0);
    WT_CHECK_EQ(atomic_load(&main_runs), 3);
}

/* One worker: two fibers hand a turn back and forth through park/unpark,
 * and many sleepers overlap; everything runs on worker 0. */
static struct {
    struct wf_fiber h[2];
    atomic_int ready;
    atomic_int turn;
    int count;
    int rounds;
} pp;

static void *pp_fiber(void *arg)
{
    int me = (int)P2U(arg), other = 1 - me;
    while (!atomic_load(&pp.ready))
        WT_CHECK_EQ(wf_yield(), 0);
    for (int i = 0; i < pp.rounds; i++) {
        while (atomic_load(&pp.turn) != me)
            WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
        WT_CHECK_EQ(wf_worker_index(), 0);
        WT_CHECK_EQ(pp.count, 2 * i + me);
        pp.count++;
        atomic_store(&pp.turn, other);
        if (!(me == 1 && i == pp.rounds - 1)) /* fiber 0 is done by then */
            WT_CHECK_EQ(wf_unpark(pp.h[other]), 0);
    }
    return NULL;
}

static void *short_sleeper(void *arg)
{
    int64_t dl = wf_deadline_in((int64_t)P2U(arg) * WF_MSEC);
    WT_CHECK_EQ(wf_sleep_until(dl), 0);
    WT_CHECK(wf_now() >= dl);
    return arg;
}

static void *one_worker_main(void *arg)
{
    WT_CHECK_EQ(wf_workers(), 1);
    WT_CHECK_EQ(wf_worker_index(), 0);
    pp.rounds = 1000;
    pp.h[0] = go(pp_fiber, U2P(0));
    pp.h[1] = go(pp_fiber, U2P(1));
    atomic_store(&pp.ready, 1);
    join(pp.h[0]);
    join(pp.h[1]);
    WT_CHECK_EQ(pp.count, 2 * pp.rounds);

    /* 100 sleepers of 20..39 ms overlap on the single worker */
    struct wf_fiber h[100];
    for (int i = 0; i < 100; i++)
        h[i] = go(short_sleeper, U2P(20 + i % 20));
    for (int i = 0; i < 100; i++)
        WT_CHECK_EQ(P2U(join(h[i])), 20 + i % 20);
    WT_CHECK_EQ(wf_worker_index(), 0);
    return U2P(7);
}

WT_CASE(run_one_worker)
{
    WT_CHECK_EQ(P2U(run_main(1, one_worker_main, NULL)), 7);
}

WT_CASE(config_errors)
{
    static char buf[4];
    void *r = NULL;
    int bad[] = {-1, -2, -1000, INT_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct wf_config c = config(bad[i]);
        WT_CHECK_EQ(wf_run(&c, main_ret, buf, &r), WF_EINVAL);
        WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
        WT_CHECK_EQ(wf_init(&c), WF_EINVAL);
        WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
        WT_CHECK_EQ(wf_shutdown(), WF_ESHUTDOWN);
    }
    WT_CHECK_EQ(atomic_load(&main_runs), 0); /* main never ran */
    /* a good config still works afterwards */
    expect_workers = 2;
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_run(&c, main_ret, buf, &r), 0);
    WT_CHECK(r == buf + 1);
    WT_CHECK_EQ(atomic_load(&main_runs), 1);
}

struct already_probe {
    int run_rc, init_rc;
};

static void *already_thread(void *arg)
{
    struct already_probe *p = arg;
    struct wf_config c = config(4);
    void *r = NULL;
    p->run_rc = wf_run(&c, main_ret, NULL, &r);
    p->init_rc = wf_init(&c);
    return NULL;
}

WT_CASE(run_while_running)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_workers(), 2);

    /* from the thread that started it */
    struct wf_config c4 = config(4);
    void *r = U2P(1);
    WT_CHECK_EQ(wf_run(&c4, main_ret, NULL, &r), WF_EALREADY);
    WT_CHECK_EQ(wf_init(&c4), WF_EALREADY);
    /* from another plain thread */
    struct already_probe p = {1, 1};
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, already_thread, &p), 0);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    WT_CHECK_EQ(p.run_rc, WF_EALREADY);
    WT_CHECK_EQ(p.init_rc, WF_EALREADY);
    WT_CHECK_EQ(atomic_load(&main_runs), 0);

    /* the running runtime is unchanged */
    WT_CHECK_EQ(wf_workers(), 2);
    WT_CHECK_EQ(P2U(join(go(value_fn, U2P(20)))), 41);
    shutdown_clean();
    WT_CHECK_EQ(wf_shutdown(), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
}

static void *runtime_calls_main(void *arg)
{
    struct wf_config c = config(2);
    void *r = NULL;
    int rc = wf_run(&c, main_ret, NULL, &r);
    /* both describe the situation: a fiber, of a running runtime */
    WT_CHECK(rc == WF_EPERM || rc == WF_EALREADY);
    rc = wf_init(&c);
    WT_CHECK(rc == WF_EPERM || rc == WF_EALREADY);
    WT_CHECK_EQ(wf_shutdown(), WF_EPERM);
    WT_CHECK_EQ(atomic_load(&main_runs), 0);
    /* still running */
    WT_CHECK_EQ(wf_workers(), 2);
    WT_CHECK_EQ(P2U(join(go(value_fn, U2P(3)))), 7);
    return U2P(1);
}

WT_CASE(runtime_calls_from_fiber)
{
    WT_CHECK_EQ(P2U(run_main(2, runtime_calls_main, NULL)), 1);
    WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
}

/* A fiber that spawns a child (on its own worker) and joins it. */
static void *nested_fn(void *arg)
{
    struct wf_fiber c = go(value_fn, arg);
    return U2P(P2U(join(c)) + 1); /* 2 * arg + 2 */
}

WT_CASE(foreign_thread_spawn_join)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_self().id, 0);
    WT_CHECK(wf_self_name() == NULL);
    WT_CHECK_EQ(wf_worker_index(), WF_EPERM);

    /* let the workers go idle first: the spawns below must wake them */
    nap_ms(50);
    struct wf_fiber h[200];
    for (int i = 0; i < 200; i++)
        h[i] = go(i % 2 ? nested_fn : value_fn, U2P(i));
    for (int i = 0; i < 200; i++)
        WT_CHECK_EQ(P2U(join(h[i])), 2 * i + 1 + (i % 2));
    WT_CHECK_EQ(atomic_load(&value_runs), 200);

    /* the thread blocks until a sleeping fiber returns */
    WT_CHECK_EQ(P2U(join(go(timed_sleeper, U2P(30)))), 0x51);

    /* a join with a deadline from a plain thread */
    struct wf_fiber p = go(park_forever, NULL);
    int64_t dl = wf_deadline_in(20 * WF_MSEC);
    void *r = NULL;
    WT_CHECK_EQ(wf_join(p, &r, dl), WF_ETIMEDOUT);
    WT_CHECK(wf_now() >= dl);
    WT_CHECK_EQ(wf_cancel(p), 0);
    WT_CHECK_EQ((intptr_t)join(p), WF_ECANCELED);

    /* a plain thread may sleep too */
    dl = wf_deadline_in(10 * WF_MSEC);
    WT_CHECK_EQ(wf_sleep_until(dl), 0);
    WT_CHECK(wf_now() >= dl);

    shutdown_clean();
}

#define FT_THREADS 4
#define FT_FIBERS 2000
#define FT_BATCH 50

static void *foreign_worker(void *arg)
{
    uintptr_t base = P2U(arg) * FT_FIBERS;
    struct wf_fiber h[FT_BATCH];
    uint64_t sum = 0;
    for (int b = 0; b < FT_FIBERS; b += FT_BATCH) {
        for (int i = 0; i < FT_BATCH; i++)
            h[i] = go(nested_fn, U2P(base + b + i));
        for (int i = 0; i < FT_BATCH; i++) {
            uintptr_t r = P2U(join(h[i]));
            WT_CHECK_EQ(r, 2 * (base + b + i) + 2);
            sum += r;
        }
    }
    return U2P(sum);
}

WT_CASE(foreign_threads_concurrent)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    pthread_t t[FT_THREADS];
    for (int i = 0; i < FT_THREADS; i++)
        WT_CHECK_EQ(pthread_create(&t[i], NULL, foreign_worker, U2P(i)), 0);
    uint64_t sum = 0, expect = 0;
    for (int i = 0; i < FT_THREADS; i++) {
        void *r;
        WT_CHECK_EQ(pthread_join(t[i], &r), 0);
        sum += P2U(r);
    }
    for (uint64_t i = 0; i < FT_THREADS * FT_FIBERS; i++)
        expect += 2 * i + 2;
    WT_CHECK_EQ(sum, expect);
    WT_CHECK_EQ(atomic_load(&value_runs), FT_THREADS * FT_FIBERS);
    shutdown_clean();
}

WT_CASE(restart_after_shutdown)
{
    static const int workers[] = {1, 2, 4, 2, 1, 4};
    for (int round = 0; round < 6; round++) {
        int n = workers[round];
        if (round % 2 == 0) {
            WT_CHECK_EQ(P2U(run_main_leaving(n, restart_main, U2P(n))),
                        100 * 100);
            WT_CHECK_EQ(wf_shutdown_discarded(), 1); /* the parked one */
        } else {
            struct wf_config c = config(n);
            WT_CHECK_EQ(wf_init(&c), 0);
            WT_CHECK_EQ(wf_workers(), n);
            struct wf_fiber h = go(value_fn, U2P(round));
            WT_CHECK_EQ(P2U(join(h)), 2 * round + 1);
            WT_CHECK_EQ(wf_join(h, NULL, WF_FOREVER), WF_ESRCH);
            WT_CHECK_EQ(wf_detach(go(park_forever, NULL)), 0);
            WT_CHECK_EQ(wf_shutdown(), 0);
            WT_CHECK_EQ(wf_shutdown_discarded(), 1); /* the parked one */
        }
        struct wf_fiber f = {12345};
        WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
        WT_CHECK_EQ(wf_go(&f, value_fn, NULL), WF_ESHUTDOWN);
        WT_CHECK_EQ(f.id, 12345);
    }
}

/* ---- many fibers ----------------------------------------------------- */

#define WAVE 10000

static void *million_main(void *arg)
{
    long total = (long)P2U(arg);
    struct wf_fiber *h = malloc(WAVE * sizeof *h);
    WT_CHECK(h != NULL);
    uint64_t sum = 0;
    for (long base = 0; base < total; base += WAVE) {
        long n = total - base < WAVE ? total - base : WAVE;
        for (long i = 0; i < n; i++) {
            int rc = wf_go(&h[i], value_fn, U2P(base + i));
            if (rc != 0)
                WT_FAIL("spawn %ld: %s", base + i, wf_strerror(rc));
        }
        for (long i = 0; i < n; i++) {
            uintptr_t r = P2U(join(h[i]));
            if (r != 2 * (uintptr_t)(base + i) + 1)
                WT_FAIL("fiber %ld returned %lu", base + i, (unsigned long)r);
            sum += r;
        }
    }
    free(h);
    return U2P(sum);
}

/* 1,000,000 fibers (100,000 under ASan, 10,000 under TSan), spawned and
 * joined in waves of 10,000 from the main fiber; each returns 2i+1, so the
 * sum is total^2. */
WT_CASE(million_fibers)
{
    long total = scaled_spawns(1000000);
    uint64_t sum = P2U(run_main(2, million_main, U2P(total)));
    WT_CHECK_EQ(sum, (uint64_t)total * (uint64_t)total);
    WT_CHECK_EQ(atomic_load(&value_runs), total);
}

/* A burst: 1,000 fibers spawned at once by the main fiber on 4 workers
 * (more workers than this machine's cores), then joined; 50 times. The
 * thieves take fibers from the spawner's deque while it keeps pushing. */
static void *burst_main(void *arg)
{
    enum { N = 1000 };
    struct wf_fiber h[N];
    long rounds = scaled_spawns(50) < 2 ? 2 : scaled_spawns(50);
    for (long round = 0; round < rounds; round++) {
        long before = atomic_load(&value_runs);
        for (int i = 0; i < N; i++)
            h[i] = go(value_fn, U2P(i));
        for (int i = 0; i < N; i++)
            WT_CHECK_EQ(P2U(join(h[i])), 2 * i + 1);
        WT_CHECK_EQ(atomic_load(&value_runs) - before, N);
    }
    return U2P(1);
}

WT_CASE(spawn_burst_4_workers)
{
    WT_CHECK_EQ(P2U(run_main(4, burst_main, NULL)), 1);
}

/* 100 parents, each spawning and joining 10,000 children in waves of 1,000
 * on its own worker, so that idle workers steal. Under sanitizers: 1,000
 * children (100 under TSan) in waves of 100, since up to 100 waves are alive at once and
 * TSan gives each live fiber a thread context with its own mapping (100,000
 * of them exhaust vm.max_map_count). */
static long tree_children, tree_wave;

static void *tree_parent(void *arg)
{
    uintptr_t base = P2U(arg) * (uintptr_t)tree_children;
    struct wf_fiber h[1000];
    uint64_t sum = 0;
    for (long b = 0; b < tree_children; b += tree_wave) {
        long n = tree_children - b < tree_wave ? tree_children - b : tree_wave;
        for (long i = 0; i < n; i++)
            h[i] = go(value_fn, U2P(base + b + i));
        for (long i = 0; i < n; i++) {
            uintptr_t r = P2U(join(h[i]));
            WT_CHECK_EQ(r, 2 * (base + b + i) + 1);
            sum += r;
        }
    }
    return U2P(sum);
}

static void *tree_main(void *arg)
{
    struct wf_fiber h[100];
    uint64_t sum = 0;
    for (int i = 0; i < 100; i++)
        h[i] = go(tree_parent, U2P(i));
    for (int i = 0; i < 100; i++)
        sum += P2U(join(h[i]));
    return U2P(sum);
}

WT_CASE(million_fibers_tree)
{
    tree_children = scaled_spawns(10000);
    tree_wave = wt_sanitized() ? 100 : 1000;
    uint64_t total = 100 * (uint64_t)tree_children;
    uint64_t sum = P2U(run_main(4, tree_main, NULL));
    WT_CHECK_EQ(sum, total * total);
    WT_CHECK_EQ(atomic_load(&value_runs), (long)total);
}

/* 100,000 fibers (10,000 under sanitizers) sleep random durations of
 * 0..200 ms: every one wakes, none early. */
static int64_t *sleep_dur;
static atomic_long sleepers_woke;

static void *random_sleeper(void *arg)
{
    uintptr_t i = P2U(arg);
    int64_t dl = wf_now() + sleep_dur[i];
    int rc = (i & 1) ? wf_sleep_until(dl) : wf_sleep(sleep_dur[i]);
    int64_t now = wf_now();
    if (rc != 0)
        WT_FAIL("sleeper %lu: %s", (unsigned long)i, wf_strerror(rc));
    if (now < dl)
        WT_FAIL("sleeper %lu woke %lld ns early", (unsigned long)i,
                (long long)(dl - now));
    atomic_fetch_add(&sleepers_woke, 1);
    return U2P(i);
}

static void *sleepers_main(void *arg)
{
    long n = (long)P2U(arg);
    struct wf_fiber *h = malloc((size_t)n * sizeof *h);
    WT_CHECK(h != NULL);
    for (long i = 0; i < n; i++)
        h[i] = go(random_sleeper, U2P(i));
    for (long i = 0; i < n; i++)
        WT_CHECK_EQ(P2U(join(h[i])), i);
    free(h);
    return U2P(n);
}

WT_CASE(sleepers_100k)
{
    uint64_t rng = wt_seed();
    long n = scaled(100000);
    sleep_dur = malloc((size_t)n * sizeof *sleep_dur);
    WT_CHECK(sleep_dur != NULL);
    for (long i = 0; i < n; i++)
        sleep_dur[i] = (int64_t)(wt_rand(&rng) % (uint64_t)(200 * WF_MSEC + 1));
    sleep_dur[0] = 0;
    WT_CHECK_EQ(P2U(run_main(2, sleepers_main, U2P(n))), n);
    WT_CHECK_EQ(atomic_load(&sleepers_woke), n);
    free(sleep_dur);
}
