/* SPDX-License-Identifier: MIT */
/*
 * Tasks: fork-join task groups, spawn and sync, running tasks (the
 * scheduler loop runs the ones it finds through wf__hooks.run_task), and
 * the serial stack.
 *
 * The deque, the task inject queue, and finding and stealing tasks are
 * the scheduler's, in src/core/tq.c (the scheduler loop looks there for
 * work); this file runs tasks and holds what the user calls.
 *
 * Task groups. A group remembers where it was initialised:
 *   TASK   inside a task on worker w: fork = push on w's deque (counted in
 *          nforked); a join pops and runs (nlocal) until nlocal + nremote
 *          == nforked, where nremote counts stolen children that finished
 *          (release increment by the thief, acquire load by the joiner).
 *          Children are popped newest first; if one was stolen, every
 *          older task was stolen too (thieves take the oldest), so a pop
 *          that finds nothing means "all that is left runs elsewhere".
 *   SUBMIT in a fiber or plain thread: children go to the runtime's task
 *          inject queue; `pending` holds one token for the joiner plus one
 *          per child; whoever takes it to 0 copies the waiter, sets `done`
 *          (release) and wakes it.
 *   SERIAL no runtime: fork calls the function, on the thread's serial
 *          stack (below).
 *
 * Bounded stacks. Tasks run on their worker's task stack (1 GiB of
 * address space by default, committed as touched, with a guard page; see
 * sched.c), never on fiber stacks. A join whose child was
 * stolen runs stolen tasks on top of its own frames; `depth` counts those
 * nested steals and a worker at WF__HELP_DEPTH only spins, so a worker's
 * stack never holds more than WF__HELP_DEPTH + 1 task subtrees, each as
 * deep as the user's recursion. Rejected: leapfrogging (steal only from
 * the thief of the awaited child; bounds depth without spinning, but needs
 * the thief's identity in every task) - left for when a workload shows
 * the spin.
 *
 * The serial stack. With no runtime, fork-join runs on the caller's
 * thread; a recursion that a worker's task stack would hold must not
 * overflow a plain thread's stack (8 MiB for main, often less for others)
 * either. So the outermost serial fork (or spawn) switches to a stack of
 * the thread's own, of the task stack size (wf__serial_task_stack_size),
 * mapped at the first such call and kept until the thread exits; calls
 * made on it (tls_on_serial) just call. One switch there and one back per
 * outermost call, never one per level.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "arch/ctx.h"
#include "common/atomic.h"
#include "core/core_int.h"
#include "par_int.h"

#define WF__HELP_DEPTH 24

_Static_assert(sizeof(struct wf__task) <= WF_TASK_SIZE, "wf_task too small");
_Static_assert(_Alignof(struct wf__task) <= 8, "wf_task alignment");
_Static_assert(sizeof(struct wf__group) <= WF_TASK_GROUP_SIZE,
               "wf_task_group too small");
_Static_assert(_Alignof(struct wf__group) <= 8, "wf_task_group alignment");

/* The worker whose scheduler loop is running a task on this thread, NULL
 * elsewhere (fibers included). Tasks never switch, so unlike
 * wf__worker_self() the value cannot go stale while a task reads it. */
static WF__TLS struct wf__worker *tls_tw;
/* The same worker's task deque, for the inline paths in weft/par.h. */
WF_API WF__TLS struct wf__tq_pub *wf__par_tq;

/* ---- running tasks -------------------------------------------------------- */

static void submit_done(struct wf__group *g)
{
    /* seq_cst RMW: the last child (or the joiner, join_submit) to drop
     * pending sees 1; each child's effects come before its decrement. */
    if (atomic_fetch_sub_explicit(&g->pending, 1, memory_order_seq_cst) != 1)
        return;
    /* The joiner may leave (and its frame with g) once `done` is set. */
    struct wf__waiter wt = g->waiter;
    /* seq_cst: releases the children's effects to the joiner, and is the
     * waker's half of park-on-word (store, then kick). */
    atomic_store_explicit(&g->done, 1, memory_order_seq_cst);
    wf__waiter_kick(&wt);
}

