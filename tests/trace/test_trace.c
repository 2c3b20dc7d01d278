/* SPDX-License-Identifier: MIT */
/*
 * The tracer through its public API (weft/trace.h): scripted runs are
 * traced, and the file is parsed and checked by check_trace.py (python3's
 * json module; the cases skip without python3). Each case names what it
 * expects: slices per fiber, why they ended, flow arrows, tracks, tasks,
 * I/O, drops.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"
#include "wtest.h"
#include "wtest_rt.h"

static char trace_path[256];

static const char *tpath(void)
{
    if (!trace_path[0])
        snprintf(trace_path, sizeof trace_path, "/tmp/weft-trace-%d.json",
                 (int)getpid());
    return trace_path;
}

static void need_python(void)
{
    if (system("python3 -c 'import json' >/dev/null 2>&1") != 0)
        WT_SKIP("no python3 to parse the trace");
}

/* Run the checker on the trace file with the given checks (NULL-ended). */
static void check_file(const char *path, const char *checks[])
{
    char cmd[4096];
    size_t n =
        (size_t)snprintf(cmd, sizeof cmd, "python3 %s %s", CHECKER, path);
    for (int i = 0; checks[i]; i++)
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, " '%s'", checks[i]);
    int rc = system(cmd);
    if (rc != 0)
        WT_FAIL("the trace %s fails its checks (rc %d)", path, rc);
    unlink(path);
}

#define CHECK_TRACE(...)                             \
    do {                                             \
        const char *checks_[] = {__VA_ARGS__, NULL}; \
        check_file(tpath(), checks_);                \
    } while (0)

static struct wf_fiber go_named(const char *name, wf_fiber_fn *fn, void *arg)
{
    struct wf_fiber f;
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.name = name;
    WT_CHECK_EQ(wf_go_opts(&f, &o, fn, arg), 0);
    return f;
}

static void join(struct wf_fiber f)
{
    WT_CHECK_EQ(wf_join(f, NULL, WF_FOREVER), 0);
}

/* ---- yields: an exact count of slices ----------------------------------- */

static atomic_bool yields_done;

static void *spinner(void *arg)
{
    (void)arg;
    while (!atomic_load(&yields_done))
        wf_yield();
    return NULL;
}

static void *yielder(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++)
        wf_yield(); /* the spinner is always there to switch to */
    atomic_store(&yields_done, true);
    return NULL;
}

static void *yields_main(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    struct wf_fiber s = go_named("spinner", spinner, NULL);
    wf_yield(); /* let the spinner start, so it is queued behind the yielder */
    struct wf_fiber y = go_named("yielder", yielder, NULL);
    join(y);
    join(s);
    WT_CHECK_EQ(wf_trace_stop(), 0);
    return NULL;
}

WT_CASE(yields)
{
    need_python();
    run_main_leaving(1, yields_main, NULL);
    CHECK_TRACE("slices:yielder=11", "end:yielder:yield=10",
                "end:yielder:exit=1", "end:spinner:exit=1", "why:join>=1",
                "spawns>=2", "workers=1", "dropped=0");
}

/* ---- channel ping-pong: parks on a channel, wake arrows ------------------ */

#define ROUNDS 200

static void *ponger(void *arg)
{
    struct wf_chan **c = arg;
    int v;
    for (int i = 0; i < ROUNDS; i++) {
        WT_CHECK_EQ(wf_chan_recv(c[0], &v, WF_FOREVER), 0);
        WT_CHECK_EQ(wf_chan_send(c[1], &v, WF_FOREVER), 0);
    }
    return NULL;
}

static void *pinger(void *arg)
{
    struct wf_chan **c = arg;
    for (int i = 0; i < ROUNDS; i++) {
        int v = i;
        WT_CHECK_EQ(wf_chan_send(c[0], &v, WF_FOREVER), 0);
        WT_CHECK_EQ(wf_chan_recv(c[1], &v, WF_FOREVER), 0);
        WT_CHECK_EQ(v, i);
    }
    return NULL;
}

static void *pingpong_main(void *arg)
{
    (void)arg;
    struct wf_chan *c[2];
    WT_CHECK_EQ(wf_chan_create(&c[0], sizeof(int), 0), 0);
    WT_CHECK_EQ(wf_chan_create(&c[1], sizeof(int), 0), 0);
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    struct wf_fiber b = go_named("ponger", ponger, c);
    struct wf_fiber a = go_named("pinger", pinger, c);
    join(a);
    join(b);
    WT_CHECK_EQ(wf_trace_stop(), 0);
    wf_chan_release(c[0]);
    wf_chan_release(c[1]);
    return NULL;
}

