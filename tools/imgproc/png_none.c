/* SPDX-License-Identifier: MIT */
/*
 * tools/imgproc/png_none.c - the PNG codec of a build without libpng: PNG
 * files are recognised by their signature and refused with a message that
 * says why, so the rest of the tool (PGM, PPM) still works.
 */
#include "img.h"

#include <stdio.h>

const int img_have_png = 0;

int png_decode(const uint8_t *buf, size_t len, struct img *out, char *err)
{
    (void)buf;
    (void)len;
    out->px = NULL;
    snprintf(err, IMG_ERRLEN,
             "PNG support not built in (libpng was not found at build time)");
    return -1;
}

int png_encode(const struct img *im, uint8_t **out, size_t *len, char *err)
{
    (void)im;
    (void)out;
    (void)len;
    snprintf(err, IMG_ERRLEN,
             "PNG support not built in (libpng was not found at build time)");
    return -1;
}
