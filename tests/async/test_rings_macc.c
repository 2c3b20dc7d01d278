/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_rings_macc.c - multishot accept on the per-worker
 * io_uring rings (WEFT_IO_RINGS=1 WEFT_IO_MSHOT=1, src/async/rings.c
 * "Multishot accept"): many connections kept then accepted (more than
 * the FIFO's bound), accepts with short deadlines racing connects, a
 * listener closed with connections kept (no descriptor leaked), a
 * shutdown with an acceptor parked or connections kept, plain threads
 * accepting beside fibers, acceptors on two workers, EMFILE, and a
 * listener the kernel refuses a multishot on (not listening: -EINVAL,
 * answered by the single-shot path). ctest runs every case with
 * multishot on, with WEFT_DEBUG_MIGRATE=1, and off. Counts are exact;
 * no timing is asserted; GUARD bounds hangs.
 */
#include <weft.h>
#include <weft/io.h>

#include "wtest_rt.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wt_rings.h"

/* The process's open sockets (not its rings, which workers make when
 * they first need them). */
static int nfds(void)
{
    DIR *d = opendir("/proc/self/fd");
    WT_CHECK(d != NULL);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[300], to[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
        ssize_t k = readlink(path, to, sizeof to - 1);
        if (k > 0) {
            to[k] = 0;
            n += strncmp(to, "socket:", 7) == 0;
        }
    }
    closedir(d);
    return n;
}

/* Wait until the process has n sockets open, or at least n (atleast). */
static void wait_nfds_(int n, bool atleast)
{
    int64_t end = wf_deadline_in(GUARD);
    for (int k; (k = nfds()) != n && !(atleast && k > n);) {
        if (wf_now() >= end)
            WT_FAIL("sockets: %d open, %d expected", k, n);
        if (wf_sleep(WF_MSEC) != 0) /* a plain thread, or no runtime */
            usleep(1000);
    }
}

static void wait_nfds(int n)
{
    wait_nfds_(n, false);
}

static int listener(int *port, int backlog)
{
    int l = wf_tcp_listen("127.0.0.1", 0, backlog);
    WT_CHECK(l >= 0);
    *port = wf_local_port(l);
    WT_CHECK(*port > 0);
    return l;
}

static int connect_to(int port)
{
    int c = wf_tcp_connect("127.0.0.1", port, wf_deadline_in(GUARD));
    WT_CHECK(c >= 0);
    return c;
}

/* Each client writes its index (4 bytes); the acceptor reads it. */
static void send_idx(int c, uint32_t i)
{
    WT_CHECK_EQ(wf_write_all(c, &i, 4, NULL, wf_deadline_in(GUARD)), 4);
}

static uint32_t read_idx(int s)
{
    uint32_t i = 0;
    size_t got = 0;
    while (got < 4) {
        ssize_t r =
            wf_read(s, (char *)&i + got, 4 - got, wf_deadline_in(GUARD));
        WT_CHECK(r > 0);
        got += (size_t)r;
    }
    return i;
}

/* Read accepted s's index (below n), mark it seen (once), close s. */
static void mark_seen(int s, char *seen, uint32_t n)
{
    WT_CHECK(s >= 0);
    uint32_t k = read_idx(s);
    WT_CHECK(k < n && !seen[k]);
    seen[k] = 1;
    WT_CHECK_EQ(wf_close(s), 0);
}

/* An accepted descriptor and its peer's address. */
static int accept_checked(int l, int64_t deadline)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0xee, sizeof sa);
    int s = wf_accept(l, (struct sockaddr *)&sa, &len, deadline);
    if (s >= 0) {
        WT_CHECK_EQ(len, (socklen_t)sizeof sa);
        WT_CHECK_EQ(sa.sin_family, AF_INET);
        WT_CHECK_EQ(sa.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        WT_CHECK(sa.sin_port != 0);
    }
    return s;
}

/* ---- many connections kept, then accepted ------------------------------------ */

#define MANY 300 /* more than the FIFO's bound (256) */

