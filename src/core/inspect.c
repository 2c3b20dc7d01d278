/* SPDX-License-Identifier: MIT */
/*
 * Introspection: wf_stats, the fiber list, fiber dumps (on demand and on
 * a signal), the deadlock report. The public contract is
 * include/weft/inspect.h; the hot-path half (per-worker counters, state
 * timestamps) is core/inspect.h.
 *
 * Reading fibers. wf__fibers_each (fiber.c) walks the handle table
 * (slots below nslots stay mapped) and shows each live fiber with its
 * slot locked (wf__slot_lock): a fiber cannot return
 * while its slot is locked, so its control block is not reused under the
 * reader. Everything read from the block is an atomic (state, wait
 * reason, timestamps: relaxed, reports) or fixed while the fiber lives
 * (name, entry). A fiber can still wake and run meanwhile; so its stack is
 * walked only when it is PARKED (off its stack), every word is read with
 * an atomic load within the stack's bounds, and the state is read again
 * afterwards: a fiber that woke meanwhile is printed without a stack.
 *
 * Stacks. A parked fiber's saved context is a stack pointer with the
 * callee-saved frame above it (arch/x86_64/switch.S, arch/aarch64/
 * switch.S); the saved frame pointer there starts an ordinary
 * frame-pointer chain (weft builds with -fno-omit-frame-pointer). The
 * walk stops at the first frame pointer outside the stack, not above the
 * previous one, or misaligned. The ucontext backend keeps no such frame:
 * its dumps say "no frame pointers".
 *
 * Dumps on a signal. The handler does only async-signal-safe things: an
 * atomic increment of dump_req and of the monitor's futex word, and a
 * futex wake (errno saved). The monitor sees dump_req move, and prints.
 *
 * Deadlocks. The monitor calls wf__inspect_deadlock while every worker is
 * parked. The watch starts a quiet period at the first such call and
 * restarts it whenever the workers' progress counters (nswitch, bumped at
 * every scheduling decision) have moved. Once a quiet period has lasted
 * the threshold, it checks the conditions listed in weft/inspect.h; any
 * that fails means "not sure", and it looks again a threshold later (one
 * wake-up per threshold while the runtime idles, and only while the report
 * is on). A report is made once per start.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fault.h"
#include "core_int.h"
#include "weft/inspect.h"

_Alignas(64) _Atomic int64_t wf__state_clock; /* core/inspect.h */

#define MAX_FRAMES 32

/* ---- counters -------------------------------------------------------------- */

static void add_live(struct wf__rt *rt, long n)
{
    /* relaxed: counts of their own, ordering nothing (core/inspect.h). */
    long live =
        atomic_fetch_add_explicit(&rt->live, n, memory_order_relaxed) + n;
    long peak = atomic_load_explicit(&rt->live_peak, memory_order_relaxed);
    while (live > peak && !atomic_compare_exchange_weak_explicit(
                              &rt->live_peak, &peak, live, memory_order_relaxed,
                              memory_order_relaxed)) {
    }
}

void wf__inspect_flush_live(struct wf__rt *rt, struct wf__worker *w)
{
    /* relaxed: owner-only (core/inspect.h). */
    int64_t d =
        atomic_load_explicit(&w->stats.live_delta, memory_order_relaxed);
    atomic_store_explicit(&w->stats.live_delta, 0, memory_order_relaxed);
    add_live(rt, (long)d);
}

void wf__inspect_spawned(struct wf__rt *rt, struct wf__worker *w)
{
    if (!w) { /* relaxed: statistics; plain threads share them */
        atomic_fetch_add_explicit(&rt->plain_spawns, 1, memory_order_relaxed);
        add_live(rt, 1);
        return;
    }
    wf__stat_inc(&w->stats.spawns);
    /* relaxed: owner-only (core/inspect.h). */
    int64_t d =
        atomic_load_explicit(&w->stats.live_delta, memory_order_relaxed) + 1;
    atomic_store_explicit(&w->stats.live_delta, d, memory_order_relaxed);
    if (d >= WF__LIVE_BATCH)
        wf__inspect_flush_live(rt, w);
}

void wf__inspect_io(void)
{
    struct wf__worker *w = wf__worker_self();
    if (w && wf__fiber_self())
        wf__stat_inc(&w->stats.io);
}

static bool running(struct wf__rt *rt)
{
    /* acquire: pairs with wf_init's release store of RUNNING, after which
     * the workers and the handle table are set up. */
    return atomic_load_explicit(&rt->state, memory_order_acquire) ==
           WF__RT_RUNNING;
}

