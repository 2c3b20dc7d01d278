/* SPDX-License-Identifier: MIT */
/*
 * tools/trace_int.h - the loaded trace's layout, shared by the files of the
 * weft_tracefile library (trace_model.c builds it; trace_stats.c and
 * trace_svg.c read it). Not for the library's users: trace_model.h is its
 * API.
 *
 * Times are int64 nanoseconds as written in the file (microseconds with
 * three decimals, rounded to the nearest ns). Strings are interned: a
 * uint32 index into one pool, 0 being "".
 */
#ifndef WEFT_TOOLS_TRACE_INT_H
#define WEFT_TOOLS_TRACE_INT_H

#include <stdint.h>

#include "trace_model.h"

/* Where a track comes from, by its tid. */
enum wtr_track_type {
    WTR_TRACK_WORKER, /* tid 1 .. 999: worker tid - 1 */
    WTR_TRACK_IO,     /* tid 1000 */
    WTR_TRACK_THREAD, /* tid 2000 .. : plain thread tid - 2000 */
    WTR_TRACK_OTHER   /* any other tid */
};

#define WTR_TID_IO     1000
#define WTR_TID_THREAD 2000

struct wtr_track {
    int32_t tid;
    int32_t sort;  /* thread_sort_index, else the tid */
    uint32_t name; /* thread_name, 0 when none was given */
    uint8_t type;  /* enum wtr_track_type */
    int worker;    /* worker number, -1 unless WTR_TRACK_WORKER */
    size_t first;  /* its slices: t->slices[first .. first + count) */
    size_t count;
    size_t ifirst; /* its instants: t->instants[ifirst .. + icount) */
    size_t icount;
};

/* A complete ("X") event. */
struct wtr_slice {
    int64_t ts, dur;
    int64_t id;      /* fiber: args.fiber (-1 if absent); task: args.tasks;
                        io: args.fd */
    int64_t res;     /* io: args.res */
    uint32_t name;   /* the event's name */
    uint32_t label;  /* fiber: args.name */
    uint32_t end;    /* fiber: args.end */
    uint32_t reason; /* fiber: args.reason */
    int32_t track;   /* index into t->tracks */
    uint8_t kind;    /* enum wtr_kind */
};

enum wtr_instant_cat {
    WTR_I_MARK,
    WTR_I_STEAL,
    WTR_I_TIMER,
    WTR_I_SPAWN,
    WTR_I_OTHER
};

/* An instant ("i") event. */
struct wtr_instant {
    int64_t ts;
    int64_t arg; /* steal: args.from; spawn: args.fiber; else -1 */
    uint32_t name;
    int32_t track;
    uint8_t cat; /* enum wtr_instant_cat */
};

/* A wake arrow: the "s" event (waker) paired with its "f" (the run). */
struct wtr_flow {
    int64_t ts0, ts1;
    int32_t track0, track1;
};

struct wtr_trace {
    struct wtr_track *tracks; /* workers by number, then I/O, threads, and
                                 other tids, each group by sort index */
    int ntracks;
    int nworkers;             /* worker tracks 0 .. nworkers - 1 come
                                 first, one per worker, empty or not */
    struct wtr_slice *slices; /* by track, then ts, then longer first */
    size_t nslices;
    struct wtr_instant *instants; /* by track, then ts */
    size_t ninstants;
    struct wtr_flow *flows;
    size_t nflows;
    size_t unpaired_flows; /* "s" or "f" events without their partner */
    long events;           /* elements of traceEvents */
    long ignored;          /* of phases not used here ("B", "C", ...) */
    int64_t t0, t1;        /* earliest event, latest end (0, 0 if none) */
    int has_other;
    long long other_workers, dropped, events_said; /* -1 when absent */
    char *pool;        /* interned strings, NUL-terminated */
    uint32_t *str_off; /* string i starts at pool + str_off[i] */
    uint32_t nstr;
    uint32_t s_park; /* interned "park" (0 if never seen) */
};

static inline const char *wtr_str(const struct wtr_trace *t, uint32_t id)
{
    return t->pool + t->str_off[id];
}

#endif
