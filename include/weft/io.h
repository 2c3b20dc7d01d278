/* SPDX-License-Identifier: MIT */
/*
 * weft/io.h - fiber-blocking socket I/O with deadlines and cancellation,
 * and name resolution through the blocking-call pool.
 *
 * Model. Sockets are plain file descriptors, made non-blocking (the calls
 * here create them so; wf_fd_register converts one made elsewhere). Each
 * call first tries the operation; only when the kernel says "would block"
 * does it wait, and then it parks the calling fiber (its worker runs other
 * fibers) or blocks the calling plain thread, until the reactor reports the
 * descriptor ready, the deadline passes or the fiber is cancelled. The
 * reactor is a thread started on the first call that has to wait and
 * stopped by wf_shutdown; it sleeps in the kernel while nothing happens,
 * so an idle runtime with open sockets uses no CPU.
 *
 * Results. Every call returns a count or 0 on success and a negative errno
 * code on failure; nothing is reported through errno, and no failure is
 * fatal to the runtime. In particular: end of stream is a read of 0; a
 * peer's reset gives WF_ECONNRESET; writing to a socket whose peer has
 * gone gives WF_EPIPE (never SIGPIPE: sends use MSG_NOSIGNAL); running out
 * of descriptors gives WF_EMFILE / WF_ENFILE (from accept: the pending
 * connection stays queued and a later accept can take it). Beyond those
 * below, any errno of the underlying system call may come back negated.
 *
 * Shutdown. wf_shutdown wakes the fibers still blocked here; those that
 * run before the workers stop get WF_ESHUTDOWN, the rest are discarded
 * with the runtime. Descriptors stay open (they are the caller's) and work
 * again in the next runtime.
 *
 * Waiting. `deadline` is absolute monotonic ns (WF_FOREVER: none; a past
 * deadline makes the call a non-blocking attempt). A call that must wait
 * returns WF_ETIMEDOUT when the deadline passes, WF_ECANCELED when the
 * calling fiber is cancelled, WF_ESHUTDOWN when no runtime runs (or it
 * shuts down while a plain thread waits), WF_ENOMEM when no memory is left
 * for the reactor's bookkeeping, a deadline timer or a plain thread's first
 * wait in weft. A call that can
 * complete without waiting completes, even in a cancelled fiber. A read
 * or write that stops early this way has transferred nothing; data already
 * moved is reported as a count (see wf_write_all for its own rule).
 *
 * Descriptors. Close descriptors used here with wf_close, not close(2):
 * it also drops the reactor's registration (with io_uring a registration
 * keeps the file open), and wakes the fibers waiting on it (their calls
 * return WF_EBADF; so does a call that was between its attempt and its
 * wait, even when a new descriptor has taken the number meanwhile, which
 * is left alone). Several fibers may wait on one
 * descriptor (say one reading, one writing); each direction is woken
 * separately. Call only from within the process that opened them (no
 * sharing across fork).
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/select.h> /* sigset_t, also in strict C11 (<signal.h> hides it) */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct addrinfo;
struct wf_future;

#define WF_EBADF      (-EBADF)      /* not an open descriptor, or closed while waiting */
#define WF_ECONNRESET (-ECONNRESET) /* the peer reset the connection */
#define WF_ECONNREFUSED (-ECONNREFUSED) /* nothing listens at the address */
#define WF_EMFILE     (-EMFILE)     /* the process has no descriptor left */
#define WF_ENFILE     (-ENFILE)     /* the system has no descriptor left */
/* clang-format off */
#define WF_ENOENT     (-ENOENT)     /* a host name that does not resolve */
#define WF_EMSGSIZE   (-EMSGSIZE)   /* buffered reader: no delimiter within the limit */
#define WF_ENODATA    (-ENODATA)    /* buffered reader: the stream ended inside a record */
/* clang-format on */

/* ---- listening and connecting ---------------------------------------------- */

/* Bind a non-blocking stream socket to addr and listen (backlog <= 0: the
 * system's maximum). SO_REUSEADDR is set for TCP; IPv6 sockets are v6
 * only. Returns the descriptor. Any thread, never waits. Errors: WF_EINVAL
 * addr NULL; the errno of socket/bind/listen (-EADDRINUSE...). */
