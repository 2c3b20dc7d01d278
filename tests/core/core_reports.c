/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_reports.c - part of test_core (see test_core.c): what the runtime reports: stack overflow (death tests),
 * stall reports, idle CPU use.
 */
#include "core_cases.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- stack overflow ----------------------------------------------------- */

static volatile int overflow_stop = INT_MAX;

/* Recurses until the stack runs out: every frame writes all of its 192
 * bytes (so a canary below cannot be skipped), and uses the result of the
 * call (no tail call). */
static WT_OPAQUE int deep(volatile char *up, int depth, int yield_each)
{
    volatile char pad[192];
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = (char)(depth + (int)i);
    if (depth >= overflow_stop)
        return 0;
    if (yield_each)
        wf_yield();
    int r = deep(pad, depth + 1, yield_each);
    return r + pad[depth % (int)sizeof pad] + (up ? up[0] : 0);
}

static void *overflow_fiber(void *arg)
{
    return U2P(deep(NULL, 0, (int)P2U(arg)));
}

/* Keeps a second fiber runnable, so that every wf_yield() of the recursing
 * fiber really switches (a yield with nothing else to run may return
 * without one, and the canary is checked at switches). */
static void *companion_fn(void *arg)
{
    for (;;)
        wf_yield();
    return NULL;
}

static void *overflow_main(void *arg)
{
    if (P2U(arg))
        WT_CHECK_EQ(wf_detach(go(companion_fn, NULL)), 0);
    struct wf_fiber f = go_named("deep-recursion", WF_ANY_WORKER,
                                 overflow_fiber, arg);
    join(f);
    return NULL;
}

/* Only meaningful as the child of the overflow_* cases (indented so that
 * it is not registered with ctest). */
 WT_CASE(child_overflow)
{
    const char *mode = getenv("WT_CORE_OVERFLOW_CHILD");
    if (!mode)
        WT_SKIP("only run as the child of the overflow_* cases");
    alarm(60); /* undetected and stuck: die of SIGALRM, which fails */
    struct wf_config c = config(2);
    c.stall_ns = -1;
    int yield_each = 0;
    if (strcmp(mode, "canary") == 0) {
        /* one worker: the recursing fiber and its companion share it */
        c.workers = 1;
        c.guarded_stacks = -1;
        yield_each = 1;
    }
    wf_run(&c, overflow_main, U2P(yield_each), NULL);
    fprintf(stderr, "child: the overflow went unnoticed\n");
    _exit(3);
}

static void overflow_death(const char *mode)
{
    char *out =
        wt_death("test_core", "child_overflow", "WT_CORE_OVERFLOW_CHILD", mode);
    WT_CHECK(strcasestr(out, "stack overflow") != NULL);
    WT_CHECK(strstr(out, "deep-recursion") != NULL);
    free(out);
}

WT_CASE(overflow_guarded)
{
    overflow_death("guarded");
}

WT_CASE(overflow_canary)
{
    overflow_death("canary");
}

/* ---- stall reports ------------------------------------------------------ */

static struct {
    _Atomic uint64_t hog_id;
    atomic_int hog_running;
    atomic_int go;
    atomic_int reports, other_reports;
    char name[64];
    int64_t ran_ns;
    int worker;
    int running_at_report;
    int name_was_null;
} stall;

static void stall_cb(const struct wf_stall *s, void *arg)
{
    if (arg != &stall) {
        atomic_fetch_add(&stall.other_reports, 1);
        return;
    }
    uint64_t id = atomic_load(&stall.hog_id);
    if (id == 0 || s->fiber_id != id) {
        atomic_fetch_add(&stall.other_reports, 1);
        return;
    }
    if (s->state == WF_STALL_DESCHEDULED)
        return; /* the machine was loaded meanwhile: not this case's */
    if (atomic_load(&stall.reports) == 0) {
        stall.name_was_null = s->name == NULL;
        snprintf(stall.name, sizeof stall.name, "%s", s->name ? s->name : "");
        stall.ran_ns = s->ran_ns;
        stall.worker = s->worker;
        stall.running_at_report = atomic_load(&stall.hog_running);
    }
    atomic_fetch_add(&stall.reports, 1);
}

