/* SPDX-License-Identifier: MIT */
/*
 * tests/par/test_par.c - fork-join tasks and the parallel algorithms
 * against serial references: many sizes and grains, 1 worker and all,
 * called from fibers, tasks, plain threads and without a runtime; the
 * classic kernels (fib, nqueens, merge sort, a heat stencil); errors.
 * No case asserts on time.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wtest_rt.h"

/* Sizes: 0, 1, 2, primes, powers of two and their neighbours. */
static const long sizes[] = { 0, 1, 2, 3, 5, 7, 13, 31, 64, 97, 127, 128,
                              1000, 1023, 1024, 4093, 4096, 65537,
                              131072, 1000003 };
#define NSIZES (long)(sizeof sizes / sizeof sizes[0])

static int all_workers(void)
{
    return 0; /* WEFT_WORKERS or the CPU count */
}

/* ---- fib, nqueens ----------------------------------------------------------- */

struct fib_arg {
    struct wf_task t;
    int n;
    long r;
};

static void fib_group_task(void *p);

static long fib_group(int n)
{
    if (n < 2)
        return n;
    struct wf_task_group g;
    struct fib_arg a = { .n = n - 1 };
    WT_CHECK(wf_task_group_init(&g) == 0);
    WT_CHECK(wf_task_group_fork(&g, &a.t, fib_group_task, &a) == 0);
    long y = fib_group(n - 2);
    WT_CHECK(wf_task_group_join(&g) == 0);
    return a.r + y;
}

static void fib_group_task(void *p)
{
    struct fib_arg *a = p;
    a->r = fib_group(a->n);
}

static void fib_spawn_task(void *p);

static long fib_spawn(int n)
{
    if (n < 2)
        return n;
    struct fib_arg a = { .n = n - 1 };
    wf_task_spawn(&a.t, fib_spawn_task, &a);
    long y = fib_spawn(n - 2);
    wf_task_sync(&a.t);
    return a.r + y;
}

static void fib_spawn_task(void *p)
{
    struct fib_arg *a = p;
    a->r = fib_spawn(a->n);
}

static void fib_root(void *p)
{
    struct fib_arg *a = p;
    a->r = fib_spawn(a->n);
}

static void *fib_main(void *arg)
{
    int n = wt_sanitized() ? 25 : 30;
    long want = wt_sanitized() ? 75025 : 832040;
    /* Group API straight from a fiber: the children are handed over. */
    WT_CHECK_EQ(fib_group(n), want);
    /* Spawn/sync inside a root task. */
    struct fib_arg a = { .n = n };
    WT_CHECK(wf_par_run(fib_root, &a) == 0);
    WT_CHECK_EQ(a.r, want);
    return NULL;
}

WT_CASE(fib30_all_workers)
{
    run_main(all_workers(), fib_main, NULL);
}

WT_CASE(fib30_one_worker)
{
    run_main(1, fib_main, NULL);
}

struct queens {
    struct wf_task t;
    int n, row;
    signed char cols[16];
    long count;
};

static bool queen_ok(const signed char *cols, int row, int c)
{
    for (int r = 0; r < row; r++) {
        int d = cols[r] - c;
        if (d == 0 || d == row - r || d == r - row)
            return false;
    }
    return true;
}

static void queens_task(void *p)
{
    struct queens *q = p;
    if (q->row == q->n) {
        q->count = 1;
        return;
    }
    struct queens sub[16];
    struct wf_task_group g;
    wf_task_group_init(&g);
    int k = 0;
    for (int c = 0; c < q->n; c++) {
        if (!queen_ok(q->cols, q->row, c))
            continue;
        sub[k].n = q->n;
        sub[k].row = q->row + 1;
        memcpy(sub[k].cols, q->cols, sizeof q->cols);
        sub[k].cols[q->row] = (signed char)c;
        sub[k].count = 0;
        wf_task_group_fork(&g, &sub[k].t, queens_task, &sub[k]);
        k++;
    }
    wf_task_group_join(&g);
    q->count = 0;
    for (int i = 0; i < k; i++)
        q->count += sub[i].count;
}

static void *queens_main(void *arg)
{
    struct queens q = { .n = wt_sanitized() ? 9 : 12 };
    WT_CHECK(wf_par_run(queens_task, &q) == 0);
    WT_CHECK_EQ(q.count, wt_sanitized() ? 352 : 14200);
    return NULL;
}

WT_CASE(nqueens12)
{
    run_main(all_workers(), queens_main, NULL);
}

/* Syncs out of the documented order still complete (no hang, each task
 * once). */
static void count_task(void *arg)
{
    atomic_fetch_add((atomic_long *)arg, 1);
}

