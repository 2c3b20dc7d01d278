/* SPDX-License-Identifier: MIT */
/*
 * tests/async/wt_rings.h - what the ring tests share (test_rings.c,
 * test_rings_mshot.c, test_rings_macc.c): a guard deadline, whether
 * rings and multishot are asked for and rings in use, fibers started and
 * joined under the guard; the TCP pair is wt_tcp.h's.
 */
#ifndef WEFT_TESTS_WT_RINGS_H
#define WEFT_TESTS_WT_RINGS_H

#include <weft.h>
#include <weft/io.h>

#include "wt_tcp.h"
#include "wtest_rt.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GUARD (20 * WF_SEC)

/* Whether variable name is set to v (the variants set "1" or "0"). */
static inline bool env_is(const char *name, const char *v)
{
    const char *s = getenv(name);
    return s && strcmp(s, v) == 0;
}

static inline bool rings_wanted(void)
{
    return env_is("WEFT_IO_RINGS", "1");
}

/* Multishot receives and accepts asked for (they need the rings). */
static inline bool mshot(void)
{
    return rings_wanted() && env_is("WEFT_IO_MSHOT", "1");
}

/* Rings must be in use when asked for (skip where the kernel refuses). */
static inline void check_rings(void)
{
    if (rings_wanted() && !wf_io_rings()) {
        fprintf(stderr, "SKIP: WEFT_IO_RINGS=1 but no ring here\n");
        exit(77);
    }
    if (!rings_wanted())
        WT_CHECK(!wf_io_rings());
}

static inline struct wf_fiber go(wf_fiber_fn *fn, void *arg)
{
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, fn, arg), 0);
    return f;
}

static inline void *join(struct wf_fiber f)
{
    void *r = NULL;
    WT_CHECK_EQ(wf_join(f, &r, wf_deadline_in(GUARD)), 0);
    return r;
}

/* wf_close(fd), then its number given at once to a new descriptor, a
 * duplicate of `to`: F_DUPFD takes the lowest free number from fd's, so
 * the result is fd's number unless another thread of the process (the
 * runtime's monitor opening a /proc file, say) took it first; dup2 would
 * close that thread's file under it. Returns the new descriptor (>= fd);
 * the caller closes it and `to`. */
static inline int close_and_reuse(int fd, int to)
{
    WT_CHECK_EQ(wf_close(fd), 0);
    int n = fcntl(to, F_DUPFD_CLOEXEC, fd);
    WT_CHECK(n >= fd);
    return n;
}

/* A unix socket pair (sv[0] non-blocking) whose sv[1] has written
 * "other": what a reused number must hand back untouched. */
static inline void other_pair(int sv[2])
{
    WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    WT_CHECK_EQ(write(sv[1], "other", 5), 5);
}

/* The "other" that other_pair wrote, read from fd: nothing was taken. */
static inline void check_other(int fd)
{
    char buf[8];
    WT_CHECK_EQ(read(fd, buf, sizeof buf), 5);
    WT_CHECK(memcmp(buf, "other", 5) == 0);
}

#endif
