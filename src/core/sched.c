/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: workers, run queues, the switch, stealing, parking.
 *
 * Each worker thread has a bounded Chase-Lev deque used as a FIFO (push at
 * the bottom, take at the top, like thieves) for fibers that yielded or
 * were queued at the tail, a run-next slot for the fiber it spawned or
 * woke last, a second deque used as a LIFO for the newest work (`lq`:
 * spawned fibers pushed out of run-next before they ran, by a spawn or a
 * wake-up; the owner pops the newest, thieves take the oldest; a woken
 * fiber pushed out goes to the FIFO deque, so LIFO never leaves a woken
 * fiber behind newer wake-ups), an inbox for fibers pinned to it, and a
 * timer heap. Plain threads submit to a global inject queue.
 *
 * Order of a scheduling decision (pick_local): every 64th decision the
 * inject queue first (so it cannot starve); the oldest fiber of lq when
 * it has stayed the oldest for ~16,000 decisions (so LIFO cannot leave it
 * behind for good: oldest_if_stuck); the inbox; run-next, then lq's
 * newest (together at most 16 times in a row, so fibers waking or
 * spawning each other cannot starve the FIFO deque); the deque; run-next
 * and lq; the inject queue. With nothing local, the worker's
 * scheduler loop steals from random victims (lq's oldest, then their
 * deque, then their run-next slot, and fires their expired timers), spins
 * for ~30 us (SPIN_NS; only one full steal round while the monitor finds
 * the machine oversubscribed, common/futex.h), then parks on a futex until
 * woken or until its earliest timer.
 *
 * Overload. A spawn puts the child in run-next and the spawner runs on
 * until it parks (Go's runnext); with lq's LIFO a tree of fibers then runs
 * depth-first: its live set stays a few fibers per level (plus one subtree
 * per pick of lq's oldest) instead of the whole tree, and freed stacks
 * come back warm from the worker's stack cache. Thieves take the oldest
 * of lq, the largest subtree not started. A full deque moves its older
 * half to the inject queue (spill); take_inject detaches the whole inject
 * list under its lock, cuts a batch outside it (control blocks are cold,
 * and nobody must wait on those misses), puts the rest back in front in
 * one step, and takes no more than the deque has room for, so nothing
 * spills straight back. Both count as scheduling decisions for the stall
 * monitor, however long they take.
 *
 * Direct switches. A fiber that yields, parks or returns picks its
 * successor itself and switches straight to it (one switch, not two via
 * the scheduler loop). Whatever must happen to the fiber it left - queue
 * it, mark it parked, free it - cannot be done before the switch (another
 * worker could resume it while we still run on its stack), so it is
 * recorded in worker->after and done by whoever runs next on this worker,
 * first thing after the switch (run_after).
 *
 * Parking protocol (wstate, with the permit `notified`):
 *   park:  take the permit -> return if set; store(wstate, PARKING);
 *          take the permit -> if set, store(RUNNING) and return;
 *          ("take" is a load, then an exchange(notified, 0) only if the
 *          load saw 1: the common no-permit case costs no locked op);
 *          switch away; after the switch CAS(PARKING -> PARKED), and if
 *          that fails (a waker saw PARKING and set WOKEN) requeue it.
 *   wake:  exchange(notified, 1) -> return if it was set already; then
 *          CAS(PARKED -> RUNNING) and queue it, or CAS(PARKING -> WOKEN).
 *   claim: a completer that finds the fiber PARKED may take it outright
 *          (CAS PARKED -> CLAIMED), fill in the outcome of its wait, store
 *          RUNNING with release and queue it (wf__fiber_run_claimed); the
 *          fiber loads wstate with acquire when it is back on its stack,
 *          so the outcome reaches it through wstate itself, whatever order
 *          the queues give. Wakers leave a CLAIMED fiber alone.
 * Every access to wstate and notified is seq_cst (written at each, with
 * its pair named): the store of PARKING and the waker's exchange of
 * notified form a Dekker pair, so either the parker sees the permit or
 * the waker sees PARKING/PARKED. A fiber is queued by exactly one party per park.
 * The permit belongs to wf_park/wf_unpark alone, and must be neither lost
 * nor faked: every wait inside weft parks on a word of its own (a wait
 * record's state, a group's `done`: park with a `word`), whose waker
 * stores the word (seq_cst) and then "kicks" the fiber (the CAS part of
 * wake, without the permit). Deadlines and cancellation kick too, and the
 * parker checks `cancelled` again after storing PARKING and looks at the
 * clock when it resumes.
 *
 * Spurious wake-ups are part of the contract: every waiting loop in weft
 * re-checks its condition. That makes waking a fiber that has already
 * ended harmless (its control block stays mapped, see arch/stack.h, and a
 * freed one has wstate 0, which no waker acts on), so wakers never need a
 * reference on the fiber they wake.
 *
 * Idle workers (after Go's spinning-thread protocol). rt->nsearching counts
 * workers looking for work, rt->nparked those asleep. Whoever makes work
 * runnable issues a seq_cst fence and wakes one parked worker only if no
 * worker is searching; a woken worker counts as searching (the waker
 * counts it) until it finds work, and the last searcher that finds work
 * wakes another if more is visible. A worker about to sleep marks itself
 * parked, stops counting as searching (seq_cst RMW), then re-checks every
 * queue before sleeping: against the producer's fence that closes the
 * window for lost wake-ups.
 *
 * The worker poller (async/reactor.c has the whole protocol). Through
 * wf__hooks.io_poll a worker that runs dry polls for I/O without blocking
 * (the fibers it wakes go to its own queues), and a worker about to sleep
 * may block in the I/O backend's wait instead of on its futex, one at a
 * time. It is still a parked worker (parked, nparked), so the protocol
 * above is unchanged but for how it is woken: it sets `poll_sleep` and
 * then reads `wake_word` (wf__sched_poll_arm), wake_parked stores
 * wake_word and then reads poll_sleep, and interrupts the backend's wait
 * (wf__hooks.io_interrupt) instead of waking the futex. wake_one prefers
 * workers asleep on their futexes. A worker the poll returned un-marks
 * itself before it dispatches (wf__sched_poll_woke), so its own wake-ups
 * do not count it as a sleeper to wake. A worker that could take the
 * poll does not spin for ~30 us first: spinning, it would not hear of
 * I/O until it parked (a 1-connection echo's round trip paid the whole
 * spin), while blocked in the poll it hears of everything.
 *
 * Tasks (tq.c, par/task.c). Fork-join tasks run on the scheduler loop's
 * context, never on a fiber's stack. The loop runs on the worker's task
 * stack: a region weft maps itself (wf__stack_map_one: reserved lazily,
 * 1 GiB of address space by default, `task_stack_size`, with a guard page
 * that the SIGSEGV handler recognises), entered once from the thread's own
 * small stack (wf__stack_call), so that a deep fork-join recursion is
 * bounded by a setting and reported by name, not by the 8 MiB a thread
 * stack has. find_work takes roots (handed over by fibers and plain
 * threads through the task inject queue) before local fibers, and when it
 * searches, steals from the other workers' task deques before their fiber
 * queues; a task found is run to completion right there (through
 * wf__hooks.run_task), and then the loop starts over. A fiber switch goes
 * through the scheduler loop instead of straight to the next fiber while
 * roots wait in the task inject queue (pick_next), so that workers busy
 * with fibers still pick them up. Idle workers hear of tasks the way they
 * hear of fibers: a root, and tasks made stealable (published), are
 * followed by notify_idle, and work_visible counts stealable tasks, so the
 * last searcher to find work (a stolen task included) wakes the next.
 *
 * Rejected: a mutex-protected shared run queue (simple, but every switch
 * would contend on it); waking a parked worker on every submission (a
 * futex wake costs tens of microseconds, for work the submitter will
 * usually run itself).
 *
 * Models (spin, tests/model/; `ctest -L model`): park.pml checks the
 * parking protocol above (park, resume, run_after, claim, the permit
 * against park-on-word; one fiber, its worker's run_after, a waker that
 * claims or stores and kicks, wf_unpark, a timer kick, a cancel), and
 * idle.pml the idle-worker protocol (find_work, park_worker,
 * work_visible, notify_idle, wake_parked, and inbox_push's wake of a
 * pinned fiber's worker; 2 and 3 workers; with -DPOLLER the worker
 * poller's token, arm and interrupt). Spin is
 * sequentially consistent; the fence-based Dekker pairs here behave so,
 * and the models say where they approximate (claim_parked's relaxed
 * filter, the run queues as counters, no timers or tasks in
 * idle.pml).
 */
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(WEFT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#include "common/fault.h"
#include "common/atomic.h"
#include "core_int.h"
#include "core_test.h"
#include "trace_core.h"

#define SPIN_NS 30000          /* search before parking */
#define RUNNEXT_STREAK 16      /* run-next picks in a row before the deque */
#define OLDEST_EVERY 1024      /* decisions per look at lq's oldest */
#define OLDEST_PATIENCE 16     /* looks that saw it stay before it is taken */
#define ALTSTACK_SIZE (64 * 1024)
/* The worker thread's own stack holds only worker_main's set-up (and the
 * sanitizer runtimes' thread-local state, which glibc carves from it):
 * the loop and the tasks run on w->tstack. */
#define THREAD_STACK (1024 * 1024)

static WF__TLS struct wf__worker *tls_worker;
static atomic_ulong idle_spins_cut; /* see core_test.h */

unsigned long wf__test_idle_spins_cut(void)
{
    /* relaxed: a statistic. */
    return atomic_load_explicit(&idle_spins_cut, memory_order_relaxed);
}

/* The asm statement makes the value opaque: the compiler can neither
 * treat the function as pure nor reuse an earlier result after a switch. */
__attribute__((noinline)) struct wf__worker *wf__worker_self(void)
{
    struct wf__worker *w = tls_worker;
    __asm__ __volatile__("" : "+r"(w) : : "memory");
    return w;
}

__attribute__((noinline)) struct wf__fcb *wf__fiber_self(void)
{
    /* Read the TLS slot here rather than through wf__worker_self: one
     * call instead of two on paths as hot as a mutex's owner check. The
     * empty asm is the same barrier against a cached address. */
    struct wf__worker *w = tls_worker;
    __asm__ __volatile__("" : "+r"(w) : : "memory");
    /* relaxed: only this thread writes current. */
    return w ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
}

/* ---- the switch ------------------------------------------------------- */

/* A scheduling point, for the stall monitor. */
static inline void count_switch(struct wf__worker *w)
{
    /* relaxed: a progress counter for the monitor; owner-only writes. */
    atomic_store_explicit(&w->nswitch,
                          atomic_load_explicit(&w->nswitch, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void jump(struct wf__worker *w, struct wf__exec *from,
                 struct wf__exec *to, bool from_dying)
{
    count_switch(w);
    wf__stat_inc(&w->stats.switches); /* wf_stats (core/inspect.h) */
#if defined(WEFT_ASAN)
    __sanitizer_start_switch_fiber(from_dying ? NULL : &from->san.asan_fake,
                                   to->san.bottom, to->san.size);
#else
    (void)from_dying;
#endif
#if defined(WEFT_TSAN)
    __tsan_switch_to_fiber(to->san.tsan, 0);
#endif
    wf__ctx_switch(&from->ctx, &to->ctx);
#if defined(WEFT_ASAN)
    __sanitizer_finish_switch_fiber(from->san.asan_fake, NULL, NULL);
#endif
}

/* ---- queues ------------------------------------------------------------- */

static void inject_push_list(struct wf__rt *rt, struct wf__fcb *head,
                             struct wf__fcb *tail, long n)
{
    tail->next = NULL;
    wf__spin_lock(&rt->inject_lock);
    if (rt->inject_tail)
        rt->inject_tail->next = head;
    else
        rt->inject_head = head;
    rt->inject_tail = tail;
    /* seq_cst: the writing half of a Dekker; its pair is park_worker's
     * nsearching decrement and work_visible's read of inject_n (the
     * producer's fence is in notify_idle, after this). */
    atomic_fetch_add_explicit(&rt->inject_n, n, memory_order_seq_cst);
    wf__spin_unlock(&rt->inject_lock);
}

/* Deque d of w is full: move its older half plus f to the inject queue,
 * where other workers take batches (rebalancing as a side effect). */
static void spill(struct wf__worker *w, struct wf__deque *d,
                  struct wf__fcb *f)
{
    struct wf__fcb *head = f, *tail = f;
    long n = 1;
    for (long k = 0; k < WF__DEQUE_CAP / 2; k++) {
        struct wf__fcb *g = wf__deque_steal(d);
        if (g == WF__DEQUE_ABORT) {
            k--;
            continue;
        }
        if (!g)
            break;
        tail->next = g;
        tail = g;
        n++;
    }
    inject_push_list(w->rt, head, tail, n);
    count_switch(w); /* weft's own work, however long: not a stall */
}

static void local_push(struct wf__worker *w, struct wf__fcb *f)
{
    if (!wf__deque_push(&w->dq, f))
        spill(w, &w->dq, f);
}

/* Newest work, run before the FIFO deque (LIFO: depth-first). */
static void newest_push(struct wf__worker *w, struct wf__fcb *f)
{
    if (!wf__deque_push(&w->lq, f))
        spill(w, &w->lq, f);
}

/* Take a batch from the inject queue: one fiber to run, the rest onto the
 * deque. O(1) under the lock: the whole list is detached, the batch is
 * cut from it outside the lock (its control blocks are cold: a walk under
 * the lock would make every other taker and submitter wait for those
 * cache misses), and the rest is put back in front in one step. The batch
 * fits in the deque's free space, so nothing spills straight back. */
static struct wf__fcb *take_inject(struct wf__worker *w)
{
    struct wf__rt *rt = w->rt;
    if (!wf__spin_trylock(&rt->inject_lock))
        return NULL;
    struct wf__fcb *f = rt->inject_head, *tail = rt->inject_tail;
    rt->inject_head = rt->inject_tail = NULL;
    /* relaxed: the lock orders it; only a size for the fair share. */
    long avail = atomic_load_explicit(&rt->inject_n, memory_order_relaxed);
    wf__spin_unlock(&rt->inject_lock);
    if (!f)
        return NULL;

    /* A fair share, at most a quarter of the deque and what it has room
     * for (the owner alone pushes, so the room only grows meanwhile). */
    long take = avail / rt->nworkers + 1;
    long room = WF__DEQUE_CAP - 1 - wf__deque_size(&w->dq);
    if (take > WF__DEQUE_CAP / 4)
        take = WF__DEQUE_CAP / 4;
    if (take > room + 1)
        take = room + 1;
    if (take < 1)
        take = 1;
    struct wf__fcb *last = f;
    long n = 1;
    for (; n < take && last->next; n++)
        last = last->next;
    struct wf__fcb *rest = last->next;
    last->next = NULL;
    if (rest) {
        /* Back in front of whatever was pushed meanwhile: order kept. */
        wf__spin_lock(&rt->inject_lock);
        tail->next = rt->inject_head;
        rt->inject_head = rest;
        if (!rt->inject_tail)
            rt->inject_tail = tail;
        wf__spin_unlock(&rt->inject_lock);
    }
    /* seq_cst: as every change of inject_n (top comment). Taken after
     * the walk: meanwhile the count still shows the fibers to workers
     * deciding to sleep, which then look again rather than sleep. */
    atomic_fetch_sub_explicit(&rt->inject_n, n, memory_order_seq_cst);

    for (struct wf__fcb *g = f->next; g;) {
        struct wf__fcb *next = g->next;
        local_push(w, g);
        g = next;
    }
    count_switch(w); /* weft's own work: not a stall */
    return f;
}

static struct wf__fcb *take_inbox(struct wf__worker *w)
{
    wf__spin_lock(&w->inbox_lock);
    struct wf__fcb *f = w->inbox_head;
    if (f) {
        w->inbox_head = f->next;
        if (!w->inbox_head)
            w->inbox_tail = NULL;
        /* seq_cst, though no order matters: a count that drops only
         * makes sleepers' re-check (work_visible) see less; the lock
         * orders it against inbox_push. */
        atomic_fetch_sub_explicit(&w->inbox_n, 1, memory_order_seq_cst);
    }
    wf__spin_unlock(&w->inbox_lock);
    return f;
}

/* A fiber from the inbox of a stalled worker (stuck in a long call) that
 * is not pinned there (debug migration sent it): nothing but its home
 * binds it. NULL if there is none. */
static struct wf__fcb *steal_inbox(struct wf__worker *v)
{
    struct wf__fcb *f, *prev = NULL;
    wf__spin_lock(&v->inbox_lock);
    for (f = v->inbox_head; f; prev = f, f = f->next) {
        /* relaxed: home is written by the fiber itself before it parks. */
        if (atomic_load_explicit(&f->home, memory_order_relaxed) < 0)
            break;
    }
    if (f) {
        if (prev)
            prev->next = f->next;
        else
            v->inbox_head = f->next;
        if (v->inbox_tail == f)
            v->inbox_tail = prev;
        /* seq_cst, no order needed: as in take_inbox. */
        atomic_fetch_sub_explicit(&v->inbox_n, 1, memory_order_seq_cst);
    }
    wf__spin_unlock(&v->inbox_lock);
    return f;
}

/* ---- waking workers ------------------------------------------------------- */

/* Wake worker t if it is parked, counting it as searching. */
static bool wake_parked(struct wf__rt *rt, struct wf__worker *t)
{
    bool woke = false;
    pthread_mutex_lock(&rt->idle_lock);
    /* seq_cst throughout, though idle_lock orders parked and nparked
     * against park_worker (which changes them under it too). nsearching:
     * the woken worker counts as searching before it runs, so producers'
     * notify_idle (Dekker load of nsearching) see it. wake_word: pairs
     * with park_worker's futex-wait loop load, the futex orders the rest. */
    if (atomic_load_explicit(&t->parked, memory_order_seq_cst)) {
        atomic_store_explicit(&t->parked, 0, memory_order_seq_cst);
        atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_seq_cst);
        atomic_fetch_add_explicit(&rt->nsearching, 1, memory_order_seq_cst);
        atomic_store_explicit(&t->wake_word, 1, memory_order_seq_cst);
        woke = true;
    }
    pthread_mutex_unlock(&rt->idle_lock);
    if (!woke)
        return false;
    /* Dekker with wf__sched_poll_arm (its exchange of poll_sleep, then
     * its load of wake_word): a worker that may block in the backend is
     * interrupted there, any other woken on its futex. */
    if (wf__dekker_load_int(&t->poll_sleep))
        wf__hooks.io_interrupt();
    else
        wf__futex_wake(&t->wake_word, 1);
    return true;
}

/* Wake one parked worker: one asleep on its futex if there is one, the
 * worker blocked in the I/O poll only when none is (it would stop
 * polling, and its interruption costs a system call too). */
static void wake_one(struct wf__rt *rt)
{
    static atomic_uint rr;
    int n = rt->nworkers;
    /* relaxed: only spreads the choice. */
    unsigned start = atomic_fetch_add_explicit(&rr, 1, memory_order_relaxed);
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < n; k++) {
            struct wf__worker *t =
                &rt->workers[(start + (unsigned)k) % (unsigned)n];
            /* seq_cst, no order needed: filters; wake_parked decides
             * under idle_lock (and then wakes a poller either way). */
            if (pass == 0 &&
                atomic_load_explicit(&t->poll_sleep, memory_order_seq_cst))
                continue;
            if (atomic_load_explicit(&t->parked, memory_order_seq_cst) &&
                wake_parked(rt, t))
                return;
        }
    }
}

/* Work was made runnable: make sure someone will look at it. */
static void notify_idle(struct wf__rt *rt)
{
    /* The queue store before the load of nsearching: Dekker with a
     * worker's nsearching decrement and re-check (top comment). relaxed
     * nparked: incremented before that decrement. */
    if (wf__dekker_load_int(&rt->nsearching) == 0 &&
        atomic_load_explicit(&rt->nparked, memory_order_relaxed) > 0)
        wake_one(rt);
}

void wf__sched_notify(struct wf__rt *rt)
{
    notify_idle(rt);
}

bool wf__sched_poll_arm(struct wf__worker *w)
{
    /* seq_cst RMW (an RMW so that TSan orders it): the writing half of
     * the Dekker with wake_parked's store of wake_word and load of
     * poll_sleep; the reading half is the load of wake_word. */
    atomic_exchange_explicit(&w->poll_sleep, 1, memory_order_seq_cst);
    /* seq_cst: pairs with wake_parked's (and stop's) store of 1. */
    return atomic_load_explicit(&w->wake_word, memory_order_seq_cst) == 0;
}

void wf__sched_poll_woke(struct wf__worker *w)
{
    struct wf__rt *rt = w->rt;
    /* seq_cst, no order needed: a waker that still sees 1 interrupts a
     * poll that has ended, which only makes the next one return early. */
    atomic_store_explicit(&w->poll_sleep, 0, memory_order_seq_cst);
    /* Un-mark now, before the events are dispatched: ready()'s
     * notify_idle would otherwise find this worker parked and "wake" it.
     * seq_cst as in park_worker's own un-marking. */
    pthread_mutex_lock(&rt->idle_lock);
    if (atomic_load_explicit(&w->parked, memory_order_seq_cst)) {
        atomic_store_explicit(&w->parked, 0, memory_order_seq_cst);
        atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_seq_cst);
        w->poll_unparked = true;
    }
    pthread_mutex_unlock(&rt->idle_lock);
}

void wf__sched_poll_missed(void)
{
    struct wf__rt *rt = &wf__rt;
    /* relaxed: a filter; wake_one decides under idle_lock. The missing
     * worker marked itself parked before it looked at the token. */
    if (atomic_load_explicit(&rt->nparked, memory_order_seq_cst) > 0)
        wake_one(rt);
}

static void inbox_push(struct wf__worker *t, struct wf__fcb *f)
{
    f->next = NULL;
    wf__spin_lock(&t->inbox_lock);
    if (t->inbox_tail)
        t->inbox_tail->next = f;
    else
        t->inbox_head = f;
    t->inbox_tail = f;
    /* seq_cst: writing half of the Dekker with park_worker (its exchange
     * of parked, then work_visible's read of inbox_n); the read half
     * follows below. */
    atomic_fetch_add_explicit(&t->inbox_n, 1, memory_order_seq_cst);
    wf__spin_unlock(&t->inbox_lock);
    /* Dekker with park_worker (its exchange of parked, re-check of
     * inbox_n). */
    if (t != wf__worker_self() && wf__dekker_load_int(&t->parked))
        wake_parked(t->rt, t);
}

static struct wf__worker *migrate_target(struct wf__rt *rt,
                                         struct wf__worker *w)
{
    /* relaxed: round-robin spreading only. */
    unsigned k = atomic_fetch_add_explicit(&rt->migrate_rr, 1,
                                           memory_order_relaxed);
    unsigned n = (unsigned)rt->nworkers;
    unsigned t = (unsigned)w->index + 1 + k % (n - 1);
    return &rt->workers[t % n];
}

/* wf__ready; `spawned` (next only): f is new. A fiber pushed out of
 * run-next goes to lq, newest first, if it was put there by a spawn
 * (runnext_spawned: it has not run yet, and its siblings wait in lq, so a
 * tree of fibers stays depth-first also when the leaves' sends wake
 * their parents), else to the tail of the deque (a woken fiber must not
 * be left behind newer ones). */
static void ready(struct wf__fcb *f, bool next, bool spawned)
{
    struct wf__rt *rt = &wf__rt;
    struct wf__worker *w = wf__worker_self();
    /* relaxed: home is written by the fiber itself before it can park. */
    int home = atomic_load_explicit(&f->home, memory_order_relaxed);

    if (home >= 0) {
        /* Pinned: never in a stealable queue, not even at home. */
        inbox_push(&rt->workers[home], f);
        return;
    } else if (!w) {
        inject_push_list(rt, f, f, 1);
        notify_idle(rt);
        return;
    } else if (rt->debug_migrate && rt->nworkers > 1) {
        inbox_push(migrate_target(rt, w), f);
        return;
    }
    if (next) {
        /* Only the owner puts fibers in its slot (thieves and the owner
         * only take them out), so an empty slot is filled with a plain
         * store, no locked instruction. release: a thief's exchange
         * acquires the fiber's state through it. */
        struct wf__fcb *old =
            atomic_load_explicit(&w->runnext, memory_order_relaxed);
        bool old_spawned = w->runnext_spawned;
        w->runnext_spawned = spawned;
        if (!old)
            atomic_store_explicit(&w->runnext, f, memory_order_release);
        /* seq_cst (release would do: publishes f to a thief's exchange,
         * and acquires old against a thief's take). */
        else if ((old = atomic_exchange_explicit(&w->runnext, f,
                                                 memory_order_seq_cst)) &&
                 old_spawned)
            newest_push(w, old);
        else if (old)
            local_push(w, old);
    } else {
        local_push(w, f);
    }
    if (rt->nworkers > 1) /* alone, this worker is the one who will run it */
        notify_idle(rt);
}

void wf__ready(struct wf__fcb *f, bool next)
{
    ready(f, next, false);
}

void wf__ready_spawned(struct wf__fcb *f)
{
    ready(f, true, true);
}

/* Put a fiber that just left the CPU back in line (yield, or woken while
 * it was parking). */
static void requeue(struct wf__worker *w, struct wf__fcb *f)
{
    struct wf__rt *rt = w->rt;
    int home = atomic_load_explicit(&f->home, memory_order_relaxed);
    if (home >= 0)
        inbox_push(&rt->workers[home], f);
    else if (home < 0 && rt->debug_migrate && rt->nworkers > 1)
        inbox_push(migrate_target(rt, w), f);
    else
        local_push(w, f);
}

/* ---- picking the next fiber ------------------------------------------------ */

/* Fire the expired timers of owner's heap from worker w: parked fibers
 * are kicked, user timers go to w's due list, whose callbacks w runs on
 * its scheduler loop (wf__utimers_drain), never on a fiber's stack. */
static void run_timers(struct wf__worker *w, struct wf__worker *owner)
{
    (void)w; /* the fire hooks find their worker themselves */
    int64_t e = wf__timers_earliest(&owner->timers);
    if (e == INT64_MAX)
        return;
    int64_t now = wf_now();
    if (e <= now)
        wf__stat_add(&w->stats.timers,
                     (uint64_t)wf__timers_run(&owner->timers, now, 256));
}

/* On the scheduler loop only: run the user timer callbacks w has fired. */
static inline void drain_due(struct wf__worker *w)
{
    if (w->due)
        wf__utimers_drain(w);
}

void wf__worker_io_kick(struct wf__worker *t)
{
    /* seq_cst RMW, then the Dekker load of `parked`: pairs with
     * park_worker's exchange of parked and work_visible's load of
     * io_kick, so either t sees the kick or we see it parked. */
    atomic_exchange_explicit(&t->io_kick, 1, memory_order_seq_cst);
    if (wf__dekker_load_int(&t->parked))
        wake_parked(t->rt, t);
}

void wf__worker_timers_changed(struct wf__worker *t)
{
    /* The heap's new `earliest` before the load of `parked`: Dekker with
     * park_worker, which marks itself parked and then reads its heap's
     * earliest deadline. */
    if (wf__dekker_load_int(&t->parked))
        wake_parked(t->rt, t);
}

/* The oldest of the newest, when it has waited too long: LIFO alone
 * could leave it behind for as long as new fibers keep coming. Every
 * OLDEST_EVERY decisions the worker looks at lq's oldest end (its top
 * index, which moves when a thief or this rule takes the oldest); after
 * OLDEST_PATIENCE looks that found the same oldest (about 16,000
 * decisions), it runs it. Not at every look: each such pick starts
 * another subtree of a tree of fibers alongside the ones under way, and
 * those make up the live set (docs/PERFORMANCE.md has skynet's figures
 * for both rules). Owner only. */
static struct wf__fcb *oldest_if_stuck(struct wf__worker *w)
{
    /* relaxed: the owner's own view; a stale top only delays or hastens
     * one pick, and deque_take below is the real claim. */
    long top = atomic_load_explicit(&w->lq.top, memory_order_relaxed);
    if (wf__deque_size(&w->lq) == 0 || top != w->lq_seen_top) {
        w->lq_seen_top = top;
        w->lq_seen_n = 0;
        return NULL;
    }
    if (++w->lq_seen_n < OLDEST_PATIENCE)
        return NULL;
    w->lq_seen_n = 0;
    return wf__deque_take(&w->lq);
}

static struct wf__fcb *pick_local(struct wf__worker *w)
{
    struct wf__rt *rt = w->rt;
    struct wf__fcb *f;
    unsigned tick = ++w->tick;

    if ((tick & 63) == 0 &&
        atomic_load_explicit(&rt->inject_n, memory_order_relaxed) > 0 &&
        (f = take_inject(w)))
        return f;
    if ((tick & (OLDEST_EVERY - 1)) == OLDEST_EVERY / 2 &&
        (f = oldest_if_stuck(w)))
        return f;
    if (atomic_load_explicit(&w->inbox_n, memory_order_relaxed) > 0 &&
        (f = take_inbox(w)))
        return f;
    bool queue_first = ++w->streak > RUNNEXT_STREAK;
    if (!queue_first) {
        /* seq_cst exchange (acquire would do: pairs with the release
         * store in ready, the fiber's state comes with it; it races with
         * thieves' exchanges in steal_round, one of them gets f). */
        if (atomic_load_explicit(&w->runnext, memory_order_relaxed) &&
            (f = atomic_exchange_explicit(&w->runnext, NULL,
                                          memory_order_seq_cst)))
            return f;
        if ((f = wf__deque_pop(&w->lq)))
            return f;
    }
    w->streak = 0;
    if ((f = wf__deque_take(&w->dq)))
        return f;
    if (queue_first && ((f = atomic_exchange_explicit(
                             &w->runnext, NULL, memory_order_seq_cst)) ||
                        (f = wf__deque_pop(&w->lq))))
        return f; /* the exchange: as above */
    if (atomic_load_explicit(&rt->inject_n, memory_order_relaxed) > 0)
        return take_inject(w);
    return NULL;
}

/* The successor of a fiber that leaves the CPU: NULL (the scheduler loop)
 * while root tasks wait in the task inject queue, so that they start, and
 * while user timer callbacks are due, so that they run on the loop's
 * stack. Every 16th decision it fires this worker's expired timers.
 * Inlined, as leave and park: the switch path of a blocked operation is
 * short enough that each call level shows in a channel round trip. */
static inline __attribute__((always_inline)) struct wf__fcb *
pick_next(struct wf__worker *w)
{
    count_switch(w); /* a scheduling decision: weft's own work, not a hog */
    /* relaxed: a hint; a root missed here is found by an idle worker
     * (the submitter calls notify_idle) or at the next switch. */
    if (atomic_load_explicit(&w->rt->tinject_n, memory_order_relaxed) > 0)
        return NULL;
    if ((++w->ttick & 15) == 0)
        run_timers(w, w);
    /* relaxed: io_kick is a hint here; work_visible reads it seq_cst
     * before the worker sleeps. */
    if (w->io_active || atomic_load_explicit(&w->io_kick, memory_order_relaxed))
        wf__hooks.io_round(w, false); /* async/rings.c */
    if (w->due)
        return NULL;
    return pick_local(w);
}

/* ---- after a switch ------------------------------------------------------- */

/* A waker saw PARKING and left the queueing to us: new work, so idle
 * workers may have to hear of it. Rare; kept out of the switch path. */
__attribute__((noinline, cold)) static void park_raced(struct wf__worker *w,
                                                       struct wf__fcb *f)
{
    /* seq_cst: as every store of wstate. Only this worker acts on f now
     * (the waker that set WOKEN left the queueing to us). */
    atomic_store_explicit(&f->wstate, WF__RUNNING, memory_order_seq_cst);
    requeue(w, f);
    if (w->rt->nworkers > 1)
        notify_idle(w->rt);
}

static void run_after(struct wf__worker *w)
{
    enum wf__after what = w->after;
    struct wf__fcb *f = w->after_fiber;

    w->after = WF__AFTER_NONE;
    switch (what) {
    case WF__AFTER_NONE:
        break;
    case WF__AFTER_REQUEUE:
        requeue(w, f);
        break;
    case WF__AFTER_PARK: {
        int s = WF__PARKING;
        /* seq_cst: races with resume()'s CAS(PARKING -> WOKEN); the one
         * that wins decides who queues f. */
        if (!atomic_compare_exchange_strong_explicit(
                &f->wstate, &s, WF__PARKED, memory_order_seq_cst,
                memory_order_seq_cst))
            park_raced(w, f);
        break;
    }
    case WF__AFTER_EXIT:
        wf__fiber_finish(w, f);
        break;
    }
}

/* Leave fiber `self` for `next` (NULL: the scheduler loop), recording what
 * the next context must do for it. Returns when self is resumed. */
static inline __attribute__((always_inline)) void leave(struct wf__worker *w,
                                                        struct wf__fcb *self,
                                                        enum wf__after what,
                                                        struct wf__fcb *next)
{
    struct wf__exec *to = &w->sched;

    wf__stack_check(self);
    if (atomic_load_explicit(&w->rt->stopping, memory_order_relaxed)) {
        if (next) /* shutting down: nothing new starts */
            local_push(w, next);
        next = NULL;
    }
    w->after = what;
    w->after_fiber = self;
    if (next)
        to = &next->ex;
    /* relaxed: the monitor only compares these (see monitor.c). */
    atomic_store_explicit(&w->current, next, memory_order_relaxed);
    atomic_store_explicit(&w->current_id, next ? next->id : 0,
                          memory_order_relaxed);
    wf__trace_leave(self, what, next);
    jump(w, &self->ex, to, what == WF__AFTER_EXIT);
    /* Resumed, maybe on another thread: fetch the worker anew. */
    run_after(wf__worker_self());
}

void wf__coop_yield(struct wf__fcb *self)
{
    wf__fiber_yield(self); /* refills the budget */
}

void wf__fiber_yield(struct wf__fcb *self)
{
    struct wf__worker *w = wf__worker_self();
    self->budget = WF__COOP_BUDGET;
    struct wf__fcb *next = pick_next(w);
    if (!next && !(w->rt->debug_migrate && w->rt->nworkers > 1) &&
        !w->due &&
        atomic_load_explicit(&w->rt->tinject_n, memory_order_relaxed) == 0) {
        /* Nobody else to run here. Still a scheduling point: the stall
         * monitor must not take a fiber that yields for a hog. */
        count_switch(w);
        return;
    }
    leave(w, self, WF__AFTER_REQUEUE, next);
}


/* Get a parked or parking fiber going again; exactly one caller of this
 * queues it per park (see the top comment). */
static void resume(struct wf__fcb *f, bool next)
{
    /* seq_cst load: the reading half of the Dekker whose writing half is
     * park()'s store of PARKING; the waker stored its word, `notified` or
     * `cancelled` (seq_cst) before it. The CASes race with run_after's
     * CAS(PARKING -> PARKED) and with other wakers: one party queues f. */
    int s = atomic_load_explicit(&f->wstate, memory_order_seq_cst);
    wf__trace_wake_if(f->id, s == WF__PARKED || s == WF__PARKING);
    for (;;) {
        if (s == WF__PARKED) {
            if (atomic_compare_exchange_weak_explicit(
                    &f->wstate, &s, WF__RUNNING, memory_order_seq_cst,
                    memory_order_seq_cst)) {
                wf__ready(f, next);
                return;
            }
        } else if (s == WF__PARKING) {
            if (atomic_compare_exchange_weak_explicit(
                    &f->wstate, &s, WF__WOKEN, memory_order_seq_cst,
                    memory_order_seq_cst))
                return;
        } else {
            return;
        }
    }
}

void wf__fiber_wake(struct wf__fcb *f)
{
    /* seq_cst: the writing half of the Dekker with park()'s store of
     * PARKING and its take_permit (top comment); resume() reads wstate. */
    if (atomic_exchange_explicit(&f->notified, 1, memory_order_seq_cst))
        return;
    resume(f, true);
}

void wf__fiber_run_claimed(struct wf__fcb *f, bool next)
{
    /* release: publishes what the claimer stored since its claim (the
     * fiber's wait outcome) to the fiber, which loads wstate with acquire
     * as soon as it is back on its stack (park). The hand-over does not
     * depend on how the queue below publishes f. */
    atomic_store_explicit(&f->wstate, WF__RUNNING, memory_order_release);
    wf__trace_wake_if(f->id, true);
    ready(f, next, false);
}

void wf__fiber_kick(struct wf__fcb *f)
{
    /* seq_cst load in resume(): Dekker with the parker, which stores
     * PARKING and then reads the condition the kicker set (its deadline,
     * or `cancelled`, stored before this call with seq_cst). */
    resume(f, true);
}

void wf__fiber_kick_tail(struct wf__fcb *f)
{
    resume(f, false); /* as wf__fiber_kick */
}

/* A deadline passed: get the fiber going without giving it the permit,
 * so that a permit from wf_unpark is neither faked nor lost. */
static void timer_fire(struct wf__timer *t)
{
    struct wf__fcb *f =
        (struct wf__fcb *)((char *)t - offsetof(struct wf__fcb, timer));
    wf__fiber_kick(f);
}

/* Take the permit if there is one. The load first keeps the common case
 * (no permit) free of a locked instruction; only the exchange consumes.
 * seq_cst load: the reading half of the Dekker with wf__fiber_wake's
 * exchange of notified (after park's store of PARKING, the writing half
 * on this side). seq_cst exchange: consumes against other wakers. */
static inline bool take_permit(struct wf__fcb *self)
{
    return atomic_load_explicit(&self->notified, memory_order_seq_cst) &&
           atomic_exchange_explicit(&self->notified, 0, memory_order_seq_cst);
}

/* Whether the reason to wake has come: the permit (taken), or, for a park
 * on a word, *word no longer holding `expect` (seq_cst: the Dekker read
 * after the store of PARKING, against the waker's seq_cst store). */
static inline bool wake_seen(struct wf__fcb *self, atomic_int *word,
                             int expect)
{
    return word ? atomic_load_explicit(word, memory_order_seq_cst) != expect
                : take_permit(self);
}

/* Inlined into each of its three callers: one call less on the path of
 * every blocked operation. */
static inline __attribute__((always_inline)) int
park(struct wf__fcb *self, int64_t deadline, bool cancellable, atomic_int *word,
     int expect, enum wf__why why)
{
    if (wake_seen(self, word, expect))
        return 0;
    if (cancellable &&
        atomic_load_explicit(&self->cancelled, memory_order_relaxed))
        return -ECANCELED;
    if (deadline != WF_FOREVER && wf_now() >= deadline)
        return -ETIMEDOUT;

    /* seq_cst: the writing half of the Dekker; its pair is the waker's
     * store of the word / exchange of notified / store of cancelled,
     * then resume()'s seq_cst load of wstate. */
    atomic_store_explicit(&self->wstate, WF__PARKING, memory_order_seq_cst);
    /* After PARKING (seq_cst), look again at what a waker or canceller
     * may have set before it could see PARKING: the reading half (the
     * word or permit in wake_seen, `cancelled` below, both seq_cst). The
     * stores of RUNNING are seq_cst as every store of wstate; they
     * publish nothing (a waker that finds RUNNING leaves the fiber
     * alone). */
    if (wake_seen(self, word, expect)) {
        atomic_store_explicit(&self->wstate, WF__RUNNING,
                              memory_order_seq_cst);
        return 0;
    }
    if (cancellable &&
        atomic_load_explicit(&self->cancelled, memory_order_seq_cst)) {
        atomic_store_explicit(&self->wstate, WF__RUNNING,
                              memory_order_seq_cst);
        return -ECANCELED;
    }
    struct wf__worker *w = wf__worker_self();
    bool armed = false;
    if (deadline != WF_FOREVER) {
        self->timer.fire = timer_fire;
        if (wf__timer_add(&w->timers, &self->timer, deadline) != 0) {
            atomic_store_explicit(&self->wstate, WF__RUNNING,
                                  memory_order_seq_cst); /* as above */
            return -ENOMEM;
        }
        armed = true;
    }
    /* relaxed: a report for the fiber list and the tracer. */
    atomic_store_explicit(&self->why, (unsigned char)why, memory_order_relaxed);
    wf__inspect_parked(w, self); /* wf_stats, wf_fibers_list */
    leave(w, self, WF__AFTER_PARK, pick_next(w));
    wf__inspect_running(self);
    atomic_store_explicit(&self->why, WF__WHY_NONE, memory_order_relaxed);
    /* acquire: pairs with the release store of wf__fiber_run_claimed (or
     * the RMW of a kick), so a claimer's writes are visible below. */
    (void)atomic_load_explicit(&self->wstate, memory_order_acquire);
    self->budget = WF__COOP_BUDGET; /* it gave up its worker */

    if (armed)
        wf__timer_cancel(&self->timer);
    /* A permit wins over a deadline or a cancellation that came with it:
     * it is consumed, so it must be reported (the caller re-checks and
     * sees the rest at its next call). Likewise a changed word. */
    if (wake_seen(self, word, expect))
        return 0;
    if (cancellable &&
        atomic_load_explicit(&self->cancelled, memory_order_relaxed))
        return -ECANCELED;
    if (deadline != WF_FOREVER && wf_now() >= deadline)
        return -ETIMEDOUT;
    return 0;
}

int wf__fiber_park(struct wf__fcb *self, int64_t deadline)
{
    return park(self, deadline, true, NULL, 0, WF__WHY_PARK);
}

int wf__fiber_park_word(struct wf__fcb *self, atomic_int *word, int expect,
                        int64_t deadline, enum wf__why why)
{
    return park(self, deadline, true, word, expect, why);
}

int wf__fiber_park_word_nocancel(struct wf__fcb *self, atomic_int *word,
                                 int expect, int64_t deadline, enum wf__why why)
{
    return park(self, deadline, false, word, expect, why);
}

_Noreturn void wf__fiber_exit(struct wf__fcb *self)
{
    struct wf__worker *w = wf__worker_self();
    leave(w, self, WF__AFTER_EXIT, pick_next(w));
    WF_PANIC("a returned fiber was resumed");
}

static void fiber_entry(void *p)
{
    struct wf__fcb *f = p;
#if defined(WEFT_ASAN)
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    struct wf__worker *w = wf__worker_self();
    run_after(w);
    wf__inspect_running(f); /* wf_fibers_list: it has started, here */
    /* relaxed: a report (core_int.h). */
    atomic_store_explicit(&f->last_worker, w->index, memory_order_relaxed);
    void *result = f->fn(f->arg);
    wf__fiber_exit_with(f, result);
}

void wf__fiber_prepare(struct wf__fcb *f)
{
    size_t size = (size_t)((char *)f - f->st.lo);
    wf__ctx_make(&f->ex.ctx, f->st.lo, size, fiber_entry, f);
#ifdef WF__SAN
    f->ex.san.asan_fake = NULL;
    f->ex.san.bottom = f->st.lo;
    f->ex.san.size = size;
#if defined(WEFT_TSAN)
    f->ex.san.tsan = __tsan_create_fiber(0);
#else
    f->ex.san.tsan = NULL;
#endif
#endif
}

void wf__fiber_release_san(struct wf__fcb *f)
{
#if defined(WEFT_TSAN)
    if (f->ex.san.tsan)
        __tsan_destroy_fiber(f->ex.san.tsan);
    f->ex.san.tsan = NULL;
#else
    (void)f;
#endif
}

/* ---- the scheduler loop ---------------------------------------------------- */

/* The reading half of the idle-worker Dekker (after park_worker's
 * nsearching decrement and fence, or find_work's): pairs with the
 * producers' queue stores and notify_idle's fence. The counters, stopping
 * and runnext are read seq_cst; the deque sizes (wf__deque_size) and the
 * timer heap relaxed, ordered by the caller's fence. */
static bool work_visible(struct wf__worker *w)
{
    struct wf__rt *rt = w->rt;
    if (atomic_load_explicit(&rt->inject_n, memory_order_seq_cst) > 0 ||
        atomic_load_explicit(&w->inbox_n, memory_order_seq_cst) > 0 ||
        atomic_load_explicit(&w->io_kick, memory_order_seq_cst) ||
        atomic_load_explicit(&rt->stopping, memory_order_seq_cst))
        return true;
    if (wf__timers_earliest(&w->timers) <= wf_now())
        return true;
    for (int i = 0; i < rt->nworkers; i++) {
        struct wf__worker *v = &rt->workers[i];
        if (wf__deque_size(&v->dq) > 0 || wf__deque_size(&v->lq) > 0 ||
            atomic_load_explicit(&v->runnext, memory_order_seq_cst))
            return true;
    }
    return wf__tasks_visible(rt);
}

/* One pass over the other workers: steal a fiber, or fire their expired
 * timers (which readies the woken fibers here). */
static struct wf__fcb *steal_round(struct wf__worker *w, bool take_runnext)
{
    struct wf__rt *rt = w->rt;
    int n = rt->nworkers;
    int start = (int)(wf__xorshift(&w->rng) % (uint64_t)n);

    for (int k = 0; k < n; k++) {
        struct wf__worker *v = &rt->workers[(start + k) % n];
        if (v == w)
            continue;
        struct wf__fcb *f = NULL;
        /* The oldest of its newest first: in a tree of fibers, the root
         * of the largest subtree it has not started. */
        struct wf__deque *qs[2] = { &v->lq, &v->dq };
        for (int q = 0; q < 2; q++) {
            for (int tries = 0; tries < 4; tries++) {
                f = wf__deque_steal(qs[q]);
                if (f != WF__DEQUE_ABORT)
                    break;
            }
            if (f && f != WF__DEQUE_ABORT) {
                wf__trace_steal(v->index, false);
                return f;
            }
        }
        /* seq_cst exchange (acquire would do: pairs with the owner's
         * release store in ready; races with the owner's exchange). */
        if (take_runnext &&
            atomic_load_explicit(&v->runnext, memory_order_relaxed) &&
            (f = atomic_exchange_explicit(&v->runnext, NULL,
                                          memory_order_seq_cst)))
            return f;
        /* relaxed: hints; a fiber in the inbox of a worker that runs
         * is left to it (debug migration sent it there on purpose). */
        if (take_runnext &&
            atomic_load_explicit(&v->stalled, memory_order_relaxed) &&
            atomic_load_explicit(&v->inbox_n, memory_order_relaxed) > 0 &&
            (f = steal_inbox(v)))
            return f;
        run_timers(w, v);
    }
    return NULL;
}

/* Returns true when another worker woke us (and counted us as searching). */
static bool park_worker(struct wf__worker *w)
{
    struct wf__rt *rt = w->rt;

    pthread_mutex_lock(&rt->idle_lock);
    /* seq_cst, though the lock orders it against wake_parked's store
     * of 1 (made under idle_lock too). */
    atomic_store_explicit(&w->wake_word, 0, memory_order_seq_cst);
    /* seq_cst RMW: the writing half of the Dekker pairs with inbox_push
     * and wf__worker_timers_changed (an RMW, so TSan orders it). */
    atomic_exchange_explicit(&w->parked, 1, memory_order_seq_cst);
    /* seq_cst: before the nsearching decrement, so notify_idle's relaxed
     * nparked load, made after it sees nsearching == 0, sees it. */
    atomic_fetch_add_explicit(&rt->nparked, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&rt->idle_lock);
    /* seq_cst RMW: the writing half of the Dekker whose reading half is
     * notify_idle's fence and load of nsearching (top comment). */
    atomic_fetch_sub_explicit(&rt->nsearching, 1, memory_order_seq_cst);
    /* Full fence: the re-check below reads the deque sizes and the timer
     * heap with relaxed loads (the counters, stopping and runnext with
     * seq_cst ones), and C11 does not order relaxed loads after the RMW
     * above (x86 does; AArch64's ldaxr/stlxr need not). Pairs with the
     * fence in the producers' Dekker loads (wf__dekker_load_int). */
    wf__fence();

    w->poll_unparked = false;
    if (!work_visible(w)) {
        int64_t deadline = wf__timers_earliest(&w->timers);
        wf__inspect_idle(w); /* wf_stats: its live count before it sleeps */
        wf__trace_idle(true);
        /* Block in the I/O poll when this worker can own it (the worker
         * poller, top comment), else on the futex. */
        if (!wf__hooks.io_poll || wf__hooks.io_poll(w, deadline) < 0) {
            /* seq_cst: pairs with wake_parked's (and stop's) store of 1;
             * the futex re-checks the word in the kernel. */
            while (atomic_load_explicit(&w->wake_word, memory_order_seq_cst) ==
                   0) {
                if (wf__futex_wait(&w->wake_word, 0, deadline) == -ETIMEDOUT)
                    break;
            }
        }
        wf__trace_idle(false);
        wf__inspect_tick(wf_now()); /* the monitor may have slept too */
    }
    /* Not woken when the poll un-marked us (wf__sched_poll_woke). */
    bool woken = !w->poll_unparked;
    pthread_mutex_lock(&rt->idle_lock);
    /* seq_cst, though idle_lock orders these against wake_parked: not
     * woken (timed out, or work seen), so un-mark ourselves. */
    if (atomic_load_explicit(&w->parked, memory_order_seq_cst)) {
        atomic_store_explicit(&w->parked, 0, memory_order_seq_cst);
        atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_seq_cst);
        woken = false;
    }
    pthread_mutex_unlock(&rt->idle_lock);
    wf__monitor_kick(rt);
    return woken;
}

/* Returns the next fiber to run, NULL when stopping. Runs the tasks it
 * finds itself, on this (the scheduler loop's) stack. */
static struct wf__fcb *find_work(struct wf__worker *w)
{
    struct wf__rt *rt = w->rt;
    bool searching = false;

    for (;;) {
        if (atomic_load_explicit(&rt->stopping, memory_order_relaxed)) {
            if (searching) /* seq_cst, no order needed: stopping */
                atomic_fetch_sub_explicit(&rt->nsearching, 1,
                                          memory_order_seq_cst);
            return NULL;
        }
        count_switch(w); /* progress, for the monitor (tasks included) */
        /* Submit what this worker's fibers queued on its ring, and reap
         * it, before looking elsewhere or sleeping (relaxed: see
         * pick_next). */
        if (w->io_active ||
            atomic_load_explicit(&w->io_kick, memory_order_relaxed))
            wf__hooks.io_round(w, true);
        run_timers(w, w);
        drain_due(w);
        /* Tasks first: a root is a parallel call someone waits for. */
        struct wf__task *t = wf__task_find(w, false);
        struct wf__fcb *f = t ? NULL : pick_local(w);
        /* Run dry: poll for I/O without blocking (the worker poller);
         * the fibers it wakes are in this worker's queues. */
        if (!f && !t && wf__hooks.io_poll && wf__hooks.io_poll(w, 0) > 0)
            f = pick_local(w);
        if (!f && !t) {
            if (!searching) {
                /* seq_cst: seen by notify_idle's Dekker load, which then
                 * leaves the wake-up to this searcher. */
                atomic_fetch_add_explicit(&rt->nsearching, 1,
                                          memory_order_seq_cst);
                searching = true;
            }
            int64_t start = wf_now();
            for (unsigned round = 0;; round++) {
                if ((t = wf__task_find(w, true)))
                    break;
                f = steal_round(w, round > 2);
                if (f)
                    wf__stat_inc(&w->stats.steals); /* wf_stats */
                if (f || (f = pick_local(w)))
                    break;
                if (atomic_load_explicit(&rt->stopping, memory_order_relaxed))
                    break;
                /* relaxed: a hint (common/futex.h). Oversubscribed: one
                 * full steal round (round 3), then park; spinning would
                 * take the CPU from a thread that has work. */
                if (round >= 3 && atomic_load_explicit(&wf__oversubscribed,
                                                       memory_order_relaxed)) {
                    /* relaxed: a statistic for tests. */
                    atomic_fetch_add_explicit(&idle_spins_cut, 1,
                                              memory_order_relaxed);
                    break;
                }
                if ((round & 7) == 7 && wf_now() - start > SPIN_NS)
                    break;
                /* The worker poller: a searching worker also looks for
                 * I/O at each round (a non-blocking poll), so it hears
                 * of an event at once instead of when it parks. Not
                 * spinning at all (blocking in the poll at once) cost
                 * the wake-up of an idle CPU per event on a quiet
                 * machine: one connection's echo round trip 52 us
                 * against 26 us with the spin. */
                if (wf__hooks.io_poll && wf__hooks.io_poll(w, 0) > 0 &&
                    (f = pick_local(w)))
                    break;
                /* A pause costs ~25 ns on some machines (AMD, virtual):
                 * 32 of them between looks left a fiber pinned here
                 * waiting ~0.8 us in the inbox. Look at the inbox at
                 * each pause (relaxed: a hint; pick_local takes it under
                 * its lock). */
                for (int k = 0; k < 32; k++) {
                    wf__cpu_relax();
                    if (atomic_load_explicit(&w->inbox_n,
                                             memory_order_relaxed) > 0)
                        break;
                }
            }
            drain_due(w); /* steal rounds fire other workers' timers */
        }
        if (f || t) {
            if (searching) {
                searching = false;
                /* The last searcher to find work hands the search on, if
                 * there is more to find anywhere: a producer that saw it
                 * searching skipped its own wake-up. seq_cst RMW, then
                 * work_visible's seq_cst loads: the same Dekker as in
                 * park_worker, with notify_idle's fence and load. */
                if (atomic_fetch_sub_explicit(&rt->nsearching, 1,
                                              memory_order_seq_cst) == 1 &&
                    work_visible(w))
                    notify_idle(rt);
            }
            if (f)
                return f;
            wf__stat_inc(&w->stats.tasks); /* wf_stats */
            wf__trace_task(true);
            wf__hooks.run_task(w, t); /* par */
            wf__trace_task(false);
            continue;
        }
        if (atomic_load_explicit(&rt->stopping, memory_order_relaxed))
            continue;
        searching = park_worker(w);
    }
}

/* The worker's signal stack, mapped by wf__workers_start (where a failure
 * fails wf_init: without it a stack overflow could not be reported). */
static void setup_altstack(struct wf__worker *w)
{
    stack_t ss = { .ss_sp = w->altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
}

/* The scheduler loop, on the worker's task stack (wf__stack_call). */
static void worker_loop(void *p)
{
    struct wf__worker *w = p;
#if defined(WEFT_TSAN)
    w->sched.san.tsan = __tsan_get_current_fiber();
#endif
#if defined(WEFT_ASAN)
    w->sched.san.bottom = w->tstack->lo;
    w->sched.san.size = wf__stack_usable(w->tstack);
#endif
    for (;;) {
        struct wf__fcb *f = find_work(w);
        if (!f)
            break;
        /* relaxed: the monitor only compares these (see monitor.c). */
        atomic_store_explicit(&w->current, f, memory_order_relaxed);
        atomic_store_explicit(&w->current_id, f->id, memory_order_relaxed);
        wf__trace_switch(0, 0, 0, f->id);
        jump(w, &w->sched, &f->ex, false);
        run_after(w);
    }
}

static void *worker_main(void *p)
{
    struct wf__worker *w = p;

    tls_worker = w;
    wf__trace_thread_worker(w->index);
    atomic_store_explicit(&w->tid, (int)gettid(), memory_order_relaxed);
    setup_altstack(w);
    wf__stack_call(w->tstack, worker_loop, w);
    if (atomic_load_explicit(&w->io_ring, memory_order_relaxed))
        wf__hooks.io_exit(w); /* async/rings.c: nothing left in flight */
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(w->altstack, ALTSTACK_SIZE);
    w->altstack = NULL;
    tls_worker = NULL;
    return NULL;
}

/* The workers' task stacks, and the signal stacks that no worker thread
 * has unmapped (it does so as it returns). */
static void unmap_worker_stacks(struct wf__rt *rt)
{
    for (int i = 0; i < rt->nworkers; i++) {
        struct wf__worker *w = &rt->workers[i];
        if (w->tstack)
            wf__stack_unmap_one(w->tstack);
        w->tstack = NULL;
        if (w->altstack)
            munmap(w->altstack, ALTSTACK_SIZE);
        w->altstack = NULL;
    }
}

int wf__workers_start(struct wf__rt *rt)
{
    int n = rt->nworkers;
    for (int i = 0; i < n; i++) {
        struct wf__worker *w = &rt->workers[i];
        w->index = i;
        w->rt = rt;
        w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        atomic_init(&w->current, NULL);
        atomic_init(&w->current_id, 0);
        atomic_init(&w->runnext, NULL);
        atomic_init(&w->inbox_n, 0);
        atomic_init(&w->parked, 0);
        atomic_init(&w->wake_word, 0);
        atomic_init(&w->poll_sleep, 0);
        atomic_init(&w->io_kick, 0);
        atomic_init(&w->io_ring, NULL);
        w->io_active = false;
        w->poll_unparked = false;
        atomic_init(&w->nswitch, 0);
        atomic_init(&w->stalled, false);
        atomic_init(&w->inbox_lock.held, false);
        wf__timers_init(&w->timers);
        w->due = NULL;
        atomic_init(&w->utimer_running, NULL);
        w->utimer_rearm = false;
        if (wf__deque_init(&w->dq, WF__DEQUE_CAP) != 0 ||
            wf__deque_init(&w->lq, WF__DEQUE_CAP) != 0)
            return -ENOMEM;
        w->trng = 0xD1B54A32D192ED03ull * (uint64_t)(i + 1);
        if (wf__tq_init(&w->tq) != 0)
            return -ENOMEM;
    }
    atomic_init(&rt->tinject_lock.held, false);
    rt->tinject_head = rt->tinject_tail = NULL;
    atomic_init(&rt->tinject_n, 0);
    /* Tasks run on these (nested steals included, see src/par/task.c);
     * pages are committed as touched, so only what the deepest task
     * recursion reached costs memory. */
    for (int i = 0; i < n; i++) {
        struct wf__worker *w = &rt->workers[i];
        w->tstack = wf__stack_map_one(rt->task_stack_size);
        w->altstack = wf__mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (w->altstack == MAP_FAILED)
            w->altstack = NULL;
        if (!w->tstack || !w->altstack) {
            unmap_worker_stacks(rt);
            return -ENOMEM;
        }
    }
    for (int i = 0; i < n; i++) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, THREAD_STACK);
        int err = wf__pthread_create(&rt->workers[i].thread, &a, worker_main,
                                     &rt->workers[i]);
        pthread_attr_destroy(&a);
        if (err) {
            /* seq_cst, as in wf__workers_stop. */
            atomic_store_explicit(&rt->stopping, true, memory_order_seq_cst);
            for (int k = 0; k < i; k++) {
                atomic_store_explicit(&rt->workers[k].wake_word, 1,
                                      memory_order_seq_cst);
                wf__futex_wake(&rt->workers[k].wake_word, 1);
                pthread_join(rt->workers[k].thread, NULL);
            }
            unmap_worker_stacks(rt); /* the joined ones unmapped theirs */
            return -err;
        }
        char name[32];
        snprintf(name, sizeof name, "weft-w%d", i % 100000);
        name[15] = '\0'; /* the kernel's limit */
        pthread_setname_np(rt->workers[i].thread, name);
    }
    return 0;
}

void wf__workers_stop(struct wf__rt *rt)
{
    /* seq_cst: stopping before wake_word, which park_worker's loop loads
     * (seq_cst) before it looks at stopping again; a worker about to
     * sleep reads stopping in work_visible (the idle Dekker). */
    atomic_store_explicit(&rt->stopping, true, memory_order_seq_cst);
    for (int i = 0; i < rt->nworkers; i++) {
        struct wf__worker *w = &rt->workers[i];
        atomic_store_explicit(&w->wake_word, 1, memory_order_seq_cst);
        /* No worker is in the I/O poll any more (wf__async_shutdown closed
         * the poller before this), so the futex is where they sleep. */
        wf__futex_wake(&w->wake_word, 1);
    }
    for (int i = 0; i < rt->nworkers; i++)
        pthread_join(rt->workers[i].thread, NULL);
    for (int i = 0; i < rt->nworkers; i++)
        if (atomic_load_explicit(&rt->workers[i].io_ring, memory_order_relaxed))
            wf__hooks.io_free(&rt->workers[i]); /* async/rings.c */
    unmap_worker_stacks(rt);
    for (int i = 0; i < rt->nworkers; i++) {
        struct wf__worker *w = &rt->workers[i];
        wf__utimers_discard(w);
        w->stacks.head = NULL;
        w->stacks.n = 0;
        wf__timers_destroy(&w->timers);
        wf__deque_destroy(&w->dq);
        wf__deque_destroy(&w->lq);
        wf__tq_destroy(&w->tq);
    }
}
