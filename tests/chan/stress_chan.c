/* SPDX-License-Identifier: MIT */
/*
 * tests/chan/stress_chan.c - a bounded stress of channels and select:
 * the select, claim, deadline and close races, with fibers and plain
 * threads mixed, and a reference model of a channel.
 *
 * A run is a sequence of epochs. Each epoch makes a fresh set of channels
 * (buffered and unbuffered, a random element size), starts actors on them
 * (fibers and plain threads), lets them run for a random while, then closes
 * the channels one by one while the actors are still busy (from the
 * controlling plain thread or from a fiber), joins everyone, drains what is
 * still buffered and checks the books. Meanwhile a canceller fiber starts
 * short-lived actors and cancels them at random points.
 *
 * An actor loops over random operations: blocking sends and receives with
 * deadlines in the past, of 1-3 us, of 10-200 us, or none; selects of one
 * to five cases mixing sends and receives over the channels (repeats
 * allowed); wf_chan_try_send / wf_chan_try_recv; wf_select_try. It stops
 * when every channel has told it WF_EPIPE (or, for the cancelled ones, at
 * its first WF_ECANCELED). Every value an actor sends is (epoch, actor
 * slot, sequence number), its sequence number advancing only when a send
 * succeeds, and is written with its complement at both ends of the element
 * and a fill byte between, so a torn copy shows.
 *
 * What is checked:
 *   - conservation: every value sent successfully is received exactly
 *     once, counting what is still buffered at the end; no value is
 *     received that was not sent (nor a send that reported a timeout,
 *     cancellation or close delivered: its value is sent again, or never,
 *     and would show up twice or unaccounted for);
 *   - every blocking call returns only 0, WF_EPIPE, WF_ETIMEDOUT or (in a
 *     cancelled fiber) WF_ECANCELED, never WF_EAGAIN; a select returns a
 *     case whose result is 0 or WF_EPIPE, and writes no other case's
 *     element; try calls return 0, WF_EAGAIN or WF_EPIPE;
 *   - close: once a channel is seen closed, a send returns WF_EPIPE at
 *     once, a receive never waits (it drains, then WF_EPIPE, and after
 *     WF_EPIPE only WF_EPIPE), a select with such a case never times out;
 *     after the epoch the channel is empty and says WF_EPIPE both ways.
 *
 * Cases (profiles): mixed (everything), selects (only selects, many
 * unbuffered channels: the claim races), close_storm (short epochs, many
 * cancellations), and model (a sequential model checked against real
 * channels, single-threaded, with try operations, deadline-0 blocking
 * ones, wf_select_try, len and close).
 *
 * Environment: WT_SEED (printed at the start and on failure), WT_THREADS
 * (workers, default 3 on purpose more than this machine's 2 cores),
 * WT_STRESS_SECONDS (per case, default 2).
 */
#include <weft.h>

#include "wtest_fiber.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    NCH = 4,            /* channels per epoch */
    MAXCASES = 5,       /* cases per select */
    NFIB = 6,           /* actor fibers that live through an epoch */
    NTHR = 2,           /* actor plain threads */
    NSLOTS = 64,        /* actors per epoch, victims included */
    MAXSEQ = 1 << 16,   /* values per actor per epoch */
    MAXESZ = 200,       /* largest element size used */
};

static const uint64_t POISON = ~(uint64_t)0;

static double stress_seconds(void)
{
    const char *s = getenv("WT_STRESS_SECONDS");
    return s && atof(s) > 0 ? atof(s) : 2.0;
}

static void nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static struct wf_chan *mkchan(size_t esz, size_t cap)
{
    struct wf_chan *c = NULL;
    int rc = wf_chan_create(&c, esz, cap);
    if (rc != 0)
        WT_FAIL("wf_chan_create: %s (%d)", wf_strerror(rc), rc);
    return c;
}

/* ---- one epoch's shared state ------------------------------------------------ */

