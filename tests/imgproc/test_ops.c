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

WT_MAIN()