static void *many_main(void *arg)
{
    (void)arg;
    check_rings();
    int port, l = listener(&port, 1024);
    int base = nfds();
    /* The first accept arms the multishot. */
    int c0 = connect_to(port);
    int s0 = accept_checked(l, wf_deadline_in(GUARD));
    WT_CHECK(s0 >= 0);
    int *cs = calloc(MANY, sizeof *cs);
    WT_CHECK(cs != NULL);
    for (uint32_t i = 0; i < MANY; i++) {
        cs[i] = connect_to(port);
        send_idx(cs[i], i);
    }
    if (mshot()) /* kept up to the bound, the rest in the backlog */
        wait_nfds_(base + 2 + MANY + 256, true);
    char *seen = calloc(MANY, 1);
    WT_CHECK(seen != NULL);
    for (int i = 0; i < MANY; i++) {
        mark_seen(accept_checked(l, wf_deadline_in(GUARD)), seen, MANY);
    }
    /* Nothing more: a short deadline finds none. */
    WT_CHECK_EQ(wf_accept(l, NULL, NULL, wf_deadline_in(20 * WF_MSEC)),
                WF_ETIMEDOUT);
    for (int i = 0; i < MANY; i++)
        WT_CHECK_EQ(wf_close(cs[i]), 0);
    WT_CHECK_EQ(wf_close(s0), 0);
    WT_CHECK_EQ(wf_close(c0), 0);
    WT_CHECK_EQ(wf_close(l), 0);
    wait_nfds(base - 1);
    free(seen);
    free(cs);
    return NULL;
}

WT_CASE(many_kept_then_accepted)
{
    run_main(2, many_main, NULL);
}

/* ---- deadlines racing connects ------------------------------------------------- */

#define RACE 400

struct race {
    int port, l;
    atomic_int accepted;
};

static void *race_connector(void *arg)
{
    struct race *r = arg;
    for (uint32_t i = 0; i < RACE; i++) {
        int c = connect_to(r->port);
        send_idx(c, i);
        WT_CHECK_EQ(wf_close(c), 0);
        if (i % 8 == 0)
            wf_yield();
    }
    return NULL;
}

static void *race_main(void *arg)
{
    (void)arg;
    check_rings();
    struct race r;
    r.l = listener(&r.port, 1024);
    atomic_init(&r.accepted, 0);
    struct wf_fiber f = go(race_connector, &r);
    char *seen = calloc(RACE, 1);
    WT_CHECK(seen != NULL);
    int64_t end = wf_deadline_in(GUARD);
    int got = 0, timeouts = 0;
    for (unsigned k = 0; got < RACE; k++) {
        WT_CHECK(wf_now() < end);
        /* 0 to 63 microseconds, and now and then one already passed. */
        int64_t d =
            k % 5 == 0 ? wf_now() : wf_deadline_in((int64_t)(k % 64) * WF_USEC);
        int s = wf_accept(r.l, NULL, NULL, d);
        if (s == WF_ETIMEDOUT) {
            timeouts++;
            continue;
        }
        mark_seen(s, seen, RACE);
        got++;
    }
    join(f);
    WT_CHECK_EQ(wf_accept(r.l, NULL, NULL, wf_deadline_in(20 * WF_MSEC)),
                WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_close(r.l), 0);
    free(seen);
    (void)timeouts;
    return NULL;
}

WT_CASE(deadlines_race_connects)
{
    run_main(2, race_main, NULL);
}

/* ---- cancellation racing completions ------------------------------------------- */

#define CANCELS 200

static void *cancel_acceptor(void *arg)
{
    int l = (int)P2U(arg);
    int s = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD));
    return U2P((uintptr_t)(intptr_t)s);
}

/* An acceptor cancelled at varying points while its connection comes:
 * it returns the descriptor or WF_ECANCELED, and what it did not take is
 * the next acceptor's: every connection is accepted exactly once. */