WT_CASE(pingpong)
{
    need_python();
    run_main_leaving(2, pingpong_main, NULL);
    CHECK_TRACE("reason:pinger:chan>=1", "reason:ponger:chan>=1",
                "end:pinger:exit=1", "end:ponger:exit=1", "flows>=2",
                "workers=2");
}

/* ---- steals: busy fibers spread over two workers ------------------------- */

/* Each burner computes for 3 ms and then until burners have run on both
 * workers (at most 10 s): the other worker must have stolen one, whatever
 * the machine's load. */
static atomic_int burned_on[2];

static void *burner(void *arg)
{
    (void)arg;
    int w = wf_worker_index();
    WT_CHECK(w == 0 || w == 1);
    atomic_store(&burned_on[w], 1);
    int64_t end = wf_now() + 3 * WF_MSEC, give_up = wf_now() + 10 * WF_SEC;
    while (wf_now() < end ||
           (!(atomic_load(&burned_on[0]) && atomic_load(&burned_on[1])) &&
            wf_now() < give_up))
        ;
    return NULL;
}

static void *steal_main(void *arg)
{
    (void)arg;
    struct wf_fiber f[8];
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    for (int i = 0; i < 8; i++)
        f[i] = go_named("burner", burner, NULL);
    for (int i = 0; i < 8; i++)
        join(f[i]);
    WT_CHECK_EQ(wf_trace_stop(), 0);
    return NULL;
}

WT_CASE(steal)
{
    need_python();
    /* Steals are the subject: under the debug migration mode fibers are
     * moved to the other worker without one (CI's step 5). */
    setenv("WEFT_DEBUG_MIGRATE", "0", 1);
    run_main_leaving(2, steal_main, NULL);
    CHECK_TRACE("steals>=1", "end:burner:exit=8", "workers=2");
}

/* ---- sleep: a timer fires and wakes the fiber ---------------------------- */

static void *sleeper(void *arg)
{
    (void)arg;
    /* 20 ms: long enough that the worker whose timer wakes it gets to
     * sleep (an idle slice ends at that wake) even when the machine is
     * busy: with 2 ms, beside two CPU hogs, it sometimes never parked. */
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0);
    return NULL;
}

static void *sleep_main(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    join(go_named("sleeper", sleeper, NULL));
    WT_CHECK_EQ(wf_trace_stop(), 0);
    return NULL;
}

WT_CASE(sleep)
{
    need_python();
    run_main_leaving(2, sleep_main, NULL);
    CHECK_TRACE("reason:sleeper:sleep=1", "slices:sleeper=2", "timers>=1",
                "flows>=1", "idle>=1");
}

/* ---- parallel_for: task slices ------------------------------------------- */

static void body(long lo, long hi, void *ctx)
{
    atomic_long *sum = ctx;
    long s = 0;
    for (long i = lo; i < hi; i++)
        s += i;
    atomic_fetch_add(sum, s);
}

/* A body that returns only once the fiber that called the loop is parked
 * in its join (wf_fibers_list says "tasks"), so that park is in the trace
 * whatever the timing. (Left to timing, the workers finished the loop
 * before main reached its join on a loaded machine, and it never parked.)
 */
static void wait_caller_parked(long lo, long hi, void *ctx)
{
    (void)lo;
    (void)hi;
    uint64_t caller = *(const uint64_t *)ctx;
    int64_t end = wf_deadline_in(10 * WF_SEC);
    for (;;) {
        struct wf_fiber_info in[8];
        size_t total = 0;
        int n = wf_fibers_list(in, 8, &total);
        WT_CHECK(n >= 0);
        bool parked = false;
        for (int i = 0; i < n; i++)
            if (in[i].id == caller && in[i].state == WF_FIBER_PARKED &&
                strcmp(in[i].wait, "tasks") == 0)
                parked = true;
        if (parked)
            return;
        if (wf_now() > end)
            WT_FAIL("the loop's caller never parked in its join");
        sched_yield();
    }
}

