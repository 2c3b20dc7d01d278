/* SPDX-License-Identifier: MIT */
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

/* ---- a claimed wait outlasts its deadline and cancellation ------------------- */

/* Elements of WF_CHAN_ELEM_MAX bytes, so that a completer copies for a
 * long while after it claimed a waiter, whose tiny deadline passes (or
 * which is cancelled) meanwhile: the waiter then waits for the claimed
 * operation to finish (parking, after a brief spin) and reports it. A
 * receive that reports success got a whole element (its bytes are checked
 * every 4 KiB); a send that reports a timeout or cancellation delivered
 * nothing; every successful send is received exactly once. */
#define BIG WF_CHAN_ELEM_MAX

static struct {
    struct wf_chan *c;
    long nsend;               /* elements to send successfully */
    atomic_uchar *seen;       /* nsend flags */
    atomic_long received;
    atomic_bool sender_done;
    uint64_t seed;            /* wt_seed(), read before any fiber starts */
} bw;

static void big_fill(unsigned char *b, long seq)
{
    memset(b, (int)(seq & 0xff), BIG);
    memcpy(b, &seq, sizeof seq);
    memcpy(b + BIG - sizeof seq, &seq, sizeof seq);
}

/* The sequence number of a received element, after checking it whole. */
static long big_check(const unsigned char *b)
{
    long seq, tail;
    memcpy(&seq, b, sizeof seq);
    memcpy(&tail, b + BIG - sizeof tail, sizeof tail);
    WT_CHECK_EQ(seq, tail);
    WT_CHECK(seq >= 0 && seq < bw.nsend);
    for (size_t i = 4096; i < BIG - 4096; i += 4096)
        WT_CHECK_EQ(b[i], seq & 0xff);
    return seq;
}

static void big_got(const unsigned char *b)
{
    long seq = big_check(b);
    WT_CHECK_EQ(atomic_exchange(&bw.seen[seq], 1), 0);
    atomic_fetch_add(&bw.received, 1);
}

/* Tiny deadlines: 0-3 us, and now and then none. */
static int64_t tiny_deadline(uint64_t *rng)
{
    uint64_t r = wt_rand(rng) % 5;
    return r == 4 ? WF_FOREVER : wf_deadline_in((int64_t)r * WF_USEC);
}

/* For the large elements: tiny, or about as long as a copy (20-60 us),
 * or none. */
static int64_t big_deadline(uint64_t *rng)
{
    uint64_t r = wt_rand(rng) % 8;
    if (r == 7)
        return WF_FOREVER;
    return wf_deadline_in((int64_t)(r < 4 ? r : 20 * (r - 3)) * WF_USEC);
}

static void *big_sender(void *arg)
{
    (void)arg;
    unsigned char *b = malloc(BIG);
    WT_CHECK(b != NULL);
    uint64_t rng = bw.seed ^ 1;
    for (long seq = 0; seq < bw.nsend;) {
        big_fill(b, seq);
        int rc = wf_chan_send(bw.c, b, tiny_deadline(&rng));
        if (rc == 0) {
            seq++;
            /* A pause now and then, so that receivers are queued (and
             * claimed, and copied into) when the next send comes. */
            if (wt_rand(&rng) % 2)
                wf_sleep((int64_t)(wt_rand(&rng) % 30) * WF_USEC);
        } else
            WT_CHECK_EQ(rc, WF_ETIMEDOUT);
    }
    free(b);
    atomic_store(&bw.sender_done, true);
    WT_CHECK_EQ(wf_chan_close(bw.c), 0);
    return NULL;
}

/* Receives until the channel is closed and drained, by single receives
 * or (sel) by selects over the channel and a channel nobody uses; stops
 * early when cancelled. Returns the negated error it stopped on. */
