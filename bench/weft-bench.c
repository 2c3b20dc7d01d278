/* SPDX-License-Identifier: MIT */
/*
 * weft-bench - what weft's fiber primitives cost.
 *
 *   weft-bench [GROUP]     GROUP: switch yield spawn idle wake mpmc ring
 *                          chan mutex threadring chameneos skynet flood
 *                          fib mandelbrot reduce sort timers timerheap
 *                          echo file;
 *                          none: all (fib
 *                          to sort are described in bench_par.c, the
 *                          last three in bench_timers.c, bench_echo.c
 *                          and bench_file.c)
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
 *   chan    chan_pingpong_w1_ns: round trip of a long through two
 *           unbuffered channels (send on one, the echo fiber sends it back
 *           on the other) between two fibers on a runtime of 1 worker;
 *           chan_pingpong_w2_ns: the same on a runtime of 2 workers with
 *           the two fibers pinned to different workers (so every send
 *           crosses cores); chan_pingpong_w2_unpinned_ns: on 2 workers,
 *           unpinned (the shape of Go at GOMAXPROCS=2, where the pair
 *           mostly shares one P). chan_buffered_w1_mops / _w2_mops: a channel of
 *           capacity 1,024 from 1 producer fiber to 1 consumer fiber
 *           (unpinned), 4,000,000 longs a repetition, millions of items
 *           per second, on 1 and 2 workers. This group sets the worker
 *           counts itself, whatever WEFT_WORKERS says.
 *   mutex   mutex_contended_mops: one fiber pinned to each worker, all
 *           incrementing one counter under one wf_mutex, 4,000,000
 *           increments in all (the counter is checked); millions of
 *           lock/unlock pairs per second. mutex_pthread_mops: the same
 *           with as many plain threads and a pthread_mutex_t, after the
 *           runtime has stopped.
 *   threadring  threadring_ms: the benchmarks game's thread-ring: 503
 *           fibers linked in a ring by unbuffered channels pass a token
 *           10,000,000 hops; ms from the first send to the report of the
 *           fiber that gets 0. That fiber must be (hops % 503) + 1 (361
 *           for 10,000,000); otherwise the program fails.
 *   chameneos  chameneos_ms: the benchmarks game's chameneos-redux with
 *           6,000,000 meetings (both creature sets), the meeting place
 *           built from channels (see the section's comment). The text the
 *           reference program prints goes to stderr, for 600 meetings and
 *           for the last timed run; each run checks that the creatures'
 *           meetings add up to twice the meetings.
 *   skynet  skynet_ms and skynet_peak_rss_kb: a tree of 1,111,111 fibers
 *           (111,111 inner fibers spawn 10 children each and receive
 *           their sums on one unbuffered channel; 1,000,000 leaves send
 *           their number); ms from the root's spawn to its sum, and the
 *           peak resident set (KiB) of the process that ran it. Each
 *           repetition is a child process of its own (forked before the
 *           runtime starts), so that the peak is that tree's; medians of
 *           5. The sum must be 499,999,500,000; otherwise the program
 *           fails.
 *   flood   flood_thread_ms: a plain thread spawns 1,000,000 trivial
 *           fibers into a running runtime (wf_init); ms until the last
 *           has run. flood_busy_ms: as many spawned by one fiber per
 *           worker in bursts of 10,000 while a fiber per worker keeps
 *           yielding. Counts are checked; medians of 5.
 *
 * The mpmc, ring, chan_buffered and mutex figures are rates: more is
 * better. bench/peers/ck_ring.c measures Concurrency Kit's ck_ring in
 * exactly the same shapes as mpmc and ring; bench/peers/gochan.go measures
 * Go in the shapes of chan, threadring and chameneos, bench/peers/goskynet.go
 * in the shape of skynet.
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
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"
#include "arch/ctx.h"
#include "timing.h"
#include "bench_par.h" /* fib mandelbrot reduce sort (bench_par.c) */
#include "bench_timers.h" /* timers timerheap (bench_timers.c) */
#include "bench_echo.h" /* echo (bench_echo.c) */
#include "bench_file.h" /* file (bench_file.c) */


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

/* ---- chan: channel ping-pong and buffered throughput ---------------------- */

enum {
    PINGPONG_W1_ROUNDS = 1000000,
    PINGPONG_W2_ROUNDS = 100000, /* pinned, each crosses cores twice */
    PINGPONG_REPS = 7,
    BUFFERED_ITEMS = 4000000,
    BUFFERED_CAP = 1024,
    BUFFERED_REPS = 5,
};

/* One runtime's worth of the chan group; filled by chan_main. */
struct chan_run {
    long rounds;          /* ping-pong round trips per repetition */
    double pingpong_ns;   /* results: unpinned, */
    double pinned_ns;     /* pinned to different workers (2 workers only) */
    double buffered_mops;
};

/* The echo side of the ping-pong: returns each value on `pong` until
 * `ping` is closed. */
struct pingpong {
    struct wf_chan *ping, *pong;
};

