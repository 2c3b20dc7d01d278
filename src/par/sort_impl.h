/* SPDX-License-Identifier: MIT */
/*
 * src/par/sort_impl.h - the merge sort, instantiated by sort.c once per
 * element size it specialises (SZ a constant there, so that element
 * copies become single moves) and once for any size (SZ = c->size).
 * Defines msort##SFX(c, a, t, n, to_t). Included only by sort.c, with
 * LT(x, y) the order, x strictly before y (c->cmp(x, y) < 0 for the
 * generic instances, an inline comparison for the typed sorts).
 */
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define F(name) CAT(name, SFX)

/* Stable insertion sort of a[0..n). */
static void F(insertion)(const struct sctx *c, char *a, size_t n)
{
    unsigned char x[SZ_MAX_TMP];
    for (size_t i = 1; i < n; i++) {
        char *p = a + i * SZ;
        if (!LT(p, p - SZ))
            continue;
        memcpy(x, p, SZ);
        do {
            memcpy(p, p - SZ, SZ);
            p -= SZ;
        } while (p > a && LT(x, p - SZ));
        memcpy(p, x, SZ);
    }
}

#ifndef WF__SORT_PICK
#define WF__SORT_PICK
/* x if c (0 or 1), else y, without a branch (compilers turn a ?: on a
 * coin-toss condition into a mispredicted jump here). */
static inline const char *pick(const char *x, const char *y, size_t c)
{
    uintptr_t m = (uintptr_t)0 - (uintptr_t)c;
    return (const char *)(((uintptr_t)x & m) | ((uintptr_t)y & ~m));
}
#endif

/* Merge a[0..na) and b[0..nb) into out; equal elements: a's first. */
static void F(merge_ser)(const struct sctx *c, const char *a, size_t na,
                         const char *b, size_t nb, char *out)
{
    if (na && nb && !LT(b, a + (na - 1) * SZ)) { /* already in order */
        memcpy(out, a, na * SZ);
        memcpy(out + na * SZ, b, nb * SZ);
        return;
    }
    if (!na || !nb) {
        memcpy(out, a, na * SZ);
        memcpy(out + na * SZ, b, nb * SZ);
        return;
    }
    /* Two-ended and branch-free. The front takes the smaller head (a's on
     * ties), the back the larger tail (b's on ties): two independent
     * dependency chains instead of one, which is what bounds a merge whose
     * every step waits for a comparison through a function pointer. Which
     * run an element comes from is a coin toss on random input, so the
     * choice is made with conditional moves, not a branch; an exhausted
     * run is never read (its pointer is clamped, its side never chosen).
     * The front makes n / 2 steps, the back the rest: together each
     * element once. */
    size_t ia = 0, ib = 0;   /* the front's next elements */
    size_t ja = na, jb = nb; /* the back's: a[ja - 1], b[jb - 1] */
    size_t n = na + nb, o = 0, to = n;
    for (size_t k = 0; k < n / 2; k++) {
        bool aend = ia == na, bend = ib == nb;
        const char *pa = a + (aend ? na - 1 : ia) * SZ;
        const char *pb = b + (bend ? nb - 1 : ib) * SZ;
        size_t takeb = (size_t)aend | ((size_t)!bend & (size_t)LT(pb, pa));
        memcpy(out + o++ * SZ, pick(pb, pa, takeb), SZ);
        ib += takeb;
        ia += 1 - takeb;

        bool aout = ja == 0, bout = jb == 0;
        const char *qa = a + (aout ? 0 : ja - 1) * SZ;
        const char *qb = b + (bout ? 0 : jb - 1) * SZ;
        size_t takea = (size_t)!aout & ((size_t)bout | (size_t)LT(qb, qa));
        memcpy(out + --to * SZ, pick(qa, qb, takea), SZ);
        ja -= takea;
        jb -= 1 - takea;
    }
    if (o < to) { /* n odd: the middle element */
        bool takeb = ia == na || (ib < nb && LT(b + ib * SZ, a + ia * SZ));
        memcpy(out + o * SZ, takeb ? b + ib * SZ : a + ia * SZ, SZ);
    }
}

/* Serial stable sort of a[0..n) with t[0..n) as scratch; the result ends
 * in t if to_t, else in a. */
