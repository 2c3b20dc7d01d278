/* SPDX-License-Identifier: MIT */
/*
 * src/async/backend.h - the contract of a reactor backend: a source of
 * readiness events for file descriptors, driven by one reactor thread.
 *
 * reactor.c owns everything else (the fd table, the waiting protocol, the
 * thread); a backend only registers descriptors and reports edges. One
 * file per backend (epoll.c; an io_uring poll backend would be another),
 * picked at run time by wf__backend_pick().
 *
 * Semantics every backend provides:
 *   - open(&st): create the kernel object; 0 or a negative errno. Called
 *     under the reactor's start lock, before the thread starts.
 *   - add(st, fd, key): watch fd for both reading and writing, edge
 *     triggered (report a direction when it becomes ready, including at
 *     registration if it is ready then), until del(fd) or fd is closed.
 *     Any thread, may run concurrently with wait(). 0, or a negative errno
 *     (-EPERM: fd cannot be polled, e.g. a regular file). The key names
 *     the descriptor fd is now (the reactor never adds a key of a closed
 *     one), so an earlier registration of fd may be replaced by it.
 *   - del(st, fd, key): stop watching fd, registered with key; errors are
 *     ignored by the caller. Called after the entry's generation moved on,
 *     so no re-add (below) of that key follows.
 *   - wait(st, evs, max, deadline): block until at least one event, a
 *     wakeup() or the absolute deadline (wf_now's clock; WF_FOREVER: no
 *     limit; one already past: do not block); store up to max events and
 *     return how many (0 after a wakeup or the deadline with nothing
 *     else), or a negative errno (-EINTR is retried by the caller). One
 *     thread at a time (the reactor's poller token, reactor.c): the
 *     reactor thread, or a worker polling when `workers_poll` is set.
 *   - wakeup(st): make a blocked (or the next) wait() return. Any thread.
 *   - workers_poll: whether the workers may call wait() themselves (the
 *     worker poller, reactor.c); else only the reactor thread does.
 *   - close(st): free everything; the thread has been joined.
 *   - file(st, op), busy(st): optional file I/O (struct wf__fileop).
 * An event names the registration's key and its directions (WF__EV_READ
 * for readable, end of stream, hang-up or error; WF__EV_WRITE for writable,
 * hang-up or error). Spurious events are allowed: waiters re-try. A
 * backend whose registrations can end by themselves (io_uring's multishot
 * poll, when its completion queue overflows) reports WF__EV_ENDED with the
 * last event; the reactor then adds the descriptor again if the key is
 * still current, under the entry's lock (so never after its del).
 *
 * wf__backend_uring() is the io_uring backend, or NULL in a build without
 * liburing (uring.c or uring_none.c, chosen by CMake).
 */
#ifndef WEFT_ASYNC_BACKEND_H
#define WEFT_ASYNC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WF__EV_READ 1u
#define WF__EV_WRITE 2u
#define WF__EV_ENDED 4u

/* A file operation at an offset, for backends that do them (io_uring).
 * The backend completes `p` (weft/future.h) with the system call's result
 * cast to a pointer (a count, or a negative errno) from the reactor
 * thread; the caller keeps op and the buffer alive until then. */
enum { WF__FILE_READ, WF__FILE_WRITE, WF__FILE_FSYNC };
struct wf_promise;
struct wf__fileop {
    int kind;
    int fd;
    void *buf;
    size_t n;
    int64_t off;
    struct wf_promise *p;
};

struct wf__backend_ev {
    uint64_t key;
    unsigned events;
};

struct wf__backend {
    const char *name;
    int (*open)(void **st);
    int (*add)(void *st, int fd, uint64_t key);
    int (*del)(void *st, int fd, uint64_t key);
    int (*wait)(void *st, struct wf__backend_ev *evs, int max,
                int64_t deadline);
    void (*wakeup)(void *st);
    bool workers_poll;
    void (*close)(void *st);
    /* Optional (NULL: files go through the blocking pool). Queue a file
     * operation; 0 or a negative errno (then p is not completed). Any
     * thread. */
    int (*file)(void *st, struct wf__fileop *op);
    /* Optional: whether operations are still in flight; the reactor
     * thread keeps waiting until they are all done before it stops, so no
     * kernel write lands in a buffer after shutdown. */
    bool (*busy)(void *st);
};

extern const struct wf__backend wf__backend_epoll;
const struct wf__backend *wf__backend_uring(void);

#endif
