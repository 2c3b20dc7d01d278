/* SPDX-License-Identifier: MIT */
/*
 * The reactor: the descriptor table, the waiting protocol (reactor.h) and
 * the reactor thread, over one backend (backend.h).
 *
 * Table. One entry per descriptor number, in chunks of 1024 allocated on
 * first use and kept for the life of the process (like the fiber handle
 * table), so the reactor thread and callers can hold an entry without
 * reference counts: an entry's memory never goes away, only its meaning
 * changes, and the generation `gen` says which descriptor it means now.
 * Chunk pointers are published with release and read with acquire.
 *
 * Protocol (no lost wake-up). Each direction of an entry has an edge
 * counter `seq` and a wait queue, both under the entry's spinlock. The
 * poller (a worker, or the reactor thread), for each event, takes the lock, bumps the counters of
 * the ready directions (if the event's key still names the current
 * generation) and wakes every waiter of those directions. A caller reads
 * `seq` before its attempt; when the attempt would block it takes the
 * lock and parks only if `seq` is unchanged. An edge that came after the
 * attempt changed `seq` (the caller re-tries at once) or finds the caller
 * queued (it is woken): either way it is not lost. With edge triggering
 * every waiter of a direction is woken on each edge (they re-try; the
 * losers park again), so a descriptor shared by several fibers never
 * strands one.
 *
 * Registration happens once per descriptor, on its first wait, with its
 * key fd | gen << 32 (reactor thread events for an older generation are
 * dropped). `epoch` says in which reactor run the entry was registered: a
 * reactor restarted with a new runtime starts a new epoch, and entries
 * register again. Backend calls happen under `R.lock`, the reactor's start
 * lock, so none runs while shutdown closes the backend (the reactor
 * thread's re-add in dispatch is the exception: shutdown joins the
 * thread first); the lock order is R.lock, then an entry's lock.
 *
 * Generations. The generation a wait registers is the one its caller
 * read before the attempt, and the descriptor may have been closed since
 * (wf_close from another fiber) and its number given to a new socket. So
 * ensure_registered checks it again under R.lock and refuses (WF_EBADF)
 * when it moved on: registering the number under the old key would break
 * the new descriptor (epoll: EEXIST, and the modified registration's old
 * key makes its events look stale, so its waiters sleep until their
 * deadline; io_uring: a second poll that no del removes, keeping the
 * file open after wf_close). The check decides because every change of
 * a generation (bump, from forget and renew) happens under R.lock too:
 * keep it so (holding the entry's lock across the check and the add
 * would order them as well, but a backend call is no work for a
 * spinlock). The other readers need no more: a wait checks the
 * generation under the entry's lock before it parks and after it wakes,
 * dispatch matches event keys under it, and forget reads the
 * registration (epoch) under R.lock.
 *
 * Closing. wf_close forgets the descriptor and then closes it, and a
 * call may start in between: it reads the new generation, its attempt
 * finds the descriptor still open, and its wait would register it and
 * park; close(2) then drops an epoll registration silently (the waiter
 * sleeps to its deadline) while an io_uring poll keeps the file open
 * after wf_close. So generations are even for a usable descriptor and
 * odd while a wf_close runs: close_begin moves to the next odd value,
 * and no wait registers or parks on an odd generation (WF_EBADF); after
 * close(2), close_end moves on to the next even one, unless a new
 * descriptor with the number was renewed meanwhile (renew always moves
 * to the next even value, so it is not disturbed). An odd generation
 * lasts only as long as one wf_close.
 *
 * The worker poller. Where the backend allows it (workers_poll: epoll),
 * the workers poll it themselves, as Go's netpoller does, so that a fiber
 * woken by I/O lands in the run queue of the worker that saw the event,
 * with no thread hop (the reactor thread would have to inject it and wake
 * a parked worker: two thread wake-ups per event). Through
 * wf__hooks.io_poll (the core never includes this layer):
 *   - a worker with nothing to run polls without blocking before it
 *     searches (find_work), and dispatches what it finds itself;
 *   - a worker about to sleep (park_worker, marked parked) blocks in the
 *     backend's wait instead of on its futex, with its next timer as the
 *     deadline, if it can take the token; one at a time.
 * Only one thread at a time is inside the backend's wait (liburing's
 * completion queue has one consumer; and epoll hands an edge to one
 * waiter): `R.token` is FREE, HELD (by a worker or the reactor thread)
 * or CLOSED (no backend that workers poll is open). A worker that may
 * block sets its `poll_sleep` and then looks at its `wake_word`
 * (wf__sched_poll_arm), while a waker (wake_parked in sched.c) stores
 * wake_word and then looks at poll_sleep: the idle Dekker of
 * tests/model/idle.pml (-DPOLLER), with the backend's wakeup() in place of
 * the futex wake (io_interrupt). The arm comes after the token is taken,
 * so a wakeup() sent after the waker saw poll_sleep can only be consumed
 * by the armed worker's own wait (a wakeup() stays pending until then:
 * epoll's eventfd is level-triggered, io_uring's poll completion
 * waits in the ring). wake_one prefers a worker asleep on its futex and
 * interrupts the poll only when none is.
 *
 * A worker that wants to block and finds the token held by a thread that
 * does not block in it (a non-blocking poll of another worker or of the
 * reactor thread) sets `missed` and tries once more; the holder gives the
 * token back and then reads `missed` (a Dekker: either the retry gets the
 * token or the holder wakes a parked worker, which comes round to take
 * it). When the backend starts, one parked worker is woken the same way:
 * workers that parked before there was a poll sleep on their futexes.
 *
 * The reactor thread is the fallback for workers that are all busy (long
 * computations, no scheduling point): it never blocks in the backend (it
 * would take events from the worker blocked there); it naps FALLBACK_NS
 * at a time and polls without blocking after a nap in which no worker
 * polled (R.npolls did not move); the fibers it wakes go to the inject
 * queue. Once DEEP_AFTER naps in a row have found a worker blocked in the
 * poll (R.sleeper), it sleeps without a timeout, and the poller wakes it
 * when it leaves the wait (leave_sleep, a Dekker of R.sleeper against
 * R.deep): an idle runtime uses no CPU, and a worker that leaves the
 * poll often (a timer every millisecond) does not pay a futex wake each
 * time.
 * A backend that workers do not poll (io_uring: its requests belong to
 * the thread that submitted them, see uring.c) keeps the token CLOSED,
 * and the reactor thread blocks in its wait as the only waiter.
 *
 * Interleavings, each driven on purpose by tests/async/test_poller.c on
 * both backends (with WEFT_DEBUG_MIGRATE too, test_poller_migrate.*):
 *   - work submitted while the only idle worker goes into the poll or
 *     sleeps there: the Dekker above (submit_races_poll_1, _2);
 *   - a timer or deadline due while a worker blocks in the poll: the
 *     wait's deadline is the worker's earliest timer, and a timer added
 *     to its heap from elsewhere wakes it like work does
 *     (deadline_while_polling, timer_from_thread_while_polling);
 *   - shutdown while a worker blocks in the poll: close_poller sets
 *     `closing` (every holder then gives the token to CLOSED, and a
 *     taker that sees it gives it back: a worker polling in a loop
 *     would otherwise win it again at each try), wakes the holder
 *     until the token is CLOSED, then waits for io_interrupt calls under
 *     way (`interrupting`, a Dekker with the token's state) before the
 *     backend closes; a restart opens it again (shutdown_while_polling);
 *   - an event for a fiber pinned to another worker: dispatch readies it
 *     into that worker's inbox and wakes it (pinned_elsewhere);
 *   - every worker busy while a descriptor becomes ready: the fallback
 *     delivers it (fallback_when_busy);
 *   - the workers' own dispatch at all (workers_dispatch).
 *
 * Thread. The reactor thread starts on the first wait of any descriptor
 * and stops in wf__reactor_shutdown (runtime STOPPING, workers still
 * up), which wakes it and joins it, closes the poller, then wakes every
 * waiter left in the table: the records live on fiber stacks that go
 * away with the runtime, while the table stays (left linked, a wf_close
 * after the runtime stopped would walk freed stacks). Plain threads
 * waiting were released by wf_shutdown before.
 *
 * Backend. pick() chooses at each start (WEFT_IO as wf_init read it, see
 * weft/io.h), except that under valgrind (detected through valgrind.h
 * where the build has it) the reactor always uses epoll and says so once
 * on stderr. With
 * io_uring every wait with a deadline hangs there: seen with valgrind
 * 3.19, the reactor thread sleeps in io_uring_enter while every other
 * thread waits for valgrind's thread lock, so no deadline fires and
 * SIGINT and SIGTERM are never handled. A forced WEFT_IO=uring is
 * overridden too (the message says so): obeying it would hang, refusing
 * it would fail every wait, and what a valgrind run checks works the same
 * on epoll. Without valgrind.h in the build there is no detection.
 *
 * Rejected: one-shot registration re-armed per wait (an epoll_ctl per
 * wait, doubling the system calls of a busy connection); waking one
 * waiter per edge (needs a hand-over protocol to avoid stranding the
 * others; sharing a descriptor between several readers is rare).
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#include "common/fault.h"
#include "common/futex.h"
#include "async_test.h"
#include "backend.h"
#include "core/config.h"
#include "reactor.h"
#include "rings.h"
#include "sync/sync_int.h"
#include "weft/io.h"

/* At load: wf_shutdown stops what this file starts (async_int.h). */
static int worker_poll(struct wf__worker *w, int64_t deadline);
static void io_interrupt(void);

