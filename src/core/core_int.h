/* SPDX-License-Identifier: MIT */
/*
 * src/core/core_int.h - the core's private structures, shared by its files.
 *
 *   runtime.c  wf_run / wf_init / wf_shutdown, configuration, the overflow
 *              signal handler, plain-thread parkers
 *   sched.c    workers: run queues, the switch, stealing, parking workers,
 *              waking fibers
 *   fiber.c    the fiber API: handles (slots), spawn, join, park, cancel,
 *              fiber-local storage
 *   scope.c    structured concurrency
 *   monitor.c  the stall monitor thread
 *   timer.c    per-worker timer heaps;  deque.c  the Chase-Lev deque
 *   tq.c       the task deques and the task inject queue: finding and
 *              stealing tasks
 *
 * Lock order (outer first): scope lock -> slot lock of a member -> that
 * member's scope locks (depth grows, so cancellation that walks down nested
 * scopes cannot cycle); worker inbox lock and timer heap lock are leaves,
 * except that firing a timer (heap lock held) may take an inbox lock or the
 * idle lock; the idle lock is a leaf.
 */
#ifndef WEFT_CORE_INT_H
#define WEFT_CORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/ctx.h"
#include "arch/stack.h"
#include "common/futex.h"
#include "core/deque.h"
#include "core/inspect.h" /* per-worker counters */
#include "core/timer.h"
#include "core/tq.h" /* each worker owns a task deque */
#include "core/waitrec.h"
#include "weft/fiber.h"
#include "weft/runtime.h"

#define WF__CACHELINE 64
/* The runtime's thread-locals: initial-exec, so reading one is a load
 * relative to the thread pointer rather than a call to __tls_get_addr,
 * in the shared library too. The price: libweft.so cannot be dlopen()ed
 * into a process whose static TLS surplus is used up (glibc keeps a
 * surplus for small libraries like this). */
#define WF__TLS _Thread_local __attribute__((tls_model("initial-exec")))
#define WF__SLOT_CACHE 1024 /* free handle slots a worker keeps */
#define WF__DEQUE_CAP 4096

#define WF_PANIC(...) wf__panic(__FILE__, __LINE__, __VA_ARGS__)
#ifdef WEFT_DEBUG
#define WF_ASSERT(c) ((c) ? (void)0 : WF_PANIC("assertion failed: %s", #c))
#else
#define WF_ASSERT(c) ((void)0)
#endif

_Noreturn void wf__panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A caller used an object weft can tell is not live (released, freed,
 * closed, never created): "weft: <call>: <what>" on stderr, then abort. */
_Noreturn void wf__misuse(const char *call, const char *what)
    __attribute__((cold, noinline));

/* Sanitizer bookkeeping of one execution context (fiber or worker). */
struct wf__san {
    void *asan_fake;     /* ASan fake stack saved across a switch */
    const void *bottom;  /* stack bounds announced to ASan */
    size_t size;
    void *tsan;          /* TSan fiber handle */
};

/* Something that can run: a fiber, or a worker's scheduler loop on the
 * worker thread's own stack. The sanitizer fields exist only in sanitizer
 * builds, to keep a fiber's hot fields in as few cache lines as possible. */
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
#define WF__SAN 1
#endif
struct wf__exec {
    struct wf__ctx ctx;
#ifdef WF__SAN
    struct wf__san san;
#endif
};

/* Park states of a fiber (fiber->wstate); see sched.c. */
enum {
    WF__RUNNING = 1, /* running, or queued to run */
    WF__PARKING,     /* committed to park, still on its own stack */
    WF__PARKED,      /* off its stack, waiting for a wake */
    WF__WOKEN,       /* woken while PARKING: the switch's after-step queues it */
    WF__CLAIMED,     /* taken while PARKED by a completer, which queues it */
};

struct wf__scope_link {
    struct wf__fcb *prev, *next;
};

/* A fiber's control block. It lives in the headroom at the top of its own
 * stack region (see arch/stack.h), so it is type-stable memory for as long
 * as the runtime runs. Field order is cache-line order: spawning writes
 * only the first two lines (with a 40-byte stack descriptor and the
 * assembly context), everything after `owned` is reset when the previous
 * occupant finished, while its lines were hot. */
