/* SPDX-License-Identifier: MIT */
/*
 * src/async/rings.h - socket operations on per-worker io_uring rings
 * (rings.c; rings_none.c in a build without liburing), and what the
 * reactor does for them.
 */
#ifndef WEFT_ASYNC_RINGS_H
#define WEFT_ASYNC_RINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/waitrec.h"

struct wf__iofd;

/* RECVV, SENDV: buf is a struct iovec array, n its count (recvmsg(2),
 * sendmsg(2)). ACCEPT: buf is a struct wf__ring_acc, n unused; the
 * result is the new descriptor, non-blocking and close-on-exec (with
 * WEFT_IO_MSHOT=1 from a multishot accept, also for plain threads while
 * one is armed on the listener: rings.c). */
enum wf__ring_kind {
    WF__RING_RECV,
    WF__RING_SEND,
    WF__RING_RECVV,
    WF__RING_SENDV,
    WF__RING_ACCEPT,
    WF__RING_POLLIN /* wf_fd_wait for reading: only where multishot data
                     * is kept (rings.c); buf, n unused, result WF_IO_READ */
};

struct wf__ring_acc {
    struct sockaddr *addr;
    socklen_t *len;
};

/* Run one receive (or send) of fd on the calling worker's ring, parking
 * the calling fiber until the kernel has completed it: true with the
 * result in *out (a count or a negative WF_E*), or false when the ring
 * path does not apply (rings off or unavailable, a plain thread, fd not a
 * socket); the caller then uses the readiness path. flags are recv(2) /
 * send(2) flags (MSG_DONTWAIT is ignored; sends add MSG_NOSIGNAL). `what`
 * names the call in a trace (enum wf__tio). */
bool wf__ring_io(int fd, enum wf__ring_kind kind, void *buf, size_t n,
                 int flags, int64_t deadline, int what, ssize_t *out);

/* Whether the calling worker's fibers use a ring (weft/io.h wf_io_rings). */
bool wf__rings_in_use(void);

/* Called by the reactor (reactor.c):
 *   - wf__ring_event: the ring of worker `index` has completions; reap
 *     them. Returns the ring's descriptor (for a re-add), or -1.
 *   - wf__ring_cancel: the operation linked at cl in a descriptor's entry
 *     must end (why: WF_EBADF for a close, WF_ESHUTDOWN); the entry's
 *     lock held. */
int wf__ring_event(uint32_t index);
void wf__ring_cancel(struct wf__clause *cl, int why);

/* In reactor.c, for rings.c: */
/* Watch a worker's ring descriptor in the reactor's set, starting the
 * reactor if needed; events come back as wf__ring_event(index). */
int wf__reactor_watch_ring(int ringfd, uint32_t index);
/* Link cl into e while gen is e's generation, the descriptor usable and
 * the reactor up (the entry's lock held: wf__iofd_lock): 0, WF_EBADF or
 * WF_ESHUTDOWN. Unlink (takes the lock): after the operation completed;
 * a cancel made by a close in between is done. */
int wf__iofd_ring_link(struct wf__iofd *e, uint32_t gen, struct wf__clause *cl);
void wf__iofd_ring_unlink(struct wf__iofd *e, struct wf__clause *cl);
/* Whether a clause whose `queue` is queue is linked in e (the entry's
 * lock held): rings.c's single-shot receives. */
bool wf__iofd_rq_has(struct wf__iofd *e, uint8_t queue);
/* Whether fd's entry is marked for readiness only since its generation
 * began: fd was seen not to be a socket, or is a listener that an
 * accept or a wait which could not arm a multishot marked (rings.c,
 * macc_gate); its ring calls then take the readiness path, but a marked
 * listener's accepts still take its kept connections first. */
bool wf__iofd_notsock(struct wf__iofd *e);
void wf__iofd_set_notsock(struct wf__iofd *e, uint32_t gen);
/* Start the reactor if it is not running (a plain thread's read may come
 * before any I/O started it): 0, or why not (WF_ESHUTDOWN: no runtime). */
int wf__reactor_up(void);
/* Multishot receive state of an entry (rings.c), under the entry's
 * lock (wf__iofd_lock): the state's pointer; attach it with its clause
 * linked in the entry while gen is current and the reactor up (0,
 * WF_EBADF, WF_ESHUTDOWN), detach it (clause unlinked if linked). The
 * reactor's close/renew and shutdown call wf__ring_cancel on the clause
 * like any ring operation's, with the entry's lock held; that call may
 * detach and free the state (the reactor reads the next clause first). */
void wf__iofd_lock(struct wf__iofd *e);
void wf__iofd_unlock(struct wf__iofd *e);
void *wf__iofd_ms(struct wf__iofd *e);
int wf__iofd_ms_attach(struct wf__iofd *e, uint32_t gen, struct wf__clause *cl,
                       void *ms);
void wf__iofd_ms_detach(struct wf__iofd *e, struct wf__clause *cl);
/* An edge for the entry's readers on readiness (entry lock held): they
 * look again (a multishot was armed: wf_fd_wait goes to its state). */
void wf__iofd_edge_read(struct wf__iofd *e);
/* Whether fd has a multishot state that may be armed (not noarm): a
 * fiber's wf_fd_wait for reading then waits on it (wf__ring_io with
 * WF__RING_POLLIN), not on readiness, which the multishot swallows. */
bool wf__ring_ms_live(int fd);
/* Multishot accept state of a listener's entry (rings.c), the same way
 * as the receive's above, in a slot of its own. */
void *wf__iofd_macc(struct wf__iofd *e);
int wf__iofd_macc_attach(struct wf__iofd *e, uint32_t gen,
                         struct wf__clause *cl, void *macc);
void wf__iofd_macc_detach(struct wf__iofd *e, struct wf__clause *cl);
/* Whether the process runs under valgrind (io_uring waits hang there). */
bool wf__reactor_valgrind(void);

#endif
