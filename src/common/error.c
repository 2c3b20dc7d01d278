/* SPDX-License-Identifier: MIT */
/*
 * Error names and time: the two things every layer needs.
 */
#include <limits.h>
#include <string.h>
#include <time.h>

#include "weft/common.h"

/* Texts for the codes weft itself returns, worded for every weft call that
 * returns them (weft/common.h lists the meanings): the C library's words
 * name the socket or process case ("Connection timed out", "Operation
 * already in progress", "No such process") where weft means a deadline,
 * a timer or a fiber. Where a socket or file call passes the kernel's
 * code on, the text must still fit (a connect the kernel timed out has
 * timed out before completing). Codes that weft only passes on from the
 * kernel keep the C library's text. */
const char *wf_strerror(int err)
{
    long e = err < 0 ? -(long)err : err;
    if (e > INT_MAX)
        return "unknown error";
    err = (int)e;
    switch (err) {
    case 0:
        return "success";
    case EPERM:
        return "operation not permitted for this caller";
    case ESRCH:
        return "no such fiber (ended and joined, or never existed)";
    case EAGAIN:
        return "not possible now (not ready, full, empty, or a resource used up)";
    case ENOMEM:
        return "out of memory";
    case EBUSY:
        return "busy (in use or waited on)";
    case EINVAL:
        return "invalid argument, setting or use";
    case EDEADLK:
        return "would wait on itself";
    case ENOSYS:
        return "not supported by this build or system";
    case EALREADY:
        return "already started, completed or not armed";
    case ETIMEDOUT:
        return "timed out before completing";
    case ECANCELED:
        return "operation cancelled";
    case ESHUTDOWN:
        return "weft runtime is not running";
    case EPIPE:
        return "closed (a channel, or the other end of a pipe or socket)";
    case ENOENT:
        return "no such file or directory, or a host name that does not "
               "resolve";
    case EMSGSIZE:
        return "record longer than the limit";
    case ENODATA:
        return "stream ended inside a record";
    default:
        /* strerror's table is static in glibc; the unknown-number case
         * formats into a static buffer, which is acceptable here. */
        return strerror(err);
    }
}

int64_t wf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t wf_deadline_in(int64_t ns)
{
    int64_t now = wf_now();
    if (ns <= 0)
        return now;
    if (ns > INT64_MAX - now)
        return WF_FOREVER;
    return now + ns;
}