/* The calling thread's CPU time; a fiber that does not switch stays on
 * its thread. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * WF_SEC + ts.tv_nsec;
}

static void *hog_fn(void *arg)
{
    fiber_wait(&stall.go, 1);
    atomic_store(&stall.hog_running, 1);
    /* Long enough for the monitor to sample it twice past the threshold:
     * under valgrind, which runs one thread at a time, on a loaded
     * machine 300 ms was seen to pass with no report. CPU time, not wall
     * time: a thread that does not get the CPU is not reported as
     * computing (WF_STALL_DESCHEDULED), and on a loaded machine 300 ms of
     * wall time were seen to hold less than a quarter of stall_ns of it. */
    int64_t end =
        thread_cpu_ns() + (wt_under_valgrind() ? 3000 : 300) * WF_MSEC;
    volatile uint64_t spin = 0;
    while (thread_cpu_ns() < end)
        spin++;
    atomic_store(&stall.hog_running, 0);
    return NULL;
}

static void *stall_main(void *arg)
{
    struct wf_fiber f = go_named((const char *)arg, WF_ANY_WORKER, hog_fn, NULL);
    atomic_store(&stall.hog_id, f.id);
    atomic_store(&stall.go, 1);
    join(f);
    return NULL;
}

WT_CASE(stall_report_callback)
{
    struct wf_config c = config(2);
    c.stall_ns = 50 * WF_MSEC;
    c.stall_fn = stall_cb;
    c.stall_arg = &stall;
    void *r;
    WT_CHECK_EQ(wf_run(&c, stall_main, (void *)"hog-fiber", &r), 0);
    WT_CHECK_EQ(atomic_load(&stall.reports), 1); /* once per stall */
    WT_CHECK(!stall.name_was_null);
    WT_CHECK(strcmp(stall.name, "hog-fiber") == 0);
    WT_CHECK(stall.ran_ns >= 50 * WF_MSEC);
    WT_CHECK(stall.worker >= 0 && stall.worker < 2);
    WT_CHECK_EQ(stall.running_at_report, 1); /* reported while it ran */
}

