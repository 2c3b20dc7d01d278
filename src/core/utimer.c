/*
 * User timers (weft/timer.h) on the workers' timer heaps.
 *
 * A user timer embeds a heap timer (timer.h). The heap fires it with the
 * heap's lock held, which is no place for user code (a callback that
 * re-arms a timer of the same heap would deadlock on that lock), so the
 * fire hook only moves the timer to the firing worker's `due` list; the
 * worker runs the due callbacks right after the heap pass, outside every
 * lock (wf__utimers_drain, called by sched.c's run_timers).
 *
 * States (`state`, atomic):
 *   IDLE     not armed (initial; once its callback is taken; after a stop)
 *   ARMED    in a heap
 *   DUE      fired, waiting on a worker's due list
 * start: IDLE -> ARMED (CAS), then into a heap. fire: ARMED -> DUE (under
 * the heap lock). drain: publishes the timer in the worker's
 * `utimer_running`, then DUE -> IDLE, then runs the callback, then clears
 * `utimer_running`. Nothing in the timer is touched once the callback has
 * returned, so a callback may free its own timer's storage (the common
 * "one-shot, then free" pattern). A re-arm from the callback is recorded
 * in the worker (utimer_rearm) and applied after it returns.
 * stop: ARMED -> out of its heap (wf__timer_cancel waits for a fire in
 * progress), then CAS ARMED -> IDLE; if the fire won, the timer is DUE
 * (wait for the drain) or IDLE with its callback maybe running: stop then
 * waits until no worker's `utimer_running` names it. Because drain stores
 * utimer_running before it makes the timer IDLE (both seq_cst), a stop
 * that sees IDLE also sees the running callback.
 *
 * Orders: the state changes and utimer_running are seq_cst (a handful per
 * timer); the heap's own lock orders the heap. The due list and the
 * re-arm request are owner-only.
 */
#include <sched.h>
#include <string.h>

#include "core_int.h"
#include "weft/timer.h"

enum { IDLE = 0, ARMED, DUE };

struct wf__utimer {
    struct wf__timer t;        /* must be first: the heap's handle */
    wf_timer_fn *fn;
    void *arg;
    atomic_int state;
    struct wf__utimer *next_due; /* the firing worker's due list */
    uint32_t magic;            /* set by wf_timer_init */
};

#define MAGIC 0x74696d72u /* "timr" */

_Static_assert(sizeof(struct wf__utimer) <= WF_TIMER_SIZE,
               "wf_timer storage too small");
_Static_assert(_Alignof(struct wf__utimer) <= 8, "wf_timer alignment");

static struct wf__utimer *U(struct wf_timer *t)
{
    return (struct wf__utimer *)(void *)t->opaque;
}

/* The timer whose callback this thread runs now, if any (callbacks never
 * switch, so the worker's field says what this very thread runs). */
static struct wf__utimer *running_here(void)
{
    struct wf__worker *w = wf__worker_self();
    /* relaxed: only this thread writes its own worker's field. */
    return w ? atomic_load_explicit(&w->utimer_running, memory_order_relaxed)
             : NULL;
}

/* Wait until no worker runs u's callback. A fiber yields (the worker that
 * runs it may be this one's neighbour on the queue), a thread yields its
 * CPU. */
static void wait_not_running(struct wf__utimer *u)
{
    struct wf__rt *rt = &wf__rt;
    /* No runtime, no callbacks (and no workers array). acquire: pairs
     * with wf_init's release store of RUNNING. */
    if (atomic_load_explicit(&rt->state, memory_order_acquire) == WF__RT_OFF)
        return;
    for (int i = 0; i < rt->nworkers; i++) {
        while (atomic_load(&rt->workers[i].utimer_running) == u) {
            struct wf__fiber *f = wf__fiber_self();
            if (f)
                wf__fiber_yield(f);
            else
                sched_yield();
        }
    }
}

static atomic_uint rr; /* where pick_heap starts looking; spreading only */

/* Heap hook, under the heap lock, on the worker running the heap pass. */
static void fire(struct wf__timer *ht)
{
    struct wf__utimer *u = (struct wf__utimer *)ht;
    struct wf__worker *w = wf__worker_self();
    atomic_store(&u->state, DUE);
    u->next_due = w->due;
    w->due = u;
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
    atomic_init(&u->t.heap, NULL);
    atomic_init(&u->state, IDLE);
    u->magic = MAGIC;
    return 0;
}

/* Which heap gets a timer. A worker fires its own timers only between
 * fibers, so a busy one would fire them late; a sleeping worker sleeps
 * exactly until its earliest timer. So a timer goes to a sleeping
 * worker's heap when there is one, else to the caller's own (a fiber's
 * worker is awake by definition), and from a plain thread round-robin. */
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

/* Put an ARMED timer into a heap (pick_heap); wake the heap's worker if it
 * may sleep past the new deadline. */
