/* SPDX-License-Identifier: MIT */
/*
 * weft/common.h - what every weft header shares: error codes, time, export
 * markers.
 *
 * Errors. Every weft call returns 0 (or a non-negative count) on success and
 * a negative WF_E* code on failure. On POSIX the codes equal -errno, so
 * `WF_EINVAL == -EINVAL`. weft never reports through errno: a fiber may
 * resume on another thread, where errno is another variable.
 *
 * Time. Blocking calls take an absolute deadline in nanoseconds on the
 * monotonic clock (the clock wf_now() reads). WF_FOREVER waits without limit;
 * a deadline in the past makes the call a non-blocking attempt.
 */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

#include <errno.h>
#include <stdint.h>

#if defined(WEFT_STATIC_BUILD) || !defined(__GNUC__)
#define WF_API
#else
#define WF_API __attribute__((visibility("default")))
#endif

/* Alignment of caller-storage objects, spelt for C11 and for C++. */
#ifdef __cplusplus
#define WF_ALIGN(n) alignas(n)
#else
#define WF_ALIGN(n) _Alignas(n)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes returned (negated) by weft calls; wf_strerror() gives each a
 * text that fits every weft call returning it. */
#define WF_EPERM     (-EPERM)     /* not permitted for this caller (a fiber-only call from a plain thread, wf_init from a fiber, unlock by a non-owner) */
#define WF_ESRCH     (-ESRCH)     /* no such fiber: never existed, or already joined */
#define WF_EAGAIN    (-EAGAIN)    /* not possible now: full, empty, not ready, or a resource used up (threads, keys) */
#define WF_ENOMEM    (-ENOMEM)    /* out of memory */
#define WF_EBUSY     (-EBUSY)     /* busy: in use or waited on (a locked mutex, an armed timer) */
#define WF_EINVAL    (-EINVAL)    /* invalid argument, setting or use (double join, a bad WEFT_* variable) */
#define WF_EDEADLK   (-EDEADLK)   /* the call would wait on itself (a fiber joining itself, wf_shutdown from a pool thread) */
#define WF_ENOSYS    (-ENOSYS)    /* not supported by this build or system */
#define WF_EALREADY  (-EALREADY)  /* already started, completed or not armed (the runtime, a future, a timer) */
#define WF_ETIMEDOUT (-ETIMEDOUT) /* timed out: the deadline passed first (sockets: or the kernel's own timeout) */
#define WF_ECANCELED (-ECANCELED) /* cancelled: the calling fiber, or the future waited for */
#define WF_ESHUTDOWN (-ESHUTDOWN) /* the runtime is not running */
#define WF_EPIPE     (-EPIPE)     /* closed: the channel, or the other end of a pipe or socket */

/* Deadline meaning "no deadline". */
#define WF_FOREVER INT64_MAX

/* Convenience units for durations in nanoseconds. */
#define WF_USEC INT64_C(1000)
#define WF_MSEC INT64_C(1000000)
#define WF_SEC  INT64_C(1000000000)

/* Name of an error code (negative or positive errno value). Never NULL;
 * the string is static. Any thread. */
WF_API const char *wf_strerror(int err);

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC). Any thread, never fails. */
WF_API int64_t wf_now(void);

/* wf_now() + ns, saturating at WF_FOREVER; a negative ns counts as 0. */
WF_API int64_t wf_deadline_in(int64_t ns);

#ifdef __cplusplus
}
#endif

#endif