static void *cancel_main(void *arg)
{
    (void)arg;
    check_rings();
    int port, l = listener(&port, 1024);
    int *cs = calloc(CANCELS, sizeof *cs);
    WT_CHECK(cs != NULL);
    char *seen = calloc(CANCELS, 1);
    WT_CHECK(seen != NULL);
    int got = 0;
    for (uint32_t i = 0; i < CANCELS; i++) {
        struct wf_fiber f = go(cancel_acceptor, U2P(l));
        for (unsigned k = 0; k < i % 4; k++)
            wf_yield();
        cs[i] = connect_to(port);
        send_idx(cs[i], i);
        for (unsigned k = 0; k < i % 3; k++)
            wf_yield();
        WT_CHECK_EQ(wf_cancel(f), 0);
        int s = (int)(intptr_t)P2U(join(f));
        if (s == WF_ECANCELED)
            continue;
        mark_seen(s, seen, CANCELS);
        got++;
    }
    for (; got < CANCELS; got++) { /* the rest: kept or in the backlog */
        mark_seen(wf_accept(l, NULL, NULL, wf_deadline_in(GUARD)), seen,
                  CANCELS);
    }
    WT_CHECK_EQ(wf_accept(l, NULL, NULL, wf_deadline_in(20 * WF_MSEC)),
                WF_ETIMEDOUT);
    for (int i = 0; i < CANCELS; i++)
        WT_CHECK_EQ(wf_close(cs[i]), 0);
    WT_CHECK_EQ(wf_close(l), 0);
    free(seen);
    free(cs);
    return NULL;
}

WT_CASE(cancel_races_connects)
{
    run_main(2, cancel_main, NULL);
}

/* ---- a close with connections kept ---------------------------------------------- */

#define KEPT 20

static void *close_main(void *arg)
{
    (void)arg;
    check_rings();
    int base = nfds();
    for (int round = 0; round < 5; round++) {
        int port, l = listener(&port, 64);
        int c0 = connect_to(port);
        int s0 = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD));
        WT_CHECK(s0 >= 0);
        int cs[KEPT];
        for (int i = 0; i < KEPT; i++)
            cs[i] = connect_to(port);
        if (mshot())
            wait_nfds(base + 3 + 2 * KEPT); /* kept: accepted, not handed */
        WT_CHECK_EQ(wf_close(l), 0);
        /* Every kept one closed: the clients see their end. */
        for (int i = 0; i < KEPT; i++) {
            char c;
            ssize_t n = wf_read(cs[i], &c, 1, wf_deadline_in(GUARD));
            WT_CHECK(n == 0 || n == WF_ECONNRESET);
            WT_CHECK_EQ(wf_close(cs[i]), 0);
        }
        WT_CHECK_EQ(wf_close(s0), 0);
        WT_CHECK_EQ(wf_close(c0), 0);
        wait_nfds(base);
    }
    return NULL;
}

WT_CASE(close_listener_with_kept)
{
    run_main(2, close_main, NULL);
}

/* The listener closed with close(2), not wf_close, and its number given
 * to another descriptor (renewed by wf_fd_register): the kept
 * connections are closed and the multishot is cancelled (the listening
 * socket goes: a new connect is refused). */
static void *renew_main(void *arg)
{
    (void)arg;
    check_rings();
    int base = nfds();
    for (int done = 0, i = 0; done < 3; i++) {
        WT_CHECK(i < 50);
        int port, l = listener(&port, 64);
        int c0 = connect_to(port);
        int s0 = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD));
        WT_CHECK(s0 >= 0);
        int cs[KEPT];
        for (int k = 0; k < KEPT; k++)
            cs[k] = connect_to(port);
        if (mshot())
            wait_nfds(base + 3 + 2 * KEPT);
        int sv[2];
        WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        WT_CHECK_EQ(close(l), 0);
        int d = fcntl(sv[0], F_DUPFD_CLOEXEC, l);
        WT_CHECK(d >= l);
        WT_CHECK_EQ(wf_fd_register(d), 0);
        if (d == l && mshot()) {
            done++;
            for (int k = 0; k < KEPT; k++) {
                char c;
                ssize_t n = wf_read(cs[k], &c, 1, wf_deadline_in(GUARD));
                WT_CHECK(n == 0 || n == WF_ECONNRESET);
            }
            for (int64_t end = wf_deadline_in(GUARD);;) {
                int c =
                    wf_tcp_connect("127.0.0.1", port, wf_deadline_in(GUARD));
                if (c == WF_ECONNREFUSED)
                    break;
                WT_CHECK(c >= 0 && wf_now() < end); /* not cancelled yet */
                WT_CHECK_EQ(wf_close(c), 0);
                wf_sleep(WF_MSEC);
            }
        } else if (!mshot()) {
            done++;
        } else { /* the number went elsewhere: the stop closes the rest */
            if (done == 0) /* nothing shown: say so, not a pass */
                WT_SKIP("number %d taken meanwhile before any round", l);
            fprintf(stderr, "number %d taken meanwhile: round skipped\n", l);
            done = 3;
        }
        for (int k = 0; k < KEPT; k++)
            WT_CHECK_EQ(wf_close(cs[k]), 0);
        WT_CHECK_EQ(wf_close(d), 0);
        WT_CHECK_EQ(close(sv[0]), 0);
        WT_CHECK_EQ(close(sv[1]), 0);
        WT_CHECK_EQ(wf_close(s0), 0);
        WT_CHECK_EQ(wf_close(c0), 0);
        if (d == l || !mshot())
            wait_nfds(base);
    }
    return NULL;
}

