/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_rings.c - socket operations on per-worker io_uring
 * rings (WEFT_IO_RINGS=1, src/async/rings.c): the interleavings listed
 * in rings.c's top comment, each driven on purpose. ctest runs every
 * case with WEFT_IO_RINGS=1 on epoll (and io_uring where built), some
 * with WEFT_DEBUG_MIGRATE=1 too, and the ones that make sense both ways
 * with rings off (tests/async/CMakeLists.txt). A case that needs rings
 * skips (77) where they cannot be set up. Hangs are bounded by GUARD
 * deadlines; no timing is asserted.
 */
#include <weft.h>
#include <weft/io.h>

#include "wtest_rt.h"
#include "wt_backend.h"
#include "wt_tcp.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wt_rings.h"

/* ---- echo ---------------------------------------------------------------- */

#define MSG 512

static void *echo_side(void *arg)
{
    int fd = (int)P2U(arg);
    char buf[MSG];
    for (;;) {
        ssize_t n = wf_recv(fd, buf, sizeof buf, 0, wf_deadline_in(GUARD));
        WT_CHECK(n >= 0);
        if (n == 0)
            break;
        WT_CHECK_EQ(
            wf_write_all(fd, buf, (size_t)n, NULL, wf_deadline_in(GUARD)), n);
    }
    WT_CHECK_EQ(wf_close(fd), 0);
    return NULL;
}

static long rounds;

static void *client_side(void *arg)
{
    int fd = (int)P2U(arg);
    char out[MSG], in[MSG];
    for (long r = 0; r < rounds; r++) {
        size_t len = 1 + (size_t)(r * 7 + fd) % MSG;
        for (size_t i = 0; i < len; i++)
            out[i] = (char)(r + (long)i + fd);
        WT_CHECK_EQ(wf_send(fd, out, len, 0, wf_deadline_in(GUARD)),
                    (ssize_t)len);
        size_t got = 0;
        while (got < len) {
            ssize_t n = wf_read(fd, in + got, len - got, wf_deadline_in(GUARD));
            WT_CHECK(n > 0);
            got += (size_t)n;
        }
        WT_CHECK(memcmp(in, out, len) == 0);
    }
    WT_CHECK_EQ(wf_close(fd), 0);
    return NULL;
}

/* n connections, each served by a `server` fiber and driven by a
 * client_side fiber; returns once all have finished. */
static void echo_pairs(long n, wf_fiber_fn *server)
{
    struct wf_fiber *fs = calloc((size_t)n * 2, sizeof *fs);
    WT_CHECK(fs != NULL);
    for (long i = 0; i < n; i++) {
        int a, b;
        tcp_pair(&a, &b);
        fs[2 * i] = go(server, U2P(b));
        fs[2 * i + 1] = go(client_side, U2P(a));
    }
    for (long i = 0; i < 2 * n; i++)
        join(fs[i]);
    free(fs);
}

static void *echo_main(void *arg)
{
    check_rings();
    echo_pairs((long)P2U(arg), echo_side);
    return NULL;
}

WT_CASE(echo_1worker)
{
    rounds = scaled(200);
    run_main(1, echo_main, U2P(scaled(100)));
}

WT_CASE(echo_2workers)
{
    rounds = scaled(200);
    run_main(2, echo_main, U2P(scaled(200)));
}

/* ---- a deadline racing the completion ------------------------------------- */

/* The receiver takes whatever comes, with deadlines that end around when
 * the sender sends; every byte sent must be received (a result that came
 * as the deadline fired is returned, never dropped). */
static atomic_long sent_bytes;

static void *racing_sender(void *arg)
{
    int fd = (int)P2U(arg);
    unsigned seed = 7;
    for (long i = 0; i < rounds; i++) {
        wf_sleep((int64_t)(rand_r(&seed) % 200) * WF_USEC);
        char buf[64];
        size_t len = 1 + rand_r(&seed) % sizeof buf;
        memset(buf, 'a', len);
        WT_CHECK_EQ(wf_write_all(fd, buf, len, NULL, wf_deadline_in(GUARD)),
                    (ssize_t)len);
        atomic_fetch_add(&sent_bytes, (long)len);
    }
    WT_CHECK_EQ(wf_close(fd), 0);
    return NULL;
}

