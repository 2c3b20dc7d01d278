/*
 * tests/core/test_core.c - the core layer through its public API: the
 * runtime's life cycle, spawning and joining, scheduling and migration,
 * cancellation at every blocking point, deadlines, park/unpark, misuse
 * errors, pinning, names and ids, fiber-local storage, scopes, stack
 * overflow reports, stall reports, idle CPU use, timers, shutdown with
 * blocked fibers, and park/unpark stress.
 *
 * How the cases are built. Each case starts its own runtime (wf_run() or
 * wf_init()) with the worker count it needs; 2 and 4 workers are used even
 * on a 2-core machine, 1 where the case is about one worker. When a case
 * needs another fiber to have reached some point it polls a flag (with
 * wf_sleep() in a fiber, nanosleep() in a plain thread); where it wants that
 * fiber to be *blocked* it waits a little longer after the flag, but every
 * check holds whether or not the fiber was blocked yet (cancellation is
 * sticky, a park permit is kept), so no outcome depends on timing. A hang is
 * caught by the ctest timeout; no case asserts that something was fast.
 *
 * Stress cases take WT_SEED and WT_THREADS (see wtest.h) and print the seed
 * when they fail. Under sanitizers the big counts are divided by 10 (never
 * the checks): 100,000 fibers instead of a million, 10,000 sleepers instead
 * of 100,000, and so on. The one CPU-time bound (idle CPU, measured with
 * getrusage, not wall time) holds under ASan and TSan too (their background
 * threads used well under 2 ms in a second when measured), so it is not
 * skipped there.
 */
#include <weft.h>

#include "wtest_death.h"
#include "wtest_rt.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ---- helpers --------------------------------------------------------- */


/* A function the compiler may neither inline nor analyse across: used to
 * read the current thread's TLS address afresh and to defeat tail calls. */
#if defined(__clang__)
#define WT_OPAQUE __attribute__((noinline, optnone))
#else
#define WT_OPAQUE __attribute__((noinline, noipa))
#endif


/* Counts of fibers created: by 10 under ASan, by 100 under TSan, which
 * gives every fiber a thread context of its own and makes a spawn cost
 * about a millisecond (a million fibers would take a quarter of an hour). */
static long scaled_spawns(long n)
{
    return wt_under_tsan() ? n / 100 : scaled(n);
}



static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Wait in a fiber until *flag >= v. Works in a cancelled fiber too (its
 * sleeps return at once, so it falls back to yielding). */
static void fiber_wait(atomic_int *flag, int v)
{
    while (atomic_load(flag) < v)
        if (wf_sleep(WF_MSEC) != 0)
            wf_yield();
}

/* Poll in a (possibly cancelled) fiber until *flag >= v; false if that
 * has not happened after `limit` ns (a deadline, so that a missing wake
 * fails with a message instead of a ctest timeout). */
static bool fiber_poll(atomic_int *flag, int v, int64_t limit)
{
    int64_t end = wf_deadline_in(limit);
    while (atomic_load(flag) < v) {
        if (wf_now() >= end)
            return false;
        if (wf_sleep(WF_MSEC) != 0)
            wf_yield();
    }
    return true;
}

/* Wait in a plain thread until *flag >= v. */
static void thread_wait(atomic_int *flag, int v)
{
    while (atomic_load(flag) < v)
        nap_ms(1);
}

static struct wf_fiber go(wf_fiber_fn *fn, void *arg)
{
    struct wf_fiber f = {0};
    int rc = wf_go(&f, fn, arg);
    if (rc != 0)
        WT_FAIL("wf_go: %s (%d)", wf_strerror(rc), rc);
    WT_CHECK(f.id != 0);
    return f;
}

static struct wf_fiber go_named(const char *name, int worker, wf_fiber_fn *fn,
                                void *arg)
{
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    struct wf_fiber f = {0};
    o.name = name;
    o.worker = worker;
    int rc = wf_go_opts(&f, &o, fn, arg);
    if (rc != 0)
        WT_FAIL("wf_go_opts: %s (%d)", wf_strerror(rc), rc);
    WT_CHECK(f.id != 0);
    return f;
}

static void *join(struct wf_fiber f)
{
    void *r = U2P(0xbad);
    int rc = wf_join(f, &r, WF_FOREVER);
    if (rc != 0)
        WT_FAIL("wf_join(%llu): %s (%d)", (unsigned long long)f.id,
                wf_strerror(rc), rc);
    return r;
}

static void *ret_arg(void *arg)
{
    return arg;
}

/* Returns 2 * arg + 1 and counts its runs. */
static atomic_long value_runs;
static void *value_fn(void *arg)
{
    atomic_fetch_add_explicit(&value_runs, 1, memory_order_relaxed);
    return U2P(2 * P2U(arg) + 1);
}

/* Parks until cancelled (spurious returns are allowed by wf_park and looped
 * over); returns what ended the wait, i.e. WF_ECANCELED. */
static atomic_int parkers_started;
static void *park_forever(void *arg)
{
    int rc;
    atomic_fetch_add(&parkers_started, 1);
    while ((rc = wf_park(WF_FOREVER)) == 0) {
    }
    return U2P((intptr_t)rc);
}

/* Runs until *(atomic_int *)arg becomes non-zero, ignoring cancellation
 * (so that its owner can observe states while it still runs). */
static void *run_until_released(void *arg)
{
    fiber_wait(arg, 1);
    return U2P(0x600d);
}

static int64_t cpu_time_ns(void)
{
    struct rusage ru;
    WT_CHECK_EQ(getrusage(RUSAGE_SELF, &ru), 0);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * WF_SEC +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * WF_USEC;
}

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
    WT_CHECK_EQ(wf_shutdown(), 0);
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

static void *timed_sleeper(void *arg)
{
    int64_t dl = wf_deadline_in((int64_t)P2U(arg) * WF_MSEC);
    WT_CHECK_EQ(wf_sleep_until(dl), 0);
    WT_CHECK(wf_now() >= dl);
    return U2P(0x51);
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

    WT_CHECK_EQ(wf_shutdown(), 0);
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
    WT_CHECK_EQ(wf_shutdown(), 0);
}

static void *restart_main(void *arg)
{
    WT_CHECK_EQ(wf_workers(), (int)P2U(arg));
    struct wf_fiber h[100];
    uint64_t sum = 0;
    for (int i = 0; i < 100; i++)
        h[i] = go(value_fn, U2P(i));
    for (int i = 0; i < 100; i++)
        sum += P2U(join(h[i]));
    /* left parked: discarded when main returns */
    WT_CHECK_EQ(wf_detach(go(park_forever, NULL)), 0);
    return U2P(sum);
}

