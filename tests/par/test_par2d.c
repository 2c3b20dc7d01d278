/* SPDX-License-Identifier: MIT */
/*
 * tests/par/test_par2d.c - wf_parallel_for_ex (worker caps) and
 * wf_parallel_for_2d (tiles): every index or cell covered exactly once,
 * tiles within their bounds, the cap never exceeded (counted at the body's
 * entry and exit while bodies overlap), from fibers, plain threads, tasks
 * and without a runtime; errors. No case asserts on time.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wtest_rt.h"

/* ---- caps ------------------------------------------------------------------ */

struct capped {
    long lo;
    unsigned char *hits;
    long grain;
    atomic_int inside, most;
    atomic_long last_hi; /* cap 1: ranges come in ascending order */
    bool ascending;
    bool bad;
};

static void spin_a_little(void)
{
    for (volatile int i = 0; i < 2000; i++) {
    }
}

static void capped_body(long lo, long hi, void *ctx)
{
    struct capped *c = ctx;
    int now = atomic_fetch_add(&c->inside, 1) + 1;
    int m = atomic_load(&c->most);
    while (now > m && !atomic_compare_exchange_weak(&c->most, &m, now)) {
    }
    if (hi <= lo || (c->grain > 0 && hi - lo > c->grain))
        c->bad = true;
    if (c->ascending && atomic_exchange(&c->last_hi, hi) != lo)
        c->bad = true;
    for (long i = lo; i < hi; i++)
        c->hits[i - c->lo]++;
    spin_a_little();
    atomic_fetch_sub(&c->inside, 1);
}

static void check_capped(long lo, long n, long grain, int cap)
{
    struct capped c = {.lo = lo, .grain = grain};
    c.hits = calloc((size_t)n + 1, 1);
    WT_CHECK(c.hits);
    atomic_init(&c.last_hi, lo);
    c.ascending = cap == 1 && wf_workers() > 1;
    struct wf_for_opts o = WF_FOR_OPTS_INIT;
    o.grain = grain;
    o.max_workers = cap;
    WT_CHECK_EQ(wf_parallel_for_ex(lo, lo + n, &o, capped_body, &c), 0);
    WT_CHECK(!c.bad);
    if (cap > 0 && atomic_load(&c.most) > cap)
        WT_FAIL("cap %d: %d bodies ran at once", cap, atomic_load(&c.most));
    for (long i = 0; i < n; i++)
        if (c.hits[i] != 1)
            WT_FAIL("n %ld grain %ld cap %d: index %ld hit %d times", n, grain,
                    cap, i, c.hits[i]);
    free(c.hits);
}

static const long sizes[] = {0, 1, 2, 7, 64, 97, 1000, 4093, 65537};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void *cap_main(void *arg)
{
    (void)arg;
    int caps[] = {0, 1, 2, 3, 64};
    long grains[] = {0, 1, 5, 1000};
    for (size_t s = 0; s < NSIZES; s++)
        for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++)
            for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) {
                if (grains[g] == 1 && sizes[s] > 5000)
                    continue; /* a call per index: smaller sizes do */
                check_capped(-5, sizes[s], grains[g], caps[k]);
            }
    return NULL;
}

WT_CASE(for_ex_caps_four_workers)
{
    run_main(4, cap_main, NULL);
}

/* The whole of [0, LONG_MAX) in chunks of LONG_MAX, capped at 3 of 4
 * workers: one body call covers it, and no index is run twice. Before,
 * each capped task added a chunk to the shared counter even past the
 * end, the counter wrapped, and a late claim ran [LONG_MAX-2, LONG_MAX)
 * a second time (found by review; every run). The body only counts. */
static atomic_ulong huge_calls, huge_len;

static void huge_body(long lo, long hi, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&huge_calls, 1);
    atomic_fetch_add(&huge_len, (unsigned long)(hi - lo));
}

static void *huge_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        atomic_store(&huge_calls, 0);
        atomic_store(&huge_len, 0);
        struct wf_for_opts o = WF_FOR_OPTS_INIT;
        o.grain = LONG_MAX;
        o.max_workers = 3;
        WT_CHECK_EQ(wf_parallel_for_ex(0, LONG_MAX, &o, huge_body, NULL), 0);
        WT_CHECK_EQ(atomic_load(&huge_len), (unsigned long)LONG_MAX);
        WT_CHECK_EQ(atomic_load(&huge_calls), 1ul);
    }
    return NULL;
}

WT_CASE(for_ex_cap_huge_range)
{
    run_main(4, huge_main, NULL);
}