struct wf__fcb {
    struct wf__stack st;         /* must be first: the stack descriptor */
    struct wf__exec ex;
    wf_fiber_fn *fn;
    void *arg;
    /* second line */
    uint64_t id;                 /* handle id: generation << 32 | slot + 1 */
    struct wf__fcb *next;      /* link in the inject queue or an inbox */
    atomic_int wstate;           /* WF__RUNNING... */
    atomic_int notified;         /* the park permit */
    atomic_int home;             /* pinned worker index or -1 */
    atomic_bool cancelled;
    bool named;                  /* name[] is not empty */
    atomic_uchar why;            /* enum wf__why while parked, else NONE;
                                  * written by the fiber, read by anyone
                                  * (relaxed: a report, orders nothing) */
    struct wf_scope *scope;      /* owning scope or NULL; fixed at spawn */
    struct wf_scope *owned;      /* scopes it has open; its slot lock */
    void **fls;                  /* fiber-local values; owner only */
    unsigned budget;             /* blocking calls it may still complete
                                  * without a switch; owner only */
    /* cold: NULL/empty whenever the block is free */
    struct wf__timer timer;      /* for deadlines of park; disarmed */
    struct wf__scope_link sl;    /* in scope's member list; scope lock */
    struct wf__abandon *waiting; /* its record linked in a user object, or
                                  * NULL (core/waitrec.h, Lifetime); the
                                  * fiber only, read at shutdown */
    void *cancels;               /* the future cancels it runs (async,
                                  * future.c), innermost first; owner only */
    char name[WF_NAME_MAX + 1];  /* "" unless set at spawn */
    /* Introspection (inspect.c): when the fiber last parked or started
     * running after a park (wf__inspect_clock; 0: it has not run yet), and
     * the worker it did so on (-1: none yet). Written by the fiber,
     * read by anyone (relaxed: a report). Reset by wf__fiber_finish. */
    _Atomic int64_t since;
    atomic_int last_worker;
};

#if !defined(WF__SAN) && !defined(WEFT_CTX_UCONTEXT) && UINTPTR_MAX == UINT64_MAX
_Static_assert(offsetof(struct wf__fcb, id) == 64 &&
                   offsetof(struct wf__fcb, timer) <= 128,
               "spawn-written fields must fill exactly two cache lines");
#endif
_Static_assert(sizeof(struct wf__fcb) + 16 <= WF__STACK_HEADROOM,
               "fiber control block must fit in the stack headroom");

/* What a worker does right after switching to the next context, on behalf
 * of the context it left (which cannot act once it is off its stack). */
enum wf__after {
    WF__AFTER_NONE,
    WF__AFTER_REQUEUE, /* the fiber yielded: queue it at the tail */
    WF__AFTER_PARK,    /* the fiber parks: PARKING -> PARKED, or requeue */
    WF__AFTER_EXIT,    /* the fiber returned: finish and free it */
};

/* xorshift64*: a cheap pseudo-random step on an owner-only, nonzero
 * state (victim choice for steals). */
static inline uint64_t wf__xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

struct wf__worker {
    /* Owner-only hot fields first. */
    struct wf__exec sched;         /* the scheduler loop's context */
    _Atomic(struct wf__fcb *) current; /* owner writes; monitor reads */
    _Atomic uint64_t current_id;   /* its id (0: none); for the monitor */
    enum wf__after after;
    struct wf__fcb *after_fiber;
    unsigned tick;                 /* scheduling decisions, for fairness */
    unsigned ttick;                /* fiber switches, for timer passes */
    unsigned streak;               /* run-next and newest picks in a row */
    /* The async layer's per-worker io_uring (async/rings.c), when it
     * made one: set by the owner (release), read by pollers that reap it
     * (acquire); freed after the workers are joined. `io_active`: the
     * ring has submissions queued or operations in flight, so each
     * scheduling decision calls wf__hooks.io_round (owner only). */
    bool io_active;
    _Atomic(void *) io_ring;
    bool runnext_spawned;          /* what this worker last put in run-next
                                    * was a spawn, not yet run; owner only */
    long lq_seen_top;              /* lq's oldest end at the last look, and */
    unsigned lq_seen_n;            /* looks since it moved (oldest_if_stuck) */
    uint64_t rng;
    struct wf__stack_cache stacks;
    uint32_t slot_cache[WF__SLOT_CACHE]; /* free handle slots; owner only */
    unsigned nslot_cache;
    int index;
    struct wf__rt *rt;