WT_CASE(restart_after_shutdown)
{
    static const int workers[] = {1, 2, 4, 2, 1, 4};
    for (int round = 0; round < 6; round++) {
        int n = workers[round];
        if (round % 2 == 0) {
            WT_CHECK_EQ(P2U(run_main(n, restart_main, U2P(n))), 100 * 100);
        } else {
            struct wf_config c = config(n);
            WT_CHECK_EQ(wf_init(&c), 0);
            WT_CHECK_EQ(wf_workers(), n);
            struct wf_fiber h = go(value_fn, U2P(round));
            WT_CHECK_EQ(P2U(join(h)), 2 * round + 1);
            WT_CHECK_EQ(wf_join(h, NULL, WF_FOREVER), WF_ESRCH);
            WT_CHECK_EQ(wf_detach(go(park_forever, NULL)), 0);
            WT_CHECK_EQ(wf_shutdown(), 0);
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

/* ---- yields, migration, the TLS trap ---------------------------------- */

static _Thread_local int tls_var;

/* The current thread's &tls_var, computed afresh at every call. */
static WT_OPAQUE int *tls_addr(void)
{
    return &tls_var;
}

/* Worker index -> the TLS address of the thread it runs on, as seen by the
 * fibers: one worker must always be one thread. */
static _Atomic(uintptr_t) worker_tls[64];

static void note_worker(int w, int *tls)
{
    if (w < 0 || w >= 64)
        WT_FAIL("wf_worker_index() = %d", w);
    uintptr_t seen = 0;
    if (!atomic_compare_exchange_strong(&worker_tls[w], &seen, (uintptr_t)tls) &&
        seen != (uintptr_t)tls)
        WT_FAIL("worker %d ran on two threads (tls %p and %p)", w, (void *)seen,
                (void *)tls);
}

struct yielder {
    int yields;
    int sleep_too;
    int moves;
};

static void *yielder_fn(void *arg)
{
    struct yielder *y = arg;
    unsigned char local[96];
    for (size_t i = 0; i < sizeof local; i++)
        local[i] = (unsigned char)(P2U(arg) * 31 + i);
    int w = wf_worker_index();
    /* the trap: a TLS address kept in a local across switches */
    int *tls = tls_addr();
    note_worker(w, tls);
    for (int i = 0; i < y->yields; i++) {
        if (y->sleep_too && i % 8 == 7)
            WT_CHECK_EQ(wf_sleep(0 == i % 3 ? 0 : 100 * WF_USEC), 0);
        else
            WT_CHECK_EQ(wf_yield(), 0);
        int w2 = wf_worker_index();
        int *tls2 = tls_addr();
        note_worker(w2, tls2);
        if (w2 != w) {
            y->moves++;
            /* another OS thread: the address kept in `tls` is stale */
            WT_CHECK(tls2 != tls);
        } else {
            WT_CHECK(tls2 == tls);
        }
        w = w2;
        tls = tls2;
        for (size_t k = 0; k < sizeof local; k++)
            if (local[k] != (unsigned char)(P2U(arg) * 31 + k))
                WT_FAIL("fiber's local byte %zu changed across a yield", k);
    }
    return NULL;
}

static struct yielder *yielders;

static void *yields_main(void *arg)
{
    int n = (int)P2U(arg);
    struct wf_fiber *h = malloc((size_t)n * sizeof *h);
    WT_CHECK(h != NULL);
    for (int i = 0; i < n; i++)
        h[i] = go(yielder_fn, &yielders[i]);
    for (int i = 0; i < n; i++)
        join(h[i]);
    free(h);
    return NULL;
}

WT_CASE(yields_across_workers)
{
    int n = 1000;
    yielders = calloc((size_t)n, sizeof *yielders);
    /* Short sleeps among the yields leave workers idle now and then, so
     * that they steal fibers which have already run elsewhere: without
     * them, equal loads on busy workers may never be rebalanced (seen
     * under TSan, where the spawning phase alone spreads the fibers). */
    for (int i = 0; i < n; i++) {
        yielders[i].yields = 200;
        yielders[i].sleep_too = 1;
    }
    unsetenv("WEFT_DEBUG_MIGRATE");
    run_main(4, yields_main, U2P(n));
    long moves = 0;
    for (int i = 0; i < n; i++)
        moves += yielders[i].moves;
    fprintf(stderr, "%ld migrations over %d yields\n", moves, n * 200);
    WT_CHECK(moves > 0);
    free(yielders);
}

/* WEFT_DEBUG_MIGRATE=1: every fiber that yields or wakes is moved, so every
 * fiber must have been seen on two workers. */
WT_CASE(yields_debug_migrate)
{
    int n = 200;
    yielders = calloc((size_t)n, sizeof *yielders);
    for (int i = 0; i < n; i++) {
        yielders[i].yields = 50;
        yielders[i].sleep_too = i % 2;
    }
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(4, yields_main, U2P(n));
    long moves = 0;
    for (int i = 0; i < n; i++) {
        if (yielders[i].moves == 0)
            WT_FAIL("fiber %d never migrated under WEFT_DEBUG_MIGRATE=1", i);
        moves += yielders[i].moves;
    }
    fprintf(stderr, "%ld migrations over %d switches\n", moves, n * 50);
    free(yielders);
}

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
    WT_CHECK_EQ(wf_shutdown(), 0);
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
    WT_CHECK_EQ(wf_shutdown(), 0);
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
    WT_CHECK_EQ(wf_shutdown(), 0);
}

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
    WT_CHECK_EQ(wf_shutdown(), 0);
}

static atomic_int release_flag;
static atomic_int released_done;

static void *wait_release(void *arg)
{
    fiber_wait(&release_flag, 1);
    atomic_fetch_add(&released_done, 1);
    return arg;
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

static atomic_int counted_runs;

static void *counted_fn(void *arg)
{
    atomic_fetch_add(&counted_runs, 1);
    return arg;
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
    WT_CHECK_EQ(wf_shutdown(), 0);
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
    WT_CHECK_EQ(wf_shutdown(), 0);
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

/* ---- stack sizes ----------------------------------------------------- */

/* Uses about depth KiB of stack. */
static WT_OPAQUE int use_stack(int depth)
{
    volatile char buf[1024];
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = (char)depth;
    if (depth <= 1)
        return buf[0];
    return use_stack(depth - 1) + buf[512];
}

static void *stack_user(void *arg)
{
    use_stack((int)P2U(arg));
    return arg;
}

static void *stack_size_main(void *arg)
{
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    struct wf_fiber f;
    /* 1 MiB stack, 600 KiB used */
    o.stack_size = 1 << 20;
    WT_CHECK_EQ(wf_go_opts(&f, &o, stack_user, U2P(600)), 0);
    WT_CHECK_EQ(P2U(join(f)), 600);
    /* tiny sizes are rounded up to at least 16 KiB */
    o.stack_size = 1;
    WT_CHECK_EQ(wf_go_opts(&f, &o, stack_user, U2P(6)), 0);
    WT_CHECK_EQ(P2U(join(f)), 6);
    /* the runtime's default, set to 512 KiB by the case */
    WT_CHECK_EQ(P2U(join(go(stack_user, U2P(400)))), 400);
    return NULL;
}

WT_CASE(stack_sizes_honoured)
{
    struct wf_config c = config(2);
    c.stack_size = 512 * 1024;
    void *r;
    WT_CHECK_EQ(wf_run(&c, stack_size_main, NULL, &r), 0);
    /* the same default through WEFT_STACK_SIZE */
    setenv("WEFT_STACK_SIZE", "512k", 1);
    c.stack_size = 0;
    WT_CHECK_EQ(wf_run(&c, stack_size_main, NULL, &r), 0);
}

/* ---- pinning ---------------------------------------------------------- */

struct pin_arg {
    int k;
    int pin_self;
    int iters;
};

static void *pinned_fn(void *arg)
{
    struct pin_arg *p = arg;
    uint64_t rng = wt_seed() ^ P2U(arg);
    int k = p->k;
    if (p->pin_self) {
        for (int i = 0; i < 10; i++)
            WT_CHECK_EQ(wf_yield(), 0);
        k = wf_pin_self();
        WT_CHECK(k >= 0 && k < wf_workers());
        WT_CHECK_EQ(wf_worker_index(), k);
        WT_CHECK_EQ(wf_pin_self(), k);
        p->k = k;
    }
    WT_CHECK_EQ(wf_worker_index(), k);
    for (int i = 0; i < p->iters; i++) {
        switch (wt_rand(&rng) % 4) {
        case 0:
        case 1:
            WT_CHECK_EQ(wf_yield(), 0);
            break;
        case 2:
            WT_CHECK_EQ(wf_sleep((int64_t)(wt_rand(&rng) % (300 * WF_USEC))), 0);
            break;
        case 3:
            WT_CHECK_EQ(wf_unpark(wf_self()), 0);
            WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
            break;
        }
        if (wf_worker_index() != k)
            WT_FAIL("pinned fiber moved from worker %d to %d", k,
                    wf_worker_index());
    }
    return U2P(k);
}

static void *pinned_main(void *arg)
{
    int pin_self = (int)P2U(arg);
    enum { N = 32 };
    static struct pin_arg p[N];
    struct wf_fiber h[N];
    for (int i = 0; i < N; i++) {
        p[i] = (struct pin_arg){i % 4, pin_self, 200};
        if (pin_self)
            h[i] = go(pinned_fn, &p[i]);
        else
            h[i] = go_named("pinned", i % 4, pinned_fn, &p[i]);
    }
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(P2U(join(h[i])), p[i].k);
    return NULL;
}

WT_CASE(pinned_worker)
{
    wt_seed();
    unsetenv("WEFT_DEBUG_MIGRATE");
    run_main(4, pinned_main, U2P(0));
}

WT_CASE(pinned_worker_debug_migrate)
{
    wt_seed();
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(4, pinned_main, U2P(0));
}

WT_CASE(pin_self)
{
    wt_seed();
    unsetenv("WEFT_DEBUG_MIGRATE");
    run_main(4, pinned_main, U2P(1));
}

WT_CASE(pin_self_debug_migrate)
{
    wt_seed();
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(4, pinned_main, U2P(1));
}

WT_CASE(pinned_from_plain_thread)
{
    static struct pin_arg p[8];
    struct wf_fiber h[8];
    wt_seed();
    struct wf_config c = config(4);
    WT_CHECK_EQ(wf_init(&c), 0);
    for (int i = 0; i < 8; i++) {
        p[i] = (struct pin_arg){3 - i % 4, 0, 100};
        h[i] = go_named(NULL, p[i].k, pinned_fn, &p[i]);
    }
    for (int i = 0; i < 8; i++)
        WT_CHECK_EQ(P2U(join(h[i])), p[i].k);
    WT_CHECK_EQ(wf_shutdown(), 0);
}

/* ---- names and ids ---------------------------------------------------- */

struct name_probe {
    atomic_int go;
    char seen[64];
    uint64_t id;
    int null_name;
};

static void *name_fn(void *arg)
{
    struct name_probe *p = arg;
    fiber_wait(&p->go, 1);
    const char *n = wf_self_name();
    p->null_name = n == NULL;
    if (n) {
        WT_CHECK(strlen(n) <= WF_NAME_MAX);
        snprintf(p->seen, sizeof p->seen, "%s", n);
    }
    p->id = wf_self().id;
    WT_CHECK_EQ(wf_yield(), 0);
    /* the same after a switch */
    WT_CHECK(wf_self_name() != NULL && strcmp(wf_self_name(), p->seen) == 0);
    WT_CHECK_EQ(wf_self().id, p->id);
    return NULL;
}

static void *names_main(void *arg)
{
    static struct name_probe p[5];
    char buf[64];
    const char *long_name = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"; /* 42 */
    char exact[WF_NAME_MAX + 1];
    memset(exact, 'x', WF_NAME_MAX);
    exact[WF_NAME_MAX] = '\0';

    strcpy(buf, "alpha");
    struct wf_fiber h0 = go_named(buf, WF_ANY_WORKER, name_fn, &p[0]);
    strcpy(buf, "CHANGED"); /* the name was copied */
    struct wf_fiber h1 = go_named(long_name, WF_ANY_WORKER, name_fn, &p[1]);
    struct wf_fiber h2 = go_named(exact, WF_ANY_WORKER, name_fn, &p[2]);
    struct wf_fiber h3 = go(name_fn, &p[3]);
    struct wf_fiber h4 = go_named("", 1, name_fn, &p[4]);
    for (int i = 0; i < 5; i++)
        atomic_store(&p[i].go, 1);
    join(h0);
    join(h1);
    join(h2);
    join(h3);
    join(h4);
    for (int i = 0; i < 5; i++)
        WT_CHECK(!p[i].null_name);
    WT_CHECK(strcmp(p[0].seen, "alpha") == 0);
    WT_CHECK_EQ(strlen(p[1].seen), WF_NAME_MAX);
    WT_CHECK(strncmp(p[1].seen, long_name, WF_NAME_MAX) == 0);
    WT_CHECK(strcmp(p[2].seen, exact) == 0);
    WT_CHECK(strcmp(p[3].seen, "") == 0);
    WT_CHECK(strcmp(p[4].seen, "") == 0);
    /* wf_self().id is the handle the spawner got */
    WT_CHECK_EQ(p[0].id, h0.id);
    WT_CHECK_EQ(p[1].id, h1.id);
    WT_CHECK_EQ(p[2].id, h2.id);
    WT_CHECK_EQ(p[3].id, h3.id);
    WT_CHECK_EQ(p[4].id, h4.id);
    return NULL;
}

WT_CASE(names)
{
    run_main(2, names_main, NULL);
}

static _Atomic(uint64_t) *self_ids;

static void *id_fn(void *arg)
{
    atomic_store(&self_ids[P2U(arg)], wf_self().id);
    fiber_wait(&release_flag, 1);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *ids_main(void *arg)
{
    enum { N = 2000 };
    struct wf_fiber *h = malloc(N * sizeof *h);
    uint64_t *ids = malloc(N * sizeof *ids);
    self_ids = calloc(N, sizeof *self_ids);
    WT_CHECK(h && ids && self_ids);
    uint64_t main_id = wf_self().id;
    WT_CHECK(main_id != 0);
    for (int i = 0; i < N; i++)
        h[i] = go(id_fn, U2P(i));
    /* wait until every one has run (they stay alive until released) */
    for (int i = 0; i < N; i++)
        while (atomic_load(&self_ids[i]) == 0)
            WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    for (int i = 0; i < N; i++) {
        WT_CHECK_EQ(atomic_load(&self_ids[i]), h[i].id);
        WT_CHECK(h[i].id != main_id);
        ids[i] = h[i].id;
    }
    qsort(ids, N, sizeof *ids, cmp_u64);
    for (int i = 1; i < N; i++)
        if (ids[i] == ids[i - 1])
            WT_FAIL("two live fibers share id %llu", (unsigned long long)ids[i]);
    atomic_store(&release_flag, 1);
    for (int i = 0; i < N; i++)
        join(h[i]);
    free(h);
    free(ids);
    free((void *)self_ids);
    return NULL;
}

WT_CASE(ids_distinct_and_match_handles)
{
    run_main(2, ids_main, NULL);
}

WT_CASE(plain_thread_identity)
{
    WT_CHECK_EQ(wf_self().id, 0);
    WT_CHECK(wf_self_name() == NULL);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_self().id, 0);
    WT_CHECK(wf_self_name() == NULL);
    WT_CHECK(!wf_cancelled());
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_self().id, 0);
}

/* ---- fiber-local storage ---------------------------------------------- */

static unsigned fls_key;

struct fls_pair {
    int value;
    atomic_int *ticks; /* shared step counter */
    int interleaved;
};

static void *fls_pair_fn(void *arg)
{
    struct fls_pair *p = arg;
    WT_CHECK(wf_fls_get(fls_key) == NULL); /* NULL until set */
    WT_CHECK_EQ(wf_fls_set(fls_key, &p->value), 0);
    for (int i = 0; i < 200; i++) {
        int before = atomic_fetch_add(p->ticks, 1) + 1;
        WT_CHECK_EQ(wf_yield(), 0);
        WT_CHECK_EQ(wf_worker_index(), 0);
        if (atomic_load(p->ticks) != before)
            p->interleaved++; /* the other fiber ran meanwhile */
        if (wf_fls_get(fls_key) != &p->value)
            WT_FAIL("fls value of fiber %d lost at step %d", p->value, i);
    }
    return NULL;
}

static void *fls_one_worker_main(void *arg)
{
    static struct fls_pair p[2];
    static atomic_int ticks;
    WT_CHECK_EQ(wf_fls_key_create(&fls_key, NULL), 0);
    WT_CHECK(wf_fls_get(fls_key) == NULL);
    p[0] = (struct fls_pair){1, &ticks, 0};
    p[1] = (struct fls_pair){2, &ticks, 0};
    struct wf_fiber a = go_named("fls-a", 0, fls_pair_fn, &p[0]);
    struct wf_fiber b = go_named("fls-b", 0, fls_pair_fn, &p[1]);
    join(a);
    join(b);
    WT_CHECK(p[0].interleaved + p[1].interleaved > 0);
    WT_CHECK(wf_fls_get(fls_key) == NULL); /* main's own value untouched */
    return NULL;
}

WT_CASE(fls_per_fiber_one_worker)
{
    run_main(2, fls_one_worker_main, NULL);
}

struct fls_mig {
    int value;
    int moves;
};

static void *fls_mig_fn(void *arg)
{
    struct fls_mig *m = arg;
    WT_CHECK(wf_fls_get(fls_key) == NULL);
    WT_CHECK_EQ(wf_fls_set(fls_key, &m->value), 0);
    int w = wf_worker_index();
    for (int i = 0; i < 50; i++) {
        if (i % 5 == 4)
            WT_CHECK_EQ(wf_sleep(50 * WF_USEC), 0);
        else
            WT_CHECK_EQ(wf_yield(), 0);
        int w2 = wf_worker_index();
        m->moves += w2 != w;
        w = w2;
        WT_CHECK(wf_fls_get(fls_key) == &m->value);
    }
    return NULL;
}

static void *fls_mig_main(void *arg)
{
    enum { N = 100 };
    static struct fls_mig m[N];
    struct wf_fiber h[N];
    WT_CHECK_EQ(wf_fls_key_create(&fls_key, NULL), 0);
    for (int i = 0; i < N; i++) {
        m[i].value = i;
        h[i] = go(fls_mig_fn, &m[i]);
    }
    for (int i = 0; i < N; i++)
        join(h[i]);
    for (int i = 0; i < N; i++)
        WT_CHECK(m[i].moves > 0);
    return NULL;
}

WT_CASE(fls_survives_migration)
{
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(4, fls_mig_main, NULL);
}

#define DT_N 400
static unsigned dt_key1, dt_key2, dt_key3;
static int dt_vals[DT_N], dt_alt[DT_N], dt_vals2[DT_N];
static atomic_int dt_count[DT_N], dt_alt_count[DT_N], dt_count2[DT_N];
static atomic_int dt_bad;

static void dtor1(void *v)
{
    int *p = v;
    if (p >= dt_vals && p < dt_vals + DT_N)
        atomic_fetch_add(&dt_count[p - dt_vals], 1);
    else if (p >= dt_alt && p < dt_alt + DT_N)
        atomic_fetch_add(&dt_alt_count[p - dt_alt], 1);
    else
        atomic_fetch_add(&dt_bad, 1);
}

static void dtor2(void *v)
{
    int *p = v;
    if (p >= dt_vals2 && p < dt_vals2 + DT_N)
        atomic_fetch_add(&dt_count2[p - dt_vals2], 1);
    else
        atomic_fetch_add(&dt_bad, 1);
}

/* mode i % 5: 0 set; 1 nothing; 2 set then NULL; 3 set alt then overwrite
 * with the final value; 4 set on both keys (and on a key without
 * destructor). */
static void *dt_fn(void *arg)
{
    int i = (int)P2U(arg);
    WT_CHECK(wf_fls_get(dt_key1) == NULL);
    WT_CHECK(wf_fls_get(dt_key2) == NULL);
    switch (i % 5) {
    case 0:
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_vals[i]), 0);
        break;
    case 1:
        break;
    case 2:
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_vals[i]), 0);
        WT_CHECK_EQ(wf_yield(), 0);
        WT_CHECK_EQ(wf_fls_set(dt_key1, NULL), 0);
        break;
    case 3:
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_alt[i]), 0);
        WT_CHECK_EQ(wf_yield(), 0);
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_vals[i]), 0);
        break;
    case 4:
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_vals[i]), 0);
        WT_CHECK_EQ(wf_fls_set(dt_key2, &dt_vals2[i]), 0);
        WT_CHECK_EQ(wf_fls_set(dt_key3, &dt_alt[i]), 0);
        break;
    }
    WT_CHECK_EQ(wf_yield(), 0);
    /* no destructor has run for this fiber yet */
    WT_CHECK_EQ(atomic_load(&dt_count[i]), 0);
    return arg;
}