static void *par_main(void *arg)
{
    (void)arg;
    atomic_long sum = 0;
    uint64_t me = wf_self().id;
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    WT_CHECK_EQ(wf_parallel_for(0, 1 << 20, 0, body, &sum), 0);
    WT_CHECK_EQ(wf_parallel_for(0, 1, 1, wait_caller_parked, &me), 0);
    WT_CHECK_EQ(wf_trace_stop(), 0);
    WT_CHECK_EQ(atomic_load(&sum), (long)(1 << 20) * ((1 << 20) - 1) / 2);
    return NULL;
}

WT_CASE(parallel_for)
{
    need_python();
    run_main_leaving(2, par_main, NULL);
    CHECK_TRACE("tasks>=1", "why:tasks>=1");
}

/* ---- a socket on loopback: I/O slices ------------------------------------ */

static void *reader(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int fd = wf_accept(lfd, NULL, NULL, WF_FOREVER);
    WT_CHECK(fd >= 0);
    char buf[8];
    WT_CHECK_EQ(wf_read(fd, buf, sizeof buf, WF_FOREVER), 5);
    wf_close(fd);
    return NULL;
}

static void *socket_main(void *arg)
{
    (void)arg;
    int lfd = wf_tcp_listen("127.0.0.1", 0, 8);
    WT_CHECK(lfd >= 0);
    int port = wf_local_port(lfd);
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    struct wf_fiber r = go_named("reader", reader, (void *)(intptr_t)lfd);
    int fd = wf_tcp_connect("127.0.0.1", port, WF_FOREVER);
    WT_CHECK(fd >= 0);
    /* Write only once the reader is parked on its read (a fixed nap was
     * not enough on a loaded machine). */
    for (int64_t end = wf_deadline_in(10 * WF_SEC);;) {
        struct wf_fiber_info in[8];
        int n = wf_fibers_list(in, 8, NULL);
        bool parked = false;
        for (int i = 0; i < n; i++)
            if (in[i].id == r.id && in[i].state == WF_FIBER_PARKED &&
                strcmp(in[i].wait, "io") == 0)
                parked = true;
        if (parked)
            break;
        WT_CHECK(wf_now() < end);
        wf_sleep(WF_MSEC);
    }
    WT_CHECK_EQ(wf_write(fd, "hello", 5, WF_FOREVER), 5);
    join(r);
    WT_CHECK_EQ(wf_trace_stop(), 0);
    wf_close(fd);
    wf_close(lfd);
    return NULL;
}

WT_CASE(socket)
{
    need_python();
    run_main_leaving(2, socket_main, NULL);
    CHECK_TRACE("io:read=1", "io:accept=1", "io:connect=1", "io:write=1",
                "reason:reader:io>=1");
}

/* ---- spans and marks, from a fiber and a plain thread -------------------- */

static void *span_fiber(void *arg)
{
    (void)arg;
    wf_trace_span_begin("outer");
    wf_trace_span_begin("inner");
    wf_yield();
    wf_trace_span_end();
    wf_trace_mark("hello");
    wf_trace_span_end();
    wf_trace_span_end(); /* unmatched: ignored */
    return NULL;
}

static void *span_thread(void *arg)
{
    (void)arg;
    wf_trace_span_begin("thread span with a name longer than thirty-two bytes");
    wf_trace_mark("from a thread");
    wf_trace_span_end();
    wf_trace_span_begin("left open");
    return NULL;
}

WT_CASE(spans)
{
    need_python();
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    WT_CHECK_EQ(wf_trace_active(), 1);
    struct wf_fiber f = go_named("spans", span_fiber, NULL);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, span_thread, NULL), 0);
    pthread_join(t, NULL);
    join(f);
    WT_CHECK_EQ(wf_trace_stop(), 0);
    WT_CHECK_EQ(wf_trace_active(), 0);
    WT_CHECK_EQ(wf_shutdown(), 0);
    CHECK_TRACE("span:outer=1", "span:inner=1", "mark:hello=1",
                "span:thread span with a name longer t=1",
                "mark:from a thread=1", "span:left open=1",
                "threads=2"); /* this thread (its spawn, its join) and t */
}

/* ---- a tiny ring: the oldest events go, the newest stay ------------------ */

