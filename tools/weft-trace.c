/* SPDX-License-Identifier: MIT */
/*
 * weft-trace - summarise a weft trace file or draw it as an SVG timeline.
 *
 * A thin command line over the weft_tracefile library (trace_model.h,
 * trace_svg.h); --help says how to use it. Exit status: 0 done, 1 the
 * trace could not be read or the output not written, 2 bad usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numarg.h"
#include "trace_model.h"
#include "trace_svg.h"

static const char help[] =
    "NAME\n"
    "    weft-trace - summarise a weft trace or draw it as an SVG timeline\n"
    "\n"
    "SYNOPSIS\n"
    "    weft-trace [--width PX] [--flows N] [--title TEXT] TRACE.json "
    "-o OUT.svg\n"
    "    weft-trace TRACE.json\n"
    "    weft-trace --help\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads TRACE.json, a trace written by weft's tracer (Chrome Trace\n"
    "    Event JSON; \"-\" reads standard input).\n"
    "\n"
    "    With -o, draws the timeline as SVG: a lane per worker, then the I/O\n"
    "    track and the plain threads' tracks when present; slices coloured\n"
    "    by kind (fiber, tasks, I/O in flight, idle, span); a time axis;\n"
    "    steals and marks as ticks; wake arrows; a legend. Hovering a slice\n"
    "    shows the fiber's name and id and the slice's details. Overlapping\n"
    "    I/O operations and nested spans are stacked in sub-rows. Slices\n"
    "    narrower than a pixel are merged, one shape per pixel column and\n"
    "    lane row coloured by the kind with most time there, and a caption\n"
    "    says how many: the file stays small (under 1 MB) for a\n"
    "    million events. Wake arrows are drawn only when there are few.\n"
    "    The picture opens in any web browser.\n"
    "\n"
    "    Without -o, prints a summary: the trace span; per worker the time\n"
    "    in fiber and task slices (busy) and idle, as a share of the span,\n"
    "    the fiber switches (fiber slices) and steals; the time fibers\n"
    "    spent parked, by reason (from a slice that ended in a park to that\n"
    "    fiber's next slice or the trace end); the ten longest fiber or\n"
    "    task slices, which show a fiber that hogs a worker; and the events\n"
    "    the tracer dropped.\n"
    "\n"
    "OPTIONS\n"
    "    -o, --output FILE\n"
    "        Write the SVG timeline to FILE (\"-\": standard output).\n"
    "    -w, --width PX\n"
    "        Width of the picture in pixels, 300 to 100000 (default 1200).\n"
    "    --flows N\n"
    "        Draw wake arrows when there are at most N (default 2000;\n"
    "        0: never).\n"
    "    --title TEXT\n"
    "        A heading for the picture.\n"
    "    -h, --help\n"
    "        Print this text and exit.\n"
    "\n"
    "EXIT STATUS\n"
    "    0   done.\n"
    "    1   the trace could not be read or is malformed (the message says\n"
    "        \"weft-trace: FILE: line L: what\"), or the output could not be\n"
    "        written.\n"
    "    2   bad usage.\n"
    "\n"
    "EXAMPLES\n"
    "    weft-trace run.json\n"
    "        Summary of run.json on standard output.\n"
    "    weft-trace run.json -o run.svg\n"
    "        Timeline of run.json, 1200 px wide.\n"
    "    weft-trace --width 4000 --flows 0 run.json -o wide.svg\n"
    "        A wider timeline without wake arrows.\n";

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "weft-trace: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: weft-trace [--width PX] [--flows N] "
                    "[--title TEXT] TRACE.json [-o OUT.svg]\n"
                    "       (weft-trace --help tells more)\n");
    return 2;
}

/* An integer option value in [lo, hi]; -1 and a message when it is not. */
static int int_arg(const char *opt, const char *s, long lo, long hi, long *out)
{
    if (!numarg_long(s, lo, hi, out, NULL)) {
        fprintf(stderr,
                "weft-trace: %s wants an integer from %ld to %ld, "
                "not '%s'\n",
                opt, lo, hi, s);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *outpath = NULL, *title = NULL;
    long width = WTR_SVG_WIDTH, flows = WTR_SVG_MAX_FLOWS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        bool needs = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 ||
                     strcmp(a, "-w") == 0 || strcmp(a, "--width") == 0 ||
                     strcmp(a, "--flows") == 0 || strcmp(a, "--title") == 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
        }
        if (needs) {
            if (i + 1 >= argc)
                return usage("%s needs a value", a);
            val = argv[++i];
        }
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            outpath = val;
        } else if (strcmp(a, "-w") == 0 || strcmp(a, "--width") == 0) {
            if (int_arg(a, val, WTR_SVG_MIN_WIDTH, WTR_SVG_MAX_WIDTH, &width) <
                0)
                return 2;
        } else if (strcmp(a, "--flows") == 0) {
            if (int_arg(a, val, 0, 1000000000, &flows) < 0)
                return 2;
        } else if (strcmp(a, "--title") == 0) {
            title = val;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("unknown option '%s'", a);
        } else if (in) {
            return usage("one trace file at a time ('%s' is a second)", a);
        } else {
            in = a;
        }
    }
    if (!in)
        return usage("%s", "no trace file given");

    struct wtr_trace *t;
    char err[512];
    int rc = wtr_load(in, &t, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "weft-trace: %s\n", err);
        return 1;
    }

    if (!outpath) {
        rc = wtr_summary(t, stdout);
        wtr_free(t);
        if (rc < 0) {
            fprintf(stderr, "weft-trace: writing the summary: %s\n",
                    strerror(-rc));
            return 1;
        }
        return 0;
    }

    bool std = strcmp(outpath, "-") == 0;
    FILE *f = std ? stdout : fopen(outpath, "w");
    if (!f) {
        fprintf(stderr, "weft-trace: %s: %s\n", outpath, strerror(errno));
        wtr_free(t);
        return 1;
    }
    struct wtr_svg_opts o;
    memset(&o, 0, sizeof o);
    o.width = (int)width;
    o.max_flows = flows ? (int)flows : -1;
    o.title = title;
    rc = wtr_svg(t, f, &o);
    if (!std && fclose(f) != 0 && rc == 0)
        rc = -errno;
    wtr_free(t);
    if (rc < 0) {
        fprintf(stderr, "weft-trace: %s: %s\n", outpath, strerror(-rc));
        return 1;
    }
    return 0;
}