    struct wf__deque dq;           /* local run queue (FIFO use) */
    /* Newest work: spawned fibers pushed out of the run-next slot before
     * they ever ran. The owner pops the newest (LIFO, so a tree of fibers
     * runs depth-first and its live set stays small), thieves take the
     * oldest (see sched.c). */
    struct wf__deque lq;
    uint64_t trng;                 /* task steals' victim choice; owner only */
    /* Fork-join tasks (tq.c): a split deque of its own. */
    struct wf__tq tq;
    /* The fiber woken last by this worker, run next. Thieves may take it
     * with an exchange when the deque is empty. */
    _Alignas(WF__CACHELINE) _Atomic(struct wf__fcb *) runnext;

    /* Fibers pinned here (or sent here by debug migration): not stealable. */
    _Alignas(WF__CACHELINE) struct wf__spin inbox_lock;
    struct wf__fcb *inbox_head, *inbox_tail; /* inbox_lock */
    atomic_int inbox_n;

    struct wf__timers timers;
    /* User timers fired by this worker, their callbacks not yet run
     * (utimer.c); owner only. */
    struct wf__utimer *due;
    /* The user timer whose callback this worker runs (NULL: none); read
     * by wf_timer_stop on any thread. The re-arm its callback asked for:
     * owner only. */
    _Atomic(struct wf__utimer *) utimer_running;
    bool utimer_rearm;
    int64_t utimer_rearm_deadline;

    /* Sleeping: `parked` (0/1) is set under rt->idle_lock and read
     * lock-free by wakers as the reading half of a Dekker pair
     * (wf__dekker_load_int); `wake_word` is the futex. */
    _Alignas(WF__CACHELINE) atomic_int parked;
    atomic_uint wake_word;
    /* 1 while this worker, parked, may block in the I/O backend's wait
     * instead of on wake_word's futex (wf__sched_poll_arm to
     * wf__sched_poll_woke): wakers then interrupt the wait through
     * wf__hooks.io_interrupt. Written by the owner, read by wakers as the
     * reading half of a Dekker pair (sched.c, "The worker poller"). */
    atomic_int poll_sleep;
    /* Another thread handed this worker's ring work only the owner may
     * do (a cancellation, async/rings.c): set with seq_cst by
     * wf__worker_io_kick, cleared by the owner's io_round; work_visible
     * reads it (the idle Dekker, as inbox_n). */
    atomic_int io_kick;
    bool poll_unparked; /* owner only: poll_woke un-marked it */
    atomic_int tid;     /* the worker thread's kernel id (stall reports: the
                       monitor may read it while the worker starts) */

    /* Stall monitor: bumped at every switch (relaxed: a progress counter). */
    _Alignas(WF__CACHELINE) atomic_ulong nswitch;
    /* Set by the monitor while this worker has made no scheduling
     * decision for the stall threshold: thieves may then also take the
     * unpinned fibers of its inbox. Relaxed: a hint. */
    atomic_bool stalled;

    pthread_t thread;
    void *altstack;
    /* The stack the scheduler loop and every task of this worker run on
     * (mapped by wf__workers_start, unmapped by wf__workers_stop). */
    struct wf__stack *tstack;

    /* wf_stats(): owner-only counters (core/inspect.h), on lines of their
     * own so that readers do not disturb the hot lines above. */
    _Alignas(WF__CACHELINE) struct wf__wstats stats;
};

/* Plain-thread parker: one per thread that ever waited in weft, never
 * freed (type-stable, like fibers), reused by later threads. */
struct wf__tparker {
    atomic_uint word; /* 1: permit available */
    struct wf__tparker *next_free;
    struct wf__tparker *prev_wait, *next_wait; /* rt->tw_lock */
    bool waiting;                              /* rt->tw_lock */
};

/* Fiber handle slot. ctl = generation << 32 | SLOT_LOCK? | state. */
struct wf__slot {
    _Atomic uint64_t ctl;
    struct wf__fcb *fiber;  /* valid while the state is live */
    void *result;             /* written before the state becomes DONE */
    /* The joiner's wait (on its stack), written before the state becomes
     * JOINING; state 0 waiting, 1 the fiber returned. The exiting fiber
     * stores 1 before it publishes DONE_JOINED, and kicks the joiner from
     * a copy of `w` afterwards. */
    struct wf__wait *joiner;
    uint32_t next_free;       /* free list link (rt->slot_lock) */
};

enum {
    WF__S_FREE = 0,
    WF__S_LIVE,        /* running, joinable */
    WF__S_JOINING,     /* running, a joiner waits */
    WF__S_DETACHED,    /* running, nobody will join */
    WF__S_SCOPED,      /* running, its scope will wait */
    WF__S_DONE,        /* returned, result waits for a joiner */
    WF__S_DONE_JOINED, /* returned while a joiner waited: it claims it */
};
#define WF__SLOT_STATE 0xFu
#define WF__SLOT_LOCK 0x10u
#define WF__SLOT_CHUNK 4096u
#define WF__SLOT_CHUNKS 4096u
#define WF__SLOT_NONE UINT32_MAX

