/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_trace.c - weft-trace's reader of trace files
 * (tools/trace_model.c, wtr_load_mem) on arbitrary bytes, and the summary
 * and SVG writers (trace_stats.c, trace_svg.c) on whatever it accepts.
 *
 * Checked for every input:
 *   - a refusal returns -EINVAL or -ENOMEM, leaves NULL in *out and a
 *     one-line message that starts with the name given;
 *   - an accepted trace's figures compute, its summary and SVG are
 *     written (0 returned) and end with a newline;
 *   - loading the same bytes again gives the same result: the same error
 *     message, or the same summary, byte for byte.
 */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "trace_model.h"
#include "trace_svg.h"

struct mem {
    char *buf;
    size_t len;
};

/* Load, and on success print the summary into m (and the SVG to check it
 * is written). Returns the load's result; err holds its message. */
static int load_and_print(const uint8_t *data, size_t size, char *err,
                          size_t errlen, struct mem *m)
{
    struct wtr_trace *t = (struct wtr_trace *)&t; /* must become NULL */
    memset(err, 0, errlen);
    int rc = wtr_load_mem("fuzz", (const char *)data, size, &t, err, errlen);
    m->buf = NULL;
    m->len = 0;
    if (rc < 0) {
        FZ_CHECK(rc == -EINVAL || rc == -ENOMEM, "load returned %d", rc);
        FZ_CHECK(t == NULL, "a refused trace left %p", (void *)t);
        FZ_CHECK(!strncmp(err, "fuzz", 4) && !strchr(err, '\n'),
                 "message \"%s\"", err);
        return rc;
    }
    FZ_CHECK(rc == 0 && t, "load returned %d", rc);
    struct wtr_stats st;
    FZ_CHECK(wtr_stats_compute(t, &st) == 0, "stats");
    FZ_CHECK(st.nworkers >= 0 && st.nlongest >= 0 && st.nlongest <= WTR_LONGEST,
             "stats: %d workers, %d longest", st.nworkers, st.nlongest);
    wtr_stats_free(&st);

    FILE *f = open_memstream(&m->buf, &m->len);
    FZ_CHECK(f, "open_memstream");
    FZ_CHECK(wtr_summary(t, f) == 0, "summary");
    FZ_CHECK(fclose(f) == 0, "summary stream");
    FZ_CHECK(m->len > 0 && m->buf[m->len - 1] == '\n', "summary not a text");

    char *svg = NULL;
    size_t svglen = 0;
    f = open_memstream(&svg, &svglen);
    FZ_CHECK(f, "open_memstream");
    struct wtr_svg_opts o = {
        .width = 300 + (int)(size % 2000), .fragment = 1, .title = "fuzz"};
    FZ_CHECK(wtr_svg(t, f, &o) == 0, "svg");
    FZ_CHECK(fclose(f) == 0, "svg stream");
    FZ_CHECK(svglen > 0 && svg[svglen - 1] == '\n' && strstr(svg, "</svg>"),
             "svg incomplete");
    free(svg);
    wtr_free(t);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err1[256], err2[256];
    struct mem m1, m2;
    int rc1 = load_and_print(data, size, err1, sizeof err1, &m1);
    int rc2 = load_and_print(data, size, err2, sizeof err2, &m2);
    FZ_CHECK(rc1 == rc2, "two loads: %d then %d", rc1, rc2);
    if (rc1 < 0)
        FZ_CHECK(!strcmp(err1, err2), "two messages: %s / %s", err1, err2);
    else
        FZ_CHECK(m1.len == m2.len && !memcmp(m1.buf, m2.buf, m1.len),
                 "two summaries differ");
    free(m1.buf);
    free(m2.buf);
    return 0;
}
