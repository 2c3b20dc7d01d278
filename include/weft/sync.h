/* SPDX-License-Identifier: MIT */
/*
 * weft/sync.h - mutex, reader-writer lock, condition variable, semaphore,
 * wait group, barrier, once and one-shot event for fibers and plain threads.
 *
 * Storage. Every object lives in caller storage of a published size (a
 * struct with an opaque byte array); it is set up with its *_init call and
 * released with its *_destroy call, and must not be moved or copied while
 * initialised. Storage filled with zero bytes is also a valid, initialised
 * object for every type except the barrier (a mutex or rwlock unlocked, a
 * condvar or event with nobody waiting, a semaphore or wait group at 0, a once not
 * run), so static objects need no init call (WF_ONCE_INIT spells that out).
 *
 * Waiting. A fiber that must wait is parked (its worker runs other
 * fibers); a plain thread blocks on a futex. Fibers and plain threads may
 * wait on the same object. A plain thread can wait only while a runtime
 * runs (wf_run / wf_init): without one, a call that would have to wait
 * returns WF_ESHUTDOWN at once (calls that need not wait work without a
 * runtime), and wf_shutdown() makes blocked plain threads return
 * WF_ESHUTDOWN. Waiters are served in FIFO
 * order. Each blocking call takes an absolute monotonic deadline (ns,
 * WF_FOREVER for none; a deadline in the past makes it a non-blocking
 * attempt) and returns 0 on success, WF_ETIMEDOUT when the deadline passed
 * first, WF_ECANCELED when the calling fiber is cancelled while it would
 * have to wait, WF_ESHUTDOWN (plain thread, see above) or WF_ENOMEM (no
 * memory to arm a deadline timer, or for the record a plain thread parks
 * on, allocated at its first wait). A call that can complete without
 * waiting completes, even in a cancelled fiber. A wake-up that arrives
 * together with the deadline or a cancellation counts as success.
 *
 * Do not hold an OS lock (pthread_mutex_t) across a weft blocking call:
 * the fiber may resume on another thread.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Storage sizes (bytes); the implementation checks that it fits. */
#define WF_MUTEX_SIZE 48
#define WF_COND_SIZE 32
#define WF_SEM_SIZE 40
#define WF_WAITGROUP_SIZE 40
#define WF_BARRIER_SIZE 48
#define WF_ONCE_SIZE 48
#define WF_EVENT_SIZE 40
#define WF_RWLOCK_SIZE 80

struct wf_mutex { WF_ALIGN(8) unsigned char opaque[WF_MUTEX_SIZE]; };
struct wf_cond { WF_ALIGN(8) unsigned char opaque[WF_COND_SIZE]; };
struct wf_sem { WF_ALIGN(8) unsigned char opaque[WF_SEM_SIZE]; };
struct wf_waitgroup { WF_ALIGN(8) unsigned char opaque[WF_WAITGROUP_SIZE]; };
struct wf_barrier { WF_ALIGN(8) unsigned char opaque[WF_BARRIER_SIZE]; };
struct wf_once { WF_ALIGN(8) unsigned char opaque[WF_ONCE_SIZE]; };
struct wf_event { WF_ALIGN(8) unsigned char opaque[WF_EVENT_SIZE]; };
struct wf_rwlock { WF_ALIGN(8) unsigned char opaque[WF_RWLOCK_SIZE]; };

/* A once that has not run: `static struct wf_once o = WF_ONCE_INIT;`. */
#define WF_ONCE_INIT {{0}}

/* ---- mutex ------------------------------------------------------------ */

/* Initialise an unlocked mutex. Any thread. Errors: WF_EINVAL m NULL. */
WF_API int wf_mutex_init(struct wf_mutex *m);
/* Release a mutex. Waits (yielding) for waiters that were just handed the
 * mutex or gave up to leave the object. Errors: WF_EINVAL m NULL;
 * WF_EBUSY m is locked or has waiters (nothing is done). */
WF_API int wf_mutex_destroy(struct wf_mutex *m);
/* Lock m, owned from then on by the calling fiber (or plain thread). When
 * it is held, spins briefly, then parks the fiber / blocks the thread
 * until it is handed the lock or the deadline passes. Not recursive. Fair
 * enough to prevent starvation: an unlock hands the mutex straight to the
 * oldest waiter once that has waited for more than about a millisecond;
 * otherwise a waiter is woken and competes with new lockers.
 * Errors: WF_EINVAL m NULL; WF_EDEADLK the caller holds m already;
 * WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN, WF_ENOMEM as above. */