/* Automatic tiles of a thin range are as large as a square range's: a
 * 1 x 1,000,000 range on 4 workers takes about 16 x 4 tiles, not one per
 * 128 columns (7,813 before; found by review). */
static atomic_long thin_calls;

static void thin_body(long rlo, long rhi, long clo, long chi, void *ctx)
{
    (void)rlo;
    (void)rhi;
    (void)clo;
    (void)chi;
    (void)ctx;
    atomic_fetch_add(&thin_calls, 1);
}

static void *thin_main(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_parallel_for_2d(0, 1, 0, 1000000, NULL, thin_body, NULL), 0);
    long n = atomic_load(&thin_calls);
    if (n > 256)
        WT_FAIL("1 x 1000000 in %ld tiles", n);
    atomic_store(&thin_calls, 0);
    WT_CHECK_EQ(wf_parallel_for_2d(0, 1000000, 0, 1, NULL, thin_body, NULL), 0);
    n = atomic_load(&thin_calls);
    if (n > 256)
        WT_FAIL("1000000 x 1 in %ld tiles", n);
    return NULL;
}

WT_CASE(for_2d_thin_ranges_tile_big)
{
    run_main(4, thin_main, NULL);
}

WT_CASE(for_ex_caps_one_worker)
{
    run_main(1, cap_main, NULL);
}

WT_CASE(for_ex_no_runtime)
{
    cap_main(NULL);
}

static void *cap_thread(void *arg)
{
    (void)arg;
    for (int r = 0; r < 20; r++)
        check_capped(0, 20000, 0, 1 + r % 3);
    return NULL;
}

/* Capped calls from plain threads and fibers at once: each keeps its own
 * cap. */
static void *cap_mixed_main(void *arg)
{
    (void)arg;
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        WT_CHECK_EQ(pthread_create(&th[i], NULL, cap_thread, NULL), 0);
    struct wf_fiber f[2];
    for (int i = 0; i < 2; i++)
        WT_CHECK_EQ(wf_go(&f[i], cap_thread, NULL), 0);
    for (int i = 0; i < 2; i++) {
        WT_CHECK_EQ(pthread_join(th[i], NULL), 0);
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
    }
    return NULL;
}

WT_CASE(for_ex_caps_threads_and_fibers)
{
    run_main(4, cap_mixed_main, NULL);
}

/* ---- 2-D ------------------------------------------------------------------- */

struct grid {
    long r0, r1, c0, c1;
    long tr, tc; /* explicit tile size, or 0 */
    unsigned char *hits;
    atomic_int inside, most;
    bool bad;
};

static void grid_body(long rlo, long rhi, long clo, long chi, void *ctx)
{
    struct grid *g = ctx;
    int now = atomic_fetch_add(&g->inside, 1) + 1;
    int m = atomic_load(&g->most);
    while (now > m && !atomic_compare_exchange_weak(&g->most, &m, now)) {
    }
    if (rlo < g->r0 || rhi > g->r1 || rlo >= rhi || clo < g->c0 ||
        chi > g->c1 || clo >= chi)
        g->bad = true;
    if ((g->tr && rhi - rlo > g->tr) || (g->tc && chi - clo > g->tc))
        g->bad = true;
    /* a tile starts on the tile grid */
    if ((g->tr && (rlo - g->r0) % g->tr) || (g->tc && (clo - g->c0) % g->tc))
        g->bad = true;
    long w = g->c1 - g->c0;
    for (long r = rlo; r < rhi; r++)
        for (long c = clo; c < chi; c++)
            g->hits[(r - g->r0) * w + (c - g->c0)]++;
    spin_a_little();
    atomic_fetch_sub(&g->inside, 1);
}

static void check_grid(long r0, long rows, long c0, long cols, long tr, long tc,
                       int cap)
{
    struct grid g = {.r0 = r0,
                     .r1 = r0 + rows,
                     .c0 = c0,
                     .c1 = c0 + cols,
                     .tr = tr,
                     .tc = tc};
    g.hits = calloc((size_t)(rows * cols) + 1, 1);
    WT_CHECK(g.hits);
    struct wf_for_opts o = WF_FOR_OPTS_INIT;
    o.tile_rows = tr;
    o.tile_cols = tc;
    o.max_workers = cap;
    WT_CHECK_EQ(wf_parallel_for_2d(g.r0, g.r1, g.c0, g.c1, &o, grid_body, &g),
                0);
    WT_CHECK(!g.bad);
    if (cap > 0 && atomic_load(&g.most) > cap)
        WT_FAIL("cap %d: %d tiles ran at once", cap, atomic_load(&g.most));
    for (long i = 0; i < rows * cols; i++)
        if (g.hits[i] != 1)
            WT_FAIL("%ld x %ld tiles %ld x %ld cap %d: cell %ld hit %d times",
                    rows, cols, tr, tc, cap, i, g.hits[i]);
    free(g.hits);
}

