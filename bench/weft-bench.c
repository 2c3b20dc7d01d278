/*
 * weft-bench - what weft's fiber primitives cost.
 *
 *   weft-bench [GROUP]     GROUP: switch yield spawn idle wake mpmc ring;
 *                          none: all
 *
 * Each figure is printed on stdout as one `name value unit` line and nothing
 * else goes to stdout; notes and errors go to stderr. A timed figure is the
 * median of several repetitions made inside this process, so that one
 * disturbed repetition (another process, a page-fault storm, a frequency
 * change) does not move it. The worker count follows WEFT_WORKERS: every
 * group except `switch` and `yield` starts the runtime with a NULL config.
 *
 * Groups and what they measure:
 *
 *   switch  switch_ns: one-way raw context switch, wf__ctx_switch() between
 *           the main thread and one context on an mmap'd stack, ping-pong;
 *           total time / (2 * round trips). No scheduler involved.
 *   yield   yield_ns: two fibers calling wf_yield() in turn on a runtime of
 *           one worker (the config sets workers = 1, whatever WEFT_WORKERS
 *           says); total time / number of yields.
 *   spawn   spawn_join_ns: 1,000,000 trivial fibers in batches of 1,000
 *           (spawn 1,000, then join those 1,000), time per fiber.
 *   idle    idle_fiber_bytes and idle_fiber_pte_bytes: growth of the
 *           resident set (VmRSS) and of the page tables (VmPTE) per fiber
 *           while 1,000,000 fibers are parked with WF_FOREVER. Measured
 *           once, not as a median: memory figures barely vary between runs,
 *           and a second round in the same process would reuse the stacks
 *           the first one left in the runtime's pools.
 *           idle_sleeper_bytes: the same, in a second runtime, with every
 *           fiber in an hour-long wf_sleep (a million pending timers; the
 *           allocator may reuse memory the first runtime freed, so take it
 *           as a close lower bound).
 *   wake    wake_cross_worker_ns: two fibers pinned to workers 0 and 1 wake
 *           each other with wf_unpark()/wf_park(), ping-pong; round trip / 2.
 *           Needs two workers; with fewer it prints nothing (a note on
 *           stderr).
 *   mpmc    mpmc_mops: a wf_mpmc queue of 1,024 8-byte items between 2
 *           producer and 2 consumer plain threads (no runtime), 4,000,000
 *           items a repetition; millions of items per second, from the
 *           moment all threads start to the moment the last consumer is
 *           done. A thread that finds the queue full or empty calls
 *           sched_yield(). Each producer ends with one stop item, and each
 *           consumer leaves at the first stop item it pops.
 *   ring    ring_mops: the same with a wf_spsc ring and 1 producer and 1
 *           consumer thread.
 *
 * The mpmc and ring figures are rates: more is better. bench/peers/ck_ring.c
 * measures Concurrency Kit's ck_ring in exactly the same shapes.
 *
 * The `switch` group calls the internal context switch, which is why this
 * program links weft_testlib rather than the public library.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "weft.h"
#include "arch/ctx.h"
#include "timing.h"


static void report(const char *name, double value, const char *unit)
{
    printf("%s %.2f %s\n", name, value, unit);
    fflush(stdout);
}

static void fail(const char *what, int err)
{
    fprintf(stderr, "weft-bench: %s: %s (%d)\n", what, wf_strerror(err), err);
}

/* ---- switch -------------------------------------------------------------- */

enum { SWITCH_ROUNDS = 10000000, SWITCH_REPS = 7, SWITCH_STACK = 64 * 1024 };

static struct wf__ctx switch_main, switch_peer;

/* Both contexts switch from this one loop, as every fiber does under the
 * scheduler (all switches go through one call site in sched.c), so the
 * return of each switch lands where the CPU's return predictor expects.
 * Not cloned: a specialised copy per caller would be two call sites. */
