/* SPDX-License-Identifier: MIT */
/*
 * Parallel loops on task groups: wf_parallel_for, wf_parallel_reduce,
 * wf_parallel_scan.
 *
 * Each call first enters task context (wf_par_run: from a fiber or a plain
 * thread the root goes to the workers and the caller waits; inside a task
 * it nests; with no runtime the task groups below run serially).
 *
 * parallel_for with grain 0 uses lazy binary splitting (Tzannes, Caragea,
 * Barua and Vishkin, PPoPP 2010): a task eats its range in chunks and
 * halves what is left only when its worker's deque is empty, i.e. when
 * nobody has anything to steal. Chunks are (hi - lo) / (64 * workers)
 * indices (1 .. 4096), small enough to even out uneven iterations, large
 * enough that a chunk costs far more than the check. While eating chunks
 * it answers steal requests (wf__tq_poll), so a thief gets the half it
 * forked last. With a user grain, ranges are halved eagerly down to it.
 *
 * reduce and scan must be deterministic, so their splitting is fixed:
 * leaves of a size that depends only on the range and the grain, combined
 * in a fixed tree (reduce) or block order (scan); see weft/par.h.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/fault.h"
#include "par_int.h"

static long nworkers(void)
{
    int n = wf_workers();
    return n > 0 ? n : 1;
}

/* ---- parallel_for -------------------------------------------------------- */

struct pfor {
    wf_for_fn *body;
    void *ctx;
    long chunk; /* auto: chunk eaten at a time; fixed: the grain */
    bool fixed;
    long lo, hi; /* the whole range, for the root */
};

struct pfor_sub {
    struct wf_task t;
    struct pfor *p;
    long lo, hi;
};

static void pfor_range(struct pfor *p, long lo, long hi);

static void pfor_task(void *arg)
{
    struct pfor_sub *s = arg;
    pfor_range(s->p, s->lo, s->hi);
}

static void pfor_range(struct pfor *p, long lo, long hi)
{
    struct wf__worker *w = wf__par_task_worker();
    if (!w && !p->fixed) { /* serial: no runtime */
        p->body(lo, hi, p->ctx);
        return;
    }
    struct wf_task_group g;
    struct pfor_sub sub[64]; /* each fork halves the range: at most 63 */
    int ns = 0;
    wf_task_group_init(&g);
    while (hi - lo > p->chunk) {
        if (p->fixed || wf__tq_empty_owner(&w->tq)) {
            long mid = lo + (hi - lo) / 2;
            sub[ns].p = p;
            sub[ns].lo = mid;
            sub[ns].hi = hi;
            wf__group_fork_shared(&g, &sub[ns].t, pfor_task, &sub[ns]);
            ns++;
            hi = mid;
        } else {
            p->body(lo, lo + p->chunk, p->ctx);
            lo += p->chunk;
            wf__tq_poll(&w->tq);
        }
    }
    if (lo < hi)
        p->body(lo, hi, p->ctx);
    wf_task_group_join(&g);
}

static void pfor_root(void *arg)
{
    struct pfor *p = arg;
    pfor_range(p, p->lo, p->hi);
}

int wf_parallel_for(long lo, long hi, long grain, wf_for_fn *body, void *ctx)
{
    if (!body || hi < lo || grain < 0)
        return WF_EINVAL;
    if (lo == hi)
        return 0;
    struct pfor p = { .body = body, .ctx = ctx, .lo = lo, .hi = hi };
    unsigned long n = (unsigned long)hi - (unsigned long)lo;
    if (grain > 0) {
        p.fixed = true;
        p.chunk = grain;
    } else {
        unsigned long c = n / (64ul * (unsigned long)nworkers());
        p.chunk = c < 1 ? 1 : c > 4096 ? 4096 : (long)c;
    }
    if (n > (unsigned long)LONG_MAX) { /* hi - lo overflows: halve first */
        int err = wf_parallel_for(lo, lo + (long)(n / 2), grain, body, ctx);
        return err ? err : wf_parallel_for(lo + (long)(n / 2), hi, grain, body, ctx);
    }
    return wf_par_run(pfor_root, &p);
}

