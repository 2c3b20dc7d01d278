/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_par.c - weft-bench's parallelism groups. Each prints
 * `name value unit` lines; every timed figure is the median of several
 * repetitions. "Workers" is WEFT_WORKERS, else the online CPU count.
 *
 *   fib         fib_serial_ms: fib(32), plain recursion;
 *               fib_w1_ms: fib(32) forking at every call (wf_task_spawn /
 *               wf_task_sync, no cutoff) on a runtime of one worker;
 *               fib_ms: the same on all workers.
 *               fib_inline_w1_ms: fib(32) forking at every call through a
 *               typed task (WF_TASK_TYPE: an un-stolen sync calls fib
 *               directly) on one worker.
 *   mandelbrot  mandel_serial_ms, mandel_par_ms: 2000x2000 pixels of
 *               [-2, 1] x [-1.5, 1.5], at most 1000 iterations (uneven
 *               rows); wf_parallel_for over rows with automatic grain.
 *   reduce      reduce_serial_ms, reduce_ms: the sum of 100,000,000
 *               doubles (800 MB, memory bound) with wf_parallel_reduce;
 *               reduce_gbs: GB/s of the parallel one.
 *   sort        sort_qsort_ms: qsort of 10,000,000 random uint64;
 *               sort_ms: wf_parallel_sort of the same input (comparator
 *               function, like qsort); sort_u64_ms: wf_parallel_sort_u64
 *               (comparison compiled in, like std::sort).
 *
 * bench/peers/par_omp.c and par_tbb.cpp measure the same shapes with
 * OpenMP and oneTBB (and std::sort).
 *
 * WEFT_BENCH_PAR_ONLY=1 prints only the parallel figures (fib_ms,
 * mandel_par_ms, reduce_ms, reduce_gbs, sort_ms): bench/scaling.sh runs
 * the groups at many worker counts and needs the serial ones only once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"
#include "bench_par.h"
#include "timing.h"
#include "mandel_kernel.h"

static bool par_only(void)
{
    const char *s = getenv("WEFT_BENCH_PAR_ONLY");
    return s && *s && strcmp(s, "0") != 0;
}

static void put(const char *name, double value, const char *unit)
{
    printf("%s %.2f %s\n", name, value, unit);
    fflush(stdout);
}

/* Runs fn as the main fiber of a runtime of `workers` (0: default). */
static int with_runtime(const char *group, int workers, wf_fiber_fn *fn, void *arg)
{
    struct wf_config cfg = { .workers = workers };
    void *res = NULL;
    int err = wf_run(&cfg, fn, arg, &res);
    if (err < 0) {
        fprintf(stderr, "weft-bench: %s: wf_run: %s (%d)\n", group,
                wf_strerror(err), err);
        return 1;
    }
    return res != NULL;
}

/* ---- fib ---------------------------------------------------------------- */

enum { FIB_N = 32, FIB_REPS = 7 };