static uint64_t get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed); /* a statistic */
}

int wf_stats(struct wf_stats *out, struct wf_worker_stats *per_worker, size_t n)
{
    struct wf__rt *rt = &wf__rt;
    if (!out || (!per_worker && n > 0))
        return WF_EINVAL;
    if (!running(rt))
        return WF_ESHUTDOWN;
    memset(out, 0, sizeof *out);
    out->workers = rt->nworkers;
    struct wf_worker_stats *t = &out->total;
    for (int i = 0; i < rt->nworkers; i++) {
        struct wf__wstats *s = &rt->workers[i].stats;
        struct wf_worker_stats one = {
            get(&s->switches), get(&s->steals), get(&s->parks), get(&s->tasks),
            get(&s->timers),   get(&s->spawns), get(&s->exits), get(&s->io),
        };
        if (per_worker && (size_t)i < n)
            per_worker[i] = one;
        t->switches += one.switches;
        t->steals += one.steals;
        t->parks += one.parks;
        t->tasks += one.tasks;
        t->timers += one.timers;
        t->spawns += one.spawns;
        t->exits += one.exits;
        t->io += one.io;
    }
    t->spawns += get(&rt->plain_spawns);
    /* relaxed: statistics (core/inspect.h). The shared count, plus what
     * each worker has not added yet; the peak is at least that. */
    long live = atomic_load_explicit(&rt->live, memory_order_relaxed);
    for (int i = 0; i < rt->nworkers; i++)
        live += (long)atomic_load_explicit(&rt->workers[i].stats.live_delta,
                                           memory_order_relaxed);
    long peak = atomic_load_explicit(&rt->live_peak, memory_order_relaxed);
    /* A live count seen here is a peak candidate too, kept for later
     * reads (a peak between two batch additions is seen no other way). */
    while (live > peak && !atomic_compare_exchange_weak_explicit(
                              &rt->live_peak, &peak, live, memory_order_relaxed,
                              memory_order_relaxed)) {
    }
    if (live > peak)
        peak = live;
    out->fibers_live = live > 0 ? (uint64_t)live : 0;
    out->fibers_peak = peak > 0 ? (uint64_t)peak : 0;
    long mapped = wf__stack_mapped_count();
    out->stacks_mapped = mapped > 0 ? (uint64_t)mapped : 0;
    out->stacks_cached = out->stacks_mapped > out->fibers_live
                             ? out->stacks_mapped - out->fibers_live
                             : 0;
    return rt->nworkers;
}

/* ---- the fiber list ----------------------------------------------------------- */

/* One fiber as the walk saw it, with its stack when parked. */
struct seen {
    struct wf_fiber_info info;
    int nframes; /* -1: no stack taken (not parked, or woke) */
    uintptr_t pc[MAX_FRAMES];
};

/* Whether parked fibers' stacks can be walked: the asm context switch
 * saves a frame pointer (x86-64, AArch64); ucontext does not say where. */
#if defined(WEFT_CTX_UCONTEXT) || !(defined(__x86_64__) || defined(__aarch64__))
#define FP_WALK 0
#else
#define FP_WALK 1
/* A best-effort read of another fiber's stack: the fiber was parked when
 * the walk looked, but it may be woken and run on that stack meanwhile
 * (or still be on its way into the park), writing the words read here
 * with plain stores. The walk only reports what it finds, bounded by the
 * stack, so the race is benign; like walk() itself, the read is hidden
 * from the sanitizers (TSan reported it: test_inspect.
 * dump_while_fibers_park_and_wake). */
__attribute__((no_sanitize("address", "thread"))) static uintptr_t
peek(const uintptr_t *p)
{
    return *(const volatile uintptr_t *)p;
}
#endif

/* The return addresses of parked fiber f, from its saved context. The
 * frames below ASan's fake stack are not on f's stack: the walk stops
 * there, as at any frame pointer outside the stack. */