/* ---- capped and 2-D loops -------------------------------------------------
 *
 * A call capped at k workers (wf_for_opts.max_workers) runs exactly k
 * tasks, the root and k - 1 forks, and none of them forks again: each
 * takes chunks of the range from one shared counter until it runs past
 * the end (self-scheduling, as OpenMP's dynamic schedule). Only those
 * tasks call the body, so at most k workers run it at once, whoever
 * steals them; a worker that joins the root's group may run a fork it
 * finds unstarted, which is still one of the k. Rejected: keeping the
 * lazy splitting and refusing steals past a count, which would need a
 * counter on every steal of every loop.
 *
 * A 2-D loop numbers its tiles row-major and runs a 1-D loop over the
 * tile numbers (capped or not), whose body cuts each number back into
 * its tile, one body call per tile. */

struct pcap {
    wf_for_fn *body;
    void *ctx;
    long lo;
    unsigned long n, chunk;
    atomic_ulong next; /* offset of the next chunk from lo */
};

struct pcap_sub {
    struct wf_task t;
    struct pcap *p;
};

static void pcap_loop(struct pcap *p)
{
    /* relaxed: a claim of indices only; the body's writes reach the
     * caller through the group join. A CAS that never moves the counter
     * past n: adding a chunk blindly let every task overshoot by one, and
     * with n and the grain near LONG_MAX the counter wrapped and a late
     * claim ran indices a second time. */
    unsigned long off = atomic_load_explicit(&p->next, memory_order_relaxed);
    for (;;) {
        if (off >= p->n)
            return;
        unsigned long end = p->n - off > p->chunk ? off + p->chunk : p->n;
        if (!atomic_compare_exchange_weak_explicit(&p->next, &off, end,
                                                   memory_order_relaxed,
                                                   memory_order_relaxed))
            continue; /* off is the counter's value now */
        p->body(p->lo + (long)off, p->lo + (long)end, p->ctx);
        off = atomic_load_explicit(&p->next, memory_order_relaxed);
    }
}

static void pcap_task(void *arg)
{
    pcap_loop(((struct pcap_sub *)arg)->p);
}

struct pcap_root {
    struct pcap *p;
    struct pcap_sub *subs;
    int nsubs;
};

static void pcap_root(void *arg)
{
    struct pcap_root *r = arg;
    struct wf_task_group g;
    wf_task_group_init(&g);
    for (int i = 0; i < r->nsubs; i++) {
        r->subs[i].p = r->p;
        wf__group_fork_shared(&g, &r->subs[i].t, pcap_task, &r->subs[i]);
    }
    pcap_loop(r->p);
    wf_task_group_join(&g);
}

/* [lo, hi) with hi - lo <= LONG_MAX, on k workers at most. */
static int pfor_capped(long lo, long hi, long grain, int k, wf_for_fn *body,
                       void *ctx)
{
    struct pcap p = {.body = body, .ctx = ctx, .lo = lo};
    p.n = (unsigned long)hi - (unsigned long)lo;
    if (grain > 0) {
        p.chunk = (unsigned long)grain;
    } else {
        unsigned long c = p.n / (8ul * (unsigned long)k);
        p.chunk = c < 1 ? 1 : c > 4096 ? 4096 : c;
    }
    atomic_init(&p.next, 0);
    struct pcap_root r = {.p = &p, .nsubs = k - 1};
    if (r.nsubs > 0) {
        r.subs = wf__malloc((size_t)r.nsubs * sizeof *r.subs);
        if (!r.subs)
            return WF_ENOMEM;
    }
    int err = wf_par_run(pcap_root, &r);
    free(r.subs);
    return err;
}

/* The cap to apply: 0 for none (no cap, or one at least the worker
 * count). */
static int cap_of(const struct wf_for_opts *o)
{
    if (!o || o->max_workers == 0)
        return 0;
    return o->max_workers >= nworkers() ? 0 : o->max_workers;
}