static void out_of_order(void *arg)
{
    for (int i = 0; i < 1000; i++) {
        struct wf_task a, b, c;
        struct wf_task_group g;
        wf_task_spawn(&a, count_task, arg);
        wf_task_group_init(&g);
        wf_task_group_fork(&g, &c, count_task, arg);
        wf_task_spawn(&b, count_task, arg);
        wf_task_sync(&a); /* runs b and c first */
        wf_task_group_join(&g);
        wf_task_sync(&b);
    }
}

static void *out_of_order_main(void *arg)
{
    atomic_long n = 0;
    WT_CHECK(wf_par_run(out_of_order, &n) == 0);
    WT_CHECK_EQ(atomic_load(&n), 3000);
    return NULL;
}

WT_CASE(spawn_sync_out_of_order)
{
    run_main(all_workers(), out_of_order_main, NULL);
}

/* ---- parallel_for -------------------------------------------------------- */

struct cover {
    long lo;
    unsigned char *hits;
    atomic_long calls;
    long grain;
    bool bad;
};

static void cover_body(long lo, long hi, void *ctx)
{
    struct cover *c = ctx;
    if (hi <= lo || (c->grain > 0 && hi - lo > c->grain))
        c->bad = true;
    for (long i = lo; i < hi; i++)
        c->hits[i - c->lo]++;
    atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed);
}

static void check_cover(long lo, long n, long grain)
{
    struct cover c = { .lo = lo, .grain = grain };
    c.hits = calloc((size_t)n + 1, 1);
    WT_CHECK(c.hits);
    WT_CHECK(wf_parallel_for(lo, lo + n, grain, cover_body, &c) == 0);
    WT_CHECK(!c.bad);
    for (long i = 0; i < n; i++)
        if (c.hits[i] != 1)
            WT_FAIL("n %ld grain %ld: index %ld hit %d times", n, grain, i,
                    c.hits[i]);
    free(c.hits);
}

static void *for_main(void *arg)
{
    for (long k = 0; k < NSIZES; k++) {
        long n = sizes[k];
        if (wt_sanitized() && n > 200000)
            continue;
        long grains[] = { 0, 1, 2, 7, 1000, n > 0 ? n : 1, n + 5 };
        for (size_t j = 0; j < sizeof grains / sizeof grains[0]; j++) {
            if (grains[j] == 1 && n > 65537)
                continue; /* a task per index: covered by smaller sizes */
            check_cover(-3, n, grains[j]);
        }
    }
    return NULL;
}

WT_CASE(for_sizes_grains_all_workers)
{
    run_main(all_workers(), for_main, NULL);
}

WT_CASE(for_sizes_grains_one_worker)
{
    run_main(1, for_main, NULL);
}

static void *for_big_main(void *arg)
{
    check_cover(0, wt_sanitized() ? 1000000 : 10000000, 0);
    return NULL;
}

WT_CASE(for_10M)
{
    run_main(all_workers(), for_big_main, NULL);
}

/* Nested: each outer index runs an inner parallel_for. */
struct nest {
    long n;
    atomic_long total;
    atomic_long *rows;
};

static void nest_inner(long lo, long hi, void *ctx)
{
    atomic_long *row = ctx;
    atomic_fetch_add(row, hi - lo);
}

static void nest_outer(long lo, long hi, void *ctx)
{
    struct nest *s = ctx;
    for (long i = lo; i < hi; i++) {
        WT_CHECK(wf_in_task());
        WT_CHECK(wf_parallel_for(0, 1000 + i, 0, nest_inner, &s->rows[i]) == 0);
    }
}

static void *nested_main(void *arg)
{
    struct nest s = { .n = 200 };
    s.rows = calloc((size_t)s.n, sizeof *s.rows);
    WT_CHECK(wf_parallel_for(0, s.n, 0, nest_outer, &s) == 0);
    for (long i = 0; i < s.n; i++)
        WT_CHECK_EQ(atomic_load(&s.rows[i]), 1000 + i);
    /* And with unit grains on both levels. */
    memset(s.rows, 0, (size_t)s.n * sizeof *s.rows);
    WT_CHECK(wf_parallel_for(0, s.n, 1, nest_outer, &s) == 0);
    for (long i = 0; i < s.n; i++)
        WT_CHECK_EQ(atomic_load(&s.rows[i]), 1000 + i);
    free(s.rows);
    return NULL;
}

WT_CASE(for_nested)
{
    run_main(all_workers(), nested_main, NULL);
}

/* ---- reduce ---------------------------------------------------------------- */