WF_API int wf_listen(const struct sockaddr *addr, socklen_t len, int backlog);

/* wf_listen on a TCP address given as a numeric IPv4 or IPv6 literal
 * ("127.0.0.1", "::1"; NULL: "0.0.0.0") or a host name ("localhost"), and
 * a port (0: any free one, see wf_local_port). A literal is used as it is
 * and the call never waits. A name is resolved with getaddrinfo (passive)
 * on the blocking-call pool: the call then parks a fiber (blocks a plain
 * thread) until the resolver answers, which its own timeouts bound, and
 * binds the first of the addresses, in the resolver's order, that
 * accepts it (one socket: "localhost" may give ::1 alone where the
 * resolver puts IPv6 first; pass a literal to choose the family).
 * Errors: WF_EINVAL port outside 0..65535 or ip ""; for a name,
 * WF_ESHUTDOWN when no runtime runs (a literal needs none), those of
 * wf_getaddrinfo's future (WF_ENOENT the name does not resolve,
 * WF_EAGAIN temporary resolver failure...), WF_ECANCELED, and the error
 * of the last address tried; as wf_listen. */
WF_API int wf_tcp_listen(const char *ip, int port, int backlog);

/* wf_listen on a Unix-domain stream socket at path (a file that must not
 * exist; the caller removes it). Errors: WF_EINVAL path NULL or too long;
 * as wf_listen. */
WF_API int wf_unix_listen(const char *path, int backlog);

/* The local port of a bound TCP socket. Errors: WF_EBADF; WF_EINVAL not a
 * TCP socket. */
WF_API int wf_local_port(int fd);

/* Accept a connection on listening socket lfd, waiting while none is
 * pending. The new descriptor is non-blocking and close-on-exec; if addr
 * is not NULL the peer's address is stored as accept(2) does. Returns the
 * descriptor. Errors: WF_EMFILE, WF_ENFILE (the connection stays pending;
 * the server keeps running), -ECONNABORTED, waiting errors (above). */
WF_API int wf_accept(int lfd, struct sockaddr *addr, socklen_t *len,
                     int64_t deadline);

/* Connect a new non-blocking stream socket to addr, waiting for the
 * handshake. Returns the connected descriptor; on any error no descriptor
 * is left open. Errors: WF_ECONNREFUSED, WF_ETIMEDOUT (the deadline or the
 * kernel's own timeout), WF_ECANCELED, -ENETUNREACH..., WF_EINVAL addr
 * NULL, and the waiting errors. */
WF_API int wf_connect(const struct sockaddr *addr, socklen_t len,
                      int64_t deadline);
/* wf_connect to host and port. host is a numeric IPv4/IPv6 literal, used
 * as it is, or a name, resolved with getaddrinfo on the blocking-call pool
 * (see wf_tcp_listen); then each address is tried in the resolver's order
 * until one connects, the resolution and every attempt within the one
 * deadline: each attempt gets an equal share of the time left (the last
 * one all of it), so an address that does not answer leaves time to the
 * next. Errors: WF_EINVAL host NULL or "", or port outside 0..65535;
 * WF_ENOENT the name does not resolve; WF_EAGAIN the resolver failed for
 * now (no name server answered); WF_ETIMEDOUT the deadline passed while
 * resolving or connecting; when every address fails, the last one's
 * error (WF_ECONNREFUSED...); and those of wf_connect. */
WF_API int wf_tcp_connect(const char *ip, int port, int64_t deadline);
/* wf_connect to a Unix-domain stream socket at path. WF_EINVAL for a NULL
 * or too long path. (A listener with a full queue makes it wait, retrying
 * about every millisecond, until the deadline.) */
WF_API int wf_unix_connect(const char *path, int64_t deadline);

/* ---- reading and writing ----------------------------------------------------- */

/* Read up to n bytes, waiting while none is available. Returns the count,
 * 0 at end of stream (or n == 0). Errors: WF_ECONNRESET, WF_EBADF, waiting
 * errors. Works on any descriptor; one that cannot be polled (a regular
 * file) is simply read. */
WF_API ssize_t wf_read(int fd, void *buf, size_t n, int64_t deadline);

