/* SPDX-License-Identifier: MIT */
/*
 * src/common/copy.h - copying a queue or channel element.
 *
 * memcpy of n bytes, with the common small sizes as constants so that the
 * compiler copies them inline instead of calling memcpy through the PLT,
 * which for an 8-byte item costs more than the rest of a queue push.
 */
#ifndef WEFT_COMMON_COPY_H
#define WEFT_COMMON_COPY_H

#include <stddef.h>
#include <string.h>

static inline void wf__copy_elem(void *dst, const void *src, size_t n)
{
    switch (n) {
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, n);
        break;
    }
}

#endif
