/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_rings_mshot.c - multishot receive with provided
 * buffers on the per-worker io_uring rings (WEFT_IO_RINGS=1
 * WEFT_IO_MSHOT=1, src/async/rings.c "Multishot receive"): data kept
 * before and between reads, across many buffers, the end of the stream
 * and a reset after kept data, a close with data kept, a reader whose
 * deadline or cancellation comes before the data, peek and waitall, and
 * a buffer ring much smaller than the data (WEFT_IO_MSHOT_BUFS=2), plain
 * threads reading sockets that fibers read, two fibers on one socket, a
 * wait for reading overtaken by another fiber's arming, buffers all kept
 * for another socket, a stop with data kept and readers parked, and a
 * peek or waitall receive waiting in the kernel while another fiber's
 * read would arm (parked first, or racing it). ctest
 * runs every case on epoll and io_uring, with WEFT_DEBUG_MIGRATE=1, with
 * the tiny buffer ring, and with multishot off (the same results through
 * single-shot receives). No timing is asserted; GUARD bounds hangs.
 */
#include <weft.h>
#include <weft/io.h>

#include "wtest_rt.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wt_rings.h"

/* With multishot, data that reached fd's socket is taken into the ring's
 * buffers once fd's multishot is armed, without any read: wait until
 * the socket's queue is empty (proof that the data is kept). Without
 * multishot nothing takes it; return at once. */
static void wait_kept(int fd)
{
    if (!mshot())
        return;
    int64_t end = wf_deadline_in(GUARD);
    for (;;) {
        int q = -1;
        WT_CHECK_EQ(ioctl(fd, FIONREAD, &q), 0);
        if (q == 0)
            return;
        WT_CHECK(wf_now() < end);
        wf_sleep(WF_MSEC);
    }
}

static void send_str(int fd, const char *s)
{
    ssize_t n = (ssize_t)strlen(s);
    WT_CHECK_EQ(wf_write_all(fd, s, (size_t)n, NULL, wf_deadline_in(GUARD)), n);
}

/* Read exactly n bytes (several reads) and compare with s. */
static void expect(int fd, const char *s)
{
    size_t n = strlen(s), got = 0;
    char buf[256];
    WT_CHECK(n < sizeof buf);
    while (got < n) {
        ssize_t r = wf_read(fd, buf + got, n - got, wf_deadline_in(GUARD));
        WT_CHECK(r > 0);
        got += (size_t)r;
    }
    WT_CHECK(memcmp(buf, s, n) == 0);
}

/* The first read arms the multishot; a one-byte exchange does it. */
static void arm(int a, int b)
{
    send_str(b, "!");
    expect(a, "!");
}

/* ---- data before the first read, between reads ------------------------------ */

static void *before_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    send_str(b, "abc");
    send_str(b, "defgh");
    expect(a, "abcdefgh");
    send_str(b, "ij");
    wait_kept(a);
    send_str(b, "klm");
    wait_kept(a);
    expect(a, "ijk");
    expect(a, "lm");
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(before_and_between_reads)
{
    run_main(2, before_main, NULL);
}

/* ---- one message larger than a buffer, many buffers, vectored reads ------ */

#define BIG (1024 * 1024 + 333)

static unsigned char pat(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 9));
}

static void *big_sender(void *arg)
{
    int fd = (int)P2U(arg);
    unsigned char *p = malloc(BIG);
    WT_CHECK(p != NULL);
    for (size_t i = 0; i < BIG; i++)
        p[i] = pat(i);
    WT_CHECK_EQ(wf_write_all(fd, p, BIG, NULL, wf_deadline_in(GUARD)),
                (ssize_t)BIG);
    free(p);
    WT_CHECK_EQ(wf_sock_shutdown(fd, SHUT_WR), 0);
    return NULL;
}

/* Read fd to its end, in pieces of varying sizes (and through readv),
 * checking the pattern; returns the count. */
static size_t read_pattern(int fd)
{
    static const size_t sizes[] = {1, 7000, 4096, 100, 9000, 65536, 3};
    unsigned char buf[65536 + 16];
    size_t got = 0;
    for (unsigned k = 0;; k++) {
        size_t want = sizes[k % 7];
        ssize_t r;
        if (k % 3 == 2) {
            struct iovec v[3] = {{buf, want / 3},
                                 {buf + want / 3, 1},
                                 {buf + want / 3 + 1, want - want / 3 - 1}};
            r = wf_readv(fd, v, 3, wf_deadline_in(GUARD));
        } else {
            r = wf_read(fd, buf, want, wf_deadline_in(GUARD));
        }
        WT_CHECK(r >= 0);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != pat(got + (size_t)i))
                WT_CHECK(!"pattern broken");
        got += (size_t)r;
    }
    return got;
}

