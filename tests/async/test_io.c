/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_io.c - fiber-blocking sockets (weft/io.h) on loopback:
 * echo over TCP v4, v6 and Unix sockets with many concurrent connections
 * (10,000 with the clients in a child process), deadlines firing mid-read,
 * in accept and in connect, cancellation of fibers blocked in accept, read and
 * connect, peer reset, half-close, EMFILE under a lowered descriptor limit
 * while the server keeps serving, short and partial writes with a small
 * send buffer, closing a descriptor others wait on, waits from a plain
 * thread, scatter/gather, recv/send flags, waiting on a pipe.
 *
 * Nothing is timed: a deadline's expiry is checked only as "it returned
 * WF_ETIMEDOUT", and where a case wants a fiber blocked before acting it
 * naps; each check holds either way. Counts shrink under sanitizers. A
 * few short cases also run under valgrind (tests/async/CMakeLists.txt).
 */
#include <weft.h>
#include <weft/io.h>

#include "wtest_rt.h"
#include "wt_backend.h"
#include "wt_tcp.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static struct wf_fiber go(wf_fiber_fn *fn, void *arg)
{
    struct wf_fiber f = {0};
    int rc = wf_go(&f, fn, arg);
    if (rc != 0)
        WT_FAIL("wf_go: %s (%d)", wf_strerror(rc), rc);
    return f;
}

static void *join(struct wf_fiber f)
{
    void *r = U2P(0xbad);
    int rc = wf_join(f, &r, WF_FOREVER);
    if (rc != 0)
        WT_FAIL("wf_join: %s (%d)", wf_strerror(rc), rc);
    return r;
}

/* Raise the soft descriptor limit to need (within the hard limit), or
 * skip the case. */
static void need_fds(long need)
{
    struct rlimit rl;
    WT_CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < need) {
        if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < need)
            WT_SKIP("needs %ld descriptors, hard limit RLIMIT_NOFILE is %ld",
                    need, (long)rl.rlim_max);
        rl.rlim_cur = (rlim_t)need;
        WT_CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
}

static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

/* ---- echo ----------------------------------------------------------------- */

struct echo {
    int lfd;
    long nconn;              /* connections the server serves, then stops */
    atomic_long live, peak;  /* server-side connections open */
    struct wf_waitgroup hold; /* clients keep connections open until all
                               * have echoed (so all are concurrent) */
    int family;
    const char *path;
    int port;
    long msg;
};

static void *echo_conn(void *arg)
{
    struct echo *e = (struct echo *)((uintptr_t *)arg)[0];
    int fd = (int)((uintptr_t *)arg)[1];
    free(arg);
    long now = atomic_fetch_add(&e->live, 1) + 1;
    long p = atomic_load(&e->peak);
    while (now > p && !atomic_compare_exchange_weak(&e->peak, &p, now)) {
    }
    char buf[4096];
    for (;;) {
        ssize_t n = wf_read(fd, buf, sizeof buf, WF_FOREVER);
        if (n <= 0) {
            WT_CHECK_EQ(n, 0);
            break;
        }
        size_t w;
        WT_CHECK_EQ(wf_write_all(fd, buf, (size_t)n, &w, WF_FOREVER), n);
    }
    atomic_fetch_sub(&e->live, 1);
    WT_CHECK_EQ(wf_close(fd), 0);
    return NULL;
}

static void *echo_server(void *arg)
{
    struct echo *e = arg;
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    for (long i = 0; i < e->nconn; i++) {
        int fd = wf_accept(e->lfd, NULL, NULL, WF_FOREVER);
        if (fd < 0)
            WT_FAIL("accept %ld: %s", i, wf_strerror(fd));
        uintptr_t *a = malloc(2 * sizeof *a);
        WT_CHECK(a);
        a[0] = (uintptr_t)e;
        a[1] = (uintptr_t)fd;
        WT_CHECK_EQ(wf_scope_go(s, NULL, echo_conn, a), 0);
    }
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_scope_close(s), 0);
    return NULL;
}

static int connect_to(struct echo *e)
{
    if (e->family == AF_UNIX)
        return wf_unix_connect(e->path, WF_FOREVER);
    return wf_tcp_connect(e->family == AF_INET ? "127.0.0.1" : "::1", e->port,
                          WF_FOREVER);
}

static void *echo_client(void *arg)
{
    struct echo *e = arg;
    uint64_t seed = (uint64_t)wf_self().id * 0x9E3779B97F4A7C15ull;
    int fd = connect_to(e);
    if (fd < 0)
        WT_FAIL("connect: %s", wf_strerror(fd));
    size_t n = 1 + (size_t)(wt_rand(&seed) % (uint64_t)e->msg);
    char *out = malloc(n), *in = malloc(n);
    WT_CHECK(out && in);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)wt_rand(&seed);
    size_t w;
    WT_CHECK_EQ(wf_write_all(fd, out, n, &w, WF_FOREVER), (ssize_t)n);
    size_t got = 0;
    while (got < n) {
        ssize_t r = wf_read(fd, in + got, n - got, WF_FOREVER);
        WT_CHECK(r > 0);
        got += (size_t)r;
    }
    WT_CHECK(memcmp(in, out, n) == 0);
    free(in);
    free(out);
    WT_CHECK_EQ(wf_waitgroup_done(&e->hold), 0);
    WT_CHECK_EQ(wf_waitgroup_wait(&e->hold, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_close(fd), 0);
    return NULL;
}