static uint64_t *rand_u64(long n, uint64_t seed)
{
    uint64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    WT_CHECK(v);
    uint64_t s = seed;
    for (long i = 0; i < n; i++)
        v[i] = wt_rand(&s);
    return v;
}

struct stats {
    uint64_t sum, xor_, min, max;
    long count;
};

static void stats_body(long lo, long hi, void *acc, void *ctx)
{
    struct stats *s = acc;
    const uint64_t *v = ctx;
    for (long i = lo; i < hi; i++) {
        s->sum += v[i];
        s->xor_ ^= v[i] * (uint64_t)(i + 1);
        s->min = v[i] < s->min ? v[i] : s->min;
        s->max = v[i] > s->max ? v[i] : s->max;
        s->count++;
    }
}

static void stats_combine(void *acc, const void *other, void *ctx)
{
    struct stats *a = acc;
    const struct stats *b = other;
    a->sum += b->sum;
    a->xor_ ^= b->xor_;
    a->min = b->min < a->min ? b->min : a->min;
    a->max = b->max > a->max ? b->max : a->max;
    a->count += b->count;
}

static void check_reduce(long n, long grain)
{
    uint64_t *v = rand_u64(n, 0x1234 + (uint64_t)n);
    struct stats id = { 0, 0, UINT64_MAX, 0, 0 }, want = id, got;
    stats_body(0, n, &want, v);
    memset(&got, 0xAB, sizeof got);
    WT_CHECK(wf_parallel_reduce(0, n, grain, &got, sizeof got, &id,
                                stats_body, stats_combine, v) == 0);
    if (memcmp(&got, &want, sizeof got) != 0)
        WT_FAIL("reduce n %ld grain %ld differs", n, grain);
    free(v);
}

static void *reduce_main(void *arg)
{
    for (long k = 0; k < NSIZES; k++) {
        long n = sizes[k];
        long grains[] = { 0, 1, 3, 1024, n > 0 ? n : 1 };
        for (size_t j = 0; j < sizeof grains / sizeof grains[0]; j++) {
            if (grains[j] < 1000 && grains[j] > 0 && n > 65537)
                continue;
            check_reduce(n, grains[j]);
        }
    }
    check_reduce(wt_sanitized() ? 1000000 : 10000000, 0);
    return NULL;
}

WT_CASE(reduce_all_workers)
{
    run_main(all_workers(), reduce_main, NULL);
}

WT_CASE(reduce_one_worker)
{
    run_main(1, reduce_main, NULL);
}

/* Floating point: the same bits with any worker count and without a
 * runtime (the tree depends on n and the grain only). */
static void dsum_body(long lo, long hi, void *acc, void *ctx)
{
    const double *v = ctx;
    double s = *(double *)acc;
    for (long i = lo; i < hi; i++)
        s += v[i];
    *(double *)acc = s;
}

static void dsum_combine(void *acc, const void *other, void *ctx)
{
    *(double *)acc += *(const double *)other;
}

#define DSUM_N 3000017
static double *dsum_data(void)
{
    static double *v;
    if (!v) {
        v = malloc(DSUM_N * sizeof *v);
        uint64_t s = 99;
        for (long i = 0; i < DSUM_N; i++)
            v[i] = (double)(wt_rand(&s) >> 11) * 0x1p-53 * 1e6 - 4e5;
    }
    return v;
}

static double dsum(void)
{
    double id = 0, r = -1;
    WT_CHECK(wf_parallel_reduce(0, DSUM_N, 0, &r, sizeof r, &id, dsum_body,
                                dsum_combine, dsum_data()) == 0);
    return r;
}

static void *dsum_main(void *arg)
{
    *(double *)arg = dsum();
    return NULL;
}

WT_CASE(reduce_float_deterministic)
{
    double serial = dsum(); /* no runtime: serial */
    double r1 = 0, r2 = 0, r3 = 0;
    run_main(1, dsum_main, &r1);
    run_main(all_workers(), dsum_main, &r2);
    run_main(3, dsum_main, &r3);
    WT_CHECK(memcmp(&serial, &r1, sizeof r1) == 0);
    WT_CHECK(memcmp(&serial, &r2, sizeof r2) == 0);
    WT_CHECK(memcmp(&serial, &r3, sizeof r3) == 0);
}

/* ---- scan ------------------------------------------------------------------ */

static void add_u64(void *acc, const void *x, void *ctx)
{
    *(uint64_t *)acc += *(const uint64_t *)x;
}

/* A 12-byte element: not a size the code specialises. */
struct trip {
    uint32_t a, b, c;
};

