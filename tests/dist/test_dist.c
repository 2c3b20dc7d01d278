/* SPDX-License-Identifier: MIT */
/*
 * tests/dist/test_dist.c - the MPI backend (weft/dist.h), run by ctest
 * under mpirun on 2 and 4 ranks, in both thread levels (multiple, and
 * serialized through WEFT_DIST_THREAD_LEVEL=serialized). Every rank runs
 * the same case; a failing check on any rank fails the job.
 *
 * The MPI calls weft makes while it runs are interposed here (the PMPI
 * profiling interface): in serialized mode they must all come from one
 * thread (the communication fiber's worker) and never overlap; the test
 * counts those that did not. Interposed: every start the engine makes
 * (MPI_Isend, _Irecv, _Ibcast, _Ireduce, _Iallreduce, _Igather,
 * _Ibarrier), MPI_Testsome and MPI_Cancel. (MPI_Init_thread,
 * MPI_Comm_dup, MPI_Finalize and the like come from weft's MPI thread,
 * before and after the others, and are not interposed.)
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>
#include <weft/dist.h>

#include "wtest_rt.h"

/* ---- PMPI interposition: which thread makes the MPI calls ------------------ */

static pthread_t first_thread;
static atomic_int first_set, foreign_calls, overlapping_calls, mpi_calls,
    in_mpi;

static void enter_call(void)
{
    atomic_fetch_add(&mpi_calls, 1);
    if (atomic_fetch_add(&in_mpi, 1) != 0)
        atomic_fetch_add(&overlapping_calls, 1);
    int expected = 0;
    if (atomic_compare_exchange_strong(&first_set, &expected, 1)) {
        first_thread = pthread_self();
        atomic_store(&first_set, 2);
    } else if (expected == 2 && !pthread_equal(pthread_self(), first_thread)) {
        atomic_fetch_add(&foreign_calls, 1);
    }
}

static int leave_call(int rc)
{
    atomic_fetch_sub(&in_mpi, 1);
    return rc;
}

/* > 0: the n-th MPI_Isend from now fails without starting (a fault the
 * loops must not turn into a hang). */
static atomic_int fail_isend_in;

int MPI_Isend(const void *buf, int count, MPI_Datatype t, int dest, int tag,
              MPI_Comm comm, MPI_Request *req)
{
    enter_call();
    if (atomic_load(&fail_isend_in) > 0 &&
        atomic_fetch_sub(&fail_isend_in, 1) == 1)
        return leave_call(MPI_ERR_OTHER);
    return leave_call(PMPI_Isend(buf, count, t, dest, tag, comm, req));
}

int MPI_Irecv(void *buf, int count, MPI_Datatype t, int src, int tag,
              MPI_Comm comm, MPI_Request *req)
{
    enter_call();
    return leave_call(PMPI_Irecv(buf, count, t, src, tag, comm, req));
}

int MPI_Iallreduce(const void *s, void *r, int count, MPI_Datatype t, MPI_Op op,
                   MPI_Comm comm, MPI_Request *req)
{
    enter_call();
    return leave_call(PMPI_Iallreduce(s, r, count, t, op, comm, req));
}

int MPI_Ibcast(void *buf, int count, MPI_Datatype t, int root, MPI_Comm comm,
               MPI_Request *req)
{
    enter_call();
    return leave_call(PMPI_Ibcast(buf, count, t, root, comm, req));
}

int MPI_Ibarrier(MPI_Comm comm, MPI_Request *req)
{
    enter_call();
    return leave_call(PMPI_Ibarrier(comm, req));
}

int MPI_Ireduce(const void *s, void *r, int count, MPI_Datatype t, MPI_Op op,
                int root, MPI_Comm comm, MPI_Request *req)
{
    enter_call();
    return leave_call(PMPI_Ireduce(s, r, count, t, op, root, comm, req));
}

int MPI_Igather(const void *s, int scount, MPI_Datatype st, void *r, int rcount,
                MPI_Datatype rt, int root, MPI_Comm comm, MPI_Request *req)
{
    enter_call();
    return leave_call(
        PMPI_Igather(s, scount, st, r, rcount, rt, root, comm, req));
}

int MPI_Cancel(MPI_Request *req)
{
    enter_call();
    return leave_call(PMPI_Cancel(req));
}

/* Set: the next MPI_Testsome fails as a whole. */
static atomic_bool fail_testsome;

int MPI_Testsome(int n, MPI_Request *reqs, int *outcount, int *idx,
                 MPI_Status *sts)
{
    enter_call();
    if (atomic_exchange(&fail_testsome, false))
        return leave_call(MPI_ERR_OTHER);
    return leave_call(PMPI_Testsome(n, reqs, outcount, idx, sts));
}

/* Open MPI unloads its components (dlclose) in MPI_Finalize; the blocks
 * they keep until exit then have no module to name in LeakSanitizer's
 * report, and tests/dist/lsan.supp could not match them. Keeping every
 * library mapped changes nothing else for a process about to exit. */
int dlclose(void *handle);
int dlclose(void *handle)
{
    (void)handle;
    return 0;
}

/* ---- harness ------------------------------------------------------------ */

static int serialized_expected(void)
{
    const char *v = getenv("WEFT_DIST_THREAD_LEVEL");
    return v && strcmp(v, "serialized") == 0;
}

static int rank, size;

/* In serialized mode, weft's calls came from one thread, one at a time. */
static void check_calls(void)
{
    WT_CHECK(atomic_load(&mpi_calls) > 0);
    if (serialized_expected()) {
        WT_CHECK_EQ(atomic_load(&foreign_calls), 0);
        WT_CHECK_EQ(atomic_load(&overlapping_calls), 0);
    }
}

struct run_arg {
    void (*body)(void);
    const struct wf_dist_config *cfg;
};

