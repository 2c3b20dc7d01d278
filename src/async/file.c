/* SPDX-License-Identifier: MIT */
/*
 * File I/O at offsets (weft/io.h): a read first takes what the page
 * cache holds on the calling worker (read_cached); the rest, pwrite and
 * fsync go through the reactor's io_uring where it runs with that
 * backend, else (and open and buffered reads always) on the
 * blocking-call pool.
 *
 * Regular files are always "ready" to the kernel's readiness interfaces,
 * so a fiber cannot wait for them the way it waits for a socket; a read
 * that misses the page cache blocks the thread in the kernel. Each call
 * therefore either hands its operation to io_uring (the reactor thread
 * submits it and completes the job's future from the completion) or runs
 * its system call on a pool thread, and parks the calling fiber on the
 * future until it is done. The wait ignores the
 * fiber's cancellation and has no deadline: the kernel is writing into
 * (or reading from) the caller's buffer, which must stay valid until the
 * system call has returned, and a local file operation cannot be
 * interrupted anyway. The job record lives on the caller's stack for the
 * same reason: the caller always outlives the job.
 *
 * A plain thread (a pool thread included) simply makes the system call:
 * it may block, and going through the pool from a pool thread could wait
 * for a pool thread forever (a pool of one, busy with the caller).
 *
 * io_uring saves the pool's thread hand-off, but each operation still
 * costs a wake-up of the reactor (an eventfd write) because only the
 * reactor thread submits (uring.c says why); batching several operations
 * per wake-up happens naturally under load. open stays on the pool:
 * IORING_OP_OPENAT would work too, but path lookups are rarely the
 * bottleneck and the pool's open is simpler to reason about.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/fault.h"
#include "async_int.h"
#include "backend.h"
#include "reactor.h"
#include "trace/trace.h"
#include "weft/future.h"
#include "weft/io.h"

enum { F_OPEN, F_PREAD, F_PWRITE, F_FSYNC };

struct fjob {
    int kind;
    int fd;
    const char *path;
    int flags;
    mode_t mode;
    void *buf;
    size_t n;
    off_t off;
};

static void *fjob_run(void *arg)
{
    struct fjob *j = arg;
    ssize_t r;
    switch (j->kind) {
    case F_OPEN:
        r = wf__fd(open(j->path, j->flags | O_CLOEXEC, j->mode));
        break;
    case F_PREAD:
        do
            r = pread(j->fd, j->buf, j->n, j->off);
        while (r < 0 && errno == EINTR);
        break;
    case F_PWRITE:
        do
            r = pwrite(j->fd, j->buf, j->n, j->off);
        while (r < 0 && errno == EINTR);
        break;
    default:
        r = fsync(j->fd);
        break;
    }
    if (r < 0)
        r = -errno;
    return (void *)(intptr_t)r;
}

/* Through the reactor's io_uring: 0 and *res set, or WF_ENOSYS (no file
 * I/O in this backend: use the pool) or another error. */
static int run_ring(struct fjob *j, ssize_t *res)
{
    int kind = j->kind == F_PREAD    ? WF__FILE_READ
               : j->kind == F_PWRITE ? WF__FILE_WRITE
                                     : WF__FILE_FSYNC;
    if (j->n > UINT_MAX)
        j->n = UINT_MAX; /* a short count, as pread may return */
    struct wf_future *f;
    struct wf__fileop op = {kind, j->fd, j->buf, j->n, (int64_t)j->off, NULL};
    int err = wf_promise_create(&op.p, &f);
    if (err)
        return err;
    wf__trace_io_begin(kind == WF__FILE_READ    ? WF__TIO_PREAD
                       : kind == WF__FILE_WRITE ? WF__TIO_PWRITE
                                                : WF__TIO_FSYNC,
                       &op, j->fd);
    err = wf__reactor_file(&op);
    if (err) {
        wf__trace_io_end(&op, err);
        wf_promise_fail(op.p, err);
        wf_future_release(f);
        return err;
    }
    err = wf__future_wait_nocancel(f);
    /* Only fibers get here, and a fiber's wait ends when the future is
     * done (a stop discards the fiber instead). Should it still end early
     * with an error, the kernel uses *j and the buffer until the
     * operation completes (the reactor finishes every file operation
     * before it stops): wait for it the hard way. */
    while (!wf_future_done(f))
        usleep(1000);
    void *v = NULL;
    wf_future_result(f, &v);
    wf_future_release(f);
    *res = err ? err : (ssize_t)(intptr_t)v;
    wf__trace_io_end(&op, *res);
    return 0;
}

/* A read the page cache can answer at once: preadv2 with RWF_NOWAIT on
 * the calling worker, which copies what is cached and refuses (EAGAIN)
 * rather than wait for the disk. The count, or -1: nothing was cached
 * and the read goes the long way. A cached part is kept and the read
 * goes on from where it stopped (a short count is the end of the file
 * only when the next try reads 0); the first refusal sends the rest the
 * long way and the counts are added (an error there gives the part, as
 * pread does after a partial transfer). Any error of the first try falls
 * through to the long way, which gives the authoritative one: EOPNOTSUPP
 * where the file system has no non-blocking reads (tmpfs here), EINVAL
 * or ENOSYS on kernels without the flag, ESPIPE for pipes, EBADF... so
 * one system call is the most this try costs when it cannot help. At
 * most CACHED_MAX bytes are copied here. */
