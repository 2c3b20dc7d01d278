/* SPDX-License-Identifier: MIT */
/*
 * tests/soak/soak_work.c - the soak's workloads of parallel loops, timers and futures
 * (weft-soak.c says what each checks).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "soak.h"

/* ---- parallel loops -------------------------------------------------------- */

enum { PAR_FIBERS = 3, PAR_N = 100000, PAR_SORT = 20000 };

static void par_sum_body(long lo, long hi, void *ctx)
{
    long s = 0;
    for (long i = lo; i < hi; i++)
        s += i;
    atomic_fetch_add((atomic_long *)ctx, s);
}

static void par_sq_body(long lo, long hi, void *acc, void *ctx)
{
    uint64_t *a = acc;
    for (long i = lo; i < hi; i++)
        *a += (uint64_t)i * (uint64_t)i;
}

static void par_add(void *acc, const void *other, void *ctx)
{
    *(uint64_t *)acc += *(const uint64_t *)other;
}

static void *par_fiber(void *arg)
{
    uint64_t s = seed_for(4, (unsigned)(uintptr_t)arg);
    long n = PAR_N - (long)(rnd(&s) % 1000);

    atomic_long sum = 0;
    MUST(wf_parallel_for(0, n, (long)(rnd(&s) % 3) * 500, par_sum_body, &sum));
    CHECK(atomic_load(&sum) == n * (n - 1) / 2);

    uint64_t sq = 0, zero = 0;
    MUST(wf_parallel_reduce(0, n, 0, &sq, sizeof sq, &zero, par_sq_body,
                            par_add, NULL));
    uint64_t m = (uint64_t)n - 1;
    CHECK(sq == m * (m + 1) * (2 * m + 1) / 6);

    uint64_t *v = malloc(PAR_SORT * sizeof *v),
             *out = malloc(PAR_SORT * sizeof *out);
    CHECK(v && out);
    if (v && out) {
        uint64_t before_sum = 0, after_sum = 0;
        for (size_t i = 0; i < PAR_SORT; i++)
            v[i] = 1;
        MUST(wf_parallel_scan(v, out, PAR_SORT, sizeof *v, &zero, par_add, NULL,
                              WF_SCAN_INCLUSIVE));
        for (size_t i = 0; i < PAR_SORT; i++)
            if (out[i] != i + 1) {
                CHECK(out[i] == i + 1);
                break;
            }
        for (size_t i = 0; i < PAR_SORT; i++) {
            v[i] = rnd(&s) % 100000;
            before_sum += v[i];
        }
        MUST(wf_parallel_sort_u64(v, PAR_SORT));
        for (size_t i = 0; i < PAR_SORT; i++) {
            after_sum += v[i];
            if (i > 0 && v[i - 1] > v[i]) {
                CHECK(v[i - 1] <= v[i]);
                break;
            }
        }
        CHECK(before_sum == after_sum);
    }
    free(v);
    free(out);
    atomic_fetch_add(&tally.par_calls, 4);
    return NULL;
}

void *w_par(void *unused)
{
    run_fibers(par_fiber, PAR_FIBERS);
    return unused;
}

/* ---- timers ---------------------------------------------------------------- */

enum { TM_TIMERS = 200, TM_REPEAT = 5 };

struct tm_slot {
    struct wf_timer t;
    atomic_int fired; /* callbacks run for the current start */
    int repeats;      /* the periodic ones: re-arms left */
};

struct tm_round {
    struct tm_slot slot[TM_TIMERS];
    atomic_long fired, stopped, started;
};

static struct tm_round *tm_cur;

static void tm_fire(struct wf_timer *t, void *arg)
{
    struct tm_slot *sl = arg;
    /* A periodic timer re-arms itself, and counts the start before this
     * fire: so fired + stopped == started only when no start is pending
     * and no callback is between the two. */
    if (sl->repeats > 0) {
        sl->repeats--;
        if (wf_timer_start(t, wf_deadline_in(100 * WF_USEC)) == 0)
            atomic_fetch_add(&tm_cur->started, 1);
    }
    atomic_fetch_add(&sl->fired, 1);
    atomic_fetch_add(&tm_cur->fired, 1);
}

void *w_timers(void *unused)
{
    struct tm_round *r = calloc(1, sizeof *r);
    CHECK(r != NULL);
    if (!r)
        return unused;
    tm_cur = r;
    uint64_t s = seed_for(5, 0);
    for (int i = 0; i < TM_TIMERS; i++) {
        struct tm_slot *sl = &r->slot[i];
        MUST(wf_timer_init(&sl->t, tm_fire, sl));
        sl->repeats = i % 10 == 0 ? TM_REPEAT : 0;
        int rc = wf_timer_start(
            &sl->t, wf_deadline_in((int64_t)(rnd(&s) % 3000) * WF_USEC));
        MUST(rc);
        if (rc == 0)
            atomic_fetch_add(&r->started, 1);
    }
    wf_sleep((int64_t)(rnd(&s) % 1500) * WF_USEC);
    for (int i = 0; i < TM_TIMERS; i++) {
        if (rnd(&s) % 2)
            continue;
        int rc = wf_timer_stop(&r->slot[i].t);
        CHECK(rc == 0 || rc == WF_EALREADY);
        if (rc == 0)
            atomic_fetch_add(&r->stopped, 1);
    }
    /* Wait until every start is accounted for (a callback or a stop that
     * returned 0); then no timer is armed. */
    for (int tries = 0; atomic_load(&r->fired) + atomic_load(&r->stopped) <
                            atomic_load(&r->started) &&
                        tries < 30000;
         tries++)
        wf_sleep(WF_MSEC);
    for (int i = 0; i < TM_TIMERS; i++) {
        int rc =
            wf_timer_stop(&r->slot[i].t); /* waits for a running callback */
        CHECK(rc == WF_EALREADY);
        CHECK(atomic_load(&r->slot[i].fired) <= 1 + TM_REPEAT);
        if (i % 10 != 0)
            CHECK(atomic_load(&r->slot[i].fired) <= 1);
    }
    CHECK_EQ(atomic_load(&r->fired) + atomic_load(&r->stopped),
             atomic_load(&r->started));
    atomic_fetch_add(&tally.timers_fired, atomic_load(&r->fired));
    atomic_fetch_add(&tally.timers_stopped, atomic_load(&r->stopped));
    tm_cur = NULL;
    free(r);
    return unused;
}

