/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_config.c - the runtime's settings through the public
 * API: every WEFT_* variable in each accepted spelling starts a runtime
 * that behaves accordingly, each bad value fails wf_init and wf_run with
 * WF_EINVAL and exactly one line on stderr naming the variable, the value
 * and the accepted form; wf_config fields at and beyond their limits
 * (a 1 GiB default stack, a 64 KiB and a 64 GiB task stack included); the
 * texts of wf_strerror; and the
 * errors of wf_init / wf_run / wf_shutdown for each misuse.
 *
 * Each case runs in its own process, so setenv is fine. stderr is
 * captured by pointing fd 2 at a pipe around the call. The exact parsed
 * values are checked in test_config_hooks.c.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>
#include <weft/io.h>

#include "wtest_rt.h"

/* Every variable of the table, so that a case starts from a clean slate
 * whatever the environment running the tests says (ctest sets WEFT_IO for
 * other programs, a developer may have WEFT_WORKERS). */
static const char *const all_vars[] = {
    "WEFT_WORKERS",
    "WEFT_STACK_SIZE",
    "WEFT_TASK_STACK_SIZE",
    "WEFT_GUARDED_STACKS",
    "WEFT_STALL_MS",
    "WEFT_DEBUG_MIGRATE",
    "WEFT_IO",
    "WEFT_IO_RINGS",
    "WEFT_IO_MSHOT",
    "WEFT_IO_MSHOT_BUFS",
    "WEFT_BLOCKING_THREADS",
};

__attribute__((constructor)) static void clear_vars(void)
{
    for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++)
        unsetenv(all_vars[i]);
}

/* The forms the error lines state (README.md's table says the same). */
#define FORM_WORKERS "a whole number of workers from 1 to 4096"
#define FORM_STACK                                                          \
    "a size from 1 to 1g bytes, such as 262144, 256k or 256KiB (suffix k, " \
    "m or g in either case, optionally followed by b or ib)"
#define FORM_TASK_STACK                                                     \
    "a size from 64k to 64g bytes, such as 1g, 4096m or 2GiB (suffix k, m " \
    "or g in either case, optionally followed by b or ib)"
#define FORM_GUARDED                                                        \
    "a whole number of stacks from 1 to 1073741824, or 0 or -1 for none"
#define FORM_STALL                                                          \
    "0 (no reports) or a duration from 1ms to 3600s: whole milliseconds, "  \
    "or a whole number with a unit ns, us, ms or s"
#define FORM_BOOL "1, true, yes, on, or 0, false, no, off"
#define FORM_MSHOT_BUFS \
    "a power of two from 1 to 32768 (buffers of 4 KiB per ring)"
#define FORM_IO "auto, epoll or uring"
#define FORM_BLOCKING "a whole number of threads from 1 to 4096"

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

/* wf_init with cfg must succeed quietly; returns the worker count. */
static int init_quietly(const struct wf_config *cfg)
{
    struct capture cap;
    capture_begin(&cap);
    int rc = wf_init(cfg);
    const char *out = capture_end(&cap);
    if (rc != 0)
        WT_FAIL("wf_init: %s (%d), stderr: %s", wf_strerror(rc), rc, out);
    WT_CHECK_EQ(strlen(out), 0);
    int n = wf_workers();
    WT_CHECK(n >= 1);
    return n;
}

static void init_and_stop(const struct wf_config *cfg)
{
    init_quietly(cfg);
    shutdown_clean();
}

/* With name=value set, wf_init and wf_run both fail with WF_EINVAL and
 * write exactly `line` (one line) to stderr; nothing runs or stays up. */
