/* SPDX-License-Identifier: MIT */
/*
 * bench/peers/par_omp.c - the OpenMP peer of weft-bench's fib, mandelbrot
 * and reduce groups (bench/bench_par.c), same shapes and sizes:
 *
 *   omp_fib_ms     fib(32) with `omp task` at every call and taskwait
 *   omp_mandel_ms  2000x2000, 1000 iterations, `parallel for
 *                  schedule(dynamic)` over rows
 *   omp_reduce_ms  sum of 100,000,000 doubles, `reduction(+:s)`
 *                  (omp_reduce_gbs: the same as GB/s)
 *
 * Threads: OMP_NUM_THREADS (compare.sh and scaling.sh set it). Build:
 * cc -O2 -fopenmp par_omp.c -I.. (timing.h).
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"
#include "mandel_kernel.h"

static void put(const char *name, double v, const char *unit)
{
    printf("%s %.2f %s\n", name, v, unit);
    fflush(stdout);
}

static long fib(int n)
{
    if (n < 2)
        return n;
    long x, y;
#pragma omp task shared(x)
    x = fib(n - 1);
    y = fib(n - 2);
#pragma omp taskwait
    return x + y;
}


static void mandel(unsigned short *out)
{
#pragma omp parallel for schedule(dynamic)
    for (long y = 0; y < MANDEL_N; y++)
        mandel_kernel(out, y, y + 1);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : "";
    double t[7];
    int reps = omp_get_max_threads() > 1 ? 3 : 5; /* fib is slow on >1 */
    if (!*only || !strcmp(only, "fib")) {
        for (int r = 0; r < reps; r++) {
            long v = 0;
            int64_t t0 = now_ns();
#pragma omp parallel
#pragma omp single
            v = fib(32);
            t[r] = (double)(now_ns() - t0) / 1e6;
            if (v != 2178309)
                return 1;
        }
        put("omp_fib_ms", median(t, reps), "ms");
    }
    if (!*only || !strcmp(only, "mandelbrot")) {
        unsigned short *out = malloc(sizeof *out * MANDEL_N * MANDEL_N);
        for (int r = 0; r < 3; r++) {
            int64_t t0 = now_ns();
            mandel(out);
            t[r] = (double)(now_ns() - t0) / 1e6;
        }
        put("omp_mandel_ms", median(t, 3), "ms");
        free(out);
    }
    if (!*only || !strcmp(only, "reduce")) {
        long n = 100000000;
        double *v = malloc(sizeof *v * (size_t)n);
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++)
            v[i] = (double)((uint64_t)i * 2654435761u % 1000) * 0.001;
        double s = 0;
        for (int r = 0; r < 5; r++) {
            int64_t t0 = now_ns();
            s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
            for (long i = 0; i < n; i++)
                s += v[i];
            t[r] = (double)(now_ns() - t0) / 1e6;
        }
        double ms = median(t, 5);
        put("omp_reduce_ms", ms, "ms");
        put("omp_reduce_gbs", (double)n * 8 / (ms * 1e6), "GB/s");
        free(v);
        if (s < 0)
            return 1;
    }
    return 0;
}