static void *clients_main(void *arg)
{
    struct echo *e = arg;
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    for (long i = 0; i < e->nconn; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, echo_client, e), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_scope_close(s), 0);
    return NULL;
}

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    struct wf_fiber srv = go(echo_server, e);
    clients_main(e);
    join(srv);
    WT_CHECK_EQ(atomic_load(&e->peak), e->nconn);
    WT_CHECK_EQ(atomic_load(&e->live), 0);
    return NULL;
}

static void echo_case(int family, long nconn, long msg)
{
    static struct echo e;
    memset(&e, 0, sizeof e);
    e.family = family;
    e.nconn = nconn;
    e.msg = msg;
    need_fds(2 * nconn + 64);
    WT_CHECK_EQ(wf_waitgroup_init(&e.hold), 0);
    WT_CHECK_EQ(wf_waitgroup_add(&e.hold, (int)nconn), 0);
    char path[108];
    if (family == AF_UNIX) {
        snprintf(path, sizeof path, "/tmp/weft-test-io-%d.sock", (int)getpid());
        unlink(path);
        e.path = path;
        e.lfd = wf_unix_listen(path, 0);
    } else {
        e.lfd = wf_tcp_listen(family == AF_INET ? "127.0.0.1" : "::1", 0, 0);
        if (family == AF_INET6 && e.lfd == -EADDRNOTAVAIL)
            WT_SKIP("no IPv6 loopback");
        WT_CHECK(e.lfd >= 0);
        e.port = wf_local_port(e.lfd);
    }
    WT_CHECK(e.lfd >= 0);
    run_main(2, echo_main, &e);
    WT_CHECK_EQ(wf_close(e.lfd), 0);
    if (family == AF_UNIX)
        unlink(path);
    wf_waitgroup_destroy(&e.hold);
}

WT_CASE(echo_tcp4_1000) { echo_case(AF_INET, scaled(1000), 16384); }
WT_CASE(echo_tcp6) { echo_case(AF_INET6, 100, 65536); }
WT_CASE(echo_unix) { echo_case(AF_UNIX, 100, 65536); }

/* 10,000 concurrent connections: the clients run in a child process (each
 * side then needs 10,000 descriptors, within the usual hard limit). */
WT_CASE(echo_tcp4_10000)
{
    long n = wt_sanitized() ? 2000 : 10000;
    need_fds(n + 64);
    static struct echo e;
    memset(&e, 0, sizeof e);
    e.family = AF_INET;
    e.nconn = n;
    e.msg = 256;
    e.lfd = wf_tcp_listen("127.0.0.1", 0, 0);
    WT_CHECK(e.lfd >= 0);
    e.port = wf_local_port(e.lfd);
    fflush(NULL);
    pid_t pid = fork();
    WT_CHECK(pid >= 0);
    if (pid == 0) {
        close(e.lfd);
        WT_CHECK_EQ(wf_waitgroup_init(&e.hold), 0);
        WT_CHECK_EQ(wf_waitgroup_add(&e.hold, (int)n), 0);
        struct wf_config c = config(2);
        c.stack_size = 32 * 1024;
        int rc = wf_run(&c, clients_main, &e, NULL);
        _exit(rc == 0 ? 0 : 3);
    }
    struct wf_config c = config(2);
    c.stack_size = 32 * 1024;
    WT_CHECK_EQ(wf_run(&c, echo_server, &e, NULL), 0);
    int st;
    WT_CHECK_EQ(waitpid(pid, &st, 0), pid);
    WT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    WT_CHECK_EQ(atomic_load(&e.peak), n);
    WT_CHECK_EQ(wf_close(e.lfd), 0);
}

/* ---- deadlines ------------------------------------------------------------- */

static void *deadline_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    char buf[16];
    WT_CHECK_EQ(wf_write(b, "hello", 5, WF_FOREVER), 5);
    WT_CHECK_EQ(wf_read(a, buf, sizeof buf, wf_deadline_in(WF_SEC)), 5);
    /* nothing more: the deadline fires mid-conversation */
    WT_CHECK_EQ(wf_read(a, buf, sizeof buf, wf_deadline_in(10 * WF_MSEC)),
                WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_read(a, buf, sizeof buf, 0), WF_ETIMEDOUT); /* attempt */
    /* the reactor runs now, with the backend WEFT_IO asks for */
    const char *be = wf_io_backend(), *want = wt_forced_backend();
    WT_CHECK(be != NULL);
    if (want)
        WT_CHECK(strcmp(be, want) == 0);
    /* a listener nobody connects to: the accept's deadline fires */
    int l = wf_tcp_listen("127.0.0.1", 0, 1);
    WT_CHECK(l >= 0);
    WT_CHECK_EQ(wf_accept(l, NULL, NULL, wf_deadline_in(10 * WF_MSEC)),
                WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_close(l), 0);
    /* the connection is still fine */
    WT_CHECK_EQ(wf_write(b, "world", 5, WF_FOREVER), 5);
    WT_CHECK_EQ(wf_read(a, buf, sizeof buf, WF_FOREVER), 5);
    WT_CHECK(memcmp(buf, "world", 5) == 0);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

