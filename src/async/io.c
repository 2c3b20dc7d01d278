/* SPDX-License-Identifier: MIT */
/*
 * Fiber-blocking socket calls (weft/io.h) on the reactor's waiting
 * protocol (reactor.h): try the non-blocking system call, wait for an
 * edge only on EAGAIN, try again.
 *
 * Each call reads the descriptor's generation in the reactor's table
 * before its attempt and hands it to the wait (io_loop): a descriptor
 * closed with wf_close by another fiber after that makes the wait return
 * WF_EBADF, also when a new descriptor already has its number (the wait
 * must not register the new one under the old generation; reactor.c).
 *
 * Every descriptor these calls create is non-blocking and close-on-exec
 * from birth (SOCK_NONBLOCK, accept4), and is "renewed" in the reactor's
 * table, so state a previous descriptor with the same number left behind
 * (closed with close(2) behind weft's back) cannot confuse it. Writes go
 * through send/sendmsg with MSG_NOSIGNAL, so a vanished peer is WF_EPIPE,
 * never SIGPIPE; descriptors that are not sockets fall back to
 * write/writev.
 *
 * Connecting is the one operation whose wait is on "writable" followed by
 * a status read (SO_ERROR); a connect that is cancelled or times out
 * closes its socket, so failed calls leave nothing open. A Unix-domain
 * connect to a listener with a full queue fails with EAGAIN and cannot be
 * polled; it is retried after a 1 ms sleep until the deadline.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fault.h"
#include "async_test.h"
#include "reactor.h"
#include "rings.h"
#include "trace/trace.h"
#include "weft/fiber.h"
#include "weft/future.h"
#include "weft/io.h"

/* One attempt of an operation: its result, or a negative errno. */
typedef ssize_t attempt_fn(int fd, void *ctx);

/* `what` names the operation in a trace (its I/O slice runs from the
 * call to its result, waits included; keyed by this frame's `err`). */
static ssize_t io_loop(int fd, int dir, int64_t deadline, attempt_fn *op,
                       void *ctx, enum wf__tio what)
{
    int err;
    ssize_t r;
    struct wf__iofd *e = wf__iofd_get(fd, &err);
    if (!e)
        return err;
    wf__coop_spend(wf__fiber_self());
    wf__trace_io_begin(what, &err, fd);
    for (;;) {
        uint32_t gen = wf__iofd_gen(e);
        unsigned seq = wf__iofd_seq(e, dir);
        r = op(fd, ctx);
        if (r == -EINTR)
            continue;
        if (r != -EAGAIN && r != -EWOULDBLOCK)
            break;
        err = wf__iofd_wait(e, fd, dir, seq, gen, deadline);
        if (err) {
            r = err;
            break;
        }
    }
    wf__trace_io_end(&err, r);
    return r;
}

static ssize_t neg_errno(ssize_t r)
{
    return r < 0 ? -errno : r;
}

/* ---- read / write --------------------------------------------------------- */

struct buf {
    void *p;
    size_t n;
    int flags;
};

static ssize_t do_read(int fd, void *ctx)
{
    struct buf *b = ctx;
    return neg_errno(read(fd, b->p, b->n));
}

ssize_t wf_read(int fd, void *buf, size_t n, int64_t deadline)
{
    ssize_t r;
    if (wf__ring_io(fd, WF__RING_RECV, buf, n, 0, deadline, WF__TIO_READ, &r))
        return r;
    struct buf b = {buf, n, 0};
    return io_loop(fd, WF__DIR_READ, deadline, do_read, &b, WF__TIO_READ);
}

static ssize_t do_write(int fd, void *ctx)
{
    struct buf *b = ctx;
    ssize_t r = send(fd, b->p, b->n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK)
        r = write(fd, b->p, b->n);
    return neg_errno(r);
}

