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
 *   IDLE     not armed (initial; after its callback; after a stop)
 *   ARMED    in a heap
 *   DUE      fired, waiting on a worker's due list
 *   RUNNING  its callback runs
 * start: IDLE -> ARMED (CAS), then into a heap. fire: ARMED -> DUE (under
 * the heap lock). drain: DUE -> RUNNING -> IDLE, or -> ARMED when the
 * callback re-armed it (the re-arm is recorded in `rearm` and applied
 * after the callback, so one timer's callback never overlaps itself).
 * stop: ARMED -> take it out of its heap (wf__timer_cancel waits for a
 * fire in progress), then CAS ARMED -> IDLE; if the fire won, the timer is
 * DUE or RUNNING, and stop waits for IDLE (a due list is drained within
 * the same scheduling pass, so the wait is a callback's length).
 *
 * Orders: the state CASes are seq_cst (few, and they order the fields
 * written before them: deadline, rearm); the heap's own lock orders the
 * heap. The due list is owner-only (the firing worker pushes and drains).
 */
#include <sched.h>
#include <string.h>

#include "core_int.h"
#include "weft/timer.h"

enum { IDLE = 0, ARMED, DUE, RUNNING };

struct wf__utimer {
    struct wf__timer t;        /* must be first: the heap's handle */
    wf_timer_fn *fn;
    void *arg;
    atomic_int state;
    bool rearm;                /* set by its own callback; drain only */
    int64_t rearm_deadline;
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

/* The timer whose callback this thread runs now (callbacks never switch,
 * so a thread-local is exact here). */
static WF__TLS struct wf__utimer *running;

static atomic_uint rr; /* round-robin heap choice for plain threads */

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
static int arm(struct wf__utimer *u, int64_t deadline)
{
    struct wf__rt *rt = &wf__rt;
    struct wf__worker *self = wf__worker_self();
    /* acquire: pairs with wf_init's release store of RUNNING, so the
     * workers array is there (a worker thread implies it). */
    if (!self && atomic_load_explicit(&rt->state, memory_order_acquire) !=
                     WF__RT_RUNNING)
        return WF_ESHUTDOWN;
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
    if (running == u) { /* from its own callback: re-arm afterwards */
        if (u->rearm)
            return WF_EBUSY;
        u->rearm = true;
        u->rearm_deadline = deadline;
        return 0;
    }
    if (!wf__worker_self() &&
        atomic_load_explicit(&wf__rt.state, memory_order_acquire) !=
            WF__RT_RUNNING)
        return WF_ESHUTDOWN;
    int s = IDLE;
    if (!atomic_compare_exchange_strong(&u->state, &s, ARMED))
        return WF_EBUSY;
    int err = arm(u, deadline);
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
    if (running == u) { /* from its own callback */
        u->rearm = false;
        return WF_EALREADY;
    }
    for (;;) {
        int s = atomic_load(&u->state);
        if (s == IDLE)
            return WF_EALREADY;
        if (s == ARMED) {
            wf__timer_cancel(&u->t);
            if (atomic_compare_exchange_strong(&u->state, &s, IDLE))
                return 0;
            continue; /* it fired meanwhile: DUE or later */
        }
        if (running) {
            /* From another timer's callback: never wait (two callbacks
             * stopping each other's timers would wait forever). A timer
             * due on this worker's own list is simply taken off it. */
            if (s == DUE && unlink_due(wf__worker_self(), u))
                return 0;
            return WF_EALREADY;
        }
        /* DUE or RUNNING: wait for the callback to finish. A waiting
         * fiber yields, so the worker that drains can be this one. */
        while (atomic_load(&u->state) >= DUE) {
            struct wf__fiber *f = wf__fiber_self();
            if (f)
                wf__fiber_yield(f);
            else
                sched_yield();
        }
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
        int s = DUE;
        if (!atomic_compare_exchange_strong(&u->state, &s, RUNNING))
            continue;
        u->rearm = false;
        running = u;
        u->fn((struct wf_timer *)(void *)u, u->arg);
        running = NULL;
        if (u->rearm) {
            u->rearm = false;
            atomic_store(&u->state, ARMED);
            /* The callback ran on this worker's thread: this worker's
             * heap (wf__worker_self is w). */
            if (wf__timer_add(&w->timers, &u->t, u->rearm_deadline) == 0)
                continue;
        }
        atomic_store(&u->state, IDLE);
    }
}