#if defined(__clang__)
#define ONE_COPY __attribute__((noinline))
#else
#define ONE_COPY __attribute__((noinline, noclone))
#endif
static ONE_COPY void switch_loop(struct wf__ctx *self,
                                                  struct wf__ctx *other,
                                                  long rounds)
{
    for (long i = 0; i < rounds; i++)
        wf__ctx_switch(self, other);
}

static void switch_peer_entry(void *arg)
{
    (void)arg;
    switch_loop(&switch_peer, &switch_main, LONG_MAX);
}

/* Asymmetric shape (each side switches from its own call site, as in the
 * Boost.Context peer): every return goes to another site than predicted. */
static struct wf__ctx asym_main, asym_peer;

static void asym_peer_entry(void *arg)
{
    (void)arg;
    for (;;)
        wf__ctx_switch(&asym_peer, &asym_main);
}

static int bench_switch(void)
{
    void *stack = mmap(NULL, 2 * SWITCH_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) {
        perror("weft-bench: switch: mmap");
        return 1;
    }
    wf__ctx_make(&switch_peer, stack, SWITCH_STACK, switch_peer_entry, NULL);
    wf__ctx_switch(&switch_main, &switch_peer); /* first entry, untimed */
    wf__ctx_make(&asym_peer, (char *)stack + SWITCH_STACK, SWITCH_STACK,
                 asym_peer_entry, NULL);
    wf__ctx_switch(&asym_main, &asym_peer);

    double per[SWITCH_REPS], asym[SWITCH_REPS];
    for (int r = 0; r < SWITCH_REPS; r++) {
        int64_t t0 = now_ns();
        switch_loop(&switch_main, &switch_peer, SWITCH_ROUNDS);
        int64_t t1 = now_ns();
        for (long i = 0; i < SWITCH_ROUNDS; i++)
            wf__ctx_switch(&asym_main, &asym_peer);
        int64_t t2 = now_ns();
        per[r] = (double)(t1 - t0) / (2.0 * SWITCH_ROUNDS);
        asym[r] = (double)(t2 - t1) / (2.0 * SWITCH_ROUNDS);
    }
    munmap(stack, 2 * SWITCH_STACK);
    report("switch_ns", median(per, SWITCH_REPS), "ns");
    report("switch_asym_ns", median(asym, SWITCH_REPS), "ns");
    return 0;
}

/* ---- yield --------------------------------------------------------------- */

enum { YIELD_ITERS = 1000000, YIELD_REPS = 7 };

static void *yield_body(void *arg)
{
    long n = *(const long *)arg;
    for (long i = 0; i < n; i++)
        wf_yield();
    return NULL;
}

/* One round: two yielders while this fiber waits in wf_join(). Returns ns
 * per yield, or a negative error. */
static double yield_round(long iters)
{
    struct wf_fiber a, b;
    int64_t t0 = now_ns();
    int err = wf_go(&a, yield_body, &iters);
    if (err < 0) {
        fail("yield: wf_go", err);
        return err;
    }
    err = wf_go(&b, yield_body, &iters);
    if (err < 0) {
        fail("yield: wf_go", err);
        wf_join(a, NULL, WF_FOREVER);
        return err;
    }
    int e1 = wf_join(a, NULL, WF_FOREVER);
    int e2 = wf_join(b, NULL, WF_FOREVER);
    int64_t t1 = now_ns();
    if (e1 < 0 || e2 < 0) {
        fail("yield: wf_join", e1 < 0 ? e1 : e2);
        return e1 < 0 ? e1 : e2;
    }
    return (double)(t1 - t0) / (2.0 * (double)iters);
}

static void *yield_main(void *arg)
{
    double *out = arg;
    double per[YIELD_REPS];
    if (yield_round(YIELD_ITERS / 10) < 0) /* warm-up */
        return (void *)1;
    for (int r = 0; r < YIELD_REPS; r++) {
        per[r] = yield_round(YIELD_ITERS);
        if (per[r] < 0)
            return (void *)1;
    }
    *out = median(per, YIELD_REPS);
    return NULL;
}

