/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_io_hooks.c - reactor races replayed through the hooks
 * of src/async/async_test.h, on each backend (WEFT_IO, see
 * tests/async/CMakeLists.txt).
 *
 * Descriptor reuse. A call reads its descriptor's generation before its
 * attempt; when the descriptor is closed and its number given to a new
 * socket before the call waits, the wait must fail with WF_EBADF and
 * leave the reactor alone: registering the new socket under the old
 * generation's key would drop its events as stale (epoll: the key
 * replaces the new socket's own), or arm a second poll that wf_close
 * does not remove and that keeps the socket open (io_uring). The wait
 * hook runs the close and the reuse inside that window, after the wait
 * has seen the old descriptor unregistered, so the race is replayed
 * every time; each case then checks (a) the stale wait returns WF_EBADF
 * without a registration, (b) the new socket's reader is woken by data
 * (its deadline is only a hang guard), (c) after wf_close of the new
 * socket its peer reads end of stream (no poll holds it open).
 */
#include <weft.h>
#include <weft/io.h>

#include "async/async_test.h"
#include "wt_backend.h"
#include "wtest_rt.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

/* What the hook does: `act`, once, in the first wait on (fd, dir) after
 * it was armed. */
static struct {
    int fd;
    int dir;
    void (*act)(void);
} H;
static atomic_bool armed;

static void hook(int fd, int dir)
{
    if (fd == H.fd && dir == H.dir && atomic_exchange(&armed, false))
        H.act();
}

static void arm(int fd, int dir, void (*act)(void))
{
    H.fd = fd;
    H.dir = dir;
    H.act = act;
    atomic_store(&armed, true);
}

static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

/* A connected Unix stream pair, non-blocking, made known to weft. */
static void unix_pair(int *a, int *b)
{
    int sv[2];
    WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                           0, sv),
                0);
    WT_CHECK_EQ(wf_fd_register(sv[0]), 0);
    WT_CHECK_EQ(wf_fd_register(sv[1]), 0);
    *a = sv[0];
    *b = sv[1];
}

static struct {
    int num;            /* the descriptor number that is reused */
    int peer;           /* the new socket's other end */
    bool register_new;  /* the new socket waits (registers) in the window */
    long adds;          /* registrations when the window closed */
} S;

/* In the stale wait's window: close S.num and give its number to a new
 * socket, which is registered there when S.register_new. */
static void reuse(void)
{
    WT_CHECK_EQ(wf_close(S.num), 0);
    int x, y;
    unix_pair(&x, &y);
    if (y == S.num) { /* the pair is symmetric: y is the new socket */
        y = x;
        x = S.num;
    }
    if (x != S.num) { /* the kernel gave out another number: move it */
        WT_CHECK_EQ(dup3(x, S.num, O_CLOEXEC), S.num);
        WT_CHECK_EQ(wf_close(x), 0);
        WT_CHECK_EQ(wf_fd_register(S.num), 0);
    }
    S.peer = y;
    if (S.register_new) {
        char c;
        WT_CHECK_EQ(wf_read(S.num, &c, 1, wf_deadline_in(WF_MSEC)),
                    WF_ETIMEDOUT);
    }
    S.adds = wf__test_reactor_adds();
}

/* Data for the new socket, sent once its reader's attempt has failed. */
static void feed(void)
{
    WT_CHECK_EQ(wf_write(S.peer, "n", 1, WF_FOREVER), 1);
}

static void *reuse_main(void *arg)
{
    S.register_new = (bool)P2U(arg);
    int a, b;
    unix_pair(&a, &b);
    S.num = a;
    char c;

    /* (a) The stale wait: refused, nothing registered. */
    arm(a, 0, reuse);
    WT_CHECK_EQ(wf_read(a, &c, 1, wf_deadline_in(10 * WF_SEC)), WF_EBADF);
    WT_CHECK(!atomic_load(&armed));
    WT_CHECK_EQ(wf__test_reactor_adds(), S.adds);

    /* (b) The new socket with the same number: its reader wakes when
     * data arrives. */
    arm(a, 0, feed);
    WT_CHECK_EQ(wf_read(a, &c, 1, wf_deadline_in(10 * WF_SEC)), 1);
    WT_CHECK(!atomic_load(&armed));
    WT_CHECK_EQ(c, 'n');

    /* (c) Closed, it is closed: its peer reads end of stream. */
    WT_CHECK_EQ(wf_close(a), 0);
    WT_CHECK_EQ(wf_read(S.peer, &c, 1, wf_deadline_in(10 * WF_SEC)), 0);

    WT_CHECK_EQ(wf_close(S.peer), 0);
    WT_CHECK_EQ(wf_close(b), 0);
    return NULL;
}

static void reuse_case(bool register_new)
{
    int before = open_fds();
    wf__test_set_wait_hook(hook);
    run_main(2, reuse_main, U2P(register_new));
    wf__test_set_wait_hook(NULL);
    WT_CHECK_EQ(open_fds(), before);
}