/* Run t on worker w; local: popped from w's own deque. */
static inline void run(struct wf__task *t, bool local)
{
    struct wf__group *g = t->group;
    t->fn(t->arg);
    if (!g) { /* wf_task_spawn: the owner pops it or waits for `done` */
        if (local) /* popped out of order: its own sync must not wait */
            t->fn = NULL;
        else /* release: pairs with the acquire in wf_task_sync. */
            atomic_store_explicit(&t->u.done, 1, memory_order_release);
    } else if (g->mode == WF__G_TASK) {
        if (local)
            g->nlocal++;
        else /* release: pairs with the joiner's acquire load. */
            atomic_fetch_add_explicit(&g->nremote, 1, memory_order_release);
    } else {
        submit_done(g);
    }
}

/* The scheduler loop runs a task it found (wf__hooks.run_task). */
static void run_sched(struct wf__worker *w, struct wf__task *t)
{
    tls_tw = w;
    wf__par_tq = (struct wf__tq_pub *)(void *)&w->tq;
    run(t, false);
    /* Every group a task opens is joined before it returns. */
    WF_ASSERT(wf__tq_empty_owner(&w->tq));
    wf__par_tq = NULL;
    tls_tw = NULL;
}

/* At load, before any runtime thread exists (see struct wf__hooks). */
__attribute__((constructor)) static void hook_run_task(void)
{
    wf__hooks.run_task = run_sched;
}

/* A join's child runs elsewhere: do something useful meanwhile. *idle
 * counts the calls in a row that found nothing; past ~50 us of those
 * (twice the spin budget of common/futex.h, so fewer while the machine is
 * oversubscribed) the worker yields its CPU at each call, so that on an oversubscribed
 * machine it does not take time from the thief it waits for. */
static void help(struct wf__worker *w, unsigned *idle)
{
    if (w->tq.depth < WF__HELP_DEPTH) {
        struct wf__task *t = wf__task_steal(w, false);
        if (t) {
            *idle = 0;
            w->tq.depth++;
            run(t, false);
            w->tq.depth--;
            return;
        }
    }
    if (++*idle > 2 * wf__spin_budget()) {
        sched_yield();
        return;
    }
    for (int k = 0; k < 16; k++)
        wf__cpu_relax();
}

/* ---- the serial stack ---------------------------------------------------------- */

static WF__TLS bool tls_on_serial;           /* running on tls_serial */
static WF__TLS struct wf__stack *tls_serial; /* this thread's, or NULL */
static WF__TLS size_t tls_serial_size;       /* what it was mapped for */
static pthread_key_t serial_key;             /* unmaps it at thread exit */
static pthread_once_t serial_once = PTHREAD_ONCE_INIT;

static void serial_unmap(void *st)
{
    wf__stack_unmap_one(st);
}

static void serial_key_init(void)
{
    if (pthread_key_create(&serial_key, serial_unmap) != 0)
        WF_PANIC("no pthread key for the serial task stack");
}

struct serial_call {
    wf_task_fn *fn;
    void *arg;
};

static void serial_entry(void *p)
{
    struct serial_call *c = p;
    tls_on_serial = true;
    c->fn(c->arg);
    tls_on_serial = false;
}

/* Run fn(arg) serially (no runtime) on this thread's serial stack.
 * Errors (fn not run): WF_EINVAL a bad WEFT_TASK_STACK_SIZE (reported),
 * WF_ENOMEM no mapping. */
static int serial_run(wf_task_fn *fn, void *arg)
{
    if (tls_on_serial) {
        fn(arg);
        return 0;
    }
    size_t size;
    int err = wf__serial_task_stack_size(&size);
    if (err)
        return err;
    if (!tls_serial || tls_serial_size != size) {
        pthread_once(&serial_once, serial_key_init);
        if (tls_serial) {
            pthread_setspecific(serial_key, NULL);
            wf__stack_unmap_one(tls_serial);
        }
        tls_serial = wf__stack_map_one(size);
        if (!tls_serial)
            return WF_ENOMEM;
        tls_serial_size = size;
        pthread_setspecific(serial_key, tls_serial);
    }
    struct serial_call c = { fn, arg };
    wf__stack_call(tls_serial, serial_entry, &c);
    return 0;
}