static void *pong_body(void *arg)
{
    struct pingpong *pp = arg;
    for (;;) {
        long v;
        int err = wf_chan_recv(pp->ping, &v, WF_FOREVER);
        if (err == WF_EPIPE)
            return NULL;
        if (err == 0)
            err = wf_chan_send(pp->pong, &v, WF_FOREVER);
        if (err < 0) {
            fail("chan: pong", err);
            return (void *)1;
        }
    }
}

/* `rounds` round trips from the calling fiber; ns per round trip or < 0. */
static double pingpong_round(struct pingpong *pp, long rounds)
{
    int64_t t0 = now_ns();
    for (long i = 0; i < rounds; i++) {
        long v = i, back = -1;
        int err = wf_chan_send(pp->ping, &v, WF_FOREVER);
        if (err == 0)
            err = wf_chan_recv(pp->pong, &back, WF_FOREVER);
        if (err < 0) {
            fail("chan: ping", err);
            return err;
        }
        if (back != i) {
            fprintf(stderr, "weft-bench: chan: sent %ld, got back %ld\n", i, back);
            return -1;
        }
    }
    return (double)(now_ns() - t0) / (double)rounds;
}

/* Ping-pong between this fiber and an echo fiber; with `pinned`, this
 * fiber is pinned where it runs and the echo fiber to the next worker, so
 * that on a runtime of two every hand-over crosses cores. Unpinned, the
 * scheduler places them (a woken fiber is queued on its waker's worker,
 * so the pair tends to share one, as Go's goroutines share a P). Pinning
 * cannot be undone: `pinned` comes last. ns per round trip in *out. */
static int chan_pingpong(struct chan_run *run, bool pinned, double *out)
{
    struct pingpong pp = { NULL, NULL };
    struct wf_fiber_opts opts = WF_FIBER_OPTS_INIT;
    struct wf_fiber pong;
    double per[PINGPONG_REPS];
    int status = 1;
    if (pinned)
        opts.worker = (wf_pin_self() + 1) % wf_workers();
    int err = wf_chan_create(&pp.ping, sizeof(long), 0);
    if (err == 0)
        err = wf_chan_create(&pp.pong, sizeof(long), 0);
    if (err < 0) {
        fail("chan: wf_chan_create", err);
        goto out_release;
    }
    err = wf_go_opts(&pong, &opts, pong_body, &pp);
    if (err < 0) {
        fail("chan: wf_go_opts", err);
        goto out_release;
    }
    if (pingpong_round(&pp, run->rounds / 10) < 0) /* warm-up */
        goto out_join;
    for (int r = 0; r < PINGPONG_REPS; r++)
        if ((per[r] = pingpong_round(&pp, run->rounds)) < 0)
            goto out_join;
    *out = median(per, PINGPONG_REPS);
    status = 0;
out_join:
    wf_chan_close(pp.ping);
    if (wf_join(pong, NULL, WF_FOREVER) < 0)
        status = 1;
out_release:
    wf_chan_release(pp.ping);
    wf_chan_release(pp.pong);
    return status;
}

static void *producer_body(void *arg)
{
    struct wf_chan *c = arg;
    for (long v = 1; v <= BUFFERED_ITEMS; v++) {
        int err = wf_chan_send(c, &v, WF_FOREVER);
        if (err < 0) {
            fail("chan: buffered send", err);
            wf_chan_close(c);
            return (void *)1;
        }
    }
    wf_chan_close(c);
    return NULL;
}

/* One repetition: a producer fiber sends 1..BUFFERED_ITEMS, this fiber
 * receives them in order until the producer closes the channel. Millions
 * of items per second, or < 0. */
static double buffered_round(void)
{
    struct wf_chan *c;
    struct wf_fiber prod;
    long want = 1, v;
    int err = wf_chan_create(&c, sizeof(long), BUFFERED_CAP);
    if (err < 0) {
        fail("chan: wf_chan_create", err);
        return -1;
    }
    int64_t t0 = now_ns();
    err = wf_go(&prod, producer_body, c);
    if (err < 0) {
        fail("chan: wf_go", err);
        wf_chan_release(c);
        return -1;
    }
    while ((err = wf_chan_recv(c, &v, WF_FOREVER)) == 0) {
        if (v != want)
            break;
        want++;
    }
    int64_t t1 = now_ns();
    void *res = NULL;
    int jerr = wf_join(prod, &res, WF_FOREVER);
    if (jerr == 0)
        jerr = res != NULL;
    wf_chan_release(c);
    if (err != WF_EPIPE || want != BUFFERED_ITEMS + 1 || jerr != 0) {
        fprintf(stderr, "weft-bench: chan: buffered: received %ld items in "
                        "order of %d (last error %d)\n",
                want - 1, BUFFERED_ITEMS, err);
        return -1;
    }
    return (double)BUFFERED_ITEMS / (double)(t1 - t0) * 1e3;
}

static void *chan_main(void *arg)
{
    struct chan_run *run = arg;
    double mops[BUFFERED_REPS];
    if (buffered_round() < 0) /* warm-up */
        return (void *)1;
    for (int r = 0; r < BUFFERED_REPS; r++)
        if ((mops[r] = buffered_round()) < 0)
            return (void *)1;
    run->buffered_mops = median(mops, BUFFERED_REPS);
    if (chan_pingpong(run, false, &run->pingpong_ns))
        return (void *)1;
    /* Last: it pins this fiber. */
    if (wf_workers() > 1 && chan_pingpong(run, true, &run->pinned_ns))
        return (void *)1;
    return NULL;
}