static void expect_rejected_line(const struct wf_config *cfg,
                                 const char *name, const char *value,
                                 const char *line)
{
    struct capture cap;
    WT_CHECK_EQ(setenv(name, value, 1), 0);
    capture_begin(&cap);
    int rc = wf_init(cfg);
    const char *out = capture_end(&cap);
    if (rc != WF_EINVAL)
        WT_FAIL("%s=%s: wf_init gave %d, not WF_EINVAL", name, value, rc);
    if (strcmp(out, line) != 0)
        WT_FAIL("%s=%s: stderr was\n  [%s]\nnot\n  [%s]", name, value, out,
                line);
    WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);

    int before = atomic_load(&main_runs);
    capture_begin(&cap);
    rc = wf_run(cfg, count_main, NULL, NULL);
    out = capture_end(&cap);
    if (rc != WF_EINVAL)
        WT_FAIL("%s=%s: wf_run gave %d, not WF_EINVAL", name, value, rc);
    if (strcmp(out, line) != 0)
        WT_FAIL("%s=%s: wf_run's stderr was\n  [%s]\nnot\n  [%s]", name,
                value, out, line);
    WT_CHECK_EQ(atomic_load(&main_runs), before);
    WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
    WT_CHECK_EQ(unsetenv(name), 0);
}