struct wf__rt {
    atomic_int state;          /* RT_OFF .. RT_STOPPING (runtime.c) */
    /* Starts of the runtime, counted by wf_init before any worker exists:
     * tells this run's workers from a past run's (utimer.c's runner). */
    atomic_uint gen;
    int nworkers;
    struct wf__worker *workers;
    size_t stack_size;         /* default region size */
    size_t task_stack_size;    /* usable bytes of each worker's task stack */
    bool debug_migrate;
    atomic_uint migrate_rr;

    /* Global inject queue: fibers from plain threads and spills. */
    _Alignas(WF__CACHELINE) struct wf__spin inject_lock;
    struct wf__fcb *inject_head, *inject_tail; /* inject_lock */
    atomic_long inject_n;

    /* Task inject queue: root tasks from fibers and plain threads
     * (tq.c). */
    _Alignas(WF__CACHELINE) struct wf__spin tinject_lock;
    struct wf__task *tinject_head, *tinject_tail; /* tinject_lock */
    atomic_long tinject_n;

    /* Idle workers. */
    _Alignas(WF__CACHELINE) pthread_mutex_t idle_lock;
    atomic_int nparked;    /* workers parked or about to (idle_lock) */
    atomic_int nsearching; /* workers looking for work */
    atomic_bool stopping;

    /* Handles. */
    _Alignas(WF__CACHELINE) struct wf__spin slot_lock;
    /* Chunks of the handle table: set once under slot_lock, read without
     * it (wf__slot_get); kept for the life of the process. */
    _Atomic(struct wf__slot *) chunks[WF__SLOT_CHUNKS];
    uint32_t nslots;                          /* slot_lock */
    uint32_t free_slot;                       /* slot_lock */
    bool slots_ready;   /* free_slot initialised; the table outlives runs */

    /* Scopes not yet closed (freed at shutdown if abandoned). */
    struct wf__spin scopes_lock;
    struct wf_scope *scopes;

    /* Plain threads blocked in weft calls, woken at shutdown. */
    pthread_mutex_t tw_lock;
    struct wf__tparker *tw_head;
    int tw_count;
    /* Of them, those asleep on their futex with no deadline (inspect.c's
     * deadlock watch; seq_cst RMWs around the wait). */
    atomic_int tw_asleep;
    pthread_cond_t tw_cond;

    /* Stall monitor. */
    int64_t stall_ns;
    wf_stall_fn *stall_fn;
    void *stall_arg;
    pthread_t monitor;
    bool monitor_started;
    atomic_uint mon_word;       /* futex the monitor sleeps on */
    atomic_bool mon_sleeping;   /* monitor waits for a worker to wake */

    /* Introspection (inspect.c). Live fibers and their peak: the one
     * shared counter of wf_stats (RMW per spawn and exit); fibers spawned
     * by plain threads (their own RMW: not a hot path). */
    _Alignas(WF__CACHELINE) atomic_long live;
    atomic_long live_peak;
    _Atomic uint64_t plain_spawns;
    /* Work outside the workers that may wake fibers later: blocking-pool
     * jobs queued or running (async/pool.c). The deadlock report waits
     * while it is not 0. */
    atomic_long outside_busy;
    /* Fiber dumps: the signal handler bumps dump_req (then mon_word), the
     * monitor prints one dump per change it sees. */
    int dump_signal; /* 0: none installed */
    atomic_uint dump_req;
    /* Deadlock report threshold (ns; <= 0 off) and whether this run of
     * the runtime has made its one report. */
    int64_t deadlock_ns;
    bool deadlock_reported; /* monitor only */
    unsigned dumps_done;    /* dump_req values served; monitor only (reset
                             * with dump_req at start) */
};

extern struct wf__rt wf__rt;

enum { WF__RT_OFF, WF__RT_STARTING, WF__RT_RUNNING, WF__RT_STOPPING };

/* ---- sched.c ------------------------------------------------------------ */

/* The worker running on this thread, NULL on plain threads. Not inlined,
 * and opaque to the optimiser: a fiber may resume on another thread, so a
 * cached TLS address would name the old worker (docs/ARCHITECTURE.md,
 * "Fibers move between threads"). */
struct wf__worker *wf__worker_self(void);
/* The fiber running on this thread, NULL on plain threads or between
 * fibers. Same caveat. */
