/* SPDX-License-Identifier: MIT */
/*
 * weft-heat - a 2-D heat stencil (Jacobi steps on a rows x cols grid with
 * fixed boundaries), split by rows across the ranks of an MPI job; each
 * rank computes its rows with wf_parallel_for on its workers.
 *
 * Every step, a rank starts the halo exchange with its neighbours
 * (non-blocking sends and receives of one row each, as weft futures),
 * computes the rows that do not need the halo while the messages travel,
 * then awaits them (parking only its fiber) and computes its first and
 * last rows. --no-overlap waits for the exchange before computing
 * anything (the baseline the overlap is measured against).
 *
 * The result does not depend on the number of ranks or workers: every
 * cell is updated by the same expression from the same values. Rank 0
 * gathers the grid and prints its FNV-1a hash, which the tests compare
 * against a --local run (one process, no MPI).
 *
 *   weft-heat [--local] [--no-overlap] [--rows N] [--cols N] [--steps N]
 *   mpirun -np 4 weft-heat --rows 2048 --cols 2048 --steps 200
 *
 * Prints (rank 0):  hash 0x<16 hex digits>
 *                   heat_ms <milliseconds of the steps> ms
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prog.h"

static const char *prog = "weft-heat";

struct heat {
    struct where w;
    int overlap;
    long rows, cols, steps;
    long g0, h;        /* first global row owned, rows owned */
    double *cur, *nxt; /* (h + 2) x cols: a halo row above and below */
};

/* The fixed starting values: a hot top edge, a ragged left edge. */
static double init_cell(long r, long c)
{
    if (r == 0)
        return 100.0;
    if (c == 0)
        return (double)(r % 17);
    return 0.0;
}

struct rows_ctx {
    const double *cur;
    double *nxt;
    long cols;
};

static void step_rows(long lo, long hi, void *p)
{
    const struct rows_ctx *x = p;
    long n = x->cols;
    for (long k = lo; k < hi; k++) {
        const double *up = x->cur + (k - 1) * n, *me = x->cur + k * n,
                     *dn = x->cur + (k + 1) * n;
        double *out = x->nxt + k * n;
        for (long j = 1; j < n - 1; j++)
            out[j] = me[j] + 0.2 * (up[j] + dn[j] + me[j - 1] + me[j + 1] -
                                    4.0 * me[j]);
    }
}

static void compute(struct heat *s, long lo, long hi)
{
    if (hi <= lo)
        return;
    struct rows_ctx x = {s->cur, s->nxt, s->cols};
    int err = wf_parallel_for(lo, hi, 0, step_rows, &x);
    if (err < 0) {
        fprintf(stderr, "%s: wf_parallel_for: %s\n", prog, wf_strerror(err));
        exit(1);
    }
}

enum { TAG_UP = 0, TAG_DOWN = 1, TAG_GATHER = 2 };

static void run_steps(struct heat *s)
{
    long n = s->cols, h = s->h;
    int up = s->w.rank > 0 ? s->w.rank - 1 : -1;
    int down = s->w.rank < s->w.size - 1 ? s->w.rank + 1 : -1;
    for (long t = 0; t < s->steps; t++) {
        struct wf_future *f[4];
        int nf = 0, err = 0;
        if (up >= 0) {
            err = wf_dist_recv(&f[nf++], s->cur, n, WF_DIST_DOUBLE, up,
                               TAG_DOWN, NULL);
            if (err == 0)
                err = wf_dist_send(&f[nf++], s->cur + n, n, WF_DIST_DOUBLE, up,
                                   TAG_UP);
        }
        if (err == 0 && down >= 0) {
            err = wf_dist_recv(&f[nf++], s->cur + (h + 1) * n, n,
                               WF_DIST_DOUBLE, down, TAG_UP, NULL);
            if (err == 0)
                err = wf_dist_send(&f[nf++], s->cur + h * n, n, WF_DIST_DOUBLE,
                                   down, TAG_DOWN);
        }
        if (err < 0) {
            fprintf(stderr, "%s: halo exchange: %s\n", prog, wf_strerror(err));
            exit(1);
        }
        if (s->overlap) {
            compute(s, 2, h); /* rows that need no halo */
            for (int i = 0; i < nf; i++)
                must(prog, "halo exchange", 0, &f[i]);
            /* the two halo-dependent rows: too little work to hand to
             * the workers (a hand-off costs more than a row) */
            struct rows_ctx x = {s->cur, s->nxt, s->cols};
            step_rows(1, 2, &x);
            if (h > 1)
                step_rows(h, h + 1, &x);
        } else {
            for (int i = 0; i < nf; i++)
                must(prog, "halo exchange", 0, &f[i]);
            compute(s, 1, h + 1);
        }
        double *tmp = s->cur;
        s->cur = s->nxt;
        s->nxt = tmp;
    }
}

