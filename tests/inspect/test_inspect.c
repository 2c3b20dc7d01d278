/* SPDX-License-Identifier: MIT */
/*
 * weft/inspect.h: counters that add up on scripted runs, the fiber list
 * with each wait reason, the dump on a signal, the deadlock report both
 * ways.
 *
 * Cases that must see output another thread prints (the monitor's dump,
 * the deadlock report) run the scenario in a child process whose stderr
 * is a pipe (see `watch`): the parent reads until the expected text has
 * come, or the child has exited, or 60 s have passed, and then stops the
 * child. No case depends on how fast anything happens, except that the
 * "no report" cases give the report a few thresholds' time to appear.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stack_shown.h"
#include "wtest_rt.h"

/* ---- helpers --------------------------------------------------------------- */

static struct wf_stats stats_now(void)
{
    struct wf_stats s;
    WT_CHECK(wf_stats(&s, NULL, 0) >= 1);
    return s;
}

/* Runs fn in a child with env NAME=VALUE pairs set, its stderr read until
 * every string of `want` has appeared (or the child exits); then the
 * child is killed. Returns the output (malloc'd). */
static char *watch(void (*fn)(void), const char *const *env,
                   const char *const *want)
{
    int p[2];
    WT_CHECK_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    WT_CHECK(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        for (int i = 0; env && env[i]; i += 2)
            setenv(env[i], env[i + 1], 1);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    WT_CHECK(out != NULL);
    out[0] = '\0';
    int64_t give_up = wf_now() + 60 * WF_SEC;
    for (;;) {
        bool all = true;
        for (int i = 0; want && want[i]; i++)
            if (!strstr(out, want[i]))
                all = false;
        if (all && want)
            break;
        struct pollfd pf = {p[0], POLLIN, 0};
        int64_t left = (give_up - wf_now()) / WF_MSEC;
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        ssize_t n = read(p[0], out + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (len += (size_t)n) == cap)
            break;
        out[len] = '\0';
    }
    out[len] = '\0';
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    close(p[0]);
    fprintf(stderr, "--- child's stderr ---\n%s--- end ---\n", out);
    return out;
}

/* ---- counters ------------------------------------------------------------------ */

enum { NSPAWN = 100, NYIELD = 3, NSLEEP = 5 };

static void *yielder(void *arg)
{
    (void)arg;
    for (int i = 0; i < NYIELD; i++)
        wf_yield();
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < NSLEEP; i++)
        WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    return NULL;
}

static void *stats_main(void *arg)
{
    (void)arg;
    struct wf_stats a = stats_now();
    WT_CHECK_EQ(a.workers, 1);
    WT_CHECK_EQ(a.fibers_live, 1); /* main */
    struct wf_fiber f[NSPAWN];
    for (int i = 0; i < NSPAWN; i++)
        WT_CHECK_EQ(wf_go(&f[i], yielder, NULL), 0);
    struct wf_stats b = stats_now();
    WT_CHECK_EQ(b.total.spawns - a.total.spawns, NSPAWN);
    WT_CHECK_EQ(b.fibers_live, NSPAWN + 1);
    WT_CHECK(b.fibers_peak >= NSPAWN + 1);
    WT_CHECK(b.stacks_mapped >= b.fibers_live);
    for (int i = 0; i < NSPAWN; i++)
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
    struct wf_stats c = stats_now();
    WT_CHECK_EQ(c.total.exits - a.total.exits, NSPAWN);
    WT_CHECK_EQ(c.fibers_live, 1);
    WT_CHECK_EQ(c.fibers_peak, NSPAWN + 1); /* one worker: main spawned all
                                             * before any ran */
    WT_CHECK_EQ(c.stacks_cached, c.stacks_mapped - 1);
    /* Each fiber starts with a switch to it (its yields switch too, but
     * the last one's find nobody else runnable). */
    WT_CHECK(c.total.switches - b.total.switches >= NSPAWN);
    WT_CHECK_EQ(c.total.steals, 0); /* one worker */

    /* Parks and timers: a sleeper parks NSLEEP times, each woken by its
     * timer; main parks once in the join (the sleeper is asleep). */
    struct wf_fiber s;
    WT_CHECK_EQ(wf_go(&s, sleeper, NULL), 0);
    WT_CHECK_EQ(wf_join(s, NULL, WF_FOREVER), 0);
    struct wf_stats d = stats_now();
    WT_CHECK_EQ(d.total.parks - c.total.parks, NSLEEP + 1);
    WT_CHECK_EQ(d.total.timers - c.total.timers, NSLEEP);
    WT_CHECK_EQ(d.total.spawns - c.total.spawns, 1);

    struct wf_worker_stats per[4];
    WT_CHECK_EQ(wf_stats(&d, per, 4), 1);
    WT_CHECK_EQ(per[0].parks, d.total.parks);
    WT_CHECK_EQ(per[0].spawns, d.total.spawns - 1); /* main: wf_run's thread */
    return NULL;
}

