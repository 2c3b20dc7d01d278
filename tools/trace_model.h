/* SPDX-License-Identifier: MIT */
/*
 * tools/trace_model.h - reading a weft trace file (weft_tracefile library).
 *
 * A weft trace file is Chrome Trace Event JSON (object form) as weft's
 * tracer writes it, times in microseconds with three decimals: one track
 * per worker (tid = worker + 1), tid 1000 the I/O track, tid 2000 + k plain
 * thread k; "X" slices of category fiber, task, idle, io and span; "i"
 * instants mark, steal, timer and spawn; "s"/"f" wake flows; "M" thread
 * names; otherData with the worker count and the number of dropped events.
 * Events need not be sorted. The bare-array form (no otherData) is read too.
 *
 * This library is internal to weft's programs (weft-trace, weft-demo): it is
 * built as the static library weft_tracefile and not installed.
 *
 *     struct wtr_trace *t;
 *     char err[256];
 *     if (wtr_load("trace.json", &t, err, sizeof err) < 0) {
 *         fprintf(stderr, "weft-trace: %s\n", err);
 *         return 1;
 *     }
 *     wtr_summary(t, stdout);                      // text report
 *     wtr_svg(t, svgfile, NULL);                   // trace_svg.h
 *     wtr_free(t);
 *
 * Functions return 0 on success and a negative errno code on failure:
 * -EINVAL for a file that is not a weft trace (malformed JSON or a field of
 * the wrong type), -ENOMEM, or the code of a failed read or write. Nothing
 * is kept in globals: separate traces may be used from separate threads;
 * one trace may be read (summary, SVG) from several threads at once.
 */
#ifndef WEFT_TOOLS_TRACE_MODEL_H
#define WEFT_TOOLS_TRACE_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A loaded trace: its events in compact arrays, sorted by track and time,
 * with interned strings. Opaque; made by wtr_load(), released by
 * wtr_free(). */
struct wtr_trace;

/* JSON containers may nest this deep (the top-level object is level 1);
 * deeper input is rejected, so a hostile file cannot exhaust the stack. */
#define WTR_MAX_DEPTH 64

/* What a slice is: its category ("cat") in the file. */
enum wtr_kind {
    WTR_FIBER, /* a fiber ran on a worker */
    WTR_TASK,  /* a worker ran fork-join tasks */
    WTR_IO,    /* an I/O operation in flight (I/O track) */
    WTR_IDLE,  /* a worker slept in the kernel */
    WTR_SPAN,  /* a user span on a thread's track */
    WTR_OTHER, /* any other category */
    WTR_NKINDS
};

/* Reads and parses the trace file at `path` ("-" reads standard input).
 * On success stores the new trace in *out (the caller frees it with
 * wtr_free) and returns 0. On failure returns a negative errno code, stores
 * NULL in *out and writes a one-line message without a trailing newline
 * into err (errlen bytes, truncated to fit; err may be NULL when errlen is
 * 0): "PATH: line L: what is wrong" for a malformed file, "PATH: reason"
 * when it cannot be read. Never aborts on bad input: every malformed file,
 * truncated or nested too deeply (WTR_MAX_DEPTH) included, is an error. */
int wtr_load(const char *path, struct wtr_trace **out, char *err,
             size_t errlen);

/* Like wtr_load() on the len bytes at `text` (need not be NUL-terminated;
 * not modified); `name` stands for the path in messages. */
int wtr_load_mem(const char *name, const char *text, size_t len,
                 struct wtr_trace **out, char *err, size_t errlen);

/* Releases a trace and everything it owns. NULL is allowed. */
void wtr_free(struct wtr_trace *t);

/* Figures for one worker, over the trace span (wtr_stats.t0 .. t1). */
struct wtr_worker_stats {
    int worker;        /* 0-based worker number (tid - 1) */
    int64_t fiber_ns;  /* sum of the durations of its fiber slices */
    int64_t task_ns;   /* ... of its task slices */
    int64_t idle_ns;   /* ... of its idle slices */
    long fiber_slices; /* fiber slices: how often a fiber was switched in */
    long task_slices;  /* task slices */
    long steals;       /* steal instants on its track (it was the thief) */
    double busy_pct;   /* 100 * (fiber_ns + task_ns) / span */
    double idle_pct;   /* 100 * idle_ns / span */
};

/* Fiber time parked for one reason: for each fiber slice that ended with
 * end "park" and this reason, the gap from its end to the start of that
 * fiber's next slice (or to the end of the trace when there is none). */
struct wtr_park_stats {
    const char *reason; /* "chan", "mutex", ... ("" when none was given) */
    int64_t ns;         /* summed gaps */
    long parks;         /* how many slices ended with this reason */
};

/* One of the longest fiber or task slices. */
struct wtr_long_slice {
    enum wtr_kind kind; /* WTR_FIBER or WTR_TASK */
    int64_t fiber;      /* fiber id (-1 when unknown); task count for tasks */
    const char *name;   /* the slice's name ("fiber 12", a fiber's name,
                           "tasks") */
    int worker;         /* worker it ran on, -1 off the worker tracks */
    int64_t ts, dur;    /* start (ns from the trace's origin) and length */
};

#define WTR_LONGEST 10

/* The figures wtr_summary() prints. Strings point into the trace: valid
 * until wtr_free(). */
struct wtr_stats {
    int64_t t0, t1; /* earliest event and latest end, ns */
    long events;    /* events read from traceEvents */
    long ignored;   /* events of phases weft-trace does not use */
    long slices, instants, flows;
    int has_other;         /* otherData was present */
    long long dropped;     /* otherData.dropped (0 when absent) */
    long long events_said; /* otherData.events (-1 when absent) */
    int nworkers; /* max(otherData.workers, highest worker track + 1) */
    struct wtr_worker_stats *workers; /* nworkers entries, by worker */
    long steals;                      /* steal instants in all */
    long io_ops;                      /* I/O slices */
    int64_t io_ns;                    /* their summed durations */
    int nreasons;
    struct wtr_park_stats *parked; /* nreasons, longest time first */
    int nlongest;                  /* <= WTR_LONGEST */
    struct wtr_long_slice longest[WTR_LONGEST]; /* longest first */
};

/* Computes the figures of trace t into *st (which the caller then releases
 * with wtr_stats_free). Returns 0 or -ENOMEM (then *st needs no freeing). */
int wtr_stats_compute(const struct wtr_trace *t, struct wtr_stats *st);
void wtr_stats_free(struct wtr_stats *st);

/* Prints the summary of trace t to `out`: span, per-worker utilisation and
 * fiber switches, steals, time parked by reason, the longest slices and the
 * dropped events. Returns 0, -ENOMEM or -EIO when writing failed. */
int wtr_summary(const struct wtr_trace *t, FILE *out);

/* The name of a slice kind: "fiber", "task", "io", "idle", "span",
 * "other". */
const char *wtr_kind_name(enum wtr_kind k);

/* Writes a duration in a unit fitting its size, "12.345 us", into buf. */
void wtr_format_ns(char *buf, size_t len, int64_t ns);

#endif
