/* SPDX-License-Identifier: MIT */
/*
 * tests/chan/test_chan_timer.c - timer channels (wf_chan_timer_*): one-shot
 * timers and tickers in select, stop and reset, and the races of stop.
 *
 * Interleavings each case aims at:
 *   - stop before the fire, stop after the fire with the value buffered,
 *     stop after the value was received (stop_outcomes);
 *   - stop racing the fire while a receiver waits (fiber or plain thread):
 *     exactly one of "received" and "stop returned 0" (stop_races_fire);
 *   - stop racing a ticker's callback and its re-arm: nothing arrives
 *     after stop returns (ticker_stop_races_tick);
 *   - free while the callback fires (free_races_fire, ASan/TSan);
 *   - reset drops a stale value (reset_drops_stale);
 *   - control calls from a timer callback, overlapping control calls
 *     (misuse).
 * No case asserts how late a timer fired; only what arrived and when it
 * could not have.
 */
#include <weft.h>

#include "wtest_fiber.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

static struct wf_chan_timer *mk(int64_t deadline, int64_t period)
{
    struct wf_chan_timer *t = NULL;
    int rc = wf_chan_timer_create(&t, deadline, period);
    if (rc != 0)
        WT_FAIL("wf_chan_timer_create: %s (%d)", wf_strerror(rc), rc);
    return t;
}

static void *oneshot_main(void *arg)
{
    (void)arg;
    int64_t dl = wf_deadline_in(5 * WF_MSEC);
    struct wf_chan_timer *t = mk(dl, 0);
    struct wf_chan *c = wf_chan_timer_chan(t);
    WT_CHECK_EQ(wf_chan_elem_size(c), sizeof(int64_t));
    WT_CHECK_EQ(wf_chan_cap(c), 1u);
    int64_t when = 0;
    WT_CHECK_EQ(wf_chan_recv(c, &when, WF_FOREVER), 0);
    WT_CHECK(when >= dl);
    WT_CHECK(wf_now() >= dl);
    /* once only */
    WT_CHECK_EQ(wf_chan_recv(c, &when, wf_deadline_in(10 * WF_MSEC)),
                WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_chan_timer_stop(t), WF_EALREADY); /* received */
    WT_CHECK_EQ(wf_chan_timer_stop(t), WF_EALREADY);
    WT_CHECK_EQ(wf_chan_timer_free(t), 0);
    return NULL;
}

/* A ticker whose period is WF_FOREVER (INT64_MAX) ticks once: the next
 * deadline would be past the end of time. Before, the sum wrapped to a
 * deadline in the past and the ticker fired without pause (85,416 ticks
 * in 100 ms; found by review). */