ssize_t wf_write(int fd, const void *buf, size_t n, int64_t deadline)
{
    ssize_t r;
    if (wf__ring_io(fd, WF__RING_SEND, (void *)buf, n, 0, deadline,
                    WF__TIO_WRITE, &r))
        return r;
    struct buf b = {(void *)buf, n, 0};
    return io_loop(fd, WF__DIR_WRITE, deadline, do_write, &b, WF__TIO_WRITE);
}

ssize_t wf_write_all(int fd, const void *buf, size_t n, size_t *written,
                     int64_t deadline)
{
    size_t done = 0;
    ssize_t r = 0;
    if (n > SSIZE_MAX) {
        if (written)
            *written = 0;
        return WF_EINVAL;
    }
    while (done < n) {
        r = wf_write(fd, (const char *)buf + done, n - done, deadline);
        if (r < 0)
            break;
        done += (size_t)r;
    }
    if (written)
        *written = done;
    return r < 0 ? r : (ssize_t)n;
}

static ssize_t do_recv(int fd, void *ctx)
{
    struct buf *b = ctx;
    return neg_errno(recv(fd, b->p, b->n, b->flags | MSG_DONTWAIT));
}

ssize_t wf_recv(int fd, void *buf, size_t n, int flags, int64_t deadline)
{
    ssize_t r;
    if (wf__ring_io(fd, WF__RING_RECV, buf, n, flags, deadline, WF__TIO_RECV,
                    &r))
        return r;
    struct buf b = {buf, n, flags};
    return io_loop(fd, WF__DIR_READ, deadline, do_recv, &b, WF__TIO_RECV);
}

static ssize_t do_send(int fd, void *ctx)
{
    struct buf *b = ctx;
    return neg_errno(
        send(fd, b->p, b->n, b->flags | MSG_NOSIGNAL | MSG_DONTWAIT));
}

ssize_t wf_send(int fd, const void *buf, size_t n, int flags, int64_t deadline)
{
    ssize_t r;
    if (wf__ring_io(fd, WF__RING_SEND, (void *)buf, n, flags, deadline,
                    WF__TIO_SEND, &r))
        return r;
    struct buf b = {(void *)buf, n, flags};
    return io_loop(fd, WF__DIR_WRITE, deadline, do_send, &b, WF__TIO_SEND);
}

struct vec {
    const struct iovec *iov;
    int cnt;
};

static ssize_t do_readv(int fd, void *ctx)
{
    struct vec *v = ctx;
    return neg_errno(readv(fd, v->iov, v->cnt));
}

ssize_t wf_readv(int fd, const struct iovec *iov, int iovcnt, int64_t deadline)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt > 0 && !iov))
        return WF_EINVAL;
    ssize_t r;
    if (wf__ring_io(fd, WF__RING_RECVV, (void *)iov, (size_t)iovcnt, 0,
                    deadline, WF__TIO_READV, &r))
        return r;
    struct vec v = {iov, iovcnt};
    return io_loop(fd, WF__DIR_READ, deadline, do_readv, &v, WF__TIO_READV);
}

static ssize_t do_writev(int fd, void *ctx)
{
    struct vec *v = ctx;
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = (struct iovec *)v->iov;
    m.msg_iovlen = (size_t)v->cnt;
    ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK)
        r = writev(fd, v->iov, v->cnt);
    return neg_errno(r);
}

ssize_t wf_writev(int fd, const struct iovec *iov, int iovcnt,
                  int64_t deadline)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt > 0 && !iov))
        return WF_EINVAL;
    ssize_t r;
    if (wf__ring_io(fd, WF__RING_SENDV, (void *)iov, (size_t)iovcnt, 0,
                    deadline, WF__TIO_WRITEV, &r))
        return r;
    struct vec v = {iov, iovcnt};
    return io_loop(fd, WF__DIR_WRITE, deadline, do_writev, &v, WF__TIO_WRITEV);
}

struct sfile {
    int in;
    off_t *off;
    size_t n;
};

static ssize_t do_sendfile(int fd, void *ctx)
{
    struct sfile *sf = ctx;
    return neg_errno(sendfile(fd, sf->in, sf->off, sf->n));
}

