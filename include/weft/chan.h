/* SPDX-License-Identifier: MIT */
/*
 * weft/chan.h - Go-style channels of fixed-size elements, and select.
 *
 * A channel carries elements of one size (fixed at creation, 0 allowed for
 * pure signals) from senders to receivers, in FIFO order per sender. With
 * capacity 0 it is unbuffered: a send completes only when a receiver takes
 * the element (a rendezvous), and everything the sender did before the
 * send happens before everything the receiver does after its receive.
 * With capacity n > 0 up to n elements wait in the channel; a send blocks
 * only while it is full, a receive only while it is empty. Everything a
 * sender did before a send happens before the receive that gets the
 * element.
 *
 * Ownership. wf_chan_create returns a channel holding one reference;
 * wf_chan_retain adds one and wf_chan_release drops one; the channel is
 * freed when the last is dropped. Whoever calls into a channel must hold a
 * reference for the whole call, so a channel cannot be freed while anyone
 * is blocked on it. Elements are copied in and out by value (memcpy of
 * elem_size bytes); the channel never owns what an element points to. When
 * a channel holding elements is freed, they are dropped without notice:
 * drain it first if they own memory.
 *
 * Closing. wf_chan_close marks the channel closed: every blocked receiver
 * and sender is woken; receivers first drain the buffered elements, then
 * get WF_EPIPE; senders (blocked or later) get WF_EPIPE and their element
 * is not sent. Closing twice returns WF_EPIPE too. Closing is not required
 * before release.
 *
 * Waiting. Fibers park (their worker runs others); plain threads block on
 * a futex, and can block only while a runtime runs (otherwise a call that
 * would have to wait returns WF_ESHUTDOWN; wf_shutdown wakes blocked plain
 * threads with WF_ESHUTDOWN). Fibers and plain threads may share a channel.
 * Blocked senders and receivers are served in FIFO order. Deadlines are
 * absolute monotonic ns (WF_FOREVER: none; one in the past: do not wait).
 * A call that can complete without waiting completes, even in a cancelled
 * fiber or past its deadline. A blocking call that gave up (deadline,
 * cancellation, shutdown) sent or received nothing. Conversely, once the
 * other side (or wf_chan_close) has taken a blocked call's operation, the
 * call reports that completion, even when its deadline passes, its fiber
 * is cancelled or the runtime shuts down before it has returned.
 */
#ifndef WEFT_CHAN_H
#define WEFT_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wf_chan;

/* Largest element size and capacity a channel accepts. */
#define WF_CHAN_ELEM_MAX ((size_t)1 << 20)
#define WF_CHAN_CAP_MAX ((size_t)1 << 30)

/* Create a channel of elem_size-byte elements holding up to capacity
 * buffered elements (0: unbuffered). On success *out holds the channel
 * (one reference) and 0 is returned. WF_EINVAL: out is NULL, elem_size >
 * WF_CHAN_ELEM_MAX or capacity > WF_CHAN_CAP_MAX; WF_ENOMEM: no memory.
 * Any thread, no runtime needed. */
WF_API int wf_chan_create(struct wf_chan **out, size_t elem_size,
                          size_t capacity);

/* Add a reference. Any thread. */
WF_API void wf_chan_retain(struct wf_chan *c);

/* Drop a reference; the last one frees the channel (and any buffered
 * elements). Any thread. NULL is ignored.
 * Misuse: dropping the last reference while a call waits on the channel
 * (see Ownership), releasing once more than created and retained, and
 * any call on a channel after its last release end the process with a
 * message naming the call ("weft: wf_chan_send: channel used after its
 * last wf_chan_release") as long as the freed memory has not been handed
 * out again; once it has, the behaviour is undefined (ASan reports it). */
WF_API void wf_chan_release(struct wf_chan *c);

/* Send the element at elem (elem_size bytes; may be NULL when elem_size
 * is 0). Waits while the channel is full (unbuffered: until a receiver
 * takes it). Returns 0 when sent; WF_EPIPE if the channel is or becomes
 * closed before the element is taken; WF_ETIMEDOUT; WF_ECANCELED;
 * WF_ESHUTDOWN; WF_ENOMEM (no memory for a deadline timer, or for a
 * plain thread's first wait in weft; nothing sent); WF_EINVAL (c NULL, or
 * elem NULL with a non-zero element size). */
WF_API int wf_chan_send(struct wf_chan *c, const void *elem, int64_t deadline);

