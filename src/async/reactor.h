/* SPDX-License-Identifier: MIT */
/*
 * src/async/reactor.h - the waiting protocol of fiber-blocking I/O, shared
 * by the socket calls (io.c) and anything else that waits on a descriptor.
 *
 * A call on descriptor fd runs:
 *
 *     struct wf__iofd *e = wf__iofd_get(fd, &err);   // NULL: err
 *     for (;;) {
 *         uint32_t gen = wf__iofd_gen(e);
 *         unsigned seq = wf__iofd_seq(e, dir);       // before the attempt
 *         r = the non-blocking system call;
 *         if (r != -EAGAIN) return r;
 *         err = wf__iofd_wait(e, fd, dir, seq, gen, deadline);
 *         if (err) return err;                       // else: try again
 *     }
 *
 * wf__iofd_wait registers fd with the reactor if needed (starting the
 * reactor on first use) and parks until an edge for `dir` arrives after
 * `seq` was read. An edge that lands between the attempt and the park is
 * seen through the counter, so no wake-up is lost (see reactor.c).
 */
#ifndef WEFT_ASYNC_REACTOR_H
#define WEFT_ASYNC_REACTOR_H

#include <stdint.h>

#include "async_int.h"

enum { WF__DIR_READ = 0, WF__DIR_WRITE = 1 };

struct wf__iofd;

/* The entry of fd (created on first use; entries live as long as the
 * process). NULL with *err = WF_EBADF (fd negative or beyond the table)
 * or WF_ENOMEM. Any thread. */
struct wf__iofd *wf__iofd_get(int fd, int *err);
/* The entry's generation (bumped when fd is closed or renewed; odd
 * while a wf_close of fd runs) and the edge counter of a direction; read
 * before an attempt. */
uint32_t wf__iofd_gen(struct wf__iofd *e);
unsigned wf__iofd_seq(struct wf__iofd *e, int dir);
/* Wait for the next edge of `dir` after `seq`. 0: try again; else
 * WF_EBADF (closed since `gen` was read, even if fd now names another
 * descriptor: nothing is registered for it then; or being closed), WF_ETIMEDOUT,
 * WF_ECANCELED, WF_ESHUTDOWN, WF_ENOMEM, or the registration's error
 * (-EPERM: fd cannot be polled). */
int wf__iofd_wait(struct wf__iofd *e, int fd, int dir, unsigned seq,
                  uint32_t gen, int64_t deadline);
/* fd is a descriptor just returned by the kernel (socket, accept...): any
 * state an earlier descriptor with its number left behind is dropped. */
void wf__iofd_renew(int fd);
/* Run a file operation on the reactor's backend (starting the reactor if
 * needed). 0: op->p will be completed; WF_ENOSYS: this backend does no
 * file I/O (use the pool); WF_ESHUTDOWN, or the backend's error. */
struct wf__fileop;
int wf__reactor_file(struct wf__fileop *op);
/* Closing fd (wf_close): forget it (wake its waiters with WF_EBADF, drop
 * the registration) and refuse every wait on it until
 * wf__iofd_close_end, so that a call starting while the caller closes
 * it cannot register the dying descriptor. Returns what to pass to
 * wf__iofd_close_end, which the caller calls after close(2). */
uint32_t wf__iofd_close_begin(int fd);
void wf__iofd_close_end(int fd, uint32_t closing);

#endif
