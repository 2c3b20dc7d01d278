/* SPDX-License-Identifier: MIT */
/*
 * src/async/async_int.h - what the async layer's files share.
 *
 *   future.c   futures, promises, then, await/wait, when_all/when_any,
 *              wf_async
 *   pool.c     the blocking-call pool, wf_getaddrinfo
 *   reactor.c  the fd table, the wait protocol of fiber-blocking I/O, the
 *              reactor thread; one backend behind backend.h (epoll.c,
 *              uring.c or, without liburing, uring_none.c)
 *   io.c       the socket API of weft/io.h on top of the reactor
 *   iofuture.c the same operations as futures
 *   file.c     file I/O at offsets (io_uring or the pool)
 *   signal.c   signals as events (signalfd through the reactor)
 *   async.c    the shutdown hook
 *
 * Lifecycle. The pool and the reactor start lazily, on first use, and stop
 * in wf__async_shutdown, which wf_shutdown calls (src/core/runtime.c,
 * through wf__hooks.async_shutdown) once the runtime is STOPPING and
 * before its workers stop, so that no pool or reactor thread wakes a
 * fiber after the workers are gone.
 */
#ifndef WEFT_ASYNC_INT_H
#define WEFT_ASYNC_INT_H

#include <stdbool.h>

#include "core/core_int.h"

/* Stop the reactor and the blocking pool (runtime.c, wf_shutdown, through
 * wf__hooks.async_shutdown). Called from the thread running wf_shutdown
 * with the runtime STOPPING. */
void wf__async_shutdown(void);
/* Fill in wf__hooks.async_shutdown. pool.c and reactor.c each call it
 * from a constructor: they hold the lazy starts, so any link that can
 * start the pool or the reactor also registers their stop. */
static inline void wf__async_hook(void)
{
    wf__hooks.async_shutdown = wf__async_shutdown;
}

/* Each part's share of it. */
void wf__pool_shutdown(void);
void wf__reactor_shutdown(void);

/* Wait for f without a deadline, ignoring the calling fiber's
 * cancellation (for operations whose memory must outlive the wait, such
 * as file I/O into the caller's buffer). 0, or WF_ESHUTDOWN for a plain
 * thread when the runtime stops. */
struct wf_future;
int wf__future_wait_nocancel(struct wf_future *f);

/* Whether the runtime accepts new work (state RUNNING). */
static inline bool wf__rt_running(void)
{
    /* acquire: pairs with wf_init's release store of RUNNING. */
    return atomic_load_explicit(&wf__rt.state, memory_order_acquire) ==
           WF__RT_RUNNING;
}

#endif
