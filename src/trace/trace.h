/* SPDX-License-Identifier: MIT */
/*
 * src/trace/trace.h - the event sites of the tracer (trace.c).
 *
 * The trace layer sits between arch and core and knows nothing of fibers,
 * workers or tasks: an event is a kind, a timestamp and three numbers that
 * the site fills in (fiber ids, a worker index, a reason). What those
 * numbers mean is agreed here and read back by the JSON writer in
 * trace.c; names it cannot know (the reasons of a park) come from a hook
 * that the core fills in (wf__trace_hooks).
 *
 * Cost. Every site is a static inline function whose first act is a
 * relaxed load of one global flag under __builtin_expect: with tracing
 * off, that load and one predicted branch are all a site costs. With
 * WEFT_TRACE=OFF at build time (WEFT_TRACE_ENABLED undefined) the sites
 * are empty and compile to nothing.
 *
 * Where a site may be called: any thread. Events go to the calling
 * thread's ring (trace.c), so a site on a fiber's path must not hold a
 * ring address across a switch: each call looks the ring up afresh.
 */
#ifndef WEFT_TRACE_TRACE_H
#define WEFT_TRACE_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The kinds of event, with what a, b and c hold. */
enum wf__tev_kind {
    WF__TEV_NAME = 1,   /* text of the event before it: a part index, b and
                       * c 16 bytes of it (not NUL-terminated when full) */
    WF__TEV_SWITCH,     /* a worker switched: b the fiber that left (0: the
                       * scheduler loop), c the fiber that runs now (0: the
                       * loop); a = end | why << 8 for the one that left */
    WF__TEV_SPAWN,      /* b the new fiber's id; NAME events follow if named */
    WF__TEV_WAKE,       /* b the id of the fiber this thread made runnable */
    WF__TEV_TASK_BEGIN, /* the worker starts a task it found */
    WF__TEV_TASK_END,   /* ... and is back on its loop */
    WF__TEV_STEAL,      /* a = the victim worker's index, b = 0 fiber, 1 task */
    WF__TEV_IDLE_BEGIN, /* the worker sleeps in the kernel */
    WF__TEV_IDLE_END,
    WF__TEV_IO_BEGIN,   /* a = enum wf__tio, b = key (unique while in
                       * flight), c = the descriptor */
    WF__TEV_IO_END,     /* b = key, c = the result (int64) */
    WF__TEV_TIMER,      /* a timer fired; c = lateness in ns */
    WF__TEV_SPAN_BEGIN, /* b = the fiber's id, 0 on a plain thread; NAME
                         * events follow */
    WF__TEV_SPAN_END,   /* b as for the begin */
    WF__TEV_MARK,       /* NAME events follow */
};

/* One event: 32 bytes, two to a cache line. ts: CLOCK_MONOTONIC ns. */
struct wf__tev {
    int64_t ts;
    uint32_t kind;
    uint32_t a;
    uint64_t b;
    uint64_t c;
};
_Static_assert(sizeof(struct wf__tev) == 32, "an event is 32 bytes");

/* How a fiber left the CPU (SWITCH's end). */
enum wf__tend {
    WF__TEND_PARK = 1,
    WF__TEND_YIELD,
    WF__TEND_EXIT,
    WF__TEND_PREEMPT
};

/* I/O operations, for IO_BEGIN (their names in trace.c). */
enum wf__tio {
    WF__TIO_READ,
    WF__TIO_WRITE,
    WF__TIO_READV,
    WF__TIO_WRITEV,
    WF__TIO_RECV,
    WF__TIO_SEND,
    WF__TIO_ACCEPT,
    WF__TIO_CONNECT,
    WF__TIO_POLL,
    WF__TIO_PREAD,
    WF__TIO_PWRITE,
    WF__TIO_FSYNC,
    WF__TIO_OPEN,
    WF__TIO_BLOCKING,
    WF__TIO_COUNT
};

/* Filled in by the core from a constructor, before any thread exists. */
struct wf__trace_hooks {
    const char *(*why_name)(int why); /* a park reason's name */
    uint64_t (*fiber_id)(void);       /* the calling fiber's id, or 0 */
};
extern struct wf__trace_hooks wf__trace_hooks;