int wf_parallel_for_ex(long lo, long hi, const struct wf_for_opts *opts,
                       wf_for_fn *body, void *ctx)
{
    long grain = opts ? opts->grain : 0;
    if (!body || hi < lo || grain < 0 || (opts && opts->max_workers < 0))
        return WF_EINVAL;
    int k = cap_of(opts);
    if (!k)
        return wf_parallel_for(lo, hi, grain, body, ctx);
    if (lo == hi)
        return 0;
    unsigned long n = (unsigned long)hi - (unsigned long)lo;
    if (n > (unsigned long)LONG_MAX) { /* as wf_parallel_for: halve first */
        int err = pfor_capped(lo, lo + (long)(n / 2), grain, k, body, ctx);
        return err ? err
                   : pfor_capped(lo + (long)(n / 2), hi, grain, k, body, ctx);
    }
    return pfor_capped(lo, hi, grain, k, body, ctx);
}

struct p2d {
    wf_for2d_fn *body;
    void *ctx;
    long r0, r1, c0, c1;
    unsigned long tr, tc, nc; /* tile size; tiles per row of tiles */
};

static void p2d_tiles(long lo, long hi, void *ctx)
{
    struct p2d *p = ctx;
    for (long t = lo; t < hi; t++) {
        unsigned long i = (unsigned long)t / p->nc;
        unsigned long j = (unsigned long)t % p->nc;
        /* i * tr < rows <= LONG_MAX: no overflow (likewise columns) */
        long rlo = p->r0 + (long)(i * p->tr);
        long clo = p->c0 + (long)(j * p->tc);
        long rhi =
            (unsigned long)(p->r1 - rlo) > p->tr ? rlo + (long)p->tr : p->r1;
        long chi =
            (unsigned long)(p->c1 - clo) > p->tc ? clo + (long)p->tc : p->c1;
        p->body(rlo, rhi, clo, chi, p->ctx);
    }
}

static unsigned long isqrt(unsigned long a)
{
    unsigned long r = 0;
    while ((r + 1) * (r + 1) <= a)
        r++;
    return r;
}

int wf_parallel_for_2d(long row_lo, long row_hi, long col_lo, long col_hi,
                       const struct wf_for_opts *opts, wf_for2d_fn *body,
                       void *ctx)
{
    if (!body || row_hi < row_lo || col_hi < col_lo ||
        (opts && (opts->tile_rows < 0 || opts->tile_cols < 0 ||
                  opts->max_workers < 0 || opts->grain < 0)))
        return WF_EINVAL;
    unsigned long rows = (unsigned long)row_hi - (unsigned long)row_lo;
    unsigned long cols = (unsigned long)col_hi - (unsigned long)col_lo;
    if (rows == 0 || cols == 0)
        return 0;
    if (rows > (unsigned long)LONG_MAX || cols > (unsigned long)LONG_MAX)
        return WF_EINVAL;
    int k = cap_of(opts);
    unsigned long tr = opts ? (unsigned long)opts->tile_rows : 0;
    unsigned long tc = opts ? (unsigned long)opts->tile_cols : 0;
    if (!tr || !tc) {
        /* Tiles of about rows * cols / (16 * workers) elements (1 ..
         * 16384), square where the range allows, so every worker gets
         * several and a tile's rows stay in cache. */
        unsigned long total;
        if (__builtin_mul_overflow(rows, cols, &total))
            total = ULONG_MAX;
        unsigned long area =
            total / (16ul * (unsigned long)(k ? k : nworkers()));
        area = area < 1 ? 1 : area > 16384 ? 16384 : area;
        unsigned long side = isqrt(area);
        bool auto_tc = !tc;
        if (auto_tc)
            tc = side < cols ? side : cols;
        if (!tr) {
            unsigned long want = area / tc ? area / tc : 1;
            tr = want < rows ? want : rows;
            /* A thin range (fewer rows than a square tile's side): the
             * columns take the area the rows cannot, or a 1 x N range
             * gets tiles of `side` elements, not `area`. */
            if (auto_tc && tr < want) {
                unsigned long w = area / tr;
                tc = w < cols ? w : cols;
            }
        }
    }
    if (tr > rows)
        tr = rows;
    if (tc > cols)
        tc = cols;
    unsigned long nr = rows / tr + (rows % tr != 0);
    unsigned long nc = cols / tc + (cols % tc != 0);
    unsigned long ntiles;
    if (__builtin_mul_overflow(nr, nc, &ntiles) ||
        ntiles > (unsigned long)LONG_MAX)
        return WF_EINVAL; /* more tiles than a long counts */
    struct p2d p = {.body = body,
                    .ctx = ctx,
                    .r0 = row_lo,
                    .r1 = row_hi,
                    .c0 = col_lo,
                    .c1 = col_hi,
                    .tr = tr,
                    .tc = tc,
                    .nc = nc};
    if (k)
        return pfor_capped(0, (long)ntiles, 0, k, p2d_tiles, &p);
    return wf_parallel_for(0, (long)ntiles, 0, p2d_tiles, &p);
}

