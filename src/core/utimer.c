/* SPDX-License-Identifier: MIT */
/*
 * User timers (weft/timer.h) on the workers' timer heaps.
 *
 * A user timer embeds a heap timer (timer.h). Its life is one state
 * machine, in `state`:
 *
 *   IDLE --start--> STARTING --(heap lock) insert--> ARMED
 *   ARMED --(heap lock) fire--> DUE --drain--> IDLE, callback running
 *   ARMED --(heap lock) stop--> IDLE
 *   DUE --stop from a callback of the same worker--> IDLE
 *   ARMED, DUE --runtime shutdown--> DISCARDED --stop--> IDLE
 *
 * Who may make each transition, and under what:
 *   - IDLE -> STARTING is a CAS by a starter; STARTING belongs to it until
 *     it stores ARMED (inserting) or IDLE (giving up). Nobody else acts on
 *     a STARTING timer: they wait a moment, it is a few instructions. A
 *     stop that finds IDLE takes STARTING the same way while it looks
 *     whether the callback runs, then stores IDLE back: so a callback
 *     cannot re-arm (and return) unseen between that look and the stop's
 *     answer.
 *   - STARTING -> ARMED, ARMED -> DUE and ARMED -> IDLE happen under the
 *     lock of the heap the timer is in, together with the heap change
 *     (timer.c: wf__timer_add_state, the fire hook, wf__timer_remove), so
 *     "ARMED" and "in a heap" are one fact for whoever holds that lock.
 *     This is what makes stop sound: once it has removed the timer under
 *     the lock, no fire can have happened or be pending; if the timer was
 *     not in the heap any more, it has fired.
 *   - DUE -> IDLE is the firing worker's (which keeps DUE timers on its own
 *     `due` list) when it runs the callback; a callback of that same worker
 *     may instead take a DUE timer off the list (stop).
 *
 * While a callback runs, the timer is IDLE and its worker's
 * `utimer_running` names it (stored, seq_cst, before the state went IDLE;
 * cleared after the callback). Nothing in the timer is touched once its
 * callback has returned, so a callback may free its own timer (the common
 * "one-shot, then free" pattern); that is why "running" lives in the
 * worker and not in the timer. `runner` (written before the state goes
 * IDLE) says which worker to look at: its index, with the runtime's start
 * count (wf__rt.gen), because the timer outlives the runtime and a worker
 * of a runtime that has stopped is freed memory (a stop after
 * wf_shutdown, or a start in the next runtime, read it before). A callback never runs twice at once:
 *   - a re-arm from the callback itself is recorded in the worker
 *     (utimer_rearm, with its heap slot reserved at once) and applied after
 *     the callback returns, before utimer_running is cleared;
 *   - a start from anywhere else that finds the callback running backs off
 *     to IDLE and waits until it has returned (a fiber yields, a plain
 *     thread yields its CPU), then tries again; from another timer's
 *     callback, which must never wait, it returns WF_EBUSY instead.
 * A stop that finds the callback running waits for it likewise (never from
 * a callback), then looks again: a re-arm made by the callback is stopped.
 *
 * Where callbacks run. The heap fires a timer with its lock held, which is
 * no place for user code, so the fire hook only moves the timer to the
 * firing worker's `due` list. The worker runs due callbacks on its
 * scheduler loop's stack, where no fiber is current (sched.c makes a
 * fiber that leaves go through the loop while anything is due): a callback
 * never borrows a fiber's stack, so nothing it calls can yield or park a
 * fiber that is not its own.
 *
 * Waking a sleeper. A timer armed into another worker's heap (a plain
 * thread's start, or the heap of a sleeping worker, see pick_heap) wakes
 * that worker when it became the heap's earliest timer, which the heap
 * decides under its lock; the wake itself is the Dekker pair with
 * park_worker (sched.c).
 *
 * Orders: state changes and utimer_running are seq_cst (a handful per
 * timer); the heap lock orders the heap. The due list and the re-arm
 * request are owner-only.
 *
 * Model: tests/model/timer.pml (spin; two workers' heaps and due lists,
 * a callback that re-arms and may stop itself, a second starter and the
 * owner's final stop before it frees the timer). Left out: deadlines and
 * heap order, shutdown (DISCARDED), WF_ENOMEM, starts from another
 * timer's callback, waking a sleeping worker.
 */
#include <sched.h>
#include <string.h>

#include "core_int.h"
#include "weft/timer.h"

enum { IDLE = 0, STARTING, ARMED, DUE, DISCARDED };

