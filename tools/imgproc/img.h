/* SPDX-License-Identifier: MIT */
/*
 * tools/imgproc/img.h - images, codecs and operations of weft-imgproc.
 *
 * An image is 8-bit, 1 (grey) or 3 (RGB) channels, rows top to bottom,
 * no padding: sample (x, y, ch) is px[(y * w + x) * c + ch].
 *
 * The codecs work on memory buffers and never touch the runtime, so the
 * fuzzers and tests call them directly. They return 0 or -1 with a line
 * of text in err (no trailing newline). The operations split their work
 * with wf_parallel_for_2d; with no runtime running they run serially with
 * the same results.
 */
#ifndef WEFT_TOOLS_IMGPROC_IMG_H
#define WEFT_TOOLS_IMGPROC_IMG_H

#include <stddef.h>
#include <stdint.h>

/* Largest width or height, and largest number of samples (w * h * c),
 * the codecs accept: 2^20 and 2^30 (1 GiB). */
#define IMG_MAX_DIM (1L << 20)
#ifndef IMG_MAX_SAMPLES /* the fuzz targets set a smaller one */
#define IMG_MAX_SAMPLES ((size_t)1 << 30)
#endif

#define IMG_ERRLEN 256

struct img {
    long w, h;
    int c; /* 1 or 3 */
    uint8_t *px;
};

/* Allocate px for w x h x c; -1 with err set on a size out of range or
 * no memory. */
int img_alloc(struct img *im, long w, long h, int c, char *err);
void img_free(struct img *im);

enum img_format { IMG_PNM, IMG_PGM, IMG_PPM, IMG_PNG, IMG_UNKNOWN };

/* The format a file name asks for by its extension (case-insensitive):
 * .pnm, .pgm, .ppm, .png; IMG_UNKNOWN otherwise. */
enum img_format img_format_of_name(const char *name);

/* Binary PGM (P5) / PPM (P6), maxval 255. Comments (# to end of line)
 * may stand anywhere whitespace may in the header. */
int pnm_decode(const uint8_t *buf, size_t len, struct img *out, char *err);
/* P5 when c == 1, P6 when c == 3; *out is malloc'ed. */
int pnm_encode(const struct img *im, uint8_t **out, size_t *len, char *err);

/* 1 when weft-imgproc was built with libpng. */
extern const int img_have_png;
/* PNG of any bit depth and colour type: 16-bit samples keep their high
 * byte, palettes are expanded, alpha is dropped (composited onto
 * nothing: the colour channels are kept as they are). */
int png_decode(const uint8_t *buf, size_t len, struct img *out, char *err);
int png_encode(const struct img *im, uint8_t **out, size_t *len, char *err);

/* Decode by content (the magic bytes), whatever the name says. */
int img_decode(const uint8_t *buf, size_t len, struct img *out, char *err);
/* Encode as fmt asks: IMG_PGM converts to grey, IMG_PPM replicates grey to
 * RGB, IMG_PNM and IMG_PNG keep the channels. */
int img_encode(const struct img *im, enum img_format fmt, uint8_t **out,
               size_t *len, char *err);

/* ---- operations ---------------------------------------------------------
 * Each takes src and fills a new *dst (allocated here); src is untouched.
 * Return 0, or -1 with err set. */

/* Y = (77 R + 150 G + 29 B + 128) >> 8, exact integers (weights sum to
 * 256). A grey image is copied. */
int op_grayscale(const struct img *src, struct img *dst, char *err);

/* Separable Gaussian, sigma in (0, 64]. Radius r = ceil(3 sigma);
 * weights w[k] = exp(-k^2 / (2 sigma^2)) for k = -r..r in double, divided
 * by their sum (in double, k ascending) and stored as float. Horizontal
 * pass into a float buffer, then vertical pass; each sample is the float
 * sum over k ascending of w[k] * sample at clamp(i + k); the result is
 * floor(v + 0.5) clamped to 0..255. */
int op_blur(const struct img *src, struct img *dst, double sigma, char *err);

/* Sobel gradient magnitude of the grey image (op_grayscale first when
 * RGB): Gx = [-1 0 1; -2 0 2; -1 0 1], Gy its transpose, edges clamped,
 * out = min(255, floor(sqrt(Gx^2 + Gy^2))) in exact integers. */
int op_sobel(const struct img *src, struct img *dst, char *err);

/* Bilinear resize to w x h (1 .. IMG_MAX_DIM), pixel centres aligned:
 * sx = (x + 0.5) * sw / w - 0.5 clamped to [0, sw - 1], x0 = floor(sx),
 * x1 = min(x0 + 1, sw - 1), fx = sx - x0 (likewise y), all in float;
 * v = (1 - fy) * ((1 - fx) p00 + fx p01) + fy * ((1 - fx) p10 + fx p11),
 * out = floor(v + 0.5) clamped to 0..255. */
int op_resize(const struct img *src, struct img *dst, long w, long h,
              char *err);

/* 3x3 sharpening kernel [0 -1 0; -1 5 -1; 0 -1 0] per channel, edges
 * clamped, result clamped to 0..255: exact integers. */
int op_sharpen(const struct img *src, struct img *dst, char *err);

#endif
