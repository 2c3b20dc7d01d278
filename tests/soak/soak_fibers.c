/* SPDX-License-Identifier: MIT */
/*
 * tests/soak/soak_fibers.c - the soak's workloads of fibers, channels and locks: scopes
 * and cancellation, channels and select, the sync objects (weft-soak.c
 * says what each checks).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "soak.h"

/* ---- scopes: spawning and cancelling ------------------------------------ */

enum { SC_MEMBERS = 64 };

struct sc_round {
    atomic_long entered, left, cancelled_ok, bad_result;
    struct wf_chan *never; /* nobody sends: receivers wait until cancelled */
};

/* A member: computes and returns, sleeps, waits on a channel, or opens a
 * scope of its own; a wait ends only by cancellation (WF_ECANCELED). */
static void *sc_member(void *arg)
{
    struct sc_round *r = arg;
    uint64_t s = seed_for(1, (unsigned)atomic_fetch_add(&r->entered, 1));
    void *res = (void *)(uintptr_t)1;
    int rc;
    switch (rnd(&s) % 5) {
    case 0: /* compute, yielding */
        for (int i = 0; i < 20; i++)
            wf_yield();
        res = (void *)(uintptr_t)7;
        break;
    case 1:
        rc = wf_sleep_until(WF_FOREVER);
        if (rc == WF_ECANCELED)
            atomic_fetch_add(&r->cancelled_ok, 1);
        else
            atomic_fetch_add(&r->bad_result, 1);
        break;
    case 2:
        rc = wf_chan_recv(r->never, NULL, WF_FOREVER);
        if (rc == WF_ECANCELED)
            atomic_fetch_add(&r->cancelled_ok, 1);
        else
            atomic_fetch_add(&r->bad_result, 1);
        break;
    case 3: { /* a nested scope: cancelling this member cancels it */
        struct wf_scope *in;
        if (wf_scope_open(&in) == 0) {
            for (int i = 0; i < 2; i++)
                if (wf_scope_go(in, NULL, sc_member, r) == 0)
                    atomic_fetch_add(&tally.fibers, 1);
            rc = wf_scope_wait(in, WF_FOREVER);
            CHECK(rc == 0 || rc == WF_ECANCELED);
            CHECK(wf_scope_close(in) >= 0);
        }
        break;
    }
    default: /* a short sleep that may or may not be cut short */
        rc = wf_sleep((int64_t)(rnd(&s) % 2000) * WF_USEC);
        CHECK(rc == 0 || rc == WF_ECANCELED);
        break;
    }
    atomic_fetch_add(&r->left, 1);
    return res;
}

static void *sc_deadline_member(void *arg)
{
    struct sc_round *r = arg;
    atomic_fetch_add(&r->entered, 1);
    int rc = wf_chan_recv(r->never, NULL, WF_FOREVER);
    if (rc == WF_ECANCELED)
        atomic_fetch_add(&r->cancelled_ok, 1);
    else
        atomic_fetch_add(&r->bad_result, 1);
    atomic_fetch_add(&r->left, 1);
    return NULL;
}

void *w_scopes(void *unused)
{
    struct sc_round r = {0};
    uint64_t s = seed_for(1, 1u << 20);
    MUST(wf_chan_create(&r.never, 0, 0));

    /* A join set: take some results, then cancel the rest. */
    struct wf_scope *js;
    struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
    o.flags = WF_SCOPE_JOINSET;
    MUST(wf_scope_open_ex(&js, &o));
    for (int i = 0; i < SC_MEMBERS; i++)
        spawn_in(js, sc_member, &r);
    int take = (int)(rnd(&s) % 8);
    for (int i = 0; i < take; i++) {
        void *res = NULL;
        int rc = wf_scope_next(js, NULL, &res, wf_deadline_in(5 * WF_MSEC));
        CHECK(rc == 0 || rc == WF_ETIMEDOUT);
        if (rc == 0)
            CHECK((uintptr_t)res == 1 || (uintptr_t)res == 7);
    }
    MUST(wf_scope_cancel(js));
    void *res;
    int rc;
    while ((rc = wf_scope_next(js, NULL, &res, WF_FOREVER)) == 0)
        CHECK((uintptr_t)res == 1 || (uintptr_t)res == 7);
    CHECK_EQ(rc, WF_ESRCH);
    CHECK(wf_scope_close(js) >= 0);

    /* A fail-fast scope whose deadline cancels its waiting members. */
    struct wf_scope *dl;
    o.flags = WF_SCOPE_FAILFAST;
    o.deadline = wf_deadline_in((int64_t)(1 + rnd(&s) % 5) * WF_MSEC);
    MUST(wf_scope_open_ex(&dl, &o));
    for (int i = 0; i < 8; i++)
        spawn_in(dl, sc_deadline_member, &r);
    CHECK_EQ(wf_scope_wait(dl, WF_FOREVER), WF_ETIMEDOUT);
    CHECK_EQ(wf_scope_close(dl), WF_ETIMEDOUT);

    /* A fiber of its own, cancelled and joined by handle. */
    struct wf_fiber f;
    if (wf_go(&f, sc_deadline_member, &r) == 0) {
        atomic_fetch_add(&tally.fibers, 1);
        wf_sleep((int64_t)(rnd(&s) % 1000) * WF_USEC);
        MUST(wf_cancel(f));
        MUST(wf_join(f, NULL, WF_FOREVER));
    }

    CHECK_EQ(atomic_load(&r.entered), atomic_load(&r.left));
    CHECK_EQ(atomic_load(&r.bad_result), 0);
    atomic_fetch_add(&tally.cancelled, atomic_load(&r.cancelled_ok));
    wf_chan_release(r.never);
    return unused;
}

