/* SPDX-License-Identifier: MIT */
/*
 * src/async/async_test.h - hooks that let tests see inside the reactor.
 *
 * Only test programs built against weft_testlib include this. The wait
 * hook is the one hook that acts: it lets a test run code at a chosen
 * point of a wait (close a descriptor, reuse its number) to replay races
 * that are otherwise a matter of luck. Unset, it costs a wait one load
 * and one predictable branch.
 */
#ifndef WEFT_ASYNC_TEST_H
#define WEFT_ASYNC_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called by wf__iofd_wait (reactor.c), on the waiting thread, after the
 * caller's attempt would have blocked and after the wait has looked at
 * whether fd is registered, before it registers fd or parks: fd and the
 * direction (0 read, 1 write). NULL (the default) turns it off. The hook
 * may itself call weft's I/O calls (they call it again: it must tell its
 * own calls apart). Set it while no I/O call waits; any thread. */
typedef void wf__test_wait_hook_fn(int fd, int dir);
void wf__test_set_wait_hook(wf__test_wait_hook_fn *fn);

/* Called by wf_close (io.c) on the closing thread, after the reactor
 * has forgotten fd and before close(2): lets a test start a new call on
 * fd inside that window. NULL (the default) turns it off. Set it while no
 * wf_close runs; any thread. */
typedef void wf__test_close_hook_fn(int fd);
void wf__test_set_close_hook(wf__test_close_hook_fn *fn);

/* Registrations the reactor has asked its backends for (add calls) since
 * the process started. */
long wf__test_reactor_adds(void);

/* Events dispatched since the process started: by workers polling (the
 * worker poller) into *workers, by the reactor thread (the fallback, or
 * the backend's only waiter) into *thread. Either may be NULL. */
void wf__test_reactor_dispatched(long *workers, long *thread);

/* Whether a worker blocks in the backend's wait now (the poll sleeper). */
bool wf__test_poll_sleeping(void);

/* wf_tcp_connect's deadline for one attempt at time now, with left
 * addresses (this one included) still to try before deadline: an equal
 * share of the time left (the last attempt: all of it), never less than
 * a millisecond or what is left if less; deadline itself
 * when WF_FOREVER or already passed. */
int64_t wf__connect_attempt_deadline(int64_t now, int64_t deadline,
                                     size_t left);

#endif