WT_CASE(deadline_mid_read) { run_main(2, deadline_main, NULL); }

/* A listener whose queue is full: further connects stay in progress
 * (their SYNs are dropped), so a connect can be seen waiting. */
static int full_listener(int *port, int *fill, int nfill)
{
    int l = wf_tcp_listen("127.0.0.1", 0, 1);
    WT_CHECK(l >= 0);
    *port = wf_local_port(l);
    for (int i = 0; i < nfill; i++) {
        fill[i] = wf_tcp_connect("127.0.0.1", *port, wf_deadline_in(20 * WF_MSEC));
        if (fill[i] < 0)
            WT_CHECK_EQ(fill[i], WF_ETIMEDOUT);
    }
    return l;
}

static void *connect_deadline_main(void *arg)
{
    (void)arg;
    int port, fill[4];
    int l = full_listener(&port, fill, 4);
    int before = open_fds();
    int rc = wf_tcp_connect("127.0.0.1", port, wf_deadline_in(30 * WF_MSEC));
    WT_CHECK_EQ(rc, WF_ETIMEDOUT);
    WT_CHECK_EQ(open_fds(), before); /* the failed socket was closed */
    for (int i = 0; i < 4; i++)
        if (fill[i] >= 0)
            wf_close(fill[i]);
    wf_close(l);
    return NULL;
}

WT_CASE(deadline_connect) { run_main(2, connect_deadline_main, NULL); }

/* ---- cancellation ------------------------------------------------------------ */

static atomic_int blocked;

static void *block_accept(void *arg)
{
    atomic_fetch_add(&blocked, 1);
    return U2P((uintptr_t)-wf_accept((int)P2U(arg), NULL, NULL, WF_FOREVER));
}

static void *block_read(void *arg)
{
    char c;
    atomic_fetch_add(&blocked, 1);
    return U2P((uintptr_t)-wf_read((int)P2U(arg), &c, 1, WF_FOREVER));
}

static void *block_connect(void *arg)
{
    atomic_fetch_add(&blocked, 1);
    return U2P((uintptr_t)-wf_tcp_connect("127.0.0.1", (int)P2U(arg), WF_FOREVER));
}

static void *cancel_main(void *arg)
{
    (void)arg;
    int a, b, port, fill[4];
    tcp_pair(&a, &b);
    int l = wf_tcp_listen("127.0.0.1", 0, 4);
    int full = full_listener(&port, fill, 4);
    int before = open_fds();
    struct wf_fiber f[3];
    f[0] = go(block_accept, U2P(l));
    f[1] = go(block_read, U2P(a));
    f[2] = go(block_connect, U2P(port));
    while (atomic_load(&blocked) < 3)
        wf_yield();
    wf_sleep(10 * WF_MSEC);
    for (int i = 0; i < 3; i++)
        WT_CHECK_EQ(wf_cancel(f[i]), 0);
    for (int i = 0; i < 3; i++)
        WT_CHECK_EQ((int)P2U(join(f[i])), ECANCELED);
    WT_CHECK_EQ(open_fds(), before);
    /* the descriptors still work */
    WT_CHECK_EQ(wf_write(b, "x", 1, WF_FOREVER), 1);
    char c;
    WT_CHECK_EQ(wf_read(a, &c, 1, WF_FOREVER), 1);
    wf_close(a);
    wf_close(b);
    wf_close(l);
    for (int i = 0; i < 4; i++)
        if (fill[i] >= 0)
            wf_close(fill[i]);
    wf_close(full);
    return NULL;
}

WT_CASE(cancel_blocked) { run_main(2, cancel_main, NULL); }

/* ---- errors -------------------------------------------------------------------- */