static int dt_expected(int i)
{
    return i % 5 != 1 && i % 5 != 2;
}

static void *dt_main(void *arg)
{
    struct wf_fiber h[DT_N];
    WT_CHECK_EQ(wf_fls_key_create(&dt_key1, dtor1), 0);
    WT_CHECK_EQ(wf_fls_key_create(&dt_key2, dtor2), 0);
    WT_CHECK_EQ(wf_fls_key_create(&dt_key3, NULL), 0);
    WT_CHECK(dt_key1 != dt_key2 && dt_key2 != dt_key3 && dt_key1 != dt_key3);
    /* the first half joined, the second half detached */
    for (int i = 0; i < DT_N; i++)
        h[i] = go(dt_fn, U2P(i));
    for (int i = 0; i < DT_N / 2; i++)
        WT_CHECK_EQ(P2U(join(h[i])), i);
    for (int i = DT_N / 2; i < DT_N; i++)
        WT_CHECK_EQ(wf_detach(h[i]), 0);
    /* a joined fiber has returned, destructors included */
    for (int i = 0; i < DT_N / 2; i++) {
        WT_CHECK_EQ(atomic_load(&dt_count[i]), dt_expected(i));
        WT_CHECK_EQ(atomic_load(&dt_count2[i]), i % 5 == 4);
    }
    /* detached ones: wait until every expected call has come */
    for (int i = DT_N / 2; i < DT_N; i++)
        while (atomic_load(&dt_count[i]) < dt_expected(i) ||
               atomic_load(&dt_count2[i]) < (i % 5 == 4))
            WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0); /* room for extra calls */
    return NULL;
}

