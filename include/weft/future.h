/* SPDX-License-Identifier: MIT */
/*
 * weft/future.h - futures and promises: the result of an operation that
 * completes later, consumed by a callback, by an await that parks only the
 * calling fiber, or by a blocking wait from a plain thread.
 *
 * A promise and its future are two ends of one heap object. The producer
 * holds the promise and completes it exactly once, with a value
 * (wf_promise_complete) or a negative error code (wf_promise_fail); either
 * call gives the promise up. Consumers hold the future: one reference comes
 * from wf_promise_create (or the call that returned the future), each
 * wf_future_ref adds one, each wf_future_release gives one back. The object
 * is freed when the promise has been given up and the last future reference
 * released, so either side may finish first and nothing leaks on any path:
 * callbacks registered with wf_future_then always run exactly once (a
 * cancelled future runs them with WF_ECANCELED as its outcome) and their
 * bookkeeping is freed after they ran.
 *
 * Outcome. A completed future holds an error code (0 for success) and, on
 * success, a void * value. The value is not the future's unless the
 * producer hands it over with wf_promise_complete_owned (then it is freed
 * with the future); otherwise whoever reads it decides what it means (a
 * pointer to the producer's memory, an integer cast to a pointer...). A
 * value passed to a promise whose future had
 * already been cancelled is not stored; wf_promise_complete says so
 * (WF_ECANCELED) and the value stays with the producer.
 *
 * Cancellation. Any holder of the future may cancel it while it is
 * pending: the future completes at once with WF_ECANCELED (callbacks run,
 * waiters return) and the producer's cancel handler (wf_promise_on_cancel),
 * if any, is called once so that the operation behind the future can stop
 * where it can. Cancelling a completed future does nothing (WF_EALREADY).
 *
 * Threads. Every call may be made from any thread (fiber or plain thread),
 * with or without a running runtime, except the waits: wf_future_await is
 * fiber only; wf_future_wait parks a fiber or blocks a plain thread, and a
 * plain thread can wait only while a runtime runs (else WF_ESHUTDOWN).
 *
 * Shutdown. A fiber still waiting on a future when wf_shutdown discards
 * it leaves its wait record in the future, which then must not be
 * completed or cancelled any more (only released): complete, cancel or
 * stop waiting on futures before the runtime stops, as with the sync
 * primitives. Plain threads waiting are released with WF_ESHUTDOWN and
 * leave nothing behind.
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wf_future;
struct wf_promise;

/* Called once when a future completes (any outcome), with the future (a
 * reference is held for the duration of the call; take your own with
 * wf_future_ref to keep it longer) and the registered argument. */
typedef void wf_future_fn(struct wf_future *f, void *arg);
/* A producer's cancel handler. */
typedef void wf_cancel_fn(void *arg);

/* ---- producer side ------------------------------------------------------ */

/* Create a pending future and its promise. On success *p is the promise
 * (give it up with wf_promise_complete or wf_promise_fail) and *f holds one
 * future reference (give it up with wf_future_release). Any thread, never
 * blocks. Errors: WF_EINVAL p or f NULL; WF_ENOMEM (nothing allocated). */
WF_API int wf_promise_create(struct wf_promise **p, struct wf_future **f);

/* Complete the future with `value` and give up the promise (p must not be
 * used afterwards, whatever the result). Wakes every waiter and runs the
 * `then` callbacks on the calling thread, before returning, in the order
 * they were registered. Any thread; never parks, but if the future was
 * cancelled and its cancel handler is running on another thread, waits
 * (yielding) for the handler to return, so that on return the handler is
 * not running and never will (except when called from inside that
 * handler). Returns 0; WF_ECANCELED the future had been cancelled (the
 * value was not stored and stays the caller's); WF_EINVAL p NULL. */
WF_API int wf_promise_complete(struct wf_promise *p, void *value);

/* wf_promise_complete, but the future owns `value`: drop(value) is called
 * when the future's memory is freed (after the last reference is
 * released), so consumers read the value while they hold a reference and
 * nobody has to free it. If the future had been cancelled (WF_ECANCELED),
 * drop is not called and the value stays the caller's. Errors as
 * wf_promise_complete, and WF_EINVAL drop NULL (p is then still the
 * caller's, unless p was NULL). */