struct wf__fcb *wf__fiber_self(void);
/* Mark the calling thread as one that wf_shutdown waits for (a thread of
 * the blocking-call pool, the reactor thread: upper layers' threads): a
 * wf_shutdown from it, from the work or callbacks it runs, would wait
 * for itself and returns WF_EDEADLK instead. */
void wf__thread_mark_own(void);

int wf__workers_start(struct wf__rt *rt);
void wf__workers_stop(struct wf__rt *rt);

/* Queue a runnable fiber: on this worker's run-next slot (next = true) or
 * at its queue's tail; pinned fibers go to their worker; from a plain
 * thread to the inject queue. Wakes an idle worker if one should help. */
void wf__ready(struct wf__fcb *f, bool next);
/* A fiber just spawned from this worker: run next, and what it pushes
 * out of run-next goes to lq, newest first (a tree of fibers then runs
 * depth-first; sched.c). Elsewhere as wf__ready. */
void wf__ready_spawned(struct wf__fcb *f);

/* Make f's permit available and wake it if parked (wf_unpark; any
 * thread; f may even have ended: then this is a harmless spurious
 * wake-up). Nothing inside weft uses the permit (sched.c). */
void wf__fiber_wake(struct wf__fcb *f);
/* Get f going if it is parked, without giving it the permit: for wakers
 * whose reason the parker checks itself (the word it parks on, its
 * deadline, `cancelled`), which must be stored (seq_cst) before the call.
 * f goes to this worker's run-next slot, or with _tail to the tail of
 * its queue (for a waiter likely to find more finished work when it
 * runs, such as a joiner of many fibers). */
void wf__fiber_kick(struct wf__fcb *f);
void wf__fiber_kick_tail(struct wf__fcb *f);

/* Park the calling fiber until woken through its permit (wf_unpark), the
 * deadline or cancellation: wf_park alone. Returns 0 when woken (maybe
 * spuriously), -ETIMEDOUT when the deadline has passed, -ECANCELED when
 * cancelled, -ENOMEM when no timer could be armed for the deadline. */
int wf__fiber_park(struct wf__fcb *self, int64_t deadline);
/* Take a fiber that is fully parked (PARKED -> CLAIMED): nobody else can
 * wake it now, and the caller must hand it to wf__fiber_run_claimed once
 * it has set up what the fiber will look at. false if it was not parked
 * (then store the word and kick it the usual way). Saves the Dekker store
 * of a wake-up: a fiber that is off its stack cannot be between its store
 * of PARKING and its check. */
static inline bool wf__fiber_claim_parked(struct wf__fcb *f)
{
    /* relaxed load: a cheap filter; the CAS decides (seq_cst, like every
     * other transition of wstate: it races with sched.c's resume()). */
    int s = WF__PARKED;
    return atomic_load_explicit(&f->wstate, memory_order_relaxed) ==
               WF__PARKED &&
           atomic_compare_exchange_strong_explicit(&f->wstate, &s, WF__CLAIMED,
                                                   memory_order_seq_cst,
                                                   memory_order_seq_cst);
}
/* Make a claimed fiber runnable: RUNNING (release, read by the fiber with
 * acquire when it resumes), then queued as wf__ready(f, next). */
void wf__fiber_run_claimed(struct wf__fcb *f, bool next);

/* Park while *word == expect, without the permit: the waker stores a new
 * value (seq_cst) and then kicks the fiber (wf__fiber_kick). Returns 0 when
 * the word changed or on a kick (maybe spurious: re-check the word),
 * -ETIMEDOUT, -ECANCELED or -ENOMEM as wf__fiber_park. Leaves the permit
 * alone, so a user's wf_unpark is neither consumed nor faked. Every wait
 * inside weft parks this way. */
int wf__fiber_park_word(struct wf__fcb *self, atomic_int *word, int expect,
                        int64_t deadline, enum wf__why why);
/* The same, but cancellation neither stops nor prevents the wait. */
int wf__fiber_park_word_nocancel(struct wf__fcb *self, atomic_int *word,
                                 int expect, int64_t deadline,
                                 enum wf__why why);

/* Yield: requeue at the tail and run something else. */
void wf__fiber_yield(struct wf__fcb *self);

/* The cooperative budget (as Tokio's): a fiber whose blocking calls keep
 * completing (or timing out) at once never switches, so every blocking
 * call spends one unit as it starts, and at zero the fiber yields once
 * first. Parking or yielding refills it, so only a run of calls that did
 * not switch can use it up. */