/* Write up to n bytes, waiting while none fits; returns the count written,
 * which may be less than n (a full socket buffer after the first bytes).
 * Errors: WF_EPIPE (peer gone; no SIGPIPE for sockets - for pipes ignore
 * SIGPIPE yourself), WF_ECONNRESET, WF_EBADF, waiting errors. */
WF_API ssize_t wf_write(int fd, const void *buf, size_t n, int64_t deadline);

/* Write all n bytes, waiting as often as needed. Returns n, or an error;
 * either way *written (if not NULL) receives the count actually written,
 * so a caller that is cancelled or times out half way knows where it is. */
WF_API ssize_t wf_write_all(int fd, const void *buf, size_t n,
                            size_t *written, int64_t deadline);

/* Scatter / gather versions of wf_read / wf_write (iovcnt <= IOV_MAX).
 * Same results; wf_writev may write part of the vector. */
WF_API ssize_t wf_readv(int fd, const struct iovec *iov, int iovcnt,
                        int64_t deadline);
WF_API ssize_t wf_writev(int fd, const struct iovec *iov, int iovcnt,
                         int64_t deadline);

/* sendfile(2): send up to n bytes of file in_fd from *offset to socket
 * out_fd without copying them through user space, waiting (parking the
 * fiber on the reactor) while the socket buffer is full; *offset advances
 * by the count sent. Returns the count, which may be less than n (0: the
 * file ends at *offset). sendfile cannot suppress SIGPIPE: a program that
 * sends to peers that may vanish must ignore SIGPIPE (it then gets
 * WF_EPIPE). Errors: WF_EINVAL offset NULL or negative; WF_EPIPE,
 * WF_ECONNRESET, WF_EBADF, waiting errors. */
WF_API ssize_t wf_sendfile(int out_fd, int in_fd, off_t *offset, size_t n,
                           int64_t deadline);

/* recv(2) / send(2) with flags (MSG_PEEK, MSG_OOB...; MSG_DONTWAIT and
 * MSG_NOSIGNAL are always added). Socket only: -ENOTSOCK otherwise.
 * Same results as wf_read / wf_write. */
WF_API ssize_t wf_recv(int fd, void *buf, size_t n, int flags,
                       int64_t deadline);
WF_API ssize_t wf_send(int fd, const void *buf, size_t n, int flags,
                       int64_t deadline);

/* ---- descriptors --------------------------------------------------------------- */

/* shutdown(2): how is SHUT_RD, SHUT_WR or SHUT_RDWR. A SHUT_RD wakes this
 * socket's readers (they read 0). Never waits. Errors: WF_EBADF,
 * -ENOTCONN, WF_EINVAL. */
WF_API int wf_sock_shutdown(int fd, int how);

/* Close fd: fibers and threads waiting on it return WF_EBADF, the
 * reactor forgets it, then close(2). A call on fd that starts while
 * wf_close runs returns WF_EBADF rather than wait on it (or completes
 * at once, if it can before the close). Never parks; with the io_uring
 * backend it blocks the thread for a round trip with the reactor thread
 * when fd was registered (the kernel's poll holds the file open until its
 * removal is done, and a socket must be closed when this returns). Any
 * thread. Errors: WF_EBADF. */
WF_API int wf_close(int fd);

/* Make a descriptor opened elsewhere (a pipe, an eventfd, a socket)
 * non-blocking so the calls here can wait on it, and drop whatever the
 * reactor remembers of an earlier descriptor with its number. Call it
 * before using fd here, not while calls wait on it (they would return
 * WF_EBADF). Any thread. Errors: WF_EBADF. */
WF_API int wf_fd_register(int fd);

/* Readiness events for wf_fd_wait. */
#define WF_IO_READ  1
#define WF_IO_WRITE 2

/* Wait until fd is ready for `events` (WF_IO_READ or WF_IO_WRITE, one
 * direction per call): for descriptors read and written with other calls
 * (signalfd, eventfd, a library's socket). Returns the events that poll(2)
 * then reports (a hang-up or error counts as both; a descriptor may still
 * have nothing to read by the time the caller reads: retry). Errors:
 * WF_EINVAL events is not exactly one direction; WF_EBADF; waiting
 * errors. */
