/* SPDX-License-Identifier: MIT */
/*
 * The runtime's life cycle: configuration, start, stop; plus what waits
 * outside fibers (plain-thread parkers) and what reports fatal states
 * (stack overflow, panics).
 *
 * Configuration takes each wf_config field that is set, else its WEFT_*
 * variable, else the default; config.c reads and checks every variable,
 * once per start, before anything is started.
 *
 * There is one runtime per process (the global wf__rt). rt->state moves
 * OFF -> STARTING -> RUNNING -> STOPPING -> OFF by CAS, so concurrent
 * wf_init calls cannot both start it.
 *
 * Plain threads wait on a futex in a per-thread parker with the same permit
 * semantics as fibers. Parkers are never freed (a thread that exits gives
 * its parker to a free list for the next thread), so a late wake of a
 * thread that has moved on is a spurious wake-up, as for fibers. While a
 * plain thread waits, its parker is on rt->tw_head so that wf_shutdown can
 * wake it (its call then returns WF_ESHUTDOWN) and wait for it to leave.
 *
 * Stack overflow. Every worker has an alternate signal stack; the SIGSEGV
 * handler checks whether the fault address is in the guard page of the
 * fiber running on this worker, or of the worker's task stack (where its
 * scheduler loop and tasks run), and if so writes a report naming the
 * fiber, or the worker and the task stack setting, with write(2) only
 * (async-signal-safe) and aborts. Other faults are
 * handed to the previous handler by restoring it and returning, so the
 * instruction faults again under it (sanitizers' handlers included).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fault.h"
#include "config.h"
#include "core_int.h"
#include "core_test.h"
#include "trace/trace.h"

struct wf__rt wf__rt;
struct wf__hooks wf__hooks;

#define DEFAULT_STACK (128u * 1024u)
/* The task stack size the last start chose (0: none yet): the size of the
 * serial stack while no runtime runs. Relaxed: a setting on its own. */
static _Atomic size_t last_task_stack;
#define DEFAULT_STALL_NS (100 * WF_MSEC)

/* ---- fatal reports ------------------------------------------------------- */

_Noreturn void wf__panic(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "weft: panic at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

_Noreturn void wf__misuse(const char *call, const char *what)
{
    fprintf(stderr, "weft: %s: %s\n", call, what);
    abort();
}

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_u64(char *buf, size_t at, size_t cap, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && at + 1 < cap)
        buf[at++] = tmp[--n];
    return at;
}

_Noreturn void wf__overflow_abort(struct wf__fcb *f, const char *how)
{
    char buf[256];
    size_t n = 0;
    n = put_str(buf, n, sizeof buf, "weft: stack overflow (");
    n = put_str(buf, n, sizeof buf, how);
    n = put_str(buf, n, sizeof buf, ") in fiber ");
    n = put_u64(buf, n, sizeof buf, f->id);
    n = put_str(buf, n, sizeof buf, " '");
    n = put_str(buf, n, sizeof buf, f->name);
    n = put_str(buf, n, sizeof buf, "', stack of ");
    n = put_u64(buf, n, sizeof buf, (uint64_t)((char *)f - f->st.lo));
    n = put_str(buf, n, sizeof buf, " bytes; raise wf_fiber_opts.stack_size "
                                    "or WEFT_STACK_SIZE\n");
    ssize_t r = write(STDERR_FILENO, buf, n);
    (void)r;
    abort();
}

static _Noreturn void task_overflow_abort(struct wf__worker *w)
{
    char buf[256];
    size_t n = 0;
    n = put_str(buf, n, sizeof buf, "weft: stack overflow (guard page hit) "
                                    "in a task on worker ");
    n = put_u64(buf, n, sizeof buf, (uint64_t)w->index);
    n = put_str(buf, n, sizeof buf, ", task stack of ");
    n = put_u64(buf, n, sizeof buf, (uint64_t)w->rt->task_stack_size);
    n = put_str(buf, n, sizeof buf, " bytes; raise wf_config.task_stack_size "
                                    "or WEFT_TASK_STACK_SIZE\n");
    ssize_t r = write(STDERR_FILENO, buf, n);
    (void)r;
    abort();
}

