/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_flags.c - how weft's programs read numbers from their
 * command lines (tools/numarg.h: weft-demo's counts, weft-trace's --width
 * and --flows, weft-hash's -j, weft-imgproc's -j, resize=WxH and
 * blur=SIGMA), against a reference written here from the form numarg.h
 * states.
 *
 * Input: a byte choosing the range (one of the programs' ranges, or
 * [0, LONG_MAX]) and what to read, then the text. Checked: a whole number
 * is taken exactly when the text is decimal digits whose value lies in
 * the range, with the reference's value, and then its decimal spelling
 * reads back the same; with `rest`, the digits at the front are taken and
 * rest points past them; a fraction is taken exactly when it is digits
 * with at most one '.', in (0, 64], with strtod's value; refusals leave
 * the output alone.
 */
#include "fuzz.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "numarg.h"

static const long ranges[][2] = {
    {1, 4096},       /* weft-demo --workers, weft-hash -j */
    {1, 1000000},    /* weft-demo --requests */
    {0, 10000},      /* weft-demo --latency */
    {8, 100000},     /* weft-demo --size */
    {300, 100000},   /* weft-trace --width */
    {0, 1000000000}, /* weft-trace --flows */
    {1, 1024},       /* weft-imgproc -j */
    {1, 1048576},    /* weft-imgproc resize= */
    {0, LONG_MAX},
};
#define NRANGES (sizeof ranges / sizeof ranges[0])

/* The reference: the leading run of digits of s, its length, and whether
 * its value fits below LONG_MAX (*v then holds it). */
static size_t ref_digits(const char *s, bool *fits, long *v)
{
    size_t n = 0;
    unsigned long long acc = 0;
    *fits = true;
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        if (acc > (ULLONG_MAX - 9) / 10)
            *fits = false;
        else
            acc = acc * 10 + (unsigned long long)(s[n] - '0');
        if (acc > (unsigned long long)LONG_MAX)
            *fits = false;
    }
    *v = *fits ? (long)acc : 0;
    return n;
}

static void check_long(const char *s, long lo, long hi, bool with_rest)
{
    bool fits;
    long want;
    size_t n = ref_digits(s, &fits, &want);
    bool ok = n > 0 && fits && want >= lo && want <= hi &&
              (with_rest || s[n] == '\0');
    long got = -7;
    const char *rest = NULL;
    bool r = numarg_long(s, lo, hi, &got, with_rest ? &rest : NULL);
    FZ_CHECK(r == ok, "'%s' in [%ld, %ld]: numarg %s, reference %s", s, lo, hi,
             r ? "takes" : "refuses", ok ? "takes" : "refuses");
    if (!r) {
        FZ_CHECK(got == -7 && rest == NULL, "a refusal wrote its output");
        return;
    }
    FZ_CHECK(got == want, "'%s': %ld, reference %ld", s, got, want);
    if (with_rest)
        FZ_CHECK(rest == s + n, "'%s': rest at %td, reference %zu", s, rest - s,
                 n);
    char back[32];
    snprintf(back, sizeof back, "%ld", got);
    long again;
    FZ_CHECK(numarg_long(back, lo, hi, &again, NULL) && again == got,
             "'%s' does not read back", back);
}

static void check_fraction(const char *s)
{
    int digits = 0, dots = 0;
    bool form = true;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.')
            dots++;
        else
            form = false;
    }
    form = form && digits > 0 && dots <= 1;
    double want = form ? strtod(s, NULL) : 0;
    bool ok = form && want > 0.0 && want <= 64.0;
    double got = -7;
    bool r = numarg_fraction(s, 0.0, 64.0, &got);
    FZ_CHECK(r == ok, "fraction '%s': numarg %s, reference %s", s,
             r ? "takes" : "refuses", ok ? "takes" : "refuses");
    FZ_CHECK(r ? got == want : got == -7, "fraction '%s': %g, reference %g", s,
             got, want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char s[128];
    size_t n = size - 1 < sizeof s - 1 ? size - 1 : sizeof s - 1;
    memcpy(s, data + 1, n);
    s[n] = '\0';
    unsigned what = data[0] / NRANGES % 3;
    const long *r = ranges[data[0] % NRANGES];
    if (what == 2)
        check_fraction(s);
    else
        check_long(s, r[0], r[1], what == 1);
    return 0;
}