/* ---- channels and select ------------------------------------------------- */

enum {
    CH_CHANS = 4,
    CH_PRODUCERS = 8,
    CH_CONSUMERS = 6,
    CH_PER_PRODUCER = 400
};

struct ch_round {
    struct wf_chan *c[CH_CHANS];
    struct wf_chan_timer *tick;
    struct wf_waitgroup producers;
    atomic_ulong sent_n, sent_sum, sent_xor, recv_n, recv_sum, recv_xor;
    atomic_uint next_id;
};

static void *ch_producer(void *arg)
{
    struct ch_round *r = arg;
    unsigned id = atomic_fetch_add(&r->next_id, 1);
    uint64_t s = seed_for(2, id);
    for (uint64_t seq = 0; seq < CH_PER_PRODUCER; seq++) {
        uint64_t v = ((uint64_t)id << 32) | seq;
        int rc;
        if (rnd(&s) % 2) { /* a plain send, retried past short deadlines */
            struct wf_chan *c = r->c[rnd(&s) % CH_CHANS];
            while ((rc = wf_chan_send(c, &v, wf_deadline_in(200 * WF_USEC))) ==
                   WF_ETIMEDOUT) {
            }
        } else { /* a select send on two channels */
            struct wf_select_case cs[2] = {
                {r->c[rnd(&s) % CH_CHANS], WF_CHAN_SEND, &v, 0},
                {r->c[rnd(&s) % CH_CHANS], WF_CHAN_SEND, &v, 0},
            };
            while ((rc = wf_select(cs, 2, wf_deadline_in(200 * WF_USEC))) ==
                   WF_ETIMEDOUT) {
            }
            if (rc >= 0) {
                CHECK_EQ(cs[rc].result, 0);
                rc = 0;
            }
            atomic_fetch_add(&tally.selects, 1);
        }
        MUST(rc);
        if (rc == 0) {
            atomic_fetch_add(&r->sent_n, 1);
            atomic_fetch_add(&r->sent_sum, v);
            atomic_fetch_xor(&r->sent_xor, v);
        }
    }
    MUST(wf_waitgroup_done(&r->producers));
    return NULL;
}

static void *ch_consumer(void *arg)
{
    struct ch_round *r = arg;
    uint64_t v, n = 0, sum = 0, x = 0;
    int64_t when;
    struct wf_select_case cs[CH_CHANS + 1];
    for (int i = 0; i < CH_CHANS; i++)
        cs[i] = (struct wf_select_case){r->c[i], WF_CHAN_RECV, &v, 0};
    cs[CH_CHANS] = (struct wf_select_case){wf_chan_timer_chan(r->tick),
                                           WF_CHAN_RECV, &when, 0};
    int open = CH_CHANS;
    while (open > 0) {
        int i = wf_select(cs, CH_CHANS + 1, wf_deadline_in(2 * WF_MSEC));
        atomic_fetch_add(&tally.selects, 1);
        if (i == WF_ETIMEDOUT || i == CH_CHANS)
            continue; /* a deadline, a tick */
        CHECK(i >= 0);
        if (i < 0)
            break;
        if (cs[i].result == WF_EPIPE) { /* closed and drained */
            cs[i].chan = NULL;
            open--;
            continue;
        }
        n++;
        sum += v;
        x ^= v;
    }
    atomic_fetch_add(&r->recv_n, n);
    atomic_fetch_add(&r->recv_sum, sum);
    atomic_fetch_xor(&r->recv_xor, x);
    return NULL;
}

