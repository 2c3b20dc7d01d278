/* SPDX-License-Identifier: MIT */
/*
 * tests/imgproc/test_ops.c - weft-imgproc's operations and codecs in
 * process: every operation against the serial reference of ref.h on
 * generated images of odd shapes (1x1, 1xN, Nx1, primes), grey and RGB,
 * run on 4 workers (tiles spread over them) and with no runtime (serial);
 * the codecs on round trips, header comments, and malformed input
 * truncated at every length and with bytes flipped.
 */
#include "img.h"
#include "ref.h"
#include "wtest.h"
#include "wtest_rt.h"

#include <weft.h>

static const long shapes[][2] = {{1, 1},  {1, 17},  {17, 1},  {2, 2},  {13, 7},
                                 {7, 13}, {97, 89}, {64, 48}, {257, 3}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

enum which { GRAY, BLUR, SOBEL, SHARPEN, RESIZE };

struct opcase {
    enum which op;
    double sigma;
    long rw, rh;
};

/* Run one operation of the tool on every shape, grey and RGB, and compare
 * with the reference. Called in a fiber (tiles on the workers) or with no
 * runtime (serial). */
static void check_op(const struct opcase *oc)
{
    for (size_t i = 0; i < NSHAPES; i++)
        for (int c = 1; c <= 3; c += 2) {
            long w = shapes[i][0], h = shapes[i][1];
            struct rimg src = ref_generate(w, h, c, (uint32_t)(i * 7 + c));
            struct img in = {w, h, c, src.p}, out = {0, 0, 0, NULL};
            char err[IMG_ERRLEN] = "";
            struct rimg want;
            int rc, tol = 0;
            switch (oc->op) {
            case GRAY:
                rc = op_grayscale(&in, &out, err);
                want = ref_grayscale(&src);
                break;
            case BLUR:
                rc = op_blur(&in, &out, oc->sigma, err);
                want = ref_blur(&src, oc->sigma);
                tol = REF_FLOAT_TOLERANCE;
                break;
            case SOBEL:
                rc = op_sobel(&in, &out, err);
                want = ref_sobel(&src);
                break;
            case SHARPEN:
                rc = op_sharpen(&in, &out, err);
                want = ref_sharpen(&src);
                break;
            default:
                rc = op_resize(&in, &out, oc->rw, oc->rh, err);
                want = ref_resize(&src, oc->rw, oc->rh);
                tol = REF_FLOAT_TOLERANCE;
                break;
            }
            if (rc != 0)
                WT_FAIL("%ldx%ldx%d: %s", w, h, c, err);
            int d = ref_maxdiff(&want, out.w, out.h, out.c, out.px);
            if (d > tol)
                WT_FAIL("op %d on %ldx%ldx%d: differs from the reference by %d "
                        "(tolerance %d)",
                        (int)oc->op, w, h, c, d, tol);
            img_free(&out);
            free(want.p);
            free(src.p);
        }
}

static void *op_fiber(void *arg)
{
    const struct opcase *list = arg;
    for (; list->op != (enum which) - 1; list++)
        check_op(list);
    return NULL;
}

static void check_ops(const struct opcase *list)
{
    run_main(4, op_fiber, (void *)list); /* tiles on 4 workers */
    op_fiber((void *)list);              /* no runtime: serial */
}

#define END                       \
    {                             \
        (enum which) - 1, 0, 0, 0 \
    }

WT_CASE(grayscale_matches_reference)
{
    const struct opcase l[] = {{GRAY, 0, 0, 0}, END};
    check_ops(l);
}

WT_CASE(blur_matches_reference)
{
    const struct opcase l[] = {{BLUR, 0.4, 0, 0},
                               {BLUR, 1.0, 0, 0},
                               {BLUR, 2.3, 0, 0},
                               {BLUR, 7.0, 0, 0},
                               END};
    check_ops(l);
}

WT_CASE(sobel_matches_reference)
{
    const struct opcase l[] = {{SOBEL, 0, 0, 0}, END};
    check_ops(l);
}

WT_CASE(sharpen_matches_reference)
{
    const struct opcase l[] = {{SHARPEN, 0, 0, 0}, END};
    check_ops(l);
}

WT_CASE(resize_matches_reference)
{
    const struct opcase l[] = {{RESIZE, 0, 1, 1},
                               {RESIZE, 0, 1, 31},
                               {RESIZE, 0, 31, 1},
                               {RESIZE, 0, 13, 7},
                               {RESIZE, 0, 200, 3},
                               {RESIZE, 0, 101, 97},
                               END};
    check_ops(l);
}

WT_CASE(blur_rejects_bad_sigma)
{
    struct rimg src = ref_generate(5, 5, 1, 1);
    struct img in = {5, 5, 1, src.p}, out;
    char err[IMG_ERRLEN] = "";
    WT_CHECK_EQ(op_blur(&in, &out, 0.0, err), -1);
    WT_CHECK(strstr(err, "sigma") != NULL);
    WT_CHECK_EQ(op_blur(&in, &out, 1000.0, err), -1);
    WT_CHECK_EQ(op_blur(&in, &out, NAN, err), -1);
    free(src.p);
}

/* ---- codecs ------------------------------------------------------------- */

static void roundtrip(enum img_format fmt, long w, long h, int c)
{
    struct rimg src = ref_generate(w, h, c, 3);
    struct img in = {w, h, c, src.p}, back;
    uint8_t *buf;
    size_t len;
    char err[IMG_ERRLEN] = "";
    if (img_encode(&in, fmt, &buf, &len, err) < 0)
        WT_FAIL("encode %ldx%ldx%d: %s", w, h, c, err);
    if (img_decode(buf, len, &back, err) < 0)
        WT_FAIL("decode %ldx%ldx%d: %s", w, h, c, err);
    WT_CHECK_EQ(ref_maxdiff(&src, back.w, back.h, back.c, back.px), 0);
    img_free(&back);
    free(buf);
    free(src.p);
}

WT_CASE(pnm_roundtrip)
{
    for (size_t i = 0; i < NSHAPES; i++) {
        roundtrip(IMG_PNM, shapes[i][0], shapes[i][1], 1);
        roundtrip(IMG_PNM, shapes[i][0], shapes[i][1], 3);
    }
}

WT_CASE(png_roundtrip)
{
    if (!img_have_png)
        WT_SKIP("built without libpng");
    for (size_t i = 0; i < NSHAPES; i++) {
        roundtrip(IMG_PNG, shapes[i][0], shapes[i][1], 1);
        roundtrip(IMG_PNG, shapes[i][0], shapes[i][1], 3);
    }
}

static int decode_str(const char *s, size_t len, struct img *out, char *err)
{
    return pnm_decode((const uint8_t *)s, len, out, err);
}

WT_CASE(pnm_header_comments_and_whitespace)
{
    static const char f[] =
        "P6 # a comment\n#another\n 2\t# w\n1\r\n#maxval next\n255\nabcdef";
    struct img im;
    char err[IMG_ERRLEN] = "";
    if (decode_str(f, sizeof f - 1, &im, err) < 0)
        WT_FAIL("%s", err);
    WT_CHECK_EQ(im.w, 2);
    WT_CHECK_EQ(im.h, 1);
    WT_CHECK_EQ(im.c, 3);
    WT_CHECK(memcmp(im.px, "abcdef", 6) == 0);
    img_free(&im);
}

/* Each malformed header fails with a message containing `want`. */
WT_CASE(pnm_bad_headers)
{
    static const struct {
        const char *file, *want;
    } bad[] = {
        {"", "not a PNM"},
        {"P", "not a PNM"},
        {"P3 1 1 255 0 0 0", "unsupported PNM type P3"},
        {"P7 1 1 255 x", "unsupported"},
        {"P6", "truncated"},
        {"P6 2", "truncated"},
        {"P6 2 2", "truncated"},
        {"P6 2 2 255", "truncated"},
        {"P6 2 2 255 abc", "truncated PNM data"},
        {"P6 x 2 255 abc", "not a number"},
        {"P6 -2 2 255 abc", "not a number"},
        {"P5 0 5 255 ", "zero"},
        {"P5 5 0 255 ", "zero"},
        {"P5 1 1 65535 ab", "maxval 65535"},
        {"P5 1 1 15 a", "maxval 15"},
        {"P5 1 1 0 a", "maxval 0"},
        {"P5 1 1 99999 a", "maxval too large"},
        {"P6 1048576 1048576 255 abc", "too large"},
        {"P6 1048577 1 255 abc", "width too large"},
        {"P6 99999999999999999999999 1 255 abc", "width too large"},
        {"P5 1 1 255", "truncated"},
        {"P5 1 1 255x", "no whitespace"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct img im = {0, 0, 0, (uint8_t *)1};
        char err[IMG_ERRLEN] = "";
        if (decode_str(bad[i].file, strlen(bad[i].file), &im, err) != -1)
            WT_FAIL("'%s' was accepted", bad[i].file);
        WT_CHECK(im.px == NULL);
        if (!strstr(err, bad[i].want))
            WT_FAIL("'%s': message '%s' lacks '%s'", bad[i].file, err,
                    bad[i].want);
    }
}

/* Decode every prefix of a valid file, and the file with each byte (of
 * the first 4096) flipped: each attempt succeeds or fails with a message,
 * never crashes (ASan runs this too). */
static void mangle(enum img_format fmt, long w, long h, int c)
{
    struct rimg src = ref_generate(w, h, c, 9);
    struct img in = {w, h, c, src.p}, out;
    uint8_t *buf;
    size_t len;
    char err[IMG_ERRLEN];
    if (img_encode(&in, fmt, &buf, &len, err) < 0)
        WT_FAIL("encode: %s", err);
    for (size_t n = 0; n < len; n++) {
        err[0] = 0;
        if (img_decode(buf, n, &out, err) == 0)
            WT_FAIL("a %zu-byte prefix of a %zu-byte file was accepted", n,
                    len);
        WT_CHECK(out.px == NULL && err[0] != 0);
    }
    uint8_t *copy = malloc(len);
    for (size_t i = 0; i < len && i < 4096; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(copy, buf, len);
            copy[i] ^= (uint8_t)(1u << bit);
            err[0] = 0;
            if (img_decode(copy, len, &out, err) == 0)
                img_free(&out);
            else
                WT_CHECK(out.px == NULL && err[0] != 0);
        }
    free(copy);
    free(buf);
    free(src.p);
}

WT_CASE(pnm_truncated_and_flipped)
{
    mangle(IMG_PNM, 13, 7, 3);
    mangle(IMG_PNM, 1, 1, 1);
}

WT_CASE(png_truncated_and_flipped)
{
    if (!img_have_png)
        WT_SKIP("built without libpng");
    mangle(IMG_PNG, 13, 7, 3);
    mangle(IMG_PNG, 97, 89, 1);
}

/* A PNG whose IHDR claims 2^31-1 x 2^31-1 (with a correct CRC), and one
 * just over the tool's limit: refused before any allocation. */
static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

WT_CASE(png_absurd_dimensions)
{
    if (!img_have_png)
        WT_SKIP("built without libpng");
    static const uint32_t dims[][2] = {{0x7fffffffu, 0x7fffffffu},
                                       {(1u << 20) + 1, 1},
                                       {1, (1u << 20) + 1},
                                       {0, 5},
                                       {1u << 20, 1u << 20},
                                       /* within the limits, but 2^28 RGB
                                        * pixels from a 57-byte file */
                                       {1u << 20, 256}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        /* signature, IHDR, an empty IDAT (so that the header is read
         * to the end), IEND */
        uint8_t f[8 + 25 + 12 + 12] = {0x89, 'P',  'N',  'G',
                                       '\r', '\n', 0x1a, '\n'};
        put32(f + 8, 13);
        memcpy(f + 12, "IHDR", 4);
        put32(f + 16, dims[i][0]);
        put32(f + 20, dims[i][1]);
        f[24] = 8; /* depth */
        f[25] = 2; /* RGB */
        put32(f + 29, crc32_of(f + 12, 17));
        put32(f + 33, 0);
        memcpy(f + 37, "IDAT", 4);
        put32(f + 41, crc32_of(f + 37, 4));
        put32(f + 45, 0);
        memcpy(f + 49, "IEND", 4);
        put32(f + 53, crc32_of(f + 49, 4));
        struct img im;
        char err[IMG_ERRLEN] = "";
        WT_CHECK_EQ(img_decode(f, sizeof f, &im, err), -1);
        WT_CHECK(im.px == NULL);
        WT_CHECK(err[0] != 0);
        if (i == 5 && !strstr(err, "too small"))
            WT_FAIL("%ux%u: '%s'", dims[i][0], dims[i][1], err);
    }
}

/* ---- PNGs of every colour type, made here ------------------------------
 * A PNG with the pixel data in stored (uncompressed) deflate blocks, so the
 * test can write any colour type, depth and chunk by hand. */
struct pngbuf {
    uint8_t b[8192];
    size_t n;
};

static void chunk(struct pngbuf *p, const char *type, const uint8_t *d,
                  size_t n)
{
    put32(p->b + p->n, (uint32_t)n);
    memcpy(p->b + p->n + 4, type, 4);
    if (n)
        memcpy(p->b + p->n + 8, d, n);
    put32(p->b + p->n + 8 + n, crc32_of(p->b + p->n + 4, n + 4));
    p->n += 12 + n;
}

/* raw: the filtered rows (filter byte 0 first in each), at most 60000. */
static void make_png(struct pngbuf *p, uint32_t w, uint32_t h, int depth,
                     int ctype, const uint8_t *plte, size_t nplte,
                     const uint8_t *trns, size_t ntrns, const uint8_t *raw,
                     size_t nraw)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(p->b, sig, 8);
    p->n = 8;
    uint8_t ihdr[13] = {0};
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)ctype;
    chunk(p, "IHDR", ihdr, 13);
    if (plte)
        chunk(p, "PLTE", plte, nplte);
    if (trns)
        chunk(p, "tRNS", trns, ntrns);
    uint8_t z[4096];
    size_t zn = 0;
    z[zn++] = 0x78; /* zlib: deflate, 32K window */
    z[zn++] = 0x01;
    z[zn++] = 0x01; /* final stored block */
    z[zn++] = (uint8_t)nraw;
    z[zn++] = (uint8_t)(nraw >> 8);
    z[zn++] = (uint8_t)~nraw;
    z[zn++] = (uint8_t)(~nraw >> 8);
    memcpy(z + zn, raw, nraw);
    zn += nraw;
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < nraw; i++) {
        a = (a + raw[i]) % 65521;
        b = (b + a) % 65521;
    }
    put32(z + zn, (b << 16) | a);
    zn += 4;
    chunk(p, "IDAT", z, zn);
    chunk(p, "IEND", NULL, 0);
}

