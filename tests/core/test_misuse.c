/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_misuse.c - misuse that weft can tell from a state word
 * ends the process with a message naming the call, rather than corrupting
 * memory or crashing somewhere later: a channel or future released once
 * too often or used after its last release, a promise completed twice, a
 * scope closed twice. Each case runs the misuse in a child process and
 * checks that it died of SIGABRT with "weft: <call>: ..." on stderr. In
 * sanitizer builds a use of freed memory is reported by ASan or TSan
 * first, which is as good.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft.h>

#include "wtest_death.h"
#include "wtest_fiber.h"

/* Run fn in a child; it must die of SIGABRT saying `expect` on stderr
 * (or be stopped by ASan, when the misuse reads freed memory). */
static void run_misuse(void *fn)
{
    ((void (*)(void))fn)();
    fprintf(stderr, "child: the misuse went unnoticed\n");
    _exit(3);
}

static void dies(void (*fn)(void), const char *expect, bool freed_memory)
{
    int status;
    char *buf = wt_child_stderr(run_misuse, (void *)fn, &status);
    if (freed_memory && (strstr(buf, "AddressSanitizer: heap-use-after-free") ||
                         strstr(buf, "ThreadSanitizer: heap-use-after-free"))) {
        free(buf);
        return;
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        WT_FAIL("child did not abort (status %#x): %s", status, buf);
    if (!strstr(buf, expect))
        WT_FAIL("expected \"%s\" on stderr, got: %s", expect, buf);
    free(buf);
}

/* ---- channels --------------------------------------------------------------- */

static void chan_double_release(void)
{
    struct wf_chan *c;
    WT_CHECK_EQ(wf_chan_create(&c, sizeof(int), 4), 0);
    wf_chan_release(c);
    wf_chan_release(c);
}

WT_CASE(chan_released_twice)
{
    dies(chan_double_release, "weft: wf_chan_release:", true);
}

static void chan_send_after_release(void)
{
    struct wf_chan *c;
    int v = 1;
    WT_CHECK_EQ(wf_chan_create(&c, sizeof(int), 4), 0);
    wf_chan_release(c);
    wf_chan_try_send(c, &v);
}

WT_CASE(chan_used_after_release)
{
    dies(chan_send_after_release, "weft: wf_chan_try_send:", true);
}

static struct wf_chan *waited_on;

static void *chan_waiter(void *arg)
{
    (void)arg;
    int v;
    wf_chan_recv(waited_on, &v, WF_FOREVER);
    return NULL;
}

static void chan_release_under_waiter(void)
{
    WT_CHECK_EQ(wf_chan_create(&waited_on, sizeof(int), 0), 0);
    init_rt(1);
    go(chan_waiter, NULL);
    /* Until the waiter is parked on the channel (a fixed 20 ms nap was
     * too short on a loaded machine: the release then found no waiter). */
    struct wf_fiber_info fi;
    while (wf_fibers_list(&fi, 1, NULL) != 1 || fi.state != WF_FIBER_PARKED ||
           strcmp(fi.wait, "chan") != 0)
        nap_ms(1);
    wf_chan_release(waited_on); /* the last reference, a fiber waiting */
}

WT_CASE(chan_released_while_waited_on)
{
    dies(chan_release_under_waiter,
         "weft: wf_chan_release: last reference released while operations "
         "wait on it",
         false);
}

/* ---- futures and promises ----------------------------------------------------- */

static void promise_twice_live(void)
{
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_promise_complete(p, NULL), 0);
    wf_promise_complete(p, NULL); /* f still holds the object */
}

WT_CASE(promise_completed_twice)
{
    dies(promise_twice_live, "weft: wf_promise_complete: promise completed twice",
         false);
}

static void promise_fail_after_complete(void)
{
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_future_cancel(f), 0);
    WT_CHECK_EQ(wf_promise_complete(p, NULL), WF_ECANCELED);
    wf_promise_fail(p, WF_EINVAL); /* the cancelled promise was given up too */
}

WT_CASE(promise_completed_after_cancel_twice)
{
    dies(promise_fail_after_complete, "weft: wf_promise_fail: promise completed twice",
         false);
}

static void future_double_release(void)
{
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_promise_complete(p, NULL), 0);
    wf_future_release(f);
    wf_future_release(f);
}

WT_CASE(future_released_twice)
{
    dies(future_double_release, "weft: wf_future_release:", true);
}

static void future_use_after_release(void)
{
    struct wf_promise *p;
    struct wf_future *f;
    WT_CHECK_EQ(wf_promise_create(&p, &f), 0);
    WT_CHECK_EQ(wf_promise_complete(p, NULL), 0);
    wf_future_release(f);
    void *v;
    wf_future_result(f, &v);
}

WT_CASE(future_used_after_release)
{
    dies(future_use_after_release, "weft: wf_future_result:", true);
}

/* ---- scopes ---------------------------------------------------------------- */

static void scope_close_twice(void)
{
    init_rt(1);
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    WT_CHECK(wf_scope_close(s) >= 0);
    wf_scope_close(s);
}

WT_CASE(scope_closed_twice)
{
    dies(scope_close_twice, "weft: wf_scope_close:", true);
}

static void scope_after_shutdown(void)
{
    init_rt(1);
    struct wf_scope *s;
    WT_CHECK_EQ(wf_scope_open(&s), 0);
    shutdown_clean(); /* frees the scope left open */
    wf_scope_wait(s, WF_FOREVER);
}

WT_CASE(scope_used_after_shutdown)
{
    dies(scope_after_shutdown, "weft: wf_scope_wait:", true);
}

WT_MAIN()