static void *reset_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    struct linger lg = {1, 0};
    WT_CHECK_EQ(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    WT_CHECK_EQ(wf_close(b), 0); /* sends RST */
    char buf[8];
    WT_CHECK_EQ(wf_read(a, buf, sizeof buf, WF_FOREVER), WF_ECONNRESET);
    ssize_t w = wf_write(a, "x", 1, WF_FOREVER);
    WT_CHECK(w == WF_EPIPE || w == WF_ECONNRESET);
    WT_CHECK_EQ(wf_close(a), 0);

    /* a write to a peer that has gone: EPIPE, no SIGPIPE */
    tcp_pair(&a, &b);
    WT_CHECK_EQ(wf_close(b), 0);
    static char big[65536];
    ssize_t r = 0;
    for (int i = 0; i < 100 && r >= 0; i++)
        r = wf_write(a, big, sizeof big, wf_deadline_in(WF_SEC));
    WT_CHECK(r == WF_EPIPE || r == WF_ECONNRESET);
    WT_CHECK_EQ(wf_close(a), 0);

    /* refused, bad descriptors and arguments */
    int l = wf_tcp_listen("127.0.0.1", 0, 1);
    int port = wf_local_port(l);
    wf_close(l);
    WT_CHECK_EQ(wf_tcp_connect("127.0.0.1", port, WF_FOREVER), WF_ECONNREFUSED);
    WT_CHECK_EQ(wf_read(-1, buf, 1, WF_FOREVER), WF_EBADF);
    WT_CHECK_EQ(wf_write(1 << 30, buf, 1, WF_FOREVER), WF_EBADF);
    WT_CHECK_EQ(wf_close(-1), WF_EBADF);
    WT_CHECK_EQ(wf_tcp_listen("", 0, 1), WF_EINVAL);
    WT_CHECK_EQ(wf_tcp_listen("127.0.0.1", 70000, 1), WF_EINVAL);
    WT_CHECK_EQ(wf_tcp_connect(NULL, 1, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_unix_listen(NULL, 1), WF_EINVAL);
    WT_CHECK_EQ(wf_listen(NULL, 0, 1), WF_EINVAL);
    WT_CHECK_EQ(wf_fd_wait(0, 0, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_fd_wait(0, WF_IO_READ | WF_IO_WRITE, WF_FOREVER), WF_EINVAL);
    return NULL;
}

WT_CASE(peer_reset) { run_main(2, reset_main, NULL); }

static void *half_close_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    char buf[16];
    WT_CHECK_EQ(wf_write(a, "ping", 4, WF_FOREVER), 4);
    WT_CHECK_EQ(wf_sock_shutdown(a, SHUT_WR), 0);
    size_t got = 0;
    for (;;) {
        ssize_t r = wf_read(b, buf + got, sizeof buf - got, WF_FOREVER);
        WT_CHECK(r >= 0);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    WT_CHECK_EQ(got, 4);
    WT_CHECK(memcmp(buf, "ping", 4) == 0);
    /* the other direction still works */
    WT_CHECK_EQ(wf_write(b, "pong", 4, WF_FOREVER), 4);
    WT_CHECK_EQ(wf_close(b), 0);
    WT_CHECK_EQ(wf_read(a, buf, sizeof buf, WF_FOREVER), 4);
    WT_CHECK(memcmp(buf, "pong", 4) == 0);
    WT_CHECK_EQ(wf_read(a, buf, sizeof buf, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_close(a), 0);
    return NULL;
}

WT_CASE(half_close) { run_main(2, half_close_main, NULL); }

static void *emfile_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b); /* an established connection the server serves */
    int l = wf_tcp_listen("127.0.0.1", 0, 8);
    int port = wf_local_port(l);
    int c = wf_tcp_connect("127.0.0.1", port, WF_FOREVER); /* pending */
    WT_CHECK(c >= 0);
    char buf[8];
    /* get the reactor and everything else started before the limit */
    WT_CHECK_EQ(wf_read(b, buf, 1, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);

    struct rlimit old, rl;
    WT_CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = dup(0);
    WT_CHECK(probe >= 0);
    close(probe);
    rl = old;
    rl.rlim_cur = (rlim_t)probe; /* no descriptor can be made now */
    WT_CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int rc = wf_accept(l, NULL, NULL, WF_FOREVER);
    WT_CHECK(rc == WF_EMFILE || rc == WF_ENFILE);
    WT_CHECK_EQ(wf_tcp_connect("127.0.0.1", port, WF_FOREVER), WF_EMFILE);
    /* the server keeps serving its connection */
    WT_CHECK_EQ(wf_write(a, "abc", 3, WF_FOREVER), 3);
    WT_CHECK_EQ(wf_read(b, buf, sizeof buf, WF_FOREVER), 3);
    WT_CHECK_EQ(wf_write(b, buf, 3, WF_FOREVER), 3);
    WT_CHECK_EQ(wf_read(a, buf, sizeof buf, WF_FOREVER), 3);
    /* and takes the pending connection once descriptors are back */
    WT_CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    int d = wf_accept(l, NULL, NULL, WF_FOREVER);
    WT_CHECK(d >= 0);
    WT_CHECK_EQ(wf_write(c, "z", 1, WF_FOREVER), 1);
    WT_CHECK_EQ(wf_read(d, buf, 1, WF_FOREVER), 1);
    WT_CHECK_EQ(buf[0], 'z');
    wf_close(a);
    wf_close(b);
    wf_close(c);
    wf_close(d);
    wf_close(l);
    return NULL;
}

WT_CASE(emfile)
{
    /* valgrind keeps the descriptor limit itself: an accept past it takes
     * the connection from the kernel, closes it and says EMFILE, so the
     * pending connection this case takes afterwards is lost. */
    if (wt_under_valgrind())
        WT_SKIP("valgrind emulates RLIMIT_NOFILE (a refused accept loses the "
                "connection)");
    run_main(2, emfile_main, NULL);
}

/* ---- partial writes ------------------------------------------------------------- */

#define BIG (1 << 20)

static void *slow_reader(void *arg)
{
    int fd = (int)P2U(arg);
    unsigned char *buf = malloc(7000);
    size_t got = 0;
    while (got < BIG) {
        ssize_t r = wf_read(fd, buf, 7000, WF_FOREVER);
        WT_CHECK(r > 0);
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != (unsigned char)((got + (size_t)i) * 7))
                WT_FAIL("byte %zu differs", got + (size_t)i);
        got += (size_t)r;
        wf_yield();
    }
    free(buf);
    return NULL;
}

static void *partial_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    /* A tiny send buffer; the receive buffer small enough that 1 MiB
     * cannot fit, big enough that the window does not stall. */
    int small = 4096, rcv = 65536;
    WT_CHECK_EQ(setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    WT_CHECK_EQ(setsockopt(b, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv), 0);
    unsigned char *data = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (unsigned char)(i * 7);
    /* nobody reads yet: one write moves only part */
    ssize_t first = wf_write(a, data, BIG, WF_FOREVER);
    WT_CHECK(first > 0 && first < BIG);
    /* the buffer is full now: a deadline write times out, moving nothing */
    size_t w = 12345;
    WT_CHECK_EQ(wf_write_all(a, data + first, BIG - (size_t)first, &w,
                             wf_deadline_in(10 * WF_MSEC)),
                WF_ETIMEDOUT);
    size_t sent = (size_t)first + w;
    struct wf_fiber r = go(slow_reader, U2P(b));
    WT_CHECK_EQ(wf_write_all(a, data + sent, BIG - sent, &w, WF_FOREVER),
                (ssize_t)(BIG - sent));
    WT_CHECK_EQ(w, BIG - sent);
    join(r);
    free(data);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(partial_writes) { run_main(2, partial_main, NULL); }

/* ---- descriptors and waiters ------------------------------------------------------ */

static void *close_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    atomic_store(&blocked, 0);
    struct wf_fiber r = go(block_read, U2P(a));
    while (atomic_load(&blocked) < 1)
        wf_yield();
    wf_sleep(5 * WF_MSEC);
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ((int)P2U(join(r)), EBADF);
    wf_close(b);
    return NULL;
}

WT_CASE(close_wakes_waiter) { run_main(2, close_main, NULL); }

static void *shut_rd_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    atomic_store(&blocked, 0);
    struct wf_fiber r = go(block_read, U2P(a));
    while (atomic_load(&blocked) < 1)
        wf_yield();
    wf_sleep(5 * WF_MSEC);
    WT_CHECK_EQ(wf_sock_shutdown(a, SHUT_RD), 0);
    WT_CHECK_EQ((int)P2U(join(r)), 0); /* the reader sees end of stream */
    WT_CHECK_EQ(wf_sock_shutdown(-1, SHUT_RD), WF_EBADF);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(shut_rd_wakes_reader) { run_main(2, shut_rd_main, NULL); }

/* Fibers still blocked in I/O when the runtime stops are discarded; a
 * plain thread blocked in a read returns WF_ESHUTDOWN. Nothing leaks
 * (LSan) and the next runtime's reactor works. */
static int sd_fd[2];
static void *sd_thread(void *arg)
{
    (void)arg;
    char c;
    atomic_fetch_add(&blocked, 1);
    return U2P((uintptr_t)-wf_read(sd_fd[0], &c, 1, WF_FOREVER));
}

static void *sd_main(void *arg)
{
    (void)arg;
    go(block_read, U2P(sd_fd[1]));
    int l = wf_tcp_listen("127.0.0.1", 0, 4);
    go(block_accept, U2P(l));
    while (atomic_load(&blocked) < 3)
        wf_yield();
    wf_sleep(5 * WF_MSEC);
    return U2P(l);
}

WT_CASE(shutdown_with_waiters)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    atomic_store(&blocked, 0);
    tcp_pair(&sd_fd[0], &sd_fd[1]);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, sd_thread, NULL), 0);
    struct wf_fiber m = go(sd_main, NULL);
    void *l;
    WT_CHECK_EQ(wf_join(m, &l, WF_FOREVER), 0);
    /* Leaves block_read and block_accept blocked on purpose: whether the
     * reactor's shutdown lets them return before the workers stop depends
     * on the backend, so the discarded count (0 to 2) is not checked. */
    WT_CHECK_EQ(wf_shutdown(), 0);
    void *r;
    pthread_join(t, &r);
    WT_CHECK_EQ((int)P2U(r), ESHUTDOWN);
    /* a new runtime: the same descriptors work again */
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_write(sd_fd[1], "k", 1, WF_FOREVER), 1);
    char ch;
    WT_CHECK_EQ(wf_read(sd_fd[0], &ch, 1, WF_FOREVER), 1);
    WT_CHECK_EQ(wf_read(sd_fd[0], &ch, 1, wf_deadline_in(2 * WF_MSEC)),
                WF_ETIMEDOUT);
    shutdown_clean();
    wf_close(sd_fd[0]);
    wf_close(sd_fd[1]);
    wf_close((int)P2U(l));
}