/* ---- spawn --------------------------------------------------------------- */

enum { SPAWN_BATCH = 1000, SPAWN_BATCHES = 1000, SPAWN_REPS = 5 };

static void *trivial_body(void *arg)
{
    return arg;
}

static void *spawn_main(void *arg)
{
    double *out = arg;
    static struct wf_fiber batch[SPAWN_BATCH];
    double per[SPAWN_REPS];
    for (int r = 0; r < SPAWN_REPS; r++) {
        int64_t t0 = now_ns();
        for (int b = 0; b < SPAWN_BATCHES; b++) {
            for (int i = 0; i < SPAWN_BATCH; i++) {
                int err = wf_go(&batch[i], trivial_body, NULL);
                if (err < 0) {
                    fail("spawn: wf_go", err);
                    for (int j = 0; j < i; j++)
                        wf_join(batch[j], NULL, WF_FOREVER);
                    return (void *)1;
                }
            }
            for (int i = 0; i < SPAWN_BATCH; i++) {
                int err = wf_join(batch[i], NULL, WF_FOREVER);
                if (err < 0) {
                    fail("spawn: wf_join", err);
                    return (void *)1;
                }
            }
        }
        int64_t t1 = now_ns();
        per[r] = (double)(t1 - t0) / ((double)SPAWN_BATCH * SPAWN_BATCHES);
    }
    *out = median(per, SPAWN_REPS);
    return NULL;
}

/* ---- idle ---------------------------------------------------------------- */

enum { IDLE_FIBERS = 1000000 };

struct idle_state {
    bool sleeping;        /* wait in wf_sleep (a pending timer each) */
    atomic_long parked;   /* fibers that reached their park loop */
    atomic_int release;   /* set before the wake-up; read with acquire */
    double rss_bytes;     /* results */
    double pte_bytes;
};