static void *dist_main(void *p)
{
    struct run_arg *a = p;
    int err = wf_dist_init(NULL, NULL, a->cfg);
    if (err < 0)
        WT_FAIL("wf_dist_init: %s", wf_strerror(err));
    rank = wf_dist_rank();
    size = wf_dist_size();
    WT_CHECK(rank >= 0 && rank < size);
    WT_CHECK_EQ(wf_dist_thread_level(),
                serialized_expected() ? WF_DIST_SERIALIZED : WF_DIST_MULTIPLE);
    a->body();
    err = wf_dist_finalize();
    if (err < 0)
        WT_FAIL("wf_dist_finalize: %s", wf_strerror(err));
    check_calls();
    return NULL;
}

/* Run body on every rank inside wf_run's main fiber, 2 workers. */
static void run_dist(void (*body)(void))
{
    struct run_arg a = {body, NULL};
    run_main_leaving(2, dist_main, &a);
    WT_CHECK_NONE_DISCARDED();
}

static void await_ok(struct wf_future *f)
{
    int err = wf_future_await(f, wf_deadline_in(60 * WF_SEC));
    if (err < 0)
        WT_FAIL("await: %s", wf_strerror(err));
    void *v;
    err = wf_future_result(f, &v);
    if (err < 0)
        WT_FAIL("operation failed: %s", wf_strerror(err));
}

