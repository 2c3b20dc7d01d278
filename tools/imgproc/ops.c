/* SPDX-License-Identifier: MIT */
/*
 * tools/imgproc/ops.c - the image operations, each split into tiles with
 * wf_parallel_for_2d.
 *
 * Every operation computes each output pixel from the source alone (the
 * blur's second pass from the first pass's buffer, after that pass's
 * loop has returned), so tiles are independent and the result does not
 * depend on the tiling, the worker count or the order tiles run in. Tile
 * sizes are left to the runtime (about rows * cols / (16 * workers)
 * pixels, at most 16384): a pixel here costs from a few ns (grayscale)
 * to a few hundred (a wide blur), and the runtime's choice gives each
 * worker several tiles to balance that.
 *
 * The arithmetic is the one documented in img.h, which the tests'
 * serial references repeat independently. Integer operations are exact;
 * the blur and resize use float in a fixed order of evaluation.
 */
#include "img.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

static int run_tiles(long h, long w, wf_for2d_fn *body, void *ctx, char *err)
{
    int rc = wf_parallel_for_2d(0, h, 0, w, NULL, body, ctx);
    if (rc < 0) {
        snprintf(err, IMG_ERRLEN, "wf_parallel_for_2d: %s", wf_strerror(rc));
        return -1;
    }
    return 0;
}

