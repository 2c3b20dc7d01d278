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
 * peak (struct wf__rt, on a line of its own), since a peak of a sum
 * cannot be had from per-worker parts; each worker adds its spawns and
 * exits to it in batches (live_delta, WF__LIVE_BATCH). The peak is taken
 * at those additions: exact for one worker, whose live count can only
 * turn from rising to falling when a fiber parks or it goes idle (both
 * add the batch); with several it can miss a peak that lasted less than a
 * batch on each worker.
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
    /* Spawns minus exits here not yet added to the runtime's shared count
     * of live fibers (wf__inspect_flush_live). */
    _Atomic int64_t live_delta;
};

/* A worker adds its live_delta to the shared count when it reaches this
 * size either way, when one of its fibers parks and when it goes idle:
 * an RMW on a shared line for every spawn and exit cost a 2-worker
 * spawn+join 14% (docs/PERFORMANCE.md). */
#define WF__LIVE_BATCH 32

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

/* The clock of fibers' state timestamps: a copy of wf_now() that the
 * monitor refreshes at least every WF__STATE_CLOCK_NS while any worker is
 * awake (it samples every stall_ns / 4, and wakes in between for this
 * when that is longer), and that a worker refreshes when it wakes from
 * its sleep (and wf_init when it starts), so a timestamp is at most
 * WF__STATE_CLOCK_NS old: enough for "parked for 3 s". Reading it is a relaxed load of a line that changes a few
 * times a second, where the two reads of CLOCK_MONOTONIC_COARSE per park
 * and resume it replaced cost a one-worker channel round trip 14%
 * (docs/PERFORMANCE.md). Never 0 once a runtime has started. */
#define WF__STATE_CLOCK_NS (25 * 1000000LL)
extern _Alignas(64) _Atomic int64_t wf__state_clock;
static inline int64_t wf__inspect_clock(void)
{
    /* relaxed: a report's timestamp, ordering nothing. */
    return atomic_load_explicit(&wf__state_clock, memory_order_relaxed);
}
static inline void wf__inspect_tick(int64_t now)
{
    /* relaxed: as above. */
    atomic_store_explicit(&wf__state_clock, now, memory_order_relaxed);
}

#endif