WT_CASE(fls_destructors)
{
    run_main(2, dt_main, NULL);
    for (int i = 0; i < DT_N; i++) {
        if (atomic_load(&dt_count[i]) != dt_expected(i))
            WT_FAIL("fiber %d: destructor ran %d times, want %d", i,
                    atomic_load(&dt_count[i]), dt_expected(i));
        WT_CHECK_EQ(atomic_load(&dt_count2[i]), i % 5 == 4);
        WT_CHECK_EQ(atomic_load(&dt_alt_count[i]), 0); /* overwritten */
    }
    WT_CHECK_EQ(atomic_load(&dt_bad), 0);
}

static unsigned ex_keys[WF_FLS_KEYS];

static void *fls_exhaust_main(void *arg)
{
    int made = (int)P2U(arg);
    unsigned k = 0xdeadbeef;
    int rc;
    while ((rc = wf_fls_key_create(&k, NULL)) == 0) {
        WT_CHECK(made < WF_FLS_KEYS);
        ex_keys[made++] = k;
        k = 0xdeadbeef;
    }
    WT_CHECK_EQ(rc, WF_EAGAIN);
    WT_CHECK_EQ(k, 0xdeadbeef); /* untouched on error */
    WT_CHECK_EQ(made, WF_FLS_KEYS);
    WT_CHECK_EQ(wf_fls_key_create(&k, NULL), WF_EAGAIN);
    for (int i = 0; i < made; i++)
        for (int j = 0; j < i; j++)
            WT_CHECK(ex_keys[i] != ex_keys[j]);
    /* every key works */
    for (int i = 0; i < made; i++)
        WT_CHECK_EQ(wf_fls_set(ex_keys[i], U2P(i + 1)), 0);
    WT_CHECK_EQ(wf_yield(), 0);
    for (int i = 0; i < made; i++)
        WT_CHECK_EQ(P2U(wf_fls_get(ex_keys[i])), i + 1);
    /* values that are no key */
    unsigned bad[] = {UINT_MAX, 0x7fffffffu, 1000000};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        int is_key = 0;
        for (int i = 0; i < made; i++)
            is_key |= ex_keys[i] == bad[b];
        if (is_key)
            continue;
        WT_CHECK_EQ(wf_fls_set(bad[b], U2P(1)), WF_EINVAL);
        WT_CHECK(wf_fls_get(bad[b]) == NULL);
    }
    for (int i = 0; i < made; i++)
        WT_CHECK_EQ(P2U(wf_fls_get(ex_keys[i])), i + 1);
    return NULL;
}