static void *big_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    arm(a, b);
    struct wf_fiber f = go(big_sender, U2P(b));
    WT_CHECK_EQ(read_pattern(a), (size_t)BIG);
    join(f);
    /* The end stays. */
    char c;
    WT_CHECK_EQ(wf_read(a, &c, 1, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(larger_than_buffers)
{
    run_main(2, big_main, NULL);
}

/* ---- the end of the stream, a reset, after kept data ------------------------ */

static void *eof_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    arm(a, b);
    send_str(b, "tail");
    WT_CHECK_EQ(wf_close(b), 0);
    wait_kept(a);
    expect(a, "ta");
    expect(a, "il");
    char c;
    WT_CHECK_EQ(wf_read(a, &c, 1, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_read(a, &c, 1, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_close(a), 0);
    return NULL;
}

WT_CASE(eof_after_kept)
{
    run_main(2, eof_main, NULL);
}

static void *reset_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    arm(a, b);
    send_str(b, "data");
    wait_kept(a);
    struct linger lg = {1, 0}; /* close sends a reset */
    WT_CHECK_EQ(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    char buf[16];
    ssize_t r = wf_read(a, buf, sizeof buf, wf_deadline_in(GUARD));
    if (mshot()) { /* kept before the reset: delivered first */
        WT_CHECK_EQ(r, 4);
        WT_CHECK(memcmp(buf, "data", 4) == 0);
        r = wf_read(a, buf, sizeof buf, wf_deadline_in(GUARD));
        WT_CHECK_EQ(r, WF_ECONNRESET);
    } else { /* the kernel may drop unread data at a reset */
        WT_CHECK(r == 4 || r == WF_ECONNRESET);
    }
    /* After the error: the end, or the error again; never data. */
    r = wf_read(a, buf, sizeof buf, wf_deadline_in(GUARD));
    WT_CHECK(r == 0 || r == WF_ECONNRESET);
    WT_CHECK_EQ(wf_close(a), 0);
    return NULL;
}

WT_CASE(reset_after_kept)
{
    run_main(2, reset_main, NULL);
}

/* ---- close with data kept, and the number reused ----------------------- */

static void *parked_read(void *arg)
{
    int fd = (int)P2U(arg);
    char c;
    ssize_t r = wf_read(fd, &c, 1, wf_deadline_in(GUARD));
    return U2P((uintptr_t)(intptr_t)r);
}

/* The byte a parked read gets (or its error). */
static void *parked_byte(void *arg)
{
    int fd = (int)P2U(arg);
    unsigned char c = 0;
    ssize_t r = wf_read(fd, &c, 1, wf_deadline_in(GUARD));
    return U2P((uintptr_t)(intptr_t)(r == 1 ? c : r));
}

static void *close_main(void *arg)
{
    (void)arg;
    check_rings();
    int reused = 0;
    for (int round = 0; round < 20; round++) {
        int a, b;
        tcp_pair(&a, &b);
        arm(a, b);
        send_str(b, "stale data");
        wait_kept(a);
        /* Kept data and an armed multishot, a completion maybe on its
         * way: close it under them (ASan: nothing leaks). */
        send_str(b, "more");
        int c0, d;
        tcp_pair(&c0, &d); /* before the close: its numbers are not a's */
        /* A new descriptor with a's number sees none of the old data. */
        int c = close_and_reuse(a, c0);
        reused += c == a;
        WT_CHECK_EQ(wf_close(c0), 0);
        WT_CHECK_EQ(wf_fd_register(c), 0);
        struct wf_fiber f = go(parked_byte, U2P(c));
        wf_yield();
        send_str(d, "N");
        WT_CHECK_EQ((intptr_t)P2U(join(f)), 'N');
        WT_CHECK_EQ(wf_close(b), 0);
        WT_CHECK_EQ(wf_close(c), 0);
        WT_CHECK_EQ(wf_close(d), 0);
    }
    WT_CHECK(reused > 0);
    return NULL;
}

WT_CASE(close_while_kept)
{
    run_main(2, close_main, NULL);
}

/* wf_close, then the number reused (here by dup2), before the owner's
 * round submitted the arming SQE of the first read's multishot: the
 * read must end with WF_EBADF, and the multishot must never be armed on
 * the new socket (it would take that socket's data into the old,
 * closed state, where it is dropped). One worker, so the close and the
 * reuse come before the round that submits (as test_rings'
 * close_then_reuse_before_submit). Then the new descriptor, registered,
 * reads its own data through a multishot of its own. */
static atomic_int parked;

static void *flagged_read(void *arg)
{
    atomic_store(&parked, 1);
    return parked_read(arg);
}

static void *reuse_main(void *arg)
{
    (void)arg;
    check_rings();
    for (int i = 0, done = 0; done < 20; i++) {
        WT_CHECK(i < 200);
        int a, b;
        tcp_pair(&a, &b);
        atomic_store(&parked, 0);
        struct wf_fiber f = go(flagged_read, U2P(a));
        while (atomic_load(&parked) == 0)
            wf_yield();
        int sv[2];
        other_pair(sv);
        int d = close_and_reuse(a, sv[0]); /* a, unless taken */
        WT_CHECK_EQ((intptr_t)P2U(join(f)), WF_EBADF);
        if (d != a) { /* taken: this round shows nothing, again */
            WT_CHECK_EQ(close(d), 0);
            WT_CHECK_EQ(close(sv[0]), 0);
            WT_CHECK_EQ(close(sv[1]), 0);
            WT_CHECK_EQ(wf_close(b), 0);
            continue;
        }
        done++;
        check_other(a); /* nothing taken */
        WT_CHECK_EQ(wf_fd_register(a), 0);
        WT_CHECK_EQ(write(sv[1], "again", 5), 5);
        expect(a, "again");
        WT_CHECK_EQ(wf_close(a), 0);
        WT_CHECK_EQ(close(sv[0]), 0);
        WT_CHECK_EQ(close(sv[1]), 0);
        WT_CHECK_EQ(wf_close(b), 0);
    }
    return NULL;
}

WT_CASE(mshot_close_then_reuse_before_submit)
{
    run_main(1, reuse_main, NULL);
}

/* ---- a waiting reader's deadline or cancellation, then data ---------------- */

static void *cancel_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    arm(a, b);
    char buf[16];
    WT_CHECK_EQ(wf_read(a, buf, sizeof buf, wf_deadline_in(10 * WF_MSEC)),
                WF_ETIMEDOUT);
    send_str(b, "one");
    wait_kept(a);
    expect(a, "one");
    for (int i = 0; i < 20; i++) {
        struct wf_fiber f = go(parked_read, U2P(a));
        if (i % 2)
            wf_yield();
        else
            wf_sleep(WF_MSEC);
        if (i % 4 < 2)
            send_str(b, "x"); /* races the cancel */
        wf_cancel(f);
        intptr_t r = (intptr_t)P2U(join(f));
        WT_CHECK(r == 1 || r == WF_ECANCELED);
        if (i % 4 < 2 && r != 1)
            expect(a, "x"); /* not lost */
    }
    send_str(b, "two");
    expect(a, "two");
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(cancel_then_read)
{
    run_main(2, cancel_main, NULL);
}

/* ---- peek and waitall ------------------------------------------------------- */

static void *late_sender(void *arg)
{
    int fd = (int)P2U(arg);
    wf_sleep(2 * WF_MSEC);
    send_str(fd, "def");
    return NULL;
}

static void *flags_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    arm(a, b);
    send_str(b, "hello world");
    wait_kept(a);
    char buf[16];
    WT_CHECK_EQ(wf_recv(a, buf, 5, MSG_PEEK, wf_deadline_in(GUARD)), 5);
    WT_CHECK(memcmp(buf, "hello", 5) == 0);
    expect(a, "hello world");
    send_str(b, "abc");
    struct wf_fiber f = go(late_sender, U2P(b));
    WT_CHECK_EQ(wf_recv(a, buf, 6, MSG_WAITALL, wf_deadline_in(GUARD)), 6);
    WT_CHECK(memcmp(buf, "abcdef", 6) == 0);
    join(f);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(peek_waitall)
{
    run_main(2, flags_main, NULL);
}

/* ---- many connections' data before any read (exhaustion with a tiny ring) -- */

#define CONNS 64

static void *pattern_reader(void *arg)
{
    return U2P(read_pattern((int)P2U(arg)));
}

static void *exhaust_main(void *arg)
{
    (void)arg;
    check_rings();
    int as[CONNS], bs[CONNS];
    struct wf_fiber rs[CONNS], ss[CONNS];
    for (int i = 0; i < CONNS; i++) {
        tcp_pair(&as[i], &bs[i]);
        arm(as[i], bs[i]);
    }
    for (int i = 0; i < CONNS; i++)
        ss[i] = go(big_sender, U2P(bs[i]));
    wf_sleep(5 * WF_MSEC); /* let the multishots drain the buffer ring */
    for (int i = 0; i < CONNS; i++)
        rs[i] = go(pattern_reader, U2P(as[i]));
    for (int i = 0; i < CONNS; i++) {
        WT_CHECK_EQ((size_t)P2U(join(rs[i])), (size_t)BIG);
        join(ss[i]);
        WT_CHECK_EQ(wf_close(as[i]), 0);
        WT_CHECK_EQ(wf_close(bs[i]), 0);
    }
    return NULL;
}

WT_CASE(many_connections_exhaust)
{
    run_main(2, exhaust_main, NULL);
}

/* ---- wf_fd_wait for reading sees kept data ---------------------------------- */

static void *fd_waiter(void *arg)
{
    int fd = (int)P2U(arg);
    return U2P(
        (uintptr_t)(intptr_t)wf_fd_wait(fd, WF_IO_READ, wf_deadline_in(GUARD)));
}

static void *fd_wait_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    arm(a, b);
    send_str(b, "kept");
    wait_kept(a); /* the socket is empty: only the kept data says ready */
    WT_CHECK_EQ(wf_fd_wait(a, WF_IO_READ, wf_deadline_in(GUARD)), WF_IO_READ);
    expect(a, "kept");
    /* Nothing kept: the wait ends when data comes. */
    struct wf_fiber f = go(fd_waiter, U2P(a));
    wf_sleep(2 * WF_MSEC);
    send_str(b, "later");
    WT_CHECK_EQ((intptr_t)P2U(join(f)), WF_IO_READ);
    expect(a, "later");
    /* The end is ready too. */
    WT_CHECK_EQ(wf_close(b), 0);
    WT_CHECK_EQ(wf_fd_wait(a, WF_IO_READ, wf_deadline_in(GUARD)), WF_IO_READ);
    char c;
    WT_CHECK_EQ(wf_read(a, &c, 1, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_close(a), 0);
    return NULL;
}

WT_CASE(fd_wait_sees_kept)
{
    run_main(2, fd_wait_main, NULL);
}

/* ---- descriptors that are not sockets ------------------------------------ */

/* A file or a pipe read by a fiber: the multishot ends with ENOTSOCK and
 * the read takes the readiness path, wherever the fiber woke. */
static void *notsock_main(void *arg)
{
    (void)arg;
    check_rings();
    char path[] = "/tmp/weft_mshot_XXXXXX";
    int tfd = mkstemp(path);
    WT_CHECK(tfd >= 0);
    WT_CHECK_EQ(write(tfd, "file data", 9), 9);
    close(tfd);
    for (int i = 0; i < 50; i++) {
        int fd = wf_file_open(path, O_RDONLY, 0);
        WT_CHECK(fd >= 0);
        expect(fd, "file data");
        char c;
        WT_CHECK_EQ(wf_read(fd, &c, 1, wf_deadline_in(GUARD)), 0);
        WT_CHECK_EQ(wf_close(fd), 0);
        int p[2];
        WT_CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
        WT_CHECK_EQ(wf_fd_register(p[0]), 0);
        WT_CHECK_EQ(write(p[1], "pipe", 4), 4);
        expect(p[0], "pipe");
        WT_CHECK_EQ(close(p[1]), 0);
        WT_CHECK_EQ(wf_read(p[0], &c, 1, wf_deadline_in(GUARD)), 0);
        WT_CHECK_EQ(wf_close(p[0]), 0);
    }
    unlink(path);
    return NULL;
}

WT_CASE(not_a_socket)
{
    run_main(2, notsock_main, NULL);
}

/* ---- plain threads read a socket fibers read ------------------------------ */

/* A plain thread's read of a socket that has kept data or an armed
 * multishot: the kept data first, in order, and a plain thread that
 * waits gets the data that comes (the multishot stops for the socket;
 * fibers and plain threads then read the socket itself). */
struct plain {
    int fd, step;
    atomic_int go, done;
    char got[64];
    ssize_t res;
};

static void plain_wait_for(atomic_int *word, int v)
{
    while (atomic_load(word) < v)
        sched_yield(); /* the fiber's step comes */
}

static void *plain_reader(void *arg)
{
    struct plain *p = arg;
    int64_t dl = wf_deadline_in(GUARD);
    /* 1: kept data, wf_read. */
    plain_wait_for(&p->go, 1);
    p->res = wf_read(p->fd, p->got, 3, dl);
    atomic_store(&p->done, 1);
    /* 2: a wait for reading, then wf_readv, the data sent while it waits
     * (or before: the test does not know which). */
    plain_wait_for(&p->go, 2);
    if (wf_fd_wait(p->fd, WF_IO_READ, dl) != WF_IO_READ) {
        p->res = -1000;
    } else {
        struct iovec v[2] = {{p->got, 2}, {p->got + 2, 2}};
        p->res = wf_readv(p->fd, v, 2, dl);
    }
    atomic_store(&p->done, 2);
    /* 3: wf_recv blocked before the data comes. */
    plain_wait_for(&p->go, 3);
    atomic_store(&p->done, 3); /* about to read */
    p->res = wf_recv(p->fd, p->got, 2, 0, dl);
    atomic_store(&p->done, 4);
    return NULL;
}

/* The fiber's side: wait (a handshake, bounded by GUARD) until the plain
 * thread has done step v. */
static void fiber_wait_for(atomic_int *word, int v)
{
    int64_t end = wf_deadline_in(GUARD);
    while (atomic_load(word) < v) {
        WT_CHECK(wf_now() < end);
        wf_sleep(WF_MSEC);
    }
}

static void *plain_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    arm(a, b); /* a fiber's read: the multishot is armed */
    struct plain p = {.fd = a};
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, plain_reader, &p), 0);
    send_str(b, "abc");
    wait_kept(a);
    atomic_store(&p.go, 1);
    fiber_wait_for(&p.done, 1);
    WT_CHECK_EQ(p.res, 3);
    WT_CHECK(memcmp(p.got, "abc", 3) == 0);
    atomic_store(&p.go, 2);
    send_str(b, "defg");
    fiber_wait_for(&p.done, 2);
    WT_CHECK_EQ(p.res, 4);
    WT_CHECK(memcmp(p.got, "defg", 4) == 0);
    atomic_store(&p.go, 3);
    fiber_wait_for(&p.done, 3);
    send_str(b, "hi");
    fiber_wait_for(&p.done, 4);
    WT_CHECK_EQ(p.res, 2);
    WT_CHECK(memcmp(p.got, "hi", 2) == 0);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    /* Fibers read on, in order. */
    send_str(b, "jkl");
    send_str(b, "mno");
    expect(a, "jklmno");
    WT_CHECK_EQ(wf_close(b), 0);
    char c;
    WT_CHECK_EQ(wf_read(a, &c, 1, wf_deadline_in(GUARD)), 0);
    WT_CHECK_EQ(wf_close(a), 0);
    return NULL;
}