static int thr_fd;
static void *thread_reader(void *arg)
{
    (void)arg;
    char buf[8];
    ssize_t r = wf_read(thr_fd, buf, sizeof buf, WF_FOREVER);
    WT_CHECK_EQ(r, 3);
    WT_CHECK(memcmp(buf, "thr", 3) == 0);
    return NULL;
}

WT_CASE(plain_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    int a, b;
    tcp_pair(&a, &b); /* from the plain main thread */
    thr_fd = a;
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, thread_reader, NULL), 0);
    nap_ms(10);
    WT_CHECK_EQ(wf_write(b, "thr", 3, WF_FOREVER), 3);
    pthread_join(t, NULL);
    /* a plain thread blocked in a read is released by shutdown */
    char c1;
    WT_CHECK_EQ(wf_read(a, &c1, 1, wf_deadline_in(5 * WF_MSEC)), WF_ETIMEDOUT);
    wf_close(a);
    wf_close(b);
    shutdown_clean();
    /* without a runtime a call that would wait says so */
    int l = wf_tcp_listen("127.0.0.1", 0, 1);
    WT_CHECK(l >= 0);
    WT_CHECK_EQ(wf_accept(l, NULL, NULL, WF_FOREVER), WF_ESHUTDOWN);
    wf_close(l);
}