static void *grid_main(void *arg)
{
    (void)arg;
    long dims[] = {0, 1, 2, 3, 17, 64, 100, 257};
    long tiles[][2] = {{0, 0},  {1, 1},   {3, 5},      {16, 0},
                       {0, 16}, {64, 64}, {1000, 1000}};
    int caps[] = {0, 1, 3};
    for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++)
        for (size_t b = 0; b < sizeof dims / sizeof dims[0]; b++)
            for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++)
                for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
                    if (tiles[t][0] == 1 && dims[a] * dims[b] > 10000)
                        continue; /* a call per cell: smaller sizes do */
                    check_grid(-7, dims[a], 11, dims[b], tiles[t][0],
                               tiles[t][1], caps[k]);
                }
    check_grid(0, 2000, 0, 1500, 0, 0, 0); /* automatic tiles, big */
    check_grid(0, 1, 0, 200000, 0, 0, 2);  /* one row */
    check_grid(0, 200000, 0, 1, 0, 0, 0);  /* one column */
    return NULL;
}

WT_CASE(for_2d_cover_four_workers)
{
    run_main(4, grid_main, NULL);
}

WT_CASE(for_2d_cover_one_worker)
{
    run_main(1, grid_main, NULL);
}

WT_CASE(for_2d_no_runtime)
{
    check_grid(-3, 100, 5, 77, 0, 0, 0);
    check_grid(-3, 100, 5, 77, 7, 9, 2);
}

static void grid_in_task(void *arg)
{
    (void)arg;
    check_grid(0, 300, 0, 300, 0, 0, 2);
    check_grid(0, 300, 0, 300, 10, 30, 0);
}

static void *grid_thread(void *arg)
{
    (void)arg;
    check_grid(0, 500, 0, 300, 0, 0, 0);
    check_grid(0, 500, 0, 300, 32, 32, 2);
    return NULL;
}

static void *grid_contexts_main(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_par_run(grid_in_task, NULL), 0); /* nested in a task */
    pthread_t th;
    WT_CHECK_EQ(pthread_create(&th, NULL, grid_thread, NULL), 0);
    grid_thread(NULL);
    WT_CHECK_EQ(pthread_join(th, NULL), 0);
    return NULL;
}

WT_CASE(for_2d_from_task_thread_fiber)
{
    run_main(4, grid_contexts_main, NULL);
}

static void nop2d(long a, long b, long c, long d, void *ctx)
{
    (void)a, (void)b, (void)c, (void)d, (void)ctx;
}

static void nop1d(long a, long b, void *ctx)
{
    (void)a, (void)b, (void)ctx;
}

WT_CASE(for_2d_errors)
{
    struct wf_for_opts o = WF_FOR_OPTS_INIT;
    WT_CHECK_EQ(wf_parallel_for_2d(0, 1, 0, 1, NULL, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_for_2d(1, 0, 0, 1, NULL, nop2d, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_for_2d(0, 1, 1, 0, NULL, nop2d, NULL), WF_EINVAL);
    o.tile_rows = -1;
    WT_CHECK_EQ(wf_parallel_for_2d(0, 1, 0, 1, &o, nop2d, NULL), WF_EINVAL);
    o.tile_rows = 0;
    o.max_workers = -1;
    WT_CHECK_EQ(wf_parallel_for_2d(0, 1, 0, 1, &o, nop2d, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_for_ex(0, 1, &o, nop1d, NULL), WF_EINVAL);
    o.max_workers = 0;
    o.grain = -1;
    WT_CHECK_EQ(wf_parallel_for_ex(0, 1, &o, nop1d, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_for_ex(0, 1, NULL, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_for_ex(1, 0, NULL, nop1d, NULL), WF_EINVAL);
    /* more rows than a long: refused; an empty side: nothing to do */
    WT_CHECK_EQ(wf_parallel_for_2d(LONG_MIN, LONG_MAX, 0, 1, NULL, nop2d, NULL),
                WF_EINVAL);
    WT_CHECK_EQ(wf_parallel_for_2d(0, LONG_MAX, 5, 5, NULL, nop2d, NULL), 0);
    /* tiles of 1 x 1 over LONG_MAX x 4 cells: too many tiles to number */
    o.grain = 0;
    o.tile_rows = 1;
    o.tile_cols = 1;
    WT_CHECK_EQ(wf_parallel_for_2d(0, LONG_MAX, 0, 4, &o, nop2d, NULL),
                WF_EINVAL);
}

WT_MAIN()