WT_CASE(plain_thread_reads)
{
    run_main(2, plain_main, NULL);
}

/* A plain thread waits for reading, then reads, a socket with no
 * multishot state yet, and a fiber's read of the socket (it times out:
 * nothing is sent) would arm one: the data that then comes is the plain
 * thread's. */
static void *plain_first_reader(void *arg)
{
    struct plain *p = arg;
    atomic_store(&p->done, 1); /* about to wait */
    p->res = wf_fd_wait(p->fd, WF_IO_READ, wf_deadline_in(GUARD));
    if (p->res == WF_IO_READ)
        p->res = wf_read(p->fd, p->got, 3, wf_deadline_in(GUARD));
    atomic_store(&p->done, 2);
    return NULL;
}

static void *plain_first_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    struct plain p = {.fd = a};
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, plain_first_reader, &p), 0);
    fiber_wait_for(&p.done, 1);
    char c;
    WT_CHECK_EQ(wf_read(a, &c, 1, wf_deadline_in(2 * WF_MSEC)), WF_ETIMEDOUT);
    send_str(b, "ghi");
    fiber_wait_for(&p.done, 2);
    WT_CHECK_EQ(p.res, 3);
    WT_CHECK(memcmp(p.got, "ghi", 3) == 0);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    send_str(b, "jk");
    expect(a, "jk");
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(plain_thread_reads_first)
{
    run_main(2, plain_first_main, NULL);
}