__attribute__((no_sanitize("address", "thread"))) static int
walk(const struct wf__fcb *f, uintptr_t *pc)
{
#if !FP_WALK
    (void)f;
    (void)pc;
    return -2; /* no frame pointers */
#else
    uintptr_t lo = (uintptr_t)f->st.lo, hi = (uintptr_t)f;
    uintptr_t sp = (uintptr_t)__atomic_load_n(&f->ex.ctx.sp, __ATOMIC_RELAXED);
    if (sp < lo || sp + 64 > hi || (sp & 7))
        return 0;
    const uintptr_t *frame = (const uintptr_t *)sp;
#if defined(__x86_64__)
    uintptr_t fp = peek(frame + 6), ret = peek(frame + 7);
#else
    uintptr_t fp = peek(frame + 0), ret = peek(frame + 1);
#endif
    int n = 0;
    pc[n++] = ret;
    uintptr_t prev = sp;
    while (n < MAX_FRAMES && fp > prev && fp >= lo && fp + 16 <= hi &&
           !(fp & 7)) {
        uintptr_t r = peek((const uintptr_t *)fp + 1);
        if (!r)
            break;
        pc[n++] = r;
        prev = fp;
        fp = peek((const uintptr_t *)fp);
    }
    return n;
#endif
}

/* Fill `out` for fiber f (its slot locked by the caller); with stacks,
 * also walk a parked fiber's stack. */
static void describe(struct wf__rt *rt, struct wf__fcb *f, uint64_t id,
                     struct seen *out, bool stacks)
{
    struct wf_fiber_info *in = &out->info;
    /* relaxed loads: reports (struct wf__fcb). */
    int ws = atomic_load_explicit(&f->wstate, memory_order_relaxed);
    unsigned why = atomic_load_explicit(&f->why, memory_order_relaxed);
    int64_t since = atomic_load_explicit(&f->since, memory_order_relaxed);
    memset(in, 0, sizeof *in);
    in->id = id;
    memcpy(in->name, f->name, sizeof in->name);
    in->name[WF_NAME_MAX] = '\0';
    in->entry = (void *)(uintptr_t)f->fn;
    in->wait = "";
    in->worker = atomic_load_explicit(&f->last_worker, memory_order_relaxed);
    out->nframes = -1;
    int on = -1;
    for (int i = 0; i < rt->nworkers; i++) /* relaxed: as the monitor's */
        if (atomic_load_explicit(&rt->workers[i].current_id,
                                 memory_order_relaxed) == id)
            on = i;
    if ((ws == WF__PARKING || ws == WF__PARKED) && why != WF__WHY_NONE) {
        in->state = WF_FIBER_PARKED;
        in->wait = wf__why_name((enum wf__why)why);
        if (stacks && ws == WF__PARKED) {
            out->nframes = walk(f, out->pc);
            /* relaxed: a report; a fiber that woke meanwhile has no
             * stack worth printing. */
            if (atomic_load_explicit(&f->wstate, memory_order_relaxed) !=
                WF__PARKED)
                out->nframes = -1;
        }
    } else if (on >= 0) {
        in->state = WF_FIBER_RUNNING;
        in->worker = on;
    } else {
        in->state = WF_FIBER_RUNNABLE;
    }
    if (since == 0) {
        in->state_ns = -1;
        if (in->state != WF_FIBER_RUNNING)
            in->worker = -1;
    } else {
        int64_t d = wf_now() - since; /* since lags by a sample at most */
        in->state_ns = d < 0 ? 0 : d;
    }
}

struct collecting {
    struct wf__rt *rt;
    struct seen *out;
    size_t cap, seen;
    bool stacks;
};

static bool collect_one(struct wf__fcb *f, uint64_t id, void *arg)
{
    struct collecting *c = arg;
    if (c->seen < c->cap)
        describe(c->rt, f, id, &c->out[c->seen], c->stacks);
    c->seen++;
    return true;
}

/* Walk the live fibers: up to cap into out (may be NULL when cap is 0);
 * returns how many were seen. */
static size_t collect(struct wf__rt *rt, struct seen *out, size_t cap,
                      bool stacks)
{
    struct collecting c = {rt, out, cap, 0, stacks};
    return wf__fibers_each(rt, collect_one, &c);
}

/* One entry at a time through a small buffer: `struct seen` carries a
 * stack the list does not need. */
struct listing {
    struct wf__rt *rt;
    struct wf_fiber_info *out;
    size_t cap, written;
};

static bool list_one(struct wf__fcb *f, uint64_t id, void *arg)
{
    struct listing *l = arg;
    if (l->written < l->cap) {
        struct seen one;
        describe(l->rt, f, id, &one, false);
        l->out[l->written++] = one.info;
    }
    return true;
}

int wf_fibers_list(struct wf_fiber_info *out, size_t n, size_t *total)
{
    struct wf__rt *rt = &wf__rt;
    if (!out && n > 0)
        return WF_EINVAL;
    if (!running(rt))
        return WF_ESHUTDOWN;
    struct listing l = {rt, out, n, 0};
    size_t seen = wf__fibers_each(rt, list_one, &l);
    size_t written = l.written;
    if (total)
        *total = seen;
    return (int)(written > INT32_MAX ? INT32_MAX : written);
}