/* The new socket waits before the stale wait goes on: with epoll the
 * stale key used to replace its registration's (EEXIST, then MOD). */
WT_CASE(reuse_new_registered) { reuse_case(true); }

/* The stale wait goes on first: the stale key used to become the new
 * socket's registration (epoll, replaced by its own later) or a second
 * poll on it (io_uring). */
WT_CASE(reuse_new_unregistered) { reuse_case(false); }

/* ---- a new call inside wf_close ------------------------------------------ */

/* wf_close forgets the descriptor, then closes it. A call that starts
 * in between reads the new generation, finds the descriptor still open
 * (its attempt would block) and waits: it must return WF_EBADF once the
 * close is done, not sleep on a descriptor that no longer exists (epoll
 * drops the registration with the file; an io_uring poll would even keep
 * the file open). The close hook starts that call in the window and
 * returns once it has registered (or returned). */
static struct {
    int fd;
    bool fiber;         /* the new call is a fiber's, else a thread's */
    atomic_bool done;
    atomic_long res;
} C;

static void *late_read(void *arg)
{
    (void)arg;
    char c;
    ssize_t r = wf_read(C.fd, &c, 1, wf_deadline_in(3 * WF_SEC));
    atomic_store(&C.res, (long)r);
    atomic_store(&C.done, true);
    return NULL;
}

static pthread_t late_thread;

static void close_hook(int fd)
{
    if (fd != C.fd)
        return;
    long adds = wf__test_reactor_adds();
    if (C.fiber)
        WT_CHECK_EQ(wf_go(NULL, late_read, NULL), 0);
    else
        WT_CHECK_EQ(pthread_create(&late_thread, NULL, late_read, NULL), 0);
    while (wf__test_reactor_adds() == adds && !atomic_load(&C.done))
        wf_yield();
    /* Takes the reactor's lock: the registration counted is made. */
    (void)wf_io_backend();
}

static void *close_window_main(void *arg)
{
    C.fiber = (bool)P2U(arg);
    for (int round = 0; round < 4; round++) {
        int a, b;
        unix_pair(&a, &b);
        C.fd = a;
        atomic_store(&C.done, false);
        char c;
        if (round & 1) /* registered before the close, or not */
            WT_CHECK_EQ(wf_read(a, &c, 1, 0), WF_ETIMEDOUT);
        wf__test_set_close_hook(close_hook);
        WT_CHECK_EQ(wf_close(a), 0);
        wf__test_set_close_hook(NULL);
        while (!atomic_load(&C.done))
            wf_yield();
        if (!C.fiber)
            WT_CHECK_EQ(pthread_join(late_thread, NULL), 0);
        WT_CHECK_EQ(atomic_load(&C.res), WF_EBADF);
        /* Closed, it is closed: the peer reads end of stream. */
        WT_CHECK_EQ(wf_read(b, &c, 1, wf_deadline_in(3 * WF_SEC)), 0);
        WT_CHECK_EQ(wf_close(b), 0);
    }
    return NULL;
}

static void close_window_case(bool fiber)
{
    int before = open_fds();
    run_main(2, close_window_main, U2P(fiber));
    WT_CHECK_EQ(open_fds(), before);
}

WT_CASE(close_window_thread) { close_window_case(false); }
WT_CASE(close_window_fiber) { close_window_case(true); }

/* wf_tcp_connect gives each address a share of the time left, so one
 * that does not answer (its attempt ends WF_ETIMEDOUT) leaves time to the
 * next; before, the first attempt had the whole deadline. */
WT_CASE(connect_attempt_share)
{
    const int64_t t = 1000 * WF_SEC;
    WT_CHECK_EQ(wf__connect_attempt_deadline(t, t + 3 * WF_SEC, 3), t + WF_SEC);
    WT_CHECK_EQ(wf__connect_attempt_deadline(t, t + 3 * WF_SEC, 2),
                t + 3 * WF_SEC / 2);
    /* the last address: all that is left */
    WT_CHECK_EQ(wf__connect_attempt_deadline(t, t + 3 * WF_SEC, 1),
                t + 3 * WF_SEC);
    /* no deadline, or one already passed: as it is */
    WT_CHECK_EQ(wf__connect_attempt_deadline(t, WF_FOREVER, 4), WF_FOREVER);
    WT_CHECK_EQ(wf__connect_attempt_deadline(t, t - 5, 4), t - 5);
    WT_CHECK_EQ(wf__connect_attempt_deadline(t, t, 4), t);
    /* a share is never past the deadline, and never empty while time is
     * left (7 ns over 8 addresses rounded down to none before) */
    for (size_t left = 1; left < 100; left++) {
        int64_t d = wf__connect_attempt_deadline(t, t + 7, left);
        WT_CHECK(d > t && d <= t + 7);
        d = wf__connect_attempt_deadline(t, t + 50 * WF_MSEC, left);
        WT_CHECK(d >= t + (left < 50 ? 50 * WF_MSEC / (int64_t)left : WF_MSEC));
    }
}

WT_MAIN()