static void F(leaf)(const struct sctx *c, char *a, char *t, size_t n, bool to_t)
{
    size_t run = SZ <= SZ_MAX_TMP ? LEAF_RUN : 1;
    for (size_t i = 0; i < n; i += run)
        F(insertion)(c, a + i * SZ, n - i < run ? n - i : run);
    char *src = a, *dst = t;
    for (size_t w = run; w < n; w *= 2) {
        for (size_t i = 0; i < n; i += 2 * w) {
            size_t na = n - i < w ? n - i : w;
            size_t nb = n - i - na < w ? n - i - na : w;
            F(merge_ser)(c, src + i * SZ, na, src + (i + na) * SZ, nb, dst + i * SZ);
        }
        char *x = src;
        src = dst;
        dst = x;
    }
    char *want = to_t ? t : a;
    if (src != want)
        memcpy(want, src, n * SZ);
}

struct F(merge_args) {
    struct wf_task task;
    const struct sctx *c;
    const char *a, *b;
    size_t na, nb;
    char *out;
};

static void F(merge_par)(const struct sctx *c, const char *a, size_t na,
                         const char *b, size_t nb, char *out);

static void F(merge_task)(void *arg)
{
    struct F(merge_args) *m = arg;
    F(merge_par)(m->c, m->a, m->na, m->b, m->nb, m->out);
}

/* Parallel merge: cut the longer run in half, find the matching cut in
 * the other by binary search (lower bound when cutting a, upper bound when
 * cutting b, which keeps a's equal elements first), merge the two pairs
 * side by side. */
static void F(merge_par)(const struct sctx *c, const char *a, size_t na,
                         const char *b, size_t nb, char *out)
{
    if (na + nb <= MERGE_LEAF) {
        F(merge_ser)(c, a, na, b, nb, out);
        return;
    }
    size_t ma, mb;
    if (na >= nb) {
        ma = na / 2;
        size_t lo = 0, hi = nb; /* first b >= a[ma] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (LT(b + mid * SZ, a + ma * SZ))
                lo = mid + 1;
            else
                hi = mid;
        }
        mb = lo;
    } else {
        mb = nb / 2;
        size_t lo = 0, hi = na; /* first a > b[mb] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (!LT(b + mb * SZ, a + mid * SZ))
                lo = mid + 1;
            else
                hi = mid;
        }
        ma = lo;
    }
    struct F(merge_args) r = { .c = c, .a = a + ma * SZ, .na = na - ma,
                               .b = b + mb * SZ, .nb = nb - mb,
                               .out = out + (ma + mb) * SZ };
    struct wf_task_group g;
    wf_task_group_init(&g);
    wf__group_fork_shared(&g, &r.task, F(merge_task), &r);
    F(merge_par)(c, a, ma, b, mb, out);
    wf_task_group_join(&g);
}

struct F(sort_args) {
    struct wf_task task;
    const struct sctx *c;
    char *a, *t;
    size_t n;
    bool to_t;
};

static void F(msort)(const struct sctx *c, char *a, char *t, size_t n, bool to_t);

static void F(sort_task)(void *arg)
{
    struct F(sort_args) *s = arg;
    F(msort)(s->c, s->a, s->t, s->n, s->to_t);
}

/* Sort a[0..n) with t[0..n) as scratch; the result ends in t if to_t. */
static void F(msort)(const struct sctx *c, char *a, char *t, size_t n, bool to_t)
{
    if (n <= SORT_LEAF) {
        F(leaf)(c, a, t, n, to_t);
        return;
    }
    size_t h = n / 2;
    struct F(sort_args) r = { .c = c, .a = a + h * SZ, .t = t + h * SZ,
                              .n = n - h, .to_t = !to_t };
    struct wf_task_group g;
    wf_task_group_init(&g);
    wf__group_fork_shared(&g, &r.task, F(sort_task), &r);
    F(msort)(c, a, t, h, !to_t);
    wf_task_group_join(&g);
    /* The halves are sorted where the result must not be: merge across. */
    const char *src = to_t ? a : t;
    F(merge_par)(c, src, h, src + h * SZ, n - h, to_t ? t : a);
}

#undef F
#undef CAT
#undef CAT2