/* ---- parallel_reduce ------------------------------------------------------ */

struct pred {
    wf_reduce_fn *body;
    wf_combine_fn *combine;
    void *ctx;
    size_t size;
    long lo, hi, leaf, nleaves;
    const char *ident; /* a private copy of the identity */
    char *acc;         /* nleaves slots: slot m is the accumulator of the
                        * node whose right child starts at leaf m; slot 0
                        * the root's */
};

struct pred_sub {
    struct wf_task t;
    struct pred *p;
    long a, b;
    void *acc;
};

static void pred_node(struct pred *p, long a, long b, void *acc);

static void pred_task(void *arg)
{
    struct pred_sub *s = arg;
    pred_node(s->p, s->a, s->b, s->acc);
}

/* Reduce leaves [a, b) into acc. */
static void pred_node(struct pred *p, long a, long b, void *acc)
{
    if (b - a == 1) {
        long lo = p->lo + a * p->leaf;
        long hi = p->hi - lo > p->leaf ? lo + p->leaf : p->hi;
        memcpy(acc, p->ident, p->size);
        p->body(lo, hi, acc, p->ctx);
        return;
    }
    long m = a + (b - a) / 2;
    struct pred_sub s = { .p = p, .a = m, .b = b,
                          .acc = p->acc + (size_t)m * p->size };
    struct wf_task_group g;
    wf_task_group_init(&g);
    wf__group_fork_shared(&g, &s.t, pred_task, &s);
    pred_node(p, a, m, acc);
    wf_task_group_join(&g);
    p->combine(acc, s.acc, p->ctx);
}

static void pred_root(void *arg)
{
    struct pred *p = arg;
    pred_node(p, 0, p->nleaves, p->acc);
}

int wf_parallel_reduce(long lo, long hi, long grain, void *result,
                       size_t acc_size, const void *identity,
                       wf_reduce_fn *body, wf_combine_fn *combine, void *ctx)
{
    if (!result || !identity || !body || !combine || acc_size == 0 ||
        hi < lo || grain < 0)
        return WF_EINVAL;
    if (lo == hi) {
        memmove(result, identity, acc_size);
        return 0;
    }
    unsigned long n = (unsigned long)hi - (unsigned long)lo;
    if (n > (unsigned long)LONG_MAX / 2)
        return WF_EINVAL; /* more indices than any memory could back */
    long leaf = grain;
    if (leaf == 0) {
        leaf = (long)((n + 4095) / 4096);
        if (leaf < 1024)
            leaf = 1024;
    }
    struct pred p = { .body = body, .combine = combine, .ctx = ctx,
                      .size = acc_size, .lo = lo, .hi = hi, .leaf = leaf };
    p.nleaves = (long)((n + (unsigned long)leaf - 1) / (unsigned long)leaf);
    if ((size_t)p.nleaves + 1 > SIZE_MAX / acc_size)
        return WF_ENOMEM;
    char *mem = wf__malloc(((size_t)p.nleaves + 1) * acc_size);
    if (!mem)
        return WF_ENOMEM;
    memcpy(mem, identity, acc_size);
    p.ident = mem;
    p.acc = mem + acc_size;
    int err = wf_par_run(pred_root, &p);
    if (err == 0)
        memcpy(result, p.acc, acc_size);
    free(mem);
    return err;
}