WT_CASE(renewed_number_closes_kept)
{
    run_main(2, renew_main, NULL);
}

/* ---- shutdown with an acceptor parked, or connections kept --------------------- */

static atomic_int parked;

static void *parked_accept(void *arg)
{
    int l = (int)P2U(arg);
    atomic_fetch_add(&parked, 1);
    int s = wf_accept(l, NULL, NULL, WF_FOREVER);
    return U2P((uintptr_t)(intptr_t)s);
}

static void *arm_once(void *arg)
{
    int *p = arg; /* listener, port */
    int c = connect_to(p[1]);
    int s = wf_accept(p[0], NULL, NULL, wf_deadline_in(GUARD));
    WT_CHECK(s >= 0);
    WT_CHECK_EQ(wf_close(s), 0);
    WT_CHECK_EQ(wf_close(c), 0);
    for (int i = 0; i < KEPT; i++)
        p[2 + i] = connect_to(p[1]);
    return NULL;
}

WT_CASE(shutdown_with_parked_accept)
{
    int base = nfds();
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    check_rings();
    int port, l = listener(&port, 64);
    atomic_store(&parked, 0);
    for (int i = 0; i < 4; i++) {
        struct wf_fiber f;
        WT_CHECK_EQ(wf_go(&f, parked_accept, U2P(l)), 0);
        WT_CHECK_EQ(wf_detach(f), 0);
    }
    while (atomic_load(&parked) < 4)
        usleep(1000);
    usleep(20000);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(close(l), 0);
    wait_nfds(base);
}

WT_CASE(shutdown_with_kept)
{
    int base = nfds();
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    check_rings();
    int p[2 + KEPT];
    p[0] = listener(&p[1], 64);
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, arm_once, p), 0);
    WT_CHECK_EQ(wf_join(f, NULL, wf_deadline_in(GUARD)), 0);
    if (mshot()) /* the listener, the clients and the kept */
        wait_nfds(base + 1 + 2 * KEPT);
    WT_CHECK_EQ(wf_shutdown(), 0);
    /* The kept ones closed: each client sees its end. */
    for (int i = 0; i < KEPT && mshot(); i++) {
        char ch;
        ssize_t n;
        for (int tries = 0; (n = read(p[2 + i], &ch, 1)) < 0 && errno == EAGAIN;
             tries++) {
            if (tries == 20000) /* 20 s: GUARD, with no runtime */
                WT_FAIL("client %d never saw its end", i);
            usleep(1000);
        }
        WT_CHECK(n == 0 || (n < 0 && errno == ECONNRESET));
    }
    for (int i = 0; i < KEPT; i++)
        WT_CHECK_EQ(close(p[2 + i]), 0);
    WT_CHECK_EQ(close(p[0]), 0);
    wait_nfds(base);
}

/* ---- acceptors on two workers and plain threads ----------------------------- */

#define SPREAD 400

struct spread {
    int port, l;
    atomic_int accepted;
    char seen[SPREAD];
    pthread_mutex_t lock;
};

/* Accept until every connection is accepted by someone (short deadlines
 * to look at the count again). */
