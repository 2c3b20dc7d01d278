/* SPDX-License-Identifier: MIT */
/*
 * src/core/trace_core.h - the tracer's event sites that need the core's
 * types (src/trace/trace.h has the rest). Macros, so that what they read
 * of a fiber is read only while tracing (one branch otherwise).
 */
#ifndef WEFT_CORE_TRACE_CORE_H
#define WEFT_CORE_TRACE_CORE_H

#include "core_int.h"
#include "trace/trace.h"

/* The tracer's end of a fiber's slice, from what its worker does after. */
#define WF__TEND_OF(what)                       \
    ((what) == WF__AFTER_PARK   ? WF__TEND_PARK \
     : (what) == WF__AFTER_EXIT ? WF__TEND_EXIT \
                                : WF__TEND_YIELD)

/* Fiber `self` leaves its worker (with `what` to do after) for `next`
 * (NULL: the scheduler loop). Its park reason is in self->why. */
#define wf__trace_leave(self, what, next)                              \
    do {                                                               \
        if (WF__TRACING())                                             \
            wf__trace_emit(WF__TEV_SWITCH,                             \
                           (uint32_t)WF__TEND_OF(what) |               \
                               (uint32_t)atomic_load_explicit(         \
                                   &(self)->why, memory_order_relaxed) \
                                   << 8,                               \
                           (self)->id, (next) ? (next)->id : 0);       \
    } while (0)

#endif
