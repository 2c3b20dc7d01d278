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

/* Error codes returned (negated) by weft calls. */
#define WF_EPERM     (-EPERM)     /* not allowed from this context (e.g. fiber-only call from a plain thread) */
#define WF_ESRCH     (-ESRCH)     /* no such fiber: never existed, or already joined */
#define WF_EAGAIN    (-EAGAIN)    /* try again: resource temporarily exhausted */
#define WF_ENOMEM    (-ENOMEM)    /* out of memory */
#define WF_EBUSY     (-EBUSY)     /* busy: already in use */
#define WF_EINVAL    (-EINVAL)    /* invalid argument or misuse (double join, join of a detached fiber) */
#define WF_EDEADLK   (-EDEADLK)   /* the call would wait on itself (a fiber joining itself) */
#define WF_ENOSYS    (-ENOSYS)    /* not supported by this build or platform */
#define WF_EALREADY  (-EALREADY)  /* already done (runtime already started) */
#define WF_ETIMEDOUT (-ETIMEDOUT) /* the deadline passed first */
#define WF_ECANCELED (-ECANCELED) /* the calling fiber was cancelled */
#define WF_ESHUTDOWN (-ESHUTDOWN) /* the runtime is not running */
#define WF_EPIPE     (-EPIPE)     /* the channel (or pipe, socket) is closed */

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