static ssize_t run_slow(struct fjob *j);

/* The most a read copies on the worker: a cached gigabyte would hold the
 * worker (and the fibers queued on it) for a tenth of a second; past
 * this the rest goes the long way, as a refusal would. */
#define CACHED_MAX ((size_t)1 << 20)

static ssize_t read_cached(struct fjob *j)
{
    size_t done = 0;
    size_t most = j->n < CACHED_MAX ? j->n : CACHED_MAX;
    for (;;) {
        struct iovec v = {(char *)j->buf + done, most - done};
        ssize_t r;
        do
            r = preadv2(j->fd, &v, 1, j->off + (off_t)done, RWF_NOWAIT);
        while (r < 0 && errno == EINTR);
        if (r < 0 && done == 0)
            return -1;
        if (r > 0 && done + (size_t)r == most && most < j->n) {
            done += (size_t)r;
            r = -1; /* the cap: the rest the long way */
        }
        if (r < 0) {
            struct fjob rest = *j;
            rest.buf = (char *)j->buf + done;
            rest.n = j->n - done;
            rest.off = j->off + (off_t)done;
            ssize_t more = run_slow(&rest);
            return (ssize_t)done + (more > 0 ? more : 0);
        }
        done += (size_t)r;
        if (r == 0 || done == j->n)
            return (ssize_t)done;
    }
}

static ssize_t run(struct fjob *j)
{
    /* A plain thread may block: it makes the call itself. Handing it to
     * the pool would only add a hop, and from a pool thread (a
     * wf_blocking call doing file I/O) it could wait forever for a pool
     * thread that is itself. */
    if (!wf__fiber_self()) {
        if (!wf__rt_running())
            return WF_ESHUTDOWN;
        return (ssize_t)(intptr_t)fjob_run(j);
    }
    if (j->kind == F_PREAD) {
        ssize_t r = read_cached(j);
        if (r >= 0)
            return r;
    }
    return run_slow(j);
}

/* Whether a read the page cache could not answer goes to io_uring: only
 * for a descriptor opened with O_DIRECT, where the ring's read is truly
 * asynchronous. A buffered read that misses the cache is one the ring
 * hands to its own kernel workers (io-wq), and measured here that path
 * is slower than the pool's threads doing plain preads (docs/
 * PERFORMANCE.md, "File reads"); so it goes to the pool, as do reads
 * on file systems without non-blocking reads (tmpfs). One fcntl per
 * miss, beside a disk read. */
static bool ring_reads(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_DIRECT);
}

/* A fiber's call the long way: io_uring (file reads: see ring_reads),
 * else the pool. */
static ssize_t run_slow(struct fjob *j)
{
    if (j->kind != F_OPEN && (j->kind != F_PREAD || ring_reads(j->fd))) {
        ssize_t res;
        int err = run_ring(j, &res);
        if (err == 0)
            return res;
        if (err != WF_ENOSYS)
            return err;
    }
    struct wf_future *f;
    int err = wf_blocking(&f, fjob_run, j);
    if (err)
        return err;
    err = wf__future_wait_nocancel(f);
    if (err == 0) {
        void *v = NULL;
        err = wf_future_result(f, &v);
        if (err == 0) {
            wf_future_release(f);
            return (ssize_t)(intptr_t)v;
        }
    }
    /* As in run_ring: should the wait end early with an error, the job
     * still runs (the pool drains its queue in wf_shutdown) and reads *j:
     * wait for it the hard way. */
    while (!wf_future_done(f))
        usleep(1000);
    wf_future_release(f);
    return err;
}

int wf_file_open(const char *path, int flags, int mode)
{
    if (!path)
        return WF_EINVAL;
    struct fjob j = {.kind = F_OPEN, .path = path, .flags = flags,
                     .mode = (mode_t)mode};
    return (int)run(&j);
}

ssize_t wf_pread(int fd, void *buf, size_t n, off_t off)
{
    if (fd < 0)
        return WF_EBADF;
    if (off < 0)
        return WF_EINVAL;
    struct fjob j = {.kind = F_PREAD, .fd = fd, .buf = buf, .n = n, .off = off};
    return run(&j);
}

ssize_t wf_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (fd < 0)
        return WF_EBADF;
    if (off < 0)
        return WF_EINVAL;
    struct fjob j = {.kind = F_PWRITE, .fd = fd, .buf = (void *)buf, .n = n,
                     .off = off};
    return run(&j);
}

int wf_fsync(int fd)
{
    if (fd < 0)
        return WF_EBADF;
    struct fjob j = {.kind = F_FSYNC, .fd = fd};
    return (int)run(&j);
}
