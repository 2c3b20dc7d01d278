/* SPDX-License-Identifier: MIT */
/*
 * tools/imgproc/fuzz.c - libFuzzer target for weft-imgproc's readers,
 * built twice: with FUZZ_pnm it feeds pnm_decode, with FUZZ_png
 * png_decode. A decoded image is encoded again and, for PNM, decoded
 * once more and compared, so the writers are exercised on every shape the
 * readers let through. No runtime runs: the codecs never need one.
 */
#include "img.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct img im;
    char err[IMG_ERRLEN] = "";
#if defined(FUZZ_pnm)
    int rc = pnm_decode(data, size, &im, err);
#else
    int rc = png_decode(data, size, &im, err);
#endif
    if (rc < 0) {
        if (im.px || !err[0])
            abort(); /* an error must leave nothing and say why */
        return 0;
    }
    uint8_t *enc;
    size_t len;
    if (pnm_encode(&im, &enc, &len, err) == 0) {
        struct img back;
        if (pnm_decode(enc, len, &back, err) < 0 || back.w != im.w ||
            back.h != im.h || back.c != im.c ||
            memcmp(back.px, im.px, (size_t)im.w * (size_t)im.h * (size_t)im.c))
            abort();
        img_free(&back);
        free(enc);
    }
    img_free(&im);
    return 0;
}