/* ---- mutex: one wf_mutex contended from every worker ---------------------- */

enum { MUTEX_OPS = 4000000, MUTEX_REPS = 5, MUTEX_MAX_THREADS = 256 };

struct mutex_bench {
    struct wf_mutex m;
    pthread_mutex_t pm;
    pthread_barrier_t start; /* pthread baseline only */
    long counter;            /* protected by m (or pm) */
    long per_thread;         /* increments each fiber or thread makes */
    int workers;             /* out of mutex_main: the runtime's workers */
    double weft_mops;
};

static void *mutex_body(void *arg)
{
    struct mutex_bench *b = arg;
    for (long i = 0; i < b->per_thread; i++) {
        int err = wf_mutex_lock(&b->m, WF_FOREVER);
        if (err < 0) {
            fail("mutex: wf_mutex_lock", err);
            return (void *)1;
        }
        b->counter++;
        wf_mutex_unlock(&b->m);
    }
    return NULL;
}

/* One repetition: one fiber pinned to each worker. M ops/s or < 0. */
static double mutex_round(struct mutex_bench *b)
{
    struct wf_fiber fs[MUTEX_MAX_THREADS];
    int n = b->workers, started = 0, status = 0;
    b->counter = 0;
    b->per_thread = MUTEX_OPS / n;
    int64_t t0 = now_ns();
    for (; started < n; started++) {
        struct wf_fiber_opts opts = WF_FIBER_OPTS_INIT;
        opts.worker = started;
        int err = wf_go_opts(&fs[started], &opts, mutex_body, b);
        if (err < 0) {
            fail("mutex: wf_go_opts", err);
            status = -1;
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        void *res = NULL;
        if (wf_join(fs[i], &res, WF_FOREVER) < 0 || res != NULL)
            status = -1;
    }
    int64_t t1 = now_ns();
    if (status < 0)
        return -1;
    if (b->counter != b->per_thread * n) {
        fprintf(stderr, "weft-bench: mutex: counter is %ld, expected %ld\n",
                b->counter, b->per_thread * n);
        return -1;
    }
    return (double)b->counter / (double)(t1 - t0) * 1e3;
}

static void *mutex_main(void *arg)
{
    struct mutex_bench *b = arg;
    double mops[MUTEX_REPS];
    b->workers = wf_workers();
    if (b->workers > MUTEX_MAX_THREADS)
        b->workers = MUTEX_MAX_THREADS;
    if (mutex_round(b) < 0) /* warm-up */
        return (void *)1;
    for (int r = 0; r < MUTEX_REPS; r++)
        if ((mops[r] = mutex_round(b)) < 0)
            return (void *)1;
    b->weft_mops = median(mops, MUTEX_REPS);
    return NULL;
}

static void *pmutex_body(void *arg)
{
    struct mutex_bench *b = arg;
    pthread_barrier_wait(&b->start);
    for (long i = 0; i < b->per_thread; i++) {
        pthread_mutex_lock(&b->pm);
        b->counter++;
        pthread_mutex_unlock(&b->pm);
    }
    return NULL;
}

/* The baseline: as many plain threads on a default pthread_mutex_t, no
 * runtime running. M ops/s or < 0. */
static double pmutex_round(struct mutex_bench *b)
{
    pthread_t th[MUTEX_MAX_THREADS];
    int n = b->workers, started = 0;
    b->counter = 0;
    b->per_thread = MUTEX_OPS / n;
    pthread_barrier_init(&b->start, NULL, (unsigned)n + 1);
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, pmutex_body, b) != 0)
            break;
    if (started < n) {
        /* The barrier can never open: nothing sensible left to do. */
        fprintf(stderr, "weft-bench: mutex: pthread_create failed\n");
        exit(1);
    }
    pthread_barrier_wait(&b->start);
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    int64_t t1 = now_ns();
    pthread_barrier_destroy(&b->start);
    if (b->counter != b->per_thread * n) {
        fprintf(stderr, "weft-bench: mutex: pthread counter is %ld, expected %ld\n",
                b->counter, b->per_thread * n);
        return -1;
    }
    return (double)b->counter / (double)(t1 - t0) * 1e3;
}

/* ---- threadring: a token around 503 fibers --------------------------------- */

enum { THREADRING_FIBERS = 503, THREADRING_HOPS = 10000000, THREADRING_REPS = 3 };

struct threadring;

struct threadring_node {
    struct threadring *tr;
    int id; /* 1-based, as in the reference */
};

struct threadring {
    struct wf_chan *link[THREADRING_FIBERS]; /* link[i]: into fiber i */
    struct wf_chan *done;                    /* cap 1: the final holder's id */
    struct threadring_node node[THREADRING_FIBERS];
};

/* Fiber i receives the token on link[i] and passes it, less one, on to
 * link[i + 1]; the one that receives 0 reports its id. Every fiber returns
 * when its link is closed. */