void *w_chan(void *unused)
{
    static const size_t caps[CH_CHANS] = {0, 1, 16, 0};
    struct ch_round r = {0};
    for (int i = 0; i < CH_CHANS; i++)
        MUST(wf_chan_create(&r.c[i], sizeof(uint64_t), caps[i]));
    MUST(wf_chan_timer_create(&r.tick, wf_deadline_in(WF_MSEC), WF_MSEC));
    MUST(wf_waitgroup_init(&r.producers));
    MUST(wf_waitgroup_add(&r.producers, CH_PRODUCERS));
    struct wf_scope *sc;
    MUST(wf_scope_open(&sc));
    for (int i = 0; i < CH_CONSUMERS; i++)
        spawn_in(sc, ch_consumer, &r);
    for (int i = 0; i < CH_PRODUCERS; i++)
        spawn_in(sc, ch_producer, &r);
    MUST(wf_waitgroup_wait(&r.producers, WF_FOREVER));
    for (int i = 0; i < CH_CHANS; i++)
        MUST(wf_chan_close(r.c[i]));
    scope_finish(sc);
    CHECK_EQ(atomic_load(&r.sent_n), CH_PRODUCERS * CH_PER_PRODUCER);
    CHECK_EQ(atomic_load(&r.recv_n), atomic_load(&r.sent_n));
    CHECK(atomic_load(&r.recv_sum) == atomic_load(&r.sent_sum));
    CHECK(atomic_load(&r.recv_xor) == atomic_load(&r.sent_xor));
    atomic_fetch_add(&tally.msgs, (long)atomic_load(&r.recv_n));
    MUST(wf_chan_timer_free(r.tick));
    MUST(wf_waitgroup_destroy(&r.producers));
    for (int i = 0; i < CH_CHANS; i++)
        wf_chan_release(r.c[i]);
    return unused;
}

/* ---- locks ----------------------------------------------------------------- */

enum {
    LK_FIBERS = 16,
    LK_ITERS = 200,
    LK_SEM = 3,
    LK_PHASES = 20,
    LK_QUEUE = 8
};

struct lk_round {
    struct wf_mutex mu;
    long counter; /* protected by mu */
    struct wf_rwlock rw;
    long a, b; /* protected by rw; equal whenever rw is not write-held */
    struct wf_sem sem;
    atomic_int inside; /* fibers between sem wait and post */
    struct wf_barrier bar;
    int phase_of[LK_FIBERS]; /* slot i written by fiber i before the barrier */
    struct wf_mutex qmu;     /* guards the queue below */
    struct wf_cond qcond;
    long queue[LK_QUEUE], qhead, qlen, qsum_in, qsum_out, qdone;
    struct wf_waitgroup wg;
    atomic_uint next_id;
    atomic_long ops;
};

static void lk_mutex_part(struct lk_round *r, uint64_t *s)
{
    for (int i = 0; i < LK_ITERS; i++) {
        int rc;
        if (rnd(s) % 4 == 0) {
            while ((rc = wf_mutex_trylock(&r->mu)) == WF_EBUSY)
                wf_yield();
        } else {
            while (
                (rc = wf_mutex_lock(&r->mu, wf_deadline_in(100 * WF_USEC))) ==
                WF_ETIMEDOUT) {
            }
        }
        MUST(rc);
        long c = r->counter; /* a plain read-modify-write the lock protects */
        if (rnd(s) % 16 == 0)
            wf_yield(); /* holding the lock across a switch */
        r->counter = c + 1;
        MUST(wf_mutex_unlock(&r->mu));
    }
}

static void lk_rw_part(struct lk_round *r, uint64_t *s, unsigned id)
{
    for (int i = 0; i < LK_ITERS / 4; i++) {
        if (id % 4 == 0) {
            MUST(wf_rwlock_wrlock(&r->rw, WF_FOREVER));
            long v = r->a + 1;
            r->a = v;
            if (rnd(s) % 8 == 0)
                wf_yield();
            r->b = v;
            MUST(wf_rwlock_unlock(&r->rw));
        } else {
            MUST(wf_rwlock_rdlock(&r->rw, WF_FOREVER));
            CHECK_EQ(r->a, r->b);
            MUST(wf_rwlock_unlock(&r->rw));
        }
    }
}

static void lk_sem_part(struct lk_round *r, uint64_t *s)
{
    for (int i = 0; i < LK_ITERS / 8; i++) {
        MUST(wf_sem_wait(&r->sem, WF_FOREVER));
        int in = atomic_fetch_add(&r->inside, 1) + 1;
        CHECK(in <= LK_SEM);
        if (rnd(s) % 2)
            wf_yield();
        atomic_fetch_sub(&r->inside, 1);
        MUST(wf_sem_post(&r->sem));
    }
}