ssize_t wf_sendfile(int out_fd, int in_fd, off_t *offset, size_t n,
                    int64_t deadline)
{
    if (!offset || *offset < 0)
        return WF_EINVAL;
    struct sfile sf = {in_fd, offset, n};
    return io_loop(out_fd, WF__DIR_WRITE, deadline, do_sendfile, &sf,
                   WF__TIO_WRITE);
}

/* ---- descriptors ------------------------------------------------------------- */

int wf_sock_shutdown(int fd, int how)
{
    if (shutdown(fd, how) != 0)
        return -errno;
    return 0;
}

/* Tests only (async_test.h); relaxed as the wait hook in reactor.c. */
static _Atomic(wf__test_close_hook_fn *) close_hook;

void wf__test_set_close_hook(wf__test_close_hook_fn *fn)
{
    atomic_store_explicit(&close_hook, fn, memory_order_relaxed);
}

int wf_close(int fd)
{
    if (fd < 0)
        return WF_EBADF;
    /* Waits on fd are refused from here until close_end (reactor.c). */
    uint32_t closing = wf__iofd_close_begin(fd);
    wf__test_close_hook_fn *hook =
        atomic_load_explicit(&close_hook, memory_order_relaxed);
    if (hook)
        hook(fd);
    int err = 0;
    if (close(fd) != 0 && errno != EINTR)
        err = -errno;
    wf__iofd_close_end(fd, closing);
    return err;
}

int wf_fd_register(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -errno;
    wf__iofd_renew(fd);
    return 0;
}

struct pollctx {
    short events;
};

static ssize_t do_poll(int fd, void *ctx)
{
    struct pollctx *p = ctx;
    struct pollfd pfd = {fd, p->events, 0};
    int n = poll(&pfd, 1, 0);
    if (n < 0)
        return -errno;
    if (pfd.revents & POLLNVAL)
        return WF_EBADF;
    if (n == 0)
        return WF_EAGAIN;
    int r = 0;
    if (pfd.revents & (POLLIN | POLLPRI | POLLRDHUP | POLLHUP | POLLERR))
        r |= WF_IO_READ;
    if (pfd.revents & (POLLOUT | POLLHUP | POLLERR))
        r |= WF_IO_WRITE;
    return r;
}

/* A multishot receive was armed on fd while we waited on readiness:
 * wait on its state instead (rings.c), which takes what comes. */
#define MS_ARMED (-EINPROGRESS)

static ssize_t do_poll_read(int fd, void *ctx)
{
    ssize_t r = do_poll(fd, ctx);
    if (r == WF_EAGAIN && wf__fiber_self() && wf__ring_ms_live(fd))
        return MS_ARMED;
    return r;
}

int wf_fd_wait(int fd, int events, int64_t deadline)
{
    /* One direction per call: a waiter sits in one direction's queue. */
    if (events != WF_IO_READ && events != WF_IO_WRITE)
        return WF_EINVAL;
    struct pollctx p = {0};
    if (events == WF_IO_WRITE) {
        p.events = POLLOUT;
        return (int)io_loop(fd, WF__DIR_WRITE, deadline, do_poll, &p,
                            WF__TIO_POLL);
    }
    p.events = POLLIN | POLLRDHUP;
    for (;;) {
        ssize_t r;
        if (wf__ring_io(fd, WF__RING_POLLIN, NULL, 0, 0, deadline, WF__TIO_POLL,
                        &r))
            return (int)r; /* kept data of a multishot receive (rings.c) */
        r = io_loop(fd, WF__DIR_READ, deadline, do_poll_read, &p, WF__TIO_POLL);
        if (r != MS_ARMED)
            return (int)r;
    }
}

/* ---- listen, accept, connect ---------------------------------------------------- */

static int new_socket(int family)
{
    int fd =
        wf__fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return -errno;
    wf__iofd_renew(fd);
    return fd;
}