WT_CASE(stats_add_up)
{
    run_main(1, stats_main, NULL);
}

/* Two workers: spawns counted on one worker and exits on another (each
 * adds its batch to the shared count at its own pace) still sum exactly,
 * and the peak is within a batch per worker of the true one. */
enum { NWAIT = 500 };

static void *waiter(void *arg)
{
    WT_CHECK_EQ(wf_event_wait(arg, WF_FOREVER), 0);
    return NULL;
}

static void *live_main(void *arg)
{
    (void)arg;
    struct wf_event ev;
    WT_CHECK_EQ(wf_event_init(&ev), 0);
    static struct wf_fiber f[NWAIT];
    for (int i = 0; i < NWAIT; i++)
        WT_CHECK_EQ(wf_go(&f[i], waiter, &ev), 0);
    struct wf_stats a = stats_now();
    WT_CHECK_EQ(a.fibers_live, NWAIT + 1);
    WT_CHECK(a.fibers_peak >= NWAIT + 1);
    WT_CHECK_EQ(wf_event_set(&ev), 0);
    for (int i = 0; i < NWAIT; i++)
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
    /* A joined fiber may still be on its way out on the other worker
     * (its exit is counted when it has left its stack): wait for that. */
    struct wf_stats b = stats_now();
    for (int64_t end = wf_deadline_in(10 * WF_SEC);
         b.fibers_live != 1 && wf_now() < end; b = stats_now())
        WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    WT_CHECK_EQ(b.fibers_live, 1);
    WT_CHECK_EQ(b.total.spawns - b.total.exits, 1); /* main, from wf_run */
    WT_CHECK(b.fibers_peak >= NWAIT + 1);
    WT_CHECK(b.fibers_peak <= NWAIT + 1 + 2 * 32);
    WT_CHECK_EQ(wf_event_destroy(&ev), 0);
    return NULL;
}

WT_CASE(stats_live_two_workers)
{
    run_main(2, live_main, NULL);
}

static atomic_int stolen_ran;
static atomic_int stolen_on;

static void *stolen(void *arg)
{
    (void)arg;
    atomic_store(&stolen_on, wf_worker_index());
    atomic_store(&stolen_ran, 1);
    return NULL;
}

static void *steal_main(void *arg)
{
    (void)arg;
    struct wf_stats a = stats_now();
    int me = wf_worker_index();
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, stolen, NULL), 0);
    /* Never switch: the only way the child runs is the other worker
     * stealing it from this one's run-next slot. */
    while (!atomic_load(&stolen_ran))
        __asm__ __volatile__("" ::: "memory");
    WT_CHECK(atomic_load(&stolen_on) != me);
    WT_CHECK_EQ(wf_join(f, NULL, WF_FOREVER), 0);
    struct wf_stats b = stats_now();
    WT_CHECK(b.total.steals - a.total.steals >= 1);
    struct wf_worker_stats per[2];
    WT_CHECK_EQ(wf_stats(&b, per, 2), 2);
    WT_CHECK(per[1 - me].steals >= 1);
    WT_CHECK_EQ(per[0].steals + per[1].steals, b.total.steals);
    return NULL;
}

