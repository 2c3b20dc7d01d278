/* SPDX-License-Identifier: MIT */
/*
 * Parallel loops across ranks: a static partition, or chunks handed out by
 * rank 0 (the coordinator) on request; each rank runs its share with
 * weft's own parallel loop. Every message here travels on the loops'
 * own communicator (dist_int.h), so it never matches the user's.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/fiber.h"

#include "dist_int.h"

enum { TAG_REQ = 1, TAG_CHUNK, TAG_IDX, TAG_ACC };

/* Requests for chunks each rank keeps in flight (dyn_run); rank 0's server
 * answers each rank's last DEPTH requests with -1. */
enum { DEPTH = 2 };

/* Every rank's outcome becomes the lowest of all (errors are negative). */
static int agree(int err)
{
    int in = err, out = 0;
    struct wf_future *f;
    int rc = wf__dist_allreduce_on(wf__dist_loop_comm(), &f, &in, &out, 1,
                                   WF_DIST_INT, WF_DIST_MIN);
    if (rc == 0)
        rc = wf__dist_finish(f, NULL);
    return rc < 0 ? rc : out;
}

static int check(long lo, long hi, const struct wf_dist_for_opts *o,
                 const void *fn)
{
    int err = wf__dist_can_wait();
    if (err < 0)
        return err;
    if (!fn || hi < lo ||
        (o->mode != WF_DIST_STATIC && o->mode != WF_DIST_DYNAMIC) ||
        o->chunk < 0 || o->grain < 0)
        return WF_EINVAL;
    return 0;
}

static void slice(long lo, long hi, long *slo, long *shi)
{
    /* n * r / size without overflow for any long range */
    unsigned long n = (unsigned long)hi - (unsigned long)lo;
    unsigned long r = (unsigned long)wf_dist_rank(),
                  s = (unsigned long)wf_dist_size();
    unsigned __int128 a = (unsigned __int128)n * r / s;
    unsigned __int128 b = (unsigned __int128)n * (r + 1) / s;
    *slo = (long)((unsigned long)lo + (unsigned long)a);
    *shi = (long)((unsigned long)lo + (unsigned long)b);
}

/* ---- dynamic chunks ------------------------------------------------------ */

struct dyn {
    long lo, hi, chunk, nchunks;
    atomic_long next; /* rank 0: the next chunk to hand out */
    int (*run)(struct dyn *y, long c, long clo, long chi);
    int err;                     /* the first error of the local chunks */
    struct wf_promise *served_p; /* rank 0: completed when serve() ends */
    struct wf_future *served;
    /* the loop's arguments */
    long grain;
    wf_for_fn *body;
    wf_reduce_fn *rbody;
    wf_combine_fn *combine;
    void *ctx;
    size_t acc_size;
    const void *identity;
    /* reduce: the partial result of each chunk this rank ran */
    long *idx;
    unsigned char *accs;
    long m, cap;
};

static void run_chunk(struct dyn *y, long c)
{
    /* unsigned: hi - lo may exceed LONG_MAX (slice) */
    unsigned long off = (unsigned long)c * (unsigned long)y->chunk;
    long clo = (long)((unsigned long)y->lo + off);
    long chi = c == y->nchunks - 1
                   ? y->hi
                   : (long)((unsigned long)clo + (unsigned long)y->chunk);
    if (y->err < 0)
        return; /* keep taking chunks so the others finish, run nothing */
    int err = y->run(y, c, clo, chi);
    if (err < 0)
        y->err = err;
}

/* The loops' messages cannot go on (a failed start or completion of one
 * of their own operations): the other ranks would wait for this one
 * forever, so end the job with a message instead (dist.h). */
static _Noreturn void protocol_lost(const char *what, int err)
{
    fprintf(stderr,
            "weft: wf_dist_parallel_for/reduce on rank %d: %s failed (%s); "
            "the other ranks would wait forever: aborting the job\n",
            wf_dist_rank(), what, wf_strerror(err));
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    abort(); /* MPI_Abort does not return */
}

/* Answer every request until each other rank got its DEPTH -1s. */
static void serve_all(struct dyn *y)
{
    MPI_Comm comm = wf__dist_loop_comm();
    int ends = DEPTH * (wf_dist_size() - 1), done = 0;
    while (done < ends) {
        long dummy = 0;
        struct wf_dist_status st;
        struct wf_future *f;
        int err = wf__dist_recv_on(comm, &f, &dummy, 1, WF_DIST_LONG,
                                   WF_DIST_ANY_SOURCE, TAG_REQ, &st);
        if (err == 0)
            err = wf__dist_finish(f, NULL);
        if (err < 0)
            protocol_lost("receiving a request for a chunk", err);
        long c = atomic_fetch_add(&y->next, 1);
        long reply = c < y->nchunks ? c : -1;
        err = wf__dist_send_on(comm, &f, &reply, 1, WF_DIST_LONG, st.source,
                               TAG_CHUNK);
        if (err == 0)
            err = wf__dist_finish(f, NULL);
        if (err < 0)
            protocol_lost("answering a request for a chunk", err);
        if (reply < 0)
            done++;
    }
}

