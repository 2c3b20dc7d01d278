/*
 * tests/core/test_timer.c - user timers (weft/timer.h): misuse, firing
 * once and never early, stop before the fire, re-arming from the
 * callback, many timers at once, stop racing with the fire, callbacks
 * that start and stop other timers, timers armed from plain threads onto
 * sleeping workers, and shutdown with timers pending.
 *
 * Nothing here is timed: a check says "not before its deadline" (the
 * callback reads the clock), never "within so long".
 */
#include <weft.h>

#include "wtest_fiber.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* A timer with its record of firings. */
struct rec {
    struct wf_timer t;
    int64_t deadline;
    atomic_int fired;
    atomic_int early; /* fired before its deadline */
    int rearms;       /* re-arm this many more times */
};

static void on_fire(struct wf_timer *t, void *arg)
{
    struct rec *r = arg;
    WT_CHECK(t == &r->t);
    if (wf_now() < r->deadline)
        atomic_fetch_add(&r->early, 1);
    atomic_fetch_add(&r->fired, 1);
    if (r->rearms > 0) {
        r->rearms--;
        r->deadline = wf_deadline_in(100 * WF_USEC);
        WT_CHECK_EQ(wf_timer_start(t, r->deadline), 0);
        WT_CHECK_EQ(wf_timer_start(t, r->deadline), WF_EBUSY);
    }
}

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof *r);
    WT_CHECK_EQ(wf_timer_init(&r->t, on_fire, r), 0);
}

static void wait_fired(struct rec *r, int n)
{
    while (atomic_load(&r->fired) < n) {
        if (wf_sleep(WF_MSEC) != 0) /* plain thread */
            nap_ms(1);
    }
}