/* Reads "Field:  123 kB" from /proc/self/status, in bytes; -1 if absent. */
static long long status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    size_t len = strlen(field);
    long long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = strtoll(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static void *idle_body(void *arg)
{
    struct idle_state *st = arg;
    atomic_fetch_add_explicit(&st->parked, 1, memory_order_relaxed);
    if (st->sleeping) {
        /* An hour-long timer each; idle_main cancels them all. */
        wf_sleep(3600 * WF_SEC);
        return NULL;
    }
    /* acquire pairs with the release store in idle_main. */
    while (!atomic_load_explicit(&st->release, memory_order_acquire)) {
        int err = wf_park(WF_FOREVER);
        if (err == WF_ECANCELED)
            break;
    }
    return NULL;
}

static void *idle_main(void *arg)
{
    struct idle_state *st = arg;
    void *status = NULL;
    struct wf_fiber *fs = calloc(IDLE_FIBERS, sizeof *fs);
    if (!fs) {
        fail("idle: calloc", WF_ENOMEM);
        return (void *)1;
    }
    /* Touch the handle array now so that it is part of the baseline. */
    memset(fs, 0xff, IDLE_FIBERS * sizeof *fs);
    memset(fs, 0, IDLE_FIBERS * sizeof *fs);

    long long rss0 = status_bytes("VmRSS"), pte0 = status_bytes("VmPTE");
    if (rss0 < 0 || pte0 < 0) {
        fprintf(stderr, "weft-bench: idle: cannot read /proc/self/status\n");
        free(fs);
        return (void *)1;
    }

    long started = 0;
    for (; started < IDLE_FIBERS; started++) {
        int err = wf_go(&fs[started], idle_body, st);
        if (err < 0) {
            fail("idle: wf_go", err);
            status = (void *)1;
            break;
        }
        /* Let the new fibers run and park now and then, so that this loop
         * does not hold its worker for seconds (the stall monitor would
         * report it). */
        if (started % 1000 == 999)
            wf_yield();
    }
    /* Wait until every fiber has entered its park loop, then a little
     * longer so that the last ones have really parked. */
    while (atomic_load_explicit(&st->parked, memory_order_relaxed) < started)
        wf_sleep(WF_MSEC);
    wf_sleep(100 * WF_MSEC);

    if (!status) {
        long long rss1 = status_bytes("VmRSS"), pte1 = status_bytes("VmPTE");
        st->rss_bytes = (double)(rss1 - rss0) / IDLE_FIBERS;
        st->pte_bytes = (double)(pte1 - pte0) / IDLE_FIBERS;
    }

    /* release pairs with the acquire load in idle_body. */
    atomic_store_explicit(&st->release, 1, memory_order_release);
    for (long i = 0; i < started; i++) {
        int err = st->sleeping ? wf_cancel(fs[i]) : wf_unpark(fs[i]);
        if (err < 0) {
            fail("idle: wf_unpark", err);
            status = (void *)1;
            wf_cancel(fs[i]);
        }
    }
    for (long i = 0; i < started; i++) {
        int err = wf_join(fs[i], NULL, WF_FOREVER);
        if (err < 0) {
            fail("idle: wf_join", err);
            status = (void *)1;
        }
    }
    free(fs);
    return status;
}

/* ---- wake ---------------------------------------------------------------- */

enum { WAKE_ROUNDS = 20000, WAKE_REPS = 5 };

struct wake_state {
    atomic_int turn;        /* 0: pinger's turn, 1: ponger's; release/acquire */
    struct wf_fiber pinger; /* written before the first turn = 1 (release) */
    struct wf_fiber ponger; /* written by wake_main before the pinger starts */
    long rounds;
    int64_t t0, t1;         /* written and read by the pinger only */
};

static void *wake_pong(void *arg)
{
    struct wake_state *st = arg;
    for (long i = 0; i < st->rounds; i++) {
        /* acquire pairs with the pinger's release store of turn = 1, and
         * makes st->pinger visible. */
        while (atomic_load_explicit(&st->turn, memory_order_acquire) != 1)
            wf_park(WF_FOREVER);
        atomic_store_explicit(&st->turn, 0, memory_order_release);
        wf_unpark(st->pinger);
    }
    return NULL;
}

static void *wake_ping(void *arg)
{
    struct wake_state *st = arg;
    st->pinger = wf_self();
    st->t0 = now_ns();
    for (long i = 0; i < st->rounds; i++) {
        /* release: publishes st->pinger to the ponger. */
        atomic_store_explicit(&st->turn, 1, memory_order_release);
        wf_unpark(st->ponger);
        /* acquire pairs with the ponger's release store of turn = 0. */
        while (atomic_load_explicit(&st->turn, memory_order_acquire) != 0)
            wf_park(WF_FOREVER);
    }
    st->t1 = now_ns();
    return NULL;
}

/* One ping-pong of `rounds` round trips; ns per one-way wake or < 0. */
static double wake_round(long rounds)
{
    struct wake_state st = { .rounds = rounds };
    struct wf_fiber_opts pong_opts = { .worker = 1 };
    struct wf_fiber_opts ping_opts = { .worker = 0 };
    struct wf_fiber ping;
    atomic_init(&st.turn, 0);
    int err = wf_go_opts(&st.ponger, &pong_opts, wake_pong, &st);
    if (err < 0) {
        fail("wake: wf_go_opts", err);
        return err;
    }
    err = wf_go_opts(&ping, &ping_opts, wake_ping, &st);
    if (err < 0) {
        fail("wake: wf_go_opts", err);
        wf_cancel(st.ponger);
        wf_join(st.ponger, NULL, WF_FOREVER);
        return err;
    }
    int e1 = wf_join(ping, NULL, WF_FOREVER);
    int e2 = wf_join(st.ponger, NULL, WF_FOREVER);
    if (e1 < 0 || e2 < 0) {
        fail("wake: wf_join", e1 < 0 ? e1 : e2);
        return e1 < 0 ? e1 : e2;
    }
    return (double)(st.t1 - st.t0) / (2.0 * (double)rounds);
}

static void *wake_main(void *arg)
{
    double *out = arg;
    double per[WAKE_REPS];
    int workers = wf_workers();
    if (workers < 2) {
        fprintf(stderr, "weft-bench: wake: needs at least 2 workers, have %d "
                        "(set WEFT_WORKERS=2); wake_cross_worker_ns skipped\n",
                workers);
        *out = -1;
        return NULL;
    }
    if (wake_round(WAKE_ROUNDS / 10) < 0) /* warm-up */
        return (void *)1;
    for (int r = 0; r < WAKE_REPS; r++) {
        per[r] = wake_round(WAKE_ROUNDS);
        if (per[r] < 0)
            return (void *)1;
    }
    *out = median(per, WAKE_REPS);
    return NULL;
}

/* ---- mpmc, ring: the lock-free queues -------------------------------------- */

#define QUEUE_REPS 5
#define QUEUE_ITEMS 4000000L
#define QUEUE_CAP 1024

/* One repetition: `pairs` producers and as many consumers. Items are
 * 1..QUEUE_ITEMS split between the producers; 0 is the stop item. */
struct qbench {
    struct wf_mpmc *mq; /* the queue measured: mq, or sq if spsc */
    struct wf_spsc *sq;
    bool spsc;
    int pairs;
    pthread_barrier_t start;
    atomic_long popped; /* added to once per consumer, at its end */
};

static int q_push(struct qbench *b, const uint64_t *v)
{
    return b->spsc ? wf_spsc_try_push(b->sq, v) : wf_mpmc_try_push(b->mq, v);
}

static int q_pop(struct qbench *b, uint64_t *v)
{
    return b->spsc ? wf_spsc_try_pop(b->sq, v) : wf_mpmc_try_pop(b->mq, v);
}

static void *q_producer(void *arg)
{
    struct qbench *b = arg;
    long n = QUEUE_ITEMS / b->pairs;
    pthread_barrier_wait(&b->start);
    for (uint64_t v = 1; v <= (uint64_t)n + 1; v++) {
        uint64_t item = v <= (uint64_t)n ? v : 0;
        while (q_push(b, &item) != 0)
            sched_yield();
    }
    return NULL;
}

static void *q_consumer(void *arg)
{
    struct qbench *b = arg;
    long got = 0;
    pthread_barrier_wait(&b->start);
    for (;;) {
        uint64_t item;
        if (q_pop(b, &item) != 0) {
            sched_yield();
            continue;
        }
        if (item == 0)
            break;
        got++;
    }
    atomic_fetch_add(&b->popped, got);
    return NULL;
}

/* Millions of items per second of one repetition; < 0 on error. */
static double queue_round(bool spsc, int pairs)
{
    struct qbench b = { .mq = NULL };
    pthread_t th[8];
    int err = spsc ? wf_spsc_create(&b.sq, QUEUE_CAP, 8)
                   : wf_mpmc_create(&b.mq, QUEUE_CAP, 8);
    if (err < 0) {
        fail("queue create", err);
        return -1;
    }
    b.spsc = spsc;
    b.pairs = pairs;
    atomic_init(&b.popped, 0);
    pthread_barrier_init(&b.start, NULL, (unsigned)(2 * pairs + 1));
    for (int i = 0; i < 2 * pairs; i++)
        pthread_create(&th[i], NULL, i < pairs ? q_producer : q_consumer, &b);
    pthread_barrier_wait(&b.start);
    int64_t t0 = now_ns();
    for (int i = 0; i < 2 * pairs; i++)
        pthread_join(th[i], NULL);
    int64_t t1 = now_ns();
    pthread_barrier_destroy(&b.start);
    wf_spsc_destroy(b.sq);
    wf_mpmc_destroy(b.mq);
    long want = QUEUE_ITEMS / pairs * pairs;
    if (atomic_load(&b.popped) != want) {
        fprintf(stderr, "weft-bench: queue lost items: %ld of %ld\n",
                atomic_load(&b.popped), want);
        return -1;
    }
    return (double)want / (double)(t1 - t0) * 1e3;
}

static int bench_queue(const char *name, bool spsc, int pairs)
{
    double mops[QUEUE_REPS];
    for (int r = 0; r < QUEUE_REPS; r++)
        if ((mops[r] = queue_round(spsc, pairs)) < 0)
            return 1;
    report(name, median(mops, QUEUE_REPS), "Mitems/s");
    return 0;
}

/* ---- driver -------------------------------------------------------------- */

/* Runs main_fn as the runtime's main fiber; 0 on success. */
static int run_fiber(const char *group, const struct wf_config *cfg,
                     wf_fiber_fn *main_fn, void *arg)
{
    void *result = NULL;
    int err = wf_run(cfg, main_fn, arg, &result);
    if (err < 0) {
        fprintf(stderr, "weft-bench: %s: wf_run: %s (%d)\n", group,
                wf_strerror(err), err);
        return 1;
    }
    return result != NULL;
}

static int group_switch(void)
{
    return bench_switch();
}

static int group_yield(void)
{
    struct wf_config cfg = { .workers = 1 };
    double per = 0;
    if (run_fiber("yield", &cfg, yield_main, &per))
        return 1;
    report("yield_ns", per, "ns");
    return 0;
}

static int group_spawn(void)
{
    double per = 0;
    if (run_fiber("spawn", NULL, spawn_main, &per))
        return 1;
    report("spawn_join_ns", per, "ns");
    return 0;
}

static int group_idle(void)
{
    static struct idle_state st, sl;
    if (run_fiber("idle", NULL, idle_main, &st))
        return 1;
    report("idle_fiber_bytes", st.rss_bytes, "bytes");
    report("idle_fiber_pte_bytes", st.pte_bytes, "bytes");
    /* The same with every fiber asleep: a million pending timers. */
    sl.sleeping = true;
    if (run_fiber("idle", NULL, idle_main, &sl))
        return 1;
    report("idle_sleeper_bytes", sl.rss_bytes, "bytes");
    return 0;
}

static int group_wake(void)
{
    double per = 0;
    if (run_fiber("wake", NULL, wake_main, &per))
        return 1;
    if (per >= 0)
        report("wake_cross_worker_ns", per, "ns");
    return 0;
}

static int group_mpmc(void)
{
    return bench_queue("mpmc_mops", false, 2);
}

static int group_ring(void)
{
    return bench_queue("ring_mops", true, 1);
}

static const struct {
    const char *name;
    int (*fn)(void);
} groups[] = {
    { "switch", group_switch },
    { "yield", group_yield },
    { "spawn", group_spawn },
    { "idle", group_idle },
    { "wake", group_wake },
    { "mpmc", group_mpmc },
    { "ring", group_ring },
};

#define NGROUPS (sizeof groups / sizeof groups[0])

int main(int argc, char **argv)
{
    int status = 0;
    if (argc > 2) {
        fprintf(stderr, "usage: %s [switch|yield|spawn|idle|wake|mpmc|ring]\n", argv[0]);
        return 2;
    }
    if (argc == 2) {
        for (size_t i = 0; i < NGROUPS; i++)
            if (strcmp(argv[1], groups[i].name) == 0)
                return groups[i].fn();
        fprintf(stderr, "weft-bench: unknown group '%s'; groups:", argv[1]);
        for (size_t i = 0; i < NGROUPS; i++)
            fprintf(stderr, " %s", groups[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    for (size_t i = 0; i < NGROUPS; i++)
        status |= groups[i].fn();
    return status;
}