/* At load: wf_shutdown stops what this file starts (async_int.h), and
 * the workers poll through it. */
__attribute__((constructor)) static void hook_shutdown(void)
{
    wf__async_hook();
    wf__hooks.io_poll = worker_poll;
    wf__hooks.io_interrupt = io_interrupt;
}

#define CHUNK 1024
#define NCHUNKS 1024 /* up to 1,048,576 descriptors */

/* Events taken per poll; the reactor thread polls when no worker has for
 * FALLBACK_NS, and sleeps until the poll sleeper leaves after DEEP_AFTER
 * naps that all found one. */
#define POLL_MAX    128
#define FALLBACK_NS 2000000
#define DEEP_AFTER  8

struct wf__iofd {
    struct wf__spin lock;
    atomic_uint gen;             /* written under lock; read lock-free */
    atomic_uint epoch;           /* reactor run registered in, 0: none;
                                  * written under R.lock and lock */
    atomic_uint seq[2];          /* edges; written under lock */
    struct wf__waitq q[2];       /* lock */
    struct wf__clauseq rq;       /* ring operations in flight (rings.c);
                                  * lock */
    atomic_uint notsock;         /* gen + 1 of a generation seen not to be
                                  * a socket (rings.c); 0: none */
    void *ms;                    /* multishot receive state (rings.c);
                                  * lock */
    void *macc;                  /* multishot accept state (rings.c);
                                  * lock */
};