WT_CASE(stats_forced_steal)
{
    /* Steals are the subject: under the debug migration mode the child is
     * moved to the other worker without one (CI's step 5). */
    setenv("WEFT_DEBUG_MIGRATE", "0", 1);
    run_main(2, steal_main, NULL);
}

WT_CASE(stats_misuse)
{
    struct wf_stats s;
    WT_CHECK_EQ(wf_stats(&s, NULL, 0), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_fibers_list(NULL, 0, NULL), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_fibers_dump(2), WF_ESHUTDOWN);
    struct wf_config c = config(1);
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_stats(NULL, NULL, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_stats(&s, NULL, 3), WF_EINVAL);
    WT_CHECK_EQ(wf_fibers_list(NULL, 1, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_fibers_dump(-1), WF_EINVAL);
    size_t total = 99;
    WT_CHECK_EQ(wf_fibers_list(NULL, 0, &total), 0);
    WT_CHECK_EQ(total, 0);
    shutdown_clean();
    c.dump_signal = SIGKILL;
    WT_CHECK_EQ(wf_init(&c), WF_EINVAL);
    c.dump_signal = 65;
    WT_CHECK_EQ(wf_init(&c), WF_EINVAL);
    c.dump_signal = 0;
    c.deadlock_ns = 10; /* below 1 ms */
    WT_CHECK_EQ(wf_init(&c), WF_EINVAL);
}

static void init_with_env(void)
{
    struct wf_config c = config(1);
    int rc = wf_init(&c);
    fprintf(stderr, "wf_init: %d\n", rc);
    if (rc == 0)
        wf_shutdown();
    fflush(stderr);
    _exit(0);
}

WT_CASE(config_errors)
{
    static const char *const bad_sig[] = {"WEFT_DUMP_SIGNAL", "SIGBOGUS", NULL};
    static const char *const want_sig[] = {
        "weft: WEFT_DUMP_SIGNAL=SIGBOGUS: expected a signal", "wf_init: -22",
        NULL};
    char *out = watch(init_with_env, bad_sig, want_sig);
    WT_CHECK(strstr(out, want_sig[0]) && strstr(out, want_sig[1]));
    free(out);
    static const char *const kill_sig[] = {"WEFT_DUMP_SIGNAL", "KILL", NULL};
    static const char *const want_kill[] = {"WEFT_DUMP_SIGNAL=KILL: expected",
                                            NULL};
    out = watch(init_with_env, kill_sig, want_kill);
    WT_CHECK(strstr(out, want_kill[0]));
    free(out);
    static const char *const bad_dl[] = {"WEFT_DEADLOCK_MS", "soon", NULL};
    static const char *const want_dl[] = {
        "weft: WEFT_DEADLOCK_MS=soon: expected 0 (off)", NULL};
    out = watch(init_with_env, bad_dl, want_dl);
    WT_CHECK(strstr(out, want_dl[0]));
    free(out);
    static const char *const good[] = {"WEFT_DUMP_SIGNAL", "usr2",
                                       "WEFT_DEADLOCK_MS", "5s", NULL};
    static const char *const want_ok[] = {"wf_init: 0", NULL};
    out = watch(init_with_env, good, want_ok);
    WT_CHECK(strstr(out, want_ok[0]));
    free(out);
}

/* ---- the fiber list ------------------------------------------------------------ */

struct parked {
    struct wf_chan *ch;
    struct wf_mutex mu;
    struct wf_waitgroup wg;
    struct wf_promise *pr;
    struct wf_future *fu;
    int sv[2];
    struct wf_fiber gate; /* a fiber that others join */
    atomic_int gate_open;
};

static void *on_chan(void *a)
{
    struct parked *p = a;
    int v;
    WT_CHECK_EQ(wf_chan_recv(p->ch, &v, WF_FOREVER), WF_EPIPE);
    return NULL;
}

static void *on_mutex(void *a)
{
    struct parked *p = a;
    WT_CHECK_EQ(wf_mutex_lock(&p->mu, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&p->mu), 0);
    return NULL;
}

static void *on_sleep(void *a)
{
    (void)a;
    WT_CHECK_EQ(wf_sleep(3600 * WF_SEC), WF_ECANCELED);
    return NULL;
}

static void *gate_fn(void *a)
{
    struct parked *p = a;
    while (!atomic_load(&p->gate_open))
        wf_park(WF_FOREVER);
    return NULL;
}

static void *on_join(void *a)
{
    struct parked *p = a;
    WT_CHECK_EQ(wf_join(p->gate, NULL, WF_FOREVER), 0);
    return NULL;
}

static void *on_future(void *a)
{
    struct parked *p = a;
    WT_CHECK_EQ(wf_future_await(p->fu, WF_FOREVER), 0);
    return NULL;
}

static void *on_io(void *a)
{
    struct parked *p = a;
    char c;
    WT_CHECK_EQ(wf_read(p->sv[0], &c, 1, WF_FOREVER), 1);
    return NULL;
}

static void *on_wg(void *a)
{
    struct parked *p = a;
    WT_CHECK_EQ(wf_waitgroup_wait(&p->wg, WF_FOREVER), 0);
    return NULL;
}

static const struct {
    const char *name, *wait;
    wf_fiber_fn *fn;
} kinds[] = {
    {"p-chan", "chan", on_chan},       {"p-mutex", "mutex", on_mutex},
    {"p-sleep", "sleep", on_sleep},    {"p-join", "join", on_join},
    {"p-future", "future", on_future}, {"p-io", "io", on_io},
    {"p-wg", "waitgroup", on_wg},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static const struct wf_fiber_info *find(const struct wf_fiber_info *in, int n,
                                        const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(in[i].name, name) == 0)
            return &in[i];
    return NULL;
}

/* Spawn one fiber per wait kind (and the gate), and wait until all are
 * parked. */
static void park_all(struct parked *p, struct wf_fiber *f)
{
    WT_CHECK_EQ(wf_chan_create(&p->ch, sizeof(int), 0), 0);
    WT_CHECK_EQ(wf_mutex_init(&p->mu), 0);
    WT_CHECK_EQ(wf_mutex_lock(&p->mu, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_waitgroup_init(&p->wg), 0);
    WT_CHECK_EQ(wf_waitgroup_add(&p->wg, 1), 0);
    WT_CHECK_EQ(wf_promise_create(&p->pr, &p->fu), 0);
    WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->sv), 0);
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.name = "p-gate";
    WT_CHECK_EQ(wf_go_opts(&p->gate, &o, gate_fn, p), 0);
    for (size_t i = 0; i < NKINDS; i++) {
        o.name = kinds[i].name;
        WT_CHECK_EQ(wf_go_opts(&f[i], &o, kinds[i].fn, p), 0);
    }
    for (;;) { /* until every one is parked */
        struct wf_fiber_info in[32];
        size_t total;
        int n = wf_fibers_list(in, 32, &total);
        WT_CHECK(n >= 0 && (size_t)n == total);
        size_t parked = 0;
        for (int i = 0; i < n; i++)
            if (in[i].state == WF_FIBER_PARKED && in[i].name[0] == 'p')
                parked++;
        if (parked == NKINDS + 1)
            break;
        wf_sleep(WF_MSEC);
    }
}

