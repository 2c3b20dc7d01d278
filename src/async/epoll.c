/* SPDX-License-Identifier: MIT */
/*
 * The epoll reactor backend (contract in backend.h).
 *
 * One epoll instance; every descriptor is added once with
 * EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, its key in data.u64, so a
 * registration costs one epoll_ctl for the descriptor's whole life and
 * waiting never re-arms anything. Edge triggering is what makes that
 * possible: the reactor only counts edges, and a waiter re-tries its
 * system call after each (reactor.c). wakeup() writes an eventfd that is
 * registered level-triggered under key WAKE_KEY, which wait() swallows.
 *
 * Workers may wait themselves (workers_poll; reactor.c's poller token
 * lets one thread at a time in). A deadline is kept to the nanosecond
 * with epoll_pwait2 (Linux 5.11); where the kernel lacks it, epoll_wait's
 * milliseconds, rounded up so that a timer is never polled for early.
 */
#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/fault.h"
#include "backend.h"
#include "weft/common.h"

#define WAKE_KEY UINT64_MAX

struct ep {
    int epfd;
    int evfd;
};

static int ep_open(void **out)
{
    struct ep *e = wf__malloc(sizeof *e);
    if (!e)
        return -ENOMEM;
    int err;
    e->epfd = wf__fd(epoll_create1(EPOLL_CLOEXEC));
    if (e->epfd < 0) {
        err = -errno;
        goto out_free;
    }
    e->evfd = wf__fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (e->evfd < 0) {
        err = -errno;
        goto out_ep;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_KEY};
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->evfd, &ev) != 0) {
        err = -errno;
        goto out_ev;
    }
    *out = e;
    return 0;

out_ev:
    close(e->evfd);
out_ep:
    close(e->epfd);
out_free:
    free(e);
    return err;
}

static int ep_add(void *st, int fd, uint64_t key)
{
    struct ep *e = st;
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u64 = key,
    };
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    /* EEXIST: this file is in the set under this number already, with a
     * key the table has dropped (say it outlived a close(2) that weft did
     * not see, through a dup). The reactor only adds current keys (it
     * refuses a wait whose generation moved on), so this key replaces
     * the old one. */
    if (errno == EEXIST)
        return epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -errno;
    return -errno;
}

static int ep_del(void *st, int fd, uint64_t key)
{
    (void)key;
    struct ep *e = st;
    return epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno;
}

/* epoll_pwait2 is missing (ENOSYS): epoll_wait with milliseconds. */
static atomic_bool no_pwait2;

static int ep_epoll_wait(struct ep *e, struct epoll_event *buf, int max,
                         int64_t deadline)
{
    if (deadline == WF_FOREVER)
        return epoll_wait(e->epfd, buf, max, -1);
    int64_t left = deadline - wf_now();
    if (left <= 0)
        return epoll_wait(e->epfd, buf, max, 0);
    /* relaxed: a cached answer of the kernel; any thread may find it. */
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec ts = {.tv_sec = left / 1000000000,
                              .tv_nsec = left % 1000000000};
        int n = epoll_pwait2(e->epfd, buf, max, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        atomic_store_explicit(&no_pwait2, true, memory_order_relaxed);
    }
    int64_t ms = (left + 999999) / 1000000;
    return epoll_wait(e->epfd, buf, max, ms > INT_MAX ? INT_MAX : (int)ms);
}

static int ep_wait(void *st, struct wf__backend_ev *evs, int max,
                   int64_t deadline)
{
    struct ep *e = st;
    struct epoll_event buf[256];
    if (max > 256)
        max = 256;
    int n = ep_epoll_wait(e, buf, max, deadline);
    if (n < 0)
        return -errno;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (buf[i].data.u64 == WAKE_KEY) {
            uint64_t v;
            while (read(e->evfd, &v, sizeof v) > 0) {
            }
            continue;
        }
        unsigned x = 0;
        uint32_t m = buf[i].events;
        if (m & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            x |= WF__EV_READ;
        if (m & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            x |= WF__EV_WRITE;
        evs[k].key = buf[i].data.u64;
        evs[k].events = x;
        k++;
    }
    return k;
}

static void ep_wakeup(void *st)
{
    struct ep *e = st;
    uint64_t one = 1;
    /* Fails only when the counter is full, which wakes the reactor too. */
    ssize_t rc = write(e->evfd, &one, sizeof one);
    (void)rc;
}

static void ep_close(void *st)
{
    struct ep *e = st;
    close(e->evfd);
    close(e->epfd);
    free(e);
}

const struct wf__backend wf__backend_epoll = {
    .name = "epoll",
    .open = ep_open,
    .add = ep_add,
    .del = ep_del,
    .wait = ep_wait,
    .wakeup = ep_wakeup,
    .workers_poll = true,
    .close = ep_close,
};