/* ---- task groups ------------------------------------------------------------ */

static struct wf__group *G(struct wf_task_group *g)
{
    return (struct wf__group *)(void *)g->opaque;
}

static struct wf__task *T(struct wf_task *t)
{
    return (struct wf__task *)(void *)t->opaque;
}

bool wf_in_task(void)
{
    return tls_tw != NULL;
}

struct wf__worker *wf__par_task_worker(void)
{
    return tls_tw;
}

/* Outside tasks: is there no runtime (so that everything runs serially)? */
static bool serial_mode(void)
{
    /* acquire: pairs with the release store that published the runtime. */
    return atomic_load_explicit(&wf__rt.state, memory_order_acquire) !=
           WF__RT_RUNNING;
}

int wf_task_group_init(struct wf_task_group *tg)
{
    if (!tg)
        return WF_EINVAL;
    struct wf__group *g = G(tg);
    g->w = tls_tw;
    g->nforked = g->nlocal = 0;
    atomic_init(&g->nremote, 0);
    if (__builtin_expect(g->w != NULL, 1)) {
        g->mode = WF__G_TASK;
        return 0;
    }
    atomic_init(&g->pending, 1);
    atomic_init(&g->done, 0);
    g->waiter.fiber = NULL;
    g->waiter.tp = NULL;
    g->mode = WF__G_SERIAL;
    if (serial_mode())
        return 0;
    /* The join will wait: a plain thread's parker, now that failing
     * leaves nothing to undo. */
    if (wf__thread_parker_ready() < 0)
        return WF_ENOMEM;
    g->mode = WF__G_SUBMIT;
    return 0;
}

int wf_task_group_fork(struct wf_task_group *tg, struct wf_task *tt,
                       wf_task_fn *fn, void *arg)
{
    if (__builtin_expect(!tg || !tt || !fn, 0))
        return WF_EINVAL;
    struct wf__group *g = G(tg);
    struct wf__task *t = T(tt);
    t->fn = fn;
    t->arg = arg;
    t->group = g;
    if (__builtin_expect(g->mode == WF__G_TASK, 1)) {
        g->nforked++;
        if (__builtin_expect(!wf__tq_push(&g->w->tq, t), 0)) {
            fn(arg); /* deque full: run it now */
            g->nlocal++;
        }
        return 0;
    }
    if (g->mode == WF__G_SERIAL)
        return serial_run(fn, arg);
    /* seq_cst: counted before the task can run and decrement it. */
    atomic_fetch_add_explicit(&g->pending, 1, memory_order_seq_cst);
    wf__task_inject(&wf__rt, t);
    return 0;
}

int wf__group_fork_shared(struct wf_task_group *tg, struct wf_task *tt,
                          wf_task_fn *fn, void *arg)
{
    int err = wf_task_group_fork(tg, tt, fn, arg);
    struct wf__group *g = G(tg);
    if (err == 0 && g->mode == WF__G_TASK && g->w->tq.ob > g->w->tq.osplit) {
        /* Expose everything private now: the owner may be preempted or
         * busy in a long body before it would see a request. */
        struct wf__tq *q = &g->w->tq;
        q->osplit = q->ob;
        /* release: pairs with the thieves' load of split. */
        atomic_store_explicit(&q->split, q->osplit, memory_order_release);
        wf__sched_notify(&wf__rt); /* see wf__tq_publish */
    }
    return err;
}

/* The joining thread's parker was made ready by wf_task_group_init: a
 * group is initialised and joined by the same thread or fiber (par.h). */