static void expect_png(const struct pngbuf *p, long w, long h, int c,
                       const uint8_t *want)
{
    struct img im;
    char err[IMG_ERRLEN] = "";
    if (img_decode(p->b, p->n, &im, err) < 0)
        WT_FAIL("%s", err);
    WT_CHECK_EQ(im.w, w);
    WT_CHECK_EQ(im.h, h);
    WT_CHECK_EQ(im.c, c);
    for (long i = 0; i < w * h * c; i++)
        if (im.px[i] != want[i])
            WT_FAIL("sample %ld: %d, want %d", i, im.px[i], want[i]);
    img_free(&im);
}

/* The conversions --help promises: palettes expanded (with or without
 * tRNS), 16-bit samples keep their high byte, alpha dropped (from RGBA,
 * grey+alpha, tRNS), grey of 1 bit scaled to 0/255. */
WT_CASE(png_colour_types)
{
    if (!img_have_png)
        WT_SKIP("built without libpng");
    struct pngbuf p;
    /* palette, 8 bits, 3 entries, tRNS on the first two: 3x1 */
    static const uint8_t plte[9] = {10, 20, 30, 40, 50, 60, 70, 80, 90};
    static const uint8_t trns[2] = {0, 128};
    static const uint8_t pal_raw[] = {0, 2, 0, 1};
    static const uint8_t pal_want[] = {70, 80, 90, 10, 20, 30, 40, 50, 60};
    make_png(&p, 3, 1, 8, 3, plte, 9, trns, 2, pal_raw, sizeof pal_raw);
    expect_png(&p, 3, 1, 3, pal_want);
    make_png(&p, 3, 1, 8, 3, plte, 9, NULL, 0, pal_raw, sizeof pal_raw);
    expect_png(&p, 3, 1, 3, pal_want);
    /* RGBA 8: 2x1 */
    static const uint8_t rgba_raw[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t rgba_want[] = {1, 2, 3, 5, 6, 7};
    make_png(&p, 2, 1, 8, 6, NULL, 0, NULL, 0, rgba_raw, sizeof rgba_raw);
    expect_png(&p, 2, 1, 3, rgba_want);
    /* grey+alpha 8: 2x2 */
    static const uint8_t ga_raw[] = {0, 9, 255, 200, 0, 0, 33, 44, 1, 2};
    static const uint8_t ga_want[] = {9, 200, 33, 1};
    make_png(&p, 2, 2, 8, 4, NULL, 0, NULL, 0, ga_raw, sizeof ga_raw);
    expect_png(&p, 2, 2, 1, ga_want);
    /* grey 8 with tRNS: 2x1 */
    static const uint8_t gt[2] = {0, 7};
    static const uint8_t gt_raw[] = {0, 7, 8};
    static const uint8_t gt_want[] = {7, 8};
    make_png(&p, 2, 1, 8, 0, NULL, 0, gt, 2, gt_raw, sizeof gt_raw);
    expect_png(&p, 2, 1, 1, gt_want);
    /* RGB 16: 1x2, high bytes kept */
    static const uint8_t rgb16_raw[] = {0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xff,
                                        0, 0xff, 0xff, 0x00, 0x80, 0x01, 0x00};
    static const uint8_t rgb16_want[] = {0x12, 0x56, 0x9a, 0xff, 0x00, 0x01};
    make_png(&p, 1, 2, 16, 2, NULL, 0, NULL, 0, rgb16_raw, sizeof rgb16_raw);
    expect_png(&p, 1, 2, 3, rgb16_want);
    /* RGBA 16 with alpha dropped: 1x1 */
    static const uint8_t rgba16_raw[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t rgba16_want[] = {1, 3, 5};
    make_png(&p, 1, 1, 16, 6, NULL, 0, NULL, 0, rgba16_raw, sizeof rgba16_raw);
    expect_png(&p, 1, 1, 3, rgba16_want);
    /* grey 1 bit: 10x1, bits 1011001110 */
    static const uint8_t g1_raw[] = {0, 0xb3, 0x80};
    static const uint8_t g1_want[] = {255, 0, 255, 255, 0, 0, 255, 255, 255, 0};
    make_png(&p, 10, 1, 1, 0, NULL, 0, NULL, 0, g1_raw, sizeof g1_raw);
    expect_png(&p, 10, 1, 1, g1_want);
    /* grey 4 bits: 3x1, 0x0 0x5 0xf -> 0, 85, 255 */
    static const uint8_t g4_raw[] = {0, 0x05, 0xf0};
    static const uint8_t g4_want[] = {0, 85, 255};
    make_png(&p, 3, 1, 4, 0, NULL, 0, NULL, 0, g4_raw, sizeof g4_raw);
    expect_png(&p, 3, 1, 1, g4_want);
}

WT_MAIN()