struct profile {
    const char *name;
    bool selects_only;  /* actors only select (blocking and try) */
    int nch;            /* channels used, <= NCH */
    int unbuffered_pct; /* chance that a channel is unbuffered */
    long epoch_min_us, epoch_max_us;
    long victim_max_us; /* a victim lives 0..this before it is cancelled */
};

static const struct profile *prof;

static struct {
    uint64_t id;
    int nch;
    struct wf_chan *ch[NCH];
    size_t esz;
    atomic_int nslots;          /* actor slots handed out */
    long sent[NSLOTS];          /* an actor's successful sends; written
                                 * before it returns, read after the join */
    atomic_uchar *got;          /* NSLOTS * MAXSEQ receive counts */
    atomic_bool closed_all;     /* every channel of the epoch is closed */
    atomic_long ops, selects, timeouts, cancels, epipes;
} ep;

static uint64_t pack(int slot, long seq)
{
    return ep.id << 40 | (uint64_t)slot << 24 | (uint64_t)seq;
}

static void elem_make(unsigned char *b, uint64_t v)
{
    uint64_t w = ~v;
    memcpy(b, &v, 8);
    memset(b + 8, (int)(v & 0xff), ep.esz - 16);
    memcpy(b + ep.esz - 8, &w, 8);
}

static void elem_poison(unsigned char *b)
{
    memcpy(b, &POISON, 8);
}

static bool elem_poisoned(const unsigned char *b)
{
    return memcmp(b, &POISON, 8) == 0;
}

/* A received element: whole, of this epoch, sent by a known actor, and
 * received for the first time. */
static void elem_take(const unsigned char *b)
{
    uint64_t v, w;
    memcpy(&v, b, 8);
    memcpy(&w, b + ep.esz - 8, 8);
    if (w != ~v)
        WT_FAIL("torn element: %#llx / %#llx", (unsigned long long)v,
                (unsigned long long)w);
    for (size_t i = 8; i < ep.esz - 8; i++)
        WT_CHECK_EQ(b[i], v & 0xff);
    WT_CHECK_EQ(v >> 40, ep.id);
    int slot = (int)(v >> 24 & 0xffff);
    long seq = (long)(v & 0xffffff);
    WT_CHECK(slot < atomic_load(&ep.nslots));
    WT_CHECK(seq < MAXSEQ);
    unsigned char was = atomic_fetch_add_explicit(
        &ep.got[(size_t)slot * MAXSEQ + (size_t)seq], 1, memory_order_relaxed);
    if (was != 0)
        WT_FAIL("value (slot %d, seq %ld) received twice", slot, seq);
}

/* ---- actors ------------------------------------------------------------------- */

struct actor {
    int slot;
    bool fiber;
    bool victim; /* may be cancelled */
    uint64_t rng;
};

/* Deadlines: in the past, 1-3 us, 10-200 us, or none. */
static int64_t pick_deadline(uint64_t *rng)
{
    uint64_t r = wt_rand(rng) % 8;
    if (r == 0)
        return 0;
    if (r <= 3)
        return wf_deadline_in((int64_t)r * WF_USEC);
    if (r <= 6)
        return wf_deadline_in((int64_t)(10 + wt_rand(rng) % 190) * WF_USEC);
    return WF_FOREVER;
}

/* What an actor knows of a channel: closed (a send or select-send got
 * WF_EPIPE, or wf_chan_closed said so), drained (a receive got WF_EPIPE),
 * done (it stops using it). */
struct view {
    bool closed[NCH], drained[NCH], done[NCH];
    int ndone;
};

static void saw_epipe(struct view *vw, int c, bool recv)
{
    vw->closed[c] = true;
    if (recv)
        vw->drained[c] = true;
    if (!vw->done[c]) {
        vw->done[c] = true;
        vw->ndone++;
    }
    atomic_fetch_add_explicit(&ep.epipes, 1, memory_order_relaxed);
}

/* A random channel the actor still uses. */
static int pick_chan(struct view *vw, uint64_t *rng)
{
    for (;;) {
        int c = (int)(wt_rand(rng) % (uint64_t)ep.nch);
        if (!vw->done[c])
            return c;
    }
}

