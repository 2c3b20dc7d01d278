/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_scopex.c - part of test_core (see test_core.c): what
 * wf_scope_open_ex adds to scopes: join sets (wf_scope_next), error
 * groups (wf_scope_fail, WF_SCOPE_FAILFAST) and deadlines.
 *
 * The interleavings each protocol must survive, and the case for each:
 *   - a member returns while wf_scope_next decides to park: the exit's
 *     store of the wait word and the parker's check are one Dekker pair
 *     (joinset_consumers_race, many consumers, fibers and threads);
 *   - a consumer gives up (deadline) as a member returns: the node must
 *     still be handed to someone (joinset_consumers_race ends with every
 *     result taken exactly once, with consumers using short deadlines);
 *   - two members fail at once: one winner (errgroup_racing_failures);
 *   - a failure races members that are being started: each new member is
 *     cancelled, before or after (errgroup_failfast_late_members);
 *   - a failure races members that complete normally
 *     (errgroup_fail_races_completion);
 *   - the deadline races the last member's exit: the scope's result and
 *     what the member saw agree (deadline_races_last_exit);
 *   - the deadline fires while wf_scope_close stops its timer: no use
 *     after free (deadline_races_close, under ASan/TSan);
 *   - results left in a join set at close are freed (ASan's leak check).
 */
#include "core_cases.h"

/* ---- join sets ----------------------------------------------------------- */

#define ORDER_N 16
static struct wf_fiber order_self[ORDER_N];
static atomic_int order_ready, order_turn;

static void *order_member(void *arg)
{
    int i = (int)P2U(arg);
    order_self[i] = wf_self();
    atomic_fetch_add(&order_ready, 1);
    while (atomic_load(&order_turn) != i)
        wf_park(WF_FOREVER);
    return U2P(1000 + i);
}

static void *joinset_order_main(void *arg)
{
    (void)arg;
    struct wf_scope *s;
    struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
    o.flags = WF_SCOPE_JOINSET;
    atomic_store(&order_turn, -1);
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
    /* nothing started: nothing to take */
    WT_CHECK_EQ(wf_scope_next(s, NULL, NULL, WF_FOREVER), WF_ESRCH);
    for (int i = 0; i < ORDER_N; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, order_member, U2P(i)), 0);
    fiber_wait(&order_ready, ORDER_N);
    /* running, none returned: a past deadline does not wait */
    WT_CHECK_EQ(wf_scope_next(s, NULL, NULL, wf_now() - 1), WF_ETIMEDOUT);
    /* release them in a shuffled order; each comes back in that order */
    int perm[ORDER_N];
    uint64_t rng = wt_seed();
    for (int i = 0; i < ORDER_N; i++)
        perm[i] = i;
    for (int i = ORDER_N - 1; i > 0; i--) {
        int j = (int)(wt_rand(&rng) % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int k = 0; k < ORDER_N; k++) {
        int i = perm[k];
        atomic_store(&order_turn, i);
        WT_CHECK_EQ(wf_unpark(order_self[i]), 0);
        struct wf_fiber who = {0};
        void *res = NULL;
        WT_CHECK_EQ(wf_scope_next(s, &who, &res, WF_FOREVER), 0);
        WT_CHECK_EQ(P2U(res), 1000u + (unsigned)i);
        WT_CHECK_EQ(who.id, order_self[i].id);
    }
    WT_CHECK_EQ(wf_scope_next(s, NULL, NULL, WF_FOREVER), WF_ESRCH);
    /* the set can be filled again */
    WT_CHECK_EQ(wf_scope_go(s, NULL, ret_arg, U2P(7)), 0);
    void *res = NULL;
    WT_CHECK_EQ(wf_scope_next(s, NULL, &res, WF_FOREVER), 0);
    WT_CHECK_EQ(P2U(res), 7u);
    WT_CHECK_EQ(wf_scope_close(s), 0);
    return NULL;
}

WT_CASE(joinset_completion_order)
{
    run_main(2, joinset_order_main, NULL);
}

static struct wf_scope *misuse_scope;

static void *next_own_member(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_scope_next(misuse_scope, NULL, NULL, WF_FOREVER),
                WF_EDEADLK);
    return NULL;
}