static _Atomic(struct wf__iofd *) chunks[NCHUNKS];
static pthread_mutex_t chunk_lock = PTHREAD_MUTEX_INITIALIZER;

enum { TOKEN_FREE, TOKEN_HELD, TOKEN_CLOSED };

static struct {
    pthread_mutex_t lock;        /* start/stop, backend calls */
    atomic_bool up;              /* a reactor thread runs; R.lock */
    /* Set under R.lock before the token opens (start_locked); read by
     * the token's holder and by interrupters, after the token's
     * acquire. */
    const struct wf__backend *be;
    void *st;
    pthread_t thread;
    atomic_bool stop;
    atomic_uint epoch;           /* current run; R.lock */
    /* The poller (see "The worker poller" above). */
    atomic_int token;        /* TOKEN_*: who may call be->wait */
    atomic_int closing;      /* shutdown wants the token for good */
    atomic_int interrupting; /* io_interrupt calls under way */
    atomic_int missed;       /* a parked worker found the token held */
    atomic_int sleeper;      /* the holder blocks in be->wait */
    atomic_uint npolls;      /* polls by workers (the fallback's clock) */
    atomic_uint nap;         /* the reactor thread's futex word */
    atomic_int deep;         /* it sleeps until `sleeper` clears */
} R = {.lock = PTHREAD_MUTEX_INITIALIZER, .token = TOKEN_CLOSED};

/* Tests only (async_test.h). relaxed: the hook is set while no wait runs,
 * and whatever started the waits since orders it; the count is a
 * statistic read after the adds it counts. */
static _Atomic(wf__test_wait_hook_fn *) wait_hook;
static atomic_long nadds;
static atomic_long nby_workers, nby_thread; /* events dispatched */

static int backend_add(int fd, uint64_t key)
{
    atomic_fetch_add_explicit(&nadds, 1, memory_order_relaxed);
    return R.be->add(R.st, fd, key);
}

static struct wf__iofd *lookup(int fd)
{
    if (fd < 0 || fd / CHUNK >= NCHUNKS)
        return NULL;
    /* acquire: pairs with the release that published the chunk. */
    struct wf__iofd *c =
        atomic_load_explicit(&chunks[fd / CHUNK], memory_order_acquire);
    return c ? &c[fd % CHUNK] : NULL;
}

struct wf__iofd *wf__iofd_get(int fd, int *err)
{
    if (fd < 0 || fd / CHUNK >= NCHUNKS) {
        *err = WF_EBADF;
        return NULL;
    }
    struct wf__iofd *e = lookup(fd);
    if (e)
        return e;
    pthread_mutex_lock(&chunk_lock);
    struct wf__iofd *c = atomic_load_explicit(&chunks[fd / CHUNK],
                                              memory_order_relaxed);
    if (!c) {
        /* calloc: every field's zero is its initial state. */
        c = wf__calloc(CHUNK, sizeof *c);
        if (c)
            /* release: pairs with the acquire in lookup(). */
            atomic_store_explicit(&chunks[fd / CHUNK], c,
                                  memory_order_release);
    }
    pthread_mutex_unlock(&chunk_lock);
    if (!c) {
        *err = WF_ENOMEM;
        return NULL;
    }
    return &c[fd % CHUNK];
}

uint32_t wf__iofd_gen(struct wf__iofd *e)
{
    /* acquire: pairs with the bump under the lock (renew, forget). */
    return atomic_load_explicit(&e->gen, memory_order_acquire);
}

unsigned wf__iofd_seq(struct wf__iofd *e, int dir)
{
    /* acquire: pairs with the reactor's release bump, so an attempt made
     * after reading a new value sees what made the descriptor ready. */
    return atomic_load_explicit(&e->seq[dir], memory_order_acquire);
}

/* Keys keep the generation to 31 bits: the top bit is the io_uring
 * backend's (uring.c). Comparisons use GEN_MASK too. */
#define GEN_MASK 0x7fffffffu

static uint64_t key_of(int fd, uint32_t gen)
{
    return (uint64_t)(uint32_t)fd | (uint64_t)(gen & GEN_MASK) << 32;
}

/* ---- the reactor thread ------------------------------------------------- */

/* A worker's io_uring ring (rings.c) is watched under a key whose
 * generation part no descriptor's registration has: GEN_MASK is odd, and
 * only even generations are ever registered. */
static uint64_t ring_key(uint32_t index)
{
    return (uint64_t)GEN_MASK << 32 | index;
}

/* An edge in direction dir for e's waiters (e's lock held): its count
 * moves and they look again. */
static void edge(struct wf__iofd *e, int dir)
{
    /* release: pairs with the acquire in wf__iofd_seq. */
    atomic_fetch_add_explicit(&e->seq[dir], 1, memory_order_release);
    wf__waitq_wake_all(&e->q[dir]);
}

static void dispatch(const struct wf__backend_ev *ev)
{
    int fd = (int)(uint32_t)ev->key;
    uint32_t gen = (uint32_t)(ev->key >> 32);
    if (gen == GEN_MASK) {
        int rfd = wf__ring_event((uint32_t)ev->key);
        if (rfd >= 0 && (ev->events & WF__EV_ENDED))
            backend_add(rfd, ev->key);
        return;
    }
    struct wf__iofd *e = lookup(fd);
    if (!e)
        return;
    wf__spin_lock(&e->lock);
    if ((atomic_load_explicit(&e->gen, memory_order_relaxed) & GEN_MASK) ==
        gen) {
        for (int dir = 0; dir < 2; dir++) {
            if (!(ev->events & (dir == WF__DIR_READ ? WF__EV_READ
                                                    : WF__EV_WRITE)))
                continue;
            edge(e, dir);
        }
        /* A registration that ended by itself: poll again while current
         * (forget bumps gen under this lock before its del). The event
         * shows the key was added in this run; the entry's epoch may not
         * say so yet (ensure_registered sets it after its add returns,
         * and the registration may end before that), so it is not
         * consulted. */
        if (ev->events & WF__EV_ENDED)
            backend_add(fd, ev->key);
    }
    wf__spin_unlock(&e->lock);
}

