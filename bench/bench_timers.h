/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_timers.h - weft-bench's `timers` group (bench_timers.c).
 * Returns 0 on success.
 */
#ifndef WEFT_BENCH_TIMERS_H
#define WEFT_BENCH_TIMERS_H

int group_timers(void);

#endif
