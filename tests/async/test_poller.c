/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_poller.c - the worker poller (src/async/reactor.c,
 * "The worker poller"; src/core/sched.c): workers poll the backend
 * themselves and one idle worker blocks in it. Each case drives one of
 * the interleavings listed in reactor.c's top comment on purpose, on each
 * backend (WEFT_IO, tests/async/CMakeLists.txt). A lost wake-up shows as
 * a hang, which every case bounds with a deadline of seconds (never a
 * timing assertion: the deadlines only turn a hang into a failure).
 */
#include <weft.h>
#include <weft/io.h>
#include <weft/timer.h>

#include "async/async_test.h"
#include "wt_backend.h"
#include "wtest_rt.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#define GUARD (20 * WF_SEC) /* a hang guard, never reached when correct */

/* A pipe whose ends weft waits on (non-blocking). */
static void wpipe(int p[2])
{
    WT_CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    WT_CHECK_EQ(wf_fd_register(p[0]), 0);
    WT_CHECK_EQ(wf_fd_register(p[1]), 0);
}

/* Reads its pipe until end of stream: keeps the reactor up with a
 * registered descriptor, so that an idle worker blocks in the poll. */
static void *idle_reader(void *arg)
{
    int fd = (int)P2U(arg);
    char c;
    while (wf_read(fd, &c, 1, WF_FOREVER) > 0) {
    }
    return NULL;
}

struct idle {
    int p[2];
    struct wf_fiber f;
};

static void idle_start(struct idle *s)
{
    wpipe(s->p);
    WT_CHECK_EQ(wf_go(&s->f, idle_reader, U2P(s->p[0])), 0);
    /* Let the reader register and park, and the workers run dry. */
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
}