static void release_all(struct parked *p, struct wf_fiber *f)
{
    WT_CHECK_EQ(wf_chan_close(p->ch), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&p->mu), 0);
    WT_CHECK_EQ(wf_cancel(f[2]), 0); /* the sleeper */
    atomic_store(&p->gate_open, 1);
    WT_CHECK_EQ(wf_unpark(p->gate), 0);
    WT_CHECK_EQ(wf_promise_complete(p->pr, NULL), 0);
    WT_CHECK_EQ(write(p->sv[1], "x", 1), 1);
    WT_CHECK_EQ(wf_waitgroup_done(&p->wg), 0);
    for (size_t i = 0; i < NKINDS; i++)
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
    /* the gate was joined by p-join */
    wf_future_release(p->fu);
    wf_chan_release(p->ch);
    WT_CHECK_EQ(wf_mutex_destroy(&p->mu), 0);
    WT_CHECK_EQ(wf_waitgroup_destroy(&p->wg), 0);
    close(p->sv[0]);
    close(p->sv[1]);
}

static void *list_main(void *arg)
{
    (void)arg;
    struct parked p;
    memset(&p, 0, sizeof p);
    struct wf_fiber f[NKINDS];
    park_all(&p, f);
    struct wf_fiber_info in[32];
    size_t total;
    int n = wf_fibers_list(in, 32, &total);
    WT_CHECK_EQ(n, NKINDS + 2); /* + the gate and main */
    for (size_t i = 0; i < NKINDS; i++) {
        const struct wf_fiber_info *x = find(in, n, kinds[i].name);
        WT_CHECK(x != NULL);
        WT_CHECK_EQ(x->state, WF_FIBER_PARKED);
        if (strcmp(x->wait, kinds[i].wait) != 0)
            WT_FAIL("%s waits on '%s', not '%s'", x->name, x->wait,
                    kinds[i].wait);
        WT_CHECK(x->worker >= 0 && x->worker < 2);
        WT_CHECK(x->state_ns >= 0);
        WT_CHECK_EQ(x->id, f[i].id);
        WT_CHECK(x->entry == (void *)kinds[i].fn);
    }
    const struct wf_fiber_info *g = find(in, n, "p-gate");
    WT_CHECK(g && g->state == WF_FIBER_PARKED && !strcmp(g->wait, "park"));
    const struct wf_fiber_info *m = find(in, n, "main");
    WT_CHECK(m && m->state == WF_FIBER_RUNNING && !strcmp(m->wait, ""));
    WT_CHECK_EQ(m->worker, wf_worker_index());
    /* A short buffer: the count is still the whole. */
    WT_CHECK_EQ(wf_fibers_list(in, 2, &total), 2);
    WT_CHECK_EQ(total, NKINDS + 2);
    struct wf_stats s = stats_now();
    WT_CHECK(s.total.io >= 1);
    release_all(&p, f);
    return NULL;
}

