/* SPDX-License-Identifier: MIT */
/*
 * tests/async/wt_backend.h - what the I/O tests share: when ctest runs a
 * program with WEFT_IO=uring (tests/async/CMakeLists.txt) on a kernel that
 * refuses io_uring, every case is skipped rather than failed; and the
 * backend a reactor is expected to use.
 */
#ifndef WEFT_TESTS_WT_BACKEND_H
#define WEFT_TESTS_WT_BACKEND_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WT_HAVE_VALGRIND 1
#endif
#endif

__attribute__((constructor)) static void wt_check_backend(void)
{
    const char *want = getenv("WEFT_IO");
    if (!want || strcmp(want, "uring") != 0)
        return;
    unsigned char params[120]; /* struct io_uring_params */
    memset(params, 0, sizeof params);
    long fd = syscall(__NR_io_uring_setup, 2, params);
    if (fd < 0) {
        fprintf(stderr, "SKIP: WEFT_IO=uring but io_uring_setup fails: %s\n",
                strerror(errno));
        exit(77);
    }
    close((int)fd);
}

/* The backend wf_io_backend() must name once a reactor runs, when the
 * environment forces one: WEFT_IO, except under valgrind, where weft uses
 * epoll whatever WEFT_IO says (weft/io.h; the library sees valgrind when
 * built with valgrind.h, as these tests are). NULL: not forced. */
static inline const char *wt_forced_backend(void)
{
#ifdef WT_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND)
        return "epoll";
#endif
    const char *want = getenv("WEFT_IO");
    return want && *want ? want : NULL;
}

#endif