struct wf__utimer {
    struct wf__timer t;          /* must be first: the heap's handle */
    wf_timer_fn *fn;
    void *arg;
    struct wf__utimer *next_due; /* the firing worker's due list */
    atomic_uint_least64_t runner; /* of its last callback: the runtime's
                                   * gen << 32 | worker index + 1; 0 none */
    atomic_int state;
    uint32_t magic;              /* set by wf_timer_init */
};

#define MAGIC 0x74696d72u /* "timr" */

_Static_assert(sizeof(struct wf__utimer) <= WF_TIMER_SIZE,
               "wf_timer storage too small");
_Static_assert(_Alignof(struct wf__utimer) <= 8, "wf_timer alignment");

static struct wf__utimer *U(struct wf_timer *t)
{
    return (struct wf__utimer *)(void *)t->opaque;
}

/* The worker whose scheduler loop runs a timer callback on this thread,
 * or NULL (callbacks never switch, so the worker's field says what this
 * very thread runs). */
static struct wf__worker *in_callback(void)
{
    struct wf__worker *w = wf__worker_self();
    /* relaxed: only this thread writes its own worker's field. */
    return w && atomic_load_explicit(&w->utimer_running,
                                     memory_order_relaxed) ? w : NULL;
}

/* Whether u's callback is running now (on `runner`). */
static bool running(struct wf__utimer *u)
{
    /* acquire: runner was written before the seq_cst store that made the
     * state IDLE, which the caller has read. */
    uint64_t r = atomic_load_explicit(&u->runner, memory_order_acquire);
    struct wf__rt *rt = &wf__rt;
    /* relaxed: gen changes only in wf_init, which no timer call may
     * overlap; a runner of another run names no worker of this one. */
    if (!r || rt->workers == NULL ||
        (unsigned)(r >> 32) !=
            atomic_load_explicit(&rt->gen, memory_order_relaxed))
        return false;
    struct wf__worker *w = &rt->workers[(uint32_t)r - 1];
    /* seq_cst: the reading half against wf__utimers_drain's store of
     * utimer_running before IDLE (top comment). */
    return atomic_load_explicit(&w->utimer_running, memory_order_seq_cst) == u;
}

/* Let whoever we wait for go on: a fiber yields (the one we wait for may
 * be queued behind it), a plain thread yields its CPU. */
static void pause_here(void)
{
    struct wf__fcb *f = wf__fiber_self();
    if (f)
        wf__fiber_yield(f);
    else
        sched_yield();
}

/* A STARTING timer is a few instructions from ARMED or IDLE. */
static void wait_started(struct wf__utimer *u, int *s)
{
    struct wf__backoff b = WF__BACKOFF_INIT;
    /* seq_cst: as every access to state (top comment). */
    while ((*s = atomic_load_explicit(&u->state, memory_order_seq_cst)) ==
           STARTING)
        wf__backoff_pause(&b); /* its starter's thread may be preempted */
}

static atomic_uint rr; /* where pick_heap starts looking; spreading only */

/* Heap hook, under the heap lock, on the worker running the heap pass. */
static void fire(struct wf__timer *ht)
{
    struct wf__utimer *u = (struct wf__utimer *)ht;
    struct wf__worker *w = wf__worker_self();
    /* seq_cst: see the top comment */
    atomic_store_explicit(&u->state, DUE, memory_order_seq_cst);
    u->next_due = w->due;
    w->due = u;
}

/* Heap hook: the runtime shut down with u armed; it never fires, and
 * stop reports it stopped. */
static void discard(struct wf__timer *ht)
{
    /* seq_cst, no order needed: the workers have stopped. */
    atomic_store_explicit(&((struct wf__utimer *)ht)->state, DISCARDED,
                          memory_order_seq_cst);
}

int wf_timer_init(struct wf_timer *t, wf_timer_fn *fn, void *arg)
{
    if (!t || !fn)
        return WF_EINVAL;
    memset(t, 0, sizeof *t);
    struct wf__utimer *u = U(t);
    u->fn = fn;
    u->arg = arg;
    u->t.fire = fire;
    u->t.discard = discard;
    atomic_init(&u->t.heap, NULL);
    atomic_init(&u->state, IDLE);
    atomic_init(&u->runner, 0);
    u->magic = MAGIC;
    return 0;
}

/* Which heap gets a timer. A worker fires its own timers only between
 * fibers, so a busy one would fire them late; a sleeping worker sleeps
 * exactly until its earliest timer. So a timer goes to a sleeping
 * worker's heap when there is one, else to the caller's own (a fiber's
 * worker is awake by definition), and from a plain thread round-robin.
 * (A worker stuck in a long call does not fire its heap at all: the
 * monitor has an idle worker fire overdue timers, see monitor.c.) */