static void *next_cancelled(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_cancel(wf_self()), 0);
    WT_CHECK_EQ(wf_scope_next(misuse_scope, NULL, NULL, WF_FOREVER),
                WF_ECANCELED);
    return NULL;
}

static void *joinset_misuse_main(void *arg)
{
    (void)arg;
    struct wf_scope *plain, *s;
    struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
    WT_CHECK_EQ(wf_scope_open(&plain), 0);
    WT_CHECK_EQ(wf_scope_next(plain, NULL, NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_scope_next(NULL, NULL, NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_scope_close(plain), 0);
    o.flags = 0x80u;
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), WF_EINVAL);
    WT_CHECK_EQ(wf_scope_open_ex(NULL, NULL), WF_EINVAL);
    o.flags = WF_SCOPE_JOINSET;
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
    misuse_scope = s;
    WT_CHECK_EQ(wf_scope_go(s, NULL, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_scope_go(s, NULL, next_own_member, NULL), 0);
    WT_CHECK_EQ(wf_scope_next(s, NULL, NULL, WF_FOREVER), 0);
    /* a cancelled caller with nothing to take */
    WT_CHECK_EQ(wf_scope_go(s, NULL, park_forever, NULL), 0);
    join(go(next_cancelled, NULL));
    /* close cancels the parker and drops its result */
    WT_CHECK_EQ(wf_scope_close(s), 1);
    return NULL;
}

WT_CASE(joinset_misuse)
{
    run_main(2, joinset_misuse_main, NULL);
}

/* Many members, many consumers (fibers and plain threads, some with short
 * deadlines they often miss): each result is taken exactly once. */
#define RACE_CONSUMERS 6
static atomic_int race_seen[4096];
static atomic_int race_taken, race_consumers_done;
static struct wf_scope *race_scope;

static void *race_member(void *arg)
{
    if (P2U(arg) % 3 == 0)
        wf_yield();
    return arg;
}

static void consume(bool with_deadline)
{
    for (;;) {
        void *res;
        int64_t dl = with_deadline ? wf_deadline_in(20 * 1000) : WF_FOREVER;
        int rc = wf_scope_next(race_scope, NULL, &res, dl);
        if (rc == WF_ETIMEDOUT)
            continue;
        if (rc == WF_ESRCH)
            break;
        WT_CHECK_EQ(rc, 0);
        WT_CHECK_EQ(atomic_fetch_add(&race_seen[P2U(res)], 1), 0);
        atomic_fetch_add(&race_taken, 1);
    }
    atomic_fetch_add(&race_consumers_done, 1);
}

static void *race_fiber(void *arg)
{
    consume(P2U(arg) != 0);
    return NULL;
}

static void *race_thread(void *arg)
{
    consume(P2U(arg) != 0);
    return NULL;
}

static void *joinset_race_main(void *arg)
{
    long rounds = (long)P2U(arg);
    for (long r = 0; r < rounds; r++) {
        int n = (int)(wt_sanitized() ? 200 : 4000);
        struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
        o.flags = WF_SCOPE_JOINSET;
        WT_CHECK_EQ(wf_scope_open_ex(&race_scope, &o), 0);
        memset(race_seen, 0, sizeof race_seen);
        atomic_store(&race_taken, 0);
        atomic_store(&race_consumers_done, 0);
        /* half the members before the consumers start, half while they
         * run (a consumer that finds none left may leave early: the
         * last consumer, below, runs after every go) */
        for (int i = 0; i < n / 2; i++)
            WT_CHECK_EQ(wf_scope_go(race_scope, NULL, race_member, U2P(i)), 0);
        struct wf_fiber cf[RACE_CONSUMERS];
        pthread_t th[2];
        for (int c = 0; c < RACE_CONSUMERS; c++)
            cf[c] = go(race_fiber, U2P(c & 1));
        for (int t = 0; t < 2; t++)
            WT_CHECK_EQ(pthread_create(&th[t], NULL, race_thread, U2P(t)), 0);
        for (int i = n / 2; i < n; i++)
            WT_CHECK_EQ(wf_scope_go(race_scope, NULL, race_member, U2P(i)), 0);
        consume(false);
        for (int c = 0; c < RACE_CONSUMERS; c++)
            join(cf[c]);
        for (int t = 0; t < 2; t++)
            WT_CHECK_EQ(pthread_join(th[t], NULL), 0);
        WT_CHECK_EQ(atomic_load(&race_taken), n);
        for (int i = 0; i < n; i++)
            WT_CHECK_EQ(atomic_load(&race_seen[i]), 1);
        WT_CHECK_EQ(wf_scope_close(race_scope), 0);
    }
    return NULL;
}

WT_CASE(joinset_consumers_race)
{
    run_main(4, joinset_race_main, U2P(wt_sanitized() ? 3 : 20));
}

static void *alloc_member(void *arg)
{
    (void)arg;
    return NULL; /* the node itself is what ASan watches */
}

/* Results not taken, and members cancelled while returning, at close:
 * every record freed (ASan's leak check), in many rounds. */
static void *joinset_close_main(void *arg)
{
    (void)arg;
    uint64_t rng = wt_seed();
    for (int r = 0; r < (wt_sanitized() ? 100 : 1000); r++) {
        struct wf_scope *s;
        struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
        o.flags = WF_SCOPE_JOINSET;
        WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
        int n = 1 + (int)(wt_rand(&rng) % 8);
        for (int i = 0; i < n; i++)
            WT_CHECK_EQ(
                wf_scope_go(s, NULL, i & 1 ? park_forever : alloc_member, NULL),
                0);
        if (wt_rand(&rng) & 1)
            wf_yield();
        if (wt_rand(&rng) & 1)
            wf_scope_next(s, NULL, NULL, 0);
        int rc = wf_scope_close(s);
        WT_CHECK(rc >= 0 && rc <= n);
    }
    return NULL;
}

WT_CASE(joinset_close_drops_results)
{
    run_main(2, joinset_close_main, NULL);
}

/* A plain thread owns a join set and takes results. */
WT_CASE(joinset_from_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    struct wf_scope *s;
    struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
    o.flags = WF_SCOPE_JOINSET;
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
    long sum = 0;
    for (int i = 1; i <= 100; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, ret_arg, U2P(i)), 0);
    void *res;
    int rc;
    while ((rc = wf_scope_next(s, NULL, &res, WF_FOREVER)) == 0)
        sum += (long)P2U(res);
    WT_CHECK_EQ(rc, WF_ESRCH);
    WT_CHECK_EQ(sum, 5050);
    WT_CHECK_EQ(wf_scope_close(s), 0);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_NONE_DISCARDED();
}

