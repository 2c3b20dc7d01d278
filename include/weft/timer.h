/* SPDX-License-Identifier: MIT */
/*
 * weft/timer.h - one-shot timers whose callbacks run on the runtime's
 * workers.
 *
 * A timer lives in caller storage (struct wf_timer), is set up once with
 * wf_timer_init and armed with wf_timer_start for an absolute monotonic
 * deadline (ns, the clock of wf_now()). When the deadline passes, a worker
 * runs the callback once. Timers sit in the workers' timer heaps (one per
 * worker: an 8-ary heap, and once a heap holds thousands of timers, a
 * ring of ~1 ms buckets in front of it for deadlines up to ~2 s ahead),
 * so arming costs O(log n) or O(1) with no allocation beyond the heap's
 * arrays, and a million pending timers cost about 32 bytes each on top
 * of their storage. An idle runtime sleeps until its next deadline.
 * Timers due at the same instant run in no promised order.
 *
 * The callback runs on a worker thread's own stack (its scheduler loop),
 * outside every weft lock and outside every fiber: no fiber is current
 * (wf_self() is 0), so nothing it calls can yield or park a fiber. It must
 * be short and must not block (no weft blocking call, no blocking system
 * call, no parallel call from weft/par.h, which would block the worker
 * like a plain thread).
 * It may arm its own timer again (a periodic timer re-arms itself: the new
 * deadline takes effect when the callback returns), start or stop other
 * timers, wake fibers (wf_unpark), complete promises (if the future is
 * being cancelled on another thread, the completion spins until the
 * cancel handler there has returned), send on channels with
 * wf_chan_try_send. One timer's callback never runs twice at once: a start
 * from outside while it runs waits for it to return first.
 *
 * Timers need a running runtime: armed timers left at wf_shutdown never
 * fire (wf_timer_stop afterwards reports them stopped).
 */
#ifndef WEFT_TIMER_H
#define WEFT_TIMER_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WF_TIMER_SIZE 80

/* Caller storage for one timer; must not be moved or copied while armed. */
struct wf_timer { WF_ALIGN(8) unsigned char opaque[WF_TIMER_SIZE]; };

/* The callback, with the timer and the argument given to wf_timer_init. */
typedef void wf_timer_fn(struct wf_timer *t, void *arg);

/* Set up t to call fn(t, arg). Returns 0, or WF_EINVAL (t or fn NULL).
 * Any thread; no runtime needed. Do not call it on an armed timer. */
WF_API int wf_timer_init(struct wf_timer *t, wf_timer_fn *fn, void *arg);

/* Arm t to fire at `deadline` (a deadline already passed fires as soon as
 * a worker looks, typically within microseconds). From a fiber the timer
 * goes into its worker's heap; from a plain thread into a worker's heap
 * chosen round-robin (waking that worker if it sleeps past the deadline).
 * Returns 0; WF_EBUSY if t is armed, fired and about to run, or already
 * re-armed by its callback (stop it first); WF_ESHUTDOWN if no runtime
 * runs; WF_ENOMEM if the heap cannot grow; WF_EINVAL if t is NULL or not
 * initialised. Inside t's own callback it re-arms t for after the
 * callback (see above), taking the heap slot at once, so WF_ENOMEM comes
 * back here rather than being lost later. While t's callback runs on a
 * worker, a start from anywhere else first waits for it to return (a
 * fiber yields, a thread yields its CPU); from another timer's callback,
 * which must not wait, it returns WF_EBUSY instead. Any thread; blocks
 * only for that wait. Each start that returns 0 ends in exactly one run
 * of the callback or one wf_timer_stop that returns 0 (a re-arm from t's
 * own callback may instead be cancelled by a stop from that callback,
 * which returns WF_EALREADY). */
WF_API int wf_timer_start(struct wf_timer *t, int64_t deadline);

/* Disarm t. Returns 0 if t was armed and its callback will not run;
 * WF_EALREADY if it was not armed, or its callback has run or is running:
 * then wf_timer_stop waits until the callback has returned, so afterwards
 * the storage may be reused. Called from a timer callback it never waits:
 * from t's own callback it cancels a re-arm and returns WF_EALREADY; from
 * another timer's callback WF_EALREADY means t's callback may still be
 * running or about to run. WF_EINVAL if t is NULL or not initialised. Any
 * thread; a fiber waiting for a callback yields, a plain thread spins
 * with sched_yield. */
WF_API int wf_timer_stop(struct wf_timer *t);

#ifdef __cplusplus
}
#endif

#endif
