/* SPDX-License-Identifier: MIT */
/*
 * weft/fiber.h - fibers: spawn, join, yield, sleep, cancel, scopes,
 * fiber-local storage, park/unpark.
 *
 * A fiber is a function running on its own stack. When it blocks (sleep,
 * join, park, and every blocking call of the other weft headers) only the
 * fiber is suspended; its worker thread runs another fiber. Fibers move
 * between workers when idle workers steal them, so a fiber must not keep a
 * thread-local address (errno's included) or an OS lock across a call that
 * may switch. Pin it (wf_fiber_opts.worker, wf_pin_self()) when it must stay.
 *
 * A fiber is named by a struct wf_fiber handle, a plain value that stays
 * safe to use after the fiber is gone: a stale handle gives WF_ESRCH, never a
 * crash. Every fiber is joined exactly once, or detached, or owned by a scope.
 *
 * Calls marked "fiber only" return WF_EPERM from a plain thread. Calls that
 * wait park the calling fiber, or block the calling plain thread; each takes
 * an absolute deadline (WF_FOREVER for none) and returns WF_ECANCELED once
 * the calling fiber has been cancelled.
 *
 * Cooperative budget. A blocking call that can complete at once does not
 * switch, so a fiber whose calls keep completing (a receive loop on a
 * busy channel, an accept loop under a burst of connections, sends into a
 * roomy buffer, receives whose deadlines have already passed) would keep
 * its worker. As in Tokio, each fiber has a budget of 128 such calls: the
 * blocking calls of weft (wf_join, wf_sleep*, channel sends, receives and
 * wf_select, socket and descriptor waits of weft/io.h, wf_future_await and
 * wf_future_wait, wf_mutex_lock, wf_sem_wait) each spend one unit as they
 * start, and when none is left the fiber yields once (wf_yield) before the
 * call. Any park or yield refills the budget, so a fiber that waits now
 * and then never pays for it. Non-blocking calls (try variants, unlock,
 * send on a closed channel...) spend nothing. A fiber that computes
 * without calling weft is not preempted: the stall monitor reports it
 * (wf_config.stall_ns), and idle workers take the runnable fibers queued
 * behind it, except those pinned to its worker.
 */
#ifndef WEFT_FIBER_H
#define WEFT_FIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Handle of a fiber: 0 never names one. */
struct wf_fiber {
    uint64_t id;
};

/* Run on any worker (default of wf_fiber_opts.worker). */
#define WF_ANY_WORKER (-1)
/* Longest fiber name kept, without the terminating NUL. */
#define WF_NAME_MAX 31

struct wf_fiber_opts {
    size_t stack_size; /* 0: the runtime's default (see wf_config) */
    const char *name;  /* copied, truncated to WF_NAME_MAX; NULL: none */
    int worker;        /* WF_ANY_WORKER, or the worker index to pin it to */
};

/* Options with every field at its default. */
#define WF_FIBER_OPTS_INIT { 0, NULL, WF_ANY_WORKER }

/* Start fn(arg) as a new fiber. If out is not NULL it receives the handle
 * and the fiber must later be joined or detached; with out NULL the fiber
 * starts detached. From a fiber, the new fiber is the next to run on the
 * caller's worker once the caller blocks or yields (the caller goes on
 * running; fibers spawned before it that have not started run after it,
 * newest first, so a tree of fibers runs depth-first); from a plain
 * thread it goes to the runtime's shared queue. Idle workers are woken to
 * take it. Any thread, never blocks.
 * Errors: WF_ESHUTDOWN runtime not running; WF_EINVAL fn NULL or a bad
 * option (worker out of range, stack size over 1 GiB); WF_ENOMEM no memory
 * for the stack. On error nothing was started and *out is untouched. */
WF_API int wf_go(struct wf_fiber *out, wf_fiber_fn *fn, void *arg);
WF_API int wf_go_opts(struct wf_fiber *out, const struct wf_fiber_opts *opts,
                      wf_fiber_fn *fn, void *arg);