static void *threadring_body(void *arg)
{
    struct threadring_node *node = arg;
    struct threadring *tr = node->tr;
    int i = node->id - 1;
    struct wf_chan *in = tr->link[i], *out = tr->link[(i + 1) % THREADRING_FIBERS];
    for (;;) {
        long n;
        int err = wf_chan_recv(in, &n, WF_FOREVER);
        if (err == WF_EPIPE)
            return NULL;
        if (err == 0 && n == 0) {
            err = wf_chan_send(tr->done, &node->id, WF_FOREVER);
        } else if (err == 0) {
            n--;
            err = wf_chan_send(out, &n, WF_FOREVER);
        }
        if (err == WF_EPIPE)
            return NULL;
        if (err < 0) {
            fail("threadring: fiber", err);
            return (void *)1;
        }
    }
}

/* One repetition; milliseconds from the first send to the final holder's
 * report, or < 0. */
static double threadring_round(struct threadring *tr, long hops)
{
    struct wf_fiber fs[THREADRING_FIBERS];
    int n = 0, winner = 0, err = 0;
    double ms = -1;
    for (int i = 0; i < THREADRING_FIBERS; i++)
        tr->link[i] = NULL;
    tr->done = NULL;
    for (int i = 0; i < THREADRING_FIBERS && err == 0; i++) {
        tr->node[i] = (struct threadring_node){ tr, i + 1 };
        err = wf_chan_create(&tr->link[i], sizeof(long), 0);
    }
    if (err == 0)
        err = wf_chan_create(&tr->done, sizeof(int), 1);
    if (err < 0) {
        fail("threadring: wf_chan_create", err);
        goto out_release;
    }
    for (; n < THREADRING_FIBERS; n++) {
        err = wf_go(&fs[n], threadring_body, &tr->node[n]);
        if (err < 0) {
            fail("threadring: wf_go", err);
            goto out_close;
        }
    }
    int64_t t0 = now_ns();
    err = wf_chan_send(tr->link[0], &hops, WF_FOREVER);
    if (err == 0)
        err = wf_chan_recv(tr->done, &winner, WF_FOREVER);
    int64_t t1 = now_ns();
    if (err < 0) {
        fail("threadring: main", err);
        goto out_close;
    }
    int want = (int)(hops % THREADRING_FIBERS) + 1;
    if (winner != want) {
        fprintf(stderr, "weft-bench: threadring: WRONG RESULT: fiber %d holds "
                        "the token after %ld hops, the reference says %d\n",
                winner, hops, want);
        goto out_close;
    }
    ms = (double)(t1 - t0) / 1e6;
out_close:
    for (int i = 0; i < THREADRING_FIBERS; i++)
        wf_chan_close(tr->link[i]);
    for (int i = 0; i < n; i++) {
        void *res = NULL;
        if (wf_join(fs[i], &res, WF_FOREVER) < 0 || res != NULL)
            ms = -1;
    }
out_release:
    for (int i = 0; i < THREADRING_FIBERS; i++)
        wf_chan_release(tr->link[i]);
    wf_chan_release(tr->done);
    return ms;
}

static void *threadring_main(void *arg)
{
    double *out = arg;
    static struct threadring tr;
    double ms[THREADRING_REPS];
    if (threadring_round(&tr, 1000) < 0) /* warm-up, and checks 498 */
        return (void *)1;
    for (int r = 0; r < THREADRING_REPS; r++)
        if ((ms[r] = threadring_round(&tr, THREADRING_HOPS)) < 0)
            return (void *)1;
    *out = median(ms, THREADRING_REPS);
    return NULL;
}

/* ---- chameneos: chameneos-redux ------------------------------------------ */

/*
 * The benchmarks game's chameneos-redux: creatures of colour blue, red or
 * yellow go to one meeting place again and again; two that meet both take
 * the complement of their two colours, until N meetings have taken place.
 * The program prints the complement table, then for each creature set its
 * colours, each creature's meetings with its "same" count (meetings with
 * itself: always zero) spelled out, and the total (2N) spelled out.
 *
 * The meeting place is built from weft channels, the same way as the Go
 * peer (bench/peers/gochan.go) builds it from Go channels, so that the two
 * figures compare the runtimes' channels and scheduling rather than two
 * algorithms: `place`, of capacity 1, holds the count of meetings left;
 * a creature that has taken it out holds the meeting place (it is a lock
 * that carries a value) and may read and write `waiting`. The first of a
 * pair leaves itself in `waiting`, puts the count back and waits on its
 * own unbuffered channel; the second takes it out of `waiting`, puts back
 * the count less one, and sends its own id and colour to the first. A
 * creature that finds the count at 0 puts it back and goes home.
 */
enum { CHAMENEOS_SMALL = 600, CHAMENEOS_N = 6000000, CHAMENEOS_REPS = 3 };

enum colour { BLUE, RED, YELLOW };

static const char *const colour_name[] = { "blue", "red", "yellow" };

static enum colour complement(enum colour a, enum colour b)
{
    return a == b ? a : (enum colour)(3 - a - b);
}

struct cham_info {
    int id;
    enum colour colour;
};

struct meeting_place;