/* Receive the oldest element into elem (may be NULL to discard it). Waits
 * while the channel is empty and open. Returns 0 when an element was
 * received; WF_EPIPE when the channel is closed and drained (elem is left
 * untouched); WF_ETIMEDOUT; WF_ECANCELED; WF_ESHUTDOWN; WF_ENOMEM;
 * WF_EINVAL (c NULL). */
WF_API int wf_chan_recv(struct wf_chan *c, void *elem, int64_t deadline);

/* Non-blocking variants: complete now or return WF_EAGAIN (full, or no
 * receiver waiting on an unbuffered channel / empty, or no sender
 * waiting). Otherwise as above. Any thread, no runtime needed. */
WF_API int wf_chan_try_send(struct wf_chan *c, const void *elem);
WF_API int wf_chan_try_recv(struct wf_chan *c, void *elem);

/* Close the channel (see Closing). Returns 0, or WF_EPIPE if it was
 * already closed, WF_EINVAL if c is NULL. Any thread; never blocks. */
WF_API int wf_chan_close(struct wf_chan *c);

/* Elements buffered now, and the capacity. A snapshot: it may be stale by
 * the time it is read. Any thread. */
WF_API size_t wf_chan_len(const struct wf_chan *c);
WF_API size_t wf_chan_cap(const struct wf_chan *c);
/* Whether wf_chan_close has been called. A snapshot. */
WF_API bool wf_chan_closed(const struct wf_chan *c);
/* The element size given at creation. */
WF_API size_t wf_chan_elem_size(const struct wf_chan *c);

/* ---- select ---------------------------------------------------------------- */

enum wf_chan_op {
    WF_CHAN_RECV = 1,
    WF_CHAN_SEND = 2,
};

/* One case of a select. The caller fills chan, op and elem; wf_select
 * fills result of the case it completes. A case whose chan is NULL is
 * never ready (a way to switch a case off). The same channel may appear in
 * several cases. */
struct wf_select_case {
    struct wf_chan *chan;
    enum wf_chan_op op;
    void *elem;  /* SEND: the element to send; RECV: where to store (or NULL) */
    int result;  /* out: 0, or WF_EPIPE when the case completed on a
                  * closed channel (a receive found it drained, or a send
                  * found it closed) */
};

/* Most cases one select accepts. */
#define WF_SELECT_MAX 4096

/* Complete exactly one of the n cases, waiting until one can complete.
 * When several are ready, one is chosen uniformly at random, so no case
 * starves. A case on a closed channel is ready (its result is WF_EPIPE).
 * Returns the index of the completed case (>= 0); or WF_ETIMEDOUT when the
 * deadline passed with none ready; WF_ECANCELED; WF_ESHUTDOWN; WF_ENOMEM;
 * WF_EINVAL (cases NULL with n > 0, n > WF_SELECT_MAX, a bad op, or a SEND
 * with elem NULL on a channel with non-zero element size). With n == 0 (or
 * only NULL channels) it waits for the deadline or cancellation. A fiber
 * blocked in a select is woken once, by the case that completes. A
 * returned index is always a case that completed: its result is 0 or
 * WF_EPIPE, and no other case's element was read or written. */
WF_API int wf_select(struct wf_select_case *cases, size_t n, int64_t deadline);

/* Select with a default: complete a ready case now (as above) or return
 * WF_EAGAIN. Any thread, no runtime needed. */
WF_API int wf_select_try(struct wf_select_case *cases, size_t n);

/* ---- timer channels -------------------------------------------------------- */