/* ---- error groups ------------------------------------------------------- */

static atomic_int eg_started, eg_cancelled;

static void *eg_waiter(void *arg)
{
    (void)arg;
    atomic_fetch_add(&eg_started, 1);
    if (wf_sleep_until(WF_FOREVER) == WF_ECANCELED)
        atomic_fetch_add(&eg_cancelled, 1);
    return NULL;
}

static void *eg_failer(void *arg)
{
    fiber_wait(&eg_started, (int)P2U(arg));
    WT_CHECK_EQ(wf_scope_fail(NULL, WF_EPIPE), 0);
    /* the failing member is cancelled too */
    WT_CHECK(wf_cancelled());
    return NULL;
}

static void *errgroup_main(void *arg)
{
    (void)arg;
    struct wf_scope *s;
    struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
    o.flags = WF_SCOPE_FAILFAST;
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
    for (int i = 0; i < 10; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, eg_waiter, NULL), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, eg_failer, U2P(10)), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), WF_EPIPE);
    WT_CHECK_EQ(atomic_load(&eg_cancelled), 10);
    /* later failures lose; bad codes are refused */
    WT_CHECK_EQ(wf_scope_fail(s, WF_EBUSY), WF_EALREADY);
    WT_CHECK_EQ(wf_scope_fail(s, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_scope_fail(s, 5), WF_EINVAL);
    /* not a member: no scope of its own */
    WT_CHECK_EQ(wf_scope_fail(NULL, WF_EBUSY), WF_EINVAL);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), WF_EPIPE);
    WT_CHECK_EQ(wf_scope_close(s), WF_EPIPE);
    return NULL;
}

WT_CASE(errgroup_first_failure_cancels)
{
    run_main(2, errgroup_main, NULL);
}

static void *eg_record_member(void *arg)
{
    if (P2U(arg) == 3)
        WT_CHECK_EQ(wf_scope_fail(NULL, WF_ENOMEM), 0);
    WT_CHECK(!wf_cancelled());
    WT_CHECK_EQ(wf_sleep(WF_MSEC), 0); /* not cancelled: no FAILFAST */
    return NULL;
}