/* Set while tracing (wf_trace_start .. wf_trace_stop). */
extern atomic_bool wf__trace_on;

/* This thread is worker `index` (its events go to track index + 1).
 * Called by each worker thread before it runs anything. */
void wf__trace_thread_worker(int index);
/* The runtime has `n` workers (the file lists a track for each: the most
 * a runtime had while the trace was on); 0 when it has stopped. */
void wf__trace_workers(int n);
/* Ring size for rings made from now on (events per thread; rounded up to
 * a power of two, at least 16). Called by wf_init with WEFT_TRACE_EVENTS. */
void wf__trace_set_events(long n);
/* The tracing WEFT_TRACE asked for: start it (wf_init, once the workers
 * exist) and write it (wf_shutdown, after they stopped). Start returns as
 * wf_trace_start; stop does nothing (0) when that trace is over. */
int wf__trace_env_start(const char *path);
int wf__trace_env_stop(void);

/* The out-of-line halves: record one event (and up to 32 bytes of name).
 * cold: the compiler moves each call, and what it computes for it, out
 * of the hot code of the function that holds the site, so a site costs
 * its branch and no room in the instruction cache. */
__attribute__((cold)) void wf__trace_emit(uint32_t kind, uint32_t a, uint64_t b,
                                          uint64_t c);
__attribute__((cold)) void wf__trace_emit_named(uint32_t kind, uint32_t a,
                                                uint64_t b, const char *name);

#if defined(WEFT_TRACE_ENABLED)
/* The one branch of a site while tracing is off. relaxed: a hint; the
 * slow path re-reads it seq_cst against wf_trace_stop (trace.c). */
#define WF__TRACING() \
    __builtin_expect( \
        atomic_load_explicit(&wf__trace_on, memory_order_relaxed), 0)
#else
#define WF__TRACING() 0
#endif

static inline void wf__trace_switch(uint64_t from, int end, int why,
                                    uint64_t to)
{
    if (WF__TRACING())
        wf__trace_emit(WF__TEV_SWITCH, (uint32_t)end | (uint32_t)why << 8, from,
                       to);
}

static inline void wf__trace_spawn(uint64_t id, const char *name)
{
    if (WF__TRACING())
        wf__trace_emit_named(WF__TEV_SPAWN, 0, id, name);
}

/* `really`: the site's own condition, evaluated only while tracing. */
#define wf__trace_wake_if(id, really)                 \
    do {                                              \
        if (WF__TRACING() && (really))                \
            wf__trace_emit(WF__TEV_WAKE, 0, (id), 0); \
    } while (0)

static inline void wf__trace_task(bool begin)
{
    if (WF__TRACING())
        wf__trace_emit(begin ? WF__TEV_TASK_BEGIN : WF__TEV_TASK_END, 0, 0, 0);
}

static inline void wf__trace_steal(int victim, bool task)
{
    if (WF__TRACING())
        wf__trace_emit(WF__TEV_STEAL, (uint32_t)victim, task, 0);
}

static inline void wf__trace_idle(bool begin)
{
    if (WF__TRACING())
        wf__trace_emit(begin ? WF__TEV_IDLE_BEGIN : WF__TEV_IDLE_END, 0, 0, 0);
}

static inline void wf__trace_io_begin(enum wf__tio op, const void *key, int fd)
{
    if (WF__TRACING())
        wf__trace_emit(WF__TEV_IO_BEGIN, op, (uint64_t)(uintptr_t)key,
                       (uint64_t)(int64_t)fd);
}

static inline void wf__trace_io_end(const void *key, int64_t res)
{
    if (WF__TRACING())
        wf__trace_emit(WF__TEV_IO_END, 0, (uint64_t)(uintptr_t)key,
                       (uint64_t)res);
}

static inline void wf__trace_timer(int64_t late_ns)
{
    if (WF__TRACING())
        wf__trace_emit(WF__TEV_TIMER, 0, 0, (uint64_t)late_ns);
}

#endif