/* The result of a blocking call that did not complete: a timeout, or a
 * cancellation of a victim. Returns true when the actor must stop. */
static bool gave_up(const struct actor *a, int rc)
{
    if (rc == WF_ETIMEDOUT) {
        atomic_fetch_add_explicit(&ep.timeouts, 1, memory_order_relaxed);
        return false;
    }
    if (rc == WF_ECANCELED && a->victim) {
        atomic_fetch_add_explicit(&ep.cancels, 1, memory_order_relaxed);
        return true;
    }
    WT_FAIL("slot %d: unexpected result %d (%s)", a->slot, rc, wf_strerror(rc));
}

/* One select, blocking (block) or not. Returns true when the actor must
 * stop. */
static bool do_select(struct actor *a, struct view *vw, long *seq, bool block)
{
    struct wf_select_case sc[MAXCASES];
    unsigned char out[MAXESZ];
    unsigned char in[MAXCASES][MAXESZ];
    int cidx[MAXCASES];
    bool any_closed = false;
    int n = 1 + (int)(wt_rand(&a->rng) % MAXCASES);
    bool can_send = *seq < MAXSEQ - 1;
    elem_make(out, pack(a->slot, *seq));
    for (int i = 0; i < n; i++) {
        int c = pick_chan(vw, &a->rng);
        cidx[i] = c;
        bool send = can_send && wt_rand(&a->rng) % 2;
        elem_poison(in[i]);
        sc[i] = (struct wf_select_case){
            .chan = ep.ch[c],
            .op = send ? WF_CHAN_SEND : WF_CHAN_RECV,
            .elem = send ? (void *)out : (void *)in[i],
            .result = 1,
        };
        if (wf_chan_closed(ep.ch[c]))
            vw->closed[c] = true;
        any_closed |= vw->closed[c];
    }
    int64_t dl = block ? pick_deadline(&a->rng) : 0;
    int k = block ? wf_select(sc, (size_t)n, dl) : wf_select_try(sc, (size_t)n);
    atomic_fetch_add_explicit(&ep.selects, 1, memory_order_relaxed);
    if (k < 0) {
        /* A case on a closed channel is always ready. */
        WT_CHECK(!any_closed);
        for (int i = 0; i < n; i++)
            WT_CHECK(sc[i].op == WF_CHAN_SEND || elem_poisoned(in[i]));
        if (!block) {
            WT_CHECK_EQ(k, WF_EAGAIN);
            return false;
        }
        return gave_up(a, k);
    }
    WT_CHECK(k < n);
    for (int i = 0; i < n; i++)
        if (i != k) {
            WT_CHECK_EQ(sc[i].result, 1); /* untouched */
            WT_CHECK(sc[i].op == WF_CHAN_SEND || elem_poisoned(in[i]));
        }
    int c = cidx[k];
    bool recv = sc[k].op == WF_CHAN_RECV;
    if (sc[k].result == WF_EPIPE) {
        WT_CHECK(recv || vw->closed[c] || wf_chan_closed(ep.ch[c]));
        WT_CHECK(!recv || elem_poisoned(in[k]));
        saw_epipe(vw, c, recv);
        return false;
    }
    WT_CHECK_EQ(sc[k].result, 0);
    WT_CHECK(!vw->drained[c] || !recv);
    WT_CHECK(recv || !vw->closed[c]); /* no send completes once closed */
    if (recv)
        elem_take(in[k]);
    else
        (*seq)++;
    return false;
}

/* One single send or receive, blocking or try. Returns true when the actor
 * must stop. */