#define WF__COOP_BUDGET 128u
void wf__coop_yield(struct wf__fcb *self);
/* A blocking call of the calling fiber (self; NULL: a plain thread,
 * nothing to do) starts. */
static inline void wf__coop_spend(struct wf__fcb *self)
{
    if (self && __builtin_expect(--self->budget == 0, 0))
        wf__coop_yield(self);
}

/* Call visit(f, id, arg) for every live fiber (started, not returned), in
 * handle order, each with its slot locked (it cannot return meanwhile);
 * stop early when visit returns false. Returns how many were visited.
 * A snapshot of no single moment. Any thread while the runtime runs. */
typedef bool wf__fiber_visit_fn(struct wf__fcb *f, uint64_t id, void *arg);
size_t wf__fibers_each(struct wf__rt *rt, wf__fiber_visit_fn *visit, void *arg);

/* Leave a returned fiber for good (never returns). */
_Noreturn void wf__fiber_exit(struct wf__fcb *self);
/* The body returned `result`: run fiber-local destructors, record the
 * result, leave (fiber.c). */
_Noreturn void wf__fiber_exit_with(struct wf__fcb *self, void *result);
/* Drop a fiber's sanitizer state (it no longer runs). */
void wf__fiber_release_san(struct wf__fcb *f);

/* Initialise a fiber's context to start in its body. */
void wf__fiber_prepare(struct wf__fcb *f);

/* Finish a fiber that has returned, on the context that switched away
 * from it (fiber.c). */
void wf__fiber_finish(struct wf__worker *w, struct wf__fcb *f);

/* Check the stack canary of a fiber about to switch away (aborts with a
 * report if it was overrun). */
void wf__stack_check(struct wf__fcb *f);

/* The usable size of the serial task stack (src/par, no runtime): what the
 * last start chose, else WEFT_TASK_STACK_SIZE, else the default. 0, or
 * WF_EINVAL after config.c's line on stderr (a bad variable). Any thread. */
int wf__serial_task_stack_size(size_t *out);

/* Report a stack overflow of f and abort (async-signal-safe). */
_Noreturn void wf__overflow_abort(struct wf__fcb *f, const char *how);

/* Work was made runnable outside the fiber queues (a root task): wake an
 * idle worker if none is searching. Any thread. */
void wf__sched_notify(struct wf__rt *rt);

/* ---- tasks (tq.c): the deques and inject queue the scheduler loop reads -- */

/* A task from the task inject queue or (deques) another worker's deque,
 * or NULL. */
struct wf__task *wf__task_find(struct wf__worker *w, bool deques);
/* One pass over the other workers' deques, after the inject queue if
 * with_inject; a task or NULL. */
struct wf__task *wf__task_steal(struct wf__worker *w, bool with_inject);
/* Append t to the task inject queue and wake an idle worker. Any thread. */
void wf__task_inject(struct wf__rt *rt, struct wf__task *t);
/* Tasks anywhere (seq_cst loads, for workers deciding to sleep). */
bool wf__tasks_visible(struct wf__rt *rt);

/* ---- hooks: what the core has the layers above it do ------------------- */

/*
 * The core names no function of a higher layer. Where it needs one done,
 * it calls through this table, which those layers fill in from a
 * constructor in the file that holds the function, that is at program
 * (or library) load, before any thread of the runtime exists; the table
 * is never written again. A slot stays NULL only when the file that
 * would fill it is not linked in (a static link that uses no tasks, or
 * no pool and no reactor), and then nothing the hook serves can exist.
 */
