/* SPDX-License-Identifier: MIT */
/*
 * The monitor: a thread that keeps a stuck worker from holding up the rest
 * of the runtime, and reports fibers that run too long without switching.
 *
 * Workers bump `nswitch` at every scheduling decision (a fiber switch, a
 * pass of the scheduler loop; a relaxed store to their own line). The
 * monitor samples every worker that is not parked; a worker whose count
 * has not moved has been doing one thing since the sample where it last
 * moved: running a fiber (current_id != 0), or a task.
 *
 * Rescue. A worker stuck in a long call (a fiber in a blocking system
 * call, a long computation) neither runs its queue nor fires its timers,
 * and idle workers look at other workers' queues and heaps only while
 * they search. So, while any worker is parked:
 *   - a timer in a non-parked worker's heap that is overdue by LATE_NS
 *     makes the monitor wake a parked worker, whose steal round fires it
 *     (the fibers it wakes then run on that worker); while such timers
 *     exist the monitor samples every TIMER_POLL_NS, so no deadline fires
 *     more than a few milliseconds late while a worker is idle;
 *   - a worker stuck for the stall threshold with runnable, unpinned work
 *     behind it (its deques, run-next slot, or unpinned fibers in its inbox)
 *     makes the monitor wake a parked worker, at every sample while it
 *     lasts, to steal that work.
 * A healthy busy worker fires its own timers (every 16th switch) and
 * nobody is woken for them.
 *
 * Reports. Past stall_ns a fiber is reported once: its name (or that it
 * has none, with its entry function), the worker, and whether the worker
 * thread is blocked in the kernel (a system call, from /proc: the thread's
 * state and wait channel) or computing. A worker inside weft's own
 * scheduling code has just counted a decision, so it is never reported.
 * A negative stall_ns turns reports off, not the rescue.
 *
 * Descheduled. On a loaded machine a worker thread that is runnable may
 * not be given a CPU for a long time, and its counter stands still though
 * its fiber computed for only a moment. So the monitor also keeps the
 * thread's CPU time (its CPU-time clock, pthread_getcpuclockid: one
 * system call) at the sample where the counter last moved: a runnable thread that got less
 * than a quarter of stall_ns of CPU over the stall is DESCHEDULED. That is
 * given to the callback once (not printed: the program did nothing
 * wrong), and the stall stays open: if the fiber goes on until it has
 * computed for a quarter of stall_ns, it is reported as computing after all.
 * Rejected: comparing CPU time with the wall time of the stall (a fiber
 * that hogs its worker on a shared CPU gets a small share of the wall
 * time and would never be reported); /proc/self/task/TID/schedstat (CPU
 * time and run-queue wait, but three system calls a read).
 *
 * Load. Every LOAD_POLL_NS while it is awake the monitor reads the
 * kernel's count of runnable threads (/proc/loadavg's fourth field, the
 * same figure as /proc/stat's procs_running, in a smaller file, kept
 * open and read again with pread) and
 * keeps a moving average of how many more there are than online CPUs
 * (not counting itself). Above half a thread, wf__oversubscribed
 * (common/futex.h) is set: spinners then pause less before they yield or
 * park, and idle workers park after one steal round instead of searching
 * for SPIN_NS. A sample costs one system call of a few us; per-spin
 * evidence (a spin that ran out) would be free but says only that one
 * thread was slow, and a global flag must not flip on one late holder.
 * The average keeps one burst of short-lived threads from flipping it.
 *
 * The monitor sleeps on a futex with no timeout while every worker is
 * parked, so an idle runtime costs no CPU; a worker leaving its parked
 * state kicks it (seq_cst: Dekker between the monitor's store of
 * mon_sleeping + load of nparked and the worker's nparked decrement + load
 * of mon_sleeping).
 *
 * It also prints fiber dumps that the dump signal asks for, and watches
 * for deadlocks while every worker is parked (inspect.c).
 *
 * The monitor never dereferences a worker's current fiber directly (it
 * may end and its control block be reused at any moment): it reads the
 * fiber's id, which the worker publishes at every switch, and reads the
 * name through the handle with the slot lock held, which keeps the fiber
 * from finishing meanwhile (fiber.c).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fault.h"
#include "core_int.h"
#include "core_test.h"

#define DEFAULT_STALL_NS (100 * WF_MSEC) /* rescue threshold if reports are off */
#define LATE_NS (2 * WF_MSEC)       /* a timer this overdue gets rescued */
#define TIMER_POLL_NS (2 * WF_MSEC) /* sampling while timers may need it */
#define LOAD_POLL_NS  (10 * WF_MSEC) /* runnable-thread samples, at most */