/* Start with a call that must succeed. */
#define START(call)                                            \
    do {                                                       \
        int start_err_ = (call);                               \
        if (start_err_ < 0)                                    \
            WT_FAIL("%s: %s", #call, wf_strerror(start_err_)); \
    } while (0)

static void barrier(void)
{
    struct wf_future *f;
    START(wf_dist_barrier(&f));
    await_ok(f);
    wf_future_release(f);
}

/* ---- start-up, queries, misuse before and after ---------------------------- */

static void *lifecycle_main(void *p)
{
    (void)p;
    struct wf_future *f;
    int x = 0;
    WT_CHECK_EQ(wf_dist_rank(), WF_ENOTCONN);
    WT_CHECK_EQ(wf_dist_size(), WF_ENOTCONN);
    WT_CHECK_EQ(wf_dist_thread_level(), WF_ENOTCONN);
    WT_CHECK_EQ(wf_dist_send(&f, &x, 1, WF_DIST_INT, 0, 0), WF_ENOTCONN);
    WT_CHECK_EQ(wf_dist_barrier(&f), WF_ENOTCONN);
    WT_CHECK_EQ(wf_dist_finalize(), WF_ENOTCONN);
    WT_CHECK_EQ(wf_dist_parallel_for(0, 10, NULL, NULL, NULL), WF_ENOTCONN);
    struct wf_dist_config bad = {99};
    WT_CHECK_EQ(wf_dist_init(NULL, NULL, &bad), WF_EINVAL);

    WT_CHECK_EQ(wf_dist_init(NULL, NULL, NULL), 0);
    WT_CHECK_EQ(wf_dist_init(NULL, NULL, NULL), WF_EALREADY);
    int r = wf_dist_rank(), s = wf_dist_size();
    WT_CHECK(s >= 1 && r >= 0 && r < s);
    barrier();
    WT_CHECK_EQ(wf_dist_finalize(), 0);

    WT_CHECK_EQ(wf_dist_rank(), WF_ENOTCONN);
    WT_CHECK_EQ(wf_dist_recv(&f, &x, 1, WF_DIST_INT, 0, 0, NULL), WF_ENOTCONN);
    WT_CHECK_EQ(wf_dist_allreduce(&f, &x, &r, 1, WF_DIST_INT, WF_DIST_SUM),
                WF_ENOTCONN);
    WT_CHECK_EQ(wf_dist_finalize(), WF_ENOTCONN);
    /* MPI cannot start twice in one process */
    WT_CHECK_EQ(wf_dist_init(NULL, NULL, NULL), WF_EALREADY);
    return NULL;
}

WT_CASE(lifecycle)
{
    run_main_leaving(2, lifecycle_main, NULL);
    WT_CHECK_NONE_DISCARDED();
}

WT_CASE(no_runtime)
{
    WT_CHECK_EQ(wf_dist_init(NULL, NULL, NULL), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_dist_rank(), WF_ENOTCONN);
}

static void *bad_env_main(void *p)
{
    (void)p;
    setenv("WEFT_DIST_THREAD_LEVEL", "several", 1);
    WT_CHECK_EQ(wf_dist_init(NULL, NULL, NULL), WF_EINVAL);
    unsetenv("WEFT_DIST_THREAD_LEVEL");
    return NULL;
}

WT_CASE(bad_thread_level_env)
{
    /* No MPI start here: the value is refused before MPI_Init_thread. */
    run_main_leaving(1, bad_env_main, NULL);
}

/* The level asked for in the config wins over the variable. */
static int asked_level;

static void *level_main(void *p)
{
    (void)p;
    struct wf_dist_config cfg = {asked_level};
    WT_CHECK_EQ(wf_dist_init(NULL, NULL, &cfg), 0);
    WT_CHECK_EQ(wf_dist_thread_level(), asked_level);
    int one = 1, sum = 0;
    struct wf_future *f;
    START(wf_dist_allreduce(&f, &one, &sum, 1, WF_DIST_INT, WF_DIST_SUM));
    await_ok(f);
    wf_future_release(f);
    WT_CHECK_EQ(sum, wf_dist_size());
    WT_CHECK_EQ(wf_dist_finalize(), 0);
    return NULL;
}

WT_CASE(config_serialized)
{
    asked_level = WF_DIST_SERIALIZED;
    run_main_leaving(2, level_main, NULL);
    WT_CHECK_EQ(atomic_load(&foreign_calls), 0);
    WT_CHECK_EQ(atomic_load(&overlapping_calls), 0);
}

WT_CASE(config_multiple)
{
    asked_level = WF_DIST_MULTIPLE;
    run_main_leaving(2, level_main, NULL);
}

/* ---- point-to-point --------------------------------------------------------- */

static void ring_body(void)
{
    int next = (rank + 1) % size, prev = (rank + size - 1) % size;
    long out[64], in[64];
    for (int i = 0; i < 64; i++)
        out[i] = rank * 1000 + i;
    struct wf_future *s, *r;
    struct wf_dist_status st = {-5, -5, -5};
    START(wf_dist_recv(&r, in, 64, WF_DIST_LONG, prev, 7, &st));
    START(wf_dist_send(&s, out, 64, WF_DIST_LONG, next, 7));
    await_ok(r);
    await_ok(s);
    void *v;
    WT_CHECK_EQ(wf_future_result(r, &v), 0);
    WT_CHECK_EQ((long)(uintptr_t)v, 64);
    WT_CHECK_EQ(st.source, prev);
    WT_CHECK_EQ(st.tag, 7);
    WT_CHECK_EQ(st.count, 64);
    for (int i = 0; i < 64; i++)
        WT_CHECK_EQ(in[i], prev * 1000 + i);
    wf_future_release(r);
    wf_future_release(s);

    /* any source, any tag: rank 0 hears from every other rank */
    if (rank == 0) {
        int seen = 0;
        for (int k = 1; k < size; k++) {
            int x = -1;
            START(wf_dist_recv(&r, &x, 1, WF_DIST_INT, WF_DIST_ANY_SOURCE,
                               WF_DIST_ANY_TAG, &st));
            await_ok(r);
            wf_future_release(r);
            WT_CHECK_EQ(x, st.source * 10);
            WT_CHECK_EQ(st.tag, st.source);
            seen |= 1 << st.source;
        }
        WT_CHECK_EQ(seen, ((1 << size) - 1) & ~1);
    } else {
        int x = rank * 10;
        START(wf_dist_send(&s, &x, 1, WF_DIST_INT, 0, rank));
        await_ok(s);
        wf_future_release(s);
    }
    /* to oneself */
    double a = 2.5, b = 0;
    START(wf_dist_send(&s, &a, 1, WF_DIST_DOUBLE, rank, 3));
    START(wf_dist_recv(&r, &b, 1, WF_DIST_DOUBLE, rank, 3, NULL));
    await_ok(r);
    await_ok(s);
    wf_future_release(r);
    wf_future_release(s);
    WT_CHECK(b == 2.5);
}

WT_CASE(p2p_await)
{
    run_dist(ring_body);
}

/* Consumed by callbacks: the receive's callback starts the reply (an
 * operation started from the communication fiber, which never waits). */
struct pingpong {
    int in, out;
    struct wf_event done;
    _Atomic int cb_err;
    struct wf_future *reply;
};

static void on_reply_sent(struct wf_future *f, void *arg)
{
    struct pingpong *pp = arg;
    int err = wf_future_result(f, NULL);
    if (err < 0)
        atomic_store(&pp->cb_err, err);
    wf_event_set(&pp->done);
}

static void on_ping(struct wf_future *f, void *arg)
{
    struct pingpong *pp = arg;
    int err = wf_future_result(f, NULL);
    if (err < 0) {
        atomic_store(&pp->cb_err, err);
        wf_event_set(&pp->done);
        return;
    }
    pp->out = pp->in + 1;
    err = wf_dist_send(&pp->reply, &pp->out, 1, WF_DIST_INT, 0, 2);
    if (err == 0)
        err = wf_future_then(pp->reply, on_reply_sent, pp);
    if (err < 0) {
        atomic_store(&pp->cb_err, err);
        wf_event_set(&pp->done);
    }
}

static void callback_body(void)
{
    if (rank == 0) {
        for (int k = 1; k < size; k++) {
            int x = 100 * k, y = 0;
            struct wf_future *s, *r;
            START(wf_dist_recv(&r, &y, 1, WF_DIST_INT, k, 2, NULL));
            START(wf_dist_send(&s, &x, 1, WF_DIST_INT, k, 1));
            await_ok(s);
            await_ok(r);
            wf_future_release(s);
            wf_future_release(r);
            WT_CHECK_EQ(y, x + 1);
        }
    } else {
        struct pingpong pp = {0};
        wf_event_init(&pp.done);
        struct wf_future *r;
        START(wf_dist_recv(&r, &pp.in, 1, WF_DIST_INT, 0, 1, NULL));
        START(wf_future_then(r, on_ping, &pp));
        wf_future_release(r); /* released before it completes */
        WT_CHECK_EQ(wf_event_wait(&pp.done, wf_deadline_in(60 * WF_SEC)), 0);
        WT_CHECK_EQ(atomic_load(&pp.cb_err), 0);
        WT_CHECK_EQ(pp.in, 100 * rank);
        wf_future_release(pp.reply);
        wf_event_destroy(&pp.done);
    }
    /* collectives consumed by callbacks too */
    struct pingpong pp = {0};
    wf_event_init(&pp.done);
    int one = 1;
    struct wf_future *f;
    START(wf_dist_allreduce(&f, &one, &pp.in, 1, WF_DIST_INT, WF_DIST_SUM));
    START(wf_future_then(f, on_reply_sent, &pp));
    WT_CHECK_EQ(wf_event_wait(&pp.done, wf_deadline_in(60 * WF_SEC)), 0);
    WT_CHECK_EQ(atomic_load(&pp.cb_err), 0);
    WT_CHECK_EQ(pp.in, size);
    wf_future_release(f);
    wf_event_destroy(&pp.done);
}

WT_CASE(p2p_callback)
{
    run_dist(callback_body);
}

/* Many fibers at once, each exchanging with its twin on the peer rank
 * under its own tag; they yield between start and await so that they
 * are stolen (and, with WEFT_DEBUG_MIGRATE, moved) while they wait. */
#define NFIB    32
#define NROUNDS 20

static void *exchanger(void *p)
{
    int tag = (int)P2U(p);
    int peer = rank ^ 1;
    for (int i = 0; i < NROUNDS; i++) {
        long out = (long)rank * 1000000 + tag * 1000 + i, in = -1;
        struct wf_future *s, *r;
        START(wf_dist_recv(&r, &in, 1, WF_DIST_LONG, peer, tag, NULL));
        wf_yield();
        START(wf_dist_send(&s, &out, 1, WF_DIST_LONG, peer, tag));
        wf_yield();
        await_ok(s);
        await_ok(r);
        wf_future_release(s);
        wf_future_release(r);
        WT_CHECK_EQ(in, (long)peer * 1000000 + tag * 1000 + i);
    }
    return NULL;
}

static void many_body(void)
{
    if ((size & 1) || (rank ^ 1) >= size) {
        barrier();
        return; /* pairs of ranks only */
    }
    struct wf_fiber f[NFIB];
    for (int t = 0; t < NFIB; t++)
        START(wf_go(&f[t], exchanger, U2P(t)));
    for (int t = 0; t < NFIB; t++)
        WT_CHECK_EQ(wf_join(f[t], NULL, WF_FOREVER), 0);
    barrier();
}

WT_CASE(many_fibers)
{
    run_dist(many_body);
}

/* ---- collectives ------------------------------------------------------------ */

static void collectives_body(void)
{
    struct wf_future *f;
    /* broadcast from each root */
    for (int root = 0; root < size; root++) {
        double v[3] = {0, 0, 0};
        if (rank == root)
            for (int i = 0; i < 3; i++)
                v[i] = root + i * 0.5;
        START(wf_dist_bcast(&f, v, 3, WF_DIST_DOUBLE, root));
        await_ok(f);
        wf_future_release(f);
        for (int i = 0; i < 3; i++)
            WT_CHECK(v[i] == root + i * 0.5);
    }
    /* reduce to the last rank */
    long mine[2] = {rank + 1, -(long)rank}, red[2] = {0, 0};
    START(wf_dist_reduce(&f, mine, rank == size - 1 ? red : NULL, 2,
                         WF_DIST_LONG, WF_DIST_SUM, size - 1));
    await_ok(f);
    wf_future_release(f);
    if (rank == size - 1) {
        WT_CHECK_EQ(red[0], (long)size * (size + 1) / 2);
        WT_CHECK_EQ(red[1], -(long)size * (size - 1) / 2);
    }
    /* allreduce, each op */
    int64_t x = rank + 2, r = 0;
    START(wf_dist_allreduce(&f, &x, &r, 1, WF_DIST_INT64, WF_DIST_MAX));
    await_ok(f);
    wf_future_release(f);
    WT_CHECK_EQ(r, size + 1);
    START(wf_dist_allreduce(&f, &x, &r, 1, WF_DIST_INT64, WF_DIST_MIN));
    await_ok(f);
    wf_future_release(f);
    WT_CHECK_EQ(r, 2);
    uint64_t bit = 1ull << rank, bits = 0;
    START(wf_dist_allreduce(&f, &bit, &bits, 1, WF_DIST_UINT64, WF_DIST_BOR));
    await_ok(f);
    wf_future_release(f);
    WT_CHECK_EQ(bits, (1ull << size) - 1);
    float fl = 2.0f, prod = 0;
    START(wf_dist_allreduce(&f, &fl, &prod, 1, WF_DIST_FLOAT, WF_DIST_PROD));
    await_ok(f);
    wf_future_release(f);
    WT_CHECK(prod == (float)(1 << size));
    /* gather to rank 0 */
    int pair[2] = {rank, rank * rank};
    int *all = rank == 0 ? calloc((size_t)size * 2, sizeof *all) : NULL;
    START(wf_dist_gather(&f, pair, all, 2, WF_DIST_INT, 0));
    await_ok(f);
    wf_future_release(f);
    if (rank == 0)
        for (int k = 0; k < size; k++) {
            WT_CHECK_EQ(all[2 * k], k);
            WT_CHECK_EQ(all[2 * k + 1], k * k);
        }
    free(all);
    /* bytes */
    unsigned char bytes[5] = {0};
    if (rank == 0)
        memcpy(bytes, "weft", 5);
    START(wf_dist_bcast(&f, bytes, 5, WF_DIST_BYTE, 0));
    await_ok(f);
    wf_future_release(f);
    WT_CHECK(memcmp(bytes, "weft", 5) == 0);
    barrier();
}

WT_CASE(collectives)
{
    run_dist(collectives_body);
}

static void sum_body(long lo, long hi, void *acc, void *ctx)
{
    (void)ctx;
    long *a = acc;
    for (long i = lo; i < hi; i++)
        *a += i;
}

static void sum_combine(void *acc, const void *other, void *ctx)
{
    (void)ctx;
    *(long *)acc += *(const long *)other;
}

/* From a plain thread: wf_init, the main thread starts MPI and waits on
 * futures (blocking), another plain thread waits too. */
static void *thread_waiter(void *p)
{
    int *sum = p, one = 1;
    struct wf_future *f;
    if (wf_dist_allreduce(&f, &one, sum, 1, WF_DIST_INT, WF_DIST_SUM) < 0)
        return U2P(1);
    int err = wf_future_wait(f, wf_deadline_in(60 * WF_SEC));
    if (err == 0)
        err = wf_future_result(f, NULL);
    wf_future_release(f);
    return U2P(err != 0);
}

WT_CASE(plain_thread)
{
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_dist_init(NULL, NULL, NULL), 0);
    int r = wf_dist_rank(), s = wf_dist_size();
    struct wf_future *f;
    long v = r == 0 ? 4242 : 0;
    START(wf_dist_bcast(&f, &v, 1, WF_DIST_LONG, 0));
    WT_CHECK_EQ(wf_future_wait(f, wf_deadline_in(60 * WF_SEC)), 0);
    WT_CHECK_EQ(wf_future_result(f, NULL), 0);
    wf_future_release(f);
    WT_CHECK_EQ(v, 4242);
    int sum = 0;
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, thread_waiter, &sum), 0);
    void *res;
    pthread_join(t, &res);
    WT_CHECK_EQ(P2U(res), 0);
    WT_CHECK_EQ(sum, s);
    /* a loop from a plain thread */
    long total = 0, zero = 0;
    struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
    o.combine_op = WF_DIST_SUM;
    o.combine_type = WF_DIST_LONG;
    WT_CHECK_EQ(wf_dist_parallel_reduce(0, 1000, &o, &total, sizeof total,
                                        &zero, sum_body, sum_combine, NULL),
                0);
    WT_CHECK_EQ(total, 999L * 1000 / 2);
    WT_CHECK_EQ(wf_dist_finalize(), 0);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_NONE_DISCARDED();
    check_calls();
}