static void add_trip(void *acc, const void *x, void *ctx)
{
    struct trip *p = acc;
    const struct trip *q = x;
    p->a += q->a;
    p->b ^= q->b;
    p->c = p->c * 31 + q->c; /* associative? no: order matters, still exact */
}

static void check_scan(long n, int flags, bool in_place)
{
    uint64_t *in = rand_u64(n, 77 + (uint64_t)n);
    uint64_t *out = in_place ? in : malloc((size_t)(n + 1) * 8);
    uint64_t *want = malloc((size_t)(n + 1) * 8);
    uint64_t acc = 0, id = 0;
    for (long i = 0; i < n; i++) {
        if (flags == WF_SCAN_EXCLUSIVE) {
            want[i] = acc;
            acc += in[i];
        } else {
            acc += in[i];
            want[i] = acc;
        }
    }
    WT_CHECK(wf_parallel_scan(in, out, (size_t)n, 8, &id, add_u64, NULL, flags) == 0);
    for (long i = 0; i < n; i++)
        if (out[i] != want[i])
            WT_FAIL("scan n %ld flags %d in_place %d: index %ld", n, flags,
                    in_place, i);
    if (!in_place)
        free(out);
    free(in);
    free(want);
}

static void check_scan_trip(long n, int flags)
{
    struct trip *in = malloc((size_t)(n + 1) * sizeof *in);
    struct trip *out = malloc((size_t)(n + 1) * sizeof *in);
    struct trip *want = malloc((size_t)(n + 1) * sizeof *in);
    uint64_t s = 5;
    for (long i = 0; i < n; i++) {
        in[i].a = (uint32_t)wt_rand(&s);
        in[i].b = (uint32_t)wt_rand(&s);
        in[i].c = (uint32_t)wt_rand(&s);
    }
    struct trip id = { 0, 0, 0 }, acc = id;
    for (long i = 0; i < n; i++) {
        if (flags == WF_SCAN_EXCLUSIVE) {
            want[i] = acc;
            add_trip(&acc, &in[i], NULL);
        } else {
            add_trip(&acc, &in[i], NULL);
            want[i] = acc;
        }
    }
    WT_CHECK(wf_parallel_scan(in, out, (size_t)n, sizeof *in, &id, add_trip,
                              NULL, flags) == 0);
    for (long i = 0; i < n; i++) {
        /* c is order-sensitive (not associative): only a and b must match. */
        if (out[i].a != want[i].a || out[i].b != want[i].b)
            WT_FAIL("scan trip n %ld flags %d: index %ld", n, flags, i);
    }
    free(in);
    free(out);
    free(want);
}

static void *scan_main(void *arg)
{
    for (long k = 0; k < NSIZES; k++)
        for (int f = 0; f < 2; f++) {
            check_scan(sizes[k], f, false);
            check_scan(sizes[k], f, true);
            check_scan_trip(sizes[k], f);
        }
    check_scan(wt_sanitized() ? 1000000 : 10000000, WF_SCAN_INCLUSIVE, false);
    return NULL;
}

WT_CASE(scan_all_workers)
{
    run_main(all_workers(), scan_main, NULL);
}

WT_CASE(scan_one_worker)
{
    run_main(1, scan_main, NULL);
}

/* Floating-point scan: the same bits with any worker count and without a
 * runtime. */
static void add_double(void *acc, const void *x, void *ctx)
{
    *(double *)acc += *(const double *)x;
}

static double *fscan(void)
{
    const double *in = dsum_data();
    double *out = malloc(DSUM_N * sizeof *out), id = 0;
    WT_CHECK(wf_parallel_scan(in, out, DSUM_N, sizeof *out, &id, add_double,
                              NULL, WF_SCAN_INCLUSIVE) == 0);
    return out;
}

static void *fscan_main(void *arg)
{
    *(double **)arg = fscan();
    return NULL;
}

WT_CASE(scan_float_deterministic)
{
    double *serial = fscan(), *r1 = NULL, *r2 = NULL;
    run_main(1, fscan_main, &r1);
    run_main(all_workers(), fscan_main, &r2);
    WT_CHECK(memcmp(serial, r1, DSUM_N * sizeof *r1) == 0);
    WT_CHECK(memcmp(serial, r2, DSUM_N * sizeof *r2) == 0);
    free(serial);
    free(r1);
    free(r2);
}

/* ---- sort ------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Elements of several sizes whose first 4 bytes are a key with many
 * duplicates and whose next 4 bytes are the input position. */
static int cmp_key(const void *a, const void *b)
{
    uint32_t x, y;
    memcpy(&x, a, 4);
    memcpy(&y, b, 4);
    return (x > y) - (x < y);
}