/* ---- parallel_scan ------------------------------------------------------- */

struct pscan {
    const char *in;
    char *out;
    size_t n, size, block, nblocks;
    wf_combine_fn *op;
    void *ctx;
    bool exclusive;
    char *sums; /* nblocks: the fold of each block */
    char *pre;  /* nblocks: the prefix before each block */
    char *tmp;  /* nblocks: a spare element per block (exclusive, in place) */
    const char *ident;
};

static void scan_sum(long lo, long hi, void *arg)
{
    struct pscan *s = arg;
    for (long k = lo; k < hi; k++) {
        size_t b = (size_t)k * s->block;
        size_t e = b + s->block < s->n ? b + s->block : s->n;
        char *acc = s->sums + (size_t)k * s->size;
        memcpy(acc, s->ident, s->size);
        for (size_t i = b; i < e; i++)
            s->op(acc, s->in + i * s->size, s->ctx);
    }
}

static void scan_block(long lo, long hi, void *arg)
{
    struct pscan *s = arg;
    size_t sz = s->size;
    for (long k = lo; k < hi; k++) {
        size_t b = (size_t)k * s->block;
        size_t e = b + s->block < s->n ? b + s->block : s->n;
        char *acc = s->pre + (size_t)k * sz;
        char *x = s->tmp + (size_t)k * sz;
        for (size_t i = b; i < e; i++) {
            if (s->exclusive) {
                memcpy(x, s->in + i * sz, sz); /* out may be in */
                memcpy(s->out + i * sz, acc, sz);
                s->op(acc, x, s->ctx);
            } else {
                s->op(acc, s->in + i * sz, s->ctx);
                memcpy(s->out + i * sz, acc, sz);
            }
        }
    }
}

static void scan_root(void *arg)
{
    struct pscan *s = arg;
    /* Pass 1 needs no sum for the last block. */
    if (s->nblocks > 1)
        wf_parallel_for(0, (long)s->nblocks - 1, 1, scan_sum, s);
    memcpy(s->pre, s->ident, s->size);
    for (size_t k = 1; k < s->nblocks; k++) {
        char *p = s->pre + k * s->size;
        memcpy(p, p - s->size, s->size);
        s->op(p, s->sums + (k - 1) * s->size, s->ctx);
    }
    wf_parallel_for(0, (long)s->nblocks, 1, scan_block, s);
}

int wf_parallel_scan(const void *in, void *out, size_t n, size_t size,
                     const void *identity, wf_combine_fn *op, void *ctx,
                     int flags)
{
    if (size == 0 || !identity || !op ||
        (flags != WF_SCAN_INCLUSIVE && flags != WF_SCAN_EXCLUSIVE))
        return WF_EINVAL;
    if (n == 0)
        return 0;
    if (!in || !out)
        return WF_EINVAL;
    if (n > SIZE_MAX / size)
        return WF_EINVAL;
    struct pscan s = { .in = in, .out = out, .n = n, .size = size, .op = op,
                       .ctx = ctx, .exclusive = flags == WF_SCAN_EXCLUSIVE };
    s.block = (n + 1023) / 1024;
    if (s.block < 4096)
        s.block = 4096;
    s.nblocks = (n + s.block - 1) / s.block;
    char *mem = wf__malloc((3 * s.nblocks + 1) * size);
    if (!mem)
        return WF_ENOMEM;
    memcpy(mem, identity, size);
    s.ident = mem;
    s.sums = mem + size;
    s.pre = s.sums + s.nblocks * size;
    s.tmp = s.pre + s.nblocks * size;
    int err = wf_par_run(scan_root, &s);
    free(mem);
    return err;
}