/* ---- dumps -------------------------------------------------------------------- */

static const char *state_name(int st)
{
    return st == WF_FIBER_RUNNING    ? "running"
           : st == WF_FIBER_RUNNABLE ? "runnable"
                                     : "parked";
}

static void print_fiber(int fd, const struct seen *s)
{
    const struct wf_fiber_info *in = &s->info;
    char what[96], when[48], who[WF_NAME_MAX + 160];
    if (in->state == WF_FIBER_PARKED)
        snprintf(what, sizeof what, "parked: %s", in->wait);
    else
        snprintf(what, sizeof what, "%s", state_name(in->state));
    if (in->state_ns < 0)
        snprintf(when, sizeof when, "not started");
    else
        snprintf(when, sizeof when, "%lld ms",
                 (long long)(in->state_ns / WF_MSEC));
    Dl_info dl;
    if (in->name[0])
        snprintf(who, sizeof who, "\"%s\"", in->name);
    else if (dladdr(in->entry, &dl) && dl.dli_sname &&
             dl.dli_saddr == in->entry)
        snprintf(who, sizeof who, "(unnamed, %s)", dl.dli_sname);
    else
        snprintf(who, sizeof who, "(unnamed, entry %p)", in->entry);
    dprintf(fd, "fiber %llu %s [%s, %s, worker %d]\n",
            (unsigned long long)in->id, who, what, when, in->worker);
    if (s->nframes == -2) {
        dprintf(fd, "  (no frame pointers: stack not shown)\n");
        return;
    }
    for (int k = 0; k < s->nframes; k++) {
        void *pc = (void *)s->pc[k];
        if (dladdr(pc, &dl) && dl.dli_sname && dl.dli_saddr)
            dprintf(fd, "  #%d %p %s+0x%lx\n", k, pc, dl.dli_sname,
                    (unsigned long)((uintptr_t)pc - (uintptr_t)dl.dli_saddr));
        else if (dladdr(pc, &dl) && dl.dli_fname)
            dprintf(fd, "  #%d %p (%s)\n", k, pc, dl.dli_fname);
        else
            dprintf(fd, "  #%d %p\n", k, pc);
    }
}

static int dump(struct wf__rt *rt, int fd, const char *why)
{
    size_t n = collect(rt, NULL, 0, false) + 16; /* room for newcomers */
    struct seen *all = wf__malloc(n * sizeof *all);
    if (!all)
        return WF_ENOMEM;
    size_t got = collect(rt, all, n, true);
    if (got > n)
        got = n;
    dprintf(fd, "weft: fiber dump%s%s: %zu fibers, %d workers\n",
            why[0] ? ": " : "", why, got, rt->nworkers);
    for (size_t i = 0; i < got; i++)
        print_fiber(fd, &all[i]);
    free(all);
    return (int)(got > INT32_MAX ? INT32_MAX : got);
}

int wf_fibers_dump(int fd)
{
    struct wf__rt *rt = &wf__rt;
    if (fd < 0)
        return WF_EINVAL;
    if (!running(rt))
        return WF_ESHUTDOWN;
    return dump(rt, fd, "");
}

/* ---- the dump signal ------------------------------------------------------------ */

static struct sigaction old_action;
static bool installed;

static void on_dump_signal(int sig)
{
    (void)sig;
    int saved = errno;
    struct wf__rt *rt = &wf__rt;
    /* seq_cst: the request before the monitor's word, which its futex
     * wait re-checks; the monitor reads dump_req after it wakes. */
    atomic_fetch_add_explicit(&rt->dump_req, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&rt->mon_word, 1, memory_order_seq_cst);
    wf__futex_wake(&rt->mon_word, 1);
    errno = saved;
}

void wf__inspect_reset(struct wf__rt *rt)
{
    /* relaxed: before the workers start and before wf_init's release of
     * RUNNING, which publishes these to every other thread. */
    atomic_store_explicit(&rt->live, 0, memory_order_relaxed);
    atomic_store_explicit(&rt->live_peak, 0, memory_order_relaxed);
    atomic_store_explicit(&rt->plain_spawns, 0, memory_order_relaxed);
    atomic_store_explicit(&rt->outside_busy, 0, memory_order_relaxed);
    atomic_store_explicit(&rt->tw_asleep, 0, memory_order_relaxed);
    atomic_store_explicit(&rt->dump_req, 0, memory_order_relaxed);
    rt->dumps_done = 0;
    rt->deadlock_reported = false;
    wf__inspect_tick(wf_now());
}