static void accept_share(struct spread *sp)
{
    int64_t end = wf_deadline_in(GUARD);
    while (atomic_load(&sp->accepted) < SPREAD) {
        WT_CHECK(wf_now() < end);
        int s = accept_checked(sp->l, wf_deadline_in(5 * WF_MSEC));
        if (s == WF_ETIMEDOUT)
            continue;
        WT_CHECK(s >= 0);
        uint32_t i = read_idx(s);
        WT_CHECK(i < SPREAD);
        pthread_mutex_lock(&sp->lock);
        WT_CHECK(!sp->seen[i]);
        sp->seen[i] = 1;
        pthread_mutex_unlock(&sp->lock);
        atomic_fetch_add(&sp->accepted, 1);
        WT_CHECK_EQ(wf_close(s), 0);
    }
}

static void *share_fiber(void *arg)
{
    accept_share(arg);
    return NULL;
}

static void *share_thread(void *arg)
{
    accept_share(arg);
    return NULL;
}

static void *spread_connector(void *arg)
{
    struct spread *sp = arg;
    for (uint32_t i = 1; i < SPREAD; i++) {
        int c = connect_to(sp->port);
        send_idx(c, i);
        WT_CHECK_EQ(wf_close(c), 0);
    }
    return NULL;
}

static void *spread_main(void *arg)
{
    int plain = (int)P2U(arg);
    check_rings();
    struct spread *sp = calloc(1, sizeof *sp);
    WT_CHECK(sp != NULL);
    pthread_mutex_init(&sp->lock, NULL);
    sp->l = listener(&sp->port, 1024);
    /* One connection accepted by a fiber first: the multishot is armed
     * when the others start. */
    int c = connect_to(sp->port);
    send_idx(c, 0);
    int s = accept_checked(sp->l, wf_deadline_in(GUARD));
    WT_CHECK(s >= 0);
    WT_CHECK_EQ(read_idx(s), 0u);
    sp->seen[0] = 1;
    atomic_store(&sp->accepted, 1);
    WT_CHECK_EQ(wf_close(s), 0);
    WT_CHECK_EQ(wf_close(c), 0);
    pthread_t t[2];
    for (int i = 0; i < plain; i++)
        WT_CHECK_EQ(pthread_create(&t[i], NULL, share_thread, sp), 0);
    struct wf_fiber f[4];
    for (int i = 0; i < 4; i++)
        f[i] = go(share_fiber, sp);
    struct wf_fiber fc = go(spread_connector, sp);
    join(fc);
    for (int i = 0; i < 4; i++)
        join(f[i]);
    for (int i = 0; i < plain; i++)
        WT_CHECK_EQ(pthread_join(t[i], NULL), 0);
    WT_CHECK_EQ(atomic_load(&sp->accepted), SPREAD);
    for (int i = 0; i < SPREAD; i++)
        WT_CHECK(sp->seen[i]);
    WT_CHECK_EQ(wf_accept(sp->l, NULL, NULL, wf_deadline_in(20 * WF_MSEC)),
                WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_close(sp->l), 0);
    pthread_mutex_destroy(&sp->lock);
    free(sp);
    return NULL;
}

WT_CASE(two_workers_accepting)
{
    run_main(2, spread_main, U2P(0));
}

WT_CASE(plain_threads_and_fibers)
{
    run_main(2, spread_main, U2P(2));
}

/* A plain thread parked in wf_accept while the multishot is armed: the
 * connection comes to it (kept, then handed), not swallowed. */
static void *plain_one(void *arg)
{
    int l = (int)P2U(arg);
    int s = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD));
    return U2P((uintptr_t)(intptr_t)s);
}