WF_API int wf_fd_wait(int fd, int events, int64_t deadline);

/* ---- buffered streams ----------------------------------------------------------- */

/* A buffered reader or writer over a descriptor that the calls above work
 * on (a socket, a pipe, a file). The stream does not own the descriptor:
 * freeing it leaves the descriptor open. One fiber or thread uses a stream
 * at a time (no internal lock). Every call that may wait takes a deadline
 * and has the waiting errors of the calls above; it parks a fiber (blocks
 * a plain thread). Bytes are never lost: a call that fails leaves what it
 * did not hand out in the reader's buffer (each call below says how much
 * it handed out), and a writer's unsent bytes stay buffered for a later
 * flush. */
struct wf_bufreader;
struct wf_bufwriter;

/* Default buffer size (cap 0 below). */
#define WF_BUFIO_DEFAULT 8192

/* Create a reader of fd with a buffer of cap bytes (0: WF_BUFIO_DEFAULT).
 * The buffer bounds what peek and read_until can hold. Any thread.
 * Errors: WF_EINVAL out NULL or fd negative; WF_ENOMEM. */
WF_API int wf_bufreader_new(struct wf_bufreader **out, int fd, size_t cap);
/* Free r (NULL: nothing); bytes still buffered are dropped. */
WF_API void wf_bufreader_free(struct wf_bufreader *r);
/* Bytes buffered now: handed out by the next calls without a read. */
WF_API size_t wf_bufreader_buffered(const struct wf_bufreader *r);

/* Read up to n bytes: the buffered ones first, else one read of the
 * descriptor (straight into buf when n is at least the buffer's size).
 * Returns the count, 0 at end of stream (or n == 0). */
WF_API ssize_t wf_bufreader_read(struct wf_bufreader *r, void *buf, size_t n,
                                 int64_t deadline);

/* Read exactly n bytes into buf. Returns n; 0 when the stream ended
 * before the first byte; WF_ENODATA when it ended after some but before
 * n. *got (if not NULL) receives the count stored in buf whatever the
 * outcome, so a caller that times out or is cancelled half way knows
 * where it stands. */
WF_API ssize_t wf_bufreader_read_full(struct wf_bufreader *r, void *buf,
                                      size_t n, size_t *got, int64_t deadline);

/* Read up to and including the first byte equal to delim, at most max
 * bytes (1 <= max <= the buffer's size). Returns the length and points
 * *out at the bytes, in the reader's buffer: valid until the next call
 * on r. Errors (nothing consumed, the bytes stay buffered for
 * wf_bufreader_read): WF_EMSGSIZE no delim within the first max bytes;
 * WF_ENODATA the stream ended after some bytes but before delim; 0 (not
 * an error) the stream ended with nothing buffered; WF_EINVAL max out of
 * range or out NULL. */
WF_API ssize_t wf_bufreader_read_until(struct wf_bufreader *r, int delim,
                                       size_t max, const char **out,
                                       int64_t deadline);
/* wf_bufreader_read_until(r, '\n', max, out, deadline): a line with its
 * terminator ("\r\n" stays as it came). */
WF_API ssize_t wf_bufreader_read_line(struct wf_bufreader *r, size_t max,
                                      const char **out, int64_t deadline);

/* Wait until at least n bytes are buffered (1 <= n <= the buffer's size)
 * or the stream ends, consuming nothing. Returns the count buffered (n or
 * more; fewer only at end of stream, 0 when nothing is left) and points
 * *out at them (valid until the next call on r). Errors: WF_EINVAL n out
 * of range or out NULL. */
WF_API ssize_t wf_bufreader_peek(struct wf_bufreader *r, size_t n,
                                 const void **out, int64_t deadline);
/* Drop n buffered bytes (after a peek). Errors: WF_EINVAL n is more than
 * wf_bufreader_buffered. */
WF_API int wf_bufreader_consume(struct wf_bufreader *r, size_t n);

/* Create a writer to fd with a buffer of cap bytes (0: WF_BUFIO_DEFAULT).
 * Errors: WF_EINVAL out NULL or fd negative; WF_ENOMEM. */
