/*
 * Error names and time: the two things every layer needs.
 */
#include <limits.h>
#include <string.h>
#include <time.h>

#include "weft/common.h"

const char *wf_strerror(int err)
{
    long e = err < 0 ? -(long)err : err;
    if (e > INT_MAX)
        return "unknown error";
    err = (int)e;
    switch (err) {
    case 0:
        return "success";
    case ECANCELED:
        return "operation cancelled";
    case ESHUTDOWN:
        return "weft runtime is not running";
    case EDEADLK:
        return "would wait on itself";
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