static void *plain_wait_main(void *arg)
{
    (void)arg;
    check_rings();
    int port, l = listener(&port, 64);
    int c0 = connect_to(port);
    int s0 = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD)); /* arms */
    WT_CHECK(s0 >= 0);
    for (int round = 0; round < 3; round++) {
        pthread_t t;
        WT_CHECK_EQ(pthread_create(&t, NULL, plain_one, U2P(l)), 0);
        wf_sleep(5 * WF_MSEC); /* let it park (either order is right) */
        int c = connect_to(port);
        void *res;
        WT_CHECK_EQ(pthread_join(t, &res), 0);
        int s = (int)(intptr_t)P2U(res);
        WT_CHECK(s >= 0);
        WT_CHECK_EQ(wf_close(s), 0);
        WT_CHECK_EQ(wf_close(c), 0);
    }
    /* And a fiber still accepts on it. */
    int c = connect_to(port);
    int s = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD));
    WT_CHECK(s >= 0);
    WT_CHECK_EQ(wf_close(s), 0);
    WT_CHECK_EQ(wf_close(c), 0);
    WT_CHECK_EQ(wf_close(s0), 0);
    WT_CHECK_EQ(wf_close(c0), 0);
    WT_CHECK_EQ(wf_close(l), 0);
    return NULL;
}

WT_CASE(plain_thread_waits_for_kept)
{
    run_main(2, plain_wait_main, NULL);
}

/* ---- EMFILE -------------------------------------------------------------------------- */

static void *emfile_main(void *arg)
{
    (void)arg;
    check_rings();
    /* The worker's ring made (by another listener's accept): the limit
     * below must not keep it from being made. l's multishot is armed by
     * the first accept under the low limit: the kernel reads the limit
     * when the accept is prepared. */
    int a0, b0;
    tcp_pair(&a0, &b0);
    int port, l = listener(&port, 64);
    struct rlimit old;
    WT_CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    /* The clients' sockets first, connected once no number is left
     * below the limit (the lowest free one). */
    int cs[4];
    for (int i = 0; i < 4; i++) {
        cs[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        WT_CHECK(cs[i] >= 0);
    }
    int lowest = dup(0);
    WT_CHECK(lowest >= 0);
    WT_CHECK_EQ(close(lowest), 0);
    struct rlimit low = old;
    low.rlim_cur = (rlim_t)lowest;
    WT_CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    for (int i = 0; i < 4; i++) {
        int rc = connect(cs[i], (struct sockaddr *)&sa, sizeof sa);
        WT_CHECK(rc == 0 || errno == EINPROGRESS);
    }
    /* Another thread of the runtime may close a file of its own meanwhile,
     * leaving a number below the limit: that accept succeeds (counted,
     * and kept open: it fills the hole), and the next one finds none. */
    int r, took = 0, held[4];
    while ((r = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD))) >= 0) {
        WT_CHECK(took < 4);
        held[took++] = r;
    }
    WT_CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    WT_CHECK_EQ(r, WF_EMFILE);
    for (int i = 0; i < took; i++)
        WT_CHECK_EQ(wf_close(held[i]), 0);
    /* Nothing lost: the rest come once the limit is back. */
    for (int i = took; i < 4; i++) {
        int s = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD));
        WT_CHECK(s >= 0);
        WT_CHECK_EQ(wf_close(s), 0);
    }
    WT_CHECK_EQ(wf_accept(l, NULL, NULL, wf_deadline_in(20 * WF_MSEC)),
                WF_ETIMEDOUT);
    for (int i = 0; i < 4; i++)
        WT_CHECK_EQ(close(cs[i]), 0);
    WT_CHECK_EQ(wf_close(a0), 0);
    WT_CHECK_EQ(wf_close(b0), 0);
    WT_CHECK_EQ(wf_close(l), 0);
    return NULL;
}

WT_CASE(emfile_returned_once)
{
    run_main(1, emfile_main, NULL);
}

/* ---- a multishot the kernel refuses ----------------------------------------------- */

/* A bound socket that does not listen: the multishot ends with -EINVAL,
 * the listener goes single-shot, whose own answer (-EINVAL) is
 * returned; once it listens, it accepts. */
