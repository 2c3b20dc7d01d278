/* SPDX-License-Identifier: MIT */
/*
 * The io_uring reactor backend (contract in backend.h), through liburing.
 *
 * Readiness comes from multishot poll requests (IORING_OP_POLL_ADD with
 * IORING_POLL_ADD_MULTI, Linux 5.13): one per descriptor, for POLLIN |
 * POLLOUT | POLLRDHUP, which posts a completion at every wake-up of the
 * descriptor and stays armed - edge semantics, like EPOLLET (a descriptor
 * ready when the poll is armed is reported at once). Its user_data is the
 * registration key. A completion without IORING_CQE_F_MORE means the
 * request ended (multishot polls end when the completion queue
 * overflows); it is reported with WF__EV_ENDED and the reactor re-adds the
 * descriptor while it is current.
 *
 * Only the reactor thread submits. io_uring ties a request to the task
 * that submitted it: the poll's wake-up work runs on that thread (a worker
 * parked on its futex would be interrupted for it) and the requests are
 * cancelled when that thread exits (a plain thread that did one wait and
 * left would silently take its descriptors' polls with it; an earlier
 * version that submitted from the calling thread hung that way). So add()
 * and del() queue an operation under `lock` and wake the reactor through
 * an eventfd that the reactor itself polls (key WAKE_KEY); the reactor
 * submits the queued operations before each wait.
 *
 * File operations (read, write, fsync at offsets) are queued the same way
 * and submitted by the reactor; each completion completes the caller's
 * promise from the reactor thread. The reactor does not stop while any is
 * in flight (busy()), so the kernel never writes into a buffer whose
 * fiber the runtime has discarded.
 *
 * del() is synchronous. An armed poll holds a reference to the file, so
 * a close(2) right after queueing the removal would leave the socket open
 * (the peer would see no FIN, a pipe's writer no EPIPE) until the reactor
 * got round to it. del() therefore waits (condvar, a round trip with the
 * reactor thread) until the removal's completion has been reaped. The
 * removal cancels the poll during the reactor's submit, and the cancelled
 * poll completes in task work that the kernel runs on the reactor thread
 * before that system call returns, which puts the file; the pipe_wait
 * test (EPIPE right after wf_close) checks this. Waiting for the poll's
 * own last completion as well was tried and rejected: under load it
 * sometimes never matched, hanging wf_close (the removal alone is what
 * the kernel promises to answer). A removal can find the poll running
 * (-EALREADY: a poll that fired as it was armed, as a socket's does
 * since it is writable at once, when add and removal come in one batch);
 * that poll may stay armed, so the removal is made again in the next
 * round until it answers removed (0) or gone (-ENOENT). The removal's user_data is the address
 * of the waiting record with the top bit set; keys never have it
 * (reactor.c keeps generations to 31 bits).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <liburing.h>

#include "common/fault.h"
#include "backend.h"
#include "weft/common.h"
#include "weft/future.h"

#define WAKE_KEY UINT64_MAX
#define TAG (UINT64_C(1) << 63)
#define RING_ENTRIES 1024

enum { OP_ADD, OP_DEL, OP_FILE };

struct op {
    int kind;
    int fd;
    uint64_t key;
    struct op *next;
    struct wf__fileop *fop;    /* OP_FILE */
    bool done; /* OP_DEL: its removal has completed; lock */
};

struct ur {
    struct io_uring ring;
    int evfd;
    bool wake_armed;           /* reactor thread only */
    pthread_mutex_t lock;      /* ops, inflight, done of del records */
    pthread_cond_t cond;       /* a del record is done */
    struct op *ops, **ops_tail; /* queued for the reactor; lock */
    struct op *inflight;       /* submitted removals; lock */
    atomic_int nfiles;         /* file operations queued or in flight */
};

static int ur_open(void **out)
{
    struct ur *u = wf__calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    struct io_uring_params p = {0};
    int err = wf__uring(io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p),
                        -ENOMEM);
    if (err < 0)
        goto out_free;
    err = -ENOSYS;
    if (!(p.features & IORING_FEAT_NODROP)) /* overflows would lose events */
        goto out_ring;
    u->evfd = wf__fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (u->evfd < 0) {
        err = -errno;
        goto out_ring;
    }
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->cond, NULL);
    u->ops_tail = &u->ops;
    *out = u;
    return 0;