WF_API int wf_mutex_lock(struct wf_mutex *m, int64_t deadline);
/* Lock m if it is free, never waits. Errors: WF_EINVAL m NULL; WF_EBUSY
 * held (by anyone, the caller included). */
WF_API int wf_mutex_trylock(struct wf_mutex *m);
/* Unlock m, waking its oldest waiter if any. Any thread, never blocks.
 * Errors: WF_EINVAL m NULL; WF_EPERM m is not locked, or is locked by
 * another fiber or thread. */
WF_API int wf_mutex_unlock(struct wf_mutex *m);

/* ---- reader-writer lock ------------------------------------------------ */

/* Many readers or one writer. Phase-fair, so neither side starves: a
 * reader queues behind any waiting writer, and each write unlock admits
 * every reader waiting at that moment before the next writer. Not
 * recursive, and a write lock cannot be downgraded or a read lock
 * upgraded (upgrading would deadlock: take the write lock instead). */

/* Initialise an unlocked rwlock. Errors: WF_EINVAL rw NULL. */
WF_API int wf_rwlock_init(struct wf_rwlock *rw);
/* Release it. Errors: WF_EINVAL rw NULL; WF_EBUSY held or waited on. */
WF_API int wf_rwlock_destroy(struct wf_rwlock *rw);
/* Take a read lock, waiting while a writer holds or waits for the lock.
 * Errors: WF_EINVAL rw NULL; WF_EDEADLK the caller holds the write lock;
 * WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN, WF_ENOMEM as above. */
WF_API int wf_rwlock_rdlock(struct wf_rwlock *rw, int64_t deadline);
/* Take the write lock, waiting while anyone holds the lock. Errors:
 * WF_EINVAL rw NULL; WF_EDEADLK the caller holds the write lock;
 * WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN, WF_ENOMEM as above. */
WF_API int wf_rwlock_wrlock(struct wf_rwlock *rw, int64_t deadline);
/* Non-waiting versions: WF_EBUSY instead of waiting. */
WF_API int wf_rwlock_tryrdlock(struct wf_rwlock *rw);
WF_API int wf_rwlock_trywrlock(struct wf_rwlock *rw);
/* Release the caller's write lock, or one read lock. Any thread, never
 * blocks. Errors: WF_EINVAL rw NULL; WF_EPERM rw is not locked, or is
 * write-locked by another fiber or thread. (Read locks are counted, not
 * owned: a read unlock by a caller that holds none is not detected.) */
WF_API int wf_rwlock_unlock(struct wf_rwlock *rw);

/* ---- condition variable ------------------------------------------------ */

/* Initialise a condvar with no waiters. Errors: WF_EINVAL c NULL. */
WF_API int wf_cond_init(struct wf_cond *c);
/* Release a condvar. Errors: WF_EINVAL c NULL; WF_EBUSY someone waits. */
WF_API int wf_cond_destroy(struct wf_cond *c);
/* Atomically unlock m (which the caller must hold) and wait for a signal
 * or broadcast on c, then lock m again before returning - whatever the
 * result, m is held again when the call returns (relocking ignores the
 * deadline and cancellation). Returns 0 when signalled; as every condvar,
 * callers re-check their condition in a loop (another waker may have
 * consumed it). Errors: WF_EINVAL c or m NULL; WF_EPERM the caller does
 * not hold m (nothing done); WF_ETIMEDOUT, WF_ECANCELED, WF_ENOMEM as
 * above; WF_ESHUTDOWN (plain thread, runtime gone: m is NOT held then). */
WF_API int wf_cond_wait(struct wf_cond *c, struct wf_mutex *m,
                        int64_t deadline);
/* Wake the oldest waiter, if any. Any thread, never blocks; the caller
 * need not hold the mutex. Errors: WF_EINVAL c NULL. */
WF_API int wf_cond_signal(struct wf_cond *c);
/* Wake every waiter. Same rules as wf_cond_signal. */
WF_API int wf_cond_broadcast(struct wf_cond *c);

/* ---- counting semaphore ------------------------------------------------ */

/* Initialise a semaphore holding `value` units. Errors: WF_EINVAL s NULL
 * or value negative. */
WF_API int wf_sem_init(struct wf_sem *s, int value);
/* Release it. Errors: WF_EINVAL s NULL; WF_EBUSY someone waits. */
WF_API int wf_sem_destroy(struct wf_sem *s);
/* Take one unit, waiting while there is none. Errors: WF_EINVAL s NULL;
 * WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN, WF_ENOMEM as above. */