static void *big_receiver(void *arg)
{
    bool sel = (P2U(arg) & 1) != 0;
    unsigned char *b = malloc(BIG);
    WT_CHECK(b != NULL);
    struct wf_chan *idle = mkchan(BIG, 0);
    uint64_t rng = bw.seed ^ (P2U(arg) + 7);
    for (;;) {
        memset(b, 0, 16);
        int rc;
        if (sel) {
            struct wf_select_case sc[2] = {
                {.chan = idle, .op = WF_CHAN_RECV, .elem = b},
                {.chan = bw.c, .op = WF_CHAN_RECV, .elem = b},
            };
            rc = wf_select(sc, 2, big_deadline(&rng));
            if (rc >= 0) {
                WT_CHECK_EQ(rc, 1);
                rc = sc[1].result;
            }
        } else {
            rc = wf_chan_recv(bw.c, b, big_deadline(&rng));
        }
        if (rc == 0) {
            big_got(b);
            continue;
        }
        if (rc == WF_EPIPE || rc == WF_ECANCELED) {
            wf_chan_release(idle);
            free(b);
            return U2P(-rc);
        }
        WT_CHECK_EQ(rc, WF_ETIMEDOUT);
        long zero = 0;
        WT_CHECK(memcmp(b, &zero, sizeof zero) == 0); /* nothing written */
    }
}

static void *big_main(void *arg)
{
    (void)arg;
    /* Receivers that live through the run: a fiber of each kind, and a
     * plain thread. More fibers come and are cancelled while it runs. */
    struct wf_fiber r0 = go(big_receiver, U2P(0));
    struct wf_fiber r1 = go(big_receiver, U2P(1));
    pthread_t t = thread(big_receiver, U2P(3));
    struct wf_fiber s = go(big_sender, NULL);
    for (long i = 0; !atomic_load(&bw.sender_done); i++) {
        struct wf_fiber v = go(big_receiver, U2P(i + 3));
        wf_sleep((int64_t)(i % 50) * WF_USEC);
        int rc = wf_cancel(v);
        WT_CHECK(rc == 0 || rc == WF_ESRCH);
        long end = -(long)P2U(join(v));
        WT_CHECK(end == WF_ECANCELED || end == WF_EPIPE);
    }
    join(s);
    WT_CHECK_EQ(-(long)P2U(join(r0)), WF_EPIPE);
    WT_CHECK_EQ(-(long)P2U(join(r1)), WF_EPIPE);
    void *tr = NULL;
    pthread_join(t, &tr);
    WT_CHECK_EQ(-(long)P2U(tr), WF_EPIPE);
    return NULL;
}

WT_CASE(claimed_wait_large_elems)
{
    bw.seed = wt_seed();
    bw.nsend = wt_sanitized() ? 300 : 3000;
    bw.seen = calloc((size_t)bw.nsend, 1);
    WT_CHECK(bw.seen != NULL);
    bw.c = mkchan(BIG, 0);
    run_main(2, big_main, NULL);
    WT_CHECK_EQ(atomic_load(&bw.received), bw.nsend);
    WT_CHECK(wf_chan_closed(bw.c));
    WT_CHECK_EQ(wf_chan_len(bw.c), 0);
    wf_chan_release(bw.c);
    free(bw.seen);
}

/* ---- close against waiters that give up ------------------------------------------ */

/* Close claims every queued operation under the channel's lock and
 * completes them after releasing it. Waiters whose tiny deadline passes,
 * or which are cancelled, in that window find themselves unlinked and must
 * wait for WF_EPIPE. Rounds of: a full buffered channel with senders and
 * an empty unbuffered one with receivers (fibers, selects, plain threads),
 * all looping on tiny deadlines until WF_EPIPE, closed after a short,
 * varying pause; some fibers are cancelled around the close. Nothing but
 * WF_ETIMEDOUT, WF_EPIPE (and WF_ECANCELED for the cancelled) is ever
 * returned, a receive never delivers, and every party ends. */
enum { CR_FIBERS = 12, CR_THREADS = 2 };

