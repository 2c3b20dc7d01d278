/*
 * tests/core/test_config.c - the runtime's settings through the public
 * API: wf_config fields at and beyond their limits (a 1 GiB default stack
 * included).
 *
 * Each case runs in its own process, so setenv is fine. stderr is
 * captured by pointing fd 2 at a pipe around the call.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#include "wtest_rt.h"

#if defined(__clang__)
#define WT_OPAQUE __attribute__((noinline, optnone))
#else
#define WT_OPAQUE __attribute__((noinline, noipa))
#endif

/* Every variable of the table, so that a case starts from a clean slate
 * whatever the environment running the tests says (ctest sets WEFT_IO for
 * other programs, a developer may have WEFT_WORKERS). */
static const char *const all_vars[] = {
    "WEFT_WORKERS", "WEFT_STACK_SIZE", "WEFT_GUARDED_STACKS", "WEFT_STALL_MS",
    "WEFT_DEBUG_MIGRATE", "WEFT_IO", "WEFT_BLOCKING_THREADS",
};

__attribute__((constructor)) static void clear_vars(void)
{
    for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++)
        unsetenv(all_vars[i]);
}

/* ---- capturing stderr ------------------------------------------------ */

struct capture {
    int saved, rd;
    char text[4096];
};

static void capture_begin(struct capture *c)
{
    int p[2];
    WT_CHECK_EQ(pipe(p), 0);
    fflush(stderr);
    c->saved = dup(2);
    WT_CHECK(c->saved >= 0);
    WT_CHECK_EQ(dup2(p[1], 2), 2);
    close(p[1]);
    c->rd = p[0];
}

/* Restore fd 2; c->text holds what was written meanwhile. */
static const char *capture_end(struct capture *c)
{
    fflush(stderr);
    WT_CHECK_EQ(dup2(c->saved, 2), 2); /* closes the pipe's last writer */
    close(c->saved);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof c->text &&
           (r = read(c->rd, c->text + n, sizeof c->text - 1 - n)) > 0)
        n += (size_t)r;
    c->text[n] = '\0';
    close(c->rd);
    return c->text;
}

/* ---- helpers ---------------------------------------------------------- */

static atomic_int main_runs;

static void *count_main(void *arg)
{
    atomic_fetch_add(&main_runs, 1);
    return arg;
}

static WT_OPAQUE int use_stack(int kib)
{
    volatile char buf[1024];
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = (char)kib;
    if (kib <= 1)
        return buf[0];
    return use_stack(kib - 1) + buf[512];
}

/* A fiber that uses `arg` KiB of its stack. */
static void *stack_user(void *arg)
{
    use_stack((int)P2U(arg));
    return arg;
}

static void *stack_main(void *arg)
{
    /* twice: the second child gets the first one's stack back */
    for (int i = 0; i < 2; i++) {
        struct wf_fiber f;
        WT_CHECK_EQ(wf_go(&f, stack_user, arg), 0);
        void *r = NULL;
        WT_CHECK_EQ(wf_join(f, &r, WF_FOREVER), 0);
        WT_CHECK(r == arg);
    }
    return stack_user(arg); /* main's own stack too */
}

/* wf_run with cfg must succeed, its main fiber and a child each using
 * `kib` KiB of stack. */
static void run_using_stack(const struct wf_config *cfg, int kib)
{
    void *r = NULL;
    int rc = wf_run(cfg, stack_main, U2P(kib), &r);
    if (rc != 0)
        WT_FAIL("wf_run: %s (%d)", wf_strerror(rc), rc);
    WT_CHECK_EQ(P2U(r), kib);
}

/* A config field out of range: WF_EINVAL from both, and no report. */
static void expect_field_rejected(const struct wf_config *cfg)
{
    struct capture cap;
    capture_begin(&cap);
    int rc1 = wf_init(cfg);
    int rc2 = wf_run(cfg, count_main, NULL, NULL);
    const char *out = capture_end(&cap);
    WT_CHECK_EQ(rc1, WF_EINVAL);
    WT_CHECK_EQ(rc2, WF_EINVAL);
    WT_CHECK_EQ(strlen(out), 0);
    WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
    WT_CHECK_EQ(atomic_load(&main_runs), 0);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- stack_size -------------------------------------------------------- */

static void *big_stack_spawner(void *arg)
{
    /* wf_fiber_opts.stack_size at the limit, beside the default */
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    struct wf_fiber f;
    o.stack_size = (size_t)1 << 30;
    WT_CHECK_EQ(wf_go_opts(&f, &o, stack_user, U2P(600)), 0);
    void *r = NULL;
    WT_CHECK_EQ(wf_join(f, &r, WF_FOREVER), 0);
    WT_CHECK_EQ(P2U(r), 600);
    o.stack_size = ((size_t)1 << 30) + 1;
    WT_CHECK_EQ(wf_go_opts(&f, &o, stack_user, U2P(1)), WF_EINVAL);
    return arg;
}

WT_CASE(stack_size_one_gib)
{
    /* The documented largest default stack, guarded and in a slab. */
    struct wf_config c = config(2);
    c.stack_size = (size_t)1 << 30;
    run_using_stack(&c, 600);
    c.guarded_stacks = -1;
    run_using_stack(&c, 600);
    c.guarded_stacks = 1; /* main guarded, the child in a slab */
    run_using_stack(&c, 600);
    /* a spawn option at the limit, guarded and not */
    c = config(2);
    WT_CHECK_EQ(wf_run(&c, big_stack_spawner, NULL, NULL), 0);
    c.guarded_stacks = -1;
    WT_CHECK_EQ(wf_run(&c, big_stack_spawner, NULL, NULL), 0);
}

WT_CASE(stack_size_field_limits)
{
    struct wf_config c = config(2);
    c.stack_size = 1; /* rounded up to 16 KiB */
    run_using_stack(&c, 4);
    c.stack_size = 16 * 1024;
    run_using_stack(&c, 4);
    static const size_t bad[] = {((size_t)1 << 30) + 1, (size_t)2 << 30,
                                 (size_t)1 << 40, SIZE_MAX};
    for (size_t i = 0; i < COUNT(bad); i++) {
        c.stack_size = bad[i];
        expect_field_rejected(&c);
    }
}

WT_MAIN()