WT_CASE(list_wait_reasons)
{
    run_main(2, list_main, NULL);
}

/* ---- the dump on a signal -------------------------------------------------------- */

/* Exported (not static) so that dladdr names them in dumps. */
void *inspect_dump_receiver(void *a);
void *inspect_stuck_receiver(void *a);

__attribute__((noinline)) void *inspect_dump_receiver(void *a)
{
    int v;
    wf_chan_recv(a, &v, WF_FOREVER);
    return NULL;
}

static void *dump_main(void *arg)
{
    (void)arg;
    struct wf_chan *ch;
    WT_CHECK_EQ(wf_chan_create(&ch, sizeof(int), 0), 0);
    struct wf_fiber f;
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.name = "recv-a";
    WT_CHECK_EQ(wf_go_opts(&f, &o, inspect_dump_receiver, ch), 0);
    for (;;) {
        struct wf_fiber_info in[4];
        int n = wf_fibers_list(in, 4, NULL);
        const struct wf_fiber_info *x = find(in, n, "recv-a");
        if (x && x->state == WF_FIBER_PARKED && wt_stack_shown("recv-a"))
            break;
        wf_sleep(WF_MSEC);
    }
    /* raise: to this thread, which goes on running (TSan delivers a
     * signal only when its thread makes an intercepted call). */
    raise(SIGUSR1);
    for (;;) /* the parent kills us once it has read the dump */
        wf_sleep(WF_SEC);
    return NULL;
}