/* One call of the backend's wait, by the token's holder (or the reactor
 * thread of a backend that workers do not poll), and the dispatch of
 * what it found. */
static void dispatch_all(const struct wf__backend_ev *evs, int n, bool worker)
{
    if (n == -EINTR || n == 0)
        return;
    if (n < 0)
        WF_PANIC("reactor: %s wait failed: %d", R.be->name, n);
    for (int i = 0; i < n; i++)
        dispatch(&evs[i]);
    /* relaxed: statistics for tests (async_test.h). */
    atomic_fetch_add_explicit(worker ? &nby_workers : &nby_thread, n,
                              memory_order_relaxed);
}

static int poll_once(struct wf__backend_ev *evs, int max, int64_t deadline,
                     bool worker)
{
    int n = R.be->wait(R.st, evs, max, deadline);
    dispatch_all(evs, n, worker);
    return n < 0 ? 0 : n;
}

/* ---- the poller token ------------------------------------------------------ */

static void token_give(void);

static bool token_take(void)
{
    int free_ = TOKEN_FREE;
    /* seq_cst: acquires the previous holder's release (and
     * start_locked's opening: R.be, R.st); the retry in worker_poll is
     * the reading half of a Dekker with token_give (missed). */
    if (!atomic_compare_exchange_strong_explicit(&R.token, &free_, TOKEN_HELD,
                                                 memory_order_seq_cst,
                                                 memory_order_seq_cst))
        return false;
    /* seq_cst: Dekker with close_poller's store of closing and its CAS:
     * a shutdown under way gets the token (closed) instead of us. */
    if (atomic_load_explicit(&R.closing, memory_order_seq_cst)) {
        token_give();
        return false;
    }
    return true;
}

static void token_give(void)
{
    /* seq_cst RMW: releases to the next holder, and is the writing half
     * of the Dekker with a missing worker's store of `missed` and its
     * second try at the token. While shutdown waits for it, the token
     * goes straight to CLOSED: a worker that polls in a loop would
     * otherwise take it back before shutdown's next try. */
    atomic_exchange_explicit(
        &R.token,
        atomic_load_explicit(&R.closing, memory_order_seq_cst) ? TOKEN_CLOSED
                                                               : TOKEN_FREE,
        memory_order_seq_cst);
    /* seq_cst: the reading half (the load filters the common case). */
    if (atomic_load_explicit(&R.missed, memory_order_seq_cst) &&
        atomic_exchange_explicit(&R.missed, 0, memory_order_seq_cst))
        wf__sched_poll_missed();
}

/* The blocking poller has left the wait: wake the reactor thread if it
 * sleeps until that happens. */
static void leave_sleep(void)
{
    /* seq_cst RMW, then load: Dekker with fallback_main's store of deep
     * and load of sleeper. */
    atomic_exchange_explicit(&R.sleeper, 0, memory_order_seq_cst);
    if (atomic_load_explicit(&R.deep, memory_order_seq_cst)) {
        /* seq_cst, no order needed: the futex re-checks the word. */
        atomic_fetch_add_explicit(&R.nap, 1, memory_order_seq_cst);
        wf__futex_wake(&R.nap, 1);
    }
}

/* wf__hooks.io_poll (core_int.h): a worker polls. */
static int worker_poll(struct wf__worker *w, int64_t deadline)
{
    /* relaxed: a filter; the CAS decides. */
    if (atomic_load_explicit(&R.token, memory_order_relaxed) != TOKEN_FREE ||
        !token_take()) {
        /* relaxed: filters. Not polling is fine unless this worker is
         * about to sleep: then it asks the holder (missed) to wake a
         * sleeper when it gives the token back, and tries once more (the
         * Dekker with token_give). Also when the holder blocks in the
         * poll: it may leave it for other work (a pinned fiber, a timer)
         * and run long, and then nobody would poll until the fallback's
         * nap ends. */
        if (deadline == 0 ||
            atomic_load_explicit(&R.token, memory_order_relaxed) ==
                TOKEN_CLOSED)
            return -1;
        /* seq_cst RMW: the writing half of the Dekker with token_give. */
        atomic_exchange_explicit(&R.missed, 1, memory_order_seq_cst);
        if (!token_take())
            return -1;
    }
    /* relaxed: a progress count only the reactor thread compares. */
    atomic_fetch_add_explicit(&R.npolls, 1, memory_order_relaxed);
    struct wf__backend_ev evs[POLL_MAX];
    int n = 0;
    if (deadline == 0) {
        n = poll_once(evs, POLL_MAX, 0, true);
    } else {
        int k = 0;
        if (wf__sched_poll_arm(w)) {
            /* seq_cst: read by fallback_main (the Dekker of leave_sleep)
             * and by missing workers (a filter). */
            atomic_store_explicit(&R.sleeper, 1, memory_order_seq_cst);
            k = R.be->wait(R.st, evs, POLL_MAX, deadline);
            leave_sleep();
        }
        /* Un-marked as parked before the dispatch, whose wake-ups would
         * otherwise count this worker as one to wake. */
        wf__sched_poll_woke(w);
        dispatch_all(evs, k, true);
        n = k < 0 ? 0 : k;
    }
    token_give();
    return n;
}