/* Wait until fiber f has returned, store its result in *result (if not
 * NULL) and release the handle. Parks a fiber / blocks a plain thread.
 * Errors: WF_ESRCH f is not a live fiber handle (already joined, never
 * existed); WF_EINVAL f is detached, owned by a scope, or another caller is
 * already joining it; WF_EDEADLK f is the caller; WF_ETIMEDOUT deadline
 * passed; WF_ECANCELED the caller was cancelled (f stays joinable);
 * WF_ENOMEM a plain thread's first wait in weft found no memory for the
 * record it parks on (nothing was done; f stays joinable). */
WF_API int wf_join(struct wf_fiber f, void **result, int64_t deadline);

/* Give up the handle: the fiber's resources are released when it returns.
 * Any thread. Errors: WF_ESRCH not a live handle; WF_EINVAL already
 * detached, owned by a scope, or being joined. */
WF_API int wf_detach(struct wf_fiber f);

/* Let the other runnable fibers of this worker run, then continue. Fiber
 * only. Returns 0. */
WF_API int wf_yield(void);

/* Park until the deadline. Parks a fiber / blocks a plain thread.
 * Returns 0 when the deadline has passed (never earlier), WF_ECANCELED if
 * the calling fiber was cancelled first. */
WF_API int wf_sleep_until(int64_t deadline);
/* wf_sleep_until(wf_deadline_in(ns)). */
WF_API int wf_sleep(int64_t ns);

/* The calling fiber's handle, or {0} from a plain thread. */
WF_API struct wf_fiber wf_self(void);

/* The calling fiber's name ("" if none), or NULL from a plain thread. The
 * string lives as long as the fiber. */
WF_API const char *wf_self_name(void);

/* Pin the calling fiber to the worker that runs it now: from here on it
 * only ever runs there. Fiber only. Returns the worker index. */
WF_API int wf_pin_self(void);

/* Cancellation. Ask fiber f to stop: from now on every blocking call it is
 * in, or makes, returns WF_ECANCELED (it is never stopped by force).
 * Cancelling a fiber also cancels the fibers of every scope it has open.
 * Any thread. Errors: WF_ESRCH f is not live. Cancelling twice is fine. */
WF_API int wf_cancel(struct wf_fiber f);

/* Whether the calling fiber has been cancelled (false from a plain
 * thread). For long computations that want to stop early. */
WF_API bool wf_cancelled(void);

/* Park / unpark: the primitive that weft's own blocking calls use, for
 * users who build their own. Each fiber has one permit.
 *
 * wf_park() returns at once, consuming the permit, if the permit is
 * available; otherwise it parks until wf_unpark() makes it available, the
 * deadline passes or the fiber is cancelled. It may also return 0 for no
 * reason, so callers re-check their condition in a loop. A permit that
 * arrives together with the deadline or a cancellation is consumed and
 * reported as 0. Fiber only. Returns 0, WF_ETIMEDOUT, WF_ECANCELED, or
 * WF_ENOMEM (no memory to arm the deadline's timer).
 *
 * wf_unpark(f) makes f's permit available (at most one is kept) and wakes
 * f if it is parked. Any thread, never blocks. Errors: WF_ESRCH f is not
 * live. */
WF_API int wf_park(int64_t deadline);
WF_API int wf_unpark(struct wf_fiber f);