static bool do_single(struct actor *a, struct view *vw, long *seq, bool block)
{
    int c = pick_chan(vw, &a->rng);
    struct wf_chan *ch = ep.ch[c];
    bool send = *seq < MAXSEQ - 1 && wt_rand(&a->rng) % 2;
    if (wf_chan_closed(ch))
        vw->closed[c] = true;
    bool was_closed = vw->closed[c];
    unsigned char b[MAXESZ];
    int rc;
    if (send) {
        elem_make(b, pack(a->slot, *seq));
        rc = block ? wf_chan_send(ch, b, pick_deadline(&a->rng))
                   : wf_chan_try_send(ch, b);
        if (was_closed)
            WT_CHECK_EQ(rc, WF_EPIPE);
    } else {
        elem_poison(b);
        rc = block ? wf_chan_recv(ch, b, pick_deadline(&a->rng))
                   : wf_chan_try_recv(ch, b);
        if (vw->drained[c])
            WT_CHECK_EQ(rc, WF_EPIPE);
        if (was_closed)
            WT_CHECK(rc == 0 || rc == WF_EPIPE); /* never waits */
        if (rc != 0)
            WT_CHECK(elem_poisoned(b));
    }
    atomic_fetch_add_explicit(&ep.ops, 1, memory_order_relaxed);
    if (rc == 0) {
        if (send)
            (*seq)++;
        else
            elem_take(b);
        return false;
    }
    if (rc == WF_EPIPE) {
        saw_epipe(vw, c, !send);
        return false;
    }
    if (!block) {
        WT_CHECK_EQ(rc, WF_EAGAIN);
        return false;
    }
    return gave_up(a, rc);
}

static void *actor_run(void *arg)
{
    struct actor *a = arg;
    struct view vw;
    memset(&vw, 0, sizeof vw);
    for (int c = ep.nch; c < NCH; c++) { /* unused channels */
        vw.done[c] = true;
        vw.ndone++;
    }
    long seq = 0;
    for (unsigned n = 1; vw.ndone < NCH; n++) {
        /* Try operations and calls that need not wait never switch: let
         * the worker's other fibers run now and then. */
        if (a->fiber && n % 64 == 0)
            wf_yield();
        uint64_t r = wt_rand(&a->rng) % 10;
        bool stop;
        if (prof->selects_only)
            stop = do_select(a, &vw, &seq, r < 8);
        else if (r < 4)
            stop = do_single(a, &vw, &seq, true);
        else if (r < 7)
            stop = do_select(a, &vw, &seq, true);
        else if (r < 9)
            stop = do_single(a, &vw, &seq, false);
        else
            stop = do_select(a, &vw, &seq, false);
        if (stop)
            break;
    }
    ep.sent[a->slot] = seq;
    return NULL;
}

static struct actor *new_actor(bool fiber, bool victim, uint64_t *rng)
{
    int slot = atomic_fetch_add(&ep.nslots, 1);
    WT_CHECK(slot < NSLOTS);
    struct actor *a = malloc(sizeof *a);
    WT_CHECK(a != NULL);
    *a = (struct actor){slot, fiber, victim, wt_rand(rng) | 1};
    return a;
}

/* Starts victims one at a time, cancels each after a random while, until
 * every channel is closed or the slots run out. */
static void *canceller(void *arg)
{
    uint64_t rng = P2U(arg);
    while (!atomic_load(&ep.closed_all) &&
           atomic_load(&ep.nslots) < NSLOTS - 1) {
        struct actor *a = new_actor(true, true, &rng);
        struct wf_fiber f = go(actor_run, a);
        long us = (long)(wt_rand(&rng) % (uint64_t)(prof->victim_max_us + 1));
        if (us)
            wf_sleep(us * WF_USEC);
        int rc = wf_cancel(f);
        WT_CHECK(rc == 0 || rc == WF_ESRCH);
        join(f);
        free(a);
    }
    return NULL;
}

/* Close the epoch's channels in a random order, with short pauses. From a
 * fiber (the closer) or from the controlling thread. */