void wf__stack_check(struct wf__fcb *f)
{
    uint64_t *c = f->st.canary;
    if (c && (c[0] != WF__STACK_CANARY || c[1] != WF__STACK_CANARY))
        wf__overflow_abort(f, "canary overwritten");
}

static struct sigaction old_segv, old_bus;
static bool handlers_installed;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    struct wf__worker *w = wf__worker_self();
    struct wf__fcb *f =
        w ? atomic_load_explicit(&w->current, memory_order_relaxed) : NULL;
    if (f && f->st.guarded && wf__stack_in_guard(&f->st, si->si_addr))
        wf__overflow_abort(f, "guard page hit");
    if (w && w->tstack && wf__stack_in_guard(w->tstack, si->si_addr))
        task_overflow_abort(w);
    /* Not ours: let the previous handler see the fault again. */
    sigaction(sig, sig == SIGSEGV ? &old_segv : &old_bus, NULL);
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &old_segv) == 0 &&
        sigaction(SIGBUS, &sa, &old_bus) == 0)
        handlers_installed = true;
}

static void restore_handlers(void)
{
    if (!handlers_installed)
        return;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    handlers_installed = false;
}

/* ---- plain-thread parkers ------------------------------------------------ */

static struct wf__spin tp_lock;
static struct wf__tparker *tp_free; /* tp_lock */
static pthread_key_t tp_key;
static pthread_once_t tp_once = PTHREAD_ONCE_INIT;
static WF__TLS struct wf__tparker *tls_tp;

static void tp_release(void *p)
{
    struct wf__tparker *tp = p;
    wf__spin_lock(&tp_lock);
    tp->next_free = tp_free;
    tp_free = tp;
    wf__spin_unlock(&tp_lock);
}

static void tp_init_key(void)
{
    pthread_key_create(&tp_key, tp_release);
}

static struct wf__tparker *thread_parker(void)
{
    struct wf__tparker *tp = tls_tp;
    if (tp)
        return tp;
    pthread_once(&tp_once, tp_init_key);
    wf__spin_lock(&tp_lock);
    tp = tp_free;
    if (tp)
        tp_free = tp->next_free;
    wf__spin_unlock(&tp_lock);
    if (!tp) {
        /* Never freed: type-stable for late wakers (see top comment). */
        tp = wf__calloc(1, sizeof *tp);
        if (!tp)
            return NULL;
    }
    /* seq_cst, no order needed: the parker is this thread's alone now; a
     * late waker's exchange at worst leaves one early return. */
    atomic_store_explicit(&tp->word, 0, memory_order_seq_cst);
    tls_tp = tp;
    pthread_setspecific(tp_key, tp);
    return tp;
}

/* Bracket a plain thread's wait so that shutdown can wake it. */
static void thread_wait_begin(struct wf__tparker *tp)
{
    struct wf__rt *rt = &wf__rt;
    pthread_mutex_lock(&rt->tw_lock);
    tp->prev_wait = NULL;
    tp->next_wait = rt->tw_head;
    if (rt->tw_head)
        rt->tw_head->prev_wait = tp;
    rt->tw_head = tp;
    tp->waiting = true;
    rt->tw_count++;
    pthread_mutex_unlock(&rt->tw_lock);
}

static void thread_wait_end(struct wf__tparker *tp)
{
    struct wf__rt *rt = &wf__rt;
    pthread_mutex_lock(&rt->tw_lock);
    if (tp->waiting) {
        if (tp->prev_wait)
            tp->prev_wait->next_wait = tp->next_wait;
        else
            rt->tw_head = tp->next_wait;
        if (tp->next_wait)
            tp->next_wait->prev_wait = tp->prev_wait;
        tp->waiting = false;
        if (--rt->tw_count == 0)
            pthread_cond_broadcast(&rt->tw_cond);
    }
    pthread_mutex_unlock(&rt->tw_lock);
}