/* ---- the runtime stops with data kept and readers parked ------------------ */

static struct plain stop_p;
static int stop_fds[6];

static void *stop_reader(void *arg)
{
    struct plain *p = arg;
    atomic_store(&p->done, 1); /* about to read */
    p->res = wf_read(p->fd, p->got, 1, wf_deadline_in(GUARD));
    atomic_store(&p->done, 2);
    return NULL;
}

static void *stop_main(void *arg)
{
    pthread_t *t = arg;
    check_rings();
    int *f = stop_fds;
    tcp_pair(&f[0], &f[1]);
    tcp_pair(&f[2], &f[3]);
    tcp_pair(&f[4], &f[5]);
    arm(f[0], f[1]);
    send_str(f[1], "kept");
    wait_kept(f[0]); /* kept at the stop */
    arm(f[2], f[3]);
    struct wf_fiber r = go(parked_read, U2P(f[2])); /* parked at the stop */
    WT_CHECK_EQ(wf_detach(r), 0);
    arm(f[4], f[5]);
    stop_p.fd = f[4]; /* a plain thread reads at the stop */
    WT_CHECK_EQ(pthread_create(t, NULL, stop_reader, &stop_p), 0);
    fiber_wait_for(&stop_p.done, 1);
    return NULL;
}

WT_CASE(shutdown_with_kept_and_readers)
{
    pthread_t t;
    run_main_leaving(2, stop_main, &t);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    WT_CHECK_EQ(stop_p.res, WF_ESHUTDOWN); /* the stop, not its deadline */
    for (int i = 0; i < 6; i++)
        WT_CHECK_EQ(close(stop_fds[i]), 0);
}