static void check_stable(long n, size_t size, uint32_t keys)
{
    unsigned char *v = malloc((size_t)(n + 1) * size);
    uint64_t s = 3 + (uint64_t)n;
    for (long i = 0; i < n; i++) {
        uint32_t k = (uint32_t)(wt_rand(&s) % keys), pos = (uint32_t)i;
        memset(v + (size_t)i * size, (int)(i & 0xff), size);
        memcpy(v + (size_t)i * size, &k, 4);
        memcpy(v + (size_t)i * size + 4, &pos, 4);
    }
    WT_CHECK(wf_parallel_sort_stable(v, (size_t)n, size, cmp_key) == 0);
    unsigned char *seen = calloc((size_t)n + 1, 1);
    for (long i = 0; i < n; i++) {
        uint32_t k, pos;
        memcpy(&k, v + (size_t)i * size, 4);
        memcpy(&pos, v + (size_t)i * size + 4, 4);
        WT_CHECK(pos < (uint32_t)n && !seen[pos]);
        seen[pos] = 1;
        /* The rest of the element travelled with it. */
        WT_CHECK(v[(size_t)i * size + size - 1] == (size > 8 ? (pos & 0xff) :
                                                    v[(size_t)i * size + size - 1]));
        if (i > 0) {
            uint32_t pk, ppos;
            memcpy(&pk, v + (size_t)(i - 1) * size, 4);
            memcpy(&ppos, v + (size_t)(i - 1) * size + 4, 4);
            if (pk > k || (pk == k && ppos > pos))
                WT_FAIL("stable sort n %ld size %zu: order broken at %ld", n,
                        size, i);
        }
    }
    free(seen);
    free(v);
}