static void *refused_main(void *arg)
{
    (void)arg;
    check_rings();
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    WT_CHECK(s >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    WT_CHECK_EQ(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    WT_CHECK_EQ(wf_fd_register(s), 0);
    WT_CHECK_EQ(wf_accept(s, NULL, NULL, wf_deadline_in(GUARD)), WF_EINVAL);
    WT_CHECK_EQ(listen(s, 16), 0);
    int port = wf_local_port(s);
    int c = connect_to(port);
    int a = accept_checked(s, wf_deadline_in(GUARD));
    WT_CHECK(a >= 0);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(c), 0);
    WT_CHECK_EQ(wf_close(s), 0);
    return NULL;
}

WT_CASE(refused_falls_back)
{
    run_main(1, refused_main, NULL);
}

/* ---- a plain thread's accept on a connected socket ---------------------------- */

/* wf_accept from a plain thread on a connected socket whose fiber reads
 * keep data (multishot receive) answers WF_EINVAL and leaves the socket
 * as it was: the kept data comes first, in order. (It marked any socket
 * readiness-only, and the fiber's next read took the newer data past the
 * kept.) */
static void *plain_accept_einval(void *arg)
{
    int a = (int)P2U(arg);
    int r = wf_accept(a, NULL, NULL, wf_deadline_in(GUARD));
    return U2P((uintptr_t)(intptr_t)r);
}

static void *connected_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    char buf[8];
    WT_CHECK_EQ(wf_write(b, "0", 1, wf_deadline_in(GUARD)), 1);
    WT_CHECK_EQ(wf_read(a, buf, 1, wf_deadline_in(GUARD)), 1); /* arms */
    WT_CHECK_EQ(wf_write(b, "xyz", 3, wf_deadline_in(GUARD)), 3);
    for (int64_t end = wf_deadline_in(GUARD);;) { /* kept, if multishot */
        int q = -1;
        WT_CHECK_EQ(ioctl(a, FIONREAD, &q), 0);
        if (q == 0 || !mshot())
            break;
        WT_CHECK(wf_now() < end);
        wf_sleep(WF_MSEC);
    }
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, plain_accept_einval, U2P(a)), 0);
    void *res;
    WT_CHECK_EQ(pthread_join(t, &res), 0);
    WT_CHECK_EQ((int)(intptr_t)P2U(res), WF_EINVAL);
    WT_CHECK_EQ(wf_write(b, "w", 1, wf_deadline_in(GUARD)), 1);
    size_t got = 0;
    while (got < 4) {
        ssize_t r = wf_read(a, buf + got, 4 - got, wf_deadline_in(GUARD));
        WT_CHECK(r > 0);
        got += (size_t)r;
    }
    WT_CHECK(memcmp(buf, "xyzw", 4) == 0);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(plain_accept_on_connected_socket)
{
    run_main(1, connected_main, NULL);
}

WT_MAIN()

/* ---- a listener with connections kept ------------------------------------------- */

/* A listener whose multishot was armed by a first accept (s0, of c0),
 * then KEPT clients that each sent their index, kept by the multishot
 * (accepted, not handed out) when it is on. */
struct kept_setup {
    int port, l, c0, s0, cs[KEPT];
};

static void kept_setup(struct kept_setup *k)
{
    k->l = listener(&k->port, 64);
    int base = nfds();
    k->c0 = connect_to(k->port);
    k->s0 = wf_accept(k->l, NULL, NULL, wf_deadline_in(GUARD)); /* arms */
    WT_CHECK(k->s0 >= 0);
    for (int i = 0; i < KEPT; i++) {
        k->cs[i] = connect_to(k->port);
        send_idx(k->cs[i], (uint32_t)i);
    }
    if (mshot())
        wait_nfds(base + 2 + 2 * KEPT);
}

static void kept_teardown(struct kept_setup *k)
{
    for (int i = 0; i < KEPT; i++)
        WT_CHECK_EQ(wf_close(k->cs[i]), 0);
    WT_CHECK_EQ(wf_close(k->s0), 0);
    WT_CHECK_EQ(wf_close(k->c0), 0);
    WT_CHECK_EQ(wf_close(k->l), 0);
}

/* ---- a wait for reading on a listener with connections kept --------------------- */

/* wf_fd_wait(l, WF_IO_READ) with connections kept by the multishot (the
 * kernel's backlog is empty): ready at once, and then every connection
 * is accepted. It waited for a connection the multishot would take. */
