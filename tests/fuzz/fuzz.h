/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz.h - what the fuzz targets share: the libFuzzer entry
 * point's declaration, a failed check (a message, then abort(), which
 * libFuzzer and the replay test both report as a crash), and a reader
 * that takes the input apart byte by byte, yielding zeros past its end
 * so that every input, the empty one included, decodes into a script.
 *
 * Each target is one .c file built twice: with -fsanitize=fuzzer
 * (WEFT_FUZZ=ON, clang) as a libFuzzer program, and with the normal
 * compiler into a replay program (replay.c) that ctest runs over
 * tests/fuzz/corpus/<target>/.
 */
#ifndef WEFT_TESTS_FUZZ_H
#define WEFT_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            abort();                                                         \
        }                                                                    \
    } while (0)

struct fz_in {
    const uint8_t *p;
    size_t n, at;
};

static inline unsigned fz_byte(struct fz_in *in)
{
    return in->at < in->n ? in->p[in->at++] : 0;
}

static inline int fz_more(const struct fz_in *in)
{
    return in->at < in->n;
}

#endif