static void *errgroup_record_main(void *arg)
{
    (void)arg;
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0); /* plain scopes record too */
    for (int i = 0; i < 8; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, eg_record_member, U2P(i)), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), WF_ENOMEM);
    WT_CHECK_EQ(wf_scope_close(s), WF_ENOMEM);
    return NULL;
}

WT_CASE(errgroup_without_failfast_records)
{
    run_main(2, errgroup_record_main, NULL);
}

/* Every member fails at once: exactly one wins, and its code is the
 * scope's. Plain threads fail it too. */
static atomic_int rf_go, rf_wins, rf_winner;

static void rf_try(struct wf_scope *s, int code)
{
    while (!atomic_load(&rf_go))
        ;
    int rc = wf_scope_fail(s, code);
    if (rc == 0) {
        atomic_fetch_add(&rf_wins, 1);
        atomic_store(&rf_winner, code);
    } else {
        WT_CHECK_EQ(rc, WF_EALREADY);
    }
}

static void *rf_member(void *arg)
{
    rf_try(NULL, -(int)P2U(arg));
    return NULL;
}

struct rf_thread_arg {
    struct wf_scope *s;
    int code;
};

static void *rf_thread(void *arg)
{
    struct rf_thread_arg *a = arg;
    rf_try(a->s, a->code);
    return NULL;
}

static void *errgroup_race_main(void *arg)
{
    (void)arg;
    for (int r = 0; r < (wt_sanitized() ? 50 : 500); r++) {
        struct wf_scope *s;
        struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
        o.flags = WF_SCOPE_FAILFAST | (r & 1 ? WF_SCOPE_JOINSET : 0);
        atomic_store(&rf_go, 0);
        atomic_store(&rf_wins, 0);
        WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
        for (int i = 1; i <= 4; i++)
            WT_CHECK_EQ(wf_scope_go(s, NULL, rf_member, U2P(i)), 0);
        struct rf_thread_arg ta = {s, -100};
        pthread_t th;
        WT_CHECK_EQ(pthread_create(&th, NULL, rf_thread, &ta), 0);
        atomic_store(&rf_go, 1);
        WT_CHECK_EQ(pthread_join(th, NULL), 0);
        int rc = wf_scope_close(s);
        WT_CHECK_EQ(atomic_load(&rf_wins), 1);
        WT_CHECK_EQ(rc, atomic_load(&rf_winner));
    }
    return NULL;
}

WT_CASE(errgroup_racing_failures)
{
    run_main(4, errgroup_race_main, NULL);
}

/* Members started while (and after) another fails start cancelled if they
 * join after the failure, and are cancelled by it if they joined before:
 * none escapes. */
static atomic_int late_escaped;

static void *late_member(void *arg)
{
    (void)arg;
    /* Parks until cancelled; with a deadline so that one that escaped is
     * counted instead of hanging the test. */
    if (wf_sleep(10 * WF_SEC) == 0)
        atomic_fetch_add(&late_escaped, 1);
    return NULL;
}

static void *late_failer(void *arg)
{
    (void)arg;
    wf_yield();
    wf_scope_fail(NULL, WF_EBUSY);
    return NULL;
}

static void *errgroup_late_main(void *arg)
{
    (void)arg;
    for (int r = 0; r < (wt_sanitized() ? 20 : 200); r++) {
        struct wf_scope *s;
        struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
        o.flags = WF_SCOPE_FAILFAST;
        WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
        WT_CHECK_EQ(wf_scope_go(s, NULL, late_failer, NULL), 0);
        for (int i = 0; i < 20; i++)
            WT_CHECK_EQ(wf_scope_go(s, NULL, late_member, NULL), 0);
        WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), WF_EBUSY);
        WT_CHECK_EQ(wf_scope_go(s, NULL, late_member, NULL), 0);
        WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), WF_EBUSY);
        WT_CHECK_EQ(wf_scope_close(s), WF_EBUSY);
    }
    WT_CHECK_EQ(atomic_load(&late_escaped), 0);
    return NULL;
}

WT_CASE(errgroup_failfast_late_members)
{
    run_main(4, errgroup_late_main, NULL);
}