static inline long clampl(long v, long lo, long hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static inline uint8_t round_u8(float v)
{
    float r = floorf(v + 0.5f);
    return r <= 0.0f ? 0 : r >= 255.0f ? 255 : (uint8_t)r;
}

/* ---- grayscale ---------------------------------------------------------- */

struct gray_ctx {
    const struct img *src;
    struct img *dst;
};

static void gray_tile(long r0, long r1, long c0, long c1, void *arg)
{
    struct gray_ctx *g = arg;
    long w = g->src->w;
    for (long y = r0; y < r1; y++) {
        const uint8_t *s = g->src->px + ((size_t)y * w + c0) * 3;
        uint8_t *d = g->dst->px + (size_t)y * w + c0;
        for (long x = c0; x < c1; x++, s += 3)
            *d++ =
                (uint8_t)((77u * s[0] + 150u * s[1] + 29u * s[2] + 128u) >> 8);
    }
}

int op_grayscale(const struct img *src, struct img *dst, char *err)
{
    if (img_alloc(dst, src->w, src->h, 1, err) < 0)
        return -1;
    if (src->c == 1) {
        memcpy(dst->px, src->px, (size_t)src->w * (size_t)src->h);
        return 0;
    }
    struct gray_ctx g = {src, dst};
    if (run_tiles(src->h, src->w, gray_tile, &g, err) < 0) {
        img_free(dst);
        return -1;
    }
    return 0;
}

/* ---- blur --------------------------------------------------------------- */

struct blur_ctx {
    const struct img *src;
    struct img *dst;
    float *tmp;      /* horizontal pass, w * h * c */
    const float *wt; /* 2r + 1 weights, wt[r] the centre */
    long r;
};

/* Both passes keep, per tile row, one float accumulator per sample of the
 * tile and add the taps to it k-outer (k = -r .. r): each sample still
 * gets its terms in ascending k, as img.h defines, while the inner loop
 * runs over contiguous samples (vectorisable; the columns whose tap falls
 * past an edge are done apart with the clamp). */
static float *tile_acc(long n)
{
    float *acc = malloc(sizeof(float) * (size_t)n);
    if (!acc)
        abort(); /* a few tens of KiB: tiles hold at most 16384 pixels */
    return acc;
}

static void blur_h_tile(long r0, long r1, long c0, long c1, void *arg)
{
    struct blur_ctx *b = arg;
    long w = b->src->w, r = b->r;
    int c = b->src->c;
    long n = (c1 - c0) * c;
    float *acc = tile_acc(n);
    for (long y = r0; y < r1; y++) {
        const uint8_t *row = b->src->px + (size_t)y * w * c;
        for (long i = 0; i < n; i++)
            acc[i] = 0.0f;
        for (long k = -r; k <= r; k++) {
            float wk = b->wt[k + r];
            /* columns x with 0 <= x + k < w: no clamp */
            long x0 = c0 > -k ? c0 : -k, x1 = c1 < w - k ? c1 : w - k;
            if (x0 < x1) {
                float *a = acc + (x0 - c0) * c;
                const uint8_t *s = row + (x0 + k) * c;
                for (long i = 0; i < (x1 - x0) * c; i++)
                    a[i] += wk * (float)s[i];
            } else {
                x0 = x1 = c1;
            }
            for (long x = c0; x < c1; x++) {
                if (x == x0) {
                    x = x1 - 1;
                    continue;
                }
                const uint8_t *s = row + clampl(x + k, 0, w - 1) * c;
                for (int ch = 0; ch < c; ch++)
                    acc[(x - c0) * c + ch] += wk * (float)s[ch];
            }
        }
        memcpy(b->tmp + ((size_t)y * w + c0) * c, acc,
               sizeof(float) * (size_t)n);
    }
    free(acc);
}

static void blur_v_tile(long r0, long r1, long c0, long c1, void *arg)
{
    struct blur_ctx *b = arg;
    long w = b->src->w, h = b->src->h, r = b->r;
    int c = b->src->c;
    long n = (c1 - c0) * c;
    float *acc = tile_acc(n);
    for (long y = r0; y < r1; y++) {
        for (long i = 0; i < n; i++)
            acc[i] = 0.0f;
        for (long k = -r; k <= r; k++) {
            float wk = b->wt[k + r];
            const float *s =
                b->tmp + ((size_t)clampl(y + k, 0, h - 1) * w + c0) * c;
            for (long i = 0; i < n; i++)
                acc[i] += wk * s[i];
        }
        uint8_t *out = b->dst->px + ((size_t)y * w + c0) * c;
        for (long i = 0; i < n; i++)
            out[i] = round_u8(acc[i]);
    }
    free(acc);
}

int op_blur(const struct img *src, struct img *dst, double sigma, char *err)
{
    if (!(sigma > 0.0 && sigma <= 64.0)) {
        snprintf(err, IMG_ERRLEN, "blur: sigma must be in (0, 64]");
        return -1;
    }
    long r = (long)ceil(3.0 * sigma);
    float *wt = malloc(sizeof(float) * (size_t)(2 * r + 1));
    double *wd = malloc(sizeof(double) * (size_t)(2 * r + 1));
    float *tmp = malloc(sizeof(float) * (size_t)src->w * (size_t)src->h *
                        (size_t)src->c);
    int rc = -1;
    if (!wt || !wd || !tmp) {
        snprintf(err, IMG_ERRLEN, "blur: out of memory");
        goto out_free;
    }
    double sum = 0.0;
    for (long k = -r; k <= r; k++) {
        wd[k + r] = exp(-(double)(k * k) / (2.0 * sigma * sigma));
        sum += wd[k + r];
    }
    for (long k = 0; k < 2 * r + 1; k++)
        wt[k] = (float)(wd[k] / sum);
    if (img_alloc(dst, src->w, src->h, src->c, err) < 0)
        goto out_free;
    struct blur_ctx b = {src, dst, tmp, wt, r};
    if (run_tiles(src->h, src->w, blur_h_tile, &b, err) < 0 ||
        run_tiles(src->h, src->w, blur_v_tile, &b, err) < 0) {
        img_free(dst);
        goto out_free;
    }
    rc = 0;
out_free:
    free(tmp);
    free(wd);
    free(wt);
    return rc;
}

/* ---- sobel -------------------------------------------------------------- */

struct k3_ctx {
    const struct img *src;
    struct img *dst;
};

/* floor(sqrt(n)) exactly, for n below 2^31. */
static unsigned isqrt(unsigned n)
{
    unsigned s = (unsigned)sqrt((double)n);
    while (s * s > n)
        s--;
    while ((s + 1) * (s + 1) <= n)
        s++;
    return s;
}

static void sobel_tile(long r0, long r1, long c0, long c1, void *arg)
{
    struct k3_ctx *k = arg;
    long w = k->src->w, h = k->src->h;
    const uint8_t *p = k->src->px;
    for (long y = r0; y < r1; y++) {
        const uint8_t *up = p + (size_t)clampl(y - 1, 0, h - 1) * w;
        const uint8_t *mid = p + (size_t)y * w;
        const uint8_t *dn = p + (size_t)clampl(y + 1, 0, h - 1) * w;
        for (long x = c0; x < c1; x++) {
            long xl = clampl(x - 1, 0, w - 1), xr = clampl(x + 1, 0, w - 1);
            int gx = (up[xr] + 2 * mid[xr] + dn[xr]) -
                     (up[xl] + 2 * mid[xl] + dn[xl]);
            int gy =
                (dn[xl] + 2 * dn[x] + dn[xr]) - (up[xl] + 2 * up[x] + up[xr]);
            unsigned m = isqrt((unsigned)(gx * gx + gy * gy));
            k->dst->px[(size_t)y * w + x] = (uint8_t)(m > 255 ? 255 : m);
        }
    }
}

int op_sobel(const struct img *src, struct img *dst, char *err)
{
    struct img gray = {0, 0, 0, NULL};
    if (src->c == 3) {
        if (op_grayscale(src, &gray, err) < 0)
            return -1;
        src = &gray;
    }
    int rc = -1;
    if (img_alloc(dst, src->w, src->h, 1, err) < 0)
        goto out;
    struct k3_ctx k = {src, dst};
    if (run_tiles(src->h, src->w, sobel_tile, &k, err) < 0) {
        img_free(dst);
        goto out;
    }
    rc = 0;
out:
    img_free(&gray);
    return rc;
}

/* ---- sharpen ------------------------------------------------------------ */

static void sharpen_tile(long r0, long r1, long c0, long c1, void *arg)
{
    struct k3_ctx *k = arg;
    long w = k->src->w, h = k->src->h;
    int c = k->src->c;
    const uint8_t *p = k->src->px;
    for (long y = r0; y < r1; y++) {
        size_t stride = (size_t)w * c;
        const uint8_t *up = p + (size_t)clampl(y - 1, 0, h - 1) * stride;
        const uint8_t *mid = p + (size_t)y * stride;
        const uint8_t *dn = p + (size_t)clampl(y + 1, 0, h - 1) * stride;
        uint8_t *out = k->dst->px + (size_t)y * stride;
        for (long x = c0; x < c1; x++) {
            long xl = clampl(x - 1, 0, w - 1) * c,
                 xr = clampl(x + 1, 0, w - 1) * c;
            long xc = x * c;
            for (int ch = 0; ch < c; ch++) {
                int v = 5 * mid[xc + ch] - up[xc + ch] - dn[xc + ch] -
                        mid[xl + ch] - mid[xr + ch];
                out[xc + ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

int op_sharpen(const struct img *src, struct img *dst, char *err)
{
    if (img_alloc(dst, src->w, src->h, src->c, err) < 0)
        return -1;
    struct k3_ctx k = {src, dst};
    if (run_tiles(src->h, src->w, sharpen_tile, &k, err) < 0) {
        img_free(dst);
        return -1;
    }
    return 0;
}

/* ---- resize ------------------------------------------------------------- */

struct resize_ctx {
    const struct img *src;
    struct img *dst;
};

/* Source coordinate of destination index i (see img.h). */
static void src_coord(long i, long sn, long dn, long *i0, long *i1, float *f)
{
    float s = ((float)i + 0.5f) * (float)sn / (float)dn - 0.5f;
    if (s < 0.0f)
        s = 0.0f;
    if (s > (float)(sn - 1))
        s = (float)(sn - 1);
    long a = (long)floorf(s);
    *i0 = a;
    *i1 = a + 1 < sn ? a + 1 : sn - 1;
    *f = s - (float)a;
}

static void resize_tile(long r0, long r1, long c0, long c1, void *arg)
{
    struct resize_ctx *z = arg;
    const struct img *s = z->src;
    int c = s->c;
    for (long y = r0; y < r1; y++) {
        long y0, y1;
        float fy;
        src_coord(y, s->h, z->dst->h, &y0, &y1, &fy);
        const uint8_t *a = s->px + (size_t)y0 * s->w * c;
        const uint8_t *b = s->px + (size_t)y1 * s->w * c;
        uint8_t *out = z->dst->px + (size_t)y * z->dst->w * c;
        for (long x = c0; x < c1; x++) {
            long x0, x1;
            float fx;
            src_coord(x, s->w, z->dst->w, &x0, &x1, &fx);
            for (int ch = 0; ch < c; ch++) {
                float top = (1.0f - fx) * a[x0 * c + ch] + fx * a[x1 * c + ch];
                float bot = (1.0f - fx) * b[x0 * c + ch] + fx * b[x1 * c + ch];
                out[x * c + ch] = round_u8((1.0f - fy) * top + fy * bot);
            }
        }
    }
}

int op_resize(const struct img *src, struct img *dst, long w, long h, char *err)
{
    if (img_alloc(dst, w, h, src->c, err) < 0)
        return -1;
    struct resize_ctx z = {src, dst};
    if (run_tiles(h, w, resize_tile, &z, err) < 0) {
        img_free(dst);
        return -1;
    }
    return 0;
}