/* A timer channel delivers the time (an int64_t, wf_now() when it fired)
 * on a channel of its own: once at a deadline (Go's time.NewTimer), or
 * every period after it (a ticker, Go's time.NewTicker). Receive on
 * wf_chan_timer_chan(t) like on any channel, wf_select included. The
 * channel buffers one value: when the reader has not taken the last one,
 * a tick is dropped, so a slow reader of a ticker misses ticks rather
 * than finding a backlog. A ticker's next deadline is the next multiple
 * of the period (counted from the first deadline) after the time it
 * fired, so ticks keep their phase. The values come from a timer
 * callback on a worker (weft/timer.h): no fiber or thread is spent.
 *
 * Guarantee of stop (as Go's Timer.Stop since Go 1.23): once
 * wf_chan_timer_stop (or reset, or free) has returned, no value of the
 * arming it stopped is delivered: the timer will not fire, a callback
 * that was firing has finished, and a value already buffered was removed.
 * Its result says which side of the race won, for a one-shot timer:
 * 0 if the value had not been received (it was never sent, or stop
 * removed it), WF_EALREADY if a receive took it (before stop removed
 * it) or the timer was stopped already. So exactly one of "a receiver
 * got the value" and "stop returned 0" holds. For a ticker stop returns
 * 0 if it was ticking. A receive that is blocked when stop returns
 * stays blocked (until its deadline; the channel is not closed).
 *
 * Rules. The channel belongs to the timer: do not send on it or close it
 * (the value a fire finds room for is what receivers see). The control
 * calls of one timer (stop, reset, free) must not overlap (they return
 * WF_EBUSY instead of racing); receivers may run anywhere at any time,
 * fibers and plain threads. They return WF_EPERM from inside a
 * weft/timer.h callback, where waiting for a callback is not allowed.
 * free drops the timer's reference to the channel: a receiver still
 * blocked on it then must hold its own (wf_chan_retain). A ticker whose
 * re-arm finds no memory for its timer heap (WF_ENOMEM, never seen in
 * practice) stops ticking. Timers armed at wf_shutdown never fire; stop
 * and free work after it.
 *
 * Example: wait for a message for at most 100 ms, with a heartbeat every
 * 10 ms.
 *
 *     struct wf_chan_timer *timeout, *beat;
 *     wf_chan_timer_create(&timeout, wf_deadline_in(100 * WF_MSEC), 0);
 *     wf_chan_timer_create(&beat, wf_deadline_in(10 * WF_MSEC),
 *                          10 * WF_MSEC);
 *     int64_t when;
 *     struct wf_select_case cs[] = {
 *         { msgs, WF_CHAN_RECV, &msg, 0 },
 *         { wf_chan_timer_chan(timeout), WF_CHAN_RECV, &when, 0 },
 *         { wf_chan_timer_chan(beat), WF_CHAN_RECV, &when, 0 },
 *     };
 *     for (;;) {
 *         int i = wf_select(cs, 3, WF_FOREVER);
 *         if (i == 0) { handle(&msg); break; }
 *         if (i == 1) break;                 // timed out
 *         send_heartbeat();                  // i == 2
 *     }
 *     wf_chan_timer_free(timeout);
 *     wf_chan_timer_free(beat);
 */
struct wf_chan_timer;

/* Create a timer channel that fires at `deadline` (absolute, wf_now()'s
 * clock; one already passed fires at once) and, if period > 0, every
 * period ns after (a tick that would fall past INT64_MAX ns is never:
 * period WF_FOREVER makes a one-shot). Any thread, while a runtime runs. Errors: WF_EINVAL
 * out NULL or period < 0; WF_ENOMEM; WF_ESHUTDOWN no runtime runs;
 * WF_EPERM from a timer callback. */
WF_API int wf_chan_timer_create(struct wf_chan_timer **out, int64_t deadline,
                                int64_t period);

/* The channel the values arrive on (int64_t elements, capacity 1). The
 * timer holds a reference until wf_chan_timer_free. NULL if t is NULL. */
WF_API struct wf_chan *wf_chan_timer_chan(const struct wf_chan_timer *t);

/* Stop t (see the guarantee above). Returns 0 (a delivery was prevented,
 * a ticker was ticking) or WF_EALREADY (its value was received, or t was
 * stopped). WF_EBUSY another control call of t runs; WF_EPERM from a
 * timer callback; WF_EINVAL t NULL. Any other thread or fiber; waits
 * only for a callback that is firing t (a fiber yields meanwhile). */
WF_API int wf_chan_timer_stop(struct wf_chan_timer *t);

/* Stop t as wf_chan_timer_stop does (dropping a value not received), then
 * arm it again for `deadline` and `period` (0: one-shot). Returns 0, or
 * the errors of stop (nothing changed then) and WF_ESHUTDOWN / WF_ENOMEM
 * (t stays stopped). */
WF_API int wf_chan_timer_reset(struct wf_chan_timer *t, int64_t deadline,
                               int64_t period);

/* Stop t and free it, dropping its reference to the channel. Returns 0
 * (also for t NULL), WF_EBUSY or WF_EPERM (nothing done). */
WF_API int wf_chan_timer_free(struct wf_chan_timer *t);

#ifdef __cplusplus
}
#endif

#endif