struct creature {
    int id;
    enum colour colour;    /* written by its own fiber only */
    long met, same;        /* read by the main fiber after the join */
    struct wf_chan *mine;  /* unbuffered: the partner's cham_info */
    struct meeting_place *mp;
};

struct meeting_place {
    struct wf_chan *place;    /* cap 1, long: meetings left */
    struct creature *waiting; /* protected by holding the count of `place` */
};

static void *creature_body(void *arg)
{
    struct creature *c = arg;
    struct meeting_place *mp = c->mp;
    int err;
    for (;;) {
        long n;
        struct cham_info other;
        err = wf_chan_recv(mp->place, &n, WF_FOREVER);
        if (err < 0)
            break;
        if (n == 0)
            return wf_chan_send(mp->place, &n, WF_FOREVER) < 0 ? (void *)1 : NULL;
        if (mp->waiting == NULL) {
            mp->waiting = c;
            err = wf_chan_send(mp->place, &n, WF_FOREVER);
            if (err == 0)
                err = wf_chan_recv(c->mine, &other, WF_FOREVER);
        } else {
            struct creature *first = mp->waiting;
            struct cham_info me = { c->id, c->colour };
            mp->waiting = NULL;
            /* first is parked on its channel: its colour is stable. */
            other.id = first->id;
            other.colour = first->colour;
            n--;
            err = wf_chan_send(mp->place, &n, WF_FOREVER);
            if (err == 0)
                err = wf_chan_send(first->mine, &me, WF_FOREVER);
        }
        if (err < 0)
            break;
        c->met++;
        c->same += other.id == c->id;
        c->colour = complement(c->colour, other.colour);
    }
    fail("chameneos: creature", err);
    return (void *)1;
}

/* " one two zero zero" for 1200. */
static void spell(FILE *f, long n)
{
    static const char *const digit[] = { "zero", "one", "two",   "three",
                                         "four", "five", "six", "seven",
                                         "eight", "nine" };
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", n);
    for (const char *p = buf; *p; p++)
        fprintf(f, " %s", digit[*p - '0']);
    fputc('\n', f);
}

/* One creature set meets n times; the text goes to f (may be NULL).
 * Returns 0, or 1 on error or a wrong total. */