static void *serve(void *arg)
{
    struct dyn *y = arg;
    serve_all(y);
    wf_promise_complete(y->served_p, NULL);
    return NULL;
}

/* Ask rank 0 for a chunk: the reply lands in *got. */
static int ask(MPI_Comm comm, const long *req, long *got, struct wf_future **sf,
               struct wf_future **rf)
{
    int err =
        wf__dist_recv_on(comm, rf, got, 1, WF_DIST_LONG, 0, TAG_CHUNK, NULL);
    if (err < 0)
        return err;
    err = wf__dist_send_on(comm, sf, req, 1, WF_DIST_LONG, 0, TAG_REQ);
    if (err < 0)
        /* no request went out, so no reply will ever match the receive:
         * it writes nothing, and finalize cancels it */
        wf_future_release(*rf);
    return err;
}

/* Rank 0 serves and computes; the others keep DEPTH requests for chunks
 * in flight while they compute. */
static int dyn_run(struct dyn *y)
{
    /* unsigned, as slice(): a full-range loop has hi - lo > LONG_MAX */
    unsigned long n = (unsigned long)y->hi - (unsigned long)y->lo;
    int size = wf_dist_size();
    if (y->chunk == 0) {
        unsigned long c = n / (16UL * (unsigned long)size);
        y->chunk = c < 1 ? 1 : c > LONG_MAX ? LONG_MAX : (long)c;
    }
    /* at most LONG_MAX chunks (a chunk index is a long) */
    unsigned long least = n / LONG_MAX + 1;
    if ((unsigned long)y->chunk < least)
        y->chunk = (long)least;
    y->nchunks = n == 0 ? 0 : (long)((n - 1) / (unsigned long)y->chunk + 1);
    atomic_init(&y->next, 0);
    MPI_Comm comm = wf__dist_loop_comm();
    if (wf_dist_rank() == 0) {
        int err = 0;
        struct wf_fiber server = {0};
        if (size > 1) {
            err = wf_promise_create(&y->served_p, &y->served);
            if (err == 0) {
                err = wf_go(&server, serve, y);
                if (err < 0) {
                    wf_promise_fail(y->served_p, err);
                    wf_future_release(y->served);
                }
            }
            if (err < 0) {
                /* No server fiber: serve here, running no chunk, so that
                 * the others still get theirs and their -1s. */
                serve_all(y);
                return err;
            }
        }
        bool fiber = wf_self().id != 0;
        for (long c = atomic_fetch_add(&y->next, 1); c < y->nchunks;
             c = atomic_fetch_add(&y->next, 1)) {
            run_chunk(y, c);
            /* let the server (and the communication fiber) answer the
             * requests that came in while this chunk ran */
            if (size > 1 && fiber)
                wf_yield();
        }
        if (size > 1) {
            /* The server uses y, in this frame: wait for its end even in a
             * cancelled fiber (whose wf_join returns at once). */
            int jerr = wf__dist_finish(y->served, NULL);
            while (wf_join(server, NULL, WF_FOREVER) == WF_ECANCELED)
                wf_yield();
            if (jerr < 0)
                protocol_lost("waiting for the chunk server", jerr);
        }
        return y->err;
    }
    /* DEPTH requests in flight: while rank 0 is busy with a chunk of its
     * own, this rank still has the next one in hand. Replies come in the
     * order of the requests (one source, one tag), and the slots are
     * reposted in the order they are consumed. */
    long req = 0, got[DEPTH];
    struct wf_future *sf[DEPTH], *rf[DEPTH];
    for (int i = 0; i < DEPTH; i++) {
        int err = ask(comm, &req, &got[i], &sf[i], &rf[i]);
        if (err < 0)
            protocol_lost("asking rank 0 for a chunk", err);
    }
    int live = DEPTH, head = 0;
    while (live > 0) {
        int serr = wf__dist_finish(sf[head], NULL);
        int rerr = wf__dist_finish(rf[head], NULL);
        live--;
        if (serr < 0 || rerr < 0)
            protocol_lost("asking rank 0 for a chunk", serr < 0 ? serr : rerr);
        long c = got[head];
        if (c >= 0) {
            /* a chunk: ask for another in its slot, then run it (or skip
             * it after a local error, run_chunk) */
            int err = ask(comm, &req, &got[head], &sf[head], &rf[head]);
            if (err < 0)
                protocol_lost("asking rank 0 for a chunk", err);
            live++;
            run_chunk(y, c);
        }
        /* after a -1 (no chunk left) the slots still live get -1 too */
        head = (head + 1) % DEPTH;
    }
    return y->err;
}