WT_CASE(dropped)
{
    need_python();
    setenv("WEFT_TRACE_EVENTS", "16", 1);
    struct wf_config c = config(1);
    WT_CHECK_EQ(wf_init(&c), 0); /* reads WEFT_TRACE_EVENTS */
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        wf_trace_mark(name); /* two events each: the mark and its name */
    }
    WT_CHECK_EQ(wf_trace_stop(), 0);
    WT_CHECK_EQ(wf_shutdown(), 0);
    CHECK_TRACE("dropped>=184", "first_mark=92", "mark:m99=1", "mark:m0=0",
                "mark:m91=0");
}

/* ---- WEFT_TRACE end to end ----------------------------------------------- */

static void *env_main(void *arg)
{
    (void)arg;
    join(go_named("child", sleeper, NULL));
    return NULL;
}

WT_CASE(env_child)
{
    /* Run by env_var with WEFT_TRACE set; not a case of its own. */
    if (!getenv("WEFT_TRACE"))
        WT_SKIP("run by env_var");
    WT_CHECK_EQ(wf_trace_active(), 0);
    run_main_leaving(2, env_main, NULL);
    WT_CHECK_EQ(wf_trace_active(), 0); /* written by wf_shutdown */
}

WT_CASE(env_var)
{
    need_python();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "WEFT_TRACE=%s /proc/%d/exe env_child", tpath(),
             (int)getpid());
    WT_CHECK_EQ(system(cmd), 0);
    /* main was spawned after the start: named, and ends within it */
    CHECK_TRACE("reason:child:sleep=1", "reason:main:join=1", "end:main:exit=1",
                "workers=2");
}

WT_CASE(env_bad_path)
{
    setenv("WEFT_TRACE", "/nonexistent-dir/x.json", 1);
    struct wf_config c = config(1);
    WT_CHECK_EQ(wf_init(&c), -ENOENT); /* with a line on stderr */
    unsetenv("WEFT_TRACE");
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_shutdown(), 0);
}

WT_CASE(env_bad_events)
{
    setenv("WEFT_TRACE_EVENTS", "8", 1);
    struct wf_config c = config(1);
    WT_CHECK_EQ(wf_init(&c), WF_EINVAL);
    setenv("WEFT_TRACE_EVENTS", "1k", 1);
    WT_CHECK_EQ(wf_init(&c), WF_EINVAL);
}

/* ---- errors --------------------------------------------------------------- */

WT_CASE(errors)
{
    WT_CHECK_EQ(wf_trace_stop(), WF_EALREADY); /* never started */
    WT_CHECK_EQ(wf_trace_start(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_trace_start(""), WF_EINVAL);
    WT_CHECK_EQ(wf_trace_start("/nonexistent-dir/x.json"), -ENOENT);
    WT_CHECK_EQ(wf_trace_start("/"), -EISDIR);
    WT_CHECK_EQ(wf_trace_active(), 0);
    /* Without a runtime: plain-thread events only. */
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    WT_CHECK_EQ(wf_trace_start(tpath()), WF_EALREADY);
    wf_trace_mark("alone");
    WT_CHECK_EQ(wf_trace_stop(), 0);
    WT_CHECK_EQ(wf_trace_stop(), WF_EALREADY);
    if (system("python3 -c 'import json' >/dev/null 2>&1") == 0)
        CHECK_TRACE("mark:alone=1", "workers=0", "threads=1");
    else
        unlink(tpath());
}

/* A runtime of 2 workers that has stopped leaves no worker tracks to a
 * trace taken afterwards; one that runs while a trace is on gives its
 * tracks even if it stops before the trace does. (The first failed
 * before the session's worker count: the stopped runtime's 2 tracks.) */
static void *nothing(void *arg)
{
    return arg;
}

WT_CASE(workers_of_the_session)
{
    need_python();
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_run(&c, nothing, NULL, NULL), 0);
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    wf_trace_mark("after");
    WT_CHECK_EQ(wf_trace_stop(), 0);
    CHECK_TRACE("mark:after=1", "workers=0", "threads=1");

    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    c = config(3);
    WT_CHECK_EQ(wf_run(&c, nothing, NULL, NULL), 0);
    wf_trace_mark("stopped");
    WT_CHECK_EQ(wf_trace_stop(), 0);
    CHECK_TRACE("mark:stopped=1", "workers=3");
}

/* A trace started while 64 fibers already run: none has a spawn event in
 * it, and the stop must still write their slices (named "fiber ID").
 * Before, the writer's name table, sized by the spawns of the session,
 * filled up on lookups and the stop never returned. */