static void check_sort_u64(long n)
{
    uint64_t *v = rand_u64(n, 11 + (uint64_t)n);
    uint64_t *w = malloc((size_t)(n + 1) * 8);
    memcpy(w, v, (size_t)n * 8);
    qsort(w, (size_t)n, 8, cmp_u64);
    WT_CHECK(wf_parallel_sort(v, (size_t)n, 8, cmp_u64) == 0);
    WT_CHECK(n == 0 || memcmp(v, w, (size_t)n * 8) == 0);
    /* Sorted and reversed inputs. */
    WT_CHECK(wf_parallel_sort(v, (size_t)n, 8, cmp_u64) == 0);
    WT_CHECK(n == 0 || memcmp(v, w, (size_t)n * 8) == 0);
    for (long i = 0; i < n / 2; i++) {
        uint64_t x = v[i];
        v[i] = v[n - 1 - i];
        v[n - 1 - i] = x;
    }
    WT_CHECK(wf_parallel_sort_stable(v, (size_t)n, 8, cmp_u64) == 0);
    WT_CHECK(n == 0 || memcmp(v, w, (size_t)n * 8) == 0);
    free(v);
    free(w);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The typed sorts against qsort, with many duplicates too. */
static void check_typed(long n)
{
    uint64_t *a = rand_u64(n, 5 + (uint64_t)n), *b = rand_u64(n, 5 + (uint64_t)n);
    for (int kind = 0; kind < 4; kind++) {
        size_t sz = kind < 2 ? 8 : 4;
        wf_cmp_fn *cmp = kind == 0 ? cmp_u64 : kind == 1 ? cmp_i64 :
                         kind == 2 ? cmp_u32 : cmp_i32;
        uint64_t s = 9 + (uint64_t)kind;
        for (long i = 0; i < n; i++) {
            uint64_t x = wt_rand(&s);
            if (i % 3 == 0)
                x %= 17; /* duplicates, and small negatives as signed */
            if (sz == 8)
                a[i] = x;
            else
                ((uint32_t *)a)[i] = (uint32_t)x;
        }
        memcpy(b, a, (size_t)n * sz);
        qsort(b, (size_t)n, sz, cmp);
        int err = kind == 0 ? wf_parallel_sort_u64(a, (size_t)n) :
                  kind == 1 ? wf_parallel_sort_i64((int64_t *)a, (size_t)n) :
                  kind == 2 ? wf_parallel_sort_u32((uint32_t *)a, (size_t)n) :
                              wf_parallel_sort_i32((int32_t *)a, (size_t)n);
        WT_CHECK_EQ(err, 0);
        if (n > 0 && memcmp(a, b, (size_t)n * sz) != 0)
            WT_FAIL("typed sort kind %d n %ld differs from qsort", kind, n);
    }
    free(a);
    free(b);
}

static void *sort_main(void *arg)
{
    for (long k = 0; k < NSIZES; k++) {
        long n = sizes[k];
        check_sort_u64(n);
        uint32_t *u = malloc((size_t)(n + 1) * 4), *w = malloc((size_t)(n + 1) * 4);
        uint64_t s = 1 + (uint64_t)n;
        for (long i = 0; i < n; i++)
            u[i] = w[i] = (uint32_t)wt_rand(&s);
        qsort(w, (size_t)n, 4, cmp_u32);
        WT_CHECK(wf_parallel_sort(u, (size_t)n, 4, cmp_u32) == 0);
        WT_CHECK(n == 0 || memcmp(u, w, (size_t)n * 4) == 0);
        free(u);
        free(w);
        if (n <= 131072) {
            check_stable(n, 8, 17);
            check_stable(n, 16, 1000);
            check_stable(n, 24, 3);
            check_stable(n, 300, 50);
        }
    }
    check_stable(wt_sanitized() ? 100000 : 1000003, 8, 1000);
    for (long k = 0; k < NSIZES; k++)
        check_typed(sizes[k]);
    check_typed(wt_sanitized() ? 300007 : 3000017);
    return NULL;
}

WT_CASE(sort_all_workers)
{
    run_main(all_workers(), sort_main, NULL);
}

WT_CASE(sort_one_worker)
{
    run_main(1, sort_main, NULL);
}

/* The BOTS-style kernel: a merge sort of 1,000,000 random ints equals
 * qsort's output. */
static void *msort_main(void *arg)
{
    long n = 1000000;
    int *v = malloc((size_t)n * sizeof *v), *w = malloc((size_t)n * sizeof *w);
    uint64_t s = 2024;
    for (long i = 0; i < n; i++)
        v[i] = w[i] = (int)wt_rand(&s);
    qsort(w, (size_t)n, sizeof *w, cmp_int);
    WT_CHECK(wf_parallel_sort(v, (size_t)n, sizeof *v, cmp_int) == 0);
    WT_CHECK(memcmp(v, w, (size_t)n * sizeof *v) == 0);
    free(v);
    free(w);
    return NULL;
}

WT_CASE(mergesort_1M_ints)
{
    run_main(all_workers(), msort_main, NULL);
}

/* ---- heat stencil ------------------------------------------------------------- */

struct heat {
    long nx, ny;
    const double *cur;
    double *next;
};

static void heat_rows(long lo, long hi, void *ctx)
{
    const struct heat *h = ctx;
    for (long y = lo; y < hi; y++)
        for (long x = 0; x < h->nx; x++) {
            long i = y * h->nx + x;
            if (y == 0 || y == h->ny - 1 || x == 0 || x == h->nx - 1) {
                h->next[i] = h->cur[i];
                continue;
            }
            h->next[i] = h->cur[i] + 0.2 * (h->cur[i - 1] + h->cur[i + 1] +
                                            h->cur[i - h->nx] + h->cur[i + h->nx] -
                                            4 * h->cur[i]);
        }
}

static double *heat_run(long nx, long ny, int steps, bool par)
{
    double *a = calloc((size_t)(nx * ny), sizeof *a);
    double *b = calloc((size_t)(nx * ny), sizeof *b);
    for (long x = 0; x < nx; x++)
        a[x] = 100.0; /* a hot top edge */
    a[(ny / 2) * nx + nx / 2] = 1000.0;
    for (int s = 0; s < steps; s++) {
        struct heat h = { nx, ny, a, b };
        if (par)
            WT_CHECK(wf_parallel_for(0, ny, 0, heat_rows, &h) == 0);
        else
            heat_rows(0, ny, &h);
        double *t = a;
        a = b;
        b = t;
    }
    free(b);
    return a;
}

static void *heat_main(void *arg)
{
    long nx = 257, ny = 191;
    int steps = wt_sanitized() ? 20 : 100;
    double *p = heat_run(nx, ny, steps, true);
    double *s = heat_run(nx, ny, steps, false);
    WT_CHECK(memcmp(p, s, (size_t)(nx * ny) * sizeof *p) == 0);
    free(p);
    free(s);
    return NULL;
}

WT_CASE(heat_stencil_bit_identical)
{
    run_main(all_workers(), heat_main, NULL);
}

/* ---- where the calls come from --------------------------------------------------- */

static void sum_body(long lo, long hi, void *acc, void *ctx)
{
    for (long i = lo; i < hi; i++)
        *(long *)acc += i;
}

static void sum_combine(void *acc, const void *other, void *ctx)
{
    *(long *)acc += *(const long *)other;
}

/* A small mix of every algorithm; checks its own results. */
static void mixed_work(long n)
{
    long id = 0, r = 0;
    WT_CHECK(wf_parallel_reduce(0, n, 0, &r, sizeof r, &id, sum_body,
                                sum_combine, NULL) == 0);
    WT_CHECK_EQ(r, n * (n - 1) / 2);
    check_cover(0, n, 0);
    struct fib_arg a = { .n = 15 };
    WT_CHECK(wf_par_run(fib_root, &a) == 0);
    WT_CHECK_EQ(a.r, 610);
    WT_CHECK_EQ(fib_group(12), 144);
}

static void *plain_thread(void *arg)
{
    WT_CHECK(!wf_in_task());
    for (int i = 0; i < 20; i++)
        mixed_work(10000 + i);
    return NULL;
}

WT_CASE(from_plain_threads)
{
    struct wf_config c = config(all_workers());
    WT_CHECK(wf_init(&c) == 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        WT_CHECK(pthread_create(&th[i], NULL, plain_thread, NULL) == 0);
    plain_thread(NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    WT_CHECK(wf_shutdown() == 0);
}

static void *fiber_worker(void *arg)
{
    for (int i = 0; i < 10; i++) {
        mixed_work(5000 + (long)P2U(arg) * 7 + i);
        wf_yield();
    }
    return NULL;
}

static void *many_fibers_main(void *arg)
{
    enum { N = 8 };
    struct wf_fiber f[N];
    for (int i = 0; i < N; i++)
        WT_CHECK(wf_go(&f[i], fiber_worker, U2P(i)) == 0);
    for (int i = 0; i < N; i++)
        WT_CHECK(wf_join(f[i], NULL, WF_FOREVER) == 0);
    return NULL;
}

WT_CASE(from_many_fibers)
{
    run_main(all_workers(), many_fibers_main, NULL);
}

WT_CASE(from_many_fibers_one_worker)
{
    run_main(1, many_fibers_main, NULL);
}

static void in_task(void *arg)
{
    WT_CHECK(wf_in_task());
    mixed_work(3001);
}

static void *from_task_main(void *arg)
{
    WT_CHECK(!wf_in_task());
    WT_CHECK(wf_par_run(in_task, NULL) == 0);
    return NULL;
}

WT_CASE(from_task)
{
    run_main(all_workers(), from_task_main, NULL);
}

WT_CASE(no_runtime_serial)
{
    WT_CHECK(wf_workers() == WF_ESHUTDOWN);
    mixed_work(5000);
    check_reduce(100000, 0);
    check_scan(10007, WF_SCAN_EXCLUSIVE, true);
    check_sort_u64(20011);
    WT_CHECK_EQ(fib_group(15), 610);
}

/* Fibers keep running while parallel work occupies the workers. */
static atomic_int ticks;

static void *ticker(void *arg)
{
    while (!atomic_load(&ticks) || atomic_load(&ticks) < 50) {
        atomic_fetch_add(&ticks, 1);
        wf_sleep(WF_MSEC / 10);
    }
    return NULL;
}

static void *coexist_main(void *arg)
{
    struct wf_fiber t;
    WT_CHECK(wf_go(&t, ticker, NULL) == 0);
    for (int i = 0; i < 5; i++)
        check_sort_u64(wt_sanitized() ? 20000 : 200000);
    WT_CHECK(wf_join(t, NULL, WF_FOREVER) == 0);
    WT_CHECK(atomic_load(&ticks) >= 50);
    return NULL;
}

WT_CASE(fibers_and_tasks_coexist)
{
    run_main(all_workers(), coexist_main, NULL);
}

/* Many short calls from several fibers: hand-over and wake-ups under
 * stress (lost wake-ups would hang here). */
static void *stress_fiber(void *arg)
{
    uint64_t s = (uint64_t)P2U(arg) * 1000 + wt_seed_value; /* set in stress_main */
    long iters = scaled(2000);
    for (long i = 0; i < iters; i++) {
        long n = (long)(wt_rand(&s) % 300);
        long id = 0, r = 0;
        WT_CHECK(wf_parallel_reduce(0, n, (long)(wt_rand(&s) % 4), &r, sizeof r,
                                    &id, sum_body, sum_combine, NULL) == 0);
        WT_CHECK_EQ(r, n * (n - 1) / 2);
    }
    return NULL;
}

static void *stress_main(void *arg)
{
    int n = wt_threads(4);
    struct wf_fiber f[64];
    wt_seed(); /* once, before the fibers read it */
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        WT_CHECK(wf_go(&f[i], stress_fiber, U2P(i)) == 0);
    for (int i = 0; i < n; i++)
        WT_CHECK(wf_join(f[i], NULL, WF_FOREVER) == 0);
    return NULL;
}

WT_CASE(stress_short_calls)
{
    run_main(all_workers(), stress_main, NULL);
}

/* More workers than CPUs: workers lose their CPU in the middle of tasks
 * (holding private tasks, or waiting at joins); everything must still
 * finish and be right. */
static void *oversub_main(void *arg)
{
    struct fib_arg a = { .n = wt_sanitized() ? 20 : 25 };
    WT_CHECK(wf_par_run(fib_root, &a) == 0);
    WT_CHECK_EQ(a.r, wt_sanitized() ? 6765 : 75025);
    check_sort_u64(wt_sanitized() ? 20000 : 300000);
    check_reduce(wt_sanitized() ? 20000 : 500000, 0);
    nested_main(NULL);
    return NULL;
}

WT_CASE(oversubscribed_8_workers)
{
    run_main(8, oversub_main, NULL);
}

/* ---- errors ---------------------------------------------------------------- */

static void nop_task(void *arg)
{
}

static void nop_for(long lo, long hi, void *ctx)
{
}

static void errors_check(void)
{
    long acc = 0, id = 0;
    uint64_t v[4] = { 4, 3, 2, 1 };
    struct wf_task t;
    struct wf_task_group g;
    WT_CHECK_EQ(wf_parallel_for(0, 10, 0, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_for(10, 0, 0, nop_for, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_for(0, 10, -1, nop_for, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_for(5, 5, 0, nop_for, NULL), 0);
    WT_CHECK_EQ(wf_parallel_reduce(0, 10, 0, &acc, 0, &id, sum_body, sum_combine, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_reduce(0, 10, 0, NULL, 8, &id, sum_body, sum_combine, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_reduce(0, 10, 0, &acc, 8, NULL, sum_body, sum_combine, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_reduce(0, 10, 0, &acc, 8, &id, NULL, sum_combine, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_reduce(0, 10, 0, &acc, 8, &id, sum_body, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_reduce(9, 3, 0, &acc, 8, &id, sum_body, sum_combine, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_reduce(0, 3, -2, &acc, 8, &id, sum_body, sum_combine, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_scan(v, v, 4, 0, &id, add_u64, NULL, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_scan(v, v, 4, 8, NULL, add_u64, NULL, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_scan(v, v, 4, 8, &id, NULL, NULL, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_scan(NULL, v, 4, 8, &id, add_u64, NULL, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_scan(v, v, 4, 8, &id, add_u64, NULL, 7), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_scan(NULL, NULL, 0, 8, &id, add_u64, NULL, 0), 0);
    WT_CHECK_EQ(wf_parallel_sort(v, 4, 0, cmp_u64), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_sort(v, 4, 8, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_sort(NULL, 4, 8, cmp_u64), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_sort_stable(NULL, 0, 8, cmp_u64), 0);
    WT_CHECK_EQ(wf_parallel_sort_u64(NULL, 3), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_sort_i32(NULL, 0), 0);
    WT_CHECK_EQ(wf_parallel_sort_stable(v, 4, 8, cmp_u64), 0);
    WT_CHECK(v[0] == 1 && v[3] == 4);
    WT_CHECK_EQ(wf_task_group_init(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_task_group_init(&g), 0);
    WT_CHECK_EQ(wf_task_group_fork(NULL, &t, nop_task, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_task_group_fork(&g, NULL, nop_task, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_task_group_fork(&g, &t, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_task_group_join(&g), 0);
    WT_CHECK_EQ(wf_task_group_join(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_par_run(NULL, NULL), WF_EINVAL);
    if (wf_workers() > 0) { /* outside tasks while a runtime runs */
        WT_CHECK_EQ(wf_task_spawn(&t, nop_task, NULL), WF_EPERM);
        WT_CHECK_EQ(wf_task_sync(&t), WF_EPERM);
    } else { /* serial */
        WT_CHECK_EQ(wf_task_spawn(&t, nop_task, NULL), 0);
        WT_CHECK_EQ(wf_task_sync(&t), 0);
    }
}

static void errors_in_task(void *arg)
{
    struct wf_task t;
    WT_CHECK_EQ(wf_task_spawn(NULL, nop_task, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_task_spawn(&t, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_task_spawn(NULL, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_task_sync(NULL), WF_EINVAL);
}

static void *errors_main(void *arg)
{
    errors_check();
    WT_CHECK(wf_par_run(errors_in_task, NULL) == 0);
    return NULL;
}

WT_CASE(errors)
{
    errors_check(); /* no runtime */
    run_main(all_workers(), errors_main, NULL);
}

WT_MAIN()