static void *deadline_race_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    struct wf_fiber s = go(racing_sender, U2P(b));
    unsigned seed = 11;
    long got = 0, timeouts = 0;
    char buf[256];
    for (;;) {
        int64_t d = wf_deadline_in((int64_t)(rand_r(&seed) % 200) * WF_USEC);
        ssize_t n = wf_recv(a, buf, sizeof buf, 0, d);
        if (n == WF_ETIMEDOUT) {
            timeouts++;
            continue;
        }
        WT_CHECK(n >= 0);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            WT_CHECK_EQ(buf[i], 'a');
        got += n;
    }
    join(s);
    WT_CHECK_EQ(got, atomic_load(&sent_bytes));
    WT_CHECK_EQ(wf_close(a), 0);
    (void)timeouts;
    return NULL;
}

WT_CASE(deadline_races_completion)
{
    rounds = scaled(3000);
    run_main(2, deadline_race_main, NULL);
}

/* ---- a buffer is the caller's again after a timed-out receive -------------- */

static void *canary_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    char buf[64];
    for (int i = 0; i < 20; i++) {
        memset(buf, 0, sizeof buf);
        WT_CHECK_EQ(wf_recv(a, buf, sizeof buf, 0, wf_deadline_in(WF_MSEC)),
                    WF_ETIMEDOUT);
        memset(buf, 'C', sizeof buf); /* the canary */
        WT_CHECK_EQ(wf_write(b, "data", 4, WF_FOREVER), 4);
        char other[8];
        size_t got = 0;
        while (got < 4) {
            ssize_t n = wf_read(a, other + got, 4 - got, wf_deadline_in(GUARD));
            WT_CHECK(n > 0);
            got += (size_t)n;
        }
        WT_CHECK(memcmp(other, "data", 4) == 0);
        wf_sleep(WF_MSEC);
        for (size_t k = 0; k < sizeof buf; k++)
            WT_CHECK_EQ(buf[k], 'C');
    }
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(canary_after_timeout)
{
    run_main(2, canary_main, NULL);
}

/* ---- an expired deadline still tries once ------------------------------------ */

/* As on the readiness path, a receive whose deadline has passed before it
 * is submitted still runs once: data already there is returned, not
 * WF_ETIMEDOUT. */
static void *expired_main(void *arg)
{
    (void)arg;
    check_rings();
    int sv[2];
    WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    WT_CHECK_EQ(wf_fd_register(sv[0]), 0);
    WT_CHECK_EQ(wf_fd_register(sv[1]), 0);
    for (int i = 0; i < 10; i++) {
        WT_CHECK_EQ(write(sv[1], "abc", 3), 3);
        char buf[8];
        WT_CHECK_EQ(wf_recv(sv[0], buf, sizeof buf, 0, wf_now()), 3);
        WT_CHECK(memcmp(buf, "abc", 3) == 0);
        WT_CHECK_EQ(wf_recv(sv[0], buf, sizeof buf, 0, wf_now()), WF_ETIMEDOUT);
    }
    WT_CHECK_EQ(wf_close(sv[0]), 0);
    WT_CHECK_EQ(wf_close(sv[1]), 0);
    return NULL;
}

WT_CASE(expired_deadline_tries_once)
{
    run_main(1, expired_main, NULL);
}

/* ---- cancellation of a fiber parked in a receive ---------------------------- */

static atomic_int parked;

static void *parked_recv(void *arg)
{
    int fd = (int)P2U(arg);
    char buf[16];
    atomic_fetch_add(&parked, 1);
    return U2P((uintptr_t)-wf_recv(fd, buf, sizeof buf, 0, WF_FOREVER));
}

/* A fiber parked in a receive on fd (its result: minus the return). */
static struct wf_fiber park_receiver(int fd)
{
    atomic_store(&parked, 0);
    struct wf_fiber f = go(parked_recv, U2P(fd));
    while (atomic_load(&parked) == 0)
        wf_yield();
    return f;
}

