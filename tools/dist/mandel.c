/* SPDX-License-Identifier: MIT */
/*
 * weft-mandel - the Mandelbrot set on a size x size grid of
 * [-2, 1] x [-1.5, 1.5] (iteration counts, at most --iters), its rows
 * computed across the ranks of an MPI job with wf_dist_parallel_for:
 * dynamic by default (rank 0 hands out chunks of rows to whichever rank
 * asks: rows through the set cost --iters each, rows outside it almost
 * nothing), --static for equal slices. Each rank runs its rows with
 * wf_parallel_for on its workers.
 *
 * The image does not depend on who computed which row; rank 0 collects
 * it (a sum reduction of the ranks' images, where each row is non-zero on
 * one rank only) and prints its FNV-1a hash, which the tests compare
 * against a --local run (one process, no MPI).
 *
 *   weft-mandel [--local] [--static] [--size N] [--iters N] [--chunk N]
 *   mpirun -np 4 weft-mandel --size 2000 --iters 1000
 *
 * Prints (rank 0):  hash 0x<16 hex digits>
 *                   mandel_ms <milliseconds of the computation> ms
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prog.h"

static const char *prog = "weft-mandel";

struct mandel {
    struct where w;
    int dynamic;
    long size, iters, chunk;
    int *img;
};

static void rows_body(long lo, long hi, void *p)
{
    struct mandel *m = p;
    long n = m->size;
    for (long y = lo; y < hi; y++) {
        double ci = -1.5 + 3.0 * (double)y / (double)n;
        for (long x = 0; x < n; x++) {
            double cr = -2.0 + 3.0 * (double)x / (double)n;
            double zr = 0, zi = 0;
            long k = 0;
            while (k < m->iters && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                k++;
            }
            m->img[y * n + x] = (int)k;
        }
    }
}

static void *mandel_main(void *p)
{
    struct mandel *m = p;
    where_init(&m->w, prog);
    long cells = m->size * m->size;
    m->img = calloc((size_t)cells, sizeof *m->img);
    int *sum = m->w.rank == 0 && !m->w.local
                   ? calloc((size_t)cells, sizeof *sum)
                   : NULL;
    if (!m->img || (m->w.rank == 0 && !m->w.local && !sum)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
    struct wf_future *f;
    if (!m->w.local)
        must(prog, "barrier", wf_dist_barrier(&f), &f);
    int64_t t0 = wf_now();
    int err;
    if (m->w.local) {
        err = wf_parallel_for(0, m->size, 0, rows_body, m);
    } else {
        struct wf_dist_for_opts o = WF_DIST_FOR_OPTS_INIT;
        o.mode = m->dynamic ? WF_DIST_DYNAMIC : WF_DIST_STATIC;
        o.chunk = m->chunk;
        err = wf_dist_parallel_for(0, m->size, &o, rows_body, m);
    }
    if (err < 0) {
        fprintf(stderr, "%s: parallel loop: %s\n", prog, wf_strerror(err));
        exit(1);
    }
    int64_t t1 = wf_now();
    const int *img = m->img;
    if (!m->w.local) {
        must(
            prog, "reduce",
            wf_dist_reduce(&f, m->img, sum, cells, WF_DIST_INT, WF_DIST_SUM, 0),
            &f);
        img = sum;
    }
    int64_t t2 = wf_now();
    if (m->w.rank == 0) {
        uint64_t hash = fnv1a(FNV_SEED, img, sizeof *img * (size_t)cells);
        printf("mandel size %ld iters %ld ranks %d workers %d mode %s\n",
               m->size, m->iters, m->w.size, wf_workers(),
               m->w.local   ? "local"
               : m->dynamic ? "dynamic"
                            : "static");
        printf("hash 0x%016llx\n", (unsigned long long)hash);
        printf("mandel_ms %.3f ms\n", (double)(t1 - t0) / 1e6);
        printf("mandel_collect_ms %.3f ms\n", (double)(t2 - t1) / 1e6);
        fflush(stdout);
    }
    free(m->img);
    free(sum);
    where_fini(&m->w, prog);
    return NULL;
}

int main(int argc, char **argv)
{
    struct mandel m = {.dynamic = 1, .size = 400, .iters = 500};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--local")) {
            m.w.local = 1;
        } else if (!strcmp(a, "--static")) {
            m.dynamic = 0;
        } else if (!strcmp(a, "--size")) {
            m.size = arg_long(prog, a, v, 1, 40000);
            i++;
        } else if (!strcmp(a, "--iters")) {
            m.iters = arg_long(prog, a, v, 1, 1L << 30);
            i++;
        } else if (!strcmp(a, "--chunk")) {
            m.chunk = arg_long(prog, a, v, 0, 1L << 30);
            i++;
        } else {
            fprintf(stderr,
                    "usage: %s [--local] [--static] [--size N] [--iters N] "
                    "[--chunk N]\n",
                    prog);
            return 2;
        }
    }
    int err = wf_run(NULL, mandel_main, &m, NULL);
    if (err < 0) {
        fprintf(stderr, "%s: wf_run: %s\n", prog, wf_strerror(err));
        return 1;
    }
    return 0;
}
