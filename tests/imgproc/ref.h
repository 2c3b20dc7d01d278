/* SPDX-License-Identifier: MIT */
/*
 * tests/imgproc/ref.h - straightforward serial references of
 * weft-imgproc's operations, written from the definitions in
 * tools/imgproc/img.h and not from its code: one pixel at a time, a
 * clamp helper for every neighbour, no tiles, no buffers shared between
 * passes but the one the blur's definition names. Plus test images and a
 * minimal PNM writer and reader of the test's own.
 *
 * Tolerances: grayscale, sobel and sharpen are integer arithmetic and
 * must match bit for bit. blur and resize are float; the definition fixes
 * the order of evaluation, so they are expected to match exactly too,
 * but a sample may differ by 1 (a rounding tie decided differently by a
 * compiler's evaluation), and that is all we accept.
 */
#ifndef WEFT_TESTS_IMGPROC_REF_H
#define WEFT_TESTS_IMGPROC_REF_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_FLOAT_TOLERANCE 1

struct rimg {
    long w, h;
    int c;
    uint8_t *p;
};

static inline struct rimg rimg_new(long w, long h, int c)
{
    struct rimg r = {w, h, c, calloc((size_t)(w * h * c), 1)};
    if (!r.p)
        abort();
    return r;
}

static inline uint8_t *rpx(const struct rimg *r, long x, long y)
{
    return r->p + (y * r->w + x) * r->c;
}

static inline long rclamp(long v, long lo, long hi)
{
    if (v < lo)
        return lo;
    if (v > hi)
        return hi;
    return v;
}

/* A test image: smooth gradients, a few hard edges and noise from a
 * xorshift generator seeded by seed, so every operation sees both flat
 * areas and extremes (0 and 255 appear). */
static inline struct rimg ref_generate(long w, long h, int c, uint32_t seed)
{
    struct rimg r = rimg_new(w, h, c);
    uint32_t s = seed * 2654435761u + 1;
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                long v = (x * 255) / (w > 1 ? w - 1 : 1) / 2 +
                         (y * 255) / (h > 1 ? h - 1 : 1) / 2;
                if ((x / 5 + y / 3 + ch) % 4 == 0)
                    v = 255 - v;
                if (s % 7 == 0)
                    v = (s >> 8) % 256;
                if (s % 29 == 0)
                    v = (s & 1) ? 255 : 0;
                rpx(&r, x, y)[ch] = (uint8_t)rclamp(v, 0, 255);
            }
    return r;
}

static inline struct rimg ref_grayscale(const struct rimg *s)
{
    struct rimg d = rimg_new(s->w, s->h, 1);
    for (long y = 0; y < s->h; y++)
        for (long x = 0; x < s->w; x++) {
            const uint8_t *p = rpx(s, x, y);
            if (s->c == 1)
                d.p[y * s->w + x] = p[0];
            else
                d.p[y * s->w + x] =
                    (uint8_t)((77 * p[0] + 150 * p[1] + 29 * p[2] + 128) / 256);
        }
    return d;
}

static inline uint8_t ref_round(float v)
{
    float r = floorf(v + 0.5f);
    if (r < 0.0f)
        return 0;
    if (r > 255.0f)
        return 255;
    return (uint8_t)r;
}

static inline struct rimg ref_blur(const struct rimg *s, double sigma)
{
    long r = (long)ceil(3.0 * sigma);
    long n = 2 * r + 1;
    double *wd = malloc(sizeof(double) * (size_t)n);
    float *wt = malloc(sizeof(float) * (size_t)n);
    float *mid = malloc(sizeof(float) * (size_t)(s->w * s->h * s->c));
    double sum = 0;
    for (long i = 0; i < n; i++) {
        double k = (double)(i - r);
        wd[i] = exp(-(k * k) / (2.0 * sigma * sigma));
        sum += wd[i];
    }
    for (long i = 0; i < n; i++)
        wt[i] = (float)(wd[i] / sum);
    struct rimg d = rimg_new(s->w, s->h, s->c);
    for (long y = 0; y < s->h; y++)
        for (long x = 0; x < s->w; x++)
            for (int ch = 0; ch < s->c; ch++) {
                float a = 0;
                for (long i = 0; i < n; i++)
                    a += wt[i] *
                         (float)rpx(s, rclamp(x + i - r, 0, s->w - 1), y)[ch];
                mid[(y * s->w + x) * s->c + ch] = a;
            }
    for (long y = 0; y < s->h; y++)
        for (long x = 0; x < s->w; x++)
            for (int ch = 0; ch < s->c; ch++) {
                float a = 0;
                for (long i = 0; i < n; i++)
                    a +=
                        wt[i] *
                        mid[(rclamp(y + i - r, 0, s->h - 1) * s->w + x) * s->c +
                            ch];
                rpx(&d, x, y)[ch] = ref_round(a);
            }
    free(mid);
    free(wt);
    free(wd);
    return d;
}