static int chameneos_set(const enum colour *colours, int count, long n, FILE *f)
{
    struct meeting_place mp = { NULL, NULL };
    struct creature cs[10];
    struct wf_fiber fs[10];
    int started = 0, status = 0;
    long total = 0;
    int err = wf_chan_create(&mp.place, sizeof(long), 1);
    for (int i = 0; i < count; i++) {
        cs[i] = (struct creature){ .id = i, .colour = colours[i], .mp = &mp };
        if (err == 0)
            err = wf_chan_create(&cs[i].mine, sizeof(struct cham_info), 0);
    }
    if (err == 0)
        err = wf_chan_send(mp.place, &n, WF_FOREVER);
    if (err < 0) {
        fail("chameneos: setup", err);
        status = 1;
        goto out_release;
    }
    for (; started < count; started++) {
        err = wf_go(&fs[started], creature_body, &cs[started]);
        if (err < 0) {
            fail("chameneos: wf_go", err);
            status = 1;
            /* The others may wait for a partner forever: close their
             * channels so that they fail out. */
            for (int i = 0; i < count; i++)
                wf_chan_close(cs[i].mine);
            wf_chan_close(mp.place);
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        void *res = NULL;
        if (wf_join(fs[i], &res, WF_FOREVER) < 0 || res != NULL)
            status = 1;
    }
    if (status)
        goto out_release;
    if (f) {
        for (int i = 0; i < count; i++)
            fprintf(f, " %s", colour_name[colours[i]]);
        fputc('\n', f);
    }
    for (int i = 0; i < count; i++) {
        total += cs[i].met;
        if (f) {
            fprintf(f, "%ld", cs[i].met);
            spell(f, cs[i].same);
        }
    }
    if (f) {
        spell(f, total);
        fputc('\n', f);
    }
    if (total != 2 * n) {
        fprintf(stderr, "weft-bench: chameneos: WRONG RESULT: %ld meetings "
                        "counted, expected 2 * %ld\n", total, n);
        status = 1;
    }
out_release:
    wf_chan_release(mp.place);
    for (int i = 0; i < count; i++)
        wf_chan_release(cs[i].mine);
    return status;
}

/* The whole program for n meetings; its text goes to f (may be NULL).
 * Milliseconds, or < 0. */
static double chameneos_round(long n, FILE *f)
{
    static const enum colour three[] = { BLUE, RED, YELLOW };
    static const enum colour ten[] = { BLUE, RED, YELLOW, RED, YELLOW,
                                       BLUE, RED, YELLOW, RED, BLUE };
    int64_t t0 = now_ns();
    if (f) {
        for (int a = BLUE; a <= YELLOW; a++)
            for (int b = BLUE; b <= YELLOW; b++)
                fprintf(f, "%s + %s -> %s\n", colour_name[a], colour_name[b],
                        colour_name[complement((enum colour)a, (enum colour)b)]);
        fputc('\n', f);
    }
    if (chameneos_set(three, 3, n, f) || chameneos_set(ten, 10, n, f))
        return -1;
    return (double)(now_ns() - t0) / 1e6;
}

static void *chameneos_main(void *arg)
{
    double *out = arg;
    double ms[CHAMENEOS_REPS];
    /* The reference run (600 meetings) and the last timed one print the
     * benchmarks game's text on stderr. */
    if (chameneos_round(CHAMENEOS_SMALL, stderr) < 0)
        return (void *)1;
    for (int r = 0; r < CHAMENEOS_REPS; r++)
        if ((ms[r] = chameneos_round(CHAMENEOS_N,
                                     r == CHAMENEOS_REPS - 1 ? stderr : NULL)) < 0)
            return (void *)1;
    *out = median(ms, CHAMENEOS_REPS);
    return NULL;
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

/* ---- skynet: a tree of 1,111,111 fibers --------------------------------- */

/*
 * The skynet benchmark: fiber 0 of size 1,000,000 spawns 10 children of a
 * tenth its size each, and so on down to 1,000,000 leaves of size 1; a leaf
 * sends its number on its parent's channel, an inner fiber sends the sum of
 * its ten children's (received on one unbuffered channel of its own) on its
 * parent's. 111,111 inner fibers and 1,000,000 leaves, all detached; the
 * root's sum must be 499,999,500,000.
 *
 * Each repetition runs in a child process of its own (forked before the
 * runtime starts), so that its peak resident set (ru_maxrss, read with
 * wait4) belongs to that one tree: a second tree in the same process would
 * reuse the first one's stacks and memory.
 */
enum { SKYNET_LEAVES = 1000000, SKYNET_DIV = 10, SKYNET_REPS = 5 };
#define SKYNET_SUM 499999500000LL

struct skynet_node {
    struct wf_chan *parent; /* where to send the sum */
    long long num;          /* first leaf number below this node */
    long size;              /* leaves below it */
};

static void *skynet_body(void *arg)
{
    /* A copy: the parent's array of nodes is on its stack, and the parent
     * may return once this fiber has sent. */
    struct skynet_node me = *(struct skynet_node *)arg;
    long long sum = me.num;
    int err = 0;
    if (me.size > 1) {
        struct skynet_node kid[SKYNET_DIV];
        struct wf_chan *c;
        long each = me.size / SKYNET_DIV;
        int spawned = 0;
        err = wf_chan_create(&c, sizeof(long long), 0);
        if (err < 0) {
            fail("skynet: wf_chan_create", err);
            return (void *)1;
        }
        for (; spawned < SKYNET_DIV; spawned++) {
            kid[spawned] = (struct skynet_node){ c, me.num + spawned * each, each };
            if ((err = wf_go(NULL, skynet_body, &kid[spawned])) < 0) {
                fail("skynet: wf_go", err);
                break;
            }
        }
        sum = 0;
        for (int i = 0; i < spawned; i++) {
            long long v = 0;
            int e = wf_chan_recv(c, &v, WF_FOREVER);
            if (e < 0) {
                fail("skynet: wf_chan_recv", e);
                err = e;
                break;
            }
            sum += v;
        }
        wf_chan_release(c);
        if (err < 0)
            sum = -1; /* poisons the root's sum */
    }
    err = wf_chan_send(me.parent, &sum, WF_FOREVER);
    if (err < 0)
        fail("skynet: wf_chan_send", err);
    return NULL;
}

struct skynet_result {
    double ms;
    long long sum;
};

static void *skynet_main(void *arg)
{
    struct skynet_result *res = arg;
    struct wf_chan *c;
    int err = wf_chan_create(&c, sizeof(long long), 0);
    if (err < 0) {
        fail("skynet: wf_chan_create", err);
        return (void *)1;
    }
    struct skynet_node root = { c, 0, SKYNET_LEAVES };
    int64_t t0 = now_ns();
    err = wf_go(NULL, skynet_body, &root);
    if (err == 0)
        err = wf_chan_recv(c, &res->sum, WF_FOREVER);
    int64_t t1 = now_ns();
    wf_chan_release(c);
    if (err < 0) {
        fail("skynet: main", err);
        return (void *)1;
    }
    res->ms = (double)(t1 - t0) / 1e6;
    return NULL;
}

/* One tree in a child process: its time (ms) and peak RSS (KiB); 0, or -1
 * when the child failed or got a wrong sum. */
static int skynet_child(double *ms, double *rss_kb)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("weft-bench: skynet: pipe");
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("weft-bench: skynet: fork");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        struct skynet_result res = { 0, 0 };
        int rc = run_fiber("skynet", NULL, skynet_main, &res);
        if (rc == 0 && res.sum != SKYNET_SUM) {
            fprintf(stderr, "weft-bench: skynet: WRONG RESULT: sum %lld, "
                            "expected %lld\n", res.sum, SKYNET_SUM);
            rc = 1;
        }
        if (rc == 0 && write(fds[1], &res.ms, sizeof res.ms) != sizeof res.ms)
            rc = 1;
        _exit(rc);
    }
    close(fds[1]);
    double got = -1;
    ssize_t n = read(fds[0], &got, sizeof got);
    close(fds[0]);
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("weft-bench: skynet: wait4");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n != sizeof got) {
        fprintf(stderr, "weft-bench: skynet: the child failed (status %#x)\n",
                status);
        return -1;
    }
    *ms = got;
    *rss_kb = (double)ru.ru_maxrss; /* KiB on Linux */
    return 0;
}