int wf_listen(const struct sockaddr *addr, socklen_t len, int backlog)
{
    if (!addr)
        return WF_EINVAL;
    int fd = new_socket(addr->sa_family);
    if (fd < 0)
        return fd;
    int one = 1;
    if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, addr, len) != 0 ||
        listen(fd, backlog <= 0 ? SOMAXCONN : backlog) != 0) {
        int err = -errno;
        wf_close(fd);
        return err;
    }
    return fd;
}

/* A numeric IPv4/IPv6 literal and port as a socket address. */
static int inet_addr_of(const char *ip, int port, struct sockaddr_storage *ss,
                        socklen_t *len)
{
    if (port < 0 || port > 65535)
        return WF_EINVAL;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (!ip)
        ip = "0.0.0.0";
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof *s4;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof *s6;
        return 0;
    }
    return WF_EINVAL;
}

static int unix_addr_of(const char *path, struct sockaddr_un *su,
                        socklen_t *len)
{
    if (!path)
        return WF_EINVAL;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof su->sun_path)
        return WF_EINVAL;
    memset(su, 0, sizeof *su);
    su->sun_family = AF_UNIX;
    memcpy(su->sun_path, path, n);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/* ---- host names ------------------------------------------------------------- */

/* Resolve host for a TCP stream socket on the blocking pool and wait for
 * the answer until the deadline (parks a fiber, blocks a plain thread).
 * On success *f holds the future that owns *ai; the caller releases it.
 * A wait that ends early cancels the lookup. */
static int resolve_tcp(const char *host, int port, bool passive,
                       int64_t deadline, struct wf_future **f,
                       struct addrinfo **ai)
{
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int err = wf_getaddrinfo(f, host, service, &hints);
    if (err)
        return err;
    err = wf_future_wait(*f, deadline);
    if (err == 0) {
        void *v = NULL;
        err = wf_future_result(*f, &v);
        *ai = v;
    }
    if (err == 0 && !*ai)
        err = -ENOENT;
    if (err) {
        wf_future_cancel(*f);
        wf_future_release(*f);
        *f = NULL;
    }
    return err;
}

int wf_tcp_listen(const char *ip, int port, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int err = inet_addr_of(ip, port, &ss, &len);
    if (err == 0)
        return wf_listen((struct sockaddr *)&ss, len, backlog);
    /* (a NULL ip is "0.0.0.0" to inet_addr_of: never here) */
    if (port < 0 || port > 65535 || !*ip)
        return WF_EINVAL;
    struct wf_future *f;
    struct addrinfo *ai;
    err = resolve_tcp(ip, port, true, WF_FOREVER, &f, &ai);
    if (err)
        return err;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = wf_listen(a->ai_addr, a->ai_addrlen, backlog);
        if (fd >= 0) {
            err = fd;
            break;
        }
        err = fd;
    }
    wf_future_release(f);
    return err;
}

int wf_unix_listen(const char *path, int backlog)
{
    struct sockaddr_un su;
    socklen_t len;
    int err = unix_addr_of(path, &su, &len);
    if (err)
        return err;
    return wf_listen((struct sockaddr *)&su, len, backlog);
}

int wf_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return WF_EINVAL;
}

struct acc {
    struct sockaddr *addr;
    socklen_t *len;
};