/* ---- futures ----------------------------------------------------------------- */

enum { FU_PAIRS = 48, FU_ASYNC = 16, FU_BLOCKING = 4 };

struct fu_pair {
    struct wf_promise *p;
    struct wf_future *f;
    int how;                  /* 0 complete, 1 fail, 2 the consumer cancels */
    int delay_us;             /* before the producer completes */
    atomic_int complete_rc;   /* what the producer's call returned */
    struct wf_event produced; /* set after the producer's call */
};

static void *fu_producer(void *arg)
{
    struct fu_pair *pp = arg;
    wf_sleep((int64_t)pp->delay_us * WF_USEC);
    int rc = pp->how == 1
                 ? wf_promise_fail(pp->p, (-EIO))
                 : wf_promise_complete(pp->p, (void *)(uintptr_t)0x5eed);
    atomic_store(&pp->complete_rc, rc);
    MUST(wf_event_set(&pp->produced));
    return NULL;
}

static void *fu_square(void *arg)
{
    uintptr_t x = (uintptr_t)arg;
    if (x % 3 == 0)
        wf_yield();
    return (void *)(x * x);
}

static void *fu_blocking_job(void *arg)
{
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL); /* a real blocking call: on a pool thread */
    return (void *)((uintptr_t)arg + 1);
}

void *w_futures(void *unused)
{
    struct fu_pair *pairs = calloc(FU_PAIRS, sizeof *pairs);
    CHECK(pairs != NULL);
    if (!pairs)
        return unused;
    uint64_t s = seed_for(6, 0);
    struct wf_scope *sc;
    MUST(wf_scope_open(&sc));
    for (int i = 0; i < FU_PAIRS; i++) {
        MUST(wf_promise_create(&pairs[i].p, &pairs[i].f));
        MUST(wf_event_init(&pairs[i].produced));
        pairs[i].how = (int)(rnd(&s) % 3);
        pairs[i].delay_us = (int)(rnd(&s) % 500);
        spawn_in(sc, fu_producer, &pairs[i]);
    }
    for (int i = 0; i < FU_PAIRS; i++) {
        struct fu_pair *pp = &pairs[i];
        int cancel_rc = 1;
        if (pp->how == 2)
            cancel_rc = wf_future_cancel(pp->f);
        MUST(wf_future_await(pp->f, WF_FOREVER));
        MUST(wf_event_wait(&pp->produced, WF_FOREVER));
        void *v = NULL;
        int res = wf_future_result(pp->f, &v);
        int crc = atomic_load(&pp->complete_rc);
        if (cancel_rc == 0) { /* the cancel won: the producer was refused */
            CHECK_EQ(res, WF_ECANCELED);
            CHECK_EQ(crc, WF_ECANCELED);
        } else if (pp->how == 1) {
            CHECK_EQ(res, (-EIO));
            CHECK_EQ(crc, 0);
        } else {
            CHECK_EQ(res, 0);
            CHECK_EQ(crc, 0);
            CHECK((uintptr_t)v == 0x5eed);
        }
        wf_future_release(pp->f);
        MUST(wf_event_destroy(&pp->produced));
    }
    scope_finish(sc);

    struct wf_future *fs[FU_ASYNC], *all = NULL;
    int made = 0;
    for (; made < FU_ASYNC; made++)
        if (wf_async(&fs[made], fu_square, (void *)(uintptr_t)made) != 0)
            break;
    CHECK_EQ(made, FU_ASYNC);
    atomic_fetch_add(&tally.fibers, made);
    if (made > 0 && wf_future_when_all(&all, fs, (size_t)made) == 0) {
        void *v;
        MUST(wf_future_await(all, WF_FOREVER));
        CHECK_EQ(wf_future_result(all, &v), 0);
        wf_future_release(all);
    }
    for (int i = 0; i < made; i++) {
        void *v = NULL;
        CHECK_EQ(wf_future_result(fs[i], &v), 0);
        CHECK_EQ((uintptr_t)v, (uintptr_t)i * (uintptr_t)i);
        wf_future_release(fs[i]);
    }

    for (int i = 0; i < FU_BLOCKING; i++) {
        struct wf_future *f;
        int rc = wf_blocking(&f, fu_blocking_job, (void *)(uintptr_t)i);
        MUST(rc);
        if (rc != 0)
            continue;
        void *v = NULL;
        MUST(wf_future_await(f, WF_FOREVER));
        CHECK_EQ(wf_future_result(f, &v), 0);
        CHECK_EQ((uintptr_t)v, (uintptr_t)i + 1);
        wf_future_release(f);
    }
    atomic_fetch_add(&tally.futures, FU_PAIRS + FU_ASYNC + 1 + FU_BLOCKING);
    free(pairs);
    return unused;
}