const char *wf__why_name(enum wf__why why)
{
    static const char *const names[WF__WHY_COUNT] = {
        [WF__WHY_NONE] = "",
        [WF__WHY_PARK] = "park",
        [WF__WHY_SLEEP] = "sleep",
        [WF__WHY_JOIN] = "join",
        [WF__WHY_SCOPE] = "scope",
        [WF__WHY_CHAN] = "chan",
        [WF__WHY_MUTEX] = "mutex",
        [WF__WHY_RWLOCK] = "rwlock",
        [WF__WHY_COND] = "cond",
        [WF__WHY_SEM] = "sem",
        [WF__WHY_WAITGROUP] = "waitgroup",
        [WF__WHY_BARRIER] = "barrier",
        [WF__WHY_ONCE] = "once",
        [WF__WHY_EVENT] = "event",
        [WF__WHY_FUTURE] = "future",
        [WF__WHY_IO] = "io",
        [WF__WHY_TASKS] = "tasks",
    };
    return (unsigned)why < WF__WHY_COUNT ? names[why] : "?";
}

int wf__thread_parker_ready(void)
{
    if (wf__fiber_self() || tls_tp)
        return 0;
    return thread_parker() ? 0 : WF_ENOMEM;
}

void wf__waiter_self(struct wf__waiter *w)
{
    w->fiber = wf__fiber_self();
    w->tp = NULL;
    if (!w->fiber) {
        w->tp = thread_parker();
        if (!w->tp)
            WF_PANIC("a plain thread waits without its parker (no memory; "
                     "wf__thread_parker_ready was not called)");
        thread_wait_begin(w->tp);
    }
}

int wf__wait_init_thread(struct wf__wait *wt)
{
    /* A plain thread can block only while a runtime runs (its parker
     * registry lives in the runtime). acquire: pairs with wf_init's
     * release store of RUNNING. */
    if (atomic_load_explicit(&wf__rt.state, memory_order_acquire) !=
        WF__RT_RUNNING)
        return WF_ESHUTDOWN;
    if (wf__thread_parker_ready() < 0)
        return WF_ENOMEM;
    wf__waiter_self(&wt->w);
    return 0;
}

void wf__waiter_done(struct wf__waiter *w)
{
    if (w->tp)
        thread_wait_end(w->tp);
}

/* A plain thread's half of park-on-word: its parker's word is the futex
 * (1: a wake-up is pending). The waker stores the word, then sets the
 * parker and wakes it; we clear the parker, then look at the word: either
 * we see the new word, or the parker is set again and the futex wait
 * returns at once. A stale wake-up left on the parker makes one wait
 * return early, which the caller's loop absorbs. */
static int thread_park_word(struct wf__tparker *tp, atomic_int *word,
                            int expect, int64_t deadline, enum wf__why why)
{
    /* The deadlock watch counts this thread as stuck only in a wait that
     * nothing but weft can end (waitrec.h); in any other it is busy. */
    bool stuck = deadline == WF_FOREVER && wf__why_sure(why);
    /* seq_cst, no order needed: an early look, repeated below. */
    if (atomic_load_explicit(word, memory_order_seq_cst) != expect)
        return 0;
    /* seq_cst: the store comes before the looks below, against the
     * waker's (and wf_shutdown's) store of the word or state and then of
     * the parker. This is the writing half of the Dekker; its pair is
     * thread_kick's exchange (and wf_shutdown's store of tp->word). */
    atomic_store_explicit(&tp->word, 0, memory_order_seq_cst);
    /* seq_cst: the reading half, against the waker's store of the word
     * and wf_shutdown's CAS of state. */
    if (atomic_load_explicit(word, memory_order_seq_cst) != expect)
        return 0;
    if (atomic_load_explicit(&wf__rt.state, memory_order_seq_cst) !=
        WF__RT_RUNNING)
        return -ESHUTDOWN;
    if (deadline != WF_FOREVER && wf_now() >= deadline)
        return -ETIMEDOUT;
    if (stuck) /* seq_cst, no order needed: a report */
        atomic_fetch_add_explicit(&wf__rt.tw_asleep, 1, memory_order_seq_cst);
    wf__futex_wait(&tp->word, 0, deadline);
    if (stuck) /* as above */
        atomic_fetch_sub_explicit(&wf__rt.tw_asleep, 1, memory_order_seq_cst);
    /* seq_cst: after the wake, see what the waker stored before its
     * exchange of tp->word. */
    if (atomic_load_explicit(word, memory_order_seq_cst) != expect)
        return 0;
    if (atomic_load_explicit(&wf__rt.state, memory_order_seq_cst) !=
        WF__RT_RUNNING)
        return -ESHUTDOWN;
    if (deadline != WF_FOREVER && wf_now() >= deadline)
        return -ETIMEDOUT;
    return 0;
}

