/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_stress.c - part of test_core (see test_core.c): park/unpark rings, spawn/join races, concurrent joiners.
 * Stress cases take WT_SEED and WT_THREADS (see wtest.h) and print the
 * seed when they fail.
 */
#include "core_cases.h"

/* ---- stress -------------------------------------------------------------- */

/* A ring of fibers passing tokens: fiber i waits (parks) until it holds a
 * token, passes one to fiber i+1 and unparks it. A lost wake-up leaves a
 * fiber parked with a token and the ring stops: the case hangs until the
 * ctest timeout. With `timed`, parks carry short random deadlines, so
 * timer expiry races with unpark. */
#define RING_N 64
#define RING_TOKENS 16

static struct {
    struct wf_fiber h[RING_N];
    atomic_int tickets[RING_N];
    atomic_int start, done, release;
    struct wf_fiber main;
    int rounds;
    int timed;
    uint64_t seed;
    atomic_long passes, timeouts;
} ring;

static void *ring_fn(void *arg)
{
    int i = (int)P2U(arg), next = (i + 1) % RING_N;
    uint64_t rng = ring.seed ^ ((uint64_t)i * 0x9E3779B97F4A7C15ull);
    while (!atomic_load(&ring.start))
        WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
    for (int r = 0; r < ring.rounds; r++) {
        while (atomic_load(&ring.tickets[i]) == 0) {
            int64_t dl = ring.timed
                             ? wf_deadline_in((int64_t)(wt_rand(&rng) % 100000))
                             : WF_FOREVER;
            int rc = wf_park(dl);
            if (rc == WF_ETIMEDOUT && ring.timed)
                atomic_fetch_add_explicit(&ring.timeouts, 1,
                                          memory_order_relaxed);
            else if (rc != 0)
                WT_FAIL("ring fiber %d: park: %s", i, wf_strerror(rc));
        }
        atomic_fetch_sub(&ring.tickets[i], 1);
        if (wt_rand(&rng) % 8 == 0)
            WT_CHECK_EQ(wf_yield(), 0);
        atomic_fetch_add(&ring.tickets[next], 1);
        int rc = wf_unpark(ring.h[next]);
        if (rc != 0)
            WT_FAIL("ring fiber %d: unpark %d: %s", i, next, wf_strerror(rc));
        atomic_fetch_add_explicit(&ring.passes, 1, memory_order_relaxed);
    }
    if (atomic_fetch_add(&ring.done, 1) + 1 == RING_N)
        WT_CHECK_EQ(wf_unpark(ring.main), 0);
    /* stay alive until every unpark aimed at us has been made */
    while (!atomic_load(&ring.release))
        WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
    return U2P(i);
}

static void *ring_main(void *arg)
{
    ring.main = wf_self();
    for (int i = 0; i < RING_N; i++)
        atomic_store(&ring.tickets[i], i % (RING_N / RING_TOKENS) == 0);
    for (int i = 0; i < RING_N; i++)
        ring.h[i] = go(ring_fn, U2P(i));
    atomic_store(&ring.start, 1);
    for (int i = 0; i < RING_N; i++)
        WT_CHECK_EQ(wf_unpark(ring.h[i]), 0);
    while (atomic_load(&ring.done) < RING_N)
        WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
    atomic_store(&ring.release, 1);
    for (int i = 0; i < RING_N; i++)
        WT_CHECK_EQ(wf_unpark(ring.h[i]), 0);
    for (int i = 0; i < RING_N; i++)
        WT_CHECK_EQ(P2U(join(ring.h[i])), i);
    /* tokens are conserved */
    int left = 0;
    for (int i = 0; i < RING_N; i++)
        left += atomic_load(&ring.tickets[i]);
    WT_CHECK_EQ(left, RING_TOKENS);
    return NULL;
}

static void ring_stress(int timed)
{
    ring.seed = wt_seed();
    ring.timed = timed;
    ring.rounds = (int)scaled(timed ? 10000 : 100000);
    int workers = wt_threads(4);
    fprintf(stderr, "ring: %d fibers, %d tokens, %d rounds, %d workers, seed %llu\n",
            RING_N, RING_TOKENS, ring.rounds, workers,
            (unsigned long long)ring.seed);
    run_main(workers, ring_main, NULL);
    WT_CHECK_EQ(atomic_load(&ring.passes), (long)RING_N * ring.rounds);
    if (timed)
        fprintf(stderr, "ring: %ld parks timed out\n", atomic_load(&ring.timeouts));
}

