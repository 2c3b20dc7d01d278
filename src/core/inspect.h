/* SPDX-License-Identifier: MIT */
/*
 * src/core/inspect.h - introspection's share of the hot paths: the
 * per-worker counters of wf_stats(), and the state timestamp of each
 * fiber for wf_fibers_list() (inspect.c holds the rest: the readers, the
 * dump, the deadlock report).
 *
 * Every counter belongs to one worker, which alone writes it, with a
 * relaxed load and a relaxed store (no locked instruction); readers on
 * other threads load it relaxed and sum. A reader may see a worker's
 * counter one step behind, never a torn or a lost count: after the
 * workers are quiet (a test's scripted run is over) the sums are exact.
 * The one shared counter is the runtime's count of live fibers and its
 * peak (struct wf__rt: one RMW per spawn and exit, on a line of its own),
 * since a peak of a sum cannot be had from per-worker parts.
 *
 * Included by core_int.h (the worker embeds its counters), so it includes
 * nothing of the core's.
 */
#ifndef WEFT_CORE_INSPECT_H
#define WEFT_CORE_INSPECT_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* One worker's counters; the owner writes, anyone reads (relaxed). */
struct wf__wstats {
    _Atomic uint64_t switches; /* context switches made by this worker */
    _Atomic uint64_t steals;   /* fibers taken from other workers */
    _Atomic uint64_t parks;    /* parks of fibers running here */
    _Atomic uint64_t tasks;    /* tasks its scheduler loop ran */
    _Atomic uint64_t timers;   /* timers its heap passes fired */
    _Atomic uint64_t spawns;   /* fibers spawned by fibers running here */
    _Atomic uint64_t exits;    /* fibers that returned here */
    _Atomic uint64_t io;       /* I/O waits begun by fibers running here */
};

/* Add n to an owner-only counter: relaxed load and store, no RMW. Only
 * the worker that owns the counter may call it. */
static inline void wf__stat_add(_Atomic uint64_t *c, uint64_t n)
{
    /* relaxed: a statistic; readers sum it, nothing is ordered by it. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void wf__stat_inc(_Atomic uint64_t *c)
{
    wf__stat_add(c, 1);
}

/* The clock of fibers' state timestamps: CLOCK_MONOTONIC_COARSE (a few
 * ns, no system call; ticks of 1-4 ms, enough for "parked for 3 s"), on
 * the same time base as wf_now(). Never 0 once the system has run a tick. */
static inline int64_t wf__inspect_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + 1;
}

#endif