static void *cancel_main(void *arg)
{
    (void)arg;
    check_rings();
    for (int i = 0; i < 20; i++) {
        int a, b;
        tcp_pair(&a, &b);
        struct wf_fiber f = park_receiver(a);
        wf_sleep((i % 4) * WF_MSEC);
        WT_CHECK_EQ(wf_cancel(f), 0);
        WT_CHECK_EQ((int)P2U(join(f)), ECANCELED);
        /* The cancelled receive took nothing: the next one gets it all. */
        WT_CHECK_EQ(wf_write(b, "hello", 5, WF_FOREVER), 5);
        char buf[8];
        size_t got = 0;
        while (got < 5) {
            ssize_t n =
                wf_recv(a, buf + got, 5 - got, 0, wf_deadline_in(GUARD));
            WT_CHECK(n > 0);
            got += (size_t)n;
        }
        WT_CHECK(memcmp(buf, "hello", 5) == 0);
        WT_CHECK_EQ(wf_close(a), 0);
        WT_CHECK_EQ(wf_close(b), 0);
    }
    return NULL;
}

WT_CASE(cancel_parked_recv)
{
    run_main(2, cancel_main, NULL);
}

/* A cancel racing data: whatever the receive returned (data or
 * WF_ECANCELED), no byte is lost. */
static void *counting_recv(void *arg)
{
    int fd = (int)P2U(arg);
    char buf[16];
    long got = 0;
    ssize_t n = wf_recv(fd, buf, sizeof buf, 0, WF_FOREVER);
    if (n > 0)
        got = n;
    else
        WT_CHECK_EQ(n, WF_ECANCELED);
    return U2P((uintptr_t)got);
}

static void *cancel_race_main(void *arg)
{
    (void)arg;
    check_rings();
    for (long i = 0; i < rounds; i++) {
        int a, b;
        tcp_pair(&a, &b);
        struct wf_fiber f = go(counting_recv, U2P(a));
        wf_yield();
        WT_CHECK_EQ(wf_write(b, "xyz", 3, WF_FOREVER), 3);
        wf_cancel(f);
        long got = (long)P2U(join(f));
        char buf[8];
        while (got < 3) {
            ssize_t n = wf_recv(a, buf, sizeof buf, 0, wf_deadline_in(GUARD));
            WT_CHECK(n > 0);
            got += n;
        }
        WT_CHECK_EQ(got, 3);
        WT_CHECK_EQ(wf_close(a), 0);
        WT_CHECK_EQ(wf_close(b), 0);
    }
    return NULL;
}

WT_CASE(cancel_races_data)
{
    rounds = scaled(500);
    run_main(2, cancel_race_main, NULL);
}

/* ---- accept: timed out, cancelled, then a connection --------------------------- */

static void *parked_accept(void *arg)
{
    atomic_fetch_add(&parked, 1);
    return U2P((uintptr_t)-wf_accept((int)P2U(arg), NULL, NULL, WF_FOREVER));
}