struct wf__hooks {
    /* par (task.c): run a task found by wf__task_find on the scheduler
     * loop's stack. Every task comes from par, so a found task means the
     * slot is filled. */
    void (*run_task)(struct wf__worker *w, struct wf__task *t);
    /* async (async.c; filled in by pool.c and reactor.c): stop the
     * blocking pool and the reactor. wf_shutdown calls it once the runtime
     * is STOPPING and before the workers stop. */
    void (*async_shutdown)(void);
    /* async (reactor.c): the workers' own I/O poll (sched.c, "The worker
     * poller"). io_poll(w, deadline) polls the reactor's backend from
     * worker w's scheduler loop and dispatches what it finds there, so
     * the fibers it wakes go to w's queues. deadline 0: do not block;
     * else w is parked and may block until an event, the deadline or an
     * io_interrupt, if wf__sched_poll_arm(w) allows; then it calls
     * wf__sched_poll_woke(w) before it dispatches. Returns the events
     * found, or -1 when it polled nothing (no backend that workers poll,
     * or another thread holds the poller token). io_interrupt() makes a
     * blocked (or the next) poll return; any thread. */
    int (*io_poll)(struct wf__worker *w, int64_t deadline);
    void (*io_interrupt)(void);
    /* async (rings.c): the worker's own io_uring. io_round(w, idle) runs
     * on w's thread, no fiber's stack needed, at each scheduling decision
     * while w->io_active or w->io_kick is set (idle false: submit every
     * few decisions, reap what completed) and before w looks for work
     * elsewhere or sleeps (idle true: submit everything queued). io_exit(w)
     * runs on w's thread as it leaves its loop at shutdown: no operation
     * may stay in flight on the ring (the kernel would cancel them with
     * the thread). io_free(w) runs once every worker is joined. */
    void (*io_round)(struct wf__worker *w, bool idle);
    void (*io_exit)(struct wf__worker *w);
    void (*io_free)(struct wf__worker *w);
};
extern struct wf__hooks wf__hooks;

/* The worker poller (sched.c), called by io_poll: arm says whether w may
 * block in the backend now (no wake-up came since it parked; from here
 * on wakers interrupt it instead of waking its futex); woke ends the
 * blocking part, armed or not, and un-marks w as parked. missed: a
 * worker that wanted to block in the poll found the token held by
 * another thread and sleeps on its futex; wake one so that it tries
 * again. */
bool wf__sched_poll_arm(struct wf__worker *w);
void wf__sched_poll_woke(struct wf__worker *w);
void wf__sched_poll_missed(void);

/* A timer was added to t's heap by another thread: wake t if it sleeps,
 * since it may sleep past the new deadline (sched.c). */
void wf__worker_timers_changed(struct wf__worker *t);

/* Another thread left ring work for t's own thread (wf__hooks.io_round):
 * set t->io_kick and wake t if it sleeps (sched.c). Any thread. */
void wf__worker_io_kick(struct wf__worker *t);

/* ---- utimer.c ------------------------------------------------------------ */

/* Run the callbacks of the user timers w fired: w's own thread, on its
 * scheduler loop's stack (no fiber current), no lock held. */
void wf__utimers_drain(struct wf__worker *w);
/* Runtime shutdown (workers stopped): forget w's due timers unrun. */
void wf__utimers_discard(struct wf__worker *w);

/* ---- waiting (runtime.c) -------------------------------------------------- */

/* The waiter API (wf__waiter_*, wf__wait_*) is in core/waitrec.h. */

/* ---- fiber.c ------------------------------------------------------------ */

int wf__spawn(struct wf_fiber *out, const struct wf_fiber_opts *opts,
              wf_fiber_fn *fn, void *arg, struct wf_scope *scope);
/* The slot a handle id names, or NULL if no such slot exists. Any thread,
 * no lock (the table only grows). */
static inline struct wf__slot *wf__slot_get(uint64_t id)
{
    uint32_t low = (uint32_t)id;
    if (low == 0 || (low - 1) / WF__SLOT_CHUNK >= WF__SLOT_CHUNKS)
        return NULL;
    uint32_t idx = low - 1;
    /* acquire: pairs with the release store that published the chunk. */
    struct wf__slot *chunk = atomic_load_explicit(
        &wf__rt.chunks[idx / WF__SLOT_CHUNK], memory_order_acquire);
    return chunk ? &chunk[idx % WF__SLOT_CHUNK] : NULL;
}
/* Lock a live handle's slot; returns the fiber, or NULL (slot unlocked)
 * when id is not live. */
struct wf__fcb *wf__slot_lock(struct wf__slot *s, uint64_t id);
void wf__slot_unlock(struct wf__slot *s);
/* Cancel a fiber whose slot lock the caller holds. */
void wf__cancel_locked(struct wf__fcb *f);
/* Runtime shutdown: free every slot, moving its generation on (fiber.c). */
void wf__slots_retire(struct wf__rt *rt);
/* Fibers discarded at shutdown: unlink the records of their waits from
 * the objects that outlive the runtime, free their fiber-local storage.
 * Returns how many there were (wf_shutdown_discarded()). */
size_t wf__fibers_abandon(struct wf__rt *rt);

/* ---- scope.c ------------------------------------------------------------ */

/* Link a new member (before it can run). WF_EINVAL if s is closing. */
int wf__scope_add(struct wf_scope *s, struct wf__fcb *f);
/* A member returned: unlink it and wake the scope's waiter if it was the
 * last one. */