/* ---- flood: a million fibers at once --------------------------------------- */

/*
 * Overloads. flood_thread_ms: a plain thread spawns 1,000,000 trivial
 * detached fibers into a running runtime (wf_init, not wf_run), as fast
 * as it can; ms from the first spawn until the last fiber has run. Every
 * fiber goes through the inject queue, which the workers drain while the
 * thread is still filling it. flood_busy_ms: the same number spawned by
 * fibers, one spawner per worker, in bursts of 10,000 while a busy fiber
 * per worker keeps yielding (so every worker has its queue in use when
 * a burst lands); ms until the last has run. Each count is checked.
 */
enum { FLOOD_N = 1000000, FLOOD_BURST = 10000, FLOOD_REPS = 5 };

static atomic_long flood_left;
static atomic_int flood_busy_stop;

static void *flood_body(void *arg)
{
    (void)arg;
    atomic_fetch_sub_explicit(&flood_left, 1, memory_order_relaxed);
    return NULL;
}

/* Waits (napping) until every flood fiber has run; false after 60 s. */
static bool flood_wait(void)
{
    int64_t give_up = now_ns() + 60 * (int64_t)1000000000;
    while (atomic_load(&flood_left) > 0) {
        if (now_ns() > give_up) {
            fprintf(stderr, "weft-bench: flood: WRONG RESULT: %ld fibers "
                            "never ran\n", atomic_load(&flood_left));
            return false;
        }
        struct timespec ts = { 0, 100000 };
        nanosleep(&ts, NULL);
    }
    return true;
}

static double flood_thread_round(void)
{
    atomic_store(&flood_left, FLOOD_N);
    int64_t t0 = now_ns();
    for (long i = 0; i < FLOOD_N; i++) {
        int err = wf_go(NULL, flood_body, NULL);
        if (err < 0) {
            fail("flood: wf_go", err);
            return -1;
        }
    }
    if (!flood_wait())
        return -1;
    return (double)(now_ns() - t0) / 1e6;
}

static void *flood_busy_body(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&flood_busy_stop, memory_order_relaxed))
        wf_yield();
    return NULL;
}

static void *flood_spawner(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        int err = wf_go(NULL, flood_body, NULL);
        if (err < 0) {
            fail("flood: wf_go", err);
            return (void *)1;
        }
        if (i % FLOOD_BURST == FLOOD_BURST - 1)
            wf_yield(); /* the burst is in; let the queue move */
    }
    return NULL;
}

static double flood_busy_round(void)
{
    int nw = wf_workers();
    struct wf_fiber busy[64], sp[64];
    if (nw > 64)
        nw = 64;
    atomic_store(&flood_left, FLOOD_N);
    atomic_store(&flood_busy_stop, 0);
    for (int i = 0; i < nw; i++) {
        struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
        o.worker = i;
        if (wf_go_opts(&busy[i], &o, flood_busy_body, NULL) < 0)
            return -1;
    }
    int64_t t0 = now_ns();
    for (int i = 0; i < nw; i++) {
        struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
        o.worker = i;
        long share = FLOOD_N / nw + (i < FLOOD_N % nw);
        if (wf_go_opts(&sp[i], &o, flood_spawner, (void *)(intptr_t)share) < 0)
            return -1;
    }
    bool ok = flood_wait();
    double ms = (double)(now_ns() - t0) / 1e6;
    atomic_store(&flood_busy_stop, 1);
    for (int i = 0; i < nw; i++) {
        void *res = NULL;
        if (wf_join(sp[i], &res, WF_FOREVER) < 0 || res)
            ok = false;
        wf_join(busy[i], NULL, WF_FOREVER);
    }
    return ok ? ms : -1;
}