/* A failure races members that return normally: each member either
 * completed or saw the cancellation, and the scope's error is the
 * failure's. */
static void *quick_member(void *arg)
{
    (void)arg;
    int rc = wf_yield();
    WT_CHECK_EQ(rc, 0);
    return NULL;
}

static void *errgroup_completion_main(void *arg)
{
    (void)arg;
    uint64_t rng = wt_seed();
    for (int r = 0; r < (wt_sanitized() ? 100 : 2000); r++) {
        struct wf_scope *s;
        struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
        o.flags = WF_SCOPE_FAILFAST | WF_SCOPE_JOINSET;
        WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
        for (int i = 0; i < 4; i++)
            WT_CHECK_EQ(wf_scope_go(s, NULL, quick_member, NULL), 0);
        if (wt_rand(&rng) & 1)
            wf_yield();
        WT_CHECK_EQ(wf_scope_fail(s, WF_EBUSY), 0);
        int taken = 0;
        while (wf_scope_next(s, NULL, NULL, WF_FOREVER) == 0)
            taken++;
        WT_CHECK_EQ(taken, 4);
        WT_CHECK_EQ(wf_scope_close(s), WF_EBUSY);
    }
    return NULL;
}

WT_CASE(errgroup_fail_races_completion)
{
    run_main(2, errgroup_completion_main, NULL);
}

/* ---- deadlines ------------------------------------------------------------ */

static void *deadline_main(void *arg)
{
    (void)arg;
    struct wf_scope *s;
    struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
    atomic_store(&eg_started, 0);
    atomic_store(&eg_cancelled, 0);
    o.deadline = wf_deadline_in(20 * WF_MSEC);
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
    for (int i = 0; i < 5; i++)
        WT_CHECK_EQ(wf_scope_go(s, NULL, eg_waiter, NULL), 0);
    /* the deadline ends them: no helper fiber, no wf_scope_cancel */
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), WF_ETIMEDOUT);
    WT_CHECK(wf_now() >= o.deadline);
    WT_CHECK_EQ(atomic_load(&eg_cancelled), 5);
    /* started past the deadline: cancelled at once */
    WT_CHECK_EQ(wf_scope_go(s, NULL, eg_waiter, NULL), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), WF_ETIMEDOUT);
    WT_CHECK_EQ(atomic_load(&eg_cancelled), 6);
    WT_CHECK_EQ(wf_scope_close(s), WF_ETIMEDOUT);

    /* members all gone before the deadline: it changes nothing */
    o.deadline = wf_deadline_in(WF_SEC);
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, ret_arg, NULL), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_scope_close(s), 0);

    /* an empty scope whose deadline passed: no error, but a member
     * started then starts cancelled and makes it one */
    o.deadline = wf_now() - 1;
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
    WT_CHECK_EQ(wf_sleep(5 * WF_MSEC), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, eg_waiter, NULL), 0);
    WT_CHECK_EQ(wf_scope_close(s), WF_ETIMEDOUT);
    WT_CHECK_EQ(atomic_load(&eg_cancelled), 7);
    return NULL;
}

WT_CASE(deadline_cancels_members)
{
    run_main(2, deadline_main, NULL);
}

/* The deadline and the last member's exit race: whichever took the
 * scope's lock first decides, and the member and the scope agree. */
static atomic_int dl_member_rc;

static void *until_member(void *arg)
{
    int64_t dl = (int64_t)P2U(arg);
    atomic_store(&dl_member_rc, wf_sleep_until(dl));
    return NULL;
}

static void *deadline_race_main(void *arg)
{
    (void)arg;
    int outcomes[2] = {0, 0};
    uint64_t rng = wt_seed();
    for (int r = 0; r < (wt_sanitized() ? 100 : 1000); r++) {
        struct wf_scope *s;
        struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
        o.deadline = wf_deadline_in((int64_t)(wt_rand(&rng) % 200) * 1000);
        o.flags = r & 1 ? WF_SCOPE_JOINSET : 0;
        WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
        WT_CHECK_EQ(wf_scope_go(s, NULL, until_member, U2P(o.deadline)), 0);
        int rc = wf_scope_wait(s, WF_FOREVER);
        int mrc = atomic_load(&dl_member_rc);
        if (mrc == WF_ECANCELED)
            WT_CHECK_EQ(rc, WF_ETIMEDOUT); /* only the deadline cancels */
        else
            WT_CHECK_EQ(mrc, 0);
        WT_CHECK(rc == 0 || rc == WF_ETIMEDOUT);
        outcomes[rc == 0]++;
        WT_CHECK_EQ(wf_scope_close(s), rc);
    }
    printf("deadline first %d, exit first %d\n", outcomes[0], outcomes[1]);
    return NULL;
}

