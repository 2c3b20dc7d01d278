/* SPDX-License-Identifier: MIT */
/*
 * tools/imgproc/codec.c - image buffers, binary PNM, and the choice of
 * codec by content or by name.
 *
 * The PNM reader trusts nothing: every header number is parsed with an
 * overflow check and a limit, the sample count w * h * c is checked
 * against IMG_MAX_SAMPLES before any multiplication can wrap, and the
 * pixel data must be present in full before anything is allocated, so a
 * tiny file that claims 2^20 x 2^20 pixels is rejected as truncated
 * without a gigabyte allocation. Only maxval 255 is taken: other
 * maxvals (16-bit samples, or scaled 8-bit ones) are refused with their
 * value named, rather than silently rescaled.
 */
#include "img.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int img_alloc(struct img *im, long w, long h, int c, char *err)
{
    im->px = NULL;
    if (w <= 0 || h <= 0) {
        snprintf(err, IMG_ERRLEN, "zero or negative size %ldx%ld", w, h);
        return -1;
    }
    if (w > IMG_MAX_DIM || h > IMG_MAX_DIM ||
        (size_t)w * (size_t)h > IMG_MAX_SAMPLES / (size_t)c) {
        snprintf(err, IMG_ERRLEN,
                 "image too large: %ldx%ld with %d channel(s) (limits: %ld "
                 "per side, %zu samples)",
                 w, h, c, IMG_MAX_DIM, IMG_MAX_SAMPLES);
        return -1;
    }
    im->px = malloc((size_t)w * (size_t)h * (size_t)c);
    if (!im->px) {
        snprintf(err, IMG_ERRLEN, "out of memory for %ldx%ld", w, h);
        return -1;
    }
    im->w = w;
    im->h = h;
    im->c = c;
    return 0;
}

void img_free(struct img *im)
{
    free(im->px);
    im->px = NULL;
}

enum img_format img_format_of_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return IMG_UNKNOWN;
    if (!strcasecmp(dot, ".pnm"))
        return IMG_PNM;
    if (!strcasecmp(dot, ".pgm"))
        return IMG_PGM;
    if (!strcasecmp(dot, ".ppm"))
        return IMG_PPM;
    if (!strcasecmp(dot, ".png"))
        return IMG_PNG;
    return IMG_UNKNOWN;
}

/* ---- PNM ---------------------------------------------------------------- */

static int is_space(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' ||
           ch == '\f';
}

/* Skip whitespace and comments, then read a decimal number of at most
 * limit. */
static int header_number(const uint8_t *buf, size_t len, size_t *pos,
                         long limit, const char *what, long *out, char *err)
{
    size_t p = *pos;
    for (;;) {
        while (p < len && is_space(buf[p]))
            p++;
        if (p < len && buf[p] == '#') {
            while (p < len && buf[p] != '\n' && buf[p] != '\r')
                p++;
            continue;
        }
        break;
    }
    if (p >= len) {
        snprintf(err, IMG_ERRLEN, "truncated PNM header (no %s)", what);
        return -1;
    }
    if (buf[p] < '0' || buf[p] > '9') {
        snprintf(err, IMG_ERRLEN, "bad PNM header: %s is not a number", what);
        return -1;
    }
    long v = 0;
    while (p < len && buf[p] >= '0' && buf[p] <= '9') {
        v = v * 10 + (buf[p] - '0');
        if (v > limit) {
            snprintf(err, IMG_ERRLEN, "bad PNM header: %s too large (over %ld)",
                     what, limit);
            return -1;
        }
        p++;
    }
    *pos = p;
    *out = v;
    return 0;
}