/* ---- readers racing to attach, then the stop ----------------------------- */

/* Fibers on two workers read fresh sockets at once, so that some lose
 * the race to attach the socket's state and park on the winner's; the
 * runtime then stops with all of them parked and discards them. A loser
 * that kept its spare state across the park leaked it (LSan). */
#define RACE_SOCKS   8
#define RACE_READERS 4

static atomic_int race_entered;

static void *race_reader(void *arg)
{
    atomic_fetch_add(&race_entered, 1);
    return parked_read(arg);
}

static void *race_main(void *arg)
{
    int *f = arg;
    check_rings();
    for (int i = 0; i < RACE_SOCKS; i++)
        tcp_pair(&f[2 * i], &f[2 * i + 1]);
    for (int i = 0; i < RACE_SOCKS; i++)
        for (int j = 0; j < RACE_READERS; j++)
            WT_CHECK_EQ(wf_detach(go(race_reader, U2P(f[2 * i]))), 0);
    while (atomic_load(&race_entered) < RACE_SOCKS * RACE_READERS)
        wf_sleep(WF_MSEC);
    wf_sleep(20 * WF_MSEC); /* widens the window for the last to park */
    return NULL;
}

WT_CASE(attach_race_then_stop)
{
    int f[2 * RACE_SOCKS];
    run_main_leaving(2, race_main, f);
    for (int i = 0; i < 2 * RACE_SOCKS; i++)
        WT_CHECK_EQ(close(f[i]), 0);
}