/* Structured concurrency. A scope owns the fibers started in it, and the
 * fiber (or thread) that opened it must close it: closing cancels the
 * members still running and waits for every one of them, so no member
 * outlives the scope unseen. Scopes nest: a member may open its own scope,
 * and cancelling a fiber cancels the scopes it has open.
 *
 * Options at open (wf_scope_open_ex) add three things:
 *
 * - A join set (WF_SCOPE_JOINSET, as Tokio's JoinSet): the scope keeps
 *   each member's result when it returns, and wf_scope_next hands them
 *   out in completion order, each once.
 *
 * - An error group (WF_SCOPE_FAILFAST, as Go's errgroup). A member fails
 *   by calling wf_scope_fail(NULL, err) with a negative WF_E* code (any
 *   fiber or thread may also call wf_scope_fail(s, err)). The first
 *   failure recorded is the scope's error: wf_scope_wait and
 *   wf_scope_close return it once the members are done. With FAILFAST it
 *   also cancels every member (the failing one included: its later
 *   blocking calls return WF_ECANCELED), and members started afterwards
 *   start cancelled. Without FAILFAST the error is only recorded.
 *
 * - A deadline (opts.deadline, absolute, wf_now()'s clock). When it
 *   passes with members running, the runtime's timer (no helper fiber)
 *   cancels them and the scope's error becomes WF_ETIMEDOUT, unless a
 *   failure was recorded first; members started after it start
 *   cancelled and make the error WF_ETIMEDOUT as well. If the last
 *   member returned before the deadline fired, the deadline changes
 *   nothing. A deadline that passes while wf_scope_close runs (it has
 *   already cancelled every member) is not an error.
 *
 * Example: fetch three things, keep the first to arrive, give up after 1 s
 * or at the first failure.
 *
 *     static void *fetch(void *url) {
 *         void *body;
 *         int err = get(url, &body, WF_FOREVER); // WF_ECANCELED once
 *         if (err < 0 && err != WF_ECANCELED)    // cancelled: not a
 *             wf_scope_fail(NULL, err);          // failure of its own
 *         return err < 0 ? NULL : body;
 *     }
 *     struct wf_scope *s;
 *     struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
 *     o.flags = WF_SCOPE_JOINSET | WF_SCOPE_FAILFAST;
 *     o.deadline = wf_deadline_in(WF_SEC);
 *     wf_scope_open_ex(&s, &o);
 *     for (int i = 0; i < 3; i++)
 *         wf_scope_go(s, NULL, fetch, urls[i]);
 *     struct wf_fiber who;
 *     void *body;
 *     if (wf_scope_next(s, &who, &body, WF_FOREVER) == 0 && body)
 *         use(body);                 // the first member that returned
 *     wf_scope_cancel(s);            // stop the others
 *     while (wf_scope_next(s, &who, &body, WF_FOREVER) == 0)
 *         free(body);                // results of the rest, in order
 *     int err = wf_scope_close(s);   // first failure, WF_ETIMEDOUT, or
 *                                    // the count close had to cancel
 */
struct wf_scope;

/* Flags of wf_scope_opts. */
#define WF_SCOPE_JOINSET  0x1u /* keep members' results for wf_scope_next */
#define WF_SCOPE_FAILFAST 0x2u /* the first failure cancels every member */

struct wf_scope_opts {
    unsigned flags;   /* WF_SCOPE_* */
    int64_t deadline; /* WF_FOREVER: none */
};

/* Options with every field at its default (a plain scope; one line, as
 * WF_FIBER_OPTS_INIT). */
/* clang-format off */
#define WF_SCOPE_OPTS_INIT { 0, WF_FOREVER }
/* clang-format on */

/* Open a scope owned by the calling fiber or thread. Any thread.
 * wf_scope_open(out) is wf_scope_open_ex(out, NULL): a plain scope.
 * Errors: WF_EINVAL out NULL or an unknown flag; WF_ENOMEM (also when the
 * deadline's timer cannot be armed); WF_ESHUTDOWN runtime not running. */
WF_API int wf_scope_open(struct wf_scope **out);
WF_API int wf_scope_open_ex(struct wf_scope **out,
                            const struct wf_scope_opts *opts);

/* Start fn(arg) as a member of s (opts may be NULL). Members are joined by
 * the scope, not by handle. A member started after a FAILFAST failure or
 * after the deadline starts cancelled. Any thread. Errors: as
 * wf_go_opts(), and WF_EINVAL if s is closing. In a join set the call
 * allocates the record that will hold the result (WF_ENOMEM). */
WF_API int wf_scope_go(struct wf_scope *s, const struct wf_fiber_opts *opts,
                       wf_fiber_fn *fn, void *arg);