static int arm(struct wf__utimer *u, int64_t deadline, struct wf__worker *self)
{
    struct wf__rt *rt = &wf__rt;
    struct wf__worker *t = pick_heap(rt, self);
    int64_t before = wf__timers_earliest(&t->timers);
    int err = wf__timer_add(&t->timers, &u->t, deadline);
    /* It sleeps until the earliest deadline it saw; only a new earliest
     * needs a wake-up (every add to a sleeper's heap passes here). */
    if (err == 0 && t != self && deadline < before)
        wf__worker_timers_changed(t);
    return err;
}

int wf_timer_start(struct wf_timer *t, int64_t deadline)
{
    if (!t || U(t)->magic != MAGIC)
        return WF_EINVAL;
    struct wf__utimer *u = U(t);
    struct wf__worker *self = wf__worker_self();
    /* relaxed: only this thread writes its own worker's field. */
    if (self && atomic_load_explicit(&self->utimer_running,
                                     memory_order_relaxed) == u) {
        /* From its own callback: re-arm afterwards. */
        if (self->utimer_rearm)
            return WF_EBUSY;
        /* Take the heap slot now, so that applying the re-arm after the
         * callback cannot fail unseen. */
        int err = wf__timers_reserve(&self->timers);
        if (err < 0)
            return err;
        self->utimer_rearm = true;
        self->utimer_rearm_deadline = deadline;
        return 0;
    }
    /* acquire: pairs with wf_init's release store of RUNNING, so the
     * workers array is there (a worker thread implies it). */
    if (!self && atomic_load_explicit(&wf__rt.state, memory_order_acquire) !=
                     WF__RT_RUNNING)
        return WF_ESHUTDOWN;
    int s = IDLE;
    if (!atomic_compare_exchange_strong(&u->state, &s, ARMED))
        return WF_EBUSY;
    int err = arm(u, deadline, self);
    if (err < 0)
        atomic_store(&u->state, IDLE);
    return err;
}

/* Take u off w's due list (owner only) and mark it IDLE; false if it is
 * not there. */
static bool unlink_due(struct wf__worker *w, struct wf__utimer *u)
{
    for (struct wf__utimer **p = &w->due; *p; p = &(*p)->next_due) {
        if (*p == u) {
            *p = u->next_due;
            u->next_due = NULL;
            atomic_store(&u->state, IDLE);
            return true;
        }
    }
    return false;
}

int wf_timer_stop(struct wf_timer *t)
{
    if (!t || U(t)->magic != MAGIC)
        return WF_EINVAL;
    struct wf__utimer *u = U(t);
    struct wf__utimer *here = running_here();
    if (here == u) { /* from its own callback: cancel a re-arm */
        struct wf__worker *w = wf__worker_self();
        if (w->utimer_rearm) {
            w->utimer_rearm = false;
            wf__timers_unreserve(&w->timers);
        }
        return WF_EALREADY;
    }
    for (;;) {
        int s = atomic_load(&u->state);
        if (s == ARMED) {
            wf__timer_cancel(&u->t);
            if (atomic_compare_exchange_strong(&u->state, &s, IDLE)) {
                /* A callback that re-armed it may still be returning. */
                if (!here)
                    wait_not_running(u);
                return 0;
            }
            continue; /* it fired meanwhile */
        }
        if (here) {
            /* From another timer's callback: never wait (two callbacks
             * stopping each other's timers would wait forever). A timer
             * due on this worker's own list is simply taken off it. */
            if (s == DUE && unlink_due(wf__worker_self(), u))
                return 0;
            return WF_EALREADY;
        }
        if (s == DUE) { /* a worker is about to run it */
            struct wf__fiber *f = wf__fiber_self();
            if (f)
                wf__fiber_yield(f);
            else
                sched_yield();
            continue;
        }
        wait_not_running(u);
        if (atomic_load(&u->state) == IDLE)
            return WF_EALREADY;
        /* re-armed by its callback: stop that arming */
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
        /* seq_cst, in this order: see the top comment. */
        atomic_store(&w->utimer_running, u);
        int s = DUE;
        if (!atomic_compare_exchange_strong(&u->state, &s, IDLE)) {
            atomic_store(&w->utimer_running, NULL);
            continue; /* stopped while due */
        }
        w->utimer_rearm = false;
        fn((struct wf_timer *)(void *)u, arg);
        if (w->utimer_rearm) {
            /* The callback asked for it, so u is still alive. It runs on
             * this worker's thread: this worker's heap. */
            w->utimer_rearm = false;
            int idle = IDLE;
            if (atomic_compare_exchange_strong(&u->state, &idle, ARMED))
                wf__timer_add_reserved(&w->timers, &u->t,
                                       w->utimer_rearm_deadline);
            else /* started meanwhile by another thread: that arming wins */
                wf__timers_unreserve(&w->timers);
        }
        atomic_store(&w->utimer_running, NULL);
    }
}