static void *vec_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    char x[3] = "abc", y[4] = "defg";
    struct iovec out[2] = {{x, 3}, {y, 4}};
    WT_CHECK_EQ(wf_writev(a, out, 2, WF_FOREVER), 7);
    char p[2], q[5];
    struct iovec in[2] = {{p, 2}, {q, 5}};
    WT_CHECK_EQ(wf_recv(b, q, 5, MSG_PEEK, WF_FOREVER) > 0, 1);
    size_t got = 0;
    while (got < 7) {
        ssize_t r = wf_readv(b, in, 2, WF_FOREVER);
        WT_CHECK(r > 0);
        got += (size_t)r;
        /* advance the vector (only a short first read is possible here) */
        if (got < 7) {
            size_t skip = (size_t)r;
            while (skip) {
                size_t k = skip < in[0].iov_len ? skip : in[0].iov_len;
                in[0].iov_base = (char *)in[0].iov_base + k;
                in[0].iov_len -= k;
                skip -= k;
                if (in[0].iov_len == 0) {
                    in[0] = in[1];
                    in[1].iov_len = 0;
                }
            }
        }
    }
    WT_CHECK(memcmp(p, "ab", 2) == 0 && memcmp(q, "cdefg", 5) == 0);
    WT_CHECK_EQ(wf_send(b, "hi", 2, 0, WF_FOREVER), 2);
    char h[2];
    WT_CHECK_EQ(wf_recv(a, h, 2, MSG_WAITALL, WF_FOREVER), 2);
    WT_CHECK(memcmp(h, "hi", 2) == 0);
    WT_CHECK_EQ(wf_readv(a, NULL, -1, WF_FOREVER), WF_EINVAL);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(vectors_and_flags) { run_main(2, vec_main, NULL); }

static void *pipe_writer(void *arg)
{
    int fd = (int)P2U(arg);
    wf_sleep(5 * WF_MSEC);
    WT_CHECK_EQ(wf_write(fd, "p", 1, WF_FOREVER), 1);
    return NULL;
}

static void *pipe_main(void *arg)
{
    (void)arg;
    int p[2];
    WT_CHECK_EQ(pipe(p), 0);
    WT_CHECK_EQ(wf_fd_register(p[0]), 0);
    WT_CHECK_EQ(wf_fd_register(p[1]), 0);
    WT_CHECK_EQ(wf_fd_wait(p[0], WF_IO_READ, wf_deadline_in(WF_MSEC)),
                WF_ETIMEDOUT);
    struct wf_fiber w = go(pipe_writer, U2P(p[1]));
    WT_CHECK(wf_fd_wait(p[0], WF_IO_READ, WF_FOREVER) & WF_IO_READ);
    char c;
    WT_CHECK_EQ(wf_read(p[0], &c, 1, WF_FOREVER), 1);
    join(w);
    WT_CHECK(wf_fd_wait(p[1], WF_IO_WRITE, WF_FOREVER) & WF_IO_WRITE);
    /* a pipe whose reader is gone: EPIPE (SIGPIPE ignored for pipes) */
    signal(SIGPIPE, SIG_IGN);
    WT_CHECK_EQ(wf_close(p[0]), 0);
    WT_CHECK_EQ(wf_write(p[1], "q", 1, WF_FOREVER), WF_EPIPE);
    WT_CHECK_EQ(wf_close(p[1]), 0);
    return NULL;
}

WT_CASE(pipe_wait) { run_main(2, pipe_main, NULL); }

/* wf_close right after the descriptor's first wait: the registration is
 * brand new (io_uring: a poll that fires as it is armed, since a socket
 * is writable at once, which the removal finds running) and must still
 * be gone when wf_close returns, so the peer reads end of stream. */
static void *close_fresh_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        int sv[2];
        WT_CHECK_EQ(socketpair(AF_UNIX,
                               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                               sv),
                    0);
        WT_CHECK_EQ(wf_fd_register(sv[0]), 0);
        WT_CHECK_EQ(wf_fd_register(sv[1]), 0);
        char c;
        WT_CHECK_EQ(wf_read(sv[0], &c, 1, 0), WF_ETIMEDOUT);
        WT_CHECK_EQ(wf_close(sv[0]), 0);
        WT_CHECK_EQ(wf_read(sv[1], &c, 1, wf_deadline_in(3 * WF_SEC)), 0);
        WT_CHECK_EQ(wf_close(sv[1]), 0);
    }
    return NULL;
}