WF_API int wf_bufwriter_new(struct wf_bufwriter **out, int fd, size_t cap);
/* Free w (NULL: nothing). Returns the count of buffered bytes that were
 * never sent and are dropped now: flush first. */
WF_API size_t wf_bufwriter_free(struct wf_bufwriter *w);
/* Bytes buffered and not yet sent. */
WF_API size_t wf_bufwriter_buffered(const struct wf_bufwriter *w);

/* Take all n bytes: copied into the buffer while they fit, else sent with
 * what is buffered (one gathered write where possible; data of at least a
 * buffer's size goes straight to the descriptor). Returns n. On an error,
 * *taken (if not NULL) receives how many of the n bytes were taken (sent
 * or buffered; the rest were not); *taken is n on success. Errors: as
 * wf_write. */
WF_API ssize_t wf_bufwriter_write(struct wf_bufwriter *w, const void *buf,
                                  size_t n, size_t *taken, int64_t deadline);

/* Send everything buffered. Returns 0. On an error the bytes not sent
 * stay buffered (a later flush sends them). Errors: as wf_write. */
WF_API int wf_bufwriter_flush(struct wf_bufwriter *w, int64_t deadline);

/* ---- the same as futures ------------------------------------------------------- */

/* Callback style: each call starts the operation in a fiber of its own and
 * returns at once with a future (weft/future.h; on success *out holds one
 * reference) that completes with the operation's outcome; consume it with
 * wf_future_then, wf_future_await or wf_future_wait. Cancelling the future
 * cancels the operation (a blocked call stops at once). No memory of the
 * caller is used after the call returns, so cancelling or releasing the
 * future early is always safe: writes copy the bytes, reads return a
 * buffer the future owns, and a descriptor that arrives for a future that
 * was cancelled meanwhile is closed. Any thread, never blocks. Errors of
 * the calls: WF_EINVAL out NULL (or a bad argument below); WF_ENOMEM;
 * WF_ESHUTDOWN no runtime. Errors of the futures: those of the blocking
 * call, or WF_ECANCELED. */

/* What a read future's value points to; owned by the future (valid while
 * a reference is held). */
struct wf_iobuf {
    size_t len;            /* bytes read; 0 at end of stream */
    unsigned char *data;   /* the bytes (in the same allocation) */
};

/* wf_read of up to n bytes; the value is a struct wf_iobuf *. */
WF_API int wf_read_future(struct wf_future **out, int fd, size_t n,
                          int64_t deadline);
/* wf_write_all of a copy of buf[0..n) (WF_EINVAL buf NULL with n > 0);
 * the value is n, cast: (size_t)(uintptr_t)value. A failed future does not
 * say how much was written. */
WF_API int wf_write_future(struct wf_future **out, int fd, const void *buf,
                           size_t n, int64_t deadline);
/* wf_accept; the value is the new descriptor, cast: (int)(intptr_t)value. */
WF_API int wf_accept_future(struct wf_future **out, int lfd, int64_t deadline);
/* wf_connect (WF_EINVAL addr NULL or len too long); the value is the
 * connected descriptor, cast like wf_accept_future's. */
WF_API int wf_connect_future(struct wf_future **out,
                             const struct sockaddr *addr, socklen_t len,
                             int64_t deadline);

/* ---- files ----------------------------------------------------------------------- */

/* A fiber's wf_pread first asks for what the page cache holds without
 * waiting (preadv2 with RWF_NOWAIT, on the calling worker: no hand-off,
 * no park); what is not cached, and every other file call, goes the long
 * way: the operation is handed to io_uring when the reactor runs with
 * that backend (see wf_io_backend), except buffered reads (a descriptor
 * without O_DIRECT) and wf_file_open, which run on the blocking-call
 * pool (see wf_blocking in weft/future.h) as every call does on the
 * epoll backend; the calling fiber parks until it is done (a cache miss
 * on a buffered read is faster on the pool's threads than through the
 * ring's kernel workers: docs/PERFORMANCE.md). A plain thread (a
 * wf_blocking call's included) makes the system call itself.
 * They have no deadline and ignore the calling
 * fiber's cancellation: the kernel works on the caller's buffer until the
 * call is over, and a local file operation cannot be interrupted. They
 * need a running runtime (else WF_ESHUTDOWN). Close files with wf_close.
 * Besides the errors listed, the system call's errno comes back negated,
 * and WF_ENOMEM / WF_EAGAIN when the pool cannot take the call. */

