/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_timers.c - weft-bench's `timers` group: 1,000,000 user
 * timers (weft/timer.h) with delays spread over one second, armed from
 * one fiber, each callback recording when it ran. The load and the
 * figures are described in timers_load.h; bench/peers/uv_timers.c and
 * bench/peers/gotimers.go measure libuv and Go on the same load.
 *
 *   timers_arm_ms, timers_total_ms, timers_late_max_ms, timers_cpu_ms
 *
 * Measured once per run (not a median): the figure is one second long by
 * construction and a second round would double the group's time.
 *
 * The `timerheap` group times the structure under the user timers alone
 * (src/core/timer.h, no runtime, no clock in the loop): the same
 * deadlines, relative to one start time, put into one worker's heap and
 * fired with `now` stepping 1 ms at a time, 256 per wf__timers_run as the
 * scheduler does; median of 3 rounds, in ns per timer:
 *
 *   timer_heap_insert_ns, timer_heap_fire_ns
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"
#include "bench_timers.h"
#include "core/timer.h"
#include "timing.h"
#include "timers_load.h"

struct tm_timer {
    struct wf_timer t;
    int64_t due;
};

static struct {
    struct tm_timer *timers;
    atomic_long fired;
    _Atomic int64_t last;     /* latest end of a callback */
    _Atomic int64_t late_max; /* largest lateness, ns */
    int64_t t0, armed;
} tm;

static void max_store(_Atomic int64_t *a, int64_t v)
{
    /* relaxed: statistics, read after every callback has been counted. */
    int64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (cur < v && !atomic_compare_exchange_weak_explicit(
                          a, &cur, v, memory_order_relaxed,
                          memory_order_relaxed)) {
    }
}

static void on_timer(struct wf_timer *t, void *arg)
{
    (void)t;
    struct tm_timer *x = arg;
    int64_t now = wf_now();
    max_store(&tm.late_max, now - x->due);
    max_store(&tm.last, now);
    /* release: the statistics before the count the main fiber reads. */
    atomic_fetch_add_explicit(&tm.fired, 1, memory_order_release);
}

static void *timers_main(void *arg)
{
    (void)arg;
    uint64_t rng = TIMERS_SEED;
    tm.t0 = wf_now();
    for (long i = 0; i < TIMERS_N; i++) {
        struct tm_timer *x = &tm.timers[i];
        x->due = wf_now() + (int64_t)timers_delay_ms(&rng) * WF_MSEC;
        wf_timer_init(&x->t, on_timer, x);
        int err = wf_timer_start(&x->t, x->due);
        if (err < 0) {
            fprintf(stderr, "weft-bench: timers: wf_timer_start: %s\n",
                    wf_strerror(err));
            return (void *)1;
        }
    }
    tm.armed = wf_now();
    /* acquire: pairs with the callbacks' release increments. */
    while (atomic_load_explicit(&tm.fired, memory_order_acquire) < TIMERS_N)
        wf_sleep(5 * WF_MSEC);
    return NULL;
}

/* A heap timer of the same size as a user timer, so that the heap's
 * accesses to its timers spread over as much memory. */
struct th_timer {
    struct wf__timer t; /* first: the fire hook casts back */
    unsigned char rest[WF_TIMER_SIZE - sizeof(struct wf__timer)];
};

static long th_fired;

static void th_fire(struct wf__timer *t)
{
    (void)t;
    th_fired++;
}

/* One round: ns per timer to insert all, then to fire all. */
static int timer_heap_round(struct th_timer *x, double *insert_ns,
                            double *fire_ns)
{
    struct wf__timers ts;
    wf__timers_init(&ts);
    uint64_t rng = TIMERS_SEED;
    int64_t base = wf_now();
    int64_t t0 = now_ns();
    for (long i = 0; i < TIMERS_N; i++) {
        x[i].t.fire = th_fire;
        x[i].t.discard = NULL;
        atomic_init(&x[i].t.heap, NULL);
        int64_t d = base + (int64_t)timers_delay_ms(&rng) * WF_MSEC;
        if (wf__timer_add(&ts, &x[i].t, d) < 0) {
            fprintf(stderr, "weft-bench: timerheap: out of memory\n");
            wf__timers_destroy(&ts);
            return 1;
        }
    }
    int64_t t1 = now_ns();
    th_fired = 0;
    for (int64_t now = base; th_fired < TIMERS_N; now += WF_MSEC)
        while (wf__timers_run(&ts, now, 256) == 256) {
        }
    int64_t t2 = now_ns();
    wf__timers_destroy(&ts);
    *insert_ns = (double)(t1 - t0) / TIMERS_N;
    *fire_ns = (double)(t2 - t1) / TIMERS_N;
    return 0;
}

int group_timerheap(void)
{
    enum { ROUNDS = 3 };
    struct th_timer *x = calloc(TIMERS_N, sizeof *x);
    if (!x) {
        fprintf(stderr, "weft-bench: timerheap: out of memory\n");
        return 1;
    }
    double ins[ROUNDS], fire[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        if (timer_heap_round(x, &ins[r], &fire[r])) {
            free(x);
            return 1;
        }
    }
    free(x);
    printf("timer_heap_insert_ns %.1f ns\n", median(ins, ROUNDS));
    printf("timer_heap_fire_ns %.1f ns\n", median(fire, ROUNDS));
    fflush(stdout);
    return 0;
}

int group_timers(void)
{
    tm.timers = calloc(TIMERS_N, sizeof *tm.timers);
    if (!tm.timers) {
        fprintf(stderr, "weft-bench: timers: out of memory\n");
        return 1;
    }
    atomic_store(&tm.fired, 0);
    atomic_store(&tm.last, 0);
    atomic_store(&tm.late_max, INT64_MIN);
    void *res = NULL;
    double cpu0 = cpu_ms(); /* the runtime's start and stop included */
    int err = wf_run(NULL, timers_main, NULL, &res);
    double cpu = cpu_ms() - cpu0;
    free(tm.timers);
    if (err < 0 || res != NULL) {
        fprintf(stderr, "weft-bench: timers: run failed\n");
        return 1;
    }
    printf("timers_arm_ms %.2f ms\n", (double)(tm.armed - tm.t0) / 1e6);
    printf("timers_total_ms %.2f ms\n",
           (double)(atomic_load(&tm.last) - tm.t0) / 1e6);
    printf("timers_late_max_ms %.3f ms\n",
           (double)atomic_load(&tm.late_max) / 1e6);
    printf("timers_cpu_ms %.1f ms\n", cpu);
    fflush(stdout);
    return 0;
}