WF_API int wf_promise_complete_owned(struct wf_promise *p, void *value,
                                     void (*drop)(void *value));

/* Complete the future with the error `err` (negative; 0 or a positive
 * value is turned into WF_EINVAL's code so that the future still fails)
 * and give up the promise. Same rules and results as wf_promise_complete. */
WF_API int wf_promise_fail(struct wf_promise *p, int err);

/* Register the operation's cancel handler: fn(arg) is called exactly once
 * if the future is cancelled while pending, on the cancelling thread, with
 * no weft lock held; never if the future completes first. It must not park
 * or block (it may cancel fibers, other futures, set flags). At most one
 * handler; a second call replaces the first. Any thread. Returns 0;
 * WF_ECANCELED the future is already cancelled (fn is not called: act on
 * the cancellation yourself); WF_EALREADY p is already complete (cannot
 * happen while the caller still owns p); WF_EINVAL p or fn NULL. */
WF_API int wf_promise_on_cancel(struct wf_promise *p, wf_cancel_fn *fn,
                                void *arg);

/* Whether the future of p has been cancelled. Any thread, never blocks. */
WF_API bool wf_promise_cancelled(const struct wf_promise *p);

/* ---- consumer side ------------------------------------------------------ */

/* Take one more reference to f. Any thread. Returns f (NULL if f NULL). */
WF_API struct wf_future *wf_future_ref(struct wf_future *f);

/* Give back one reference. The future itself may still complete (its
 * producer and callbacks keep it alive); the memory is freed once the
 * producer is done and no reference is left. Any thread, never blocks.
 * NULL is ignored.
 * Misuse: completing or failing a promise a second time, and any call on
 * a future or promise whose memory was freed (released too often) end the
 * process with a message naming the call ("weft: wf_promise_complete:
 * promise completed twice ..."), the latter as long as the freed memory
 * has not been handed out again; once it has, the behaviour is undefined
 * (ASan reports it). */
WF_API void wf_future_release(struct wf_future *f);

/* Whether f has completed (with any outcome). Any thread, never blocks. */
WF_API bool wf_future_done(const struct wf_future *f);

/* The outcome of a completed future: returns its error code (0 on
 * success) and, on success, stores its value in *value (if value is not
 * NULL). Any thread, never blocks. Errors besides the future's own:
 * WF_EAGAIN f has not completed yet (nothing stored); WF_EINVAL f NULL.
 * (A producer may itself fail a future with WF_EAGAIN; check
 * wf_future_done() when that matters.) */
WF_API int wf_future_result(const struct wf_future *f, void **value);

/* Call fn(f, arg) once f completes: on the thread that completes it
 * (inside wf_promise_complete / wf_promise_fail / wf_future_cancel, which
 * may be a worker, a reactor or pool thread, a plain thread), or at once on
 * the calling thread if f has already completed. fn must not park or block
 * (it runs on whatever thread completed the future, possibly with no fiber
 * to park); to do blocking work, start a fiber (wf_go) from it. Any
 * thread. Returns 0; WF_EINVAL f or fn NULL; WF_ENOMEM (fn will not be
 * called). */
WF_API int wf_future_then(struct wf_future *f, wf_future_fn *fn, void *arg);

/* Wait inside a fiber until f completes: parks the calling fiber only.
 * Returns 0 once f has completed (read the outcome with
 * wf_future_result); WF_ETIMEDOUT the deadline passed first; WF_ECANCELED
 * the calling fiber was cancelled (f is not cancelled by that); WF_ENOMEM
 * no memory for the deadline's timer; WF_EPERM not called from a fiber;
 * WF_EINVAL f NULL. A completion that races with the deadline or a
 * cancellation counts as completed. */
WF_API int wf_future_await(struct wf_future *f, int64_t deadline);

