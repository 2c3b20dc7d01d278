/* SPDX-License-Identifier: MIT */
/*
 * weft/trace.h - recording what the runtime does, as a timeline.
 *
 * While tracing is on, every worker records its fiber slices (a fiber runs
 * from a switch to the next: why it left, a park with its reason, a yield
 * or its exit), who woke each fiber (drawn as an arrow to the run the wake
 * caused), fork-join tasks and steals, the times it slept (idle), timers
 * fired, and I/O operations from submission to completion (socket calls,
 * io_uring file operations, blocking-pool calls). Programs add spans and
 * marks of their own. wf_trace_stop writes it all as Chrome Trace Event
 * JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing open: one
 * track per worker ("worker i"), one "I/O" track, one per plain thread
 * that recorded something ("thread k"). docs/TRACE_FORMAT.md (the
 * contract with tools/weft-trace) spells the file out.
 *
 * Recording. Each thread writes to a ring of its own, without locks:
 * WEFT_TRACE_EVENTS events per thread (default 1048576, 32 bytes each,
 * so 32 MiB of address space, touched as it fills; a count from 16 to
 * 268435456, rounded up to a power of two; read by wf_init, so a
 * wf_trace_start before any wf_init uses the default). A full ring drops
 * its oldest events and the file says how many (otherData.dropped). An
 * event costs tens of nanoseconds while tracing; with tracing off, one
 * predicted branch per event site; a build with -DWEFT_TRACE=OFF has no
 * event sites at all (docs/PERFORMANCE.md has the figures).
 *
 * The environment. WEFT_TRACE=FILE makes wf_init start tracing into FILE
 * (created or truncated by wf_init, which fails with the error of
 * open(2) after a line on stderr if it cannot be, like any bad WEFT_*
 * value) and wf_shutdown write it. wf_trace_stop may end that trace
 * earlier (it is then written by the stop); a trace started by
 * wf_trace_start is the caller's to stop, across wf_shutdown too. Each
 * wf_init with WEFT_TRACE set truncates the file: a program that starts
 * the runtime more than once keeps the last run's trace.
 *
 * All of these calls may be made from any thread, in a fiber or not, with
 * or without a running runtime; not from a signal handler (a thread's
 * first event allocates its ring).
 */
#ifndef WEFT_TRACE_H
#define WEFT_TRACE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest span or mark name kept, in bytes (longer ones are cut). */
#define WF_TRACE_NAME_MAX 32

/* Start tracing into the file at `path`, which is created (mode 0666
 * before the umask) or truncated now, so that a path that cannot be
 * written fails here rather than at the stop. Events from before this
 * call are not kept. Returns 0, or
 *   WF_EINVAL    path is NULL or empty;
 *   WF_EALREADY  tracing is already on (by this call or WEFT_TRACE);
 *   WF_ENOSYS    this build has no tracer (-DWEFT_TRACE=OFF);
 *   any error of open(2) for the path (WF_E* == -errno: -ENOENT for a
 *   missing directory, -EACCES, -EISDIR, ...).
 * Nothing is started on error. */
WF_API int wf_trace_start(const char *path);

/* Stop tracing and write the file wf_trace_start (or WEFT_TRACE) named.
 * Blocks the calling thread while it writes (a fiber: its worker too).
 * Events that threads are recording at that moment either make it into
 * the file or are discarded whole. Returns 0, or
 *   WF_EALREADY  tracing is not on (never started, or stopped already);
 *   WF_ENOSYS    this build has no tracer (-DWEFT_TRACE=OFF);
 *   WF_ENOMEM    no memory to sort the events: the file is left empty;
 *                or a thread had no memory for its event ring: the file
 *                is written without that thread's events;
 *   an error of dup(2) or fdopen(3) (-EMFILE...): the file is left empty;
 *   any error of write(2) or close(2) (-ENOSPC, -EIO, ...): the file is
 *   incomplete.
 * Tracing is off after the call, whatever it returns. */
WF_API int wf_trace_stop(void);

/* Whether tracing is on now (1) or not (0). */
WF_API int wf_trace_active(void);

/* A span of the caller's own: from begin to the matching end, drawn on
 * the track of the worker (in a fiber: of the worker it began on) or
 * plain thread that began it. Spans nest; an end closes the innermost
 * open span of the same fiber (of the same thread outside fibers); an
 * end with no open span is ignored, and a span still open when the file
 * is written ends at the stop. `name` is copied (WF_TRACE_NAME_MAX bytes;
 * NULL reads as ""). No errors: with tracing off these do nothing. */
WF_API void wf_trace_span_begin(const char *name);
WF_API void wf_trace_span_end(void);

/* A mark: an instant on the caller's track, named like a span. */
WF_API void wf_trace_mark(const char *name);

#ifdef __cplusplus
}
#endif

#endif