static struct wf__worker *pick_heap(struct wf__rt *rt, struct wf__worker *self)
{
    int n = rt->nworkers;
    /* relaxed: spreading only. */
    unsigned k = atomic_fetch_add_explicit(&rr, 1, memory_order_relaxed);
    /* relaxed: a hint; a wrong guess costs lateness, never correctness. */
    if (atomic_load_explicit(&rt->nparked, memory_order_relaxed) > 0) {
        for (int i = 0; i < n; i++) {
            struct wf__worker *t = &rt->workers[(k + (unsigned)i) % (unsigned)n];
            if (t != self &&
                atomic_load_explicit(&t->parked, memory_order_relaxed))
                return t;
        }
    }
    return self ? self : &rt->workers[k % (unsigned)n];
}

/* Put a STARTING timer into a heap (pick_heap), ARMED there; wake the
 * heap's worker if it may sleep past the new deadline. */
static int arm(struct wf__utimer *u, int64_t deadline, struct wf__worker *self)
{
    struct wf__worker *t = pick_heap(&wf__rt, self);
    bool first = false;
    int err = wf__timer_add_state(&t->timers, &u->t, deadline, &u->state,
                                  ARMED, &first);
    if (err == 0 && first && t != self)
        wf__worker_timers_changed(t);
    return err;
}

/* From u's own callback: re-arm after the callback (its heap slot taken
 * now, so that applying the re-arm cannot fail unseen). */
static int rearm_later(struct wf__worker *w, int64_t deadline)
{
    if (w->utimer_rearm)
        return WF_EBUSY;
    int err = wf__timers_reserve(&w->timers);
    if (err < 0)
        return err;
    w->utimer_rearm = true;
    w->utimer_rearm_deadline = deadline;
    return 0;
}

int wf_timer_start(struct wf_timer *t, int64_t deadline)
{
    if (!t || U(t)->magic != MAGIC)
        return WF_EINVAL;
    struct wf__utimer *u = U(t);
    struct wf__worker *cb = in_callback();
    if (cb && atomic_load_explicit(&cb->utimer_running,
                                   memory_order_relaxed) == u)
        return rearm_later(cb, deadline);
    struct wf__worker *self = wf__worker_self();
    /* acquire: pairs with wf_init's release store of RUNNING, so the
     * workers array is there (a worker thread implies it). */
    if (!self && atomic_load_explicit(&wf__rt.state, memory_order_acquire) !=
                     WF__RT_RUNNING)
        return WF_ESHUTDOWN;
    for (;;) {
        int s = IDLE;
        /* seq_cst CAS, then running()'s seq_cst load: the Dekker with
         * wf__utimers_drain's stores of utimer_running then IDLE. */
        if (!atomic_compare_exchange_strong_explicit(
                &u->state, &s, STARTING, memory_order_seq_cst,
                memory_order_seq_cst)) {
            if (s != STARTING)
                return WF_EBUSY; /* ARMED, DUE or DISCARDED */
            wait_started(u, &s);
            continue;
        }
        if (!running(u))
            break;
        /* Its callback still runs: never twice at once. seq_cst, as
         * every store of state (top comment). */
        atomic_store_explicit(&u->state, IDLE, memory_order_seq_cst);
        if (cb)
            return WF_EBUSY; /* a callback never waits */
        while (running(u))
            pause_here();
    }
    int err = arm(u, deadline, self);
    if (err < 0) /* seq_cst: as above */
        atomic_store_explicit(&u->state, IDLE, memory_order_seq_cst);
    return err;
}

/* Take u off w's due list (owner only) and make it IDLE; false if it is
 * not there. */
static bool unlink_due(struct wf__worker *w, struct wf__utimer *u)
{
    for (struct wf__utimer **p = &w->due; *p; p = &(*p)->next_due) {
        if (*p == u) {
            *p = u->next_due;
            u->next_due = NULL;
            /* seq_cst: seen by wf_timer_start's CAS (top comment). */
            atomic_store_explicit(&u->state, IDLE, memory_order_seq_cst);
            return true;
        }
    }
    return false;
}

/* From a callback: never waits (two callbacks stopping each other's
 * timers would wait for ever). */
static int stop_from_callback(struct wf__worker *w, struct wf__utimer *u)
{
    if (atomic_load_explicit(&w->utimer_running, memory_order_relaxed) == u) {
        /* Its own callback: cancel a re-arm. */
        if (w->utimer_rearm) {
            w->utimer_rearm = false;
            wf__timers_unreserve(&w->timers);
        }
        return WF_EALREADY;
    }
    for (;;) {
        /* seq_cst: as every access to state (top comment). */
        int s = atomic_load_explicit(&u->state, memory_order_seq_cst);
        if (s == STARTING) {
            wait_started(u, &s);
            continue;
        }
        if (s == ARMED) {
            if (wf__timer_remove(&u->t, &u->state, IDLE))
                return 0;
            continue; /* it fired meanwhile */
        }
        if (s == DUE && unlink_due(w, u))
            return 0;
        /* Not armed, or due on another worker, or its callback runs:
         * it may still run, or be running. */
        return WF_EALREADY;
    }
}