WT_CASE(fls_key_exhaustion)
{
    /* keys may be made before any runtime exists */
    int made = 0;
    for (; made < 10; made++)
        WT_CHECK_EQ(wf_fls_key_create(&ex_keys[made], NULL), 0);
    run_main(2, fls_exhaust_main, U2P(made));
}

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
    WT_CHECK_EQ(wf_shutdown(), 0);
}

/* ---- stack overflow ----------------------------------------------------- */

static volatile int overflow_stop = INT_MAX;

/* Recurses until the stack runs out: every frame writes all of its 192
 * bytes (so a canary below cannot be skipped), and uses the result of the
 * call (no tail call). */
static WT_OPAQUE int deep(volatile char *up, int depth, int yield_each)
{
    volatile char pad[192];
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = (char)(depth + (int)i);
    if (depth >= overflow_stop)
        return 0;
    if (yield_each)
        wf_yield();
    int r = deep(pad, depth + 1, yield_each);
    return r + pad[depth % (int)sizeof pad] + (up ? up[0] : 0);
}

static void *overflow_fiber(void *arg)
{
    return U2P(deep(NULL, 0, (int)P2U(arg)));
}

/* Keeps a second fiber runnable, so that every wf_yield() of the recursing
 * fiber really switches (a yield with nothing else to run may return
 * without one, and the canary is checked at switches). */
static void *companion_fn(void *arg)
{
    for (;;)
        wf_yield();
    return NULL;
}

static void *overflow_main(void *arg)
{
    if (P2U(arg))
        WT_CHECK_EQ(wf_detach(go(companion_fn, NULL)), 0);
    struct wf_fiber f = go_named("deep-recursion", WF_ANY_WORKER,
                                 overflow_fiber, arg);
    join(f);
    return NULL;
}

/* Only meaningful as the child of the overflow_* cases (indented so that
 * it is not registered with ctest). */
 WT_CASE(child_overflow)
{
    const char *mode = getenv("WT_CORE_OVERFLOW_CHILD");
    if (!mode)
        WT_SKIP("only run as the child of the overflow_* cases");
    alarm(60); /* undetected and stuck: die of SIGALRM, which fails */
    struct wf_config c = config(2);
    c.stall_ns = -1;
    int yield_each = 0;
    if (strcmp(mode, "canary") == 0) {
        /* one worker: the recursing fiber and its companion share it */
        c.workers = 1;
        c.guarded_stacks = -1;
        yield_each = 1;
    }
    wf_run(&c, overflow_main, U2P(yield_each), NULL);
    fprintf(stderr, "child: the overflow went unnoticed\n");
    _exit(3);
}