/* With no callback the report goes to stderr and names the fiber. */
WT_CASE(stall_report_stderr)
{
    char path[] = "/tmp/weft-stall-XXXXXX";
    int fd = mkstemp(path);
    WT_CHECK(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    WT_CHECK(saved >= 0);
    WT_CHECK(dup2(fd, 2) == 2);
    struct wf_config c = config(2);
    c.stall_ns = 50 * WF_MSEC;
    void *r;
    int rc = wf_run(&c, stall_main, (void *)"hog-on-stderr", &r);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    WT_CHECK_EQ(rc, 0);
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    WT_CHECK(n >= 0);
    buf[n] = '\0';
    fprintf(stderr, "---- captured stderr ----\n%s---- end ----\n", buf);
    WT_CHECK(strstr(buf, "hog-on-stderr") != NULL);
}

/* ---- a worker thread that does not get the CPU ---------------------------- */

/* The fiber's worker thread is pinned to one CPU beside two busy threads
 * at a higher priority (nice 0 against its 19): it is runnable nearly all
 * the time but gets a small share of the CPU, so its fiber computes only
 * a little while its worker makes no progress. The monitor must say so
 * (DESCHEDULED), not that the fiber is computing. */
static struct {
    _Atomic uint64_t id;
    atomic_int first_state; /* the first report's state, -1 none yet */
    atomic_int reports;
    _Atomic int64_t cpu_ns;
    atomic_int hogs_stop;
    int cpu;
} desched = {.first_state = -1};

static void desched_cb(const struct wf_stall *s, void *arg)
{
    (void)arg;
    if (s->fiber_id != atomic_load(&desched.id))
        return;
    int none = -1;
    if (atomic_compare_exchange_strong(&desched.first_state, &none, s->state))
        atomic_store(&desched.cpu_ns, s->cpu_ns);
    atomic_fetch_add(&desched.reports, 1);
}

static bool pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

static void *desched_hog(void *arg)
{
    (void)arg;
    pin_self(desched.cpu);
    volatile unsigned long n = 0;
    while (!atomic_load_explicit(&desched.hogs_stop, memory_order_relaxed))
        n++;
    return NULL;
}

static void *desched_main(void *arg)
{
    (void)arg;
    atomic_store(&desched.id, wf_self().id);
    /* This fiber's worker thread: pinned beside the hogs, and below them. */
    if (!pin_self(desched.cpu) ||
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
        return U2P(77);
    wf_yield(); /* the stall starts after the set-up */
    /* Compute without switching until the monitor has reported us. */
    volatile unsigned long n = 0;
    while (atomic_load(&desched.first_state) < 0)
        n++;
    return NULL;
}

WT_CASE(stall_report_descheduled)
{
    if (wt_under_valgrind())
        WT_SKIP("valgrind runs one thread at a time");
    struct wf_config c = config(1);
    /* The worker gets a slice of a few ms when the hogs start (the
     * scheduler's base slice), then hardly any: a stall of 100 ms is
     * well clear of the first slice. */
    c.stall_ns = 100 * WF_MSEC;
    c.stall_fn = desched_cb;
    cpu_set_t set;
    WT_CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    desched.cpu = 0;
    while (!CPU_ISSET(desched.cpu, &set))
        desched.cpu++;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        WT_CHECK_EQ(pthread_create(&t[i], NULL, desched_hog, NULL), 0);
    void *r;
    WT_CHECK_EQ(wf_run(&c, desched_main, NULL, &r), 0);
    atomic_store(&desched.hogs_stop, 1);
    for (int i = 0; i < 2; i++)
        WT_CHECK_EQ(pthread_join(t[i], NULL), 0);
    if (r == U2P(77))
        WT_SKIP("cannot pin the worker thread or lower its priority");
    WT_CHECK_EQ(atomic_load(&desched.first_state), WF_STALL_DESCHEDULED);
    int64_t cpu = atomic_load(&desched.cpu_ns);
    WT_CHECK(cpu >= 0 && cpu < c.stall_ns / 4); /* what the class means */
}

/* ---- idle CPU ------------------------------------------------------------ */

static void *idle_sleeper(void *arg)
{
    return U2P((intptr_t)wf_sleep(3600 * WF_SEC));
}

static void check_idle_cpu(int64_t used)
{
    fprintf(stderr, "idle runtime used %lld us of CPU in 1 s\n",
            (long long)(used / WF_USEC));
    if (used >= 10 * WF_MSEC)
        WT_FAIL("idle runtime used %lld us of CPU in 1 s (limit 10 ms)",
                (long long)(used / WF_USEC));
}

WT_CASE(idle_cpu_plain_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct wf_fiber h[20];
    for (int i = 0; i < 20; i++)
        h[i] = go(i % 2 ? idle_sleeper : park_forever, NULL);
    nap_ms(300); /* let spinning workers park */
    int64_t c0 = cpu_time_ns();
    nap_ms(1000);
    int64_t used = cpu_time_ns() - c0;
    for (int i = 0; i < 20; i++) {
        WT_CHECK_EQ(wf_cancel(h[i]), 0);
        WT_CHECK_EQ((intptr_t)join(h[i]), WF_ECANCELED);
    }
    shutdown_clean();
    check_idle_cpu(used);
}

static void *idle_main(void *arg)
{
    struct wf_fiber h[20];
    for (int i = 0; i < 20; i++)
        h[i] = go(i % 2 ? idle_sleeper : park_forever, NULL);
    WT_CHECK_EQ(wf_sleep(300 * WF_MSEC), 0);
    int64_t c0 = cpu_time_ns();
    WT_CHECK_EQ(wf_sleep(WF_SEC), 0); /* main is a sleeper too */
    int64_t used = cpu_time_ns() - c0;
    for (int i = 0; i < 20; i++) {
        WT_CHECK_EQ(wf_cancel(h[i]), 0);
        WT_CHECK_EQ((intptr_t)join(h[i]), WF_ECANCELED);
    }
    return U2P(used);
}

WT_CASE(idle_cpu_fiber_sleeping)
{
    check_idle_cpu((int64_t)P2U(run_main(2, idle_main, NULL)));
}
