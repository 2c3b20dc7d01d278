/* SPDX-License-Identifier: MIT */
/*
 * A build without the tracer (-DWEFT_TRACE=OFF): the calls of weft/trace.h
 * say so (WF_ENOSYS) and change nothing, and WEFT_TRACE is reported as
 * ignored while the runtime starts as usual, with no file made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "wtest.h"
#include "wtest_death.h"
#include "wtest_rt.h"

static char path[256];

static const char *tpath(void)
{
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/weft-trace-off-%d.json",
                 (int)getpid());
    return path;
}

WT_CASE(calls_say_enosys)
{
    WT_CHECK_EQ(wf_trace_start(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_trace_start(""), WF_EINVAL);
    WT_CHECK_EQ(wf_trace_start(tpath()), WF_ENOSYS);
    WT_CHECK(access(tpath(), F_OK) != 0); /* nothing was created */
    WT_CHECK_EQ(wf_trace_active(), 0);
    wf_trace_span_begin("s"); /* no-ops */
    wf_trace_mark("m");
    wf_trace_span_end();
    WT_CHECK_EQ(wf_trace_stop(), WF_ENOSYS);
    /* The same with a runtime. */
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_trace_start(tpath()), WF_ENOSYS);
    WT_CHECK_EQ(wf_trace_active(), 0);
    shutdown_clean();
}

static void env_child(void *arg)
{
    (void)arg;
    setenv("WEFT_TRACE", tpath(), 1);
    struct wf_config c = config(1);
    int rc = wf_init(&c);
    if (rc == 0)
        rc = wf_shutdown();
    _exit(rc == 0 ? 0 : 1);
}

WT_CASE(env_ignored)
{
    int st;
    char *err = wt_child_stderr(env_child, NULL, &st);
    WT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!strstr(err, "WEFT_TRACE") || !strstr(err, "no tracer"))
        WT_FAIL("expected a line on WEFT_TRACE being ignored, got: %s", err);
    free(err);
    WT_CHECK(access(tpath(), F_OK) != 0);
}

WT_MAIN()
