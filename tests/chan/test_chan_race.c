/*
 * tests/chan/test_chan_race.c - channel and select races found in review,
 * each with the scenario that showed it, and a reference model: a
 * sequential model of channels checked against the real ones over long
 * randomized sequences of non-blocking operations.
 *
 * The race cases run for a bounded time (RACE_NS, or WT_STRESS_SECONDS)
 * and check outcomes only (what each call returned, what was received),
 * never how long anything took.
 */
#include <weft.h>

#include "wtest_fiber.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static struct wf_chan *mkchan(size_t esz, size_t cap)
{
    struct wf_chan *c = NULL;
    int rc = wf_chan_create(&c, esz, cap);
    if (rc != 0)
        WT_FAIL("wf_chan_create: %s (%d)", wf_strerror(rc), rc);
    return c;
}

/* How long a race case runs: 2 s, or WT_STRESS_SECONDS. */
static int64_t race_ns(void)
{
    const char *s = getenv("WT_STRESS_SECONDS");
    double sec = s && atof(s) > 0 ? atof(s) : 2.0;
    return (int64_t)(sec * 1e9);
}

/* ---- a select must not report a case it could not complete ------------------- */

/* A select's ready check peeks at a queued select's state; before it acts,
 * that select can be claimed through another channel or give up at its
 * deadline, neither of which takes this channel's lock. The select that
 * peeked must then look again, never report the case (it used to return
 * the index with result WF_EAGAIN, the element unwritten). Fiber A selects
 * receives on X and Y; B selects a send on X among receives on 48 idle
 * channels (a long window between its peek and its act, with all those
 * locks to take); C sends on Y. Every value is a sequence number, so a
 * receive that did not happen, or a value never sent, is seen. */
#define IDLE_CHANS 48

static struct {
    struct wf_chan *x, *y;
    struct wf_chan *idle[IDLE_CHANS];
    atomic_bool stop;
    long x_sent, y_sent;         /* written by B, C before they return */
    long x_recv, y_recv;         /* written by A before it returns */
} sr;

static void *sr_a(void *arg)
{
    (void)arg;
    long nx = 0, ny = 0;
    while (!atomic_load(&sr.stop)) {
        long vx = -1, vy = -1;
        struct wf_select_case sc[2] = {
            {.chan = sr.x, .op = WF_CHAN_RECV, .elem = &vx},
            {.chan = sr.y, .op = WF_CHAN_RECV, .elem = &vy},
        };
        int k = wf_select(sc, 2, wf_deadline_in(200 * WF_USEC));
        if (k == WF_ETIMEDOUT) {
            WT_CHECK(vx == -1 && vy == -1);
            continue;
        }
        WT_CHECK(k == 0 || k == 1);
        WT_CHECK_EQ(sc[k].result, 0);
        if (k == 0) {
            WT_CHECK_EQ(vx, nx); /* B's values arrive in order, each once */
            WT_CHECK_EQ(vy, -1);
            nx++;
        } else {
            WT_CHECK_EQ(vy, ny);
            WT_CHECK_EQ(vx, -1);
            ny++;
        }
    }
    sr.x_recv = nx;
    sr.y_recv = ny;
    return NULL;
}

static void *sr_b(void *arg)
{
    (void)arg;
    long next = 0;
    long sink[IDLE_CHANS];
    struct wf_select_case sc[1 + IDLE_CHANS];
    while (!atomic_load(&sr.stop)) {
        sc[0] = (struct wf_select_case){
            .chan = sr.x, .op = WF_CHAN_SEND, .elem = &next, .result = 1};
        for (int i = 0; i < IDLE_CHANS; i++)
            sc[1 + i] = (struct wf_select_case){.chan = sr.idle[i],
                                                .op = WF_CHAN_RECV,
                                                .elem = &sink[i],
                                                .result = 1};
        int k = wf_select(sc, 1 + IDLE_CHANS, wf_deadline_in(100 * WF_USEC));
        if (k == WF_ETIMEDOUT)
            continue;
        WT_CHECK_EQ(k, 0); /* nothing is ever sent on the idle channels */
        WT_CHECK_EQ(sc[0].result, 0);
        next++;
    }
    sr.x_sent = next;
    return NULL;
}

static void *sr_c(void *arg)
{
    (void)arg;
    long next = 0;
    while (!atomic_load(&sr.stop)) {
        int rc = wf_chan_send(sr.y, &next, wf_deadline_in(100 * WF_USEC));
        if (rc == 0)
            next++;
        else
            WT_CHECK_EQ(rc, WF_ETIMEDOUT);
    }
    sr.y_sent = next;
    return NULL;
}

static void *select_race_main(void *arg)
{
    (void)arg;
    sr.x = mkchan(sizeof(long), 0);
    sr.y = mkchan(sizeof(long), 0);
    for (int i = 0; i < IDLE_CHANS; i++)
        sr.idle[i] = mkchan(sizeof(long), 0);
    atomic_store(&sr.stop, false);
    struct wf_fiber a = go(sr_a, NULL);
    struct wf_fiber b = go(sr_b, NULL);
    struct wf_fiber c = go(sr_c, NULL);
    wf_sleep(race_ns());
    atomic_store(&sr.stop, true);
    join(a);
    join(b);
    join(c);
    /* Every send that reported success was received, and no other. */
    WT_CHECK_EQ(sr.x_recv, sr.x_sent);
    WT_CHECK_EQ(sr.y_recv, sr.y_sent);
    wf_chan_release(sr.x);
    wf_chan_release(sr.y);
    for (int i = 0; i < IDLE_CHANS; i++)
        wf_chan_release(sr.idle[i]);
    return NULL;
}

WT_CASE(select_peek_then_claim_fails)
{
    run_main(2, select_race_main, NULL);
}

WT_MAIN()