/* ---- two fibers read one socket ------------------------------------------ */

/* Records of 8 bytes (a sequence number) read whole (MSG_WAITALL) by
 * two fibers at once, on two workers (with WEFT_DEBUG_MIGRATE=1 moving
 * between them): each sees its records in increasing order, and
 * together they see every record once. */
#define NREC 4000

struct rec_reader {
    int fd;
    uint32_t *seen; /* NREC: how often each record was read */
    size_t n;
};

static void *rec_reader(void *arg)
{
    struct rec_reader *rr = arg;
    int64_t last = -1;
    for (;;) {
        uint64_t v;
        ssize_t r =
            wf_recv(rr->fd, &v, sizeof v, MSG_WAITALL, wf_deadline_in(GUARD));
        if (r == 0)
            break;
        WT_CHECK_EQ(r, (ssize_t)sizeof v);
        WT_CHECK(v < NREC);
        WT_CHECK((int64_t)v > last);
        last = (int64_t)v;
        rr->seen[v]++;
        rr->n++;
    }
    return NULL;
}

static void *two_readers_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    arm(a, b);
    static uint32_t seen[2][NREC];
    memset(seen, 0, sizeof seen);
    struct rec_reader rr[2] = {{a, seen[0], 0}, {a, seen[1], 0}};
    struct wf_fiber f0 = go(rec_reader, &rr[0]);
    struct wf_fiber f1 = go(rec_reader, &rr[1]);
    for (uint64_t i = 0; i < NREC; i += 16) {
        uint64_t chunk[16];
        for (int j = 0; j < 16; j++)
            chunk[j] = i + (uint64_t)j;
        WT_CHECK_EQ(
            wf_write_all(b, chunk, sizeof chunk, NULL, wf_deadline_in(GUARD)),
            (ssize_t)sizeof chunk);
    }
    WT_CHECK_EQ(wf_sock_shutdown(b, SHUT_WR), 0);
    join(f0);
    join(f1);
    WT_CHECK_EQ(rr[0].n + rr[1].n, (size_t)NREC);
    for (int i = 0; i < NREC; i++)
        WT_CHECK_EQ(seen[0][i] + seen[1][i], 1u);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(two_readers_one_socket)
{
    run_main(2, two_readers_main, NULL);
}