static void overflow_death(const char *mode)
{
    char *out =
        wt_death("test_core", "child_overflow", "WT_CORE_OVERFLOW_CHILD", mode);
    WT_CHECK(strcasestr(out, "stack overflow") != NULL);
    WT_CHECK(strstr(out, "deep-recursion") != NULL);
    free(out);
}

WT_CASE(overflow_guarded)
{
    overflow_death("guarded");
}

WT_CASE(overflow_canary)
{
    overflow_death("canary");
}

/* ---- stall reports ------------------------------------------------------ */

static struct {
    _Atomic uint64_t hog_id;
    atomic_int hog_running;
    atomic_int go;
    atomic_int reports, other_reports;
    char name[64];
    int64_t ran_ns;
    int worker;
    int running_at_report;
    int name_was_null;
} stall;

static void stall_cb(const struct wf_stall *s, void *arg)
{
    if (arg != &stall) {
        atomic_fetch_add(&stall.other_reports, 1);
        return;
    }
    uint64_t id = atomic_load(&stall.hog_id);
    if (id == 0 || s->fiber_id != id) {
        atomic_fetch_add(&stall.other_reports, 1);
        return;
    }
    if (atomic_load(&stall.reports) == 0) {
        stall.name_was_null = s->name == NULL;
        snprintf(stall.name, sizeof stall.name, "%s", s->name ? s->name : "");
        stall.ran_ns = s->ran_ns;
        stall.worker = s->worker;
        stall.running_at_report = atomic_load(&stall.hog_running);
    }
    atomic_fetch_add(&stall.reports, 1);
}

static void *hog_fn(void *arg)
{
    fiber_wait(&stall.go, 1);
    atomic_store(&stall.hog_running, 1);
    int64_t end = wf_now() + 300 * WF_MSEC;
    volatile uint64_t spin = 0;
    while (wf_now() < end)
        spin++;
    atomic_store(&stall.hog_running, 0);
    return NULL;
}

static void *stall_main(void *arg)
{
    struct wf_fiber f = go_named((const char *)arg, WF_ANY_WORKER, hog_fn, NULL);
    atomic_store(&stall.hog_id, f.id);
    atomic_store(&stall.go, 1);
    join(f);
    return NULL;
}

WT_CASE(stall_report_callback)
{
    struct wf_config c = config(2);
    c.stall_ns = 50 * WF_MSEC;
    c.stall_fn = stall_cb;
    c.stall_arg = &stall;
    void *r;
    WT_CHECK_EQ(wf_run(&c, stall_main, (void *)"hog-fiber", &r), 0);
    WT_CHECK_EQ(atomic_load(&stall.reports), 1); /* once per stall */
    WT_CHECK(!stall.name_was_null);
    WT_CHECK(strcmp(stall.name, "hog-fiber") == 0);
    WT_CHECK(stall.ran_ns >= 50 * WF_MSEC);
    WT_CHECK(stall.worker >= 0 && stall.worker < 2);
    WT_CHECK_EQ(stall.running_at_report, 1); /* reported while it ran */
}

/* With no callback the report goes to stderr and names the fiber. */
WT_CASE(stall_report_stderr)
{
    char path[] = "/tmp/weft-stall-XXXXXX";
    int fd = mkstemp(path);
    WT_CHECK(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    WT_CHECK(saved >= 0);
    WT_CHECK(dup2(fd, 2) == 2);
    struct wf_config c = config(2);
    c.stall_ns = 50 * WF_MSEC;
    void *r;
    int rc = wf_run(&c, stall_main, (void *)"hog-on-stderr", &r);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    WT_CHECK_EQ(rc, 0);
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    WT_CHECK(n >= 0);
    buf[n] = '\0';
    fprintf(stderr, "---- captured stderr ----\n%s---- end ----\n", buf);
    WT_CHECK(strstr(buf, "hog-on-stderr") != NULL);
}

/* ---- idle CPU ------------------------------------------------------------ */

static void *idle_sleeper(void *arg)
{
    return U2P((intptr_t)wf_sleep(3600 * WF_SEC));
}

static void check_idle_cpu(int64_t used)
{
    fprintf(stderr, "idle runtime used %lld us of CPU in 1 s\n",
            (long long)(used / WF_USEC));
    if (used >= 10 * WF_MSEC)
        WT_FAIL("idle runtime used %lld us of CPU in 1 s (limit 10 ms)",
                (long long)(used / WF_USEC));
}

WT_CASE(idle_cpu_plain_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct wf_fiber h[20];
    for (int i = 0; i < 20; i++)
        h[i] = go(i % 2 ? idle_sleeper : park_forever, NULL);
    nap_ms(300); /* let spinning workers park */
    int64_t c0 = cpu_time_ns();
    nap_ms(1000);
    int64_t used = cpu_time_ns() - c0;
    for (int i = 0; i < 20; i++) {
        WT_CHECK_EQ(wf_cancel(h[i]), 0);
        WT_CHECK_EQ((intptr_t)join(h[i]), WF_ECANCELED);
    }
    WT_CHECK_EQ(wf_shutdown(), 0);
    check_idle_cpu(used);
}

static void *idle_main(void *arg)
{
    struct wf_fiber h[20];
    for (int i = 0; i < 20; i++)
        h[i] = go(i % 2 ? idle_sleeper : park_forever, NULL);
    WT_CHECK_EQ(wf_sleep(300 * WF_MSEC), 0);
    int64_t c0 = cpu_time_ns();
    WT_CHECK_EQ(wf_sleep(WF_SEC), 0); /* main is a sleeper too */
    int64_t used = cpu_time_ns() - c0;
    for (int i = 0; i < 20; i++) {
        WT_CHECK_EQ(wf_cancel(h[i]), 0);
        WT_CHECK_EQ((intptr_t)join(h[i]), WF_ECANCELED);
    }
    return U2P(used);
}

WT_CASE(idle_cpu_fiber_sleeping)
{
    check_idle_cpu((int64_t)P2U(run_main(2, idle_main, NULL)));
}

/* ---- timers ------------------------------------------------------------- */

static atomic_int tm_ready;

static void *timer_victim(void *arg)
{
    uintptr_t i = P2U(arg);
    int rc;
    atomic_fetch_add(&tm_ready, 1);
    switch (i % 4) {
    case 0:
        rc = wf_sleep_until(WF_FOREVER);
        break;
    case 1:
        rc = wf_sleep(3600 * WF_SEC);
        break;
    case 2:
        while ((rc = wf_park(wf_deadline_in(3600 * WF_SEC))) == 0) {
        }
        break;
    default:
        /* distinct deadlines, an hour away */
        rc = wf_sleep_until(wf_deadline_in(3600 * WF_SEC + (int64_t)i));
        break;
    }
    return U2P((intptr_t)rc);
}

static void *timers_main(void *arg)
{
    int n = (int)P2U(arg);
    struct wf_fiber *h = malloc((size_t)n * sizeof *h);
    WT_CHECK(h != NULL);
    for (int i = 0; i < n; i++)
        h[i] = go(timer_victim, U2P(i));
    fiber_wait(&tm_ready, n);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0);
    for (int i = 0; i < n; i++)
        WT_CHECK_EQ(wf_cancel(h[i]), 0);
    for (int i = 0; i < n; i++) {
        intptr_t rc = (intptr_t)join(h[i]);
        if (rc != WF_ECANCELED)
            WT_FAIL("timer victim %d returned %d", i, (int)rc);
    }
    free(h);
    /* the timer structures are consistent afterwards */
    struct wf_fiber s[200];
    for (int i = 0; i < 200; i++)
        s[i] = go(timed_sleeper, U2P(1 + i % 20));
    for (int i = 0; i < 200; i++)
        WT_CHECK_EQ(P2U(join(s[i])), 0x51);
    return U2P(n);
}