static void idle_stop(struct idle *s)
{
    WT_CHECK_EQ(wf_close(s->p[1]), 0);
    WT_CHECK_EQ(wf_join(s->f, NULL, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_close(s->p[0]), 0);
}

/* ---- a submission racing the poller going to sleep ----------------------- */

static atomic_int bumps;

static void *bump(void *arg)
{
    (void)arg;
    atomic_fetch_add(&bumps, 1);
    return NULL;
}

/* From a plain thread, spawn a fiber and join it, over and over, with a
 * pause of random length between: the spawn lands while the only idle
 * worker is on its way into the poll, or blocked there, and must
 * interrupt it (with one worker nobody else can run the fiber). */
static void submit_race(int workers)
{
    struct wf_config c = config(workers);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct idle s;
    idle_start(&s);
    uint64_t seed = wt_seed();
    int n = (int)scaled(3000);
    for (int i = 0; i < n; i++) {
        struct wf_fiber f;
        WT_CHECK_EQ(wf_go(&f, bump, NULL), 0);
        WT_CHECK_EQ(wf_join(f, NULL, wf_deadline_in(GUARD)), 0);
        unsigned k = (unsigned)(wt_rand(&seed) % 200);
        for (volatile unsigned j = 0; j < k * 50; j++) {
        }
        if (k < 20) {
            struct timespec ts = {0, (long)k * 5000};
            nanosleep(&ts, NULL);
        }
    }
    WT_CHECK_EQ(atomic_load(&bumps), n);
    idle_stop(&s);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_NONE_DISCARDED();
}

WT_CASE(submit_races_poll_1)
{
    submit_race(1);
}
WT_CASE(submit_races_poll_2)
{
    submit_race(2);
}

/* ---- a deadline or timer due while a worker blocks in the poll ------------ */

static atomic_int fired;

static void on_timer(struct wf_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    atomic_fetch_add(&fired, 1);
}

static void *timers_main(void *arg)
{
    (void)arg;
    struct idle s;
    idle_start(&s);
    /* Sleeps: the worker's only wake-up is its poll's deadline. */
    for (int i = 0; i < 20; i++)
        WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    /* A read with a deadline on a pipe nobody writes. */
    char c;
    int q[2];
    wpipe(q);
    for (int i = 0; i < 5; i++)
        WT_CHECK_EQ(wf_read(q[0], &c, 1, wf_deadline_in(2 * WF_MSEC)),
                    WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_close(q[0]), 0);
    WT_CHECK_EQ(wf_close(q[1]), 0);
    idle_stop(&s);
    return NULL;
}

WT_CASE(deadline_while_polling)
{
    run_main(1, timers_main, NULL);
}

/* A user timer started from a plain thread while the one worker blocks
 * in the poll: its heap changed under a sleeping worker, which must be
 * interrupted to look at the new deadline. */
WT_CASE(timer_from_thread_while_polling)
{
    struct wf_config c = config(1);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct idle s;
    idle_start(&s);
    for (int i = 0; i < 20; i++) {
        struct wf_timer t;
        WT_CHECK_EQ(wf_timer_init(&t, on_timer, NULL), 0);
        WT_CHECK_EQ(wf_timer_start(&t, wf_deadline_in(WF_MSEC)), 0);
        int64_t guard = wf_deadline_in(GUARD);
        while (atomic_load(&fired) == i && wf_now() < guard) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        WT_CHECK_EQ(atomic_load(&fired), i + 1);
        wf_timer_stop(&t);
    }
    idle_stop(&s);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_NONE_DISCARDED();
}

/* ---- shutdown while a worker blocks in the poll, and restart ------------- */

static void *echo_once(void *arg)
{
    int *p = arg; /* p[0]: read end of the request pipe, p[1]: reply */
    char c;
    if (wf_read(p[0], &c, 1, wf_deadline_in(GUARD)) != 1)
        return U2P(1);
    return U2P(wf_write(p[1], &c, 1, wf_deadline_in(GUARD)) == 1 ? 0 : 2);
}

WT_CASE(shutdown_while_polling)
{
    for (int round = 0; round < 3; round++) {
        struct wf_config c = config(1 + round % 2);
        WT_CHECK_EQ(wf_init(&c), 0);
        /* The runtime works after a restart: one echo through pipes. */
        int req[2], rep[2];
        wpipe(req);
        wpipe(rep);
        int ends[2] = {req[0], rep[1]};
        struct wf_fiber f;
        WT_CHECK_EQ(wf_go(&f, echo_once, ends), 0);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        WT_CHECK_EQ(write(req[1], "x", 1), 1);
        char got = 0;
        int64_t guard = wf_deadline_in(GUARD);
        while (read(rep[0], &got, 1) != 1 && wf_now() < guard)
            nanosleep(&ts, NULL);
        WT_CHECK_EQ(got, 'x');
        void *res;
        WT_CHECK_EQ(wf_join(f, &res, wf_deadline_in(GUARD)), 0);
        WT_CHECK_EQ(P2U(res), 0);
        /* Now a reader that stays blocked, the workers idle, one of them
         * in the poll: shutdown must get it out. */
        struct wf_fiber r;
        WT_CHECK_EQ(wf_go(&r, idle_reader, U2P(req[0])), 0);
        WT_CHECK_EQ(wf_detach(r), 0);
        nanosleep(&ts, NULL);
        WT_CHECK_EQ(wf_shutdown(), 0);
        for (int i = 0; i < 2; i++) {
            close(req[i]);
            close(rep[i]);
        }
    }
}

/* ---- an event for a fiber pinned to another worker ----------------------- */

struct pinned {
    int in, out; /* the fiber reads `in`, writes `out` */
    int rounds;
};

static void *pinned_echo(void *arg)
{
    struct pinned *p = arg;
    for (int i = 0; i < p->rounds; i++) {
        char c;
        if (wf_read(p->in, &c, 1, wf_deadline_in(GUARD)) != 1)
            return U2P(1);
        if (wf_write(p->out, &c, 1, wf_deadline_in(GUARD)) != 1)
            return U2P(2);
    }
    return NULL;
}

/* Two fibers pinned to the two workers, echoing through pipes in a ring
 * driven by a plain thread: whichever worker polls sees the events of
 * both, and must hand the other's fiber to its inbox (and wake it). */
static void *pinned_main(void *arg)
{
    (void)arg;
    int a[2], b[2], c[2];
    wpipe(a);
    wpipe(b);
    wpipe(c);
    int rounds = (int)scaled(2000);
    struct pinned p0 = {a[0], b[1], rounds}, p1 = {b[0], c[1], rounds};
    struct wf_fiber_opts o0 = WF_FIBER_OPTS_INIT, o1 = WF_FIBER_OPTS_INIT;
    o0.worker = 0;
    o1.worker = 1;
    struct wf_fiber f0, f1;
    WT_CHECK_EQ(wf_go_opts(&f0, &o0, pinned_echo, &p0), 0);
    WT_CHECK_EQ(wf_go_opts(&f1, &o1, pinned_echo, &p1), 0);
    for (int i = 0; i < rounds; i++) {
        char x = (char)i, y;
        WT_CHECK_EQ(wf_write(a[1], &x, 1, wf_deadline_in(GUARD)), 1);
        WT_CHECK_EQ(wf_read(c[0], &y, 1, wf_deadline_in(GUARD)), 1);
        WT_CHECK_EQ(y, x);
    }
    void *r0, *r1;
    WT_CHECK_EQ(wf_join(f0, &r0, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_join(f1, &r1, wf_deadline_in(GUARD)), 0);
    WT_CHECK(r0 == NULL && r1 == NULL);
    for (int i = 0; i < 2; i++) {
        wf_close(a[i]);
        wf_close(b[i]);
        wf_close(c[i]);
    }
    return NULL;
}

WT_CASE(pinned_elsewhere)
{
    run_main(2, pinned_main, NULL);
}

/* ---- every worker busy: the reactor thread's fallback delivers ----------- */

static atomic_int spinning;
static atomic_bool release_spinners;

static void *spinner(void *arg)
{
    (void)arg;
    atomic_fetch_add(&spinning, 1);
    /* A long computation: never yields, so its worker never polls. */
    while (!atomic_load(&release_spinners)) {
    }
    return NULL;
}

static void *late_writer(void *arg)
{
    int fd = (int)P2U(arg);
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
    ssize_t rc = write(fd, "y", 1);
    (void)rc;
    return NULL;
}

WT_CASE(fallback_when_busy)
{
    enum { W = 2 };
    struct wf_config c = config(W);
    WT_CHECK_EQ(wf_init(&c), 0);
    int p[2];
    wpipe(p);
    /* The reactor is up before the workers get busy. */
    char ch;
    WT_CHECK_EQ(wf_read(p[0], &ch, 1, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);
    struct wf_fiber f[W];
    for (int i = 0; i < W; i++)
        WT_CHECK_EQ(wf_go(&f[i], spinner, NULL), 0);
    int64_t guard = wf_deadline_in(GUARD);
    while (atomic_load(&spinning) < W && wf_now() < guard) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    WT_CHECK_EQ(atomic_load(&spinning), W);
    long before;
    wf__test_reactor_dispatched(NULL, &before);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, late_writer, U2P(p[1])), 0);
    /* This plain thread waits through the reactor; no worker polls. */
    ssize_t r = wf_read(p[0], &ch, 1, wf_deadline_in(GUARD));
    atomic_store(&release_spinners, true);
    pthread_join(t, NULL);
    WT_CHECK_EQ(r, 1);
    long after;
    wf__test_reactor_dispatched(NULL, &after);
    WT_CHECK(after > before);
    for (int i = 0; i < W; i++)
        WT_CHECK_EQ(wf_join(f[i], NULL, wf_deadline_in(GUARD)), 0);
    wf_close(p[0]);
    wf_close(p[1]);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_NONE_DISCARDED();
}

/* ---- events reach fibers through the workers' own polls ------------------- */

/* A ping-pong between two fibers over a socket pair: on a backend that
 * workers poll, the workers dispatch events themselves (how many, and
 * whether the fallback also saw some, depends on the machine's load). */
static void *pong(void *arg)
{
    int fd = (int)P2U(arg);
    char c;
    while (wf_read(fd, &c, 1, wf_deadline_in(GUARD)) == 1)
        if (wf_write(fd, &c, 1, wf_deadline_in(GUARD)) != 1)
            break;
    return NULL;
}

static void *dispatch_main(void *arg)
{
    (void)arg;
    int sv[2];
    WT_CHECK_EQ(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
        0);
    WT_CHECK_EQ(wf_fd_register(sv[0]), 0);
    WT_CHECK_EQ(wf_fd_register(sv[1]), 0);
    long w0;
    wf__test_reactor_dispatched(&w0, NULL);
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, pong, U2P(sv[1])), 0);
    for (int i = 0; i < 200; i++) {
        char c = (char)i, d;
        WT_CHECK_EQ(wf_write(sv[0], &c, 1, wf_deadline_in(GUARD)), 1);
        WT_CHECK_EQ(wf_read(sv[0], &d, 1, wf_deadline_in(GUARD)), 1);
        WT_CHECK_EQ(d, c);
    }
    WT_CHECK_EQ(wf_close(sv[0]), 0);
    WT_CHECK_EQ(wf_join(f, NULL, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_close(sv[1]), 0);
    long w1;
    wf__test_reactor_dispatched(&w1, NULL);
    if (strcmp(wf_io_backend() ? wf_io_backend() : "", "epoll") == 0)
        WT_CHECK(w1 > w0);
    return NULL;
}