out_ring:
    io_uring_queue_exit(&u->ring);
out_free:
    free(u);
    return err;
}

static void wake(struct ur *u)
{
    uint64_t one = 1;
    /* Fails only when the counter is full, which wakes the reactor too. */
    ssize_t rc = write(u->evfd, &one, sizeof one);
    (void)rc;
}

static void enqueue(struct ur *u, struct op *o)
{
    o->next = NULL;
    pthread_mutex_lock(&u->lock);
    *u->ops_tail = o;
    u->ops_tail = &o->next;
    pthread_mutex_unlock(&u->lock);
    wake(u);
}

static int ur_add(void *st, int fd, uint64_t key)
{
    struct op *o = wf__malloc(sizeof *o);
    if (!o)
        return -ENOMEM;
    o->kind = OP_ADD;
    o->fd = fd;
    o->key = key;
    enqueue(st, o);
    return 0;
}

static int ur_file(void *st, struct wf__fileop *fop)
{
    struct ur *u = st;
    struct op *o = wf__malloc(sizeof *o);
    if (!o)
        return -ENOMEM;
    o->kind = OP_FILE;
    o->fop = fop;
    /* relaxed: a count the reactor thread reads after the enqueue's
     * lock and wake, which order it. */
    atomic_fetch_add_explicit(&u->nfiles, 1, memory_order_relaxed);
    enqueue(u, o);
    return 0;
}

static bool ur_busy(void *st)
{
    struct ur *u = st;
    return atomic_load_explicit(&u->nfiles, memory_order_relaxed) > 0;
}

static int ur_del(void *st, int fd, uint64_t key)
{
    struct ur *u = st;
    struct op o = {.kind = OP_DEL, .fd = fd, .key = key};
    enqueue(u, &o);
    pthread_mutex_lock(&u->lock);
    while (!o.done)
        pthread_cond_wait(&u->cond, &u->lock);
    pthread_mutex_unlock(&u->lock);
    return 0;
}

/* An SQE, flushing the submission queue when it is full. */
static struct io_uring_sqe *sqe_get(struct ur *u)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&u->ring)))
        (void)wf__uring(io_uring_submit(&u->ring), -EAGAIN);
    return sqe;
}

/* Turn queued operations into SQEs (reactor thread). */
static void prepare(struct ur *u)
{
    if (!u->wake_armed) {
        struct io_uring_sqe *sqe = sqe_get(u);
        io_uring_prep_poll_multishot(sqe, u->evfd, POLLIN);
        io_uring_sqe_set_data64(sqe, WAKE_KEY);
        u->wake_armed = true;
    }
    pthread_mutex_lock(&u->lock);
    struct op *list = u->ops;
    u->ops = NULL;
    u->ops_tail = &u->ops;
    pthread_mutex_unlock(&u->lock);
    while (list) {
        struct op *o = list;
        list = o->next;
        struct io_uring_sqe *sqe = sqe_get(u);
        if (o->kind == OP_ADD) {
            io_uring_prep_poll_multishot(sqe, o->fd,
                                         POLLIN | POLLOUT | POLLRDHUP);
            io_uring_sqe_set_data64(sqe, o->key);
            free(o);
        } else if (o->kind == OP_FILE) {
            struct wf__fileop *f = o->fop;
            if (f->kind == WF__FILE_READ)
                io_uring_prep_read(sqe, f->fd, f->buf, (unsigned)f->n,
                                   (uint64_t)f->off);
            else if (f->kind == WF__FILE_WRITE)
                io_uring_prep_write(sqe, f->fd, f->buf, (unsigned)f->n,
                                    (uint64_t)f->off);
            else
                io_uring_prep_fsync(sqe, f->fd, 0);
            io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)o | TAG);
        } else {
            io_uring_prep_poll_remove(sqe, o->key);
            io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)o | TAG);
            pthread_mutex_lock(&u->lock);
            o->next = u->inflight;
            u->inflight = o;
            pthread_mutex_unlock(&u->lock);
        }
    }
}