WT_CASE(timers_cancelled_not_leaked)
{
    int n = (int)scaled(10000);
    WT_CHECK_EQ(P2U(run_main(2, timers_main, U2P(n))), n);
    /* the runtime shut down cleanly and comes back */
    atomic_store(&tm_ready, 0);
    WT_CHECK_EQ(P2U(run_main(4, timers_main, U2P(100))), 100);
}

/* Cancel-then-join of sleepers at random moments: before they run, while
 * they sleep, after their short sleep ended. */
static void *short_or_long_sleeper(void *arg)
{
    int64_t ns = (int64_t)P2U(arg);
    int64_t dl = wf_deadline_in(ns);
    int rc = wf_sleep_until(dl);
    if (rc == 0)
        WT_CHECK(wf_now() >= dl);
    else
        WT_CHECK_EQ(rc, WF_ECANCELED);
    return U2P((intptr_t)rc);
}

static void *cancel_join_main(void *arg)
{
    uint64_t rng = wt_seed();
    int n = (int)P2U(arg);
    int cancelled = 0, finished = 0;
    for (int i = 0; i < n; i++) {
        int64_t ns = (wt_rand(&rng) % 2) ? 3600 * WF_SEC
                                         : (int64_t)(wt_rand(&rng) % 200000);
        struct wf_fiber f = go(short_or_long_sleeper, U2P(ns));
        switch (wt_rand(&rng) % 3) {
        case 0:
            break;
        case 1:
            WT_CHECK_EQ(wf_yield(), 0);
            break;
        default:
            WT_CHECK_EQ(wf_sleep((int64_t)(wt_rand(&rng) % 100000)), 0);
            break;
        }
        WT_CHECK_EQ(wf_cancel(f), 0);
        intptr_t rc = (intptr_t)join(f);
        if (ns == 3600 * WF_SEC)
            WT_CHECK_EQ(rc, WF_ECANCELED);
        cancelled += rc == WF_ECANCELED;
        finished += rc == 0;
    }
    WT_CHECK_EQ(cancelled + finished, n);
    return NULL;
}

WT_CASE(sleeper_cancel_then_join)
{
    run_main(2, cancel_join_main, U2P(scaled(3000)));
}

/* ---- shutdown with blocked fibers ------------------------------------- */

static atomic_int blk_started, blk_resumed;
static struct wf_fiber *blk_handles;

static void *blocked_fn(void *arg)
{
    uintptr_t i = P2U(arg);
    atomic_fetch_add(&blk_started, 1);
    switch (i % 3) {
    case 0:
        while (wf_park(WF_FOREVER) == 0) {
        }
        break;
    case 1:
        wf_sleep(3600 * WF_SEC);
        break;
    default:
        /* a chain of joiners: each joins the previous joiner, the first
         * one a sleeper */
        wf_join(blk_handles[i >= 5 ? i - 3 : i - 1], NULL, WF_FOREVER);
        break;
    }
    atomic_fetch_add(&blk_resumed, 1); /* must never happen */
    return NULL;
}

static void *blocked_main(void *arg)
{
    int n = (int)P2U(arg);
    for (int i = 0; i < n; i++)
        blk_handles[i] = go(blocked_fn, U2P(i));
    fiber_wait(&blk_started, n);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0);
    return U2P(0x1234);
}

WT_CASE(shutdown_with_blocked_fibers)
{
    enum { N = 1000 };
    blk_handles = calloc(N, sizeof *blk_handles);
    WT_CHECK_EQ(P2U(run_main(4, blocked_main, U2P(N))), 0x1234);
    WT_CHECK_EQ(atomic_load(&blk_resumed), 0); /* discarded, not resumed */
    /* a second runtime works */
    WT_CHECK_EQ(P2U(run_main(2, restart_main, U2P(2))), 100 * 100);
    /* the same through wf_init / wf_shutdown */
    atomic_store(&blk_started, 0);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    for (int i = 0; i < N; i++)
        blk_handles[i] = go(blocked_fn, U2P(i));
    thread_wait(&blk_started, N);
    nap_ms(20);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(atomic_load(&blk_resumed), 0);
    WT_CHECK_EQ(P2U(run_main(2, restart_main, U2P(2))), 100 * 100);
    free(blk_handles);
}

/* wf_shutdown makes a plain thread blocked in wf_join return WF_ESHUTDOWN. */
static struct wf_fiber sd_target;
static atomic_int sd_entered;
static atomic_int sd_rc = 1;

static void *sd_joiner(void *arg)
{
    atomic_store(&sd_entered, 1);
    atomic_store(&sd_rc, wf_join(sd_target, NULL, WF_FOREVER));
    return NULL;
}

WT_CASE(shutdown_wakes_blocked_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    sd_target = go(park_forever, NULL);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, sd_joiner, NULL), 0);
    thread_wait(&sd_entered, 1);
    nap_ms(50);
    WT_CHECK_EQ(atomic_load(&sd_rc), 1); /* still blocked */
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    WT_CHECK_EQ(atomic_load(&sd_rc), WF_ESHUTDOWN);
    WT_CHECK_EQ(P2U(run_main(2, restart_main, U2P(2))), 100 * 100);
}

/* ---- stress -------------------------------------------------------------- */

/* A ring of fibers passing tokens: fiber i waits (parks) until it holds a
 * token, passes one to fiber i+1 and unparks it. A lost wake-up leaves a
 * fiber parked with a token and the ring stops: the case hangs until the
 * ctest timeout. With `timed`, parks carry short random deadlines, so
 * timer expiry races with unpark. */
#define RING_N 64
#define RING_TOKENS 16

static struct {
    struct wf_fiber h[RING_N];
    atomic_int tickets[RING_N];
    atomic_int start, done, release;
    struct wf_fiber main;
    int rounds;
    int timed;
    uint64_t seed;
    atomic_long passes, timeouts;
} ring;

