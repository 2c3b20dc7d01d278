/* SPDX-License-Identifier: MIT */
/*
 * tools/numarg.h - how weft's programs (weft-demo, weft-trace, weft-hash,
 * weft-imgproc, weft-httpd, weft-heat, weft-mandel, and the soak test's
 * weft-soak) read a number given on the command line: one strict form for
 * all of them, header-only (each program is linked on its own).
 *
 * A whole number is decimal digits only: no sign, no blank before or
 * after, no "0x"; a fraction is digits with at most one '.' among or
 * before them ("2", "2.5", ".5", "2."), no exponent. strtol and strtod,
 * which these wrap, skip leading white space and take a sign, hex and
 * exponents: the programs took " 4", "+4" and "\t4" but not "4 ", and
 * weft-imgproc refused "resize=3x 4" but took "resize=3x<TAB>4"
 * (tests/fuzz/fuzz_flags.c checks this file against a reference).
 */
#ifndef WEFT_TOOLS_NUMARG_H
#define WEFT_TOOLS_NUMARG_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* A whole number in [lo, hi] at s (lo >= 0). With rest NULL nothing may
 * follow it; otherwise *rest is set to the first byte after its digits.
 * Returns whether it was one; *out (and *rest) are set only then. */
static inline bool numarg_long(const char *s, long lo, long hi, long *out,
                               const char **rest)
{
    const char *p = s;
    long v = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > hi / 10 || v * 10 > hi - d)
            return false; /* past hi (so never past LONG_MAX) */
        v = v * 10 + d;
    }
    if ((!rest && *p) || v < lo)
        return false;
    if (rest)
        *rest = p;
    *out = v;
    return true;
}

/* A fraction in (lo, hi] filling all of s. Returns whether it was one;
 * *out is set only then. */
static inline bool numarg_fraction(const char *s, double lo, double hi,
                                   double *out)
{
    const char *p = s;
    int digits = 0, dots = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && dots++ == 0)
            continue;
        else
            return false;
    }
    if (digits == 0)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v > lo && v <= hi))
        return false;
    *out = v;
    return true;
}

#endif
