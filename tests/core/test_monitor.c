/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_monitor.c - a worker stuck in a long call (here a fiber
 * in usleep, a blocking system call) must not hold up the rest: deadlines
 * of fibers that parked on it still fire while another worker is idle,
 * and runnable work queued behind it is taken by an idle worker; and
 * the stall report says what a user can act on.
 *
 * The checks are about order, not time: "the sleeper woke while the
 * blocker was still blocked" (the blocker blocks ten times longer than
 * the sleeper sleeps), never "within so many milliseconds".
 */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WT_MON_VALGRIND 1
#endif
#endif
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft.h>

#include "wtest_death.h"
#include "wtest_fiber.h"

/* How long the blocker blocks its worker (a plain usleep). */
static long block_ms(void)
{
    return wt_sanitized() ? 4000 : 2000;
}

static atomic_int blocker_done;

static void *blocker(void *arg)
{
    (void)arg;
    usleep((useconds_t)block_ms() * 1000);
    atomic_store(&blocker_done, 1);
    return NULL;
}

/* Spawn the blocker pinned to worker k. */
static struct wf_fiber block_worker(int k)
{
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.worker = k;
    o.name = "blocker";
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go_opts(&f, &o, blocker, NULL), 0);
    return f;
}

/* ---- a sleeper whose worker gets stuck ------------------------------------ */

static atomic_int sleeper_worker = -1;
static atomic_int woke_early; /* 1: woke while the blocker still blocked */

static void *sleeper(void *arg)
{
    (void)arg;
    atomic_store(&sleeper_worker, wf_worker_index());
    WT_CHECK_EQ(wf_sleep(block_ms() / 10 * WF_MSEC), 0);
    atomic_store(&woke_early, !atomic_load(&blocker_done));
    return NULL;
}

static void *sleeper_main(void *arg)
{
    (void)arg;
    struct wf_fiber s = go(sleeper, NULL);
    while (atomic_load(&sleeper_worker) < 0)
        wf_yield();
    /* The sleeper parks on its worker (its deadline in that worker's
     * heap) before the blocker, queued in the same worker's inbox, runs. */
    struct wf_fiber b = block_worker(atomic_load(&sleeper_worker));
    join(s);
    join(b);
    return NULL;
}

WT_CASE(sleeper_not_stranded)
{
    run_main(2, sleeper_main, NULL);
    WT_CHECK_EQ(atomic_load(&woke_early), 1);
}

/* The same with the stall monitor's reports off: the rescue still runs. */
WT_CASE(sleeper_not_stranded_reports_off)
{
    struct wf_config c = config(2);
    c.stall_ns = -1;
    WT_CHECK_EQ(wf_run(&c, sleeper_main, NULL, NULL), 0);
    WT_CHECK_EQ(atomic_load(&woke_early), 1);
}

/* ---- work queued behind a stuck worker ----------------------------------- */

/* Under debug migration every wake-up sends the fiber to another worker's
 * inbox: the waker on worker j sends the parked fiber to worker k's inbox
 * while k is stuck. It must still run before k is free again. */
static atomic_int parked_ready;
static atomic_int ran_early;

static void *parked_one(void *arg)
{
    (void)arg;
    atomic_store(&parked_ready, 1);
    while (wf_park(WF_FOREVER) != 0) {
    }
    atomic_store(&ran_early, !atomic_load(&blocker_done));
    return NULL;
}

static void *inbox_main(void *arg)
{
    (void)arg;
    int me = wf_pin_self();
    int other = 1 - me;
    struct wf_fiber p = go(parked_one, NULL);
    while (!atomic_load(&parked_ready))
        wf_sleep(WF_MSEC);
    wf_sleep(10 * WF_MSEC); /* it is parked by now */
    struct wf_fiber b = block_worker(other);
    wf_sleep(10 * WF_MSEC); /* the blocker has its worker */
    WT_CHECK_EQ(wf_unpark(p), 0); /* migrates it to the stuck worker */
    join(p);
    join(b);
    return NULL;
}

WT_CASE(inbox_not_stranded)
{
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(2, inbox_main, NULL);
    WT_CHECK_EQ(atomic_load(&ran_early), 1);
}

/* ---- stall reports -------------------------------------------------------- */

static struct {
    atomic_int reports;
    int state;
    char name[64], wait[64];
    int worker;
} rep;

