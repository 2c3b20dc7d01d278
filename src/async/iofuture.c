/* SPDX-License-Identifier: MIT */
/*
 * Socket operations as futures (weft/io.h, "callback style"): each runs
 * the fiber-blocking call in a fiber of its own (wf_async's pattern) and
 * completes a future with the outcome.
 *
 * Ownership is what makes these safe. A future can be cancelled at any
 * moment while the operation's fiber may still be inside a system call,
 * so no caller memory is used: a write copies the caller's bytes into the
 * job; a read reads into a buffer of the job's and hands it over with the
 * future (wf_promise_complete_owned: freed with the future); an accepted
 * or connected descriptor that arrives after the future was cancelled is
 * closed by the job (nobody could receive it). Cancelling the future
 * cancels the fiber, so a blocked call returns at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/fault.h"
#include "async_int.h"
#include "weft/fiber.h"
#include "weft/future.h"
#include "weft/io.h"

enum { J_READ, J_WRITE, J_ACCEPT, J_CONNECT };

struct iojob {
    int kind;
    int fd;
    int64_t deadline;
    size_t n;
    struct wf_promise *p;
    struct wf_fiber self;
    struct sockaddr_storage addr; /* J_CONNECT */
    socklen_t addrlen;
    struct wf_iobuf *rbuf;        /* J_READ */
    unsigned char data[];         /* J_WRITE: the bytes to write */
};

static void job_cancel(void *arg)
{
    struct iojob *j = arg;
    wf_cancel(j->self);
}

static void drop_buf(void *b)
{
    free(b);
}

static void *job_body(void *arg)
{
    struct iojob *j = arg;
    j->self = wf_self();
    if (wf_promise_on_cancel(j->p, job_cancel, j) == WF_ECANCELED)
        wf_cancel(j->self);
    ssize_t r;
    switch (j->kind) {
    case J_READ:
        r = wf_read(j->fd, j->rbuf->data, j->n, j->deadline);
        if (r >= 0) {
            j->rbuf->len = (size_t)r;
            if (wf_promise_complete_owned(j->p, j->rbuf, drop_buf) != 0)
                free(j->rbuf);
        } else {
            free(j->rbuf);
            wf_promise_fail(j->p, (int)r);
        }
        break;
    case J_WRITE:
        r = wf_write_all(j->fd, j->data, j->n, NULL, j->deadline);
        if (r >= 0)
            wf_promise_complete(j->p, (void *)(uintptr_t)r);
        else
            wf_promise_fail(j->p, (int)r);
        break;
    default:
        r = j->kind == J_ACCEPT
                ? wf_accept(j->fd, NULL, NULL, j->deadline)
                : wf_connect((struct sockaddr *)&j->addr, j->addrlen,
                             j->deadline);
        if (r < 0)
            wf_promise_fail(j->p, (int)r);
        else if (wf_promise_complete(j->p, (void *)(intptr_t)r) != 0)
            wf_close((int)r); /* cancelled meanwhile: nobody takes it */
        break;
    }
    /* complete/fail waited for a running cancel handler: j can go. */
    free(j);
    return NULL;
}

static int start(struct wf_future **out, struct iojob *j)
{
    struct wf_future *f;
    int err = wf_promise_create(&j->p, &f);
    if (err)
        goto out_job;
    err = wf__rt_running() ? wf_go(NULL, job_body, j) : WF_ESHUTDOWN;
    if (err)
        goto out_promise;
    *out = f;
    return 0;

out_promise:
    wf_promise_fail(j->p, err);
    wf_future_release(f);
out_job:
    free(j->rbuf);
    free(j);
    return err;
}

static struct iojob *job_new(int kind, int fd, int64_t deadline, size_t extra)
{
    struct iojob *j = wf__calloc(1, sizeof *j + extra);
    if (j) {
        j->kind = kind;
        j->fd = fd;
        j->deadline = deadline;
    }
    return j;
}

int wf_read_future(struct wf_future **out, int fd, size_t n, int64_t deadline)
{
    if (!out)
        return WF_EINVAL;
    struct iojob *j = job_new(J_READ, fd, deadline, 0);
    if (!j)
        return WF_ENOMEM;
    j->n = n;
    if (n > SIZE_MAX - sizeof *j->rbuf) {
        free(j);
        return WF_ENOMEM;
    }
    j->rbuf = wf__malloc(sizeof *j->rbuf + (n ? n : 1));
    if (!j->rbuf) {
        free(j);
        return WF_ENOMEM;
    }
    j->rbuf->data = (unsigned char *)(j->rbuf + 1);
    return start(out, j);
}

int wf_write_future(struct wf_future **out, int fd, const void *buf, size_t n,
                    int64_t deadline)
{
    if (!out || (!buf && n))
        return WF_EINVAL;
    if (n > SIZE_MAX - sizeof(struct iojob))
        return WF_ENOMEM;
    struct iojob *j = job_new(J_WRITE, fd, deadline, n);
    if (!j)
        return WF_ENOMEM;
    j->n = n;
    if (n)
        memcpy(j->data, buf, n);
    return start(out, j);
}

int wf_accept_future(struct wf_future **out, int lfd, int64_t deadline)
{
    if (!out)
        return WF_EINVAL;
    struct iojob *j = job_new(J_ACCEPT, lfd, deadline, 0);
    if (!j)
        return WF_ENOMEM;
    return start(out, j);
}

int wf_connect_future(struct wf_future **out, const struct sockaddr *addr,
                      socklen_t len, int64_t deadline)
{
    if (!out || !addr || len > sizeof(struct sockaddr_storage))
        return WF_EINVAL;
    struct iojob *j = job_new(J_CONNECT, -1, deadline, 0);
    if (!j)
        return WF_ENOMEM;
    memcpy(&j->addr, addr, len);
    j->addrlen = len;
    return start(out, j);
}