static void dump_child(void)
{
    struct wf_config c = config(2);
    wf_run(&c, dump_main, NULL, NULL);
}

WT_CASE(dump_on_signal)
{
    static const char *const env[] = {"WEFT_DUMP_SIGNAL", "SIGUSR1", NULL};
    static const char *const want[] = {
        "weft: fiber dump: signal 10: 2 fibers, 2 workers",
        "\"recv-a\" [parked: chan, ",
        "wf_chan_recv+0x",
        "inspect_dump_receiver+0x",
        "\"main\" [",
        NULL};
    char *out = watch(dump_child, env, want);
    for (int i = 0; want[i]; i++)
        if (!strstr(out, want[i]))
            WT_FAIL("the dump lacks \"%s\"", want[i]);
    free(out);
}

/* A dump walks the stacks of fibers that are parked when it looks; a
 * fiber may be woken and run on its stack meanwhile (or still be on its
 * way into the park). The walk must stay a best-effort read: bounded by
 * the stack, and not a data race under TSan (the CI TSan job saw one
 * with dump_on_signal's main fiber going to sleep during the dump). */
static struct wf_chan *pp_ch[2];
static atomic_int pp_stop;   /* set by the dumper once it has dumped enough */
static atomic_int pp_rounds; /* round trips completed by the pair */

/* Side 0 keeps the pair going until the dumper says stop, and then ends
 * it with -1, which side 1 echoes before it leaves too. So the pair is
 * still parking and waking for every dump: it cannot finish before the
 * dumper first runs (a fixed count of round trips could, on 2 workers). */
static void *pinger(void *a)
{
    int side = (int)(intptr_t)a;
    for (int i = 0;; i++) {
        int v = i, r = 0;
        if (side == 0) {
            if (atomic_load(&pp_stop))
                v = -1;
            WT_CHECK_EQ(wf_chan_send(pp_ch[0], &v, WF_FOREVER), 0);
            WT_CHECK_EQ(wf_chan_recv(pp_ch[1], &r, WF_FOREVER), 0);
            WT_CHECK_EQ(r, v);
            atomic_fetch_add(&pp_rounds, 1);
        } else {
            WT_CHECK_EQ(wf_chan_recv(pp_ch[0], &v, WF_FOREVER), 0);
            WT_CHECK_EQ(wf_chan_send(pp_ch[1], &v, WF_FOREVER), 0);
        }
        if (v < 0)
            return NULL;
    }
}

static void *dump_racing_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++)
        WT_CHECK_EQ(wf_chan_create(&pp_ch[i], sizeof(int), 0), 0);
    struct wf_fiber f[2];
    for (int i = 0; i < 2; i++)
        WT_CHECK_EQ(wf_go(&f[i], pinger, (void *)(intptr_t)i), 0);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    WT_CHECK(null >= 0);
    /* Dump until the pair has made 3,000 round trips and at least 200
     * dumps were taken while it ran. */
    int dumps = 0;
    while (dumps < 200 || atomic_load(&pp_rounds) < 3000) {
        WT_CHECK(wf_fibers_dump(null) >= 3); /* main and the pair */
        dumps++;
        wf_yield();
    }
    atomic_store(&pp_stop, 1);
    close(null);
    for (int i = 0; i < 2; i++) {
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
        wf_chan_release(pp_ch[i]);
    }
    return NULL;
}

WT_CASE(dump_while_fibers_park_and_wake)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_run(&c, dump_racing_main, NULL, NULL), 0);
}

/* ---- deadlocks ------------------------------------------------------------------ */

__attribute__((noinline)) void *inspect_stuck_receiver(void *a)
{
    int v;
    wf_chan_recv(a, &v, WF_FOREVER);
    return NULL;
}

