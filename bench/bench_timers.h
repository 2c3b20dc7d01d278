/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_timers.h - weft-bench's `timers` and `timerheap` groups
 * (bench_timers.c). Each returns 0 on success.
 */
#ifndef WEFT_BENCH_TIMERS_H
#define WEFT_BENCH_TIMERS_H

int group_timers(void);
int group_timerheap(void);

#endif
