/* SPDX-License-Identifier: MIT */
/*
 * tools/trace_svg.h - drawing a loaded weft trace as an SVG timeline
 * (weft_tracefile library, with trace_model.h).
 *
 * The picture: one lane per worker (worker 0 first), then the I/O track and
 * the plain threads' tracks when the trace has them, each lane an SVG group
 * <g class="lane worker|io|thread|other">; slices coloured by kind (fiber,
 * task, I/O in flight, idle, span); a time axis with ticks in ns, us, ms
 * or s as the span suits; steal and mark instants as small ticks; wake
 * arrows; a legend; and captions that say what was simplified. Hovering a
 * slice shows its details (an SVG <title> inside each slice's element).
 * Overlapping slices on the I/O track and the thread tracks (concurrent
 * operations, nested spans) are stacked in sub-rows.
 *
 * The size stays bounded whatever the number of events: slices narrower
 * than a pixel are merged, one shape per pixel column and lane row
 * (adjacent columns of the same colour share one shape), coloured by the
 * kind with most time there, and a caption gives their number. Each row
 * holds at most about one shape per pixel column, rows per lane are
 * capped (WTR_SVG_MAX_ROWS), instants are drawn at most once per column,
 * kind and lane, and wake arrows only when there are at most max_flows
 * (else a caption says they were left out). A 1,000,000-event trace of 8
 * workers gives a file of about 900 KB at the default width.
 */
#ifndef WEFT_TOOLS_TRACE_SVG_H
#define WEFT_TOOLS_TRACE_SVG_H

#include <stdio.h>

#include "trace_model.h"

#define WTR_SVG_WIDTH     1200 /* default picture width, px */
#define WTR_SVG_MIN_WIDTH 300
#define WTR_SVG_MAX_WIDTH 100000
#define WTR_SVG_MAX_FLOWS 2000 /* default max_flows */
#define WTR_SVG_MAX_ROWS  8    /* sub-rows per lane at most */

/* Options; all-zero (or a NULL pointer) gives the defaults. */
struct wtr_svg_opts {
    int width;             /* picture width in px; 0: WTR_SVG_WIDTH. Must be in
                          [WTR_SVG_MIN_WIDTH, WTR_SVG_MAX_WIDTH] otherwise */
    int max_flows;         /* draw wake arrows when there are at most this many;
                          0: WTR_SVG_MAX_FLOWS; negative: never */
    int fragment;          /* nonzero: no XML declaration, for an <svg> inlined
                          in an HTML page */
    const char *title;     /* a heading drawn at the top; NULL: none */
    const char *id_prefix; /* prefix of the ids inside the picture, so that
                              several can share one HTML page; NULL: "wtr" */
};

/* Writes the timeline of trace t as SVG to `out`. Returns 0, -EINVAL for a
 * width out of range, -ENOMEM, or -EIO when writing failed (the output is
 * then incomplete). */
int wtr_svg(const struct wtr_trace *t, FILE *out, const struct wtr_svg_opts *o);

#endif