/* wf__hooks.io_interrupt: make the blocked (or next) poll return. */
static void io_interrupt(void)
{
    /* seq_cst: Dekker with close_poller's CAS to CLOSED and its load of
     * interrupting: either it waits for us, or we see CLOSED and leave
     * the backend alone. The token's load also acquires R.be, R.st. */
    atomic_fetch_add_explicit(&R.interrupting, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&R.token, memory_order_seq_cst) != TOKEN_CLOSED)
        R.be->wakeup(R.st);
    /* release: close_poller's acquire load sees we are out. */
    atomic_fetch_sub_explicit(&R.interrupting, 1, memory_order_release);
}

/* Shutdown: take the token for good (waking a blocked holder until it
 * gives it back), then wait out the interrupters. R.lock held, the
 * reactor thread joined. */
static void close_poller(void)
{
    /* seq_cst: see token_take. */
    atomic_store_explicit(&R.closing, 1, memory_order_seq_cst);
    for (;;) {
        int free_ = TOKEN_FREE;
        /* seq_cst: see io_interrupt; acquires the last holder's release. */
        if (atomic_compare_exchange_strong_explicit(
                &R.token, &free_, TOKEN_CLOSED, memory_order_seq_cst,
                memory_order_seq_cst) ||
            free_ == TOKEN_CLOSED)
            break;
        R.be->wakeup(R.st);
        sched_yield();
    }
    /* seq_cst: the reading half of the Dekker with io_interrupt's
     * increment then token load (acquire alone would let both read the
     * old values in C11); also pairs with its release decrement. */
    while (atomic_load_explicit(&R.interrupting, memory_order_seq_cst) > 0)
        sched_yield();
}

/* The reactor thread of a backend that workers poll: the fallback for
 * when they are all busy. It never blocks in the backend (it would take
 * events from a worker blocked there); it sleeps, until the blocking
 * poller leaves the wait while one blocks, else for FALLBACK_NS at a
 * time, and polls without blocking after a nap in which no worker
 * polled. The fibers it wakes go to the inject queue. */
static void fallback_main(void)
{
    struct wf__backend_ev evs[POLL_MAX];
    int idle_naps = 0; /* naps in a row that ended with a poll sleeper */
    for (;;) {
        /* seq_cst, no order needed: the futex re-checks it. */
        unsigned v = atomic_load_explicit(&R.nap, memory_order_seq_cst);
        /* relaxed: shutdown sets stop, then bumps nap and wakes us. */
        if (atomic_load_explicit(&R.stop, memory_order_relaxed))
            break;
        /* seq_cst: Dekker with leave_sleep (store deep, load sleeper).
         * Only after DEEP_AFTER naps that all found a poll sleeper: each
         * deep sleep costs the poller a futex wake when it leaves the
         * wait, which a worker woken often (a timer every millisecond)
         * would otherwise pay every time. */
        if (idle_naps >= DEEP_AFTER &&
            atomic_load_explicit(&R.sleeper, memory_order_seq_cst)) {
            atomic_exchange_explicit(&R.deep, 1, memory_order_seq_cst);
            if (atomic_load_explicit(&R.sleeper, memory_order_seq_cst))
                wf__futex_wait(&R.nap, v, WF_FOREVER);
            atomic_store_explicit(&R.deep, 0, memory_order_seq_cst);
            idle_naps = 0;
            continue;
        }
        /* relaxed: a progress count, compared only. */
        unsigned before = atomic_load_explicit(&R.npolls, memory_order_relaxed);
        wf__futex_wait(&R.nap, v, wf_now() + FALLBACK_NS);
        if (atomic_load_explicit(&R.stop, memory_order_relaxed))
            break;
        /* seq_cst, no order needed: a worker blocks in the poll and hears
         * of every event itself. */
        if (atomic_load_explicit(&R.sleeper, memory_order_seq_cst)) {
            idle_naps++;
            continue;
        }
        idle_naps = 0;
        if (atomic_load_explicit(&R.npolls, memory_order_relaxed) != before ||
            !token_take())
            continue;
        poll_once(evs, POLL_MAX, 0, false);
        token_give();
    }
}

static void *reactor_main(void *arg)
{
    (void)arg;
    wf__thread_mark_own(); /* it completes file futures: their callbacks */
    if (R.be->workers_poll) {
        fallback_main();
        return NULL;
    }
    struct wf__backend_ev evs[256];
    /* relaxed: the stop flag is set before the wakeup() that makes wait
     * return, and the backend's system calls order it. */
    while (!atomic_load_explicit(&R.stop, memory_order_relaxed) ||
           (R.be->busy && R.be->busy(R.st)))
        poll_once(evs, 256, WF_FOREVER, false);
    return NULL;
}

#ifdef WEFT_HAVE_VALGRIND
static bool under_valgrind(void)
{
    return RUNNING_ON_VALGRIND != 0;
}
#else
static bool under_valgrind(void)
{
    return false; /* no valgrind.h: no detection */
}
#endif

/* Whether valgrind rules out the io_uring that WEFT_IO=uring asks for
 * (see the essay); says so on stderr the first time. R.lock held. */