static atomic_bool spin_stop;

static void *yield_until_stop(void *arg)
{
    (void)arg;
    while (!atomic_load(&spin_stop))
        wf_yield();
    return NULL;
}

WT_CASE(started_with_fibers_running)
{
    need_python();
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    enum { N = 64 };
    struct wf_fiber f[N];
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(&f[i], yield_until_stop, NULL), 0);
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0); /* a plain thread: a nap */
    WT_CHECK_EQ(wf_trace_stop(), 0);
    atomic_store(&spin_stop, true);
    for (int i = 0; i < N; i++)
        join(f[i]);
    WT_CHECK_EQ(wf_shutdown(), 0);
    CHECK_TRACE("workers=2", "spawns=0");
}

/* A thread records from a destructor of its own key that runs after the
 * tracer's (its key was made later), while another thread stops and
 * starts tracing, which frees the rings of dead threads. Before, the
 * late record went to the ring the tracer's destructor had marked dead,
 * freed by the start meanwhile (SEGV; found by review). */
static pthread_key_t late_key;
static atomic_int late_step;

static void late_dtor(void *p)
{
    (void)p;
    atomic_store(&late_step, 1); /* the tracer's destructor has run */
    while (atomic_load(&late_step) != 2)
        sched_yield();
    wf_trace_mark("late");
}

static void *late_thread(void *arg)
{
    (void)arg;
    wf_trace_mark("first"); /* makes the ring (and the tracer's key) */
    WT_CHECK_EQ(pthread_key_create(&late_key, late_dtor), 0);
    WT_CHECK_EQ(pthread_setspecific(late_key, (void *)1), 0);
    return NULL;
}

WT_CASE(record_from_late_destructor)
{
    need_python();
    WT_CHECK_EQ(wf_trace_start(tpath()), 0);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, late_thread, NULL), 0);
    while (atomic_load(&late_step) != 1)
        sched_yield();
    WT_CHECK_EQ(wf_trace_stop(), 0);
    WT_CHECK_EQ(wf_trace_start(tpath()), 0); /* frees the dead ring */
    atomic_store(&late_step, 2);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    WT_CHECK_EQ(wf_trace_stop(), 0);
    CHECK_TRACE("mark:late=1", "threads=1");
    pthread_key_delete(late_key);
}

/* ---- stop and start while fibers migrate and a thread records ------------ */

static atomic_bool stress_stop;
static atomic_long marker_spans; /* spans the marker has ended */

static void *marker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stress_stop)) {
        wf_trace_span_begin("t");
        wf_trace_mark("x");
        wf_trace_span_end();
        atomic_fetch_add(&marker_spans, 1);
    }
    return NULL;
}

WT_CASE(stop_while_recording)
{
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct wf_chan *ch[2];
    WT_CHECK_EQ(wf_chan_create(&ch[0], sizeof(int), 0), 0);
    WT_CHECK_EQ(wf_chan_create(&ch[1], sizeof(int), 0), 0);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, marker, NULL), 0);
    int rounds = wt_sanitized() ? 5 : 20;
    for (int r = 0; r < rounds; r++) {
        WT_CHECK_EQ(wf_trace_start(tpath()), 0);
        if (r == rounds - 2) {
            /* The round whose file is checked holds a whole span of the
             * marker's: wait until it has ended two since the start (on
             * a loaded machine the thread may not have run at all). */
            long seen = atomic_load(&marker_spans);
            while (atomic_load(&marker_spans) < seen + 2)
                sched_yield();
        }
        struct wf_fiber b = go_named("ponger", ponger, ch);
        struct wf_fiber a = go_named("pinger", pinger, ch);
        if (r & 1)
            WT_CHECK_EQ(wf_trace_stop(), 0); /* while they run */
        join(a);
        join(b);
        if (!(r & 1))
            WT_CHECK_EQ(wf_trace_stop(), 0);
        if (r == rounds - 2 &&
            system("python3 -c 'import json' >/dev/null 2>&1") == 0)
            CHECK_TRACE("workers=2", "threads=2", "span:t>=1");
    }
    atomic_store(&stress_stop, true);
    pthread_join(t, NULL);
    wf_chan_release(ch[0]);
    wf_chan_release(ch[1]);
    WT_CHECK_EQ(wf_shutdown(), 0);
    unlink(tpath());
}

WT_MAIN()