enum {
    DL_NONE,
    DL_TIMER,
    DL_IO,
    DL_PLAIN,
    DL_PLAIN_SLEEP, /* a plain thread in wf_sleep */
    DL_PLAIN_ONCE, /* a plain thread runs a wf_once function a fiber waits on */
    DL_PLAIN_IO,   /* a plain thread in wf_read with no deadline */
};

static int dl_mode;
/* no_report's child: the 1 s without a report starts once the scenario is
 * up, not at the fork (a child slow to get there, on a loaded machine or
 * under a sanitizer, would otherwise be stopped before it has shown it
 * is up, or with less than 50 thresholds left to report in). */
static bool dl_alarm_when_up;
static struct wf_chan *plain_ch;
static struct wf_once dl_once = WF_ONCE_INIT;
static int dl_sv[2];

/* The plain thread's calls of the last three scenarios: each can end by
 * itself (a sleep, the once function, data from outside), so while they
 * last the watch must not report. (Each reported within 50 ms before.) */
static void long_once(void)
{
    wf_sleep(3600 * WF_SEC);
}

/* The plain thread's kernel id, stored just before it enters its weft
 * call: the scenario waits until that thread sleeps in the kernel, that
 * is inside the call, before its fibers park. (A plain thread outside
 * any weft call is invisible to the watch, weft/inspect.h, so on a loaded
 * machine the watch reported the window between pthread_create and the
 * call.) */
static atomic_int plain_tid;

static void entering_call(void)
{
    atomic_store(&plain_tid, (int)gettid());
}

/* Whether thread tid sleeps in the kernel ("S" in its stat line). */
static bool thread_sleeps(int tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] == 'S';
}

/* From a fiber: wait until the plain thread is asleep inside its call.
 * wf_sleep arms a timer, so the watch cannot report meanwhile. */
static void wait_plain_thread_inside(void)
{
    int tid;
    while ((tid = atomic_load(&plain_tid)) == 0 || !thread_sleeps(tid))
        wf_sleep(WF_MSEC);
}

static void *plain_caller(void *a)
{
    (void)a;
    char c;
    entering_call();
    switch (dl_mode) {
    case DL_PLAIN_SLEEP:
        wf_sleep(3600 * WF_SEC);
        break;
    case DL_PLAIN_ONCE:
        wf_once(&dl_once, long_once);
        break;
    case DL_PLAIN_IO:
        wf_read(dl_sv[0], &c, 1, WF_FOREVER);
        break;
    }
    return NULL;
}

static void once_nop(void)
{
}

void *inspect_once_waiter(void *a);
__attribute__((noinline)) void *inspect_once_waiter(void *a)
{
    (void)a;
    wf_once(&dl_once, once_nop);
    return NULL;
}

static void *plain_thread(void *a)
{
    (void)a;
    int v;
    /* A plain thread in a weft call with a deadline: it may act on the
     * fibers afterwards. */
    entering_call();
    wf_chan_recv(plain_ch, &v, wf_now() + 3600 * WF_SEC);
    return NULL;
}