static bool valgrind_vetoes_uring(void)
{
    static bool told; /* R.lock */
    if (!wf__backend_uring() || !under_valgrind())
        return false;
    if (!told)
        fprintf(stderr, "weft: running under valgrind: the reactor uses "
                        "epoll, not io_uring (WEFT_IO=uring ignored)\n");
    told = true;
    return true;
}

/* The backend to use: WEFT_IO=epoll|uring (as wf_init read it, config.c)
 * forces one; by default (unset or auto) epoll, whose readiness the
 * workers poll themselves (io_uring's requests belong to the thread that
 * submits them, so with it the reactor thread still waits for every
 * event: a thread hop per event, measured 2.3 times epoll's round trip
 * on one connection); under valgrind epoll. *forced tells whether the
 * choice was asked for. R.lock held. */
static const struct wf__backend *pick(bool *forced)
{
    int io = wf__config_io();
    *forced = io != WF__IO_AUTO;
    if (io != WF__IO_URING || valgrind_vetoes_uring())
        return &wf__backend_epoll;
    return wf__backend_uring();
}

/* Start the reactor if it is not running. R.lock held. */
static int start_locked(void)
{
    if (atomic_load_explicit(&R.up, memory_order_relaxed))
        return 0;
    if (!wf__rt_running())
        return WF_ESHUTDOWN;
    bool forced;
    const struct wf__backend *be = pick(&forced);
    if (!be)
        return WF_ENOSYS; /* forced, not in this build */
    void *st;
    int err = be->open(&st);
    if (err)
        return err;
    R.be = be;
    R.st = st;
    atomic_store_explicit(&R.stop, false, memory_order_relaxed);
    unsigned ep = atomic_load_explicit(&R.epoch, memory_order_relaxed) + 1;
    if (ep == 0)
        ep = 1;
    atomic_store_explicit(&R.epoch, ep, memory_order_relaxed);
    if (wf__pthread_create(&R.thread, NULL, reactor_main, NULL) != 0) {
        be->close(st);
        return WF_EAGAIN;
    }
    pthread_setname_np(R.thread, "weft-reactor");
    atomic_store_explicit(&R.up, true, memory_order_relaxed);
    if (be->workers_poll) {
        atomic_store_explicit(&R.missed, 0, memory_order_relaxed);
        atomic_store_explicit(&R.closing, 0, memory_order_relaxed);
        atomic_store_explicit(&R.sleeper, 0, memory_order_relaxed);
        /* seq_cst (release would do): opens the poller to the workers,
         * publishing R.be and R.st to token_take's acquire. */
        atomic_store_explicit(&R.token, TOKEN_FREE, memory_order_seq_cst);
        /* Workers that parked before there was a poll sleep on their
         * futex: one comes round to block in it. */
        wf__sched_poll_missed();
    }
    return 0;
}

int wf__reactor_up(void)
{
    /* relaxed: a hint; start_locked decides under R.lock. */
    if (atomic_load_explicit(&R.up, memory_order_relaxed))
        return 0;
    pthread_mutex_lock(&R.lock);
    int err = start_locked();
    pthread_mutex_unlock(&R.lock);
    return err;
}

int wf__reactor_file(struct wf__fileop *op)
{
    pthread_mutex_lock(&R.lock);
    int err = start_locked();
    if (err == 0)
        err = R.be->file ? R.be->file(R.st, op) : WF_ENOSYS;
    pthread_mutex_unlock(&R.lock);
    return err;
}

const char *wf_io_backend(void)
{
    pthread_mutex_lock(&R.lock);
    const char *name =
        atomic_load_explicit(&R.up, memory_order_relaxed) ? R.be->name : NULL;
    pthread_mutex_unlock(&R.lock);
    return name;
}

void wf__reactor_shutdown(void)
{
    pthread_mutex_lock(&R.lock);
    if (atomic_load_explicit(&R.up, memory_order_relaxed)) {
        atomic_store_explicit(&R.stop, true, memory_order_relaxed);
        /* seq_cst, no order needed: the futex re-checks the word. */
        atomic_fetch_add_explicit(&R.nap, 1, memory_order_seq_cst);
        wf__futex_wake(&R.nap, 1);
        R.be->wakeup(R.st);
        pthread_join(R.thread, NULL);
        close_poller();
        R.be->close(R.st);
        R.st = NULL;
        atomic_store_explicit(&R.up, false, memory_order_relaxed);
    }
    pthread_mutex_unlock(&R.lock);
    /* Wake every waiter: entries outlive the runtime, so no record may
     * stay linked once the fibers (whose stacks hold the records) are
     * discarded. Woken fibers that still get to run find the reactor down
     * and return WF_ESHUTDOWN; waits that look after this (under the
     * entry's lock) see `up` false and do not link. */
    for (int c = 0; c < NCHUNKS; c++) {
        struct wf__iofd *chunk =
            atomic_load_explicit(&chunks[c], memory_order_acquire);
        if (!chunk)
            continue;
        for (int i = 0; i < CHUNK; i++) {
            struct wf__iofd *e = &chunk[i];
            wf__spin_lock(&e->lock);
            wf__waitq_wake_all(&e->q[WF__DIR_READ]);
            wf__waitq_wake_all(&e->q[WF__DIR_WRITE]);
            /* Ring operations: cancelled, and unlinked, since a fiber
             * the stop discards never unlinks its own record. */
            while (e->rq.head) {
                struct wf__clause *cl = e->rq.head;
                wf__clauseq_unlink(&e->rq, cl); /* before: it may go */
                wf__ring_cancel(cl, WF_ESHUTDOWN);
            }
            wf__spin_unlock(&e->lock);
        }
    }
}