WT_CASE(close_fresh_registration) { run_main(2, close_fresh_main, NULL); }

/* ---- idle ------------------------------------------------------------------------ */

/* State letter of the thread named `name` ('?' if none), from /proc. */
static char thread_state(const char *name)
{
    char path[300], buf[512], comm[32];
    char st = '?';
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return st;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        comm[0] = 0;
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        if (strcmp(comm, name) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", de->d_name);
        f = fopen(path, "r");
        if (f && fgets(buf, sizeof buf, f)) {
            char *p = strrchr(buf, ')');
            if (p && p[1] == ' ')
                st = p[2];
        }
        if (f)
            fclose(f);
        break;
    }
    closedir(d);
    return st;
}

/* Many open, idle connections: the reactor thread sleeps in the kernel
 * (state S), it does not poll. Checked by sampling its state; a reactor
 * that spun would be seen running (R) in nearly every sample.
 *
 * The samples are taken by a plain thread while the main fiber waits on a
 * semaphore, so that the runtime is idle: a worker blocks in the poll with
 * no deadline and the reactor thread, after DEEP_AFTER naps that found it
 * there, sleeps on its futex until woken (reactor.c). A fiber sampling
 * between 1 ms sleeps kept a worker leaving the poll every millisecond,
 * so the reactor kept napping 2 ms at a time, and whether 20 samples in a
 * row missed its brief wake-ups depended on the machine's load (CI's
 * valgrind step, loaded: 8 in a row at best in 400). */
struct idle_sampling {
    struct wf_sem done;
    int sleeping; /* samples in a row that found it asleep */
    int missing;  /* samples that found no reactor thread */
};

static void *idle_sampler(void *arg)
{
    struct idle_sampling *s = arg;
    for (int i = 0; i < 400 && s->sleeping < 20; i++) {
        nap_ms(1);
        char st = thread_state("weft-reactor");
        s->missing += st == '?';
        s->sleeping = st == 'S' ? s->sleeping + 1 : 0;
    }
    wf_sem_post(&s->done);
    return NULL;
}

static void *idle_main(void *arg)
{
    (void)arg;
    enum { N = 100 };
    int a[N], b[N];
    for (int i = 0; i < N; i++)
        tcp_pair(&a[i], &b[i]);
    char c;
    WT_CHECK_EQ(wf_read(a[0], &c, 1, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);
    struct idle_sampling s = {.sleeping = 0};
    WT_CHECK_EQ(wf_sem_init(&s.done, 0), 0);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, idle_sampler, &s), 0);
    WT_CHECK_EQ(wf_sem_wait(&s.done, WF_FOREVER), 0);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    WT_CHECK_EQ(s.missing, 0);
    WT_CHECK_EQ(s.sleeping, 20);
    WT_CHECK_EQ(wf_sem_destroy(&s.done), 0);
    for (int i = 0; i < N; i++) {
        wf_close(a[i]);
        wf_close(b[i]);
    }
    return NULL;
}

WT_CASE(idle_reactor_sleeps) { run_main(2, idle_main, NULL); }

/* ---- stress: deadlines racing readiness ------------------------------------------- */

/* Pairs of fibers: a writer sends numbered bytes after a random number of
 * yields, a reader reads them with random short deadlines that race the
 * writes. Every byte must arrive exactly once and in order: a timed-out
 * read loses nothing and a wake-up is never lost (the reader would hang). */
struct race_pair {
    int a, b;
    uint64_t seed;
};

static void *race_writer(void *arg)
{
    struct race_pair *p = arg;
    uint64_t seed = p->seed;
    for (int i = 0; i < 200; i++) {
        for (unsigned k = (unsigned)(wt_rand(&seed) % 4); k > 0; k--)
            wf_yield();
        unsigned char c = (unsigned char)i;
        WT_CHECK_EQ(wf_write(p->a, &c, 1, WF_FOREVER), 1);
    }
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race_pair *p = arg;
    uint64_t seed = p->seed ^ 0x5555;
    int next = 0;
    while (next < 200) {
        unsigned char buf[8];
        int64_t dl = (wt_rand(&seed) % 3) ? wf_deadline_in((int64_t)(
                                                  wt_rand(&seed) % 50) * WF_USEC)
                                          : WF_FOREVER;
        ssize_t r = wf_read(p->b, buf, sizeof buf, dl);
        if (r == WF_ETIMEDOUT)
            continue;
        WT_CHECK(r > 0);
        for (ssize_t i = 0; i < r; i++)
            WT_CHECK_EQ(buf[i], (unsigned char)next++);
    }
    return NULL;
}