static void lk_barrier_part(struct lk_round *r, unsigned id)
{
    int serial = 0;
    for (int p = 1; p <= LK_PHASES; p++) {
        r->phase_of[id] = p;
        int rc = wf_barrier_wait(&r->bar, WF_FOREVER);
        MUST(rc);
        serial += rc == 1;
        for (int j = 0; j < LK_FIBERS; j++)
            CHECK_EQ(r->phase_of[j], p);
        MUST(wf_barrier_wait(&r->bar, WF_FOREVER)); /* nobody writes early */
    }
    (void)serial;
}

/* Half the fibers put numbers in a bounded queue, half take them out. */
static void lk_cond_part(struct lk_round *r, unsigned id)
{
    long base = (long)id * 1000;
    for (int i = 0; i < LK_ITERS / 4; i++) {
        MUST(wf_mutex_lock(&r->qmu, WF_FOREVER));
        if (id % 2 == 0) {
            while (r->qlen == LK_QUEUE)
                MUST(wf_cond_wait(&r->qcond, &r->qmu, WF_FOREVER));
            r->queue[(r->qhead + r->qlen++) % LK_QUEUE] = base + i;
            r->qsum_in += base + i;
        } else {
            while (r->qlen == 0)
                MUST(wf_cond_wait(&r->qcond, &r->qmu, WF_FOREVER));
            r->qsum_out += r->queue[r->qhead];
            r->qhead = (r->qhead + 1) % LK_QUEUE;
            r->qlen--;
            r->qdone++;
        }
        MUST(wf_cond_broadcast(&r->qcond));
        MUST(wf_mutex_unlock(&r->qmu));
    }
}

static void *lk_fiber(void *arg)
{
    struct lk_round *r = arg;
    unsigned id = atomic_fetch_add(&r->next_id, 1);
    uint64_t s = seed_for(3, id);
    lk_mutex_part(r, &s);
    lk_rw_part(r, &s, id);
    lk_sem_part(r, &s);
    lk_barrier_part(r, id);
    lk_cond_part(r, id);
    atomic_fetch_add(&r->ops, LK_ITERS + LK_ITERS / 4 * 2 + LK_ITERS / 8 +
                                  LK_PHASES * 2);
    MUST(wf_waitgroup_done(&r->wg));
    return NULL;
}

void *w_locks(void *unused)
{
    struct lk_round *r = calloc(1, sizeof *r);
    CHECK(r != NULL);
    if (!r)
        return unused;
    MUST(wf_mutex_init(&r->mu));
    MUST(wf_rwlock_init(&r->rw));
    MUST(wf_sem_init(&r->sem, LK_SEM));
    MUST(wf_barrier_init(&r->bar, LK_FIBERS));
    MUST(wf_mutex_init(&r->qmu));
    MUST(wf_cond_init(&r->qcond));
    MUST(wf_waitgroup_init(&r->wg));
    MUST(wf_waitgroup_add(&r->wg, LK_FIBERS));
    struct wf_scope *sc;
    MUST(wf_scope_open(&sc));
    for (int i = 0; i < LK_FIBERS; i++)
        spawn_in(sc, lk_fiber, r);
    MUST(wf_waitgroup_wait(&r->wg, WF_FOREVER));
    scope_finish(sc);
    CHECK_EQ(r->counter, (long)LK_FIBERS * LK_ITERS);
    CHECK_EQ(r->a, r->b);
    CHECK_EQ(r->a, (long)(LK_FIBERS / 4) * (LK_ITERS / 4));
    CHECK_EQ(atomic_load(&r->inside), 0);
    CHECK_EQ(wf_sem_value(&r->sem), LK_SEM);
    CHECK_EQ(r->qlen, 0);
    CHECK_EQ(r->qdone, (long)(LK_FIBERS / 2) * (LK_ITERS / 4));
    CHECK_EQ(r->qsum_in, r->qsum_out);
    atomic_fetch_add(&tally.lock_ops, atomic_load(&r->ops));
    MUST(wf_mutex_destroy(&r->mu));
    MUST(wf_rwlock_destroy(&r->rw));
    MUST(wf_sem_destroy(&r->sem));
    MUST(wf_barrier_destroy(&r->bar));
    MUST(wf_mutex_destroy(&r->qmu));
    MUST(wf_cond_destroy(&r->qcond));
    MUST(wf_waitgroup_destroy(&r->wg));
    free(r);
    return unused;
}