/* ---- errors ---------------------------------------------------------------- */

static void errors_body(void)
{
    struct wf_future *f = NULL;
    int x[4] = {1, 2, 3, 4}, y[4] = {0};
    WT_CHECK_EQ(wf_dist_send(&f, x, 1, WF_DIST_INT, size, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_send(&f, x, 1, WF_DIST_INT, -1, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_send(&f, x, -1, WF_DIST_INT, 0, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_send(&f, x, 1L << 40, WF_DIST_INT, 0, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_send(&f, NULL, 1, WF_DIST_INT, 0, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_send(&f, x, 1, (enum wf_dist_type)42, 0, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_send(&f, x, 1, WF_DIST_INT, 0, -1), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_send(&f, x, 1, WF_DIST_INT, 0, WF_DIST_TAG_MAX + 1),
                WF_EINVAL);
    WT_CHECK_EQ(wf_dist_send(NULL, x, 1, WF_DIST_INT, 0, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_recv(&f, y, 1, WF_DIST_INT, size + 3, 0, NULL),
                WF_EINVAL);
    WT_CHECK_EQ(wf_dist_recv(&f, y, 1, WF_DIST_INT, -7, 0, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_bcast(&f, y, 1, WF_DIST_INT, size), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_reduce(&f, x, y, 1, WF_DIST_INT, WF_DIST_SUM, -1),
                WF_EINVAL);
    WT_CHECK_EQ(
        wf_dist_allreduce(&f, x, y, 1, WF_DIST_INT, (enum wf_dist_op)99),
        WF_EINVAL);
    double dd = 1, de = 0;
    WT_CHECK_EQ(
        wf_dist_allreduce(&f, &dd, &de, 1, WF_DIST_DOUBLE, WF_DIST_BXOR),
        WF_EINVAL);
    WT_CHECK_EQ(wf_dist_allreduce(&f, x, x, 1, WF_DIST_INT, WF_DIST_SUM),
                WF_EINVAL);
    if (rank == 0) /* the root needs a receive buffer; the others do not */
        WT_CHECK_EQ(wf_dist_gather(&f, x, NULL, 1, WF_DIST_INT, 0), WF_EINVAL);
    WT_CHECK(wf_dist_type_size(WF_DIST_DOUBLE) == sizeof(double));
    WT_CHECK(wf_dist_type_size((enum wf_dist_type) - 1) == 0);

    /* an MPI error, translated: a message longer than the buffer */
    if (rank == 0) {
        START(wf_dist_send(&f, x, 4, WF_DIST_INT, 1 % size, 9));
    }
    if (rank == 1 % size) {
        struct wf_future *r;
        START(wf_dist_recv(&r, y, 2, WF_DIST_INT, 0, 9, NULL));
        WT_CHECK_EQ(wf_future_await(r, wf_deadline_in(60 * WF_SEC)), 0);
        WT_CHECK_EQ(wf_future_result(r, NULL), WF_EMSGSIZE);
        wf_future_release(r);
    }
    if (rank == 0) {
        wf_future_await(f, wf_deadline_in(60 * WF_SEC));
        wf_future_release(f);
    }
    barrier();
}

WT_CASE(errors)
{
    run_dist(errors_body);
}

/* A cancelled receive is cancelled in MPI too: a later receive with the
 * same source and tag gets the next message. */
static void recv_cancel_body(void)
{
    static int stolen = -1, got = -1; /* buffers MPI may own */
    int v = 42;
    struct wf_future *r1 = NULL, *r2 = NULL, *s = NULL;
    if (rank == 0) {
        START(wf_dist_recv(&r1, &stolen, 1, WF_DIST_INT, 1, 5, NULL));
        WT_CHECK_EQ(wf_future_cancel(r1), 0);
        WT_CHECK_EQ(wf_future_result(r1, NULL), WF_ECANCELED);
        START(wf_dist_recv(&r2, &got, 1, WF_DIST_INT, 1, 5, NULL));
    }
    /* Rank 0's barrier completes after its engine has seen the cancel
     * (queued before it); rank 1 sends once both barriers are done. */
    barrier();
    barrier();
    if (rank == 1) {
        START(wf_dist_send(&s, &v, 1, WF_DIST_INT, 0, 5));
        await_ok(s);
        wf_future_release(s);
    }
    if (rank == 0) {
        WT_CHECK_EQ(wf_future_await(r2, wf_deadline_in(10 * WF_SEC)), 0);
        WT_CHECK_EQ(wf_future_result(r2, NULL), 0);
        WT_CHECK_EQ(got, 42);
        WT_CHECK_EQ(stolen, -1);
        wf_future_release(r1);
        wf_future_release(r2);
    }
    barrier();
}

WT_CASE(recv_cancel)
{
    run_dist(recv_cancel_body);
}

/* ---- the finalisation with operations outstanding ---------------------- */

static void outstanding_body(void)
{
    /* A receive nobody sends: finalize cancels it. Its future is still
     * pending when finalize runs (this fiber's await with a deadline
     * expired first; no fiber waits on it then). */
    static int sink;
    struct wf_future *r;
    START(wf_dist_recv(&r, &sink, 1, WF_DIST_INT, (rank + 1) % size, 77, NULL));
    WT_CHECK_EQ(wf_future_await(r, wf_deadline_in(10 * WF_MSEC)), WF_ETIMEDOUT);
    WT_CHECK(!wf_future_done(r));
    barrier();
    WT_CHECK_EQ(wf_dist_finalize(), 0);
    WT_CHECK(wf_future_done(r));
    WT_CHECK_EQ(wf_future_result(r, NULL), WF_ECANCELED);
    wf_future_release(r);
    /* dist_main finalizes again: give it a fresh start it cannot have;
     * stop here instead (checked by the caller) */
}

static void *outstanding_main(void *p)
{
    (void)p;
    WT_CHECK_EQ(wf_dist_init(NULL, NULL, NULL), 0);
    rank = wf_dist_rank();
    size = wf_dist_size();
    outstanding_body();
    return NULL;
}

WT_CASE(finalize_outstanding)
{
    run_main_leaving(2, outstanding_main, NULL);
    WT_CHECK_NONE_DISCARDED();
}

/* Waiting from a dist callback (on the communication fiber) would stall
 * the progress engine: the loops and finalize refuse with WF_EDEADLK. */
struct deadlock_probe {
    int for_err, fin_err;
    struct wf_event done;
};

static void noop_body(long lo, long hi, void *ctx)
{
    (void)lo;
    (void)hi;
    (void)ctx;
}

static void probe_cb(struct wf_future *f, void *arg)
{
    (void)f;
    struct deadlock_probe *p = arg;
    p->for_err = wf_dist_parallel_for(0, 10, NULL, noop_body, NULL);
    p->fin_err = wf_dist_finalize();
    wf_event_set(&p->done);
}

static void deadlock_body(void)
{
    struct deadlock_probe p;
    memset(&p, 0, sizeof p);
    p.for_err = p.fin_err = 1;
    wf_event_init(&p.done);
    /* The callback must run on the communication fiber, not inline in
     * wf_future_then: the message it waits for is sent after it is
     * registered. */
    struct wf_future *f, *s;
    int in = 0, out = 1;
    START(wf_dist_recv(&f, &in, 1, WF_DIST_INT, rank, 5, NULL));
    START(wf_future_then(f, probe_cb, &p));
    START(wf_dist_send(&s, &out, 1, WF_DIST_INT, rank, 5));
    WT_CHECK_EQ(wf_event_wait(&p.done, wf_deadline_in(60 * WF_SEC)), 0);
    await_ok(s);
    wf_future_release(s);
    wf_future_release(f);
    WT_CHECK_EQ(in, 1);
    WT_CHECK_EQ(p.for_err, WF_EDEADLK);
    WT_CHECK_EQ(p.fin_err, WF_EDEADLK);
    wf_event_destroy(&p.done);
}

WT_CASE(callback_cannot_wait)
{
    run_dist(deadlock_body);
}

/* ---- parallel loops across ranks ---------------------------------------------- */

#define LOOP_N 100003L

struct marks {
    int *hits;
    long lo;
};

static void mark_body(long lo, long hi, void *ctx)
{
    struct marks *m = ctx;
    for (long i = lo; i < hi; i++)
        __atomic_fetch_add(&m->hits[i - m->lo], 1, __ATOMIC_RELAXED);
}

/* Uneven work: most indices are cheap, a band is expensive. */
static void uneven_mark_body(long lo, long hi, void *ctx)
{
    for (long i = lo; i < hi; i++) {
        if (i % 1000 < 50) {
            volatile double x = 0;
            for (int k = 0; k < 2000; k++)
                x += k * 0.5;
        }
        mark_body(i, i + 1, ctx);
    }
}

static void check_covered(int mode, long lo, long hi, long chunk,
                          wf_for_fn *body)
{
    long n = hi - lo;
    struct marks m = {calloc((size_t)(n ? n : 1), sizeof(int)), lo};
    int *total = calloc((size_t)(n ? n : 1), sizeof(int));
    WT_CHECK(m.hits && total);
    struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
    o.mode = mode;
    o.chunk = chunk;
    WT_CHECK_EQ(wf_dist_parallel_for(lo, hi, &o, body, &m), 0);
    struct wf_future *f;
    if (n > 0) {
        START(
            wf_dist_allreduce(&f, m.hits, total, n, WF_DIST_INT, WF_DIST_SUM));
        await_ok(f);
        wf_future_release(f);
        for (long i = 0; i < n; i++)
            if (total[i] != 1)
                WT_FAIL("index %ld ran %d times (mode %d, chunk %ld)", lo + i,
                        total[i], mode, chunk);
    }
    free(m.hits);
    free(total);
}

static void for_static_body(void)
{
    check_covered(WF_DIST_STATIC, 0, LOOP_N, 0, mark_body);
    check_covered(WF_DIST_STATIC, -50, 3, 0, mark_body); /* negative lo */
    check_covered(WF_DIST_STATIC, 0, 3, 0, mark_body);   /* some slices empty */
    check_covered(WF_DIST_STATIC, 5, 5, 0, mark_body);   /* empty */
    check_covered(WF_DIST_STATIC, 7, 8, 0, mark_body);   /* one index */
}

WT_CASE(for_static)
{
    run_dist(for_static_body);
}

static void for_dynamic_body(void)
{
    check_covered(WF_DIST_DYNAMIC, 0, LOOP_N, 0, uneven_mark_body);
    check_covered(WF_DIST_DYNAMIC, 10, 10 + LOOP_N, 997, mark_body);
    check_covered(WF_DIST_DYNAMIC, 0, 3, 1, mark_body);
    check_covered(WF_DIST_DYNAMIC, 0, 0, 0, mark_body);
    check_covered(WF_DIST_DYNAMIC, 0, 100, 1000, mark_body); /* one chunk */
}

/* Over the whole range of long, each body call adds its length
 * (unsigned: hi - lo may exceed LONG_MAX) without visiting the indices. */
static void length_body(long lo, long hi, void *ctx)
{
    atomic_fetch_add((_Atomic uint64_t *)ctx,
                     (uint64_t)((unsigned long)hi - (unsigned long)lo));
}

static void for_full_range_body(void)
{
    _Atomic uint64_t mine = 0;
    uint64_t in, total = 0;
    struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
    o.mode = WF_DIST_DYNAMIC;
    o.grain = LONG_MAX; /* one body call per chunk */
    WT_CHECK_EQ(wf_dist_parallel_for(LONG_MIN, LONG_MAX, &o, length_body,
                                     (void *)&mine),
                0);
    in = atomic_load(&mine);
    struct wf_future *f;
    START(wf_dist_allreduce(&f, &in, &total, 1, WF_DIST_UINT64, WF_DIST_SUM));
    await_ok(f);
    wf_future_release(f);
    WT_CHECK_EQ(total, UINT64_MAX); /* 2^64 - 1 indices, each once */
}

WT_CASE(for_full_range)
{
    run_dist(for_full_range_body);
}

WT_CASE(for_dynamic)
{
    run_dist(for_dynamic_body);
}

/* Sum of i over [lo, hi): (hi - lo) * (lo + hi - 1) / 2. */
static long closed_sum(long lo, long hi)
{
    return (hi - lo) * (lo + hi - 1) / 2;
}

static void reduce_sums_body(void)
{
    static const long ranges[][2] = {
        {0, LOOP_N}, {-1000, 77777}, {3, 3}, {0, 1}, {5, 9}};
    for (int mode = WF_DIST_STATIC; mode <= WF_DIST_DYNAMIC; mode++)
        for (int useop = 0; useop < 2; useop++)
            for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
                long lo = ranges[k][0], hi = ranges[k][1], zero = 0, sum = -1;
                struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
                o.mode = mode;
                if (useop) {
                    o.combine_op = WF_DIST_SUM;
                    o.combine_type = WF_DIST_LONG;
                }
                WT_CHECK_EQ(wf_dist_parallel_reduce(lo, hi, &o, &sum,
                                                    sizeof sum, &zero, sum_body,
                                                    sum_combine, NULL),
                            0);
                if (sum != closed_sum(lo, hi))
                    WT_FAIL("mode %d op %d [%ld, %ld): %ld, expected %ld", mode,
                            useop, lo, hi, sum, closed_sum(lo, hi));
            }
}

WT_CASE(reduce_sums)
{
    run_dist(reduce_sums_body);
}

/* A combine that is associative but not commutative: the accumulator is
 * an interval, and combining checks that the intervals are adjacent and
 * in order, so any out-of-order combination shows. */
struct span {
    long first, last, count, bad;
};

static void span_body(long lo, long hi, void *acc, void *ctx)
{
    (void)ctx;
    struct span *s = acc;
    for (long i = lo; i < hi; i++) {
        if (s->count == 0)
            s->first = i;
        else if (s->last + 1 != i)
            s->bad++;
        s->last = i;
        s->count++;
    }
}

static void span_combine(void *acc, const void *other, void *ctx)
{
    (void)ctx;
    struct span *a = acc;
    const struct span *b = other;
    if (b->count == 0)
        return;
    if (a->count == 0) {
        *a = *b;
        return;
    }
    if (a->last + 1 != b->first)
        a->bad++;
    a->last = b->last;
    a->count += b->count;
    a->bad += b->bad;
}

static void reduce_combine_body(void)
{
    for (int mode = WF_DIST_STATIC; mode <= WF_DIST_DYNAMIC; mode++) {
        struct span id = {0, 0, 0, 0}, r;
        struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
        o.mode = mode;
        o.chunk = mode == WF_DIST_DYNAMIC ? 313 : 0;
        o.grain = 100;
        WT_CHECK_EQ(wf_dist_parallel_reduce(17, 17 + LOOP_N, &o, &r, sizeof r,
                                            &id, span_body, span_combine, NULL),
                    0);
        WT_CHECK_EQ(r.bad, 0);
        WT_CHECK_EQ(r.first, 17);
        WT_CHECK_EQ(r.last, 17 + LOOP_N - 1);
        WT_CHECK_EQ(r.count, LOOP_N);
    }
}

WT_CASE(reduce_combine)
{
    run_dist(reduce_combine_body);
}

/* Dynamic reduce of doubles: bit-identical to the chunk-ordered serial
 * combination, whatever the number of ranks. */
static void dsum_body(long lo, long hi, void *acc, void *ctx)
{
    (void)ctx;
    double *a = acc;
    for (long i = lo; i < hi; i++)
        *a += 1.0 / (double)(i + 1);
}

static void dsum_combine(void *acc, const void *other, void *ctx)
{
    (void)ctx;
    *(double *)acc += *(const double *)other;
}

static void reduce_float_body(void)
{
    const long n = 200001, chunk = 4999, grain = 1000;
    double zero = 0, got = -1, want = 0;
    struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
    o.mode = WF_DIST_DYNAMIC;
    o.chunk = chunk;
    o.grain = grain;
    WT_CHECK_EQ(wf_dist_parallel_reduce(0, n, &o, &got, sizeof got, &zero,
                                        dsum_body, dsum_combine, NULL),
                0);
    for (long lo = 0; lo < n; lo += chunk) {
        double part = 0;
        long hi = lo + chunk < n ? lo + chunk : n;
        WT_CHECK_EQ(wf_parallel_reduce(lo, hi, grain, &part, sizeof part, &zero,
                                       dsum_body, dsum_combine, NULL),
                    0);
        if (lo == 0)
            want = part;
        else
            dsum_combine(&want, &part, NULL);
    }
    WT_CHECK(memcmp(&got, &want, sizeof got) == 0);
}

WT_CASE(reduce_float_order)
{
    run_dist(reduce_float_body);
}

/* A cancelled fiber that runs a loop across ranks still takes part in
 * it to the end: the loops are collectives whose buffers live in the
 * caller's frame, so they are not cancellation points (as
 * wf_parallel_for), and every rank gets the result. */
static void *cancelled_reducer(void *p)
{
    long *out = p, zero = 0;
    struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
    o.mode = WF_DIST_DYNAMIC;
    int err = wf_dist_parallel_reduce(0, LOOP_N, &o, out, sizeof *out, &zero,
                                      sum_body, sum_combine, NULL);
    return U2P((uintptr_t)(intptr_t)err);
}

static void cancelled_body(void)
{
    long sum = -1;
    struct wf_fiber f;
    START(wf_go(&f, cancelled_reducer, &sum));
    WT_CHECK_EQ(wf_cancel(f), 0); /* before it runs: every wait it makes
                                   * sees the cancellation */
    void *res;
    WT_CHECK_EQ(wf_join(f, &res, WF_FOREVER), 0);
    WT_CHECK_EQ((int)(intptr_t)P2U(res), 0);
    WT_CHECK_EQ(sum, closed_sum(0, LOOP_N));
    barrier();
}

WT_CASE(loop_in_cancelled_fiber)
{
    run_dist(cancelled_body);
}

static void loop_errors_body(void)
{
    long zero = 0, r;
    struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
    WT_CHECK_EQ(wf_dist_parallel_for(0, 10, NULL, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_dist_parallel_for(10, 0, NULL, noop_body, NULL), WF_EINVAL);
    o.mode = 5;
    WT_CHECK_EQ(wf_dist_parallel_for(0, 10, &o, noop_body, NULL), WF_EINVAL);
    o.mode = WF_DIST_DYNAMIC;
    o.chunk = -1;
    WT_CHECK_EQ(wf_dist_parallel_for(0, 10, &o, noop_body, NULL), WF_EINVAL);
    o.chunk = 0;
    o.grain = -2;
    WT_CHECK_EQ(wf_dist_parallel_for(0, 10, &o, noop_body, NULL), WF_EINVAL);
    o.grain = 0;
    WT_CHECK_EQ(wf_dist_parallel_reduce(0, 10, &o, NULL, sizeof r, &zero,
                                        sum_body, sum_combine, NULL),
                WF_EINVAL);
    WT_CHECK_EQ(wf_dist_parallel_reduce(0, 10, &o, &r, 0, &zero, sum_body,
                                        sum_combine, NULL),
                WF_EINVAL);
    WT_CHECK_EQ(wf_dist_parallel_reduce(0, 10, &o, &r, sizeof r, &zero,
                                        sum_body, NULL, NULL),
                WF_EINVAL);
    o.combine_op = WF_DIST_SUM;
    o.combine_type = WF_DIST_DOUBLE;
    WT_CHECK_EQ(wf_dist_parallel_reduce(0, 10, &o, &r, 3, &zero, sum_body,
                                        sum_combine, NULL),
                WF_EINVAL);
    o.combine_op = 42;
    WT_CHECK_EQ(wf_dist_parallel_reduce(0, 10, &o, &r, sizeof r, &zero,
                                        sum_body, sum_combine, NULL),
                WF_EINVAL);
    /* and the loops still work afterwards */
    o.combine_op = -1;
    WT_CHECK_EQ(wf_dist_parallel_reduce(0, 10, &o, &r, sizeof r, &zero,
                                        sum_body, sum_combine, NULL),
                0);
    WT_CHECK_EQ(r, 45);
}

WT_CASE(loop_errors)
{
    run_dist(loop_errors_body);
}

/* ---- failures that end the job (run by expect_abort.sh, never as a
 * plain case: each must make mpirun exit non-zero, with a clear message,
 * instead of hanging) ---------------------------------------------------- */

/* Rank 1 dies while rank 0 waits for its message without a deadline. */
static void rank_dies_body(void)
{
    barrier();
    if (rank == 1) {
        fprintf(stderr, "rank 1: exiting without wf_dist_finalize\n");
        _exit(3);
    }
    int x;
    struct wf_future *r;
    START(wf_dist_recv(&r, &x, 1, WF_DIST_INT, 1, 1, NULL));
    wf_future_await(r, WF_FOREVER); /* the job ends here */
    WT_FAIL("the receive from a dead rank completed");
}

WT_CASE(abort_rank_dies)
{
    run_dist(rank_dies_body);
}

/* Rank 0 sends a message too large to go eagerly, that rank 1 never
 * receives: rank 0's finalize gives up after WEFT_DIST_FINALIZE_MS and
 * aborts the job with weft's message. */
static void stuck_send_body(void)
{
    static unsigned char big[1 << 20];
    if (rank == 0) {
        struct wf_future *s;
        START(wf_dist_send(&s, big, sizeof big, WF_DIST_BYTE, 1, 1));
        wf_future_release(s); /* released while outstanding */
    }
}

WT_CASE(abort_finalize_stuck)
{
    setenv("WEFT_DIST_FINALIZE_MS", "300", 1);
    run_dist(stuck_send_body);
}

/* Rank 0's chunks take a while, so that rank 1 gets chunks and asks
 * again (rank 0 alone would hand itself all of a loop of no-ops). */
static void slow_on_rank0_body(long lo, long hi, void *ctx)
{
    (void)ctx;
    if (rank == 0)
        usleep((useconds_t)(1000 * (hi - lo)));
}

/* Rank 1's n-th request for a chunk of a dynamic loop fails to start
 * (the interposer above): rank 0 would wait for its requests forever, so
 * the job must end with weft's message. */
static void loop_ask_fails(int nth)
{
    barrier();
    if (rank == 1)
        atomic_store(&fail_isend_in, nth);
    struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
    o.mode = WF_DIST_DYNAMIC;
    o.chunk = 1;
    int err = wf_dist_parallel_for(0, 1000, &o, slow_on_rank0_body, NULL);
    WT_FAIL("rank %d: the loop returned (%s) instead of ending the job", rank,
            wf_strerror(err));
}

static void first_asks_body(void)
{
    loop_ask_fails(2); /* the second of the two first requests */
}

WT_CASE(abort_loop_first_ask)
{
    run_dist(first_asks_body);
}

static void repost_body(void)
{
    loop_ask_fails(3); /* the request that replaces a consumed one */
}

WT_CASE(abort_loop_repost)
{
    run_dist(repost_body);
}

/* MPI_Testsome fails as a whole while rank 0's receive is outstanding:
 * MPI may still write into its buffer, so the receive must not complete
 * (with an error or otherwise); the job ends with weft's message. */
static void testsome_fails_body(void)
{
    static int buf;
    barrier();
    if (rank == 0) {
        struct wf_future *r;
        START(wf_dist_recv(&r, &buf, 1, WF_DIST_INT, 1, 3, NULL));
        atomic_store(&fail_testsome, true);
        int err = wf_future_await(r, wf_deadline_in(10 * WF_SEC));
        if (err == 0)
            err = wf_future_result(r, NULL);
        WT_FAIL("the receive completed (%s) after MPI_Testsome failed",
                wf_strerror(err));
    }
    barrier(); /* rank 1 waits here until the job ends */
}

WT_CASE(abort_testsome_fails)
{
    run_dist(testsome_fails_body);
}

WT_MAIN()