void wf__scope_member_exit(struct wf_scope *s, struct wf__fcb *f);
/* Cancel every member of the scopes that f has open (f's slot locked). */
void wf__scope_cancel_owned(struct wf__fcb *f);
void wf__scopes_abandon(struct wf__rt *rt);

/* ---- inspect.c ----------------------------------------------------------- */

/* A fiber spawned (from worker w, NULL: a plain thread) or returned on w. */
void wf__inspect_spawned(struct wf__rt *rt, struct wf__worker *w);
/* Add worker w's batch of spawns and exits to the shared live count and
 * its peak (core/inspect.h). Only w's own thread. */
void wf__inspect_flush_live(struct wf__rt *rt, struct wf__worker *w);
static inline void wf__inspect_exited(struct wf__rt *rt, struct wf__worker *w)
{
    wf__stat_inc(&w->stats.exits);
    /* relaxed: owner-only, as every counter of w (core/inspect.h). */
    int64_t d =
        atomic_load_explicit(&w->stats.live_delta, memory_order_relaxed) - 1;
    atomic_store_explicit(&w->stats.live_delta, d, memory_order_relaxed);
    if (d <= -WF__LIVE_BATCH)
        wf__inspect_flush_live(rt, w);
}
/* The calling fiber f parks on worker w, or has started running after a
 * park (or for the first time). */
static inline void wf__inspect_parked(struct wf__worker *w, struct wf__fcb *f)
{
    wf__stat_inc(&w->stats.parks);
    /* relaxed: owner-only (core/inspect.h). */
    if (atomic_load_explicit(&w->stats.live_delta, memory_order_relaxed))
        wf__inspect_flush_live(w->rt, w);
    /* relaxed: reports (core_int.h, struct wf__fcb). */
    atomic_store_explicit(&f->since, wf__inspect_clock(), memory_order_relaxed);
    atomic_store_explicit(&f->last_worker, w->index, memory_order_relaxed);
}
/* Worker w is about to sleep: its batch of spawns and exits goes to the
 * shared count (core/inspect.h). */
static inline void wf__inspect_idle(struct wf__worker *w)
{
    /* relaxed: owner-only. */
    if (atomic_load_explicit(&w->stats.live_delta, memory_order_relaxed))
        wf__inspect_flush_live(w->rt, w);
}
static inline void wf__inspect_running(struct wf__fcb *f)
{
    /* relaxed: a report. */
    atomic_store_explicit(&f->since, wf__inspect_clock(), memory_order_relaxed);
}
/* A plain thread is busy inside a weft call that no wait record shows (a
 * wf_sleep, a wf_once function it runs): the deadlock watch must not
 * report meanwhile (core/inspect.c). seq_cst, no order needed: a count
 * the watch confirms over a quiet period. */
static inline void wf__outside_begin(void)
{
    atomic_fetch_add_explicit(&wf__rt.outside_busy, 1, memory_order_seq_cst);
}
static inline void wf__outside_end(void)
{
    atomic_fetch_sub_explicit(&wf__rt.outside_busy, 1, memory_order_seq_cst);
}
/* An I/O wait of the calling context begins (counted for fibers only). */
void wf__inspect_io(void);
/* Runtime start: reset the shared counters and the state clock (before
 * the workers start and RUNNING is published: a count made by a thread
 * that saw RUNNING must not be wiped), then, once running, install the
 * dump signal's handler (rt->dump_signal); stop: restore the old one. */
void wf__inspect_reset(struct wf__rt *rt);
int wf__inspect_start(struct wf__rt *rt);
void wf__inspect_stop(struct wf__rt *rt);
/* On the monitor thread: print a dump if a signal asked for one. */
void wf__inspect_poll_dump(struct wf__rt *rt);
/* The monitor's deadlock watch: when the current quiet period began (0:
 * none; the monitor clears it whenever a worker is not parked) and the
 * workers' progress counters then. */
struct wf__dlwatch {
    int64_t since;
    uint64_t progress;
};
/* On the monitor thread, while every worker is parked: the deadlock
 * watch (inspect.c). Returns when to look again (WF_FOREVER: never). */
int64_t wf__inspect_deadlock(struct wf__rt *rt, struct wf__dlwatch *dw,
                             int64_t now);

/* ---- monitor.c ---------------------------------------------------------- */

int wf__monitor_start(struct wf__rt *rt);
void wf__monitor_stop(struct wf__rt *rt);
/* A worker left its parked state: let a sleeping monitor watch again. */
void wf__monitor_kick(struct wf__rt *rt);

#endif