/* Join set: take one member that has returned, the earliest not taken
 * yet, storing its handle (stale by now: for telling members apart) in
 * *fiber and what it returned in *result (either may be NULL). Waits
 * while members run and none has returned. Each returned member is
 * given to exactly one call, even with several callers at once (fibers
 * and plain threads mixed). Returns 0; WF_ESRCH when no member is left
 * (none running, every returned one taken: the join set is empty, and
 * stays so until wf_scope_go adds one); WF_ETIMEDOUT; WF_ECANCELED (the
 * caller was cancelled; a returned member is still handed out if there is
 * one, since that needs no wait); WF_EINVAL s NULL or not a join set;
 * WF_EDEADLK the caller is a member of s; WF_ESHUTDOWN (plain thread, the
 * runtime stopped); WF_ENOMEM (no memory for the deadline's timer, or
 * for a plain thread's first wait, as wf_join).
 * Parks a fiber / blocks a plain thread. Results not taken when the scope
 * closes are dropped without notice: take them first if they own memory. */
WF_API int wf_scope_next(struct wf_scope *s, struct wf_fiber *fiber,
                         void **result, int64_t deadline);

/* Error group: record err (a negative WF_E* code) as s's failure if none
 * was recorded yet, and with WF_SCOPE_FAILFAST cancel every member. s
 * NULL means the scope the calling fiber is a member of. Any thread,
 * never blocks. Returns 0 when err became the scope's error; WF_EALREADY
 * when an earlier failure (or the deadline) won: exactly one of several
 * racing calls returns 0. WF_EINVAL err >= 0, or s NULL and the caller is
 * not a member of a scope. */
WF_API int wf_scope_fail(struct wf_scope *s, int err);

/* Wait until every member has returned, without cancelling them. Several
 * fibers and threads may wait at once. WF_EDEADLK if the caller is itself
 * a member of s.
 * Returns 0, or the scope's error (wf_scope_fail, or WF_ETIMEDOUT from
 * its deadline) once every member has returned; WF_ETIMEDOUT when this
 * call's own deadline passed first; or WF_ECANCELED (the caller was
 * cancelled before the call, or while waiting and members are still
 * running; if the last member returned first, the wait succeeded);
 * WF_ENOMEM as wf_join (a plain thread's first wait; nothing done). */
WF_API int wf_scope_wait(struct wf_scope *s, int64_t deadline);

/* Cancel every member (as wf_cancel) without waiting. Members started
 * later are not cancelled. Returns 0. */
WF_API int wf_scope_cancel(struct wf_scope *s);

/* Cancel the members still running, wait for all of them (even if the
 * caller is cancelled itself), stop the deadline, drop the results a join
 * set still holds, and free the scope. Returns the scope's error
 * (wf_scope_fail, WF_ETIMEDOUT from its deadline) if it has one; else the
 * number of members that were still running and had to be cancelled (one
 * a fail-fast failure or the scope's deadline had already cancelled, and
 * that had not returned yet, counts too); or
 * WF_EDEADLK if the caller is a member of s, WF_ENOMEM as wf_join (a
 * plain thread's first wait) (for both, nothing is done). s must not
 * be used after a successful close, nor closed twice, nor after the
 * runtime it was opened in stopped (which frees it): such a call ends the
 * process with a message naming it ("weft: wf_scope_close: scope used
 * after wf_scope_close ...") as long as the memory has not been handed
 * out again; once it has, the behaviour is undefined. */
WF_API int wf_scope_close(struct wf_scope *s);

/* Fiber-local storage: a value per fiber per key, NULL until set. When a
 * fiber returns, each non-NULL value is passed to its key's destructor.
 * At most WF_FLS_KEYS keys exist; keys are never deleted. */
#define WF_FLS_KEYS 64

/* Create a key. Any thread. Errors: WF_EAGAIN all keys in use. */
WF_API int wf_fls_key_create(unsigned *key, void (*destructor)(void *value));
/* Set the calling fiber's value. Fiber only. Errors: WF_EINVAL bad key;
 * WF_ENOMEM. */
WF_API int wf_fls_set(unsigned key, void *value);
/* The calling fiber's value for key; NULL if unset, bad key, or not in a
 * fiber. */
WF_API void *wf_fls_get(unsigned key);

#ifdef __cplusplus
}
#endif

#endif