static void close_all(uint64_t *rng, bool in_fiber)
{
    int order[NCH];
    for (int i = 0; i < ep.nch; i++)
        order[i] = i;
    for (int i = ep.nch - 1; i > 0; i--) {
        int j = (int)(wt_rand(rng) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < ep.nch; i++) {
        WT_CHECK_EQ(wf_chan_close(ep.ch[order[i]]), 0);
        long us = (long)(wt_rand(rng) % 100);
        if (us && in_fiber)
            wf_sleep(us * WF_USEC);
        else if (us)
            nap_us(us);
    }
    atomic_store(&ep.closed_all, true);
}

struct closer_arg {
    long wait_us;
    uint64_t rng;
};

static void *closer(void *arg)
{
    struct closer_arg *ca = arg;
    wf_sleep(ca->wait_us * WF_USEC);
    close_all(&ca->rng, true);
    return NULL;
}

/* One epoch: channels, actors, closes, joins, then the books. */
static void run_epoch(uint64_t *rng)
{
    ep.id++;
    ep.nch = prof->nch;
    static const size_t sizes[] = {16, 24, 64, MAXESZ};
    ep.esz = sizes[wt_rand(rng) % 4];
    for (int c = 0; c < ep.nch; c++) {
        bool unbuf = (int)(wt_rand(rng) % 100) < prof->unbuffered_pct;
        static const size_t caps[] = {1, 2, 5, 16};
        ep.ch[c] = mkchan(ep.esz, unbuf ? 0 : caps[wt_rand(rng) % 4]);
    }
    atomic_store(&ep.nslots, 0);
    atomic_store(&ep.closed_all, false);

    struct actor *fa[NFIB], *ta[NTHR];
    struct wf_fiber ff[NFIB];
    pthread_t tt[NTHR];
    for (int i = 0; i < NFIB; i++) {
        fa[i] = new_actor(true, false, rng);
        ff[i] = go(actor_run, fa[i]);
    }
    for (int i = 0; i < NTHR; i++) {
        ta[i] = new_actor(false, false, rng);
        tt[i] = thread(actor_run, ta[i]);
    }
    struct wf_fiber cf = go(canceller, U2P(wt_rand(rng) | 1));

    long span = prof->epoch_max_us - prof->epoch_min_us;
    long wait_us = prof->epoch_min_us + (long)(wt_rand(rng) % (uint64_t)(span + 1));
    if (wt_rand(rng) % 2) {
        struct closer_arg ca = {wait_us, wt_rand(rng)};
        join(go(closer, &ca));
    } else {
        nap_us(wait_us);
        close_all(rng, false);
    }

    for (int i = 0; i < NFIB; i++) {
        join(ff[i]);
        free(fa[i]);
    }
    for (int i = 0; i < NTHR; i++) {
        pthread_join(tt[i], NULL);
        free(ta[i]);
    }
    join(cf);

    /* What is still buffered counts as received; then each channel is
     * closed and empty both ways. */
    unsigned char b[MAXESZ];
    for (int c = 0; c < ep.nch; c++) {
        int rc;
        while ((rc = wf_chan_try_recv(ep.ch[c], b)) == 0)
            elem_take(b);
        WT_CHECK_EQ(rc, WF_EPIPE);
        WT_CHECK_EQ(wf_chan_len(ep.ch[c]), 0);
        elem_make(b, 0);
        WT_CHECK_EQ(wf_chan_try_send(ep.ch[c], b), WF_EPIPE);
        WT_CHECK_EQ(wf_chan_send(ep.ch[c], b, WF_FOREVER), WF_EPIPE);
        WT_CHECK_EQ(wf_chan_recv(ep.ch[c], b, WF_FOREVER), WF_EPIPE);
        wf_chan_release(ep.ch[c]);
    }
    /* Conservation: values 0..sent-1 of each actor arrived once each;
     * the value it was trying to send when it stopped never did. */
    int nslots = atomic_load(&ep.nslots);
    for (int s = 0; s < nslots; s++) {
        atomic_uchar *g = &ep.got[(size_t)s * MAXSEQ];
        for (long q = 0; q < ep.sent[s]; q++)
            if (atomic_load_explicit(&g[q], memory_order_relaxed) != 1)
                WT_FAIL("epoch %llu: value (slot %d, seq %ld) of %ld sent "
                        "was received %d times",
                        (unsigned long long)ep.id, s, q, ep.sent[s],
                        (int)atomic_load(&g[q]));
        if (atomic_load_explicit(&g[ep.sent[s]], memory_order_relaxed) != 0)
            WT_FAIL("epoch %llu: slot %d's send %ld reported failure but "
                    "was received", (unsigned long long)ep.id, s, ep.sent[s]);
        memset((void *)g, 0, (size_t)ep.sent[s] + 1);
    }
}

static void stress(const struct profile *p)
{
    prof = p;
    uint64_t seed = wt_seed();
    int workers = wt_threads(3);
    double secs = stress_seconds();
    printf("%s: seed %llu, %d workers, %.1f s\n", p->name,
           (unsigned long long)seed, workers, secs);
    fflush(stdout);
    ep.got = calloc((size_t)NSLOTS * MAXSEQ, 1);
    WT_CHECK(ep.got != NULL);
    uint64_t rng = seed | 1;
    init_rt(workers);
    int64_t end = wf_now() + (int64_t)(secs * 1e9);
    long epochs = 0;
    while (wf_now() < end) {
        run_epoch(&rng);
        epochs++;
    }
    shutdown_clean();
    printf("%ld epochs: %ld ops, %ld selects, %ld timeouts, %ld cancels, "
           "%ld EPIPE\n",
           epochs, atomic_load(&ep.ops), atomic_load(&ep.selects),
           atomic_load(&ep.timeouts), atomic_load(&ep.cancels),
           atomic_load(&ep.epipes));
    free(ep.got);
}

WT_CASE(mixed)
{
    static const struct profile p = {
        .name = "mixed", .nch = 4, .unbuffered_pct = 50,
        .epoch_min_us = 200, .epoch_max_us = 20000, .victim_max_us = 300,
    };
    stress(&p);
}

WT_CASE(selects)
{
    static const struct profile p = {
        .name = "selects", .selects_only = true, .nch = 4,
        .unbuffered_pct = 85, .epoch_min_us = 1000, .epoch_max_us = 30000,
        .victim_max_us = 500,
    };
    stress(&p);
}

WT_CASE(close_storm)
{
    static const struct profile p = {
        .name = "close_storm", .nch = 3, .unbuffered_pct = 50,
        .epoch_min_us = 0, .epoch_max_us = 1000, .victim_max_us = 50,
    };
    stress(&p);
}

/* ---- a reference model --------------------------------------------------------- */

/* A channel as a sequential program sees it: a FIFO of at most cap values
 * and a closed flag. With one thread and no runtime nobody ever waits on
 * the other side, so an unbuffered channel is never ready but when
 * closed. */
struct model {
    long buf[8];
    size_t head, n, cap;
    bool closed;
};

static bool m_send_ready(const struct model *m)
{
    return m->closed || m->n < m->cap;
}

static bool m_recv_ready(const struct model *m)
{
    return m->closed || m->n > 0;
}

/* Apply a send (a receive) the model says is ready: 0 or WF_EPIPE, and the
 * value received. */
static int m_send(struct model *m, long v)
{
    if (m->closed)
        return WF_EPIPE;
    m->buf[(m->head + m->n++) % 8] = v;
    return 0;
}

static int m_recv(struct model *m, long *v)
{
    if (m->n > 0) {
        *v = m->buf[m->head];
        m->head = (m->head + 1) % 8;
        m->n--;
        return 0;
    }
    return WF_EPIPE;
}

enum { MCH = 3 };

WT_CASE(model)
{
    uint64_t seed = wt_seed();
    printf("model: seed %llu\n", (unsigned long long)seed);
    uint64_t rng = seed | 1;
    struct wf_chan *ch[MCH];
    struct model m[MCH];
    long next = 1;
    long steps = (long)(stress_seconds() * (wt_sanitized() ? 2e5 : 2e6));
    for (int c = 0; c < MCH; c++)
        ch[c] = NULL;
    for (long step = 0; step < steps; step++) {
        int c = (int)(wt_rand(&rng) % MCH);
        if (!ch[c] || wt_rand(&rng) % 500 == 0) { /* a fresh channel */
            wf_chan_release(ch[c]);
            memset(&m[c], 0, sizeof m[c]);
            m[c].cap = wt_rand(&rng) % 5; /* 0..4, within the model's 8 */
            ch[c] = mkchan(sizeof(long), m[c].cap);
        }
        long v = -1;
        int rc;
        switch (wt_rand(&rng) % 8) {
        case 0: /* try_send, or a send that may not wait */
        case 1: {
            long x = next++;
            bool ready = m_send_ready(&m[c]);
            rc = wt_rand(&rng) % 2 ? wf_chan_try_send(ch[c], &x)
                                   : wf_chan_send(ch[c], &x, 0);
            if (ready)
                WT_CHECK_EQ(rc, m_send(&m[c], x));
            else
                WT_CHECK(rc == WF_EAGAIN || rc == WF_ETIMEDOUT);
            break;
        }
        case 2: /* try_recv, or a receive that may not wait */
        case 3: {
            bool ready = m_recv_ready(&m[c]);
            bool try = wt_rand(&rng) % 2;
            rc = try ? wf_chan_try_recv(ch[c], &v)
                     : wf_chan_recv(ch[c], &v, 0);
            if (ready) {
                long mv = -1;
                WT_CHECK_EQ(rc, m_recv(&m[c], &mv));
                WT_CHECK_EQ(v, mv);
            } else {
                WT_CHECK_EQ(rc, try ? WF_EAGAIN : WF_ETIMEDOUT);
                WT_CHECK_EQ(v, -1);
            }
            break;
        }
        case 4: /* close, now and then */
            if (wt_rand(&rng) % 20 == 0) {
                rc = wf_chan_close(ch[c]);
                WT_CHECK_EQ(rc, m[c].closed ? WF_EPIPE : 0);
                m[c].closed = true;
            }
            break;
        case 5:
        case 6: { /* a select over random cases, try or deadline 0 */
            struct wf_select_case sc[4];
            long in[4], out[4];
            bool ready[4];
            int n = 1 + (int)(wt_rand(&rng) % 4), nready = 0;
            for (int i = 0; i < n; i++) {
                int cc = (int)(wt_rand(&rng) % MCH);
                bool send = wt_rand(&rng) % 2;
                in[i] = -1;
                out[i] = next++;
                bool off = !ch[cc] || wt_rand(&rng) % 8 == 0;
                sc[i] = (struct wf_select_case){
                    .chan = off ? NULL : ch[cc],
                    .op = send ? WF_CHAN_SEND : WF_CHAN_RECV,
                    .elem = send ? &out[i] : &in[i],
                    .result = 1,
                };
                ready[i] = !off && (send ? m_send_ready(&m[cc])
                                         : m_recv_ready(&m[cc]));
                nready += ready[i];
            }
            bool try = wt_rand(&rng) % 2;
            int k = try ? wf_select_try(sc, (size_t)n) : wf_select(sc, (size_t)n, 0);
            if (nready == 0) {
                WT_CHECK_EQ(k, try ? WF_EAGAIN : WF_ETIMEDOUT);
                break;
            }
            WT_CHECK(k >= 0 && k < n && ready[k]);
            int kc = -1;
            for (int j = 0; j < MCH; j++)
                if (ch[j] == sc[k].chan)
                    kc = j;
            WT_CHECK(kc >= 0);
            if (sc[k].op == WF_CHAN_SEND) {
                WT_CHECK_EQ(sc[k].result, m_send(&m[kc], out[k]));
            } else {
                long mv = -1;
                WT_CHECK_EQ(sc[k].result, m_recv(&m[kc], &mv));
                WT_CHECK_EQ(in[k], mv);
            }
            for (int i = 0; i < n; i++)
                if (i != k) {
                    WT_CHECK_EQ(sc[i].result, 1);
                    WT_CHECK_EQ(in[i], -1);
                }
            break;
        }
        default: /* the queries */
            break;
        }
        WT_CHECK_EQ(wf_chan_len(ch[c]), m[c].n);
        WT_CHECK_EQ(wf_chan_cap(ch[c]), m[c].cap);
        WT_CHECK_EQ(wf_chan_closed(ch[c]), m[c].closed);
    }
    for (int c = 0; c < MCH; c++)
        wf_chan_release(ch[c]);
}

WT_MAIN()