static int run_for(struct dyn *y, long c, long clo, long chi)
{
    (void)c;
    return wf_parallel_for(clo, chi, y->grain, y->body, y->ctx);
}

int wf_dist_parallel_for(long lo, long hi, const struct wf_dist_for_opts *opts,
                         wf_for_fn *body, void *ctx)
{
    static const struct wf_dist_for_opts defaults = WF_DIST_FOR_OPTS_INIT;
    const struct wf_dist_for_opts *o = opts ? opts : &defaults;
    int err = check(lo, hi, o, (const void *)body);
    if (err < 0)
        return err;
    if (o->mode == WF_DIST_STATIC) {
        long slo, shi;
        slice(lo, hi, &slo, &shi);
        err = wf_parallel_for(slo, shi, o->grain, body, ctx);
        return agree(err);
    }
    struct dyn y = {.lo = lo,
                    .hi = hi,
                    .chunk = o->chunk,
                    .run = run_for,
                    .grain = o->grain,
                    .body = body,
                    .ctx = ctx};
    err = dyn_run(&y);
    return agree(err);
}

/* ---- reductions -------------------------------------------------------- */

static int run_reduce(struct dyn *y, long c, long clo, long chi)
{
    if (y->m == y->cap) {
        long cap = y->cap ? 2 * y->cap : 16;
        long *idx = realloc(y->idx, sizeof *idx * (size_t)cap);
        if (!idx)
            return WF_ENOMEM;
        y->idx = idx;
        unsigned char *accs = realloc(y->accs, y->acc_size * (size_t)cap);
        if (!accs)
            return WF_ENOMEM;
        y->accs = accs;
        y->cap = cap;
    }
    unsigned char *acc = y->accs + y->acc_size * (size_t)y->m;
    int err = wf_parallel_reduce(clo, chi, y->grain, acc, y->acc_size,
                                 y->identity, y->rbody, y->combine, y->ctx);
    if (err < 0)
        return err;
    y->idx[y->m++] = c;
    return 0;
}

/* Rank 0 collects every chunk's result, combines them in chunk order into
 * result and broadcasts it. Every buffer is allocated, and the ranks
 * agree on it, before any rank sends: from then on rank 0 posts every
 * receive the counts announce, and an operation that fails to start or
 * complete ends the job (the peer would wait for it forever). */
static int dyn_combine(struct dyn *y, void *result)
{
    MPI_Comm comm = wf__dist_loop_comm();
    int size = wf_dist_size(), rank = wf_dist_rank();
    size_t a = y->acc_size;
    long *counts = NULL, *idx = NULL;
    unsigned char *all = NULL, *accs = NULL;
    struct wf_future *f;
    int err = 0;
    if (rank == 0 && !(counts = calloc((size_t)size, sizeof *counts)))
        err = WF_ENOMEM;
    err = agree(err);
    if (err < 0)
        goto out;
    err = wf__dist_gather_on(comm, &f, &y->m, counts, 1, WF_DIST_LONG, 0);
    if (err == 0)
        err = wf__dist_finish(f, NULL);
    if (err < 0)
        goto out;
    if (rank == 0) {
        long most = 1;
        for (int r = 1; r < size; r++)
            if (counts[r] > most)
                most = counts[r];
        all = malloc(a * (size_t)(y->nchunks ? y->nchunks : 1));
        idx = malloc(sizeof *idx * (size_t)most);
        accs = malloc(a * (size_t)most);
        if (!all || !idx || !accs)
            err = WF_ENOMEM;
    }
    err = agree(err);
    if (err < 0)
        goto out;
    if (rank != 0) {
        if (y->m > 0) {
            struct wf_future *g;
            err = wf__dist_send_on(comm, &f, y->idx, y->m, WF_DIST_LONG, 0,
                                   TAG_IDX);
            if (err < 0)
                protocol_lost("sending the chunks' results", err);
            err = wf__dist_send_on(comm, &g, y->accs, y->m * (long)a,
                                   WF_DIST_BYTE, 0, TAG_ACC);
            if (err < 0)
                protocol_lost("sending the chunks' results", err);
            err = wf__dist_finish(f, NULL);
            int e2 = wf__dist_finish(g, NULL);
            if (err < 0 || e2 < 0)
                protocol_lost("sending the chunks' results",
                              err < 0 ? err : e2);
        }
    } else {
        for (long i = 0; i < y->m; i++)
            memcpy(all + a * (size_t)y->idx[i], y->accs + a * (size_t)i, a);
        for (int r = 1; r < size; r++) {
            long m = counts[r];
            if (m <= 0)
                continue;
            int rerr = wf__dist_recv_on(comm, &f, idx, m, WF_DIST_LONG, r,
                                        TAG_IDX, NULL);
            if (rerr == 0)
                rerr = wf__dist_finish(f, NULL);
            if (rerr == 0)
                rerr = wf__dist_recv_on(comm, &f, accs, m * (long)a,
                                        WF_DIST_BYTE, r, TAG_ACC, NULL);
            if (rerr == 0)
                rerr = wf__dist_finish(f, NULL);
            if (rerr < 0)
                protocol_lost("receiving the chunks' results", rerr);
            for (long i = 0; err == 0 && i < m; i++) {
                if (idx[i] < 0 || idx[i] >= y->nchunks)
                    err = WF_EIO;
                else
                    memcpy(all + a * (size_t)idx[i], accs + a * (size_t)i, a);
            }
        }
        if (err == 0) {
            if (y->nchunks == 0) {
                memmove(result, y->identity, a);
            } else {
                memcpy(result, all, a);
                for (long c = 1; c < y->nchunks; c++)
                    y->combine(result, all + a * (size_t)c, y->ctx);
            }
        }
    }
    err = agree(err);
    if (err == 0)
        err = wf__dist_bcast_on(comm, &f, result, (long)a, WF_DIST_BYTE, 0);
    if (err == 0)
        err = wf__dist_finish(f, NULL);
out:
    free(counts);
    free(all);
    free(idx);
    free(accs);
    return err;
}