int wf__waiter_park_word(struct wf__waiter *w, atomic_int *word, int expect,
                         int64_t deadline, enum wf__why why)
{
    if (w->fiber)
        return wf__fiber_park_word(w->fiber, word, expect, deadline, why);
    return thread_park_word(w->tp, word, expect, deadline, why);
}

int wf__waiter_park_word_nocancel(struct wf__waiter *w, atomic_int *word,
                                  int expect, int64_t deadline,
                                  enum wf__why why)
{
    if (w->fiber)
        return wf__fiber_park_word_nocancel(w->fiber, word, expect, deadline,
                                            why);
    return thread_park_word(w->tp, word, expect, deadline, why);
}

static void thread_kick(struct wf__tparker *tp)
{
    /* seq_cst: after the waker's store of the word; the writing half
     * against thread_park_word's store of tp->word and its re-read. */
    if (!atomic_exchange_explicit(&tp->word, 1, memory_order_seq_cst))
        wf__futex_wake(&tp->word, 1);
}

void wf__waiter_kick(const struct wf__waiter *w)
{
    if (w->fiber)
        wf__fiber_kick(w->fiber);
    else
        thread_kick(w->tp);
}

void wf__waiter_kick_tail(const struct wf__waiter *w)
{
    if (w->fiber)
        wf__fiber_kick_tail(w->fiber);
    else
        thread_kick(w->tp);
}

/* ---- configuration ---------------------------------------------------------- */