static int group_flood(void)
{
    double thread_ms[FLOOD_REPS], busy_ms[FLOOD_REPS];
    int err = wf_init(NULL);
    if (err < 0) {
        fail("flood: wf_init", err);
        return 1;
    }
    int rc = 0;
    if (flood_thread_round() < 0) /* warm-up: stacks and slots */
        rc = 1;
    for (int r = 0; r < FLOOD_REPS && !rc; r++)
        if ((thread_ms[r] = flood_thread_round()) < 0)
            rc = 1;
    for (int r = 0; r < FLOOD_REPS && !rc; r++)
        if ((busy_ms[r] = flood_busy_round()) < 0)
            rc = 1;
    wf_shutdown();
    if (rc)
        return 1;
    report("flood_thread_ms", median(thread_ms, FLOOD_REPS), "ms");
    report("flood_busy_ms", median(busy_ms, FLOOD_REPS), "ms");
    return 0;
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

static int group_chan(void)
{
    /* Two runtimes: one worker, then two (whatever WEFT_WORKERS says). */
    struct wf_config one = { .workers = 1 }, two = { .workers = 2 };
    struct chan_run w1 = { .rounds = PINGPONG_W1_ROUNDS };
    struct chan_run w2 = { .rounds = PINGPONG_W2_ROUNDS };
    if (run_fiber("chan", &one, chan_main, &w1) ||
        run_fiber("chan", &two, chan_main, &w2))
        return 1;
    report("chan_pingpong_w1_ns", w1.pingpong_ns, "ns");
    report("chan_pingpong_w2_ns", w2.pinned_ns, "ns");
    report("chan_pingpong_w2_unpinned_ns", w2.pingpong_ns, "ns");
    report("chan_buffered_w1_mops", w1.buffered_mops, "Mitems/s");
    report("chan_buffered_w2_mops", w2.buffered_mops, "Mitems/s");
    return 0;
}

static int group_mutex(void)
{
    static struct mutex_bench b;
    double mops[MUTEX_REPS];
    wf_mutex_init(&b.m);
    pthread_mutex_init(&b.pm, NULL);
    if (run_fiber("mutex", NULL, mutex_main, &b))
        return 1;
    /* The baseline runs after the runtime has stopped, so that idle
     * workers do not share the CPUs with its threads. */
    if (pmutex_round(&b) < 0) /* warm-up */
        return 1;
    for (int r = 0; r < MUTEX_REPS; r++)
        if ((mops[r] = pmutex_round(&b)) < 0)
            return 1;
    wf_mutex_destroy(&b.m);
    pthread_mutex_destroy(&b.pm);
    report("mutex_contended_mops", b.weft_mops, "Mops/s");
    report("mutex_pthread_mops", median(mops, MUTEX_REPS), "Mops/s");
    return 0;
}

static int group_threadring(void)
{
    double ms = 0;
    if (run_fiber("threadring", NULL, threadring_main, &ms))
        return 1;
    report("threadring_ms", ms, "ms");
    return 0;
}

static int group_chameneos(void)
{
    double ms = 0;
    if (run_fiber("chameneos", NULL, chameneos_main, &ms))
        return 1;
    report("chameneos_ms", ms, "ms");
    return 0;
}

static int group_skynet(void)
{
    double ms[SKYNET_REPS], kb[SKYNET_REPS];
    for (int r = 0; r < SKYNET_REPS; r++)
        if (skynet_child(&ms[r], &kb[r]) < 0)
            return 1;
    report("skynet_ms", median(ms, SKYNET_REPS), "ms");
    report("skynet_peak_rss_kb", median(kb, SKYNET_REPS), "KiB");
    return 0;
}

/* trace_event: the cost of one event, on a plain thread (the same path
 * a worker takes: its own ring, no lock). wf_trace_span_end records one
 * event; wf_trace_mark records two (the mark and its name). Off: the one
 * branch every event site costs while tracing is off. */
static double trace_round(void (*fn)(void), long n)
{
    int64_t t = wf_now();
    for (long i = 0; i < n; i++)
        fn();
    return (double)(wf_now() - t) / (double)n;
}

static void trace_span_end_site(void)
{
    wf_trace_span_end();
}

static void trace_mark_site(void)
{
    wf_trace_mark("bench");
}

static int group_trace_event(void)
{
    const long n = 4L << 20;
    int err = wf_trace_start("/dev/null");
    if (err) {
        fail("wf_trace_start", err);
        return 1;
    }
    trace_round(trace_span_end_site, n); /* warm: touch the ring */
    double one = 1e30, two = 1e30;
    for (int k = 0; k < 5; k++) {
        double a = trace_round(trace_span_end_site, n);
        double b = trace_round(trace_mark_site, n);
        one = a < one ? a : one;
        two = b < two ? b : two;
    }
    err = wf_trace_stop();
    if (err) {
        fail("wf_trace_stop", err);
        return 1;
    }
    double off = trace_round(trace_span_end_site, n);
    report("trace_event_on", one, "ns/event");
    report("trace_mark_on", two, "ns/mark");
    report("trace_event_off", off, "ns/event");
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(void);
} groups[] = {
    {"switch", group_switch},
    {"yield", group_yield},
    {"spawn", group_spawn},
    {"idle", group_idle},
    {"wake", group_wake},
    {"mpmc", group_mpmc},
    {"ring", group_ring},
    {"chan", group_chan},
    {"mutex", group_mutex},
    {"threadring", group_threadring},
    {"chameneos", group_chameneos},
    {"skynet", group_skynet},
    {"flood", group_flood},
    {"fib", group_fib},
    {"mandelbrot", group_mandelbrot},
    {"reduce", group_reduce},
    {"sort", group_sort},
    {"timers", group_timers},
    {"timerheap", group_timerheap},
    {"echo", group_echo},
    {"file", group_file},
    {"trace_event", group_trace_event},
};

#define NGROUPS (sizeof groups / sizeof groups[0])

int main(int argc, char **argv)
{
    int status = 0;
    if (argc > 2) {
        fprintf(stderr,
                "usage: %s "
                "[switch|yield|spawn|idle|wake|mpmc|ring|chan|mutex|threadring|"
                "chameneos|skynet|flood|fib|mandelbrot|reduce|sort|timers|"
                "timerheap|echo|"
                "file|trace_event]\n",
                argv[0]);
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