/* ---- rings (rings.c) ------------------------------------------------------ */

int wf__reactor_watch_ring(int ringfd, uint32_t index)
{
    pthread_mutex_lock(&R.lock);
    int err = start_locked();
    if (err == 0)
        err = backend_add(ringfd, ring_key(index));
    pthread_mutex_unlock(&R.lock);
    return err;
}

/* The clause out of e's rq (e's lock held), if still in it. */
static void rq_leave(struct wf__iofd *e, struct wf__clause *cl)
{
    if (cl->linked)
        wf__clauseq_unlink(&e->rq, cl);
}

int wf__iofd_ring_link(struct wf__iofd *e, uint32_t gen, struct wf__clause *cl)
{
    /* As in wf__iofd_wait: the generation under the lock (the caller's),
     * and R.up (cleared before shutdown's walk takes this lock). */
    if (atomic_load_explicit(&e->gen, memory_order_relaxed) != gen || (gen & 1))
        return WF_EBADF;
    if (!atomic_load_explicit(&R.up, memory_order_relaxed))
        return WF_ESHUTDOWN;
    wf__clauseq_link(&e->rq, cl, false);
    return 0;
}

bool wf__iofd_rq_has(struct wf__iofd *e, uint8_t queue)
{
    for (struct wf__clause *cl = e->rq.head; cl; cl = cl->next)
        if (cl->queue == queue)
            return true;
    return false;
}

void wf__iofd_ring_unlink(struct wf__iofd *e, struct wf__clause *cl)
{
    wf__spin_lock(&e->lock);
    rq_leave(e, cl);
    wf__spin_unlock(&e->lock);
}

void wf__iofd_edge_read(struct wf__iofd *e)
{
    edge(e, WF__DIR_READ);
}

void wf__iofd_lock(struct wf__iofd *e)
{
    wf__spin_lock(&e->lock);
}

void wf__iofd_unlock(struct wf__iofd *e)
{
    wf__spin_unlock(&e->lock);
}

void *wf__iofd_ms(struct wf__iofd *e)
{
    return e->ms;
}

int wf__iofd_ms_attach(struct wf__iofd *e, uint32_t gen, struct wf__clause *cl,
                       void *ms)
{
    int err = wf__iofd_ring_link(e, gen, cl);
    if (!err)
        e->ms = ms;
    return err;
}

void wf__iofd_ms_detach(struct wf__iofd *e, struct wf__clause *cl)
{
    rq_leave(e, cl);
    e->ms = NULL;
}

void *wf__iofd_macc(struct wf__iofd *e)
{
    return e->macc;
}

int wf__iofd_macc_attach(struct wf__iofd *e, uint32_t gen,
                         struct wf__clause *cl, void *macc)
{
    int err = wf__iofd_ring_link(e, gen, cl);
    if (!err)
        e->macc = macc;
    return err;
}

void wf__iofd_macc_detach(struct wf__iofd *e, struct wf__clause *cl)
{
    rq_leave(e, cl);
    e->macc = NULL;
}

bool wf__iofd_notsock(struct wf__iofd *e)
{
    /* relaxed: a hint; a stale answer costs one ring operation that
     * fails with ENOTSOCK, or one readiness attempt. */
    unsigned v = atomic_load_explicit(&e->notsock, memory_order_relaxed);
    return v != 0 &&
           v == atomic_load_explicit(&e->gen, memory_order_relaxed) + 1;
}

void wf__iofd_set_notsock(struct wf__iofd *e, uint32_t gen)
{
    atomic_store_explicit(&e->notsock, gen + 1, memory_order_relaxed);
}

bool wf__reactor_valgrind(void)
{
    return under_valgrind();
}

/* ---- waiting -------------------------------------------------------------- */

/* Register e (fd, generation gen) in the current reactor run, starting the
 * reactor if needed. WF_EBADF when gen is no longer the entry's: fd was
 * closed since the caller read it, and its number may name another
 * descriptor by now, which must not be registered under the old key. */
static int ensure_registered(struct wf__iofd *e, int fd, uint32_t gen)
{
    pthread_mutex_lock(&R.lock);
    int err = WF_EBADF;
    /* relaxed: every bump happens under R.lock (forget), so this check
     * holds until the unlock, the add included. An odd generation is a
     * descriptor being closed: never registered. */
    if (atomic_load_explicit(&e->gen, memory_order_relaxed) != gen ||
        (gen & 1))
        goto out;
    err = start_locked();
    if (err)
        goto out;
    unsigned ep = atomic_load_explicit(&R.epoch, memory_order_relaxed);
    if (atomic_load_explicit(&e->epoch, memory_order_relaxed) == ep)
        goto out;
    err = backend_add(fd, key_of(fd, gen));
    if (err)
        goto out;
    wf__spin_lock(&e->lock);
    atomic_store_explicit(&e->epoch, ep, memory_order_relaxed);
    wf__spin_unlock(&e->lock);
out:
    pthread_mutex_unlock(&R.lock);
    return err;
}