/* ---- a plain thread reads before any I/O started the reactor ------------- */

static void *early_main(void *arg)
{
    (void)arg;
    int sv[2]; /* no weft I/O before the plain thread's read */
    WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct plain p = {.fd = sv[0]};
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, plain_first_reader, &p), 0);
    fiber_wait_for(&p.done, 1);
    WT_CHECK_EQ(write(sv[1], "abc", 3), 3);
    fiber_wait_for(&p.done, 2);
    WT_CHECK_EQ(p.res, 3);
    WT_CHECK(memcmp(p.got, "abc", 3) == 0);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    check_rings();
    WT_CHECK_EQ(wf_close(sv[0]), 0);
    WT_CHECK_EQ(close(sv[1]), 0);
    return NULL;
}

WT_CASE(plain_thread_reads_early)
{
    run_main(2, early_main, NULL);
}

/* ---- a fiber waits for reading, another fiber's read arms ----------------- */

static atomic_int waiting;

static void *flag_fd_waiter(void *arg)
{
    atomic_store(&waiting, 1); /* about to wait */
    return fd_waiter(arg);
}

/* A fiber waits for reading a socket with no multishot state (on
 * readiness); another fiber's read, which times out, arms a multishot:
 * the wait still ends when data comes (it used to sleep on readiness
 * while the multishot took the data). */
static void *wait_then_arm_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b;
    tcp_pair(&a, &b);
    atomic_store(&waiting, 0);
    struct wf_fiber f = go(flag_fd_waiter, U2P(a));
    fiber_wait_for(&waiting, 1);
    char c;
    WT_CHECK_EQ(wf_read(a, &c, 1, wf_deadline_in(2 * WF_MSEC)), WF_ETIMEDOUT);
    send_str(b, "x");
    WT_CHECK_EQ((intptr_t)P2U(join(f)), WF_IO_READ);
    expect(a, "x");
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(fd_wait_then_another_arms)
{
    run_main(2, wait_then_arm_main, NULL);
}

/* ---- the buffers are all kept for another socket ----------------------------- */

/* With WEFT_IO_MSHOT_BUFS=2 (the tiny variant), one worker: socket a
 * keeps both buffers (nobody reads it yet), so c's multishot ends with
 * ENOBUFS when c's data comes. A read of c gets the data (it used to arm
 * again into the dry ring, end again, and wait until its deadline),
 * and a's data then comes whole and in order. */
#define HOG (4 * 4096)

static void *dry_main(void *arg)
{
    (void)arg;
    check_rings();
    int a, b, c, d;
    tcp_pair(&a, &b);
    tcp_pair(&c, &d);
    arm(a, b);
    arm(c, d);
    static unsigned char big[HOG];
    for (size_t i = 0; i < HOG; i++)
        big[i] = pat(i);
    WT_CHECK_EQ(wf_write_all(b, big, HOG, NULL, wf_deadline_in(GUARD)), HOG);
    if (env_is("WEFT_IO_MSHOT_BUFS", "2")) {
        /* Until a keeps both buffers: the rest stays in its socket. */
        int64_t end = wf_deadline_in(GUARD);
        for (;;) {
            int q = -1;
            WT_CHECK_EQ(ioctl(a, FIONREAD, &q), 0);
            if (q <= HOG - 2 * 4096)
                break;
            WT_CHECK(wf_now() < end);
            wf_sleep(WF_MSEC);
        }
    }
    send_str(d, "abc");
    expect(c, "abc");
    /* A wait too, the ring still dry. */
    WT_CHECK_EQ(wf_fd_wait(c, WF_IO_READ, wf_deadline_in(2 * WF_MSEC)),
                WF_ETIMEDOUT);
    send_str(d, "de");
    WT_CHECK_EQ(wf_fd_wait(c, WF_IO_READ, wf_deadline_in(GUARD)), WF_IO_READ);
    expect(c, "de");
    WT_CHECK_EQ(wf_sock_shutdown(b, SHUT_WR), 0);
    WT_CHECK_EQ(read_pattern(a), (size_t)HOG);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    WT_CHECK_EQ(wf_close(c), 0);
    WT_CHECK_EQ(wf_close(d), 0);
    return NULL;
}

WT_CASE(buffers_kept_elsewhere)
{
    run_main(1, dry_main, NULL);
}