/* wf_future_await from anywhere: parks a fiber, blocks a plain thread.
 * Same results, and WF_ESHUTDOWN for a plain thread when no runtime runs
 * (or the runtime shuts down while it waits) and f is still pending;
 * WF_ENOMEM also when a plain thread's first wait in weft finds no memory
 * for its parker. */
WF_API int wf_future_wait(struct wf_future *f, int64_t deadline);

/* Cancel f if it is still pending: it completes with WF_ECANCELED, its
 * waiters return, its callbacks and then the producer's cancel handler run
 * on the calling thread before this returns. Does not release the caller's
 * reference. Any thread, never parks. Returns 0 when this call cancelled
 * f; WF_EALREADY f had already completed; WF_EINVAL f NULL. */
WF_API int wf_future_cancel(struct wf_future *f);

/* ---- combinators -------------------------------------------------------- */

/* A future that completes once every one of the n futures in fs has
 * completed (whatever their outcomes). Its outcome is 0 (value NULL) if all
 * succeeded, else the error of the failed input with the lowest index.
 * The inputs stay the caller's (their outcomes are read from them); the
 * combinator takes its own references. n == 0 completes at once.
 * Cancelling the returned future cancels every input. Any thread, never
 * blocks. On success *out holds one reference. Errors: WF_EINVAL out NULL,
 * fs NULL with n > 0, or an input NULL; WF_ENOMEM. */
WF_API int wf_future_when_all(struct wf_future **out,
                              struct wf_future *const *fs, size_t n);

/* A future that completes as soon as any of the n (>= 1) futures in fs
 * completes, successfully or not. Its value is the index of that input
 * (cast: (size_t)(uintptr_t)value) and its error code 0; read the input
 * itself for its outcome. Cancelling the returned future cancels every
 * input. Errors: WF_EINVAL out or fs NULL, n == 0 or an input NULL;
 * WF_ENOMEM. */
WF_API int wf_future_when_any(struct wf_future **out,
                              struct wf_future *const *fs, size_t n);

/* Run fn(arg) as a new detached fiber and return a future of its result:
 * it completes with fn's return value when fn returns. fn always runs,
 * exactly once. Cancelling the future cancels the fiber (its blocking
 * calls return WF_ECANCELED); fn's return value is then discarded, so a
 * fn that returns owned memory should check wf_cancelled() and free it
 * itself. If the runtime stops before fn returns, the fiber is discarded
 * (as every fiber then) and the future never completes. Any thread, never
 * blocks. On success *out holds one reference. Errors: WF_EINVAL out or fn
 * NULL; WF_ENOMEM; WF_ESHUTDOWN the runtime is not running (fn is not
 * run). */
WF_API int wf_async(struct wf_future **out, wf_fiber_fn *fn, void *arg);

/* ---- blocking-call pool ---------------------------------------------------- */

/* Run fn(arg) on a thread of the blocking-call pool and return a future of
 * its result: for calls that would stall a worker (a slow system call, a
 * library without non-blocking interface). Pool threads are plain threads,
 * created on demand up to the pool's size and kept until wf_shutdown; calls
 * beyond that wait in FIFO order. fn always runs, exactly once, even if the
 * future is cancelled (a blocking call cannot be interrupted: cancelling
 * only releases its waiters; fn's result is then discarded). fn may use any
 * weft call a plain thread may. wf_shutdown waits for the calls queued and
 * running to return. Any thread, never blocks. On success *out holds one
 * reference. Errors: WF_EINVAL out or fn NULL; WF_ENOMEM; WF_EAGAIN no pool
 * thread could be created and none exists; WF_ESHUTDOWN the runtime is not
 * running (fn is not run). */
WF_API int wf_blocking(struct wf_future **out, wf_fiber_fn *fn, void *arg);

/* Set the most threads the pool may have (>= 1; 0 restores the default:
 * the WEFT_BLOCKING_THREADS environment variable as the last wf_init read
 * it, else 16). Threads already running above a lowered size finish their
 * current call and exit. Any thread, also before the runtime starts; the
 * setting outlives runtimes.
 * Returns the previous size; WF_EINVAL n negative or above 4096. */
WF_API int wf_blocking_set_threads(int n);

#ifdef __cplusplus
}
#endif

#endif