/* o's removal has completed (lock held). */
static void del_done(struct ur *u, struct op *o)
{
    for (struct op **p = &u->inflight; *p; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            break;
        }
    o->done = true;
    pthread_cond_broadcast(&u->cond);
}

static int ur_wait(void *st, struct wf__backend_ev *evs, int max,
                   int64_t deadline)
{
    struct ur *u = st;
    prepare(u);
    int rc;
    int64_t left = deadline == WF_FOREVER ? 1 : deadline - wf_now();
    if (deadline == WF_FOREVER) {
        rc = io_uring_submit_and_wait(&u->ring, 1);
    } else if (left <= 0) {
        rc = io_uring_submit(&u->ring);
    } else {
        struct __kernel_timespec ts = {.tv_sec = left / 1000000000,
                                       .tv_nsec = left % 1000000000};
        struct io_uring_cqe *first;
        rc = io_uring_submit_and_wait_timeout(&u->ring, &first, 1, &ts, NULL);
        if (rc == -ETIME)
            rc = 0;
    }
    rc = wf__uring(rc, -EAGAIN);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
        return rc;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    int k = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        if (k == max)
            break;
        seen++;
        uint64_t key = io_uring_cqe_get_data64(cqe);
        bool ended = cqe->res < 0 || !(cqe->flags & IORING_CQE_F_MORE);
        if (key == WAKE_KEY) {
            uint64_t v;
            while (read(u->evfd, &v, sizeof v) > 0) {
            }
            if (ended)
                u->wake_armed = false;
            continue;
        }
        if (key & TAG) {
            struct op *o = (struct op *)(uintptr_t)(key & ~TAG);
            if (o->kind == OP_FILE) {
                wf_promise_complete(o->fop->p, (void *)(intptr_t)cqe->res);
                free(o);
                atomic_fetch_sub_explicit(&u->nfiles, 1,
                                          memory_order_relaxed);
                continue;
            }
            pthread_mutex_lock(&u->lock);
            if (cqe->res == -EALREADY) {
                /* Found while it ran (a poll that fired as it was armed):
                 * it may stay armed, holding the file. Again, next round,
                 * until the answer is removed (0) or gone (-ENOENT). */
                for (struct op **p = &u->inflight; *p; p = &(*p)->next)
                    if (*p == o) {
                        *p = o->next;
                        break;
                    }
                o->next = NULL;
                *u->ops_tail = o;
                u->ops_tail = &o->next;
                pthread_mutex_unlock(&u->lock);
                wake(u);
                continue;
            }
            del_done(u, o);
            pthread_mutex_unlock(&u->lock);
            continue;
        }
        unsigned x = 0;
        if (cqe->res >= 0) {
            unsigned m = (unsigned)cqe->res;
            if (m & (POLLIN | POLLPRI | POLLRDHUP | POLLHUP | POLLERR))
                x |= WF__EV_READ;
            if (m & (POLLOUT | POLLHUP | POLLERR))
                x |= WF__EV_WRITE;
        }
        if (ended) {
            if (cqe->res == -ECANCELED || cqe->res == -EBADF)
                continue; /* removed, or the descriptor is gone */
            x |= WF__EV_ENDED | WF__EV_READ | WF__EV_WRITE;
        }
        evs[k].key = key;
        evs[k].events = x;
        k++;
    }
    io_uring_cq_advance(&u->ring, seen);
    return k;
}

static void ur_wakeup(void *st)
{
    wake(st);
}

static void ur_close(void *st)
{
    struct ur *u = st;
    /* The thread is gone: no removal waits (del is called under the
     * reactor's start lock, which shutdown holds). Queued adds: */
    while (u->ops) {
        struct op *o = u->ops;
        u->ops = o->next;
        if (o->kind == OP_ADD)
            free(o);
    }
    io_uring_queue_exit(&u->ring);
    close(u->evfd);
    pthread_cond_destroy(&u->cond);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static const struct wf__backend uring_backend = {
    .name = "uring",
    .open = ur_open,
    .add = ur_add,
    .del = ur_del,
    .wait = ur_wait,
    .wakeup = ur_wakeup,
    .close = ur_close,
    .file = ur_file,
    .busy = ur_busy,
};

const struct wf__backend *wf__backend_uring(void)
{
    return &uring_backend;
}