WF_API int wf_sem_wait(struct wf_sem *s, int64_t deadline);
/* Take one unit if there is one, never waits. Errors: WF_EINVAL s NULL;
 * WF_EAGAIN none available. */
WF_API int wf_sem_trywait(struct wf_sem *s);
/* Add one unit and wake the oldest waiter. Any thread, never blocks.
 * Errors: WF_EINVAL s NULL; WF_EAGAIN the count is at INT_MAX. */
WF_API int wf_sem_post(struct wf_sem *s);
/* The units available now (a snapshot), or WF_EINVAL for NULL. */
WF_API int wf_sem_value(struct wf_sem *s);

/* ---- wait group -------------------------------------------------------- */

/* Initialise a wait group with counter 0. Errors: WF_EINVAL wg NULL. */
WF_API int wf_waitgroup_init(struct wf_waitgroup *wg);
/* Release it. Errors: WF_EINVAL wg NULL; WF_EBUSY someone waits. */
WF_API int wf_waitgroup_destroy(struct wf_waitgroup *wg);
/* Add n (may be negative) to the counter; when it reaches zero every
 * waiter is woken. Any thread, never blocks. Errors: WF_EINVAL wg NULL,
 * or the counter would become negative or overflow (it is unchanged). */
WF_API int wf_waitgroup_add(struct wf_waitgroup *wg, int n);
/* wf_waitgroup_add(wg, -1). */
WF_API int wf_waitgroup_done(struct wf_waitgroup *wg);
/* Wait until the counter is zero (returns at once if it is). A waiter
 * woken because the counter reached zero succeeds even if the group is
 * reused and the counter rises again before it runs. Errors: WF_EINVAL wg
 * NULL; WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN, WF_ENOMEM as above. */
WF_API int wf_waitgroup_wait(struct wf_waitgroup *wg, int64_t deadline);

/* ---- barrier ----------------------------------------------------------- */

/* Initialise a barrier for `count` participants. Errors: WF_EINVAL b NULL
 * or count < 1. */
WF_API int wf_barrier_init(struct wf_barrier *b, int count);
/* Release it. Errors: WF_EINVAL b NULL; WF_EBUSY someone waits. */
WF_API int wf_barrier_destroy(struct wf_barrier *b);
/* Arrive and wait until `count` participants have arrived in this round;
 * then all are released and the barrier is ready for the next round.
 * Returns 1 to exactly one participant of each round (the last to arrive,
 * the "serial" one) and 0 to the others. A participant that times out or
 * is cancelled withdraws its arrival (the round then needs another
 * arrival), unless the round completed first, in which case it returns 0.
 * Errors: WF_EINVAL b NULL; WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN,
 * WF_ENOMEM as above. */
WF_API int wf_barrier_wait(struct wf_barrier *b, int64_t deadline);

/* ---- once -------------------------------------------------------------- */

/* Run fn() exactly once per wf_once object. The first caller runs it;
 * concurrent callers wait (park / block) until it has returned; later
 * callers return at once. Returns 0 when fn has run. Errors: WF_EINVAL o
 * or fn NULL; WF_EDEADLK called from inside fn on the same object;
 * WF_ECANCELED the caller (a fiber) was cancelled while waiting for
 * another caller's fn (which then may not have finished); WF_ESHUTDOWN. */
WF_API int wf_once(struct wf_once *o, void (*fn)(void));

/* ---- one-shot event ---------------------------------------------------- */

/* Initialise an event that is not set. Errors: WF_EINVAL e NULL. */
WF_API int wf_event_init(struct wf_event *e);
/* Release it. Errors: WF_EINVAL e NULL; WF_EBUSY someone waits. */
WF_API int wf_event_destroy(struct wf_event *e);
/* Set the event (for good) and wake every waiter. Setting it again does
 * nothing. Any thread, never blocks. Errors: WF_EINVAL e NULL. */
WF_API int wf_event_set(struct wf_event *e);
/* Wait until the event is set (returns at once if it is). Errors:
 * WF_EINVAL e NULL; WF_ETIMEDOUT, WF_ECANCELED, WF_ESHUTDOWN, WF_ENOMEM. */
WF_API int wf_event_wait(struct wf_event *e, int64_t deadline);
/* Whether the event is set (false for NULL). Any thread. */
WF_API bool wf_event_is_set(struct wf_event *e);

#ifdef __cplusplus
}
#endif

#endif
