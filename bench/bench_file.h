/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_file.h - weft-bench's `file` group (bench_file.c). Returns
 * 0 on success.
 */
#ifndef WEFT_BENCH_FILE_H
#define WEFT_BENCH_FILE_H

int group_file(void);

#endif