static void join_submit(struct wf__group *g)
{
    wf__waiter_self(&g->waiter);
    /* seq_cst RMW: drops the joiner's own count; as in submit_done. */
    if (atomic_fetch_sub_explicit(&g->pending, 1, memory_order_seq_cst) !=
        1) {
        /* acquire: pairs with the store in submit_done. */
        while (!atomic_load_explicit(&g->done, memory_order_acquire)) {
            if (wf__waiter_park_word_nocancel(&g->waiter, &g->done, 0,
                                              WF_FOREVER,
                                              WF__WHY_TASKS) == -ESHUTDOWN)
                /* wf_shutdown waits for this thread to leave before it
                 * stops the workers, so the children still finish. */
                sched_yield();
        }
    }
    wf__waiter_done(&g->waiter);
}

int wf_task_group_join(struct wf_task_group *tg)
{
    if (__builtin_expect(!tg, 0))
        return WF_EINVAL;
    struct wf__group *g = G(tg);
    if (__builtin_expect(g->mode == WF__G_TASK, 1)) {
        struct wf__worker *w = g->w;
        unsigned idle = 0;
        /* acquire: pairs with the thieves' release increment. */
        while (g->nlocal + atomic_load_explicit(&g->nremote, memory_order_acquire) !=
               g->nforked) {
            struct wf__task *t = wf__tq_pop(&w->tq);
            if (t)
                run(t, true);
            else
                help(w, &idle);
        }
        g->nforked = g->nlocal = 0;
        atomic_store_explicit(&g->nremote, 0, memory_order_relaxed);
        return 0;
    }
    if (g->mode == WF__G_SUBMIT) {
        join_submit(g);
        /* seq_cst, no order needed: every child has finished; the group
         * is the joiner's alone until its next fork. */
        atomic_store_explicit(&g->pending, 1, memory_order_seq_cst);
        atomic_store_explicit(&g->done, 0, memory_order_seq_cst);
    }
    return 0;
}

int wf__task_spawn_slow(struct wf_task *tt, wf_task_fn *fn, void *arg)
{
    struct wf__worker *w = tls_tw;
    if (__builtin_expect(!w || !tt || !fn, 0)) {
        if (!tt || !fn)
            return WF_EINVAL;
        if (!serial_mode())
            return WF_EPERM;
        return serial_run(fn, arg); /* no runtime: serial */
    }
    struct wf__task *t = T(tt);
    t->fn = fn;
    t->arg = arg;
    t->group = NULL;
    atomic_init(&t->u.done, 0);
    if (__builtin_expect(!wf__tq_push(&w->tq, t), 0)) {
        fn(arg); /* deque full: run it now */
        atomic_init(&t->u.done, 1);
        t->fn = NULL; /* mark: already run */
    }
    return 0;
}

int wf__task_sync_slow(struct wf_task *tt)
{
    struct wf__worker *w = tls_tw;
    if (__builtin_expect(!w || !tt, 0)) {
        if (!tt)
            return WF_EINVAL;
        return serial_mode() ? 0 : WF_EPERM;
    }
    struct wf__task *t = T(tt);
    if (__builtin_expect(t->fn == NULL, 0))
        return 0; /* ran at spawn */
    for (;;) {
        struct wf__task *x = wf__tq_pop(&w->tq);
        if (__builtin_expect(x == t, 1)) {
            t->fn(t->arg);
            return 0;
        }
        if (!x)
            break;
        run(x, true); /* spawned after t and not synced: run it too */
    }
    /* Stolen. acquire: pairs with the thief's release store of done. */
    unsigned idle = 0;
    while (!atomic_load_explicit(&t->u.done, memory_order_acquire))
        help(w, &idle);
    return 0;
}

int wf_par_run(wf_task_fn *fn, void *arg)
{
    if (!fn)
        return WF_EINVAL;
    if (tls_tw) {
        fn(arg);
        return 0;
    }
    struct wf_task_group g;
    struct wf_task t;
    int err = wf_task_group_init(&g);
    if (err)
        return err;
    err = wf_task_group_fork(&g, &t, fn, arg);
    int jerr = wf_task_group_join(&g);
    return err ? err : jerr;
}