/* Rank 0 assembles the grid and hashes it. */
static uint64_t gather_hash(struct heat *s)
{
    long n = s->cols;
    struct wf_future *f;
    if (s->w.rank != 0) {
        must(prog, "gather",
             wf_dist_send(&f, s->cur + n, s->h * n, WF_DIST_DOUBLE, 0,
                          TAG_GATHER),
             &f);
        return 0;
    }
    double *grid = malloc(sizeof *grid * (size_t)(s->rows * n));
    if (!grid) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
    for (long r = 0; r < s->rows; r++)
        for (long c = 0; c < n; c++)
            grid[r * n + c] = init_cell(r, c);
    memcpy(grid + s->g0 * n, s->cur + n, sizeof *grid * (size_t)(s->h * n));
    long interior = s->rows - 2;
    for (int r = 1; r < s->w.size; r++) {
        long g0 = 1 + interior * r / s->w.size;
        long g1 = 1 + interior * (r + 1) / s->w.size;
        must(prog, "gather",
             wf_dist_recv(&f, grid + g0 * n, (g1 - g0) * n, WF_DIST_DOUBLE, r,
                          TAG_GATHER, NULL),
             &f);
    }
    uint64_t hash = fnv1a(FNV_SEED, grid, sizeof *grid * (size_t)(s->rows * n));
    free(grid);
    return hash;
}

static void barrier(struct heat *s)
{
    if (s->w.local)
        return;
    struct wf_future *f;
    must(prog, "barrier", wf_dist_barrier(&f), &f);
}

static void *heat_main(void *p)
{
    struct heat *s = p;
    where_init(&s->w, prog);
    long interior = s->rows - 2;
    if (interior < s->w.size) {
        fprintf(stderr,
                "%s: %ld interior rows cannot be split across %d ranks\n", prog,
                interior, s->w.size);
        exit(2);
    }
    s->g0 = 1 + interior * s->w.rank / s->w.size;
    s->h = 1 + interior * (s->w.rank + 1) / s->w.size - s->g0;
    size_t cells = (size_t)((s->h + 2) * s->cols);
    s->cur = malloc(sizeof(double) * cells);
    s->nxt = malloc(sizeof(double) * cells);
    if (!s->cur || !s->nxt) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
    for (long k = 0; k < s->h + 2; k++)
        for (long c = 0; c < s->cols; c++)
            s->cur[k * s->cols + c] = s->nxt[k * s->cols + c] =
                init_cell(s->g0 - 1 + k, c);

    barrier(s);
    int64_t t0 = wf_now();
    run_steps(s);
    barrier(s);
    int64_t t1 = wf_now();
    uint64_t hash = gather_hash(s);
    if (s->w.rank == 0) {
        printf(
            "heat rows %ld cols %ld steps %ld ranks %d workers %d overlap %s\n",
            s->rows, s->cols, s->steps, s->w.size, wf_workers(),
            s->overlap ? "on" : "off");
        printf("hash 0x%016llx\n", (unsigned long long)hash);
        printf("heat_ms %.3f ms\n", (double)(t1 - t0) / 1e6);
        fflush(stdout);
    }
    free(s->cur);
    free(s->nxt);
    where_fini(&s->w, prog);
    return NULL;
}

int main(int argc, char **argv)
{
    struct heat s = {.overlap = 1, .rows = 258, .cols = 258, .steps = 50};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--local")) {
            s.w.local = 1;
        } else if (!strcmp(a, "--no-overlap")) {
            s.overlap = 0;
        } else if (!strcmp(a, "--rows")) {
            s.rows = arg_long(prog, a, v, 3, 1L << 20);
            i++;
        } else if (!strcmp(a, "--cols")) {
            s.cols = arg_long(prog, a, v, 3, 1L << 20);
            i++;
        } else if (!strcmp(a, "--steps")) {
            s.steps = arg_long(prog, a, v, 0, 1L << 30);
            i++;
        } else {
            fprintf(stderr,
                    "usage: %s [--local] [--no-overlap] [--rows N] [--cols N] "
                    "[--steps N]\n",
                    prog);
            return 2;
        }
    }
    int err = wf_run(NULL, heat_main, &s, NULL);
    if (err < 0) {
        fprintf(stderr, "%s: wf_run: %s\n", prog, wf_strerror(err));
        return 1;
    }
    return 0;
}
