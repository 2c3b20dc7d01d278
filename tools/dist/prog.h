/* SPDX-License-Identifier: MIT */
/*
 * tools/dist/prog.h - what weft-heat and weft-mandel share: the FNV-1a
 * hash their output is compared by, and the start-up that runs them
 * either as one rank of an MPI job or (--local) as a plain weft program
 * that never touches MPI.
 */
#ifndef WEFT_TOOLS_DIST_PROG_H
#define WEFT_TOOLS_DIST_PROG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../numarg.h"
#include <weft.h>
#include <weft/dist.h>

/* FNV-1a, 64 bits, over n bytes (continuing from h; start with
 * FNV_SEED). */
#define FNV_SEED 0xcbf29ce484222325ull
static inline uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* A whole number option value, or exit with a message. */
static inline long arg_long(const char *prog, const char *opt, const char *v,
                            long min, long max)
{
    long x;
    if (!v || !numarg_long(v, min, max, &x, NULL)) {
        fprintf(stderr, "%s: %s needs a whole number from %ld to %ld\n", prog,
                opt, min, max);
        exit(2);
    }
    return x;
}

/* Where this process stands: rank and size (0 and 1 with --local). */
struct where {
    int local; /* --local: no MPI at all */
    int rank, size;
};

/* Start MPI unless local; exit with a message on failure. Inside the
 * main fiber. */
static inline void where_init(struct where *w, const char *prog)
{
    if (w->local) {
        w->rank = 0;
        w->size = 1;
        return;
    }
    int err = wf_dist_init(NULL, NULL, NULL);
    if (err < 0) {
        fprintf(stderr, "%s: wf_dist_init: %s\n", prog, wf_strerror(err));
        exit(1);
    }
    w->rank = wf_dist_rank();
    w->size = wf_dist_size();
}

static inline void where_fini(struct where *w, const char *prog)
{
    if (w->local)
        return;
    int err = wf_dist_finalize();
    if (err < 0) {
        fprintf(stderr, "%s: wf_dist_finalize: %s\n", prog, wf_strerror(err));
        exit(1);
    }
}

/* err: the result of the call that started *f. Wait for *f, which must
 * succeed; exit with a message if it does not. (f is read only after the
 * call returned: must(prog, "x", wf_dist_barrier(&f), &f) is fine.) */
static inline void must(const char *prog, const char *what, int err,
                        struct wf_future **f)
{
    if (err == 0) {
        err = wf_future_wait(*f, WF_FOREVER);
        if (err == 0)
            err = wf_future_result(*f, NULL);
        wf_future_release(*f);
    }
    if (err < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, what, wf_strerror(err));
        exit(1);
    }
}

#endif