static inline struct rimg ref_sobel(const struct rimg *src)
{
    struct rimg g = ref_grayscale(src);
    struct rimg d = rimg_new(g.w, g.h, 1);
    static const int kx[3][3] = {{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}};
    for (long y = 0; y < g.h; y++)
        for (long x = 0; x < g.w; x++) {
            long gx = 0, gy = 0;
            for (int j = -1; j <= 1; j++)
                for (int i = -1; i <= 1; i++) {
                    long v = *rpx(&g, rclamp(x + i, 0, g.w - 1),
                                  rclamp(y + j, 0, g.h - 1));
                    gx += kx[j + 1][i + 1] * v;
                    gy += kx[i + 1][j + 1] * v; /* the transpose */
                }
            long m2 = gx * gx + gy * gy, m = 0;
            while ((m + 1) * (m + 1) <= m2) /* floor(sqrt), by counting */
                m++;
            d.p[y * g.w + x] = (uint8_t)(m > 255 ? 255 : m);
        }
    free(g.p);
    return d;
}

static inline struct rimg ref_sharpen(const struct rimg *s)
{
    struct rimg d = rimg_new(s->w, s->h, s->c);
    for (long y = 0; y < s->h; y++)
        for (long x = 0; x < s->w; x++)
            for (int ch = 0; ch < s->c; ch++) {
                long v = 5 * rpx(s, x, y)[ch] -
                         rpx(s, x, rclamp(y - 1, 0, s->h - 1))[ch] -
                         rpx(s, x, rclamp(y + 1, 0, s->h - 1))[ch] -
                         rpx(s, rclamp(x - 1, 0, s->w - 1), y)[ch] -
                         rpx(s, rclamp(x + 1, 0, s->w - 1), y)[ch];
                rpx(&d, x, y)[ch] = (uint8_t)rclamp(v, 0, 255);
            }
    return d;
}

static inline void ref_coord(long i, long sn, long dn, long *a, long *b,
                             float *f)
{
    float s = ((float)i + 0.5f) * (float)sn / (float)dn - 0.5f;
    s = s < 0.0f ? 0.0f : s;
    s = s > (float)(sn - 1) ? (float)(sn - 1) : s;
    *a = (long)floorf(s);
    *b = rclamp(*a + 1, 0, sn - 1);
    *f = s - (float)*a;
}

static inline struct rimg ref_resize(const struct rimg *s, long w, long h)
{
    struct rimg d = rimg_new(w, h, s->c);
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++) {
            long x0, x1, y0, y1;
            float fx, fy;
            ref_coord(x, s->w, w, &x0, &x1, &fx);
            ref_coord(y, s->h, h, &y0, &y1, &fy);
            for (int ch = 0; ch < s->c; ch++) {
                float top =
                    (1.0f - fx) * rpx(s, x0, y0)[ch] + fx * rpx(s, x1, y0)[ch];
                float bot =
                    (1.0f - fx) * rpx(s, x0, y1)[ch] + fx * rpx(s, x1, y1)[ch];
                rpx(&d, x, y)[ch] = ref_round((1.0f - fy) * top + fy * bot);
            }
        }
    return d;
}

/* The largest difference between two samples of a and b, or 1000 when
 * their shapes differ. */
static inline int ref_maxdiff(const struct rimg *a, long w, long h, int c,
                              const uint8_t *b)
{
    if (a->w != w || a->h != h || a->c != c)
        return 1000;
    int m = 0;
    for (long i = 0; i < w * h * c; i++) {
        int d = abs((int)a->p[i] - (int)b[i]);
        m = d > m ? d : m;
    }
    return m;
}

/* ---- the test's own PNM files ------------------------------------------ */

static inline int ref_write_pnm(const char *path, const struct rimg *r)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fprintf(f, "P%c\n%ld %ld\n255\n", r->c == 1 ? '5' : '6', r->w, r->h);
    fwrite(r->p, 1, (size_t)(r->w * r->h * r->c), f);
    return fclose(f);
}

/* Reads what weft-imgproc writes: "P5|P6\nW H\n255\n" then data. */
static inline int ref_read_pnm(const char *path, struct rimg *r)
{
    FILE *f = fopen(path, "rb");
    char t;
    long w, h, maxval;
    if (!f)
        return -1;
    if (fscanf(f, "P%c %ld %ld %ld", &t, &w, &h, &maxval) != 4 ||
        maxval != 255 || (t != '5' && t != '6') || fgetc(f) != '\n') {
        fclose(f);
        return -1;
    }
    *r = rimg_new(w, h, t == '5' ? 1 : 3);
    size_t n = (size_t)(w * h * r->c);
    int rc = fread(r->p, 1, n, f) == n && fgetc(f) == EOF ? 0 : -1;
    fclose(f);
    return rc;
}

#endif
