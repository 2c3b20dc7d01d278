/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_echo.h - weft-bench's `echo` group (bench_echo.c). Returns
 * 0 on success.
 */
#ifndef WEFT_BENCH_ECHO_H
#define WEFT_BENCH_ECHO_H

int group_echo(void);

#endif