WT_CASE(stress_ring_park_unpark)
{
    ring_stress(0);
}

WT_CASE(stress_ring_park_deadline)
{
    ring_stress(1);
}

/* Spawn-then-join races: children finish before, during or after their
 * parent starts to join them, on 4 workers with stealing. */
static void *race_child(void *arg)
{
    uintptr_t v = P2U(arg);
    if (v % 3 == 1)
        wf_yield();
    return U2P(v * 2 + 1);
}

static void *race_parent(void *arg)
{
    uint64_t rng = wt_seed() ^ P2U(arg);
    int n = (int)scaled_spawns(100000);
    uint64_t sum = 0, expect = 0;
    for (int i = 0; i < n; i++) {
        uintptr_t v = (uintptr_t)wt_rand(&rng) % 1000000;
        struct wf_fiber f = go(race_child, U2P(v));
        if (wt_rand(&rng) % 2)
            wf_yield();
        sum += P2U(join(f));
        expect += v * 2 + 1;
    }
    WT_CHECK_EQ(sum, expect);
    return U2P(n);
}

static void *join_race_main(void *arg)
{
    struct wf_fiber h[8];
    for (int i = 0; i < 8; i++)
        h[i] = go(race_parent, U2P(i));
    long total = 0;
    for (int i = 0; i < 8; i++)
        total += (long)P2U(join(h[i]));
    return U2P(total);
}

WT_CASE(stress_spawn_join_race)
{
    wt_seed();
    WT_CHECK_EQ(P2U(run_main(wt_threads(4), join_race_main, NULL)),
                8 * scaled_spawns(100000));
}

/* Two joiners race for one target, round after round: exactly one is
 * refused, the other gets the result. A joiner that lost the race used to
 * overwrite the winner's record, so the target's exit woke the loser and
 * the winner waited for ever (this case then hangs into its timeout). */
struct jrace {
    struct wf_fiber target;
    atomic_int go_flag;
    int rc[2];
    void *res[2];
};

static void *jrace_target(void *arg)
{
    struct jrace *r = arg;
    while (!atomic_load(&r->go_flag))
        wf_yield();
    return U2P(0x77);
}

static struct jrace *jrace_cur;

static void *jrace_joiner(void *arg)
{
    int side = (int)P2U(arg);
    struct jrace *r = jrace_cur;
    r->rc[side] = wf_join(r->target, &r->res[side], WF_FOREVER);
    return NULL;
}

static void *jrace_main(void *arg)
{
    int rounds = (int)P2U(arg);
    for (int i = 0; i < rounds; i++) {
        struct jrace r;
        memset(&r, 0, sizeof r);
        atomic_init(&r.go_flag, 0);
        jrace_cur = &r;
        r.target = go(jrace_target, &r);
        struct wf_fiber a = go(jrace_joiner, U2P(0));
        struct wf_fiber b = go(jrace_joiner, U2P(1));
        wf_yield();
        atomic_store(&r.go_flag, 1);
        join(a);
        join(b);
        int ok = (r.rc[0] == 0) + (r.rc[1] == 0);
        /* The loser is refused while the winner waits (WF_EINVAL), or
         * finds the handle already released (WF_ESRCH). */
        int refused = (r.rc[0] == WF_EINVAL || r.rc[0] == WF_ESRCH) +
                      (r.rc[1] == WF_EINVAL || r.rc[1] == WF_ESRCH);
        if (ok != 1 || refused != 1)
            WT_FAIL("round %d: join results %d and %d", i, r.rc[0], r.rc[1]);
        WT_CHECK_EQ(P2U(r.res[r.rc[0] == 0 ? 0 : 1]), 0x77);
    }
    return NULL;
}

WT_CASE(stress_concurrent_joiners)
{
    run_main(wt_threads(4), jrace_main, U2P(wt_sanitized() ? 300 : 3000));
}