int wf_dist_parallel_reduce(long lo, long hi,
                            const struct wf_dist_for_opts *opts, void *result,
                            size_t acc_size, const void *identity,
                            wf_reduce_fn *body, wf_combine_fn *combine,
                            void *ctx)
{
    static const struct wf_dist_for_opts defaults = WF_DIST_FOR_OPTS_INIT;
    const struct wf_dist_for_opts *o = opts ? opts : &defaults;
    int err = check(lo, hi, o, (const void *)body);
    if (err < 0)
        return err;
    size_t ts = wf_dist_type_size(o->combine_type);
    if (!result || !identity || !combine || acc_size == 0 ||
        acc_size > INT_MAX || o->combine_op >= WF_DIST_NOPS ||
        (o->combine_op >= 0 && (ts == 0 || acc_size % ts != 0)))
        return WF_EINVAL;
    /* the dynamic modes' state: the chunks this rank reduced */
    struct dyn y = {.lo = lo,
                    .hi = hi,
                    .chunk = o->chunk,
                    .run = run_reduce,
                    .grain = o->grain,
                    .rbody = body,
                    .combine = combine,
                    .ctx = ctx,
                    .acc_size = acc_size,
                    .identity = identity};
    if (o->mode == WF_DIST_DYNAMIC && o->combine_op < 0) {
        err = agree(dyn_run(&y));
        if (err == 0)
            err = dyn_combine(&y, result);
        free(y.idx);
        free(y.accs);
        return err;
    }
    unsigned char *part = malloc(acc_size);
    err = part ? 0 : WF_ENOMEM;
    if (err == 0) {
        if (o->mode == WF_DIST_STATIC) {
            long slo, shi;
            slice(lo, hi, &slo, &shi);
            err = wf_parallel_reduce(slo, shi, o->grain, part, acc_size,
                                     identity, body, combine, ctx);
        } else {
            /* dynamic with an MPI operation: fold this rank's chunks in
             * the order it got them, then the MPI reduction */
            err = dyn_run(&y);
            memcpy(part, identity, acc_size);
            for (long i = 0; err == 0 && i < y.m; i++)
                combine(part, y.accs + acc_size * (size_t)i, ctx);
            free(y.idx);
            free(y.accs);
        }
    }
    err = agree(err);
    if (err == 0 && o->combine_op >= 0) {
        struct wf_future *f;
        err = wf__dist_allreduce_on(wf__dist_loop_comm(), &f, part, result,
                                    (long)(acc_size / ts), o->combine_type,
                                    (enum wf_dist_op)o->combine_op);
        if (err == 0)
            err = wf__dist_finish(f, NULL);
    } else if (err == 0) {
        /* static: each rank's part is one chunk, the rank its index, so
         * rank 0 combines them in rank order */
        long mine = wf_dist_rank();
        y.idx = &mine;
        y.accs = part;
        y.m = 1;
        y.nchunks = wf_dist_size();
        err = dyn_combine(&y, result);
    }
    free(part);
    return err;
}