int wf__iofd_wait(struct wf__iofd *e, int fd, int dir, unsigned seq,
                  uint32_t gen, int64_t deadline)
{
    /* relaxed: a hint; ensure_registered decides under R.lock. The
     * registered generation is the entry's; renew/forget reset epoch. */
    bool registered =
        atomic_load_explicit(&e->epoch, memory_order_relaxed) ==
            atomic_load_explicit(&R.epoch, memory_order_relaxed) &&
        atomic_load_explicit(&R.up, memory_order_relaxed);
    wf__test_wait_hook_fn *hook =
        atomic_load_explicit(&wait_hook, memory_order_relaxed);
    if (hook)
        hook(fd, dir);
    if (!registered) {
        int err = ensure_registered(e, fd, gen);
        if (err)
            return err;
    }
    wf__inspect_io(); /* wf_stats */
    struct wf__wqrec r;
    int err = wf__wqrec_init(&r, WF__WHY_IO);
    if (err)
        return err;
    wf__spin_lock(&e->lock);
    if (atomic_load_explicit(&e->gen, memory_order_relaxed) != gen ||
        (gen & 1)) {
        err = WF_EBADF; /* closed since gen was read, or being closed */
    } else if (!atomic_load_explicit(&R.up, memory_order_relaxed)) {
        /* relaxed: R.up is cleared before shutdown's walk takes this
         * lock; seen under it, the walk has passed or will wake us. */
        err = WF_ESHUTDOWN;
    } else if (atomic_load_explicit(&e->seq[dir], memory_order_relaxed) ==
               seq) {
        err = wf__waitq_wait(&e->lock, &e->q[dir], &r, deadline, false, true);
        if (err == 0 && atomic_load_explicit(&e->gen, memory_order_relaxed) !=
                            gen)
            err = WF_EBADF;
    }
    wf__wqrec_done(&e->q[dir], &r);
    wf__spin_unlock(&e->lock);
    wf__wqrec_finish(&r);
    return err;
}

/* New generation, the next odd one when `closing`, else the next even
 * one (see Closing at the top): waiters return WF_EBADF, the
 * registration is void. Returns the old generation; *now the new one.
 * R.lock held: ensure_registered relies on it. */
static uint32_t bump(struct wf__iofd *e, bool closing, uint32_t *now)
{
    wf__spin_lock(&e->lock);
    uint32_t old = atomic_load_explicit(&e->gen, memory_order_relaxed);
    uint32_t next = old + 1 + (((old + 1) & 1) != (uint32_t)closing);
    /* release: pairs with the acquire in wf__iofd_gen. */
    atomic_store_explicit(&e->gen, next, memory_order_release);
    atomic_store_explicit(&e->epoch, 0, memory_order_relaxed);
    wf__waitq_wake_all(&e->q[WF__DIR_READ]);
    wf__waitq_wake_all(&e->q[WF__DIR_WRITE]);
    for (struct wf__clause *cl = e->rq.head, *nx; cl; cl = nx) {
        nx = cl->next; /* a multishot's clause leaves (rings.c) */
        wf__ring_cancel(cl, WF_EBADF);
    }
    wf__spin_unlock(&e->lock);
    if (now)
        *now = next;
    return old;
}

/* Forget fd's registration and start a new generation. */
static uint32_t forget(int fd, bool closing)
{
    /* A closing descriptor gets an entry even if it never had one: a call
     * that starts meanwhile must find the odd generation. */
    int err;
    struct wf__iofd *e = closing ? wf__iofd_get(fd, &err) : lookup(fd);
    if (!e)
        return 0; /* renew: nothing to forget; close: no memory (or fd
                   * out of range), and then no call can wait on fd */
    pthread_mutex_lock(&R.lock);
    unsigned ep = atomic_load_explicit(&e->epoch, memory_order_relaxed);
    /* Bump first: the reactor re-adds an ended registration only while
     * its generation is current (dispatch), so none follows this del. */
    uint32_t now;
    uint32_t old = bump(e, closing, &now);
    if (ep != 0 && atomic_load_explicit(&R.up, memory_order_relaxed) &&
        ep == atomic_load_explicit(&R.epoch, memory_order_relaxed))
        R.be->del(R.st, fd, key_of(fd, old));
    pthread_mutex_unlock(&R.lock);
    return now;
}

void wf__iofd_renew(int fd)
{
    /* A registration left by a descriptor closed with close(2) is removed
     * too (io_uring's would keep the old file open). */
    forget(fd, false);
}

uint32_t wf__iofd_close_begin(int fd)
{
    return forget(fd, true);
}

void wf__iofd_close_end(int fd, uint32_t closing)
{
    struct wf__iofd *e = lookup(fd);
    if (!e)
        return;
    pthread_mutex_lock(&R.lock);
    /* relaxed: bumps happen under R.lock. Moved on: a new descriptor
     * with this number was renewed since close(2), and is left alone. */
    if (atomic_load_explicit(&e->gen, memory_order_relaxed) == closing)
        bump(e, false, NULL); /* nothing registered: no del */
    pthread_mutex_unlock(&R.lock);
}

/* ---- test hooks (async_test.h) -------------------------------------------- */

void wf__test_set_wait_hook(wf__test_wait_hook_fn *fn)
{
    atomic_store_explicit(&wait_hook, fn, memory_order_relaxed);
}

long wf__test_reactor_adds(void)
{
    return atomic_load_explicit(&nadds, memory_order_relaxed);
}

bool wf__test_poll_sleeping(void)
{
    /* relaxed: a test's look at a moving state. */
    return atomic_load_explicit(&R.sleeper, memory_order_relaxed) != 0;
}

void wf__test_reactor_dispatched(long *workers, long *thread)
{
    if (workers)
        *workers = atomic_load_explicit(&nby_workers, memory_order_relaxed);
    if (thread)
        *thread = atomic_load_explicit(&nby_thread, memory_order_relaxed);
}