__attribute__((noinline)) static long fib_serial(int n)
{
    return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

struct fib_arg {
    struct wf_task t;
    int n;
    long r;
};

static void fib_task(void *p);

static long fib_par(int n)
{
    if (n < 2)
        return n;
    struct fib_arg a; /* not zeroed: spawn fills the descriptor */
    a.n = n - 1;
    wf_task_spawn(&a.t, fib_task, &a);
    long y = fib_par(n - 2);
    wf_task_sync(&a.t);
    return a.r + y;
}

static void fib_task(void *p)
{
    struct fib_arg *a = p;
    a->r = fib_par(a->n);
}

static long fib_typed(int n);
WF_TASK_TYPE(fib_typed_task, long, fib_typed, int)

static long fib_typed(int n)
{
    if (n < 2)
        return n;
    struct fib_typed_task t;
    fib_typed_task_spawn(&t, n - 1);
    long y = fib_typed(n - 2);
    return fib_typed_task_sync(&t) + y;
}

static void fib_typed_entry(void *p)
{
    struct fib_arg *a = p;
    a->r = fib_typed(a->n);
}

struct fib_run {
    wf_task_fn *entry;
    double ms;
};

static void *fib_main(void *arg)
{
    struct fib_run *fr = arg;
    double t[FIB_REPS];
    for (int r = 0; r < FIB_REPS; r++) {
        struct fib_arg a = { .n = FIB_N };
        int64_t t0 = now_ns();
        wf_par_run(fr->entry, &a);
        t[r] = (double)(now_ns() - t0) / 1e6;
        if (a.r != 2178309)
            return (void *)1;
    }
    fr->ms = median(t, FIB_REPS);
    return NULL;
}

int group_fib(void)
{
    double t[FIB_REPS];
    struct fib_run w1 = {fib_task, 0}, wn = {fib_task, 0},
                   typed = {fib_typed_entry, 0};
    for (int r = 0; r < FIB_REPS && !par_only(); r++) {
        int64_t t0 = now_ns();
        long v = fib_serial(FIB_N);
        t[r] = (double)(now_ns() - t0) / 1e6;
        if (v != 2178309)
            return 1;
    }
    if (!par_only()) {
        put("fib_serial_ms", median(t, FIB_REPS), "ms");
        if (with_runtime("fib", 1, fib_main, &w1))
            return 1;
        put("fib_w1_ms", w1.ms, "ms");
        if (with_runtime("fib", 1, fib_main, &typed))
            return 1;
        put("fib_inline_w1_ms", typed.ms, "ms");
    }
    if (with_runtime("fib", 0, fib_main, &wn))
        return 1;
    put("fib_ms", wn.ms, "ms");
    return 0;
}

/* ---- mandelbrot ------------------------------------------------------------ */

enum { MANDEL_REPS = 3 };

struct mandel {
    unsigned short *out;
};

static void mandel_rows(long lo, long hi, void *ctx)
{
    struct mandel *m = ctx;
    mandel_kernel(m->out, lo, hi);
}

static uint64_t mandel_sum(const unsigned short *v)
{
    uint64_t s = 0;
    for (long i = 0; i < (long)MANDEL_N * MANDEL_N; i++)
        s += v[i];
    return s;
}

static void *mandel_main(void *arg)
{
    struct mandel m = { .out = malloc(sizeof *m.out * MANDEL_N * MANDEL_N) };
    double t[MANDEL_REPS];
    for (int r = 0; r < MANDEL_REPS; r++) {
        int64_t t0 = now_ns();
        wf_parallel_for(0, MANDEL_N, 0, mandel_rows, &m);
        t[r] = (double)(now_ns() - t0) / 1e6;
    }
    uint64_t *want = arg;
    void *bad = mandel_sum(m.out) != *want ? (void *)1 : NULL;
    free(m.out);
    *(double *)(want + 1) = median(t, MANDEL_REPS);
    return bad;
}

int group_mandelbrot(void)
{
    struct mandel m = { .out = malloc(sizeof *m.out * MANDEL_N * MANDEL_N) };
    double t[MANDEL_REPS];
    for (int r = 0; r < (par_only() ? 1 : MANDEL_REPS); r++) {
        int64_t t0 = now_ns();
        mandel_rows(0, MANDEL_N, &m);
        t[r] = (double)(now_ns() - t0) / 1e6;
    }
    if (!par_only())
        put("mandel_serial_ms", median(t, MANDEL_REPS), "ms");
    uint64_t box[2] = { mandel_sum(m.out), 0 };
    free(m.out);
    if (with_runtime("mandelbrot", 0, mandel_main, box)) {
        fprintf(stderr, "weft-bench: mandelbrot: wrong result\n");
        return 1;
    }
    double par;
    memcpy(&par, &box[1], sizeof par);
    put("mandel_par_ms", par, "ms");
    return 0;
}

/* ---- reduce ------------------------------------------------------------------ */

enum { REDUCE_N = 100000000, REDUCE_REPS = 5 };

__attribute__((noinline)) static void sum_body(long lo, long hi, void *acc, void *ctx)
{
    const double *v = ctx;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long i = lo;
    for (; i + 4 <= hi; i += 4) {
        s0 += v[i];
        s1 += v[i + 1];
        s2 += v[i + 2];
        s3 += v[i + 3];
    }
    for (; i < hi; i++)
        s0 += v[i];
    *(double *)acc += (s0 + s1) + (s2 + s3);
}

static void sum_combine(void *acc, const void *other, void *ctx)
{
    *(double *)acc += *(const double *)other;
}

struct reduce_box {
    double *v;
    double want, ms;
};

static void *reduce_main(void *arg)
{
    struct reduce_box *b = arg;
    double t[REDUCE_REPS], r = 0, id = 0;
    for (int k = 0; k < REDUCE_REPS; k++) {
        int64_t t0 = now_ns();
        wf_parallel_reduce(0, REDUCE_N, 0, &r, sizeof r, &id, sum_body,
                           sum_combine, b->v);
        t[k] = (double)(now_ns() - t0) / 1e6;
    }
    b->ms = median(t, REDUCE_REPS);
    /* Different association from the serial loop: compare loosely. */
    return r > b->want * (1 + 1e-9) || r < b->want * (1 - 1e-9) ? (void *)1 : NULL;
}

static void fill_body(long lo, long hi, void *ctx)
{
    double *v = ctx;
    for (long i = lo; i < hi; i++)
        v[i] = (double)((uint64_t)i * 2654435761u % 1000) * 0.001;
}

static void *fill_main(void *arg)
{
    /* First touch in parallel, as a parallel program would. */
    wf_parallel_for(0, REDUCE_N, 0, fill_body, arg);
    return NULL;
}

int group_reduce(void)
{
    struct reduce_box b = { .v = malloc(sizeof(double) * REDUCE_N) };
    if (!b.v || with_runtime("reduce", 0, fill_main, b.v))
        return 1;
    double t[REDUCE_REPS];
    for (int k = 0; k < (par_only() ? 1 : REDUCE_REPS); k++) {
        int64_t t0 = now_ns();
        double s = 0;
        sum_body(0, REDUCE_N, &s, b.v);
        t[k] = (double)(now_ns() - t0) / 1e6;
        b.want = s;
    }
    if (!par_only())
        put("reduce_serial_ms", median(t, REDUCE_REPS), "ms");
    if (with_runtime("reduce", 0, reduce_main, &b)) {
        fprintf(stderr, "weft-bench: reduce: wrong result\n");
        free(b.v);
        return 1;
    }
    put("reduce_ms", b.ms, "ms");
    put("reduce_gbs", (double)REDUCE_N * sizeof(double) / (b.ms * 1e6), "GB/s");
    free(b.v);
    return 0;
}

/* ---- sort ------------------------------------------------------------------- */

enum { SORT_N = 10000000, SORT_REPS = 3 };

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void sort_input(uint64_t *v)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (long i = 0; i < SORT_N; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        v[i] = s * 0x2545F4914F6CDD1Dull;
    }
}