static void expect_rejected(const char *name, const char *value,
                            const char *form)
{
    char line[1024];
    snprintf(line, sizeof line, "weft: %s=%s: expected %s\n", name, value,
             form);
    expect_rejected_line(NULL, name, value, line);
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

/* ---- WEFT_WORKERS ----------------------------------------------------- */

WT_CASE(workers_variable)
{
    static const struct {
        const char *s;
        int n;
    } good[] = {{"1", 1}, {"3", 3}, {"007", 7}, {"2", 2}};
    for (size_t i = 0; i < COUNT(good); i++) {
        WT_CHECK_EQ(setenv("WEFT_WORKERS", good[i].s, 1), 0);
        WT_CHECK_EQ(init_quietly(NULL), good[i].n);
        shutdown_clean();
    }
    static const char *const bad[] = {
        "abc", "-3", "0", "4097", "100000", "3x", " 3", "3 ", "+3", "0x10",
        "3.0", "99999999999999999999999", "-", "--1",
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        expect_rejected("WEFT_WORKERS", bad[i], FORM_WORKERS);
}

WT_CASE(workers_field_limits)
{
    /* 1 is the least; 4096 (the most) is taken by the parser test in
     * test_config_hooks.c: starting 4096 threads costs seconds. */
    struct wf_config c = config(1);
    WT_CHECK_EQ(init_quietly(&c), 1);
    shutdown_clean();
    static const int bad[] = {4097, 100000, 1000000, INT_MAX, -1, INT_MIN};
    for (size_t i = 0; i < COUNT(bad); i++) {
        c.workers = bad[i];
        expect_field_rejected(&c);
    }
}

/* ---- WEFT_STACK_SIZE and stack_size ------------------------------------ */

WT_CASE(stack_size_variable)
{
    /* 1 GiB in every spelling: a fiber using 600 KiB needs more than the
     * 16 KiB that a misread "1" would give. */
    static const char *const gib[] = {
        "1g", "1G", "1gb", "1GB", "1GiB", "1gib", "1Gb", "1024m", "1024M",
        "1024MiB", "1048576k", "1048576K", "1073741824", "1073741824b",
        "1073741824B",
    };
    for (size_t i = 0; i < COUNT(gib); i++) {
        WT_CHECK_EQ(setenv("WEFT_STACK_SIZE", gib[i], 1), 0);
        struct wf_config c = config(2);
        run_using_stack(&c, 600);
    }
    static const char *const kib256[] = {
        "256k", "256K", "256kb", "256KB", "256KiB", "256kib", "262144",
        "262144b", "0256k",
    };
    for (size_t i = 0; i < COUNT(kib256); i++) {
        WT_CHECK_EQ(setenv("WEFT_STACK_SIZE", kib256[i], 1), 0);
        struct wf_config c = config(2);
        run_using_stack(&c, 100);
    }
    /* the least: 1 byte, rounded up to the 16 KiB minimum */
    WT_CHECK_EQ(setenv("WEFT_STACK_SIZE", "1", 1), 0);
    struct wf_config c = config(2);
    run_using_stack(&c, 4);

    static const char *const bad[] = {
        "xyz", "0", "0k", "-1", "1t", "2g", "1073741825", "1025m", "1048577k",
        "1024mm", "1.5m", "k", "1 k", " 1k", "1k ", "1kib2", "1ki", "1ib",
        "1bb", "1bk", "0x100", "+1k", "1kbi", "99999999999999999999g",
        "9007199254740992k",
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        expect_rejected("WEFT_STACK_SIZE", bad[i], FORM_STACK);
}

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
    if (wt_under_valgrind()) /* its client address space is 128 GiB */
        WT_SKIP("reserves more address space than valgrind gives a program");
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

/* ---- WEFT_TASK_STACK_SIZE and task_stack_size -------------------------- */

static WT_OPAQUE void task_use_stack(void *arg)
{
    use_stack((int)P2U(arg));
}

/* A runtime started with cfg runs a task that uses `kib` KiB of its
 * stack, from a fiber and from this thread. */
static void *task_stack_main(void *arg)
{
    WT_CHECK_EQ(wf_par_run(task_use_stack, arg), 0);
    return arg;
}

static void run_task_using_stack(const struct wf_config *cfg, int kib)
{
    struct capture cap;
    capture_begin(&cap);
    int rc = wf_init(cfg);
    const char *out = capture_end(&cap);
    if (rc != 0)
        WT_FAIL("wf_init: %s (%d), stderr: %s", wf_strerror(rc), rc, out);
    WT_CHECK_EQ(strlen(out), 0);
    WT_CHECK_EQ(wf_par_run(task_use_stack, U2P(kib)), 0);
    struct wf_fiber f;
    void *r = NULL;
    WT_CHECK_EQ(wf_go(&f, task_stack_main, U2P(kib)), 0);
    WT_CHECK_EQ(wf_join(f, &r, WF_FOREVER), 0);
    WT_CHECK_EQ(P2U(r), kib);
    shutdown_clean();
}

WT_CASE(task_stack_size_variable)
{
    if (wt_under_valgrind()) /* its client address space is 128 GiB */
        WT_SKIP("reserves more address space than valgrind gives a program");
    /* 12 MiB of a 20 MiB task stack: more than a thread's 8 MiB. 20 MiB in
     * every spelling, the least (a task of 16 KiB fits 64 KiB), and above
     * the default. */
    static const char *const mib20[] = {
        "20m", "20M", "20mb", "20MB", "20MiB", "20mib", "20480k", "20480K",
        "20480KiB", "20971520", "20971520b", "020m",
    };
    for (size_t i = 0; i < COUNT(mib20); i++) {
        WT_CHECK_EQ(setenv("WEFT_TASK_STACK_SIZE", mib20[i], 1), 0);
        struct wf_config c = config(2);
        run_task_using_stack(&c, 12 * 1024);
    }
    static const char *const small[] = {"64k", "64K", "65536", "65536B",
                                        "64KiB"};
    for (size_t i = 0; i < COUNT(small); i++) {
        WT_CHECK_EQ(setenv("WEFT_TASK_STACK_SIZE", small[i], 1), 0);
        struct wf_config c = config(2);
        run_task_using_stack(&c, 16);
    }
    static const char *const big[] = {"2g", "2G", "2GiB", "64g", "64G",
                                      "65536m", "68719476736"};
    for (size_t i = 0; i < COUNT(big); i++) {
        WT_CHECK_EQ(setenv("WEFT_TASK_STACK_SIZE", big[i], 1), 0);
        struct wf_config c = config(2);
        run_task_using_stack(&c, 64);
    }

    static const char *const bad[] = {
        "xyz", "0", "0k", "-1", "1", "4096", "63k", "65535", "65g",
        "68719476737", "1t", "1.5g", "g", "1 g", " 1g", "1g ", "1gib2",
        "1gi", "1ib", "0x100000", "+1g", "99999999999999999999g",
        "9007199254740992k",
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        expect_rejected("WEFT_TASK_STACK_SIZE", bad[i], FORM_TASK_STACK);
}

WT_CASE(task_stack_size_field_limits)
{
    if (wt_under_valgrind()) /* its client address space is 128 GiB */
        WT_SKIP("reserves more address space than valgrind gives a program");
    struct wf_config c = config(2);
    c.task_stack_size = 64 * 1024; /* the least */
    run_task_using_stack(&c, 16);
    c.task_stack_size = (size_t)64 << 30; /* the most */
    run_task_using_stack(&c, 64);
    c.task_stack_size = 20u << 20;
    run_task_using_stack(&c, 12 * 1024);
    static const size_t bad[] = {1, 4096, 64 * 1024 - 1,
                                 ((size_t)64 << 30) + 1, (size_t)1 << 40,
                                 SIZE_MAX};
    for (size_t i = 0; i < COUNT(bad); i++) {
        c.task_stack_size = bad[i];
        expect_field_rejected(&c);
    }
}

/* ---- WEFT_GUARDED_STACKS and guarded_stacks ---------------------------- */

WT_CASE(guarded_stacks_variable)
{
    static const char *const good[] = {"-1", "0", "1", "5", "1073741824",
                                       "-0"};
    for (size_t i = 0; i < COUNT(good); i++) {
        WT_CHECK_EQ(setenv("WEFT_GUARDED_STACKS", good[i], 1), 0);
        struct wf_config c = config(2);
        run_using_stack(&c, 8);
    }
    static const char *const bad[] = {"-2", "1073741825", "many", "1k",
                                      "5 ", "-", "99999999999999999999"};
    for (size_t i = 0; i < COUNT(bad); i++)
        expect_rejected("WEFT_GUARDED_STACKS", bad[i], FORM_GUARDED);
}

WT_CASE(guarded_stacks_field_limits)
{
    struct wf_config c = config(2);
    c.guarded_stacks = -1;
    run_using_stack(&c, 8);
    c.guarded_stacks = 1L << 30;
    run_using_stack(&c, 8);
    static const long bad[] = {-2, LONG_MIN, (1L << 30) + 1, LONG_MAX};
    for (size_t i = 0; i < COUNT(bad); i++) {
        c.guarded_stacks = bad[i];
        expect_field_rejected(&c);
    }
}

/* ---- WEFT_STALL_MS and stall_ns ---------------------------------------- */

WT_CASE(stall_variable)
{
    static const char *const good[] = {
        "0", "0ms", "0s", "250", "250ms", "250MS", "250Ms", "2s", "2S",
        "1500us", "1500US", "1000000ns", "1ms", "1", "3600s", "3600000",
    };
    for (size_t i = 0; i < COUNT(good); i++) {
        WT_CHECK_EQ(setenv("WEFT_STALL_MS", good[i], 1), 0);
        init_and_stop(NULL);
    }
    static const char *const bad[] = {
        "abc", "-5", "999us", "999999ns", "1ns", "3601s", "3600001", "1h",
        "5m", "10 ms", " 10", "1.5s", "ms", "1e3", "2sec", "99999999999999s",
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        expect_rejected("WEFT_STALL_MS", bad[i], FORM_STALL);
}

WT_CASE(stall_field_limits)
{
    static const int64_t good[] = {WF_MSEC, 3600 * WF_SEC, -1, INT64_MIN,
                                   100 * WF_MSEC};
    struct wf_config c = config(2);
    for (size_t i = 0; i < COUNT(good); i++) {
        c.stall_ns = good[i];
        init_and_stop(&c);
    }
    static const int64_t bad[] = {1, WF_MSEC - 1, 3600 * WF_SEC + 1,
                                  INT64_MAX};
    for (size_t i = 0; i < COUNT(bad); i++) {
        c.stall_ns = bad[i];
        expect_field_rejected(&c);
    }
}

/* ---- WEFT_DEBUG_MIGRATE ------------------------------------------------ */

WT_CASE(debug_migrate_variable)
{
    static const char *const good[] = {"1", "true", "TRUE", "True", "yes",
                                       "Yes", "on", "ON", "0", "false",
                                       "FALSE", "no", "NO", "off", "Off"};
    for (size_t i = 0; i < COUNT(good); i++) {
        WT_CHECK_EQ(setenv("WEFT_DEBUG_MIGRATE", good[i], 1), 0);
        struct wf_config c = config(2);
        run_using_stack(&c, 8);
    }
    static const char *const bad[] = {"2", "maybe", "tru", "1 ", "-1",
                                      "yes please", "00", "y", "n"};
    for (size_t i = 0; i < COUNT(bad); i++)
        expect_rejected("WEFT_DEBUG_MIGRATE", bad[i], FORM_BOOL);
}

/* ---- WEFT_IO ----------------------------------------------------------- */

/* A wait that starts the reactor: read an empty pipe until a near
 * deadline. Returns the backend then in use. */
static void *io_wait_main(void *arg)
{
    (void)arg;
    int p[2];
    WT_CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    char b;
    WT_CHECK_EQ(wf_read(p[0], &b, 1, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);
    const char *be = wf_io_backend();
    close(p[0]);
    close(p[1]);
    return (void *)be;
}

WT_CASE(io_variable)
{
    static const char *const epoll[] = {"epoll", "EPOLL", "Epoll"};
    for (size_t i = 0; i < COUNT(epoll); i++) {
        WT_CHECK_EQ(setenv("WEFT_IO", epoll[i], 1), 0);
        const char *be = run_main(2, io_wait_main, NULL);
        WT_CHECK(be && strcmp(be, "epoll") == 0);
    }
    /* auto and uring are taken (whether io_uring then works depends on
     * the build and the kernel: weft/io.h) */
    static const char *const other[] = {"auto", "AUTO", "uring", "URING"};
    for (size_t i = 0; i < COUNT(other); i++) {
        WT_CHECK_EQ(setenv("WEFT_IO", other[i], 1), 0);
        init_and_stop(NULL);
    }
    static const char *const bad[] = {"bogus", "epol", "io_uring", "epoll ",
                                      " epoll", "epoll,uring", "1"};
    for (size_t i = 0; i < COUNT(bad); i++)
        expect_rejected("WEFT_IO", bad[i], FORM_IO);
}

/* ---- WEFT_IO_RINGS ----------------------------------------------------- */

static void *rings_main(void *arg)
{
    (void)arg;
    return U2P(wf_io_rings());
}

WT_CASE(io_rings_variable)
{
    /* off (or unset): never rings; on: rings where io_uring works */
    static const char *const off[] = {"0", "off", "NO", "false"};
    for (size_t i = 0; i < COUNT(off); i++) {
        WT_CHECK_EQ(setenv("WEFT_IO_RINGS", off[i], 1), 0);
        WT_CHECK_EQ(P2U(run_main(2, rings_main, NULL)), 0);
    }
    WT_CHECK_EQ(unsetenv("WEFT_IO_RINGS"), 0);
    WT_CHECK_EQ(P2U(run_main(2, rings_main, NULL)), 0);
    WT_CHECK(!wf_io_rings()); /* no runtime */
    static const char *const on[] = {"1", "on", "TRUE"};
    for (size_t i = 0; i < COUNT(on); i++) {
        WT_CHECK_EQ(setenv("WEFT_IO_RINGS", on[i], 1), 0);
        run_main(2, rings_main, NULL);
    }
    static const char *const bad[] = {"2", "rings", "", " 1", "uring"};
    for (size_t i = 0; i < COUNT(bad); i++)
        if (bad[i][0]) /* empty: unset */
            expect_rejected("WEFT_IO_RINGS", bad[i], FORM_BOOL);
}

/* ---- WEFT_IO_MSHOT, WEFT_IO_MSHOT_BUFS ---------------------------------- */

/* Whether multishot receives are on, seen from outside: after a first
 * read has armed one, bytes sent later leave the socket's queue
 * (FIONREAD 0) with no read, taken into the ring's buffers. 1 on, 0 off,
 * 2 no rings here. arg: whether on is expected, which sets how long to
 * look: up to 10 s for on (a loaded machine or a sanitizer may take a
 * while to post the completion), 300 ms for off (the bytes stay). */
static void *mshot_main(void *arg)
{
    int looks = P2U(arg) ? 10000 : 300;
    if (!wf_io_rings())
        return U2P(2);
    int sv[2];
    WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char c;
    WT_CHECK_EQ(write(sv[1], "!", 1), 1);
    WT_CHECK_EQ(wf_read(sv[0], &c, 1, wf_deadline_in(5 * WF_SEC)), 1);
    WT_CHECK_EQ(write(sv[1], "xy", 2), 2);
    int q = -1;
    for (int i = 0; i < looks; i++) {
        WT_CHECK_EQ(ioctl(sv[0], FIONREAD, &q), 0);
        if (q == 0)
            break;
        wf_sleep(WF_MSEC);
    }
    char two[2];
    WT_CHECK_EQ(wf_read(sv[0], two, 2, wf_deadline_in(5 * WF_SEC)), 2);
    WT_CHECK(memcmp(two, "xy", 2) == 0);
    WT_CHECK_EQ(wf_close(sv[0]), 0);
    WT_CHECK_EQ(close(sv[1]), 0);
    return U2P(q == 0);
}

WT_CASE(io_mshot_variables)
{
    /* Every boolean spelling takes effect (only "1" did once: "true" was
     * silently off), and the buffer count is checked, not ignored. */
    WT_CHECK_EQ(setenv("WEFT_IO_RINGS", "1", 1), 0);
    static const char *const on[] = {"1", "true", "ON", "yes"};
    for (size_t i = 0; i < COUNT(on); i++) {
        WT_CHECK_EQ(setenv("WEFT_IO_MSHOT", on[i], 1), 0);
        uintptr_t r = P2U(run_main(1, mshot_main, U2P(1)));
        if (r == 2)
            WT_SKIP("no io_uring rings on this machine");
        if (r != 1)
            WT_FAIL("WEFT_IO_MSHOT=%s: multishot not on", on[i]);
    }
    static const char *const off[] = {"0", "off", "false"};
    for (size_t i = 0; i < COUNT(off); i++) {
        WT_CHECK_EQ(setenv("WEFT_IO_MSHOT", off[i], 1), 0);
        WT_CHECK_EQ(P2U(run_main(1, mshot_main, U2P(0))), 0);
    }
    WT_CHECK_EQ(unsetenv("WEFT_IO_MSHOT"), 0);
    WT_CHECK_EQ(P2U(run_main(1, mshot_main, U2P(0))), 0);
    static const char *const bad[] = {"2", "mshot", " 1"};
    for (size_t i = 0; i < COUNT(bad); i++)
        expect_rejected("WEFT_IO_MSHOT", bad[i], FORM_BOOL);
    WT_CHECK_EQ(unsetenv("WEFT_IO_MSHOT"), 0);

    WT_CHECK_EQ(setenv("WEFT_IO_MSHOT", "1", 1), 0);
    static const char *const bufs[] = {"1", "2", "1024", "32768"};
    for (size_t i = 0; i < COUNT(bufs); i++) {
        WT_CHECK_EQ(setenv("WEFT_IO_MSHOT_BUFS", bufs[i], 1), 0);
        WT_CHECK_EQ(P2U(run_main(1, mshot_main, U2P(1))), 1);
    }
    static const char *const badbufs[] = {"0",     "3",  "1000",
                                          "65536", "-2", "4k"};
    for (size_t i = 0; i < COUNT(badbufs); i++)
        expect_rejected("WEFT_IO_MSHOT_BUFS", badbufs[i], FORM_MSHOT_BUFS);
    WT_CHECK_EQ(unsetenv("WEFT_IO_MSHOT_BUFS"), 0);
    WT_CHECK_EQ(unsetenv("WEFT_IO_MSHOT"), 0);
    WT_CHECK_EQ(unsetenv("WEFT_IO_RINGS"), 0);
}

/* ---- WEFT_BLOCKING_THREADS --------------------------------------------- */

WT_CASE(blocking_threads_variable)
{
    static const struct {
        const char *s;
        int n;
    } good[] = {{"1", 1}, {"7", 7}, {"4096", 4096}, {"016", 16}};
    for (size_t i = 0; i < COUNT(good); i++) {
        WT_CHECK_EQ(setenv("WEFT_BLOCKING_THREADS", good[i].s, 1), 0);
        init_quietly(NULL);
        /* the pool's size, not set by call: the variable's */
        WT_CHECK_EQ(wf_blocking_set_threads(0), good[i].n);
        shutdown_clean();
    }
    static const char *const bad[] = {"0", "4097", "-1", "x", "16 ", "16k"};
    for (size_t i = 0; i < COUNT(bad); i++)
        expect_rejected("WEFT_BLOCKING_THREADS", bad[i], FORM_BLOCKING);
}

/* ---- rules shared by every variable ------------------------------------ */

WT_CASE(bad_variable_fails_even_under_a_field)
{
    /* Every variable is read and checked at each start, also one whose
     * field is set and one that only a later part would read. */
    struct wf_config c = config(2);
    c.stack_size = 64 * 1024;
    c.guarded_stacks = 4;
    c.stall_ns = 50 * WF_MSEC;
    expect_rejected_line(&c, "WEFT_WORKERS", "abc",
                         "weft: WEFT_WORKERS=abc: expected " FORM_WORKERS "\n");
    expect_rejected_line(&c, "WEFT_STACK_SIZE", "xyz",
                         "weft: WEFT_STACK_SIZE=xyz: expected " FORM_STACK "\n");
    c.task_stack_size = 1u << 20;
    expect_rejected_line(&c, "WEFT_TASK_STACK_SIZE", "1", "weft: "
                         "WEFT_TASK_STACK_SIZE=1: expected " FORM_TASK_STACK
                         "\n");
    expect_rejected_line(&c, "WEFT_GUARDED_STACKS", "x",
                         "weft: WEFT_GUARDED_STACKS=x: expected " FORM_GUARDED
                         "\n");
    expect_rejected_line(&c, "WEFT_STALL_MS", "x",
                         "weft: WEFT_STALL_MS=x: expected " FORM_STALL "\n");
    expect_rejected_line(&c, "WEFT_IO", "bogus",
                         "weft: WEFT_IO=bogus: expected " FORM_IO "\n");
    expect_rejected_line(&c, "WEFT_BLOCKING_THREADS", "x",
                         "weft: WEFT_BLOCKING_THREADS=x: expected "
                         FORM_BLOCKING "\n");
}

WT_CASE(several_bad_variables_one_line)
{
    /* the first bad one in table order is reported, and only it */
    WT_CHECK_EQ(setenv("WEFT_IO", "bogus", 1), 0);
    WT_CHECK_EQ(setenv("WEFT_STALL_MS", "soon", 1), 0);
    expect_rejected_line(NULL, "WEFT_WORKERS", "many",
                         "weft: WEFT_WORKERS=many: expected " FORM_WORKERS
                         "\n");
}

WT_CASE(value_quoted_on_one_line)
{
    expect_rejected_line(NULL, "WEFT_IO", "ep\noll\t\x7f\xc3\xa9",
                         "weft: WEFT_IO=ep\\x0aoll\\x09\\x7f\\xc3\\xa9: "
                         "expected " FORM_IO "\n");
    char lng[201];
    memset(lng, 'a', 200);
    lng[200] = '\0';
    char line[512];
    snprintf(line, sizeof line, "weft: WEFT_IO=%.64s...: expected %s\n", lng,
             FORM_IO);
    expect_rejected_line(NULL, "WEFT_IO", lng, line);
}

WT_CASE(empty_variable_is_unset)
{
    for (size_t i = 0; i < COUNT(all_vars); i++)
        WT_CHECK_EQ(setenv(all_vars[i], "", 1), 0);
    struct wf_config c = config(2);
    run_using_stack(&c, 64);
}

/* ---- error texts -------------------------------------------------------- */

WT_CASE(error_texts)
{
    static const struct {
        int code;
        const char *text;
    } want[] = {
        {WF_EPERM, "operation not permitted for this caller"},
        {WF_ESRCH, "no such fiber (ended and joined, or never existed)"},
        {WF_EAGAIN, "not possible now (not ready, full, empty, or a "
                    "resource used up)"},
        {WF_ENOMEM, "out of memory"},
        {WF_EBUSY, "busy (in use or waited on)"},
        {WF_EINVAL, "invalid argument, setting or use"},
        {WF_EDEADLK, "would wait on itself"},
        {WF_ENOSYS, "not supported by this build or system"},
        {WF_EALREADY, "already started, completed or not armed"},
        {WF_ETIMEDOUT, "timed out before completing"},
        {WF_ECANCELED, "operation cancelled"},
        {WF_ESHUTDOWN, "weft runtime is not running"},
        {WF_EPIPE, "closed (a channel, or the other end of a pipe or "
                   "socket)"},
        {0, "success"},
    };
    for (size_t i = 0; i < COUNT(want); i++) {
        const char *s = wf_strerror(want[i].code);
        if (strcmp(s, want[i].text) != 0)
            WT_FAIL("wf_strerror(%d) is \"%s\", not \"%s\"", want[i].code, s,
                    want[i].text);
        WT_CHECK(strcmp(wf_strerror(-want[i].code), s) == 0);
    }
    /* socket errors that weft passes on keep the system's texts */
    WT_CHECK(strcmp(wf_strerror(-ECONNREFUSED), strerror(ECONNREFUSED)) == 0);
    WT_CHECK(strcmp(wf_strerror(-EBADF), strerror(EBADF)) == 0);
}

/* ---- misuse of wf_init / wf_run / wf_shutdown --------------------------- */

static void *lifecycle_from_fiber(void *arg)
{
    (void)arg;
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), WF_EPERM);
    WT_CHECK_EQ(wf_init(NULL), WF_EPERM);
    WT_CHECK_EQ(wf_run(&c, count_main, NULL, NULL), WF_EPERM);
    WT_CHECK_EQ(wf_run(&c, NULL, NULL, NULL), WF_EPERM);
    WT_CHECK_EQ(wf_shutdown(), WF_EPERM);
    WT_CHECK_EQ(wf_workers(), 2); /* still running */
    return U2P(1);
}

WT_CASE(init_from_fiber_is_eperm)
{
    WT_CHECK_EQ(P2U(run_main(2, lifecycle_from_fiber, NULL)), 1);
    WT_CHECK_EQ(atomic_load(&main_runs), 0);
    WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);
}

struct probe {
    int init_rc, run_rc, shutdown_rc;
};

static void *probe_thread(void *arg)
{
    struct probe *p = arg;
    p->init_rc = wf_init(NULL);
    p->run_rc = wf_run(NULL, count_main, NULL, NULL);
    return NULL;
}

WT_CASE(lifecycle_misuse)
{
    /* shutdown without a runtime */
    WT_CHECK_EQ(wf_shutdown(), WF_ESHUTDOWN);
    /* no main function: nothing starts */
    WT_CHECK_EQ(wf_run(NULL, NULL, NULL, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_workers(), WF_ESHUTDOWN);

    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    /* twice, from the same thread and from another */
    WT_CHECK_EQ(wf_init(&c), WF_EALREADY);
    WT_CHECK_EQ(wf_run(&c, count_main, NULL, NULL), WF_EALREADY);
    struct probe p = {1, 1, 1};
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, probe_thread, &p), 0);
    WT_CHECK_EQ(pthread_join(t, NULL), 0);
    WT_CHECK_EQ(p.init_rc, WF_EALREADY);
    WT_CHECK_EQ(p.run_rc, WF_EALREADY);
    /* while running, the environment is not looked at: still EALREADY,
     * and nothing printed */
    struct capture cap;
    WT_CHECK_EQ(setenv("WEFT_WORKERS", "abc", 1), 0);
    capture_begin(&cap);
    int rc = wf_init(&c);
    WT_CHECK_EQ(strlen(capture_end(&cap)), 0);
    WT_CHECK_EQ(rc, WF_EALREADY);
    WT_CHECK_EQ(unsetenv("WEFT_WORKERS"), 0);
    WT_CHECK_EQ(wf_workers(), 2);
    WT_CHECK_EQ(atomic_load(&main_runs), 0);

    shutdown_clean();
    WT_CHECK_EQ(wf_shutdown(), WF_ESHUTDOWN);
    /* and it starts again */
    WT_CHECK_EQ(wf_run(&c, count_main, NULL, NULL), 0);
    WT_CHECK_EQ(atomic_load(&main_runs), 1);
}

WT_MAIN()