/* open(2) (O_CLOEXEC added); returns the descriptor. Errors: WF_EINVAL
 * path NULL; -ENOENT no such file (without O_CREAT); -EACCES... */
WF_API int wf_file_open(const char *path, int flags, int mode);

/* pread(2) / pwrite(2): up to n bytes at offset off; returns the count
 * (0: end of file for a read). Errors: WF_EBADF; WF_EINVAL off negative. */
WF_API ssize_t wf_pread(int fd, void *buf, size_t n, off_t off);
WF_API ssize_t wf_pwrite(int fd, const void *buf, size_t n, off_t off);

/* fsync(2). Errors: WF_EBADF; -EIO. */
WF_API int wf_fsync(int fd);

/* ---- signals --------------------------------------------------------------------- */

/* Signals as events: for graceful shutdown and the like, a fiber waits
 * for a signal instead of installing a handler. */

/* Block the signals in set for the calling thread (pthread_sigmask).
 * Call it in the main thread before wf_init / wf_run, so that every thread
 * weft starts inherits the mask and the signals stay pending until a
 * wf_signal_wait takes them (a thread with one unblocked may get it
 * delivered the ordinary way instead). Errors: WF_EINVAL set NULL. */
WF_API int wf_signal_block(const sigset_t *set);

/* Wait until one of the signals in set is pending for the process, take
 * it (it is consumed, not delivered) and return its number. Parks the
 * calling fiber (blocks a plain thread); a signal already pending is
 * taken at once. Meant for process-directed signals (kill(2), the
 * terminal): one sent to a particular thread is seen only by a wait
 * running on that thread. Errors: WF_EINVAL set NULL or empty; the
 * waiting errors (WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN, WF_ENOMEM);
 * WF_EMFILE / WF_ENFILE (each wait opens a signalfd). */
WF_API int wf_signal_wait(const sigset_t *set, int64_t deadline);

/* The reactor backend in use: "epoll" or "uring", or NULL while no reactor
 * runs (it starts on the first call that has to wait). The environment
 * variable WEFT_IO=epoll|uring, read by wf_init, forces one (auto: none);
 * by default epoll is used (with io_uring the workers do not poll yet, so
 * every event costs a thread hop: measured slower for sockets, see
 * docs/PERFORMANCE.md; io_uring adds file operations through the ring).
 * A forced backend that cannot be used makes calls that have to wait
 * fail with WF_ENOSYS (not in this build) or the error of its setup.
 * Under valgrind (detected where weft was built with valgrind/valgrind.h)
 * the reactor uses epoll also when WEFT_IO=uring asks otherwise, since
 * io_uring waits hang there; the first start so overruled says so in one
 * line on stderr. With epoll the workers poll for readiness
 * themselves (a fiber woken by I/O runs on the worker that saw the event,
 * and an idle worker sleeps in epoll_wait), and the reactor thread polls
 * only when every worker has been busy for a few milliseconds; with
 * io_uring the reactor thread waits for every event. Any thread. */
WF_API const char *wf_io_backend(void);

