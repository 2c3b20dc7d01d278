/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_par.h - weft-bench's parallelism groups (bench_par.c):
 * fib, mandelbrot, reduce, sort. Each returns 0 on success.
 */
#ifndef WEFT_BENCH_PAR_H
#define WEFT_BENCH_PAR_H

int group_fib(void);
int group_mandelbrot(void);
int group_reduce(void);
int group_sort(void);

#endif
