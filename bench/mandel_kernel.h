/* SPDX-License-Identifier: MIT */
/*
 * bench/mandel_kernel.h - the mandelbrot kernel that weft-bench's
 * `mandelbrot` group and its OpenMP and oneTBB peers all run, so the
 * runtimes compete on exactly the same work: 2000 x 2000 points of
 * [-2, 1] x [-1.5, 1.5], at most 1000 iterations each, the iteration
 * count stored per point. C and C++.
 */
#ifndef WEFT_BENCH_MANDEL_KERNEL_H
#define WEFT_BENCH_MANDEL_KERNEL_H

enum { MANDEL_N = 2000, MANDEL_ITERS = 1000 };

/* Rows lo <= y < hi of the picture into out (MANDEL_N * MANDEL_N). */
static inline void mandel_kernel(unsigned short *out, long lo, long hi)
{
    for (long y = lo; y < hi; y++) {
        double ci = -1.5 + 3.0 * (double)y / MANDEL_N;
        for (long x = 0; x < MANDEL_N; x++) {
            double cr = -2.0 + 3.0 * (double)x / MANDEL_N;
            double zr = 0, zi = 0;
            int k = 0;
            while (k < MANDEL_ITERS && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                k++;
            }
            out[y * MANDEL_N + x] = (unsigned short)k;
        }
    }
}

#endif