int wf__inspect_start(struct wf__rt *rt)
{
    if (rt->dump_signal <= 0)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(rt->dump_signal, &sa, &old_action) != 0)
        return -errno;
    installed = true;
    return 0;
}

void wf__inspect_stop(struct wf__rt *rt)
{
    if (installed)
        sigaction(rt->dump_signal, &old_action, NULL);
    installed = false;
}

void wf__inspect_poll_dump(struct wf__rt *rt)
{
    /* seq_cst, no order needed: see on_dump_signal. */
    unsigned req = atomic_load_explicit(&rt->dump_req, memory_order_seq_cst);
    if (req == rt->dumps_done)
        return;
    rt->dumps_done = req;
    char why[48];
    snprintf(why, sizeof why, "signal %d", rt->dump_signal);
    dump(rt, 2, why);
}

/* ---- deadlocks --------------------------------------------------------------- */

static bool sure_wait(unsigned why)
{
    return wf__why_sure((enum wf__why)why);
}

static uint64_t progress(struct wf__rt *rt)
{
    uint64_t p = 0;
    for (int i = 0; i < rt->nworkers; i++) /* relaxed: only compared */
        p +=
            atomic_load_explicit(&rt->workers[i].nswitch, memory_order_relaxed);
    return p;
}

struct stuck {
    bool all; /* every fiber looked at waits for sure */
};

static bool stuck_one(struct wf__fcb *f, uint64_t id, void *arg)
{
    (void)id;
    struct stuck *st = arg;
    /* relaxed: a report, confirmed by the quiet period. */
    st->all =
        atomic_load_explicit(&f->wstate, memory_order_relaxed) == WF__PARKED &&
        sure_wait(atomic_load_explicit(&f->why, memory_order_relaxed));
    return st->all;
}

/* Nothing runs, nothing can start by itself, nothing outside waits to act. */
static bool all_stuck(struct wf__rt *rt, size_t *nfibers)
{
    /* seq_cst loads, no order needed: a report, confirmed over a period. */
    if (atomic_load_explicit(&rt->nparked, memory_order_seq_cst) !=
            rt->nworkers ||
        atomic_load_explicit(&rt->inject_n, memory_order_seq_cst) > 0 ||
        atomic_load_explicit(&rt->outside_busy, memory_order_seq_cst) > 0 ||
        wf__tasks_visible(rt))
        return false;
    for (int i = 0; i < rt->nworkers; i++) {
        struct wf__worker *w = &rt->workers[i];
        if (wf__deque_size(&w->dq) > 0 || wf__deque_size(&w->lq) > 0 ||
            atomic_load_explicit(&w->runnext, memory_order_seq_cst) ||
            atomic_load_explicit(&w->inbox_n, memory_order_seq_cst) > 0 ||
            wf__timers_count(&w->timers) > 0)
            return false;
    }
    pthread_mutex_lock(&rt->tw_lock);
    bool plain_ok = rt->tw_count ==
                    atomic_load_explicit(&rt->tw_asleep, memory_order_seq_cst);
    pthread_mutex_unlock(&rt->tw_lock);
    if (!plain_ok)
        return false;

    struct stuck st = {true};
    size_t n = wf__fibers_each(rt, stuck_one, &st);
    *nfibers = n;
    return st.all && n > 0;
}

int64_t wf__inspect_deadlock(struct wf__rt *rt, struct wf__dlwatch *dw,
                             int64_t now)
{
    if (rt->deadlock_ns <= 0 || rt->deadlock_reported)
        return WF_FOREVER;
    uint64_t p = progress(rt);
    if (dw->since == 0 || p != dw->progress) {
        dw->since = now;
        dw->progress = p;
        return now + rt->deadlock_ns;
    }
    if (now - dw->since < rt->deadlock_ns)
        return dw->since + rt->deadlock_ns;
    size_t n = 0;
    if (!all_stuck(rt, &n) || progress(rt) != p)
        return now + rt->deadlock_ns;
    rt->deadlock_reported = true;
    dprintf(2,
            "weft: all fibers are asleep - deadlock! (%zu fibers, for %lld "
            "ms)\n",
            n, (long long)((now - dw->since) / WF_MSEC));
    dump(rt, 2, "deadlock");
    return WF_FOREVER;
}