struct sample {
    unsigned long count;
    int64_t since;
    int64_t cpu; /* the thread's CPU time at `since`, -1 unknown */
    bool reported;
    bool desched_reported; /* a DESCHEDULED report was made */
};

/* -1: wf__oversubscribed follows the samples; 0 or 1: forced (tests). */
static atomic_int load_forced = -1;

/* ---- reports ------------------------------------------------------------- */

/* Read a small /proc file of the worker thread into buf (NUL-terminated,
 * trailing newline dropped); false if it cannot be read. */
static bool read_proc(int tid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/%s", tid, what);
    int fd = wf__fd(open(path, O_RDONLY | O_CLOEXEC));
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    if (buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    return true;
}

/* Whether thread tid is blocked in the kernel, and where (wchan). */
static int thread_state(int tid, char *wchan, size_t cap)
{
    char stat[512];
    wchan[0] = '\0';
    if (!read_proc(tid, "stat", stat, sizeof stat))
        return WF_STALL_UNKNOWN;
    /* "tid (comm) S ...": the state follows the last ')'. */
    const char *p = strrchr(stat, ')');
    if (!p || p[1] != ' ')
        return WF_STALL_UNKNOWN;
    char st = p[2];
    if (st == 'R')
        return WF_STALL_RUNNING;
    if (read_proc(tid, "wchan", wchan, cap) && strcmp(wchan, "0") == 0)
        wchan[0] = '\0';
    return WF_STALL_SYSCALL;
}

/* The worker thread's CPU time in ns, -1 unknown. w->thread is set
 * before the monitor starts, and the workers are joined after it stops. */
static int64_t thread_cpu(struct wf__worker *w)
{
    clockid_t clk;
    struct timespec ts;
    if (pthread_getcpuclockid(w->thread, &clk) != 0 ||
        clock_gettime(clk, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * WF_SEC + ts.tv_nsec;
}

/* Reports the stalled fiber `id` of w; returns false when the report was
 * only that the thread was not given the CPU (DESCHEDULED), so that the
 * stall stays open. */
static bool report(struct wf__rt *rt, struct wf__worker *w, struct sample *smp,
                   uint64_t id, int64_t ran)
{
    char name[WF_NAME_MAX + 1] = "";
    void *fn;
    struct wf__slot *s = wf__slot_get(id);
    struct wf__fcb *f = s ? wf__slot_lock(s, id) : NULL;
    if (!f)
        return true; /* it has returned meanwhile */
    memcpy(name, f->name, sizeof name);
    fn = (void *)(uintptr_t)f->fn;
    wf__slot_unlock(s);
    name[WF_NAME_MAX] = '\0';

    char entry[128] = "";
    Dl_info info;
    if (dladdr(fn, &info) && info.dli_sname)
        snprintf(entry, sizeof entry, "%s", info.dli_sname);
    char wchan[64];
    int tid = atomic_load_explicit(&w->tid, memory_order_relaxed);
    int state = thread_state(tid, wchan, sizeof wchan);
    int64_t cpu = thread_cpu(w);
    cpu = cpu >= 0 && smp->cpu >= 0 ? cpu - smp->cpu : -1;
    bool desched =
        state == WF_STALL_RUNNING && cpu >= 0 && cpu < rt->stall_ns / 4;
    if (desched) {
        if (smp->desched_reported)
            return false;
        smp->desched_reported = true;
        state = WF_STALL_DESCHEDULED;
    }

    struct wf_stall st = {id, name, w->index, ran, state, wchan, entry, cpu};
    if (rt->stall_fn) {
        rt->stall_fn(&st, rt->stall_arg);
        return !desched;
    }
    if (desched)
        return false; /* the machine is loaded; nothing to fix here */
    char who[WF_NAME_MAX + 192];
    if (name[0])
        snprintf(who, sizeof who, "fiber '%s'", name);
    else if (entry[0])
        snprintf(who, sizeof who, "an unnamed fiber running %s()", entry);
    else
        snprintf(who, sizeof who, "an unnamed fiber (entry %p)", fn);
    const char *what =
        state == WF_STALL_SYSCALL
            ? "it is blocked in a system call; move the call to the blocking "
              "pool (wf_blocking) or use weft's I/O calls"
        : state == WF_STALL_RUNNING
            ? "it is computing; call wf_yield() in long loops or run the work "
              "as tasks (weft/par.h)"
            : "its state is unknown";
    fprintf(stderr,
            "weft: %s has run for %lld ms on worker %d without switching: "
            "%s%s%s%s (name fibers with wf_fiber_opts.name)\n",
            who, (long long)(ran / WF_MSEC), w->index, what,
            wchan[0] ? " [kernel: " : "", wchan, wchan[0] ? "]" : "");
    return true;
}

/* ---- load ------------------------------------------------------------------ */

/* One sample of the runnable threads against the CPUs (top comment);
 * fd is /proc/loadavg; avg16 is the moving average of the excess, in
 * sixteenths. */
static void load_sample(int fd, int ncpu, int *avg16)
{
    char buf[128];
    ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return;
    buf[n] = '\0';
    /* "0.52 0.58 0.59 3/151 1234": runnable/total is the fourth field. */
    const char *p = buf;
    for (int k = 0; k < 3 && p; k++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p)
        return;
    int excess = atoi(p) - 1 - ncpu; /* -1: this thread reads it */
    *avg16 += (excess * 16 - *avg16) / 4;
    bool over = *avg16 > 8;
    /* relaxed: a hint (common/futex.h); forced by tests otherwise. */
    if (atomic_load_explicit(&load_forced, memory_order_relaxed) < 0 &&
        atomic_load_explicit(&wf__oversubscribed, memory_order_relaxed) != over)
        atomic_store_explicit(&wf__oversubscribed, over, memory_order_relaxed);
}

void wf__test_force_oversubscribed(int on)
{
    /* relaxed: hints, as wf__oversubscribed itself. */
    atomic_store_explicit(&load_forced, on, memory_order_relaxed);
    if (on >= 0)
        atomic_store_explicit(&wf__oversubscribed, on != 0,
                              memory_order_relaxed);
}

/* ---- rescue ---------------------------------------------------------------- */

/* Runnable work a thief may take from w: its deques, run-next slot, or an
 * unpinned fiber in its inbox (the inbox holds pinned fibers too; a thief
 * that finds only those takes nothing). */
static bool work_waiting(struct wf__worker *w)
{
    return wf__deque_size(&w->dq) > 0 || wf__deque_size(&w->lq) > 0 ||
           /* seq_cst, no order needed: a hint, as the loads beside it */
           atomic_load_explicit(&w->runnext, memory_order_seq_cst) ||
           atomic_load_explicit(&w->inbox_n, memory_order_relaxed) > 0;
}

/* Wake one parked worker: it searches, stealing queued fibers and firing
 * other workers' expired timers. */
static void wake_helper(struct wf__rt *rt)
{
    for (int k = 0; k < rt->nworkers; k++) {
        struct wf__worker *t = &rt->workers[k];
        /* relaxed: a hint; a worker that is no longer parked needs no
         * wake-up, and the next sample looks again. */
        if (atomic_load_explicit(&t->parked, memory_order_relaxed)) {
            /* seq_cst: pairs with park_worker's futex-wait loop load. */
            atomic_store_explicit(&t->wake_word, 1, memory_order_seq_cst);
            wf__futex_wake(&t->wake_word, 1);
            return;
        }
    }
}

/* One look at every worker; returns when to look next. */
static int64_t sample_all(struct wf__rt *rt, struct sample *smp, int64_t now)
{
    int64_t stall = rt->stall_ns > 0 ? rt->stall_ns : DEFAULT_STALL_NS;
    int64_t next = now + stall / 4;
    /* seq_cst, no order needed: a hint, sampled again next time. */
    bool idle = atomic_load_explicit(&rt->nparked, memory_order_seq_cst) > 0;
    bool rescue = false;

    for (int i = 0; i < rt->nworkers; i++) {
        struct wf__worker *w = &rt->workers[i];
        if (atomic_load_explicit(&w->parked, memory_order_relaxed)) {
            smp[i] = (struct sample){0, now, -1, false, false};
            atomic_store_explicit(&w->stalled, false, memory_order_relaxed);
            continue;
        }
        /* relaxed: progress counter and id are only compared. */
        unsigned long c = atomic_load_explicit(&w->nswitch,
                                               memory_order_relaxed);
        uint64_t id = atomic_load_explicit(&w->current_id,
                                           memory_order_relaxed);
        if (c != smp[i].count) {
            /* The CPU time at the start of a possible stall: read only
             * when reports are on (a system call per busy worker). */
            int64_t cpu = rt->stall_ns > 0 ? thread_cpu(w) : -1;
            smp[i] = (struct sample){c, now, cpu, false, false};
        }
        int64_t stuck = now - smp[i].since;
        /* relaxed: a hint for thieves (steal_inbox). */
        atomic_store_explicit(&w->stalled, stuck >= stall,
                              memory_order_relaxed);
        if (stuck >= stall && work_waiting(w))
            rescue = true;
        int64_t e = wf__timers_earliest(&w->timers);
        if (e != INT64_MAX) {
            if (e <= now - LATE_NS)
                rescue = true;
            if (idle && now + TIMER_POLL_NS < next)
                next = now + TIMER_POLL_NS;
        }
        if (id && rt->stall_ns > 0 && stuck >= rt->stall_ns && !smp[i].reported)
            smp[i].reported = report(rt, w, &smp[i], id, stuck);
    }
    if (rescue && idle)
        wake_helper(rt);
    return next;
}

/* The monitor's samples, one per worker: allocated by wf__monitor_start,
 * where a failure can still fail wf_init; freed by the monitor thread. */
static struct sample *mon_samples;
/* /proc/loadavg, opened by wf__monitor_start (on the thread that calls
 * wf_init, so that fault injection counts it in order; -1: no load
 * samples), closed by the monitor thread. */
static int mon_load_fd = -1;

static void *monitor_main(void *p)
{
    struct wf__rt *rt = p;
    int n = rt->nworkers;
    struct sample *smp = mon_samples; /* now the thread's to free */
    mon_samples = NULL;
    int64_t next = wf_now();
    struct wf__dlwatch dw = {0, 0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int load_avg16 = 0;
    int64_t load_next = next;
    int load_fd = mon_load_fd; /* now the thread's to close */
    mon_load_fd = -1;

    /* seq_cst loads of stopping: against wf__monitor_stop's store, then
     * its RMW of mon_word, which the futex wait re-checks. */
    while (!atomic_load_explicit(&rt->stopping, memory_order_seq_cst)) {
        /* seq_cst: read before the checks below, so a kick made after
         * them changes it and the futex wait returns. */
        unsigned seen =
            atomic_load_explicit(&rt->mon_word, memory_order_seq_cst);
        /* seq_cst: the writing half of the Dekker with
         * wf__monitor_kick's load of mon_sleeping; the reading half here
         * is the load of nparked, against park_worker's decrement. */
        atomic_store_explicit(&rt->mon_sleeping, true, memory_order_seq_cst);
        wf__inspect_poll_dump(rt); /* a signal asked for a fiber dump */
        if (atomic_load_explicit(&rt->nparked, memory_order_seq_cst) == n &&
            !atomic_load_explicit(&rt->stopping, memory_order_seq_cst)) {
            wf__futex_wait(&rt->mon_word, seen,
                           wf__inspect_deadlock(rt, &dw, wf_now()));
            /* seq_cst, no order needed: only spares kicks a futex wake */
            atomic_store_explicit(&rt->mon_sleeping, false,
                                  memory_order_seq_cst);
            int64_t now = wf_now();
            for (int i = 0; i < n; i++)
                smp[i] = (struct sample){0, now, -1, false, false};
            next = now;
            continue;
        }
        /* seq_cst, no order needed: as above. */
        atomic_store_explicit(&rt->mon_sleeping, false, memory_order_seq_cst);
        dw.since = 0; /* a worker is awake: no deadlock watch */
        int64_t now = wf_now();
        if (now < next) {
            /* Wake at least every WF__STATE_CLOCK_NS for the clock of
             * fibers' state timestamps, whatever stall_ns is. */
            int64_t until = next - now > WF__STATE_CLOCK_NS
                                ? now + WF__STATE_CLOCK_NS
                                : next;
            wf__futex_wait(&rt->mon_word, seen, until);
            now = wf_now();
        }
        wf__inspect_tick(now); /* fibers' state timestamps (inspect.h) */
        if (now >= load_next) {
            load_sample(load_fd, ncpu > 0 ? (int)ncpu : 1, &load_avg16);
            load_next = now + LOAD_POLL_NS;
        }
        /* seq_cst: as the load of seen above. */
        if (now < next &&
            atomic_load_explicit(&rt->mon_word, memory_order_seq_cst) == seen)
            continue; /* only the clock's tick: no sample due */
        next = sample_all(rt, smp, now);
    }
    if (load_fd >= 0)
        close(load_fd);
    free(smp);
    return NULL;
}

int wf__monitor_start(struct wf__rt *rt)
{
    mon_samples = wf__calloc((size_t)rt->nworkers, sizeof *mon_samples);
    if (!mon_samples)
        return -ENOMEM;
    mon_load_fd = wf__fd(open("/proc/loadavg", O_RDONLY | O_CLOEXEC));
    int err = wf__pthread_create(&rt->monitor, NULL, monitor_main, rt);
    if (err) {
        free(mon_samples);
        if (mon_load_fd >= 0)
            close(mon_load_fd);
        mon_load_fd = -1;
        mon_samples = NULL;
        return -err;
    }
    pthread_setname_np(rt->monitor, "weft-monitor");
    rt->monitor_started = true;
    return 0;
}

void wf__monitor_stop(struct wf__rt *rt)
{
    if (!rt->monitor_started)
        return;
    /* seq_cst: stopping, then mon_word; pairs with monitor_main's loads
     * of mon_word then stopping. */
    atomic_store_explicit(&rt->stopping, true, memory_order_seq_cst);
    atomic_fetch_add_explicit(&rt->mon_word, 1, memory_order_seq_cst);
    wf__futex_wake(&rt->mon_word, 1);
    pthread_join(rt->monitor, NULL);
    rt->monitor_started = false;
    /* relaxed: a hint; no sampler is left to clear it. */
    if (atomic_load_explicit(&load_forced, memory_order_relaxed) < 0)
        atomic_store_explicit(&wf__oversubscribed, false, memory_order_relaxed);
}

void wf__monitor_kick(struct wf__rt *rt)
{
    /* seq_cst: the reading half of the Dekker with monitor_main's store
     * of mon_sleeping (this worker's nparked decrement came first). */
    if (atomic_load_explicit(&rt->mon_sleeping, memory_order_seq_cst)) {
        /* seq_cst: changes the word monitor_main read as `seen`. */
        atomic_fetch_add_explicit(&rt->mon_word, 1, memory_order_seq_cst);
        wf__futex_wake(&rt->mon_word, 1);
    }
}