static void *forever_period_main(void *arg)
{
    (void)arg;
    struct wf_chan_timer *t = mk(wf_now(), WF_FOREVER);
    struct wf_chan *c = wf_chan_timer_chan(t);
    int64_t when;
    WT_CHECK_EQ(wf_chan_recv(c, &when, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_sleep(50 * WF_MSEC), 0); /* room for wrong ticks */
    WT_CHECK_EQ(wf_chan_try_recv(c, &when), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_timer_free(t), 0);
    return NULL;
}

WT_CASE(ticker_forever_period_ticks_once)
{
    run_main(2, forever_period_main, NULL);
}

WT_CASE(oneshot_delivers_once)
{
    run_main(2, oneshot_main, NULL);
}

/* A timer in a select: the timeout case wins when nothing else comes,
 * the data case when something does. */
static void *select_main(void *arg)
{
    (void)arg;
    struct wf_chan *data;
    WT_CHECK_EQ(wf_chan_create(&data, sizeof(int), 0), 0);
    int64_t dl = wf_deadline_in(5 * WF_MSEC);
    struct wf_chan_timer *t = mk(dl, 0);
    int v = 0;
    int64_t when = 0;
    struct wf_select_case cs[2] = {
        {data, WF_CHAN_RECV, &v, 0},
        {wf_chan_timer_chan(t), WF_CHAN_RECV, &when, 0},
    };
    WT_CHECK_EQ(wf_select(cs, 2, WF_FOREVER), 1);
    WT_CHECK(when >= dl);
    /* with data ready the timer (re-armed far away) does not get picked */
    WT_CHECK_EQ(wf_chan_timer_reset(t, wf_deadline_in(60 * WF_SEC), 0), 0);
    struct wf_chan *buf;
    WT_CHECK_EQ(wf_chan_create(&buf, sizeof(int), 1), 0);
    int one = 1;
    WT_CHECK_EQ(wf_chan_send(buf, &one, WF_FOREVER), 0);
    cs[0].chan = buf;
    WT_CHECK_EQ(wf_select(cs, 2, WF_FOREVER), 0);
    WT_CHECK_EQ(v, 1);
    WT_CHECK_EQ(wf_chan_timer_stop(t), 0); /* never fired */
    WT_CHECK_EQ(wf_chan_timer_free(t), 0);
    wf_chan_release(buf);
    wf_chan_release(data);
    return NULL;
}

WT_CASE(select_with_timer)
{
    run_main(2, select_main, NULL);
}

static void *stop_outcomes_main(void *arg)
{
    (void)arg;
    /* before the fire: prevented, and nothing comes later */
    struct wf_chan_timer *t = mk(wf_deadline_in(2 * WF_MSEC), 0);
    WT_CHECK_EQ(wf_chan_timer_stop(t), 0);
    WT_CHECK_EQ(wf_sleep(5 * WF_MSEC), 0);
    WT_CHECK_EQ(wf_chan_try_recv(wf_chan_timer_chan(t), NULL), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_timer_stop(t), WF_EALREADY);
    /* fired, buffered, not received: stop removes it */
    WT_CHECK_EQ(wf_chan_timer_reset(t, wf_now(), 0), 0);
    while (wf_chan_len(wf_chan_timer_chan(t)) == 0)
        WT_CHECK_EQ(wf_sleep(100 * 1000), 0);
    WT_CHECK_EQ(wf_chan_timer_stop(t), 0);
    WT_CHECK_EQ(wf_chan_try_recv(wf_chan_timer_chan(t), NULL), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_timer_free(t), 0);
    WT_CHECK_EQ(wf_chan_timer_free(NULL), 0);
    return NULL;
}

WT_CASE(stop_outcomes)
{
    run_main(2, stop_outcomes_main, NULL);
}

static void *reset_main(void *arg)
{
    (void)arg;
    struct wf_chan_timer *t = mk(wf_now(), 0);
    struct wf_chan *c = wf_chan_timer_chan(t);
    while (wf_chan_len(c) == 0)
        WT_CHECK_EQ(wf_sleep(100 * 1000), 0);
    /* a stale value is dropped by the reset; the new one is later */
    int64_t dl = wf_deadline_in(3 * WF_MSEC);
    WT_CHECK_EQ(wf_chan_timer_reset(t, dl, 0), 0);
    int64_t when = 0;
    WT_CHECK_EQ(wf_chan_recv(c, &when, WF_FOREVER), 0);
    WT_CHECK(when >= dl);
    /* reset into a ticker */
    dl = wf_deadline_in(WF_MSEC);
    WT_CHECK_EQ(wf_chan_timer_reset(t, dl, WF_MSEC), 0);
    int64_t prev = 0;
    for (int i = 0; i < 5; i++) {
        WT_CHECK_EQ(wf_chan_recv(c, &when, WF_FOREVER), 0);
        WT_CHECK(when >= dl);
        WT_CHECK(when >= prev);
        prev = when;
    }
    WT_CHECK_EQ(wf_chan_timer_stop(t), 0);
    WT_CHECK_EQ(wf_chan_timer_reset(t, 0, -1), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_timer_free(t), 0);
    return NULL;
}

WT_CASE(reset_drops_stale)
{
    run_main(2, reset_main, NULL);
}

/* A slow reader of a ticker: at most one tick waits for it, and the ones
 * it missed are gone (never a backlog). From a plain thread. */
WT_CASE(ticker_slow_reader_from_thread)
{
    init_rt(2);
    int64_t period = WF_MSEC;
    int64_t dl = wf_deadline_in(period);
    struct wf_chan_timer *t = mk(dl, period);
    struct wf_chan *c = wf_chan_timer_chan(t);
    int64_t when = 0, prev = 0;
    for (int i = 0; i < 5; i++) {
        nap_ms(5); /* about 5 ticks, of which 4 are dropped */
        WT_CHECK(wf_chan_len(c) <= 1);
        WT_CHECK_EQ(wf_chan_recv(c, &when, WF_FOREVER), 0);
        WT_CHECK(when >= dl && when >= prev);
        prev = when;
    }
    WT_CHECK_EQ(wf_chan_timer_stop(t), 0);
    nap_ms(5);
    WT_CHECK_EQ(wf_chan_try_recv(c, NULL), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_timer_free(t), 0);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_NONE_DISCARDED();
}

/* Stop races the fire while a receiver (fiber or plain thread) waits:
 * exactly one of "the receiver got it" and "stop returned 0". */
struct race {
    struct wf_chan *c;
    atomic_int got;
};

static void race_recv(struct race *r)
{
    /* the case closes the channel once stop has returned */
    int rc = wf_chan_recv(r->c, NULL, WF_FOREVER);
    WT_CHECK(rc == 0 || rc == WF_EPIPE);
    atomic_store(&r->got, rc == 0);
}

static void *race_fiber(void *arg)
{
    race_recv(arg);
    return NULL;
}

static void *race_thread(void *arg)
{
    race_recv(arg);
    return NULL;
}

static void *stop_race_main(void *arg)
{
    (void)arg;
    uint64_t rng = wt_seed();
    int outcome[2] = {0, 0};
    for (int i = 0; i < (wt_sanitized() ? 200 : 2000); i++) {
        struct wf_chan_timer *t =
            mk(wf_deadline_in((int64_t)(wt_rand(&rng) % 40) * 1000), 0);
        struct race r = {.c = wf_chan_timer_chan(t)};
        atomic_init(&r.got, 0);
        bool thr = (i & 1) != 0;
        pthread_t th;
        struct wf_fiber f = {0};
        if (thr)
            th = thread(race_thread, &r);
        else
            f = go(race_fiber, &r);
        int64_t until = wf_deadline_in((int64_t)(wt_rand(&rng) % 40) * 1000);
        while (wf_now() < until)
            wf_yield();
        int rc = wf_chan_timer_stop(t);
        WT_CHECK(rc == 0 || rc == WF_EALREADY);
        /* nothing can be sent now: closing only ends a waiting receive */
        WT_CHECK_EQ(wf_chan_close(r.c), 0);
        if (thr)
            WT_CHECK_EQ(pthread_join(th, NULL), 0);
        else
            join(f);
        bool got = atomic_load(&r.got);
        if (got == (rc == 0))
            WT_FAIL("round %d: received %d, stop returned %d", i, got, rc);
        outcome[got]++;
        WT_CHECK_EQ(wf_chan_try_recv(r.c, NULL), WF_EPIPE); /* empty */
        WT_CHECK_EQ(wf_chan_timer_free(t), 0);
    }
    printf("stopped first %d, received first %d\n", outcome[0], outcome[1]);
    return NULL;
}

WT_CASE(stop_races_fire)
{
    run_main(2, stop_race_main, NULL);
}

/* Stop races a ticker's callback and re-arm (period 20 us): after stop
 * returns nothing arrives, also from a re-arm made while it stopped. */
static void *ticker_stop_main(void *arg)
{
    (void)arg;
    uint64_t rng = wt_seed();
    for (int i = 0; i < (wt_sanitized() ? 100 : 1000); i++) {
        struct wf_chan_timer *t = mk(wf_now(), 20 * 1000);
        struct wf_chan *c = wf_chan_timer_chan(t);
        int64_t until = wf_deadline_in((int64_t)(wt_rand(&rng) % 100) * 1000);
        while (wf_now() < until) {
            wf_chan_try_recv(c, NULL);
            wf_yield();
        }
        WT_CHECK_EQ(wf_chan_timer_stop(t), 0);
        if (i % 100 == 0)
            WT_CHECK_EQ(wf_sleep(WF_MSEC), 0); /* 50 periods */
        else
            wf_yield();
        WT_CHECK_EQ(wf_chan_try_recv(c, NULL), WF_EAGAIN);
        WT_CHECK_EQ(wf_chan_timer_stop(t), WF_EALREADY);
        WT_CHECK_EQ(wf_chan_timer_free(t), 0);
    }
    return NULL;
}

WT_CASE(ticker_stop_races_tick)
{
    run_main(4, ticker_stop_main, NULL);
}

/* Free while the fire runs, with a receiver holding its own reference
 * (ASan, TSan): the receiver's channel stays usable. */
static void *free_race_main(void *arg)
{
    (void)arg;
    uint64_t rng = wt_seed();
    for (int i = 0; i < (wt_sanitized() ? 300 : 3000); i++) {
        int64_t period = i & 1 ? 10 * 1000 : 0;
        struct wf_chan_timer *t =
            mk(wf_deadline_in((int64_t)(wt_rand(&rng) % 20) * 1000), period);
        struct wf_chan *c = wf_chan_timer_chan(t);
        wf_chan_retain(c);
        if (wt_rand(&rng) & 1)
            wf_yield();
        WT_CHECK_EQ(wf_chan_timer_free(t), 0);
        wf_chan_try_recv(c, NULL); /* may hold a value sent before */
        WT_CHECK_EQ(wf_chan_try_recv(c, NULL), WF_EAGAIN);
        wf_chan_release(c);
    }
    return NULL;
}

WT_CASE(free_races_fire)
{
    run_main(4, free_race_main, NULL);
}

/* Control calls from a timer callback are refused (they could have to
 * wait for a callback); overlapping control calls get WF_EBUSY or run. */
static struct wf_chan_timer *cb_target;
static atomic_int cb_rc = 1;

static void cb(struct wf_timer *tm, void *arg)
{
    (void)tm;
    (void)arg;
    struct wf_chan_timer *x;
    int rc1 = wf_chan_timer_stop(cb_target);
    int rc2 = wf_chan_timer_create(&x, 0, 0);
    int rc3 = wf_chan_timer_free(cb_target);
    atomic_store(
        &cb_rc, rc1 == WF_EPERM && rc2 == WF_EPERM && rc3 == WF_EPERM ? 0 : -1);
}

static atomic_int ctl_go;

static void *ctl_thread(void *arg)
{
    struct wf_chan_timer *t = arg;
    while (!atomic_load(&ctl_go))
        ;
    for (int i = 0; i < 1000; i++) {
        int rc = i & 1 ? wf_chan_timer_stop(t)
                       : wf_chan_timer_reset(t, wf_deadline_in(1000), 0);
        WT_CHECK(rc == 0 || rc == WF_EALREADY || rc == WF_EBUSY);
    }
    return NULL;
}

WT_CASE(misuse)
{
    struct wf_chan_timer *t;
    WT_CHECK_EQ(wf_chan_timer_create(&t, 0, 0), WF_ESHUTDOWN);
    init_rt(2);
    WT_CHECK_EQ(wf_chan_timer_create(NULL, 0, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_timer_create(&t, 0, -1), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_timer_stop(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_timer_reset(NULL, 0, 0), WF_EINVAL);
    WT_CHECK(wf_chan_timer_chan(NULL) == NULL);
    cb_target = mk(wf_deadline_in(60 * WF_SEC), 0);
    struct wf_timer tm;
    WT_CHECK_EQ(wf_timer_init(&tm, cb, NULL), 0);
    WT_CHECK_EQ(wf_timer_start(&tm, wf_now()), 0);
    while (atomic_load(&cb_rc) == 1)
        nap_ms(1);
    WT_CHECK_EQ(atomic_load(&cb_rc), 0);
    WT_CHECK_EQ(wf_timer_stop(&tm), WF_EALREADY);
    /* two threads controlling one timer */
    pthread_t a = thread(ctl_thread, cb_target);
    pthread_t b = thread(ctl_thread, cb_target);
    atomic_store(&ctl_go, 1);
    WT_CHECK_EQ(pthread_join(a, NULL), 0);
    WT_CHECK_EQ(pthread_join(b, NULL), 0);
    WT_CHECK_EQ(wf_chan_timer_free(cb_target), 0);
    /* left armed at shutdown: never fires; stop and free work after */
    t = mk(wf_deadline_in(60 * WF_SEC), WF_SEC);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_chan_timer_stop(t), 0);
    WT_CHECK_EQ(wf_chan_timer_reset(t, 0, 0), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_chan_timer_free(t), 0);
}

WT_MAIN()
