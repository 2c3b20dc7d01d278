/* SPDX-License-Identifier: MIT */
/*
 * tools/imgproc/png.c - PNG through libpng, from and to memory.
 *
 * libpng reports errors by longjmp to the setjmp in each function: the
 * error callback copies libpng's message into the caller's err first. Every
 * object that must be freed on that path lives in a struct the jump does
 * not clobber (a volatile pointer to heap memory), so the cleanup after
 * setjmp sees its current value. Sizes are bounded twice: libpng's user
 * limits reject a width or height over IMG_MAX_DIM while reading IHDR,
 * and img_alloc checks w * h * c before allocating; before that, a file
 * too short to inflate to w * h pixels is refused, so a small corrupt
 * file never costs a large allocation. CRC errors are
 * errors (libpng's default for critical chunks; ancillary chunks with a
 * bad CRC are dropped with a warning, which we ignore).
 */
#include "img.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int img_have_png = 1;

struct memio {
    const uint8_t *buf;
    size_t len, pos;
    uint8_t *out; /* writing: grows by doubling */
    size_t cap;
    char *err;
};

static void on_error(png_structp png, png_const_charp msg)
{
    struct memio *io = png_get_error_ptr(png);
    snprintf(io->err, IMG_ERRLEN, "bad PNG: %s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void mem_read(png_structp png, png_bytep data, size_t n)
{
    struct memio *io = png_get_io_ptr(png);
    if (io->len - io->pos < n)
        png_error(png, "truncated file");
    memcpy(data, io->buf + io->pos, n);
    io->pos += n;
}

static void mem_write(png_structp png, png_bytep data, size_t n)
{
    struct memio *io = png_get_io_ptr(png);
    if (io->cap - io->len < n) {
        size_t cap = io->cap ? io->cap : 4096;
        while (cap - io->len < n)
            cap *= 2;
        uint8_t *b = realloc(io->out, cap);
        if (!b)
            png_error(png, "out of memory");
        io->out = b;
        io->cap = cap;
    }
    memcpy(io->out + io->len, data, n);
    io->len += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

int png_decode(const uint8_t *buf, size_t len, struct img *out, char *err)
{
    struct memio io = {buf, len, 0, NULL, 0, err};
    struct img *volatile im = out;
    png_bytep *volatile rows = NULL;
    png_infop info = NULL;
    im->px = NULL;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io,
                                             on_error, on_warning);
    if (!png)
        goto out_nomem;
    info = png_create_info_struct(png);
    if (!info)
        goto out_nomem;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        img_free(im);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_user_limits(png, IMG_MAX_DIM, IMG_MAX_DIM);
    png_set_read_fn(png, &io, mem_read);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info);
    png_uint_32 h = png_get_image_height(png, info);
    int type = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (depth == 16)
        png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    /* Unconditionally: alpha may also come from a tRNS chunk, which the
     * palette expansion turns into a fourth channel. */
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    if (ch != 1 && ch != 3)
        png_error(png, "unexpected channel count after conversion");
    if (png_get_rowbytes(png, info) != (size_t)w * (size_t)ch)
        png_error(png, "unexpected row size after conversion");
    /* Before allocating: a 50-byte file must not make us allocate a
     * gigabyte. Deflate expands at most 1032:1, and a pixel takes at least
     * one bit of the inflated data (1-bit grey or palette) and becomes at
     * most 3 samples here: so the file holds at least
     * samples / (24 * 1032) bytes. */
    if ((size_t)w * (size_t)h * (size_t)ch / (24 * 1032) > len)
        png_error(png, "file too small for its size: truncated");
    if (img_alloc(im, (long)w, (long)h, ch, err) < 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    rows = malloc(sizeof(png_bytep) * h);
    if (!rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = im->px + (size_t)y * w * (size_t)ch;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;

out_nomem:
    png_destroy_read_struct(&png, &info, NULL);
    snprintf(err, IMG_ERRLEN, "out of memory (libpng)");
    return -1;
}

int png_encode(const struct img *im, uint8_t **out, size_t *len, char *err)
{
    struct memio io = {NULL, 0, 0, NULL, 0, err};
    struct memio *volatile iop = &io;
    png_bytep *volatile rows = NULL;
    png_infop info = NULL;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io,
                                              on_error, on_warning);
    if (!png)
        goto out_nomem;
    info = png_create_info_struct(png);
    if (!info)
        goto out_nomem;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(iop->out);
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, &io, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8,
                 im->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    rows = malloc(sizeof(png_bytep) * (size_t)im->h);
    if (!rows)
        png_error(png, "out of memory");
    for (long y = 0; y < im->h; y++)
        rows[y] = im->px + (size_t)y * (size_t)im->w * (size_t)im->c;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    *out = io.out;
    *len = io.len;
    return 0;

out_nomem:
    png_destroy_write_struct(&png, &info);
    snprintf(err, IMG_ERRLEN, "out of memory (libpng)");
    return -1;
}