static long max_map_count(void)
{
    long v = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

/* The settings: each wf_config field that is not 0, else its variable
 * (config.c, every one read and checked here even when a field overrides
 * it), else the default. A field out of its range (config.h, the same as
 * its variable's) is WF_EINVAL without a report: the caller holds the
 * value; a bad variable is reported on stderr by config.c. */
/* WEFT_TRACE: start tracing into the file. A file that cannot be made
 * fails the start like a bad value; a build without the tracer, or a
 * trace already started by wf_trace_start, only says so. */
static int start_env_trace(const char *path)
{
    int err = wf__trace_env_start(path);
    if (err == WF_ENOSYS || err == WF_EALREADY) {
        wf__config_reject(
            "WEFT_TRACE",
            err == WF_ENOSYS
                ? "ignored: this build has no tracer (-DWEFT_TRACE=OFF)"
                : "ignored: tracing is already on (wf_trace_start)");
        return 0;
    }
    if (err) {
        char why[160];
        snprintf(why, sizeof why, "cannot create the file: %s",
                 wf_strerror(err));
        wf__config_reject("WEFT_TRACE", why);
    }
    return err;
}

/* What the trace layer asks of the core (src/trace/trace.h). */
static uint64_t trace_fiber_id(void)
{
    struct wf__fcb *f = wf__fiber_self();
    return f ? f->id : 0;
}

static const char *trace_why_name(int why)
{
    return wf__why_name((enum wf__why)why);
}

__attribute__((constructor)) static void hook_trace(void)
{
    wf__trace_hooks.why_name = trace_why_name;
    wf__trace_hooks.fiber_id = trace_fiber_id;
}

static int configure(struct wf__rt *rt, const struct wf_config *cfg,
                     long *guard_cap)
{
    struct wf_config c = {0};
    struct wf__env env;
    if (cfg)
        c = *cfg;
    if (c.workers < 0 || c.workers > WF__WORKERS_MAX ||
        c.stack_size > WF__STACK_MAX ||
        (c.task_stack_size != 0 && (c.task_stack_size < WF__TASK_STACK_MIN ||
                                    c.task_stack_size > WF__TASK_STACK_MAX)) ||
        c.guarded_stacks < -1 || c.guarded_stacks > WF__GUARDED_MAX ||
        (c.stall_ns > 0 &&
         (c.stall_ns < WF__STALL_MIN_NS || c.stall_ns > WF__STALL_MAX_NS)) ||
        c.dump_signal < -1 || c.dump_signal > WF__SIGNAL_MAX ||
        (c.dump_signal > 0 && !wf__config_signal_ok(c.dump_signal)) ||
        (c.deadlock_ns > 0 && (c.deadlock_ns < WF__DEADLOCK_MIN_NS ||
                               c.deadlock_ns > WF__DEADLOCK_MAX_NS)))
        return WF_EINVAL;
    int err = wf__config_read_env(&env);
    if (err)
        return err;

    if (c.workers == 0)
        c.workers = (int)env.workers;
    if (c.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.workers = n < 1 ? 1 : n > WF__WORKERS_MAX ? WF__WORKERS_MAX : (int)n;
    }
    if (c.stack_size == 0)
        c.stack_size = env.stack_size ? env.stack_size : DEFAULT_STACK;
    if (c.task_stack_size == 0)
        c.task_stack_size = env.task_stack_size ? env.task_stack_size
                                                : WF__TASK_STACK_DEFAULT;
    if (c.guarded_stacks == 0)
        c.guarded_stacks = env.guarded_stacks;
    if (c.guarded_stacks == 0)
        c.guarded_stacks = max_map_count() / 4;
    if (c.stall_ns == 0)
        c.stall_ns = env.stall_ns ? env.stall_ns : DEFAULT_STALL_NS;
    if (c.stall_ns < 0)
        c.stall_ns = -1;
    if (c.dump_signal == 0)
        c.dump_signal = env.dump_signal; /* 0 unset, -1 off */
    if (c.deadlock_ns == 0)
        c.deadlock_ns = env.deadlock_ns; /* 0 unset, -1 off */

    *guard_cap = c.guarded_stacks;
    rt->nworkers = c.workers;
    rt->stall_ns = c.stall_ns;
    rt->stall_fn = c.stall_fn;
    rt->stall_arg = c.stall_arg;
    rt->dump_signal = c.dump_signal > 0 ? c.dump_signal : 0;
    rt->deadlock_ns = c.deadlock_ns > 0 ? c.deadlock_ns : 0;
    rt->debug_migrate = env.debug_migrate;
    rt->stack_size = wf__stack_round(c.stack_size);
    rt->task_stack_size = c.task_stack_size;
    wf__trace_set_events(env.trace_events ? env.trace_events : 1L << 20);
    wf__trace_workers(c.workers);
    err = env.trace ? start_env_trace(env.trace) : 0;
    if (err)
        return err;
    atomic_store_explicit(&last_task_stack, c.task_stack_size,
                          memory_order_relaxed); /* a setting, no pair */
    return 0;
}

int wf__serial_task_stack_size(size_t *out)
{
    /* relaxed: a setting on its own, no pair */
    size_t n = atomic_load_explicit(&last_task_stack, memory_order_relaxed);
    if (n == 0) {
        struct wf__env env;
        memset(&env, 0, sizeof env);
        int err = wf__config_read_var("WEFT_TASK_STACK_SIZE", &env);
        if (err)
            return err;
        n = env.task_stack_size ? env.task_stack_size : WF__TASK_STACK_DEFAULT;
        /* Kept, so that later serial calls neither look the variable up
         * nor parse it again; a runtime start replaces it. An error is
         * not kept: the call fails, and the next one reads again. */
        size_t none = 0;
        atomic_compare_exchange_strong_explicit(&last_task_stack, &none, n,
                                                memory_order_relaxed,
                                                memory_order_relaxed);
    }
    *out = n;
    return 0;
}

/* ---- start and stop ----------------------------------------------------------- */

static void reset(struct wf__rt *rt)
{
    rt->workers = NULL;
    /* seq_cst, no order needed: as below. */
    atomic_fetch_add_explicit(&rt->gen, 1, memory_order_seq_cst);
    rt->inject_head = rt->inject_tail = NULL;
    /* seq_cst, no order needed here and below: no worker or monitor
     * exists yet; pthread_create publishes these. */
    atomic_store_explicit(&rt->inject_n, 0, memory_order_seq_cst);
    atomic_store_explicit(&rt->nparked, 0, memory_order_seq_cst);
    atomic_store_explicit(&rt->nsearching, 0, memory_order_seq_cst);
    atomic_store_explicit(&rt->stopping, false, memory_order_seq_cst);
    atomic_store_explicit(&rt->migrate_rr, 0, memory_order_seq_cst);
    if (!rt->slots_ready) { /* the handle table outlives runtimes */
        rt->nslots = 0;
        rt->free_slot = WF__SLOT_NONE;
        rt->slots_ready = true;
    }
    rt->scopes = NULL;
    rt->tw_head = NULL;
    rt->tw_count = 0;
    rt->monitor_started = false;
    atomic_store_explicit(&rt->mon_word, 0, memory_order_seq_cst);
    atomic_store_explicit(&rt->mon_sleeping, false, memory_order_seq_cst);
}

/* Fibers the last shutdown discarded (wf_shutdown_discarded). */
static atomic_size_t last_discarded;

static void teardown(struct wf__rt *rt)
{
    /* relaxed: a count on its own; a reader on another thread orders it
     * after wf_shutdown's return through its own synchronisation. */
    atomic_store_explicit(&last_discarded, wf__fibers_abandon(rt),
                          memory_order_relaxed);
    wf__scopes_abandon(rt);
    wf__slots_retire(rt);
    wf__stack_release_all();
    free(rt->workers);
    rt->workers = NULL;
    restore_handlers();
    pthread_mutex_destroy(&rt->idle_lock);
    pthread_mutex_destroy(&rt->tw_lock);
    pthread_cond_destroy(&rt->tw_cond);
}

int wf_init(const struct wf_config *cfg)
{
    struct wf__rt *rt = &wf__rt;
    long guard_cap;

    if (wf__worker_self())
        return WF_EPERM; /* a fiber (or task) on a worker: the wrong place */
    int expect = WF__RT_OFF;
    /* seq_cst: decides between racing wf_init calls (and against
     * wf_shutdown's CAS); nothing is published through it yet. */
    if (!atomic_compare_exchange_strong_explicit(
            &rt->state, &expect, WF__RT_STARTING, memory_order_seq_cst,
            memory_order_seq_cst))
        return WF_EALREADY;
    reset(rt);
    int err = configure(rt, cfg, &guard_cap);
    if (err)
        goto out_off;
    pthread_mutex_init(&rt->idle_lock, NULL);
    pthread_mutex_init(&rt->tw_lock, NULL);
    pthread_cond_init(&rt->tw_cond, NULL);
    wf__stack_setup(rt->stack_size, guard_cap);
    rt->workers = wf__aligned_alloc(WF__CACHELINE,
                                    sizeof *rt->workers * (size_t)rt->nworkers);
    if (!rt->workers) {
        err = WF_ENOMEM;
        goto out_locks;
    }
    memset(rt->workers, 0, sizeof *rt->workers * (size_t)rt->nworkers);
    install_handlers();
    wf__inspect_reset(rt); /* before anyone can count */
    err = wf__workers_start(rt);
    if (err)
        goto out_workers;
    /* release: publishes the configured runtime to wf_go callers. */
    atomic_store_explicit(&rt->state, WF__RT_RUNNING, memory_order_release);
    err = wf__inspect_start(rt);
    if (!err)
        err = wf__monitor_start(rt);
    if (err) {
        wf_shutdown();
        return err;
    }
    return 0;

out_workers:
    for (int i = 0; i < rt->nworkers; i++) {
        wf__deque_destroy(&rt->workers[i].dq);
        wf__deque_destroy(&rt->workers[i].lq);
        wf__tq_destroy(&rt->workers[i].tq); /* task deque (tq.c) */
    }
    restore_handlers();
    free(rt->workers);
    rt->workers = NULL;
out_locks:
    wf__trace_env_stop(); /* a trace WEFT_TRACE started is written */
    wf__trace_workers(0);
    pthread_mutex_destroy(&rt->idle_lock);
    pthread_mutex_destroy(&rt->tw_lock);
    pthread_cond_destroy(&rt->tw_cond);
out_off:
    /* seq_cst: after the teardown above, seen by the next wf_init's CAS. */
    atomic_store_explicit(&rt->state, WF__RT_OFF, memory_order_seq_cst);
    return err;
}

/* Set on threads wf_shutdown waits for (wf__thread_mark_own). */
static WF__TLS bool own_thread;

void wf__thread_mark_own(void)
{
    own_thread = true;
}

int wf_shutdown(void)
{
    struct wf__rt *rt = &wf__rt;
    if (wf__worker_self())
        return WF_EPERM;
    if (own_thread)
        return WF_EDEADLK; /* it would join the thread it runs on */
    int expect = WF__RT_RUNNING;
    /* seq_cst: the writing half against thread_park_word's loads of
     * state (after its store of tp->word); the loop below then stores
     * and wakes every parker on tw_head. */
    if (!atomic_compare_exchange_strong_explicit(
            &rt->state, &expect, WF__RT_STOPPING, memory_order_seq_cst,
            memory_order_seq_cst))
        return WF_ESHUTDOWN;

    /* Plain threads blocked in weft calls return WF_ESHUTDOWN. */
    pthread_mutex_lock(&rt->tw_lock);
    for (struct wf__tparker *tp = rt->tw_head; tp; tp = tp->next_wait) {
        /* seq_cst: as thread_kick's exchange (under tw_lock). */
        atomic_store_explicit(&tp->word, 1, memory_order_seq_cst);
        wf__futex_wake(&tp->word, 1);
    }
    while (rt->tw_count > 0)
        pthread_cond_wait(&rt->tw_cond, &rt->tw_lock);
    pthread_mutex_unlock(&rt->tw_lock);

    if (wf__hooks.async_shutdown) /* src/async: blocking pool and reactor */
        wf__hooks.async_shutdown();
    wf__monitor_stop(rt);
    wf__inspect_stop(rt);
    wf__workers_stop(rt);
    int terr =
        wf__trace_env_stop(); /* WEFT_TRACE's file, once all is recorded */
    if (terr) {
        char why[160];
        snprintf(why, sizeof why, "writing the trace failed: %s",
                 wf_strerror(terr));
        wf__config_reject("WEFT_TRACE", why);
    }
    wf__trace_workers(0); /* a trace from now on has no worker tracks */
    teardown(rt);
    /* seq_cst: after the teardown, seen by the next wf_init's CAS. */
    atomic_store_explicit(&rt->state, WF__RT_OFF, memory_order_seq_cst);
    return 0;
}

size_t wf_shutdown_discarded(void)
{
    /* relaxed: see teardown */
    return atomic_load_explicit(&last_discarded, memory_order_relaxed);
}

int wf_run(const struct wf_config *cfg, wf_fiber_fn *main_fn, void *arg,
           void **result)
{
    struct wf_fiber main_fiber;
    void *res = NULL;

    if (wf__worker_self())
        return WF_EPERM;
    if (!main_fn)
        return WF_EINVAL;
    int err = wf_init(cfg);
    if (err)
        return err;
    struct wf_fiber_opts opts = WF_FIBER_OPTS_INIT;
    opts.name = "main";
    err = wf_go_opts(&main_fiber, &opts, main_fn, arg);
    if (err == 0)
        err = wf_join(main_fiber, &res, WF_FOREVER);
    wf_shutdown();
    if (err == 0 && result)
        *result = res;
    return err;
}

int wf_workers(void)
{
    struct wf__rt *rt = &wf__rt;
    /* seq_cst (acquire would do: pairs with wf_init's release store of
     * RUNNING, which publishes nworkers). */
    if (atomic_load_explicit(&rt->state, memory_order_seq_cst) !=
        WF__RT_RUNNING)
        return WF_ESHUTDOWN;
    return rt->nworkers;
}

int wf_worker_index(void)
{
    struct wf__worker *w = wf__worker_self();
    return w ? w->index : WF_EPERM;
}

/* ---- test hooks (core_test.h) ----------------------------------------------- */

long wf__test_pending_timers(void)
{
    struct wf__rt *rt = &wf__rt;
    /* seq_cst: as in wf_workers. */
    if (atomic_load_explicit(&rt->state, memory_order_seq_cst) !=
        WF__RT_RUNNING)
        return WF_ESHUTDOWN;
    long n = 0;
    for (int i = 0; i < rt->nworkers; i++)
        n += (long)wf__timers_count(&rt->workers[i].timers);
    return n;
}

long wf__test_guarded_stacks(void)
{
    return wf__stack_guarded_count();
}