static ssize_t do_accept(int fd, void *ctx)
{
    struct acc *a = ctx;
    int s = wf__fd(accept4(fd, a->addr, a->len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    return s < 0 ? -errno : s;
}

int wf_accept(int lfd, struct sockaddr *addr, socklen_t *len, int64_t deadline)
{
    struct wf__ring_acc ra = {addr, len};
    ssize_t r;
    int fd;
    if (wf__ring_io(lfd, WF__RING_ACCEPT, &ra, 0, 0, deadline, WF__TIO_ACCEPT,
                    &r)) {
        fd = (int)r;
        if (fd >= 0)
            wf__iofd_renew(fd);
        return fd;
    }
    struct acc a = {addr, len};
    fd = (int)io_loop(lfd, WF__DIR_READ, deadline, do_accept, &a,
                      WF__TIO_ACCEPT);
    if (fd >= 0)
        wf__iofd_renew(fd);
    return fd;
}

static ssize_t do_connect_status(int fd, void *ctx)
{
    (void)ctx;
    struct pollfd pfd = {fd, POLLOUT, 0};
    if (poll(&pfd, 1, 0) < 0)
        return -errno;
    if (!(pfd.revents & (POLLOUT | POLLERR | POLLHUP)))
        return WF_EAGAIN; /* still in progress */
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        return -errno;
    return soerr ? -soerr : 0;
}

int wf_connect(const struct sockaddr *addr, socklen_t len, int64_t deadline)
{
    if (!addr)
        return WF_EINVAL;
    int fd = new_socket(addr->sa_family);
    if (fd < 0)
        return fd;
    int err = 0;
    for (;;) {
        if (connect(fd, addr, len) == 0)
            return fd;
        err = -errno;
        if (err == -EINTR)
            continue;
        if (err == WF_EAGAIN && addr->sa_family == AF_UNIX) {
            /* Unix listener's queue is full: not pollable, retry. */
            int64_t next = wf_deadline_in(WF_MSEC);
            if (deadline != WF_FOREVER && next > deadline) {
                if (wf_now() >= deadline) {
                    err = WF_ETIMEDOUT;
                    goto out_close;
                }
                next = deadline;
            }
            if (wf__fiber_self())
                err = wf_sleep_until(next);
            else
                usleep(1000);
            if (err)
                goto out_close;
            continue;
        }
        break;
    }
    if (err != -EINPROGRESS)
        goto out_close;
    err = (int)io_loop(fd, WF__DIR_WRITE, deadline, do_connect_status, NULL,
                       WF__TIO_CONNECT);
    if (err == 0)
        return fd;
out_close:
    wf_close(fd);
    return err;
}

int64_t wf__connect_attempt_deadline(int64_t now, int64_t deadline, size_t left)
{
    if (deadline == WF_FOREVER || left <= 1 || deadline <= now)
        return deadline;
    /* At least a millisecond (or all that is left): a share rounded down
     * to nothing would give up on the address without trying it. */
    int64_t rest = deadline - now, share = rest / (int64_t)left;
    int64_t least = rest < WF_MSEC ? rest : WF_MSEC;
    return now + (share > least ? share : least);
}

int wf_tcp_connect(const char *ip, int port, int64_t deadline)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (!ip || !*ip)
        return WF_EINVAL;
    int err = inet_addr_of(ip, port, &ss, &len);
    if (err == 0)
        return wf_connect((struct sockaddr *)&ss, len, deadline);
    if (port < 0 || port > 65535)
        return WF_EINVAL;
    struct wf_future *f;
    struct addrinfo *ai;
    err = resolve_tcp(ip, port, false, deadline, &f, &ai);
    if (err)
        return err;
    /* Each address in the resolver's order, all within the one deadline,
     * each with its share of the time left: one that does not answer
     * (its own deadline, or the kernel's SYN timeout: WF_ETIMEDOUT both)
     * leaves time to the next. Stops when the deadline has passed; the
     * last error is the call's when none answers. */
    size_t left = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next)
        left++;
    for (struct addrinfo *a = ai; a; a = a->ai_next, left--) {
        int64_t now = wf_now();
        if (deadline != WF_FOREVER && now >= deadline) {
            err = WF_ETIMEDOUT;
            break;
        }
        err = wf_connect(a->ai_addr, a->ai_addrlen,
                         wf__connect_attempt_deadline(now, deadline, left));
        if (err >= 0 || err == WF_ECANCELED || err == WF_ESHUTDOWN)
            break;
    }
    wf_future_release(f);
    return err;
}

int wf_unix_connect(const char *path, int64_t deadline)
{
    struct sockaddr_un su;
    socklen_t len;
    int err = unix_addr_of(path, &su, &len);
    if (err)
        return err;
    return wf_connect((struct sockaddr *)&su, len, deadline);
}