static void *accept_main(void *arg)
{
    (void)arg;
    check_rings();
    int l = wf_tcp_listen("127.0.0.1", 0, 16);
    WT_CHECK(l >= 0);
    WT_CHECK_EQ(wf_accept(l, NULL, NULL, wf_deadline_in(WF_MSEC)),
                WF_ETIMEDOUT);
    atomic_store(&parked, 0);
    struct wf_fiber f = go(parked_accept, U2P(l));
    while (atomic_load(&parked) == 0)
        wf_yield();
    wf_sleep(WF_MSEC);
    WT_CHECK_EQ(wf_cancel(f), 0);
    WT_CHECK_EQ((int)P2U(join(f)), ECANCELED);
    /* Nothing was taken by the cancelled accept. */
    int c = wf_tcp_connect("127.0.0.1", wf_local_port(l), WF_FOREVER);
    WT_CHECK(c >= 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int s = wf_accept(l, (struct sockaddr *)&ss, &sl, wf_deadline_in(GUARD));
    WT_CHECK(s >= 0);
    WT_CHECK(sl > 0 && sl <= sizeof ss);
    WT_CHECK_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    WT_CHECK_EQ(fcntl(s, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    WT_CHECK_EQ(wf_write(c, "a", 1, WF_FOREVER), 1);
    char ch;
    WT_CHECK_EQ(wf_read(s, &ch, 1, wf_deadline_in(GUARD)), 1);
    WT_CHECK_EQ(wf_close(s), 0);
    WT_CHECK_EQ(wf_close(c), 0);
    WT_CHECK_EQ(wf_close(l), 0);
    return NULL;
}

WT_CASE(accept_timeout_cancel)
{
    run_main(2, accept_main, NULL);
}

/* ---- wf_close of a descriptor another fiber receives on --------------------- */

static void *close_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    struct wf_fiber f = park_receiver(a);
    wf_sleep(2 * WF_MSEC);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ((int)P2U(join(f)), EBADF);
    /* The socket is really closed: the peer sees the end of stream. */
    char c;
    WT_CHECK_EQ(wf_recv(b, &c, 1, 0, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(close_while_parked)
{
    run_main(2, close_main, NULL);
}

/* wf_close, then the descriptor's number reused (another socket, here
 * by F_DUPFD), before the owner's round submitted a receive queued on the
 * closed descriptor: the receive must end with WF_EBADF and must not run
 * on the new socket (it would take that socket's data). One worker, so
 * the close and the reuse come before the round that submits. Another
 * thread may take the freed number first (close_and_reuse, wt_rings.h);
 * such a round checks only the close, and the case goes on until five
 * rounds did reuse the number. */
static void *reuse_main(void *arg)
{
    (void)arg;
    check_rings();
    int reused = 0;
    for (int i = 0; reused < 5; i++) {
        WT_CHECK(i < 100);
        int a, b;
        tcp_pair(&a, &b);
        struct wf_fiber f = park_receiver(a);
        int sv[2];
        other_pair(sv);
        int n = close_and_reuse(a, sv[0]);
        WT_CHECK_EQ((int)P2U(join(f)), EBADF);
        if (n == a) {
            check_other(n); /* nothing taken */
            reused++;
        }
        WT_CHECK_EQ(close(n), 0);
        WT_CHECK_EQ(close(sv[0]), 0);
        WT_CHECK_EQ(close(sv[1]), 0);
        WT_CHECK_EQ(wf_close(b), 0);
    }
    return NULL;
}

WT_CASE(close_then_reuse_before_submit)
{
    run_main(1, reuse_main, NULL);
}

/* ---- migration between submission and completion ---------------------------- */

/* Many fibers park in receives on one worker's ring and are woken on
 * others (WEFT_DEBUG_MIGRATE moves every wake-up); each yields between
 * its calls so that it also submits from several workers' rings. */
static void *hopping_echo(void *arg)
{
    int fd = (int)P2U(arg);
    char buf[MSG];
    for (;;) {
        wf_yield();
        ssize_t n = wf_read(fd, buf, sizeof buf, wf_deadline_in(GUARD));
        WT_CHECK(n >= 0);
        if (n == 0)
            break;
        wf_yield();
        WT_CHECK_EQ(
            wf_write_all(fd, buf, (size_t)n, NULL, wf_deadline_in(GUARD)), n);
    }
    WT_CHECK_EQ(wf_close(fd), 0);
    return NULL;
}

static void *migrate_main(void *arg)
{
    (void)arg;
    check_rings();
    echo_pairs(16, hopping_echo);
    return NULL;
}

WT_CASE(migrate_between_submit_and_completion)
{
    rounds = scaled(100);
    run_main(4, migrate_main, NULL);
}

/* A receive that starts with the fiber's cooperative budget used up
 * yields first (and WEFT_DEBUG_MIGRATE moves every yield to another
 * worker): the operation must go on the ring of the worker the fiber
 * runs on after the yield, never on the one it started on (only a
 * ring's owner touches its submission queue). The budget is spent by
 * reads of a pipe that has data (the readiness path, no park). */
static void *budget_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    int p[2];
    WT_CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    WT_CHECK_EQ(wf_fd_register(p[0]), 0);
    WT_CHECK_EQ(wf_fd_register(p[1]), 0);
    static char junk[4096];
    WT_CHECK_EQ(write(p[1], junk, sizeof junk), (ssize_t)sizeof junk);
    char c;
    WT_CHECK_EQ(wf_read(p[0], &c, 1, WF_FOREVER), 1); /* seen: no socket */
    for (int i = 0; i < 20; i++) {
        /* A full budget (a yield refills it); 127 calls that do not
         * park leave one unit, which the receive spends: it yields
         * before it queues, with nothing to read yet (whether or not a
         * multishot keeps data, so in every variant). */
        wf_yield();
        for (int k = 0; k < 127; k++)
            WT_CHECK_EQ(wf_read(p[0], &c, 1, WF_FOREVER), 1);
        WT_CHECK_EQ(wf_recv(a, &c, 1, 0, wf_deadline_in(WF_MSEC)),
                    WF_ETIMEDOUT);
        WT_CHECK_EQ(write(p[1], junk, 127), 127);
        WT_CHECK_EQ(wf_send(b, "x", 1, 0, wf_deadline_in(GUARD)), 1);
        WT_CHECK_EQ(wf_recv(a, &c, 1, 0, wf_deadline_in(GUARD)), 1);
    }
    WT_CHECK_EQ(wf_close(p[0]), 0);
    WT_CHECK_EQ(wf_close(p[1]), 0);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(budget_yield_before_queueing)
{
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(2, budget_main, NULL);
}

/* ---- the peer closes or resets ------------------------------------------------ */

static void *peer_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    struct wf_fiber f = park_receiver(a);
    wf_sleep(WF_MSEC);
    WT_CHECK_EQ(wf_close(b), 0); /* end of stream: 0 */
    WT_CHECK_EQ((int)P2U(join(f)), 0);
    WT_CHECK_EQ(wf_close(a), 0);

    tcp_pair(&a, &b);
    f = park_receiver(a);
    wf_sleep(WF_MSEC);
    struct linger lg = {1, 0};
    WT_CHECK_EQ(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    WT_CHECK_EQ(wf_close(b), 0); /* RST */
    WT_CHECK_EQ((int)P2U(join(f)), ECONNRESET);
    ssize_t w = wf_send(a, "x", 1, 0, WF_FOREVER);
    WT_CHECK(w == WF_EPIPE || w == WF_ECONNRESET);
    WT_CHECK_EQ(wf_close(a), 0);
    return NULL;
}

WT_CASE(peer_close_reset)
{
    run_main(2, peer_main, NULL);
}

/* ---- a plain thread's I/O beside fibers' ---------------------------------------- */

static atomic_int echoes_done;

static void *thread_echo(void *arg)
{
    int fd = (int)P2U(arg);
    char buf[MSG];
    for (;;) {
        ssize_t n = wf_read(fd, buf, sizeof buf, wf_deadline_in(GUARD));
        WT_CHECK(n >= 0);
        if (n == 0)
            break;
        WT_CHECK_EQ(
            wf_write_all(fd, buf, (size_t)n, NULL, wf_deadline_in(GUARD)), n);
    }
    atomic_fetch_add(&echoes_done, 1);
    return NULL;
}

static void *mixed_main(void *arg)
{
    (void)arg;
    check_rings();
    int tfd[2];
    pthread_t th[2];
    struct wf_fiber fs[2];
    for (int i = 0; i < 2; i++) {
        int a, b;
        tcp_pair(&a, &b);
        tfd[i] = b;
        WT_CHECK_EQ(pthread_create(&th[i], NULL, thread_echo, U2P(b)), 0);
        fs[i] = go(client_side, U2P(a));
    }
    echo_pairs(8, echo_side);
    for (int i = 0; i < 2; i++)
        join(fs[i]);
    /* The threads see the end of their streams, then are joined; not
     * before: a pthread_join would block this worker, and with multishot
     * receives a client's close reaches the kernel (the multishot holds
     * the socket) only once its ring's owner submits the cancel, which
     * may be this worker. */
    int64_t end = wf_deadline_in(GUARD);
    while (atomic_load(&echoes_done) < 2) {
        WT_CHECK(wf_now() < end);
        wf_sleep(WF_MSEC);
    }
    for (int i = 0; i < 2; i++) {
        WT_CHECK_EQ(pthread_join(th[i], NULL), 0);
        WT_CHECK_EQ(wf_close(tfd[i]), 0);
    }
    return NULL;
}

WT_CASE(plain_thread_mixed)
{
    rounds = scaled(200);
    run_main(2, mixed_main, NULL);
}

/* ---- vectored calls (recvmsg, sendmsg on the ring) --------------------------- */

static void *vectored_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    struct iovec out[2] = {{"hello ", 6}, {"world", 5}};
    WT_CHECK_EQ(wf_writev(a, out, 2, wf_deadline_in(GUARD)), 11);
    char x[4], y[16];
    struct iovec in[2] = {{x, sizeof x}, {y, sizeof y}};
    size_t got = 0;
    char all[11];
    while (got < 11) {
        ssize_t n = wf_readv(b, in, 2, wf_deadline_in(GUARD));
        WT_CHECK(n > 0);
        for (ssize_t i = 0; i < n; i++)
            all[got + (size_t)i] = i < 4 ? x[i] : y[i - 4];
        got += (size_t)n;
    }
    WT_CHECK(memcmp(all, "hello world", 11) == 0);
    WT_CHECK_EQ(wf_readv(b, in, 2, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_readv(b, in, 2, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(vectored)
{
    run_main(2, vectored_main, NULL);
}

/* ---- a pipe: not a socket, the readiness path -------------------------------- */

static void *pipe_main(void *arg)
{
    (void)arg;
    check_rings();
    int p[2];
    WT_CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    WT_CHECK_EQ(wf_fd_register(p[0]), 0);
    WT_CHECK_EQ(wf_fd_register(p[1]), 0);
    for (int i = 0; i < 3; i++) {
        WT_CHECK_EQ(wf_write(p[1], "abc", 3, WF_FOREVER), 3);
        char buf[4];
        WT_CHECK_EQ(wf_read(p[0], buf, sizeof buf, wf_deadline_in(GUARD)), 3);
        WT_CHECK(memcmp(buf, "abc", 3) == 0);
    }
    char c;
    WT_CHECK_EQ(wf_read(p[0], &c, 1, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_close(p[0]), 0);
    WT_CHECK_EQ(wf_close(p[1]), 0);
    return NULL;
}

WT_CASE(pipe_readiness)
{
    run_main(2, pipe_main, NULL);
}

/* ---- shutdown while receives are parked -------------------------------------- */

/* Start a runtime of 2 workers, park n fibers in receives on unix
 * sockets (from the main thread), shut it down, close the sockets. */
static void shutdown_with_receives(int n)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    check_rings();
    int *fds = calloc(2 * (size_t)n, sizeof *fds);
    WT_CHECK(fds != NULL);
    atomic_store(&parked, 0);
    for (int i = 0; i < n; i++) {
        int *sv = &fds[2 * i];
        WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        WT_CHECK_EQ(wf_fd_register(sv[0]), 0);
        WT_CHECK_EQ(wf_fd_register(sv[1]), 0);
        struct wf_fiber f;
        WT_CHECK_EQ(wf_go(&f, parked_recv, U2P(sv[0])), 0);
        WT_CHECK_EQ(wf_detach(f), 0);
    }
    while (atomic_load(&parked) < n) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    WT_CHECK_EQ(wf_shutdown(), 0);
    for (int i = 0; i < 2 * n; i++)
        WT_CHECK_EQ(close(fds[i]), 0);
    free(fds);
}

WT_CASE(shutdown_with_parked_receives)
{
    shutdown_with_receives(32);
}

/* ---- a runtime started again after a shutdown -------------------------------- */

/* Each run makes its rings anew (the last run's are freed after its
 * workers are joined), and a shutdown with receives in flight leaves
 * nothing for the next run to trip on. */
WT_CASE(restart_after_shutdown)
{
    rounds = scaled(20);
    for (int run = 0; run < 3; run++) {
        shutdown_with_receives(4);
        run_main(2, echo_main, U2P(4));
    }
}

WT_MAIN()