static void stall_cb(const struct wf_stall *s, void *arg)
{
    (void)arg;
    if (s->state == WF_STALL_DESCHEDULED)
        return; /* a loaded machine, not what these cases make */
    if (atomic_fetch_add(&rep.reports, 1) == 0) {
        rep.state = s->state;
        rep.worker = s->worker;
        snprintf(rep.name, sizeof rep.name, "%s", s->name);
        snprintf(rep.wait, sizeof rep.wait, "%s", s->kernel_wait);
    }
}

static void *hog_syscall_main(void *arg)
{
    (void)arg;
    struct wf_fiber b = block_worker(wf_worker_index());
    join(b);
    return NULL;
}

WT_CASE(report_blocked_in_syscall)
{
    struct wf_config c = config(2);
    c.stall_ns = 100 * WF_MSEC;
    c.stall_fn = stall_cb;
    WT_CHECK_EQ(wf_run(&c, hog_syscall_main, NULL, NULL), 0);
    WT_CHECK_EQ(atomic_load(&rep.reports), 1);
    WT_CHECK(strcmp(rep.name, "blocker") == 0);
    WT_CHECK_EQ(rep.state, WF_STALL_SYSCALL);
    WT_CHECK(rep.wait[0] != '\0'); /* the kernel's wait channel */
}

/* Computes without switching until the monitor has reported it (or 20 s
 * pass: then the case fails), at least 400 ms of the thread's CPU time:
 * on a loaded machine (or under valgrind, whose threads take turns) the
 * first reports may say the thread was not given the CPU
 * (WF_STALL_DESCHEDULED, which stall_cb leaves out); the stall stays open
 * and the report of a computing fiber follows while it runs on. */
static int64_t thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * WF_SEC + ts.tv_nsec;
}

static void *computing(void *arg)
{
    (void)arg;
    int64_t end = thread_cpu_now() + 400 * WF_MSEC;
    int64_t guard = wf_now() + 20 * WF_SEC;
    while (thread_cpu_now() < end ||
           (atomic_load(&rep.reports) == 0 && wf_now() < guard)) {
    }
    return NULL;
}

static void *hog_compute_main(void *arg)
{
    (void)arg;
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.name = "cruncher";
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go_opts(&f, &o, computing, NULL), 0);
    join(f);
    return NULL;
}

WT_CASE(report_computing)
{
#ifdef WT_MON_VALGRIND
    /* valgrind runs one thread at a time: a computing worker thread is
     * often seen asleep, waiting for valgrind's lock (reported as in a
     * system call), so the classification this case checks is not
     * valgrind's to give. */
    if (RUNNING_ON_VALGRIND)
        WT_SKIP("under valgrind a computing thread waits for its lock");
#endif
    struct wf_config c = config(2);
    c.stall_ns = 100 * WF_MSEC;
    c.stall_fn = stall_cb;
    WT_CHECK_EQ(wf_run(&c, hog_compute_main, NULL, NULL), 0);
    WT_CHECK_EQ(atomic_load(&rep.reports), 1);
    WT_CHECK(strcmp(rep.name, "cruncher") == 0);
    WT_CHECK_EQ(rep.state, WF_STALL_RUNNING);
}

/* The default report on stderr, for a fiber with no name: it says so, names
 * the worker and the system call, and shows no raw handle id. */
static void *unnamed_main(void *arg)
{
    (void)arg;
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.worker = wf_worker_index();
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go_opts(&f, &o, blocker, NULL), 0);
    *(uint64_t *)arg = f.id;
    join(f);
    return NULL;
}

static void report_child(void *arg)
{
    (void)arg;
    uint64_t id = 0;
    struct wf_config c = config(2);
    c.stall_ns = 100 * WF_MSEC;
    int rc = wf_run(&c, unnamed_main, &id, NULL);
    fprintf(stderr, "\nid=%llu rc=%d\n", (unsigned long long)id, rc);
    _exit(0);
}

WT_CASE(report_on_stderr)
{
    int status;
    char *buf = wt_child_stderr(report_child, NULL, &status);
    WT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("%s", buf);
    unsigned long long id = 0;
    const char *tail = strstr(buf, "\nid=");
    WT_CHECK(tail && sscanf(tail, "\nid=%llu", &id) == 1 && id != 0);
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%llu", id);
    WT_CHECK(strstr(buf, "unnamed fiber") != NULL);
    WT_CHECK(strstr(buf, "on worker ") != NULL);
    WT_CHECK(strstr(buf, "system call") != NULL);
    WT_CHECK(strstr(buf, idtext) == NULL || strstr(buf, idtext) > tail);
    free(buf);
}

WT_MAIN()