WT_CASE(deadline_races_last_exit)
{
    run_main(2, deadline_race_main, NULL);
}

/* A member started once the deadline has passed starts cancelled and
 * makes the scope's error WF_ETIMEDOUT, also while the deadline's timer
 * has not fired yet: here the only worker is busy (main does not switch),
 * so the timer cannot fire until main parks in the close. The scope used
 * to look only at whether the timer had fired: the member started
 * uncancelled, the close cancelled it and returned 1. Seen under
 * valgrind on a loaded machine, where deadline_cancels_members' 5 ms
 * sleep did not give the timer its turn. */
static void *deadline_before_timer_main(void *arg)
{
    (void)arg;
    struct wf_scope *s;
    struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
    atomic_store(&eg_started, 0);
    atomic_store(&eg_cancelled, 0);
    o.deadline = wf_deadline_in(WF_MSEC);
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
    while (wf_now() <= o.deadline) { /* no switch: the timer waits */
    }
    WT_CHECK_EQ(wf_scope_go(s, NULL, eg_waiter, NULL), 0);
    WT_CHECK_EQ(wf_scope_close(s), WF_ETIMEDOUT);
    WT_CHECK_EQ(atomic_load(&eg_cancelled), atomic_load(&eg_started));
    return NULL;
}

WT_CASE(deadline_passed_before_its_timer_fired)
{
    run_main(1, deadline_before_timer_main, NULL);
}

/* Close at about the deadline, from fibers and from a plain thread: the
 * timer's callback and the close's stop of it race; nothing is used
 * after the scope is freed (ASan, TSan), and a deadline that fires
 * during the close is no error. */
static void *deadline_close_main(void *arg)
{
    (void)arg;
    uint64_t rng = wt_seed();
    for (int r = 0; r < (wt_sanitized() ? 300 : 3000); r++) {
        struct wf_scope *s;
        struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
        o.deadline = wf_deadline_in((int64_t)(wt_rand(&rng) % 50) * 1000);
        WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
        if (r & 1)
            WT_CHECK_EQ(wf_scope_go(s, NULL, park_forever, NULL), 0);
        if (r & 2)
            wf_yield();
        int rc = wf_scope_close(s);
        WT_CHECK(rc == 0 || rc == 1 || rc == WF_ETIMEDOUT);
    }
    return NULL;
}

WT_CASE(deadline_races_close)
{
    run_main(4, deadline_close_main, NULL);
}

WT_CASE(deadline_scope_from_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    for (int r = 0; r < 100; r++) {
        struct wf_scope *s;
        struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
        o.deadline = wf_deadline_in((r % 10) * 1000);
        o.flags = WF_SCOPE_JOINSET | WF_SCOPE_FAILFAST;
        WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
        WT_CHECK_EQ(wf_scope_go(s, NULL, park_forever, NULL), 0);
        void *res;
        /* the deadline cancels the parker; then it is handed out */
        WT_CHECK_EQ(wf_scope_next(s, NULL, &res, WF_FOREVER), 0);
        WT_CHECK_EQ(wf_scope_next(s, NULL, &res, WF_FOREVER), WF_ESRCH);
        WT_CHECK_EQ(wf_scope_close(s), WF_ETIMEDOUT);
    }
    /* one left open at shutdown, with its deadline armed and a result
     * held: freed by the runtime */
    struct wf_scope *s;
    struct wf_scope_opts o = WF_SCOPE_OPTS_INIT;
    o.deadline = wf_deadline_in(60 * WF_SEC);
    o.flags = WF_SCOPE_JOINSET;
    WT_CHECK_EQ(wf_scope_open_ex(&s, &o), 0);
    WT_CHECK_EQ(wf_scope_go(s, NULL, ret_arg, NULL), 0);
    WT_CHECK_EQ(wf_scope_wait(s, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_NONE_DISCARDED();
}