struct sort_box {
    uint64_t *v, *want;
    double ms, u64_ms;
};

static void *sort_main(void *arg)
{
    struct sort_box *b = arg;
    double t[SORT_REPS];
    for (int k = 0; k < SORT_REPS; k++) {
        sort_input(b->v);
        int64_t t0 = now_ns();
        wf_parallel_sort(b->v, SORT_N, sizeof *b->v, cmp_u64);
        t[k] = (double)(now_ns() - t0) / 1e6;
    }
    b->ms = median(t, SORT_REPS);
    if (memcmp(b->v, b->want, sizeof *b->v * SORT_N))
        return (void *)1;
    for (int k = 0; k < SORT_REPS; k++) {
        sort_input(b->v);
        int64_t t0 = now_ns();
        wf_parallel_sort_u64(b->v, SORT_N);
        t[k] = (double)(now_ns() - t0) / 1e6;
    }
    b->u64_ms = median(t, SORT_REPS);
    return memcmp(b->v, b->want, sizeof *b->v * SORT_N) ? (void *)1 : NULL;
}

int group_sort(void)
{
    struct sort_box b = { .v = malloc(sizeof *b.v * SORT_N),
                          .want = malloc(sizeof *b.v * SORT_N) };
    if (!b.v || !b.want)
        return 1;
    double t[SORT_REPS];
    for (int k = 0; k < (par_only() ? 1 : SORT_REPS); k++) {
        sort_input(b.want);
        int64_t t0 = now_ns();
        qsort(b.want, SORT_N, sizeof *b.want, cmp_u64);
        t[k] = (double)(now_ns() - t0) / 1e6;
    }
    if (!par_only())
        put("sort_qsort_ms", median(t, SORT_REPS), "ms");
    int bad = with_runtime("sort", 0, sort_main, &b);
    if (!bad) {
        put("sort_ms", b.ms, "ms");
        put("sort_u64_ms", b.u64_ms, "ms");
    }
    else
        fprintf(stderr, "weft-bench: sort: wrong result\n");
    free(b.v);
    free(b.want);
    return bad;
}
