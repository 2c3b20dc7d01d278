/* SPDX-License-Identifier: MIT */
/*
 * wf_parallel_sort, wf_parallel_sort_stable: merge sort with parallel
 * merges.
 *
 * msort(a, t, n, to_t) sorts the two halves in parallel, each leaving its
 * result in the buffer the merge reads from, and merges them into the
 * buffer the caller wants, so that every level moves the data once
 * (ping-pong between the array and one scratch array of the same size).
 * Leaves of SORT_LEAF elements are sorted serially (insertion sort of runs
 * of 16, then bottom-up merges). Merges of more than MERGE_LEAF elements
 * are split by binary search (see sort_impl.h), so the top merge does not
 * run on one worker: without that the span would be O(n) and two cores
 * could not beat a good serial sort by much.
 *
 * The code is instantiated for element sizes 4, 8 and 16 with the size a
 * constant (element copies become moves instead of memcpy calls), once
 * for any size, and for the typed sorts (wf_parallel_sort_u64 ...) with
 * the comparison inline: a merge step then costs a few instructions
 * instead of a call through a pointer, which is what the generic sort
 * spends most of its time on. Both entry points are stable; a faster unstable sort
 * (samplesort) could replace wf_parallel_sort later. The structure of the
 * recursion is fixed by n, so the output never depends on timing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/fault.h"
#include "par_int.h"

#define SORT_LEAF 2048
#define LEAF_RUN 16    /* insertion-sorted runs a leaf starts from (8, 1: slower) */
#define MERGE_LEAF 4096
#define SZ_MAX_TMP 256 /* largest element the insertion sort copies aside */

struct sctx {
    wf_cmp_fn *cmp;
    size_t size;
};

#define LT(x, y) (c->cmp(x, y) < 0)
#define SFX _4
#define SZ ((size_t)4)
#include "sort_impl.h"
#undef SFX
#undef SZ
#define SFX _8
#define SZ ((size_t)8)
#include "sort_impl.h"
#undef SFX
#undef SZ
#define SFX _16
#define SZ ((size_t)16)
#include "sort_impl.h"
#undef SFX
#undef SZ
#define SFX _any
#define SZ (c->size)
#include "sort_impl.h"
#undef SFX
#undef SZ
#undef LT

/* Typed sorts: the comparison inline, no call per step. */
#define TYPED(T, name)                                                    \
    static inline int name(const void *x, const void *y)                 \
    {                                                                     \
        T a, b;                                                           \
        memcpy(&a, x, sizeof a);                                          \
        memcpy(&b, y, sizeof b);                                          \
        return (a > b) - (a < b);                                         \
    }                                                                     \
    static inline bool lt_##name(const void *x, const void *y)            \
    {                                                                     \
        T a, b;                                                           \
        memcpy(&a, x, sizeof a);                                          \
        memcpy(&b, y, sizeof b);                                          \
        return a < b;                                                     \
    }
TYPED(uint64_t, cmp_u64)
TYPED(int64_t, cmp_i64)
TYPED(uint32_t, cmp_u32)
TYPED(int32_t, cmp_i32)
#define LT(x, y) lt_cmp_u64(x, y)
#define SFX _u64
#define SZ ((size_t)8)
#include "sort_impl.h"
#undef SFX
#undef SZ
#undef LT
#define LT(x, y) lt_cmp_i64(x, y)
#define SFX _i64
#define SZ ((size_t)8)
#include "sort_impl.h"
#undef SFX
#undef SZ
#undef LT
#define LT(x, y) lt_cmp_u32(x, y)
#define SFX _u32
#define SZ ((size_t)4)
#include "sort_impl.h"
#undef SFX
#undef SZ
#undef LT
#define LT(x, y) lt_cmp_i32(x, y)
#define SFX _i32
#define SZ ((size_t)4)
#include "sort_impl.h"
#undef SFX
#undef SZ
#undef LT

enum { K_CMP, K_U64, K_I64, K_U32, K_I32 };

struct sort_root {
    struct sctx c;
    char *a, *t;
    size_t n;
    int kind;
};

static void sort_root(void *arg)
{
    struct sort_root *r = arg;
    switch (r->kind) {
    case K_U64:
        msort_u64(&r->c, r->a, r->t, r->n, false);
        return;
    case K_I64:
        msort_i64(&r->c, r->a, r->t, r->n, false);
        return;
    case K_U32:
        msort_u32(&r->c, r->a, r->t, r->n, false);
        return;
    case K_I32:
        msort_i32(&r->c, r->a, r->t, r->n, false);
        return;
    }
    switch (r->c.size) {
    case 4:
        msort_4(&r->c, r->a, r->t, r->n, false);
        break;
    case 8:
        msort_8(&r->c, r->a, r->t, r->n, false);
        break;
    case 16:
        msort_16(&r->c, r->a, r->t, r->n, false);
        break;
    default:
        msort_any(&r->c, r->a, r->t, r->n, false);
        break;
    }
}

static int sort_kind(void *base, size_t n, size_t size, wf_cmp_fn *cmp, int kind)
{
    if (size == 0 || !cmp || (!base && n > 0))
        return WF_EINVAL;
    if (n < 2)
        return 0;
    if (n > SIZE_MAX / size)
        return WF_EINVAL;
    struct sort_root r = { .c = { .cmp = cmp, .size = size }, .a = base, .n = n,
                           .kind = kind };
    r.t = wf__malloc(n * size);
    if (!r.t)
        return WF_ENOMEM;
    int err = wf_par_run(sort_root, &r);
    free(r.t);
    return err;
}

int wf_parallel_sort_stable(void *base, size_t n, size_t size, wf_cmp_fn *cmp)
{
    return sort_kind(base, n, size, cmp, K_CMP);
}

int wf_parallel_sort(void *base, size_t n, size_t size, wf_cmp_fn *cmp)
{
    return sort_kind(base, n, size, cmp, K_CMP);
}

int wf_parallel_sort_u64(uint64_t *v, size_t n)
{
    return sort_kind(v, n, 8, cmp_u64, K_U64);
}

int wf_parallel_sort_i64(int64_t *v, size_t n)
{
    return sort_kind(v, n, 8, cmp_i64, K_I64);
}

int wf_parallel_sort_u32(uint32_t *v, size_t n)
{
    return sort_kind(v, n, 4, cmp_u32, K_U32);
}

int wf_parallel_sort_i32(int32_t *v, size_t n)
{
    return sort_kind(v, n, 4, cmp_i32, K_I32);
}