static void *ring_fn(void *arg)
{
    int i = (int)P2U(arg), next = (i + 1) % RING_N;
    uint64_t rng = ring.seed ^ ((uint64_t)i * 0x9E3779B97F4A7C15ull);
    while (!atomic_load(&ring.start))
        WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
    for (int r = 0; r < ring.rounds; r++) {
        while (atomic_load(&ring.tickets[i]) == 0) {
            int64_t dl = ring.timed
                             ? wf_deadline_in((int64_t)(wt_rand(&rng) % 100000))
                             : WF_FOREVER;
            int rc = wf_park(dl);
            if (rc == WF_ETIMEDOUT && ring.timed)
                atomic_fetch_add_explicit(&ring.timeouts, 1,
                                          memory_order_relaxed);
            else if (rc != 0)
                WT_FAIL("ring fiber %d: park: %s", i, wf_strerror(rc));
        }
        atomic_fetch_sub(&ring.tickets[i], 1);
        if (wt_rand(&rng) % 8 == 0)
            WT_CHECK_EQ(wf_yield(), 0);
        atomic_fetch_add(&ring.tickets[next], 1);
        int rc = wf_unpark(ring.h[next]);
        if (rc != 0)
            WT_FAIL("ring fiber %d: unpark %d: %s", i, next, wf_strerror(rc));
        atomic_fetch_add_explicit(&ring.passes, 1, memory_order_relaxed);
    }
    if (atomic_fetch_add(&ring.done, 1) + 1 == RING_N)
        WT_CHECK_EQ(wf_unpark(ring.main), 0);
    /* stay alive until every unpark aimed at us has been made */
    while (!atomic_load(&ring.release))
        WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
    return U2P(i);
}

static void *ring_main(void *arg)
{
    ring.main = wf_self();
    for (int i = 0; i < RING_N; i++)
        atomic_store(&ring.tickets[i], i % (RING_N / RING_TOKENS) == 0);
    for (int i = 0; i < RING_N; i++)
        ring.h[i] = go(ring_fn, U2P(i));
    atomic_store(&ring.start, 1);
    for (int i = 0; i < RING_N; i++)
        WT_CHECK_EQ(wf_unpark(ring.h[i]), 0);
    while (atomic_load(&ring.done) < RING_N)
        WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
    atomic_store(&ring.release, 1);
    for (int i = 0; i < RING_N; i++)
        WT_CHECK_EQ(wf_unpark(ring.h[i]), 0);
    for (int i = 0; i < RING_N; i++)
        WT_CHECK_EQ(P2U(join(ring.h[i])), i);
    /* tokens are conserved */
    int left = 0;
    for (int i = 0; i < RING_N; i++)
        left += atomic_load(&ring.tickets[i]);
    WT_CHECK_EQ(left, RING_TOKENS);
    return NULL;
}

static void ring_stress(int timed)
{
    ring.seed = wt_seed();
    ring.timed = timed;
    ring.rounds = (int)scaled(timed ? 10000 : 100000);
    int workers = wt_threads(4);
    fprintf(stderr, "ring: %d fibers, %d tokens, %d rounds, %d workers, seed %llu\n",
            RING_N, RING_TOKENS, ring.rounds, workers,
            (unsigned long long)ring.seed);
    run_main(workers, ring_main, NULL);
    WT_CHECK_EQ(atomic_load(&ring.passes), (long)RING_N * ring.rounds);
    if (timed)
        fprintf(stderr, "ring: %ld parks timed out\n", atomic_load(&ring.timeouts));
}

WT_CASE(stress_ring_park_unpark)
{
    ring_stress(0);
}

WT_CASE(stress_ring_park_deadline)
{
    ring_stress(1);
}

/* Spawn-then-join races: children finish before, during or after their
 * parent starts to join them, on 4 workers with stealing. */
static void *race_child(void *arg)
{
    uintptr_t v = P2U(arg);
    if (v % 3 == 1)
        wf_yield();
    return U2P(v * 2 + 1);
}

static void *race_parent(void *arg)
{
    uint64_t rng = wt_seed() ^ P2U(arg);
    int n = (int)scaled_spawns(100000);
    uint64_t sum = 0, expect = 0;
    for (int i = 0; i < n; i++) {
        uintptr_t v = (uintptr_t)wt_rand(&rng) % 1000000;
        struct wf_fiber f = go(race_child, U2P(v));
        if (wt_rand(&rng) % 2)
            wf_yield();
        sum += P2U(join(f));
        expect += v * 2 + 1;
    }
    WT_CHECK_EQ(sum, expect);
    return U2P(n);
}

static void *join_race_main(void *arg)
{
    struct wf_fiber h[8];
    for (int i = 0; i < 8; i++)
        h[i] = go(race_parent, U2P(i));
    long total = 0;
    for (int i = 0; i < 8; i++)
        total += (long)P2U(join(h[i]));
    return U2P(total);
}

WT_CASE(stress_spawn_join_race)
{
    wt_seed();
    WT_CHECK_EQ(P2U(run_main(wt_threads(4), join_race_main, NULL)),
                8 * scaled_spawns(100000));
}

/* Two joiners race for one target, round after round: exactly one is
 * refused, the other gets the result. A joiner that lost the race used to
 * overwrite the winner's record, so the target's exit woke the loser and
 * the winner waited for ever (this case then hangs into its timeout). */
struct jrace {
    struct wf_fiber target;
    atomic_int go_flag;
    int rc[2];
    void *res[2];
};

static void *jrace_target(void *arg)
{
    struct jrace *r = arg;
    while (!atomic_load(&r->go_flag))
        wf_yield();
    return U2P(0x77);
}

static struct jrace *jrace_cur;

static void *jrace_joiner(void *arg)
{
    int side = (int)P2U(arg);
    struct jrace *r = jrace_cur;
    r->rc[side] = wf_join(r->target, &r->res[side], WF_FOREVER);
    return NULL;
}

static void *jrace_main(void *arg)
{
    int rounds = (int)P2U(arg);
    for (int i = 0; i < rounds; i++) {
        struct jrace r;
        memset(&r, 0, sizeof r);
        atomic_init(&r.go_flag, 0);
        jrace_cur = &r;
        r.target = go(jrace_target, &r);
        struct wf_fiber a = go(jrace_joiner, U2P(0));
        struct wf_fiber b = go(jrace_joiner, U2P(1));
        wf_yield();
        atomic_store(&r.go_flag, 1);
        join(a);
        join(b);
        int ok = (r.rc[0] == 0) + (r.rc[1] == 0);
        /* The loser is refused while the winner waits (WF_EINVAL), or
         * finds the handle already released (WF_ESRCH). */
        int refused = (r.rc[0] == WF_EINVAL || r.rc[0] == WF_ESRCH) +
                      (r.rc[1] == WF_EINVAL || r.rc[1] == WF_ESRCH);
        if (ok != 1 || refused != 1)
            WT_FAIL("round %d: join results %d and %d", i, r.rc[0], r.rc[1]);
        WT_CHECK_EQ(P2U(r.res[r.rc[0] == 0 ? 0 : 1]), 0x77);
    }
    return NULL;
}

WT_CASE(stress_concurrent_joiners)
{
    run_main(wt_threads(4), jrace_main, U2P(wt_sanitized() ? 300 : 3000));
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
    run_main(1, stale_first, NULL);
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

WT_MAIN()