static void *race_main(void *arg)
{
    (void)arg;
    enum { NPAIRS = 16 };
    static struct race_pair p[NPAIRS];
    uint64_t seed = wt_seed();
    struct wf_fiber f[2 * NPAIRS];
    int rounds = (int)scaled(50);
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < NPAIRS; i++) {
            tcp_pair(&p[i].a, &p[i].b);
            p[i].seed = wt_rand(&seed);
            f[2 * i] = go(race_writer, &p[i]);
            f[2 * i + 1] = go(race_reader, &p[i]);
        }
        for (int i = 0; i < 2 * NPAIRS; i++)
            join(f[i]);
        for (int i = 0; i < NPAIRS; i++) {
            wf_close(p[i].a);
            wf_close(p[i].b);
        }
    }
    return NULL;
}

WT_CASE(stress_deadline_race)
{
    wt_seed();
    run_main(wt_threads(2), race_main, NULL);
}

/* ---- futures ------------------------------------------------------------------ */

static atomic_int then_calls;
static void count_then(struct wf_future *f, void *arg)
{
    (void)f;
    (void)arg;
    atomic_fetch_add(&then_calls, 1);
}

static void *futures_main(void *arg)
{
    (void)arg;
    int l = wf_tcp_listen("127.0.0.1", 0, 8);
    WT_CHECK(l >= 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)wf_local_port(l));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct wf_future *acc, *con, *w, *r;
    void *v;
    WT_CHECK_EQ(wf_accept_future(&acc, l, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_connect_future(&con, (struct sockaddr *)&sin, sizeof sin,
                                  WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_await(acc, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_await(con, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(acc, &v), 0);
    int s = (int)(intptr_t)v;
    WT_CHECK_EQ(wf_future_result(con, &v), 0);
    int c = (int)(intptr_t)v;
    WT_CHECK(s >= 0 && c >= 0);
    wf_future_release(acc);
    wf_future_release(con);

    /* a read future with a callback, completed by a write future whose
     * source buffer is gone before it runs */
    WT_CHECK_EQ(wf_read_future(&r, s, 64, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_then(r, count_then, NULL), 0);
    {
        char tmp[6] = "hello";
        WT_CHECK_EQ(wf_write_future(&w, c, tmp, 5, WF_FOREVER), 0);
        memset(tmp, 'x', sizeof tmp);
    }
    WT_CHECK_EQ(wf_future_await(w, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(w, &v), 0);
    WT_CHECK_EQ(P2U(v), 5);
    WT_CHECK_EQ(wf_future_await(r, WF_FOREVER), 0);
    /* The completer wakes the awaiters, then runs the callbacks: an
     * awaiter on another worker may look before the callback has run
     * (seen under TSan on a loaded machine). It runs exactly once. */
    for (int64_t end = wf_deadline_in(10 * WF_SEC);
         atomic_load(&then_calls) == 0 && wf_now() < end;)
        wf_sleep(WF_MSEC);
    WT_CHECK_EQ(atomic_load(&then_calls), 1);
    WT_CHECK_EQ(wf_future_result(r, &v), 0);
    struct wf_iobuf *b = v;
    WT_CHECK(b->len >= 1 && b->len <= 5);
    WT_CHECK(memcmp(b->data, "hello", b->len) == 0);
    wf_future_release(r);
    wf_future_release(w);

    /* cancelling a blocked read, and releasing it at once */
    char drain[8];
    while (wf_read(s, drain, sizeof drain, 0) > 0) {
    }
    WT_CHECK_EQ(wf_read_future(&r, s, 64, WF_FOREVER), 0);
    wf_sleep(2 * WF_MSEC);
    WT_CHECK_EQ(wf_future_cancel(r), 0);
    WT_CHECK_EQ(wf_future_result(r, NULL), WF_ECANCELED);
    wf_future_release(r);
    /* a cancelled accept takes nothing (a later connection stays queued) */
    WT_CHECK_EQ(wf_accept_future(&acc, l, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_cancel(acc), 0);
    wf_future_release(acc);
    /* errors come through the future */
    WT_CHECK_EQ(wf_read_future(&r, -1, 1, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_await(r, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(r, NULL), WF_EBADF);
    wf_future_release(r);
    WT_CHECK_EQ(wf_write_future(&w, c, NULL, 1, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_connect_future(&w, NULL, 0, WF_FOREVER), WF_EINVAL);
    /* Let the cancelled operations' fibers return (they free their jobs;
     * nothing observable says when, and a fiber still runnable at shutdown
     * would be discarded with its job, which LSan reports). */
    wf_sleep(20 * WF_MSEC);
    wf_close(s);
    wf_close(c);
    wf_close(l);
    return NULL;
}

WT_CASE(futures) { run_main(2, futures_main, NULL); }

WT_CASE(futures_from_thread)
{
    struct wf_future *f;
    WT_CHECK_EQ(wf_accept_future(&f, 0, WF_FOREVER), WF_ESHUTDOWN);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    int a, b;
    tcp_pair(&a, &b);
    WT_CHECK_EQ(wf_read_future(&f, a, 16, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_write(b, "hey", 3, WF_FOREVER), 3);
    WT_CHECK_EQ(wf_future_wait(f, WF_FOREVER), 0);
    void *v;
    WT_CHECK_EQ(wf_future_result(f, &v), 0);
    WT_CHECK_EQ(((struct wf_iobuf *)v)->len, 3);
    wf_future_release(f);
    wf_close(a);
    wf_close(b);
    shutdown_clean();
}

WT_MAIN()