int wf_timer_stop(struct wf_timer *t)
{
    if (!t || U(t)->magic != MAGIC)
        return WF_EINVAL;
    struct wf__utimer *u = U(t);
    struct wf__worker *cb = in_callback();
    if (cb)
        return stop_from_callback(cb, u);
    for (;;) {
        /* seq_cst: as every access to state (top comment). */
        int s = atomic_load_explicit(&u->state, memory_order_seq_cst);
        switch (s) {
        case STARTING:
            wait_started(u, &s);
            continue;
        case ARMED:
            if (wf__timer_remove(&u->t, &u->state, IDLE))
                return 0;
            continue; /* it fired meanwhile: DUE now */
        case DISCARDED:
            /* seq_cst CAS: races with a start's CAS of state. */
            if (atomic_compare_exchange_strong_explicit(
                    &u->state, &s, IDLE, memory_order_seq_cst,
                    memory_order_seq_cst))
                return 0;
            continue;
        case DUE: /* its worker runs it before any fiber */
            pause_here();
            continue;
        default: /* IDLE */
            /* Hold the state (STARTING, as a start does) while looking
             * whether the callback runs: otherwise the callback could
             * re-arm and return between the load of IDLE above and that
             * look, and we would answer "not armed" with the timer armed.
             * Held, a re-arm by the callback waits (wf__utimers_drain's
             * CAS), and a fire cannot happen (not armed). seq_cst CAS,
             * then running()'s seq_cst load: the Dekker of wf_timer_start
             * with wf__utimers_drain's stores of utimer_running then
             * IDLE. */
            if (!atomic_compare_exchange_strong_explicit(
                    &u->state, &s, STARTING, memory_order_seq_cst,
                    memory_order_seq_cst))
                continue;
            if (!running(u)) {
                /* seq_cst: as every store of state (top comment). */
                atomic_store_explicit(&u->state, IDLE, memory_order_seq_cst);
                return WF_EALREADY;
            }
            atomic_store_explicit(&u->state, IDLE, memory_order_seq_cst);
            while (running(u))
                pause_here();
            continue; /* a re-arm by the callback is stopped too */
        }
    }
}

void wf__utimers_drain(struct wf__worker *w)
{
    struct wf__utimer *u;
    while ((u = w->due)) {
        w->due = u->next_due;
        u->next_due = NULL;
        wf_timer_fn *fn = u->fn;
        void *arg = u->arg;
        /* release: read by running() after it has seen IDLE. */
        /* relaxed gen: written by wf_init before this worker started. */
        uint64_t gen = atomic_load_explicit(&w->rt->gen, memory_order_relaxed);
        atomic_store_explicit(&u->runner, gen << 32 | (uint64_t)(w->index + 1),
                              memory_order_release);
        /* seq_cst, in this order: running before IDLE (top comment). */
        atomic_store_explicit(&w->utimer_running, u, memory_order_seq_cst);
        atomic_store_explicit(&u->state, IDLE, memory_order_seq_cst);
        w->utimer_rearm = false;
        fn((struct wf_timer *)(void *)u, arg);
        if (w->utimer_rearm) {
            /* The callback asked for it, so u is still alive. Starters
             * from elsewhere back off while the callback counts as
             * running, so u is IDLE but for their brief STARTING. */
            w->utimer_rearm = false;
            for (;;) {
                int s = IDLE;
                /* seq_cst CAS: as in wf_timer_start. */
                if (atomic_compare_exchange_strong_explicit(
                        &u->state, &s, STARTING, memory_order_seq_cst,
                        memory_order_seq_cst))
                    break;
                wait_started(u, &s);
            }
            bool first;
            wf__timer_add_reserved(&w->timers, &u->t, w->utimer_rearm_deadline,
                                   &u->state, ARMED, &first);
        }
        /* seq_cst: after the callback; running() then sees it ended. */
        atomic_store_explicit(&w->utimer_running, NULL,
                              memory_order_seq_cst);
    }
}

void wf__utimers_discard(struct wf__worker *w)
{
    /* Runtime shutdown, workers stopped: due callbacks never run, as for
     * timers left in a heap. */
    struct wf__utimer *u;
    while ((u = w->due)) {
        w->due = u->next_due;
        u->next_due = NULL;
        /* seq_cst, no order needed: the workers have been joined. */
        atomic_store_explicit(&u->state, DISCARDED, memory_order_seq_cst);
    }
}