static void *deadlock_main(void *arg)
{
    (void)arg;
    struct wf_chan *a, *b;
    WT_CHECK_EQ(wf_chan_create(&a, sizeof(int), 0), 0);
    WT_CHECK_EQ(wf_chan_create(&b, sizeof(int), 0), 0);
    struct wf_fiber f1, f2, extra;
    WT_CHECK_EQ(wf_go(&f1, inspect_stuck_receiver, a), 0);
    WT_CHECK_EQ(wf_go(&f2, inspect_stuck_receiver, b), 0);
    int sv[2];
    pthread_t t;
    memset(&t, 0, sizeof t);
    switch (dl_mode) {
    case DL_TIMER:
        WT_CHECK_EQ(wf_go(&extra, on_sleep, NULL), 0);
        break;
    case DL_IO: {
        static struct parked p;
        WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        p.sv[0] = sv[0];
        p.sv[1] = sv[1];
        WT_CHECK_EQ(wf_go(&extra, on_io, &p), 0);
        break;
    }
    case DL_PLAIN:
        WT_CHECK_EQ(wf_chan_create(&plain_ch, sizeof(int), 0), 0);
        WT_CHECK_EQ(pthread_create(&t, NULL, plain_thread, NULL), 0);
        wait_plain_thread_inside();
        break;
    case DL_PLAIN_IO:
        WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, dl_sv),
                    0);
        /* fall through */
    case DL_PLAIN_SLEEP:
        WT_CHECK_EQ(pthread_create(&t, NULL, plain_caller, NULL), 0);
        wait_plain_thread_inside();
        break;
    case DL_PLAIN_ONCE:
        WT_CHECK_EQ(pthread_create(&t, NULL, plain_caller, NULL), 0);
        wait_plain_thread_inside(); /* asleep in long_once */
        WT_CHECK_EQ(wf_go(&extra, inspect_once_waiter, NULL), 0);
        break;
    }
    fprintf(stderr, "scenario up\n");
    if (dl_alarm_when_up)
        alarm(1); /* 50 thresholds of 20 ms: SIGALRM ends the child */
    wf_join(f1, NULL, WF_FOREVER);
    return NULL;
}

static void deadlock_child(void)
{
    const char *m = getenv("DL_MODE");
    dl_mode = m ? atoi(m) : DL_NONE;
    struct wf_config c = config(2);
    wf_run(&c, deadlock_main, NULL, NULL);
}

WT_CASE(deadlock_reported)
{
    static const char *const env[] = {"WEFT_DEADLOCK_MS", "20", "DL_MODE", "0",
                                      NULL};
    static const char *const want[] = {
        "weft: all fibers are asleep - deadlock! (3 fibers",
        "weft: fiber dump: deadlock: 3 fibers",
        "[parked: chan, ",
        "\"main\" [parked: join, ",
        "inspect_stuck_receiver+0x",
        NULL};
    char *out = watch(deadlock_child, env, want);
    for (int i = 0; want[i]; i++)
        if (!strstr(out, want[i]))
            WT_FAIL("the report lacks \"%s\"", want[i]);
    free(out);
}

/* The scenarios where something may still wake a fiber: no report in
 * 25 thresholds (a report would come after one or two). */
static void no_report(const char *mode)
{
    const char *env[] = {"WEFT_DEADLOCK_MS", "20", "DL_MODE", mode, NULL};
    static const char *const want[] = {"deadlock!", NULL};
    /* watch() returns when "deadlock!" shows up; a child that shows none
     * is stopped by a timer of our own. */
    int p[2];
    WT_CHECK_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t killer = fork();
    WT_CHECK(killer >= 0);
    (void)want;
    if (killer == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        for (int i = 0; env[i]; i += 2)
            setenv(env[i], env[i + 1], 1);
        alarm(60); /* a guard until the scenario is up */
        dl_alarm_when_up = true;
        deadlock_child();
        _exit(0);
    }
    close(p[1]);
    char out[1 << 16];
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], out + len, sizeof out - 1 - len)) > 0 ||
           (n < 0 && errno == EINTR))
        if (n > 0)
            len += (size_t)n;
    out[len] = '\0';
    close(p[0]);
    int st;
    waitpid(killer, &st, 0);
    fprintf(stderr, "--- child's stderr ---\n%s--- end ---\n", out);
    WT_CHECK(strstr(out, "scenario up") != NULL);
    WT_CHECK(strstr(out, "deadlock") == NULL);
    WT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM);
}

WT_CASE(deadlock_not_with_timer)
{
    no_report("1");
}

WT_CASE(deadlock_not_with_io)
{
    no_report("2");
}

WT_CASE(deadlock_not_with_plain_thread)
{
    no_report("3");
}

WT_CASE(deadlock_not_with_thread_sleeping)
{
    no_report("4");
}

WT_CASE(deadlock_not_with_thread_in_once)
{
    no_report("5");
}

WT_CASE(deadlock_not_with_thread_in_io)
{
    no_report("6");
}

WT_MAIN()