/* Whether fibers' socket reads and writes (wf_recv, wf_send, wf_read,
 * wf_write, wf_readv, wf_writev) and wf_accept run on per-worker io_uring
 * rings: the environment variable WEFT_IO_RINGS=1 (a boolean, read by
 * wf_init; default off) asks for it. Each worker then makes a ring the
 * first time one of its fibers does such a call; the call queues its
 * operation there and parks, and the worker submits what its fibers
 * queued in one io_uring_enter every 16 scheduling decisions, or at once
 * when it goes idle or a cancel waits, so many connections' receives and
 * sends cost one system call; completions are reaped by the
 * workers. A deadline, a cancellation or a wf_close of the descriptor
 * ends the kernel's operation before the call returns, so the kernel
 * never writes into the buffer afterwards. Plain threads, and descriptors
 * that are not sockets, keep the readiness path (as do every other call).
 * A ring that cannot be set up (no io_uring, an old kernel, valgrind, a
 * build without liburing) leaves the readiness path in use, said once on
 * stderr. Off by default: on this project's measurements the rings make
 * far fewer system calls but serve no more requests, and one connection's
 * round trip is longer (docs/PERFORMANCE.md). Called from a fiber: whether
 * its worker has a ring (making it if needed); from a plain thread:
 * whether rings are asked for and none has failed to set up in this run.
 * false while no runtime runs. Any thread.
 *
 * With rings, WEFT_IO_MSHOT (a boolean, read by wf_init like every
 * variable, weft/runtime.h; default off) also makes a fiber's first wf_read, wf_recv (flags 0) or wf_readv of a
 * socket arm one multishot receive with provided buffers on its worker's
 * ring: data that arrives with no reader waiting is kept in the ring's
 * buffers (4 KiB each; WEFT_IO_MSHOT_BUFS, a power of two from 1 to
 * 32768, sets their count per ring, default 1024) and a later read copies
 * it out with no system call. The data, then the end of the stream or an
 * error, come in order; a close drops what is kept. MSG_PEEK and
 * MSG_WAITALL are served from what is kept once a socket has it, and a
 * fiber's wf_fd_wait for reading is ready when something is kept. A
 * wf_recv with flags on a socket with nothing kept waits on the socket
 * itself; while it waits, other fibers' reads of that socket do too (no
 * multishot is armed that could keep the data it waits for). A
 * plain thread's wf_read, wf_recv, wf_readv or wf_fd_wait for reading of
 * a socket (or a fiber's, on a worker whose ring has no buffers) takes
 * what is kept first, in order, and stops the socket's multishot for
 * good: from then on fibers and plain threads read the socket itself, so
 * a socket may be read by both, nothing lost or reordered. Once a socket
 * has kept data or an armed multishot, wf_recv flags other than MSG_PEEK
 * and MSG_WAITALL are ignored. A close reaches the kernel once the ring's
 * worker submits the multishot's cancel: a fiber that blocks that worker
 * in a system call delays it.
 *
 * WEFT_IO_MSHOT also makes a fiber's first wf_accept on a listener arm
 * one multishot accept on its worker's ring (Linux 5.19; an older kernel
 * refuses it and the listener keeps single-shot accepts): connections
 * accepted with no acceptor waiting are kept, up to about 256 a listener
 * (then the multishot is cancelled and the kernel's backlog holds the
 * rest until the kept ones are taken), and a later wf_accept takes the
 * oldest with no system call. The peer's address, when asked for, then
 * comes from getpeername(2) (*len 0 when the peer is already gone). An
 * error that ends the multishot (WF_EMFILE, WF_ENFILE...) is returned
 * once and the next wf_accept arms again; the descriptor limit is the
 * one in force when the multishot was armed. A close of the listener
 * (wf_close, or its number renewed) or the runtime's shutdown closes
 * every kept connection, which was never handed out. A plain thread's
 * wf_accept on such a listener takes kept connections first, waits for
 * the armed multishot's, and turns the listener back to readiness
 * accepts for fibers too until it is closed (kept connections are still
 * taken first); so does a wf_fd_wait for reading on it by anyone, which
 * is ready while a connection is kept. */
WF_API bool wf_io_rings(void);

/* ---- name resolution ----------------------------------------------------------- */

/* Resolve node / service with getaddrinfo(3) on the blocking-call pool and
 * return a future of the result list: on success its value is a struct
 * addrinfo * that the future owns (valid while the caller holds its
 * reference; freed with the future). Cancelling the future before the
 * lookup starts skips it. Any thread, never blocks. Errors (of the call):
 * WF_EINVAL out NULL or both node and service NULL; WF_ENOMEM;
 * WF_ESHUTDOWN; WF_EAGAIN (see wf_blocking). Errors of the future: -ENOENT
 * name not known, WF_EAGAIN temporary failure, WF_ENOMEM, -EIO permanent
 * failure, WF_EINVAL bad flags, family, socket type or service, or the
 * errno of a system error. */
WF_API int wf_getaddrinfo(struct wf_future **out, const char *node,
                          const char *service, const struct addrinfo *hints);

#ifdef __cplusplus
}
#endif

#endif