WT_CASE(misuse)
{
    struct wf_timer t;
    memset(&t, 0, sizeof t);
    WT_CHECK_EQ(wf_timer_init(NULL, on_fire, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_timer_init(&t, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_timer_start(NULL, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_timer_start(&t, 0), WF_EINVAL); /* never initialised */
    WT_CHECK_EQ(wf_timer_stop(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_timer_stop(&t), WF_EINVAL);
    struct rec r;
    rec_init(&r);
    WT_CHECK_EQ(wf_timer_start(&r.t, 0), WF_ESHUTDOWN); /* no runtime */
    WT_CHECK_EQ(wf_timer_stop(&r.t), WF_EALREADY);
    WT_CHECK_EQ(atomic_load(&r.fired), 0);
}

/* Fires once, never early; a second start while armed is refused; after
 * the fire, stop says it is too late. From a fiber and from a thread. */
static void fire_once_checks(void)
{
    struct rec r;
    rec_init(&r);
    r.deadline = wf_deadline_in(2 * WF_MSEC);
    WT_CHECK_EQ(wf_timer_start(&r.t, r.deadline), 0);
    WT_CHECK_EQ(wf_timer_start(&r.t, r.deadline), WF_EBUSY);
    wait_fired(&r, 1);
    nap_ms(5);
    WT_CHECK_EQ(atomic_load(&r.fired), 1);
    WT_CHECK_EQ(atomic_load(&r.early), 0);
    WT_CHECK_EQ(wf_timer_stop(&r.t), WF_EALREADY);
    /* Re-usable after firing; a past deadline fires too. */
    r.deadline = wf_now();
    WT_CHECK_EQ(wf_timer_start(&r.t, r.deadline), 0);
    wait_fired(&r, 2);
    WT_CHECK_EQ(atomic_load(&r.early), 0);
}

static void *fire_once_main(void *arg)
{
    (void)arg;
    fire_once_checks();
    return NULL;
}

WT_CASE(fire_once_fiber)
{
    run_main(2, fire_once_main, NULL);
}

WT_CASE(fire_once_thread)
{
    init_rt(2);
    fire_once_checks();
    WT_CHECK_EQ(wf_shutdown(), 0);
}

/* Stopped before its deadline: the callback never runs. */
static void *stop_main(void *arg)
{
    (void)arg;
    struct rec r;
    rec_init(&r);
    r.deadline = wf_deadline_in(20 * WF_MSEC);
    WT_CHECK_EQ(wf_timer_start(&r.t, r.deadline), 0);
    WT_CHECK_EQ(wf_timer_stop(&r.t), 0);
    WT_CHECK_EQ(wf_timer_stop(&r.t), WF_EALREADY);
    wf_sleep(40 * WF_MSEC);
    WT_CHECK_EQ(atomic_load(&r.fired), 0);
    return NULL;
}

WT_CASE(stop_before_fire)
{
    run_main(2, stop_main, NULL);
}

/* A callback re-arms its own timer: exactly 1 + rearms firings, never
 * early; stop from outside ends a re-arming timer. */
static void *rearm_main(void *arg)
{
    (void)arg;
    struct rec r;
    rec_init(&r);
    r.rearms = 50;
    r.deadline = wf_deadline_in(100 * WF_USEC);
    WT_CHECK_EQ(wf_timer_start(&r.t, r.deadline), 0);
    wait_fired(&r, 51);
    wf_sleep(5 * WF_MSEC);
    WT_CHECK_EQ(atomic_load(&r.fired), 51);
    WT_CHECK_EQ(atomic_load(&r.early), 0);

    rec_init(&r);
    r.rearms = 1000000;
    r.deadline = wf_now();
    WT_CHECK_EQ(wf_timer_start(&r.t, r.deadline), 0);
    wait_fired(&r, 10);
    int rc = wf_timer_stop(&r.t);
    WT_CHECK(rc == 0 || rc == WF_EALREADY);
    int n = atomic_load(&r.fired);
    wf_sleep(5 * WF_MSEC);
    WT_CHECK_EQ(atomic_load(&r.fired), n); /* stopped for good */
    return NULL;
}

WT_CASE(rearm_from_callback)
{
    run_main(2, rearm_main, NULL);
}

/* Many timers with random deadlines over 200 ms, armed from fibers on
 * every worker and from a plain thread: each fires exactly once, none
 * early. */
#define MANY 20000
static struct rec *many;

static void *arm_slice(void *arg)
{
    long part = (long)P2U(arg);
    uint64_t rng = wt_seed() + (uint64_t)part;
    for (long i = part; i < MANY; i += 4) {
        many[i].deadline =
            wf_deadline_in((int64_t)(wt_rand(&rng) % (200 * WF_MSEC)));
        WT_CHECK_EQ(wf_timer_start(&many[i].t, many[i].deadline), 0);
    }
    return NULL;
}

WT_CASE(many_timers)
{
    printf("seed %llu\n", (unsigned long long)wt_seed());
    many = calloc(MANY, sizeof *many);
    WT_CHECK(many != NULL);
    for (long i = 0; i < MANY; i++)
        rec_init(&many[i]);
    init_rt(wt_threads(4));
    struct wf_fiber f[3];
    for (long k = 0; k < 3; k++)
        WT_CHECK_EQ(wf_go(&f[k], arm_slice, U2P(k)), 0);
    arm_slice(U2P(3));
    for (long k = 0; k < 3; k++)
        WT_CHECK_EQ(wf_join(f[k], NULL, WF_FOREVER), 0);
    for (long i = 0; i < MANY; i++)
        wait_fired(&many[i], 1);
    nap_ms(10);
    for (long i = 0; i < MANY; i++) {
        WT_CHECK_EQ(atomic_load(&many[i].fired), 1);
        WT_CHECK_EQ(atomic_load(&many[i].early), 0);
    }
    WT_CHECK_EQ(wf_shutdown(), 0);
    free(many);
}

/* Stop racing with the fire: stop returns 0 and the callback never runs,
 * or WF_EALREADY and the callback has run (and returned) exactly once. */
static void *race_main(void *arg)
{
    (void)arg;
    struct rec r;
    uint64_t rng = wt_seed();
    for (long i = 0; i < scaled(20000); i++) {
        rec_init(&r);
        r.deadline = wf_deadline_in((int64_t)(wt_rand(&rng) % 30) * WF_USEC);
        WT_CHECK_EQ(wf_timer_start(&r.t, r.deadline), 0);
        for (uint64_t k = wt_rand(&rng) % 64; k > 0; k--)
            __asm__ __volatile__("" ::: "memory");
        int rc = wf_timer_stop(&r.t);
        if (rc == 0)
            WT_CHECK_EQ(atomic_load(&r.fired), 0);
        else {
            WT_CHECK_EQ(rc, WF_EALREADY);
            WT_CHECK_EQ(atomic_load(&r.fired), 1);
        }
        /* r is reused at once: a late callback would be caught above */
    }
    return NULL;
}

WT_CASE(stop_races_fire)
{
    printf("seed %llu\n", (unsigned long long)wt_seed());
    run_main(2, race_main, NULL);
}

/* A callback starts one timer and stops another. */
static struct rec chain_a, chain_b, chain_c;

static void chain_fire(struct wf_timer *t, void *arg)
{
    (void)t;
    struct rec *r = arg;
    atomic_fetch_add(&r->fired, 1);
    if (r == &chain_a) {
        chain_b.deadline = wf_deadline_in(WF_MSEC);
        WT_CHECK_EQ(wf_timer_start(&chain_b.t, chain_b.deadline), 0);
        int rc = wf_timer_stop(&chain_c.t); /* c is due much later */
        WT_CHECK_EQ(rc, 0);
    }
}

static void *chain_main(void *arg)
{
    (void)arg;
    memset(&chain_a, 0, sizeof chain_a);
    memset(&chain_b, 0, sizeof chain_b);
    memset(&chain_c, 0, sizeof chain_c);
    WT_CHECK_EQ(wf_timer_init(&chain_a.t, chain_fire, &chain_a), 0);
    WT_CHECK_EQ(wf_timer_init(&chain_b.t, chain_fire, &chain_b), 0);
    WT_CHECK_EQ(wf_timer_init(&chain_c.t, chain_fire, &chain_c), 0);
    WT_CHECK_EQ(wf_timer_start(&chain_c.t, wf_deadline_in(WF_SEC)), 0);
    WT_CHECK_EQ(wf_timer_start(&chain_a.t, wf_deadline_in(WF_MSEC)), 0);
    wait_fired(&chain_b, 1);
    WT_CHECK_EQ(atomic_load(&chain_a.fired), 1);
    WT_CHECK_EQ(wf_timer_stop(&chain_c.t), WF_EALREADY);
    WT_CHECK_EQ(atomic_load(&chain_c.fired), 0);
    return NULL;
}

WT_CASE(callback_starts_and_stops_others)
{
    run_main(2, chain_main, NULL);
}

/* A plain thread arms timers while every worker sleeps: the workers wake
 * for them (an idle runtime would otherwise sleep past the deadlines). */
WT_CASE(thread_arms_sleeping_workers)
{
    init_rt(2);
    nap_ms(50); /* the workers go to sleep */
    struct rec r[8];
    for (int i = 0; i < 8; i++) {
        rec_init(&r[i]);
        r[i].deadline = wf_deadline_in((i + 1) * WF_MSEC);
        WT_CHECK_EQ(wf_timer_start(&r[i].t, r[i].deadline), 0);
    }
    for (int i = 0; i < 8; i++) {
        wait_fired(&r[i], 1);
        WT_CHECK_EQ(atomic_load(&r[i].early), 0);
    }
    WT_CHECK_EQ(wf_shutdown(), 0);
}

/* Timers pending at shutdown never fire; stop reports them stopped. */
WT_CASE(pending_at_shutdown)
{
    init_rt(2);
    struct rec r;
    rec_init(&r);
    r.deadline = wf_deadline_in(10 * WF_SEC);
    WT_CHECK_EQ(wf_timer_start(&r.t, r.deadline), 0);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_timer_stop(&r.t), 0);
    WT_CHECK_EQ(atomic_load(&r.fired), 0);
    /* and the timer works in a new runtime */
    init_rt(1);
    r.deadline = wf_now();
    WT_CHECK_EQ(wf_timer_start(&r.t, r.deadline), 0);
    wait_fired(&r, 1);
    WT_CHECK_EQ(wf_shutdown(), 0);
}

/* The one-shot-then-free pattern: each callback frees the storage of its
 * own timer (ASan reports any later touch of it by the runtime). */
static atomic_int freed;

static void free_self(struct wf_timer *t, void *arg)
{
    (void)arg;
    free(t);
    atomic_fetch_add(&freed, 1);
}

static void *free_main(void *arg)
{
    (void)arg;
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        struct wf_timer *t = malloc(sizeof *t);
        WT_CHECK(t != NULL);
        WT_CHECK_EQ(wf_timer_init(t, free_self, NULL), 0);
        WT_CHECK_EQ(wf_timer_start(t, wf_deadline_in((i % 50) * WF_USEC)), 0);
    }
    while (atomic_load(&freed) < N)
        wf_sleep(WF_MSEC);
    return NULL;
}

WT_CASE(callback_frees_own_timer)
{
    run_main(2, free_main, NULL);
}

WT_MAIN()