static void *fd_wait_main(void *arg)
{
    (void)arg;
    check_rings();
    struct kept_setup k;
    kept_setup(&k);
    WT_CHECK_EQ(wf_fd_wait(k.l, WF_IO_READ, wf_deadline_in(GUARD)), WF_IO_READ);
    char seen[KEPT] = {0};
    for (int i = 0; i < KEPT; i++) {
        WT_CHECK_EQ(wf_fd_wait(k.l, WF_IO_READ, wf_deadline_in(GUARD)),
                    WF_IO_READ);
        mark_seen(accept_checked(k.l, wf_deadline_in(GUARD)), seen, KEPT);
    }
    kept_teardown(&k);
    return NULL;
}

WT_CASE(fd_wait_sees_kept)
{
    run_main(2, fd_wait_main, NULL);
}

/* ---- a close racing the owner's look at a stop ------------------------------------ */

/* The bound reached marks the multishot for a stop; an accept then takes
 * one (below the bound again) while the listener is closed. The owner's
 * look at the stop (nothing to stop) and the close's mark (already
 * marked) must not leave the multishot armed on the closed listener: a
 * connect to its port is then refused, not accepted by the kernel for a
 * listener nobody has. */
#define OVER 260 /* past the bound of 256 */

static int connect_raw(int port)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WT_CHECK(c >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(c, (struct sockaddr *)&sa, sizeof sa);
    int e = rc == 0 ? 0 : errno;
    close(c);
    return e;
}

static void *stop_race_accept(void *arg)
{
    int l = (int)P2U(arg);
    int s = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD));
    if (s >= 0)
        WT_CHECK_EQ(wf_close(s), 0);
    return NULL;
}

static void *stop_race_main(void *arg)
{
    (void)arg;
    check_rings();
    int *cs = calloc(OVER, sizeof *cs);
    WT_CHECK(cs != NULL);
    for (int round = 0; round < 4; round++) {
        int port, l = listener(&port, 1024);
        int base = nfds();
        int c0 = connect_to(port);
        int s0 = wf_accept(l, NULL, NULL, wf_deadline_in(GUARD));
        WT_CHECK(s0 >= 0);
        for (int i = 0; i < OVER; i++)
            cs[i] = connect_to(port);
        if (mshot()) /* the bound reached: the stop is marked */
            wait_nfds_(base + 2 + OVER + 256, true);
        struct wf_fiber a = go(stop_race_accept, U2P(l));
        WT_CHECK_EQ(wf_close(l), 0);
        join(a);
        /* Refused once the listening socket is gone for good. */
        int64_t end = wf_deadline_in(GUARD);
        int e;
        while ((e = connect_raw(port)) != ECONNREFUSED) {
            if (wf_now() >= end)
                WT_FAIL("round %d: port %d still accepts (%d)", round, port, e);
            wf_sleep(WF_MSEC);
        }
        for (int i = 0; i < OVER; i++)
            WT_CHECK_EQ(wf_close(cs[i]), 0);
        WT_CHECK_EQ(wf_close(s0), 0);
        WT_CHECK_EQ(wf_close(c0), 0);
    }
    free(cs);
    return NULL;
}

WT_CASE(close_racing_a_stop)
{
    run_main(2, stop_race_main, NULL);
}

/* ---- a plain thread's accept, then fibers' ------------------------------------------ */

/* A plain thread's accept marks the listener readiness-only while
 * connections are kept; the fibers' accepts after it must still take
 * the kept ones first (they went to the kernel's empty backlog, and the
 * kept connections were closed unseen with the listener). */
static void *plain_then_main(void *arg)
{
    (void)arg;
    check_rings();
    struct kept_setup k;
    kept_setup(&k);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, plain_one, U2P(k.l)), 0);
    void *res;
    WT_CHECK_EQ(pthread_join(t, &res), 0); /* a kept one: no wait */
    char seen[KEPT] = {0};
    mark_seen((int)(intptr_t)P2U(res), seen, KEPT);
    for (int i = 1; i < KEPT; i++)
        mark_seen(accept_checked(k.l, wf_deadline_in(GUARD)), seen, KEPT);
    kept_teardown(&k);
    return NULL;
}

WT_CASE(plain_accept_then_fibers)
{
    run_main(2, plain_then_main, NULL);
}