/* ---- a receive with flags waits in the kernel, another fiber's read arms -- */

/* A fiber's wf_recv with MSG_PEEK or MSG_WAITALL on a socket with no
 * multishot state waits in the kernel (single-shot); another fiber's
 * wf_read of the socket then comes (on the same worker or another) and
 * times out, then data comes. The read used to arm a multishot, which
 * took the data into its queue: the flagged receive, waiting on the
 * socket, never saw it and waited until its deadline (GUARD; src/async/
 * rings.c, "flagged receives"). Now the receive returns the data, and a
 * read then gets it (peek) or the next data (waitall), in order. */
struct flagged {
    int fd, flags;
    size_t want;
    int64_t deadline;
    atomic_int started;
    ssize_t res;
    char got[8];
};

static void *flagged_recv(void *arg)
{
    struct flagged *fl = arg;
    atomic_store(&fl->started, 1);
    fl->res = wf_recv(fl->fd, fl->got, fl->want, fl->flags, fl->deadline);
    return NULL;
}

static struct wf_fiber go_on(wf_fiber_fn *fn, void *arg, int worker)
{
    struct wf_fiber f;
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.worker = worker;
    WT_CHECK_EQ(wf_go_opts(&f, &o, fn, arg), 0);
    return f;
}

/* flags: the receive's; apart: the receive on worker 1, the read on
 * worker 0; wait_each: the receive is in the kernel (started, and some
 * time given) before the read, else both start at once (a race of the
 * receive's link with the read's arming). */
static void flagged_then_read(int flags, bool apart, bool wait_each)
{
    int a, b;
    tcp_pair(&a, &b);
    struct flagged fa = {
        .fd = a, .flags = flags, .want = 3, .deadline = wf_deadline_in(GUARD)};
    struct flagged fb = {.fd = a, .flags = 0, .want = 1};
    atomic_init(&fa.started, 0);
    atomic_init(&fb.started, 0);
    struct wf_fiber f = go_on(flagged_recv, &fa, apart ? 1 : WF_ANY_WORKER);
    if (wait_each) {
        fiber_wait_for(&fa.started, 1);
        wf_sleep(2 * WF_MSEC);
    }
    /* Taken now, not with fa's: after the wait above it would have
     * passed before the read began, which then never waited beside the
     * receive. */
    fb.deadline = wf_deadline_in(2 * WF_MSEC);
    struct wf_fiber g = go_on(flagged_recv, &fb, apart ? 0 : WF_ANY_WORKER);
    join(g);
    WT_CHECK_EQ(fb.res, WF_ETIMEDOUT); /* nothing sent yet */
    send_str(b, "abc");
    join(f); /* it used to wait here until GUARD */
    if (flags & MSG_PEEK) {
        WT_CHECK(fa.res >= 1 && fa.res <= 3);
        WT_CHECK(memcmp(fa.got, "abc", (size_t)fa.res) == 0);
        expect(a, "abc");
    } else {
        WT_CHECK_EQ(fa.res, 3);
        WT_CHECK(memcmp(fa.got, "abc", 3) == 0);
    }
    send_str(b, "de");
    expect(a, "de");
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
}

/* arg: the receive's flags times 2, plus 1 for two workers. */
static void *parked_main(void *arg)
{
    check_rings();
    uintptr_t v = P2U(arg);
    for (int i = 0; i < 5; i++)
        flagged_then_read((int)(v >> 1), v & 1, true);
    return NULL;
}

WT_CASE(peek_parked_then_read_arms)
{
    run_main(2, parked_main, U2P(MSG_PEEK * 2));
}

WT_CASE(peek_parked_then_read_arms_apart)
{
    run_main(2, parked_main, U2P(MSG_PEEK * 2 + 1));
}

WT_CASE(waitall_parked_then_read_arms)
{
    run_main(2, parked_main, U2P(MSG_WAITALL * 2));
}

WT_CASE(waitall_parked_then_read_arms_apart)
{
    run_main(2, parked_main, U2P(MSG_WAITALL * 2 + 1));
}

/* The flagged receive and the arming read start together, many times:
 * the receive's link and the read's attachment come in either order. */
static void *flagged_race_main(void *arg)
{
    (void)arg;
    check_rings();
    for (int i = 0; i < 100; i++)
        flagged_then_read(i % 2 ? MSG_PEEK : MSG_WAITALL, i % 4 < 2, false);
    return NULL;
}

WT_CASE(flagged_recv_races_arming)
{
    run_main(2, flagged_race_main, NULL);
}

WT_MAIN()