WT_CASE(workers_dispatch)
{
    run_main(1, dispatch_main, NULL);
}

/* ---- the worker in the poll leaves it for long work ------------------------ */

/* Both workers idle: one blocks in the poll, the other sleeps on its
 * futex (it found the token taken). A fiber pinned to worker k then runs
 * a long computation. When k held the poll, it leaves it for the fiber,
 * and the other worker must take the poll over: an event that follows is
 * dispatched by a worker, not found by the reactor thread's fallback
 * after its nap. (Before, a worker that found the token held by a
 * blocking poller slept without asking to be woken when it was given
 * back, so nobody polled until the fallback did.) Both k, one runtime
 * each: one of them is the holder. */
static atomic_bool stop_pinned;
static atomic_int bytes_read;

static void *counting_reader(void *arg)
{
    int fd = (int)P2U(arg);
    char c;
    while (wf_read(fd, &c, 1, WF_FOREVER) > 0)
        atomic_fetch_add(&bytes_read, 1);
    return NULL;
}

static void *pinned_spinner(void *arg)
{
    (void)arg;
    atomic_fetch_add(&spinning, 1);
    while (!atomic_load(&stop_pinned)) {
    }
    return NULL;
}

static void takeover(int k)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    int p[2];
    wpipe(p);
    struct wf_fiber r;
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    atomic_store(&bytes_read, 0);
    WT_CHECK_EQ(wf_go(&r, counting_reader, U2P(p[0])), 0);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL); /* the reader parks, the workers go idle */
    atomic_store(&spinning, 0);
    atomic_store(&stop_pinned, false);
    o.worker = k;
    struct wf_fiber s;
    WT_CHECK_EQ(wf_go_opts(&s, &o, pinned_spinner, NULL), 0);
    int64_t guard = wf_deadline_in(GUARD);
    while (atomic_load(&spinning) < 1 && wf_now() < guard)
        nanosleep(&(struct timespec){0, 100000}, NULL);
    /* The spinner runs, so worker k is out of the poll: wait until the
     * other worker blocks in it (the take-over this case is about; the
     * nap-sized window before it is not what is tested). */
    bool polled = strcmp(wf_io_backend() ? wf_io_backend() : "", "epoll") == 0;
    while (polled && !wf__test_poll_sleeping() && wf_now() < guard)
        nanosleep(&(struct timespec){0, 100000}, NULL);
    if (polled)
        WT_CHECK(wf__test_poll_sleeping());
    long w0, t0, w1, t1;
    wf__test_reactor_dispatched(&w0, &t0);
    WT_CHECK_EQ(write(p[1], "x", 1), 1);
    while (atomic_load(&bytes_read) < 1 && wf_now() < guard)
        nanosleep(&(struct timespec){0, 100000}, NULL);
    WT_CHECK_EQ(atomic_load(&bytes_read), 1);
    wf__test_reactor_dispatched(&w1, &t1);
    atomic_store(&stop_pinned, true);
    WT_CHECK_EQ(wf_join(s, NULL, wf_deadline_in(GUARD)), 0);
    wf_close(p[1]);
    WT_CHECK_EQ(wf_join(r, NULL, wf_deadline_in(GUARD)), 0);
    wf_close(p[0]);
    if (strcmp(wf_io_backend() ? wf_io_backend() : "", "epoll") == 0) {
        WT_CHECK(w1 > w0);
        WT_CHECK_EQ(t1, t0);
    }
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_NONE_DISCARDED();
}

/* From a plain thread: a fiber running the test would hold a worker.
 * Not under WEFT_DEBUG_MIGRATE: there every woken fiber is sent to the
 * other worker's inbox, here the one computing, so the reader waits for
 * the computation whoever polls. */
WT_CASE(poll_taken_over)
{
    const char *mig = getenv("WEFT_DEBUG_MIGRATE");
    if (mig && *mig && strcmp(mig, "0") != 0)
        WT_SKIP("WEFT_DEBUG_MIGRATE sends woken fibers to the busy worker");
    for (int k = 0; k < 4; k++)
        takeover(k % 2);
}

WT_MAIN()