struct cr_party {
    struct wf_chan *c;
    bool send;
    bool sel;
    uint64_t seed;
};

static void *cr_loop(void *arg)
{
    struct cr_party *p = arg;
    uint64_t rng = p->seed;
    long v = 77;
    for (;;) {
        int rc;
        if (p->sel) {
            struct wf_select_case sc[1] = {
                {.chan = p->c,
                 .op = p->send ? WF_CHAN_SEND : WF_CHAN_RECV,
                 .elem = &v,
                 .result = 1},
            };
            rc = wf_select(sc, 1, tiny_deadline(&rng));
            if (rc >= 0) {
                WT_CHECK_EQ(rc, 0);
                rc = sc[0].result;
            }
        } else if (p->send) {
            rc = wf_chan_send(p->c, &v, tiny_deadline(&rng));
        } else {
            rc = wf_chan_recv(p->c, &v, tiny_deadline(&rng));
        }
        WT_CHECK_EQ(v, 77); /* nothing to receive: nothing written */
        if (rc == WF_EPIPE || rc == WF_ECANCELED)
            return U2P(-rc);
        WT_CHECK_EQ(rc, WF_ETIMEDOUT);
    }
}

static void close_round(uint64_t *rng)
{
    struct wf_chan *full = mkchan(sizeof(long), 1);
    struct wf_chan *empty = mkchan(sizeof(long), 0);
    long one = 1;
    WT_CHECK_EQ(wf_chan_send(full, &one, WF_FOREVER), 0);
    struct cr_party fp[CR_FIBERS], tp[CR_THREADS];
    struct wf_fiber fs[CR_FIBERS];
    pthread_t ts[CR_THREADS];
    for (int i = 0; i < CR_FIBERS; i++) {
        fp[i] = (struct cr_party){i % 2 ? full : empty, i % 2 != 0,
                                  i % 3 == 0, wt_rand(rng)};
        fs[i] = go(cr_loop, &fp[i]);
    }
    for (int i = 0; i < CR_THREADS; i++) {
        tp[i] = (struct cr_party){i % 2 ? full : empty, i % 2 != 0, false,
                                  wt_rand(rng)};
        ts[i] = thread(cr_loop, &tp[i]);
    }
    wf_sleep((int64_t)(wt_rand(rng) % 200) * WF_USEC);
    bool cancel = wt_rand(rng) % 2;
    if (cancel)
        for (int i = 0; i < CR_FIBERS; i += 4)
            wf_cancel(fs[i]);
    WT_CHECK_EQ(wf_chan_close(full), 0);
    WT_CHECK_EQ(wf_chan_close(empty), 0);
    for (int i = 0; i < CR_FIBERS; i++) {
        long rc = -(long)P2U(join(fs[i]));
        WT_CHECK(rc == WF_EPIPE || (cancel && i % 4 == 0 && rc == WF_ECANCELED));
    }
    for (int i = 0; i < CR_THREADS; i++) {
        void *r = NULL;
        pthread_join(ts[i], &r);
        WT_CHECK_EQ(-(long)P2U(r), WF_EPIPE);
    }
    /* The buffered element survived the close; then the channel is dry. */
    long v = 0;
    WT_CHECK_EQ(wf_chan_try_recv(full, &v), 0);
    WT_CHECK_EQ(v, 1);
    WT_CHECK_EQ(wf_chan_try_recv(full, &v), WF_EPIPE);
    WT_CHECK_EQ(wf_chan_try_send(empty, &v), WF_EPIPE);
    wf_chan_release(full);
    wf_chan_release(empty);
}

static void *close_race_main(void *arg)
{
    (void)arg;
    uint64_t rng = wt_seed();
    int rounds = wt_sanitized() ? 40 : 400;
    for (int r = 0; r < rounds; r++)
        close_round(&rng);
    return NULL;
}

WT_CASE(close_races_giving_up)
{
    run_main(2, close_race_main, NULL);
}

WT_MAIN()