int pnm_decode(const uint8_t *buf, size_t len, struct img *out, char *err)
{
    out->px = NULL;
    if (len < 2 || buf[0] != 'P') {
        snprintf(err, IMG_ERRLEN, "not a PNM file");
        return -1;
    }
    int c;
    if (buf[1] == '5') {
        c = 1;
    } else if (buf[1] == '6') {
        c = 3;
    } else {
        snprintf(err, IMG_ERRLEN,
                 "unsupported PNM type P%c (only binary P5 and P6)",
                 buf[1] >= 0x20 && buf[1] < 0x7f ? buf[1] : '?');
        return -1;
    }
    size_t pos = 2;
    long w, h, maxval;
    if (header_number(buf, len, &pos, IMG_MAX_DIM, "width", &w, err) < 0 ||
        header_number(buf, len, &pos, IMG_MAX_DIM, "height", &h, err) < 0 ||
        header_number(buf, len, &pos, 65535, "maxval", &maxval, err) < 0)
        return -1;
    if (pos >= len) {
        snprintf(err, IMG_ERRLEN, "truncated PNM header (no pixel data)");
        return -1;
    }
    if (!is_space(buf[pos])) {
        snprintf(err, IMG_ERRLEN, "bad PNM header: no whitespace after maxval");
        return -1;
    }
    pos++;
    if (w == 0 || h == 0) {
        snprintf(err, IMG_ERRLEN, "zero image size %ldx%ld", w, h);
        return -1;
    }
    if (maxval != 255) {
        snprintf(err, IMG_ERRLEN,
                 "unsupported PNM maxval %ld (only 255: 8-bit samples)",
                 maxval);
        return -1;
    }
    if ((size_t)w * (size_t)h > IMG_MAX_SAMPLES / (size_t)c) {
        snprintf(err, IMG_ERRLEN, "image too large: %ldx%ld", w, h);
        return -1;
    }
    size_t need = (size_t)w * (size_t)h * (size_t)c;
    if (len - pos < need) {
        snprintf(err, IMG_ERRLEN,
                 "truncated PNM data: %ldx%ld needs %zu bytes, file has %zu", w,
                 h, need, len - pos);
        return -1;
    }
    if (img_alloc(out, w, h, c, err) < 0)
        return -1;
    memcpy(out->px, buf + pos, need);
    return 0;
}

int pnm_encode(const struct img *im, uint8_t **out, size_t *len, char *err)
{
    char head[64];
    int n = snprintf(head, sizeof head, "P%c\n%ld %ld\n255\n",
                     im->c == 1 ? '5' : '6', im->w, im->h);
    size_t data = (size_t)im->w * (size_t)im->h * (size_t)im->c;
    uint8_t *b = malloc((size_t)n + data);
    if (!b) {
        snprintf(err, IMG_ERRLEN, "out of memory");
        return -1;
    }
    memcpy(b, head, (size_t)n);
    memcpy(b + n, im->px, data);
    *out = b;
    *len = (size_t)n + data;
    return 0;
}

/* ---- by content, by name ------------------------------------------------ */

static const uint8_t png_magic[8] = {0x89, 'P',  'N',  'G',
                                     '\r', '\n', 0x1a, '\n'};

int img_decode(const uint8_t *buf, size_t len, struct img *out, char *err)
{
    if (len >= 8 && !memcmp(buf, png_magic, 8))
        return png_decode(buf, len, out, err);
    if (len >= 1 && buf[0] == 'P')
        return pnm_decode(buf, len, out, err);
    out->px = NULL;
    if (len == 0)
        snprintf(err, IMG_ERRLEN, "empty file");
    else
        snprintf(err, IMG_ERRLEN, "unknown image format (not PNG, PGM or PPM)");
    return -1;
}

int img_encode(const struct img *im, enum img_format fmt, uint8_t **out,
               size_t *len, char *err)
{
    struct img tmp = {0, 0, 0, NULL};
    const struct img *use = im;
    int rc;
    if (fmt == IMG_PGM && im->c == 3) {
        if (op_grayscale(im, &tmp, err) < 0)
            return -1;
        use = &tmp;
    } else if (fmt == IMG_PPM && im->c == 1) {
        if (img_alloc(&tmp, im->w, im->h, 3, err) < 0)
            return -1;
        size_t n = (size_t)im->w * (size_t)im->h;
        for (size_t i = 0; i < n; i++)
            tmp.px[3 * i] = tmp.px[3 * i + 1] = tmp.px[3 * i + 2] = im->px[i];
        use = &tmp;
    }
    switch (fmt) {
    case IMG_PNM:
    case IMG_PGM:
    case IMG_PPM:
        rc = pnm_encode(use, out, len, err);
        break;
    case IMG_PNG:
        rc = png_encode(use, out, len, err);
        break;
    default:
        snprintf(err, IMG_ERRLEN,
                 "unknown output format (name must end in .png, .ppm, .pgm or "
                 ".pnm)");
        rc = -1;
        break;
    }
    img_free(&tmp);
    return rc;
}
