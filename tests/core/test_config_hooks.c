/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_config_hooks.c - what the public API cannot show of the
 * settings: the exact value the parser makes of every accepted spelling
 * (src/core/config.h), and that the runtime uses it (the default stack's
 * region, the stall threshold, migration, the guard cap, the backend and
 * pool size kept for later). test_config.c covers the same variables from
 * outside, the error lines included.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/stack.h"
#include "core/config.h"
#include "core/core_int.h"
#include "core/core_test.h"
#include "wtest_rt.h"

static const char *const all_vars[] = {
    "WEFT_WORKERS", "WEFT_STACK_SIZE", "WEFT_TASK_STACK_SIZE",
    "WEFT_GUARDED_STACKS", "WEFT_STALL_MS", "WEFT_DEBUG_MIGRATE", "WEFT_IO",
    "WEFT_BLOCKING_THREADS",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void clear_vars(void)
{
    for (size_t i = 0; i < COUNT(all_vars); i++)
        unsetenv(all_vars[i]);
}

__attribute__((constructor)) static void clear_at_start(void)
{
    clear_vars();
}

/* Read the environment with only name=value set (value NULL: nothing). */
static struct wf__env read_one(const char *name, const char *value)
{
    struct wf__env env;
    clear_vars();
    if (value)
        WT_CHECK_EQ(setenv(name, value, 1), 0);
    int rc = wf__config_read_env(&env);
    if (rc != 0)
        WT_FAIL("%s=%s: %d", name, value, rc);
    return env;
}

#define GiB ((int64_t)1 << 30)
#define MiB ((int64_t)1 << 20)
#define KiB ((int64_t)1 << 10)

WT_CASE(parsed_values)
{
    static const struct {
        const char *name, *value;
        int64_t want;
    } rows[] = {
        {"WEFT_WORKERS", "1", 1},
        {"WEFT_WORKERS", "4096", 4096},
        {"WEFT_WORKERS", "0012", 12},
        {"WEFT_STACK_SIZE", "1", 1},
        {"WEFT_STACK_SIZE", "4096b", 4096},
        {"WEFT_STACK_SIZE", "4096B", 4096},
        {"WEFT_STACK_SIZE", "16k", 16 * KiB},
        {"WEFT_STACK_SIZE", "16K", 16 * KiB},
        {"WEFT_STACK_SIZE", "16kb", 16 * KiB},
        {"WEFT_STACK_SIZE", "16KiB", 16 * KiB},
        {"WEFT_STACK_SIZE", "16kIb", 16 * KiB},
        {"WEFT_STACK_SIZE", "3m", 3 * MiB},
        {"WEFT_STACK_SIZE", "3MB", 3 * MiB},
        {"WEFT_STACK_SIZE", "3MiB", 3 * MiB},
        {"WEFT_STACK_SIZE", "1g", GiB},
        {"WEFT_STACK_SIZE", "1G", GiB},
        {"WEFT_STACK_SIZE", "1GiB", GiB},
        {"WEFT_STACK_SIZE", "1024m", GiB},
        {"WEFT_STACK_SIZE", "1048576k", GiB},
        {"WEFT_STACK_SIZE", "1073741824", GiB},
        {"WEFT_TASK_STACK_SIZE", "64k", 64 * KiB},
        {"WEFT_TASK_STACK_SIZE", "65536", 64 * KiB},
        {"WEFT_TASK_STACK_SIZE", "65536B", 64 * KiB},
        {"WEFT_TASK_STACK_SIZE", "100000", 100000},
        {"WEFT_TASK_STACK_SIZE", "8M", 8 * MiB},
        {"WEFT_TASK_STACK_SIZE", "1g", GiB},
        {"WEFT_TASK_STACK_SIZE", "4096m", 4 * GiB},
        {"WEFT_TASK_STACK_SIZE", "2GiB", 2 * GiB},
        {"WEFT_TASK_STACK_SIZE", "64g", 64 * GiB},
        {"WEFT_TASK_STACK_SIZE", "68719476736", 64 * GiB},
        {"WEFT_GUARDED_STACKS", "-1", -1},
        {"WEFT_GUARDED_STACKS", "0", -1},
        {"WEFT_GUARDED_STACKS", "1", 1},
        {"WEFT_GUARDED_STACKS", "1073741824", 1073741824},
        {"WEFT_STALL_MS", "0", -1},
        {"WEFT_STALL_MS", "0ns", -1},
        {"WEFT_STALL_MS", "1", WF_MSEC},
        {"WEFT_STALL_MS", "250", 250 * WF_MSEC},
        {"WEFT_STALL_MS", "250ms", 250 * WF_MSEC},
        {"WEFT_STALL_MS", "250mS", 250 * WF_MSEC},
        {"WEFT_STALL_MS", "1500us", 1500 * WF_USEC},
        {"WEFT_STALL_MS", "1000000ns", WF_MSEC},
        {"WEFT_STALL_MS", "2s", 2 * WF_SEC},
        {"WEFT_STALL_MS", "3600s", 3600 * WF_SEC},
        {"WEFT_DEBUG_MIGRATE", "1", 1},
        {"WEFT_DEBUG_MIGRATE", "On", 1},
        {"WEFT_DEBUG_MIGRATE", "YES", 1},
        {"WEFT_DEBUG_MIGRATE", "true", 1},
        {"WEFT_DEBUG_MIGRATE", "0", 0},
        {"WEFT_DEBUG_MIGRATE", "off", 0},
        {"WEFT_DEBUG_MIGRATE", "No", 0},
        {"WEFT_DEBUG_MIGRATE", "FALSE", 0},
        {"WEFT_IO", "auto", WF__IO_AUTO},
        {"WEFT_IO", "epoll", WF__IO_EPOLL},
        {"WEFT_IO", "Uring", WF__IO_URING},
        {"WEFT_BLOCKING_THREADS", "1", 1},
        {"WEFT_BLOCKING_THREADS", "4096", 4096},
    };
    for (size_t i = 0; i < COUNT(rows); i++) {
        struct wf__env e = read_one(rows[i].name, rows[i].value);
        const char *n = rows[i].name;
        int64_t got = !strcmp(n, "WEFT_WORKERS")          ? e.workers
                      : !strcmp(n, "WEFT_STACK_SIZE")     ? (int64_t)e.stack_size
                      : !strcmp(n, "WEFT_TASK_STACK_SIZE") ? (int64_t)e.task_stack_size
                      : !strcmp(n, "WEFT_GUARDED_STACKS") ? e.guarded_stacks
                      : !strcmp(n, "WEFT_STALL_MS")       ? e.stall_ns
                      : !strcmp(n, "WEFT_DEBUG_MIGRATE")  ? e.debug_migrate
                      : !strcmp(n, "WEFT_IO")             ? e.io
                                                          : e.blocking_threads;
        if (got != rows[i].want)
            WT_FAIL("%s=%s read as %lld, not %lld", n, rows[i].value,
                    (long long)got, (long long)rows[i].want);
    }
    /* nothing set, or set empty: every field 0 */
    static const struct wf__env zero;
    struct wf__env e = read_one("WEFT_IO", NULL);
    WT_CHECK(memcmp(&e, &zero, sizeof e) == 0);
    for (size_t i = 0; i < COUNT(all_vars); i++)
        WT_CHECK_EQ(setenv(all_vars[i], "", 1), 0);
    WT_CHECK_EQ(wf__config_read_env(&e), 0);
    WT_CHECK(memcmp(&e, &zero, sizeof e) == 0);
}

/* Every signal the C library names (sigabbrev_np) that may carry dumps
 * is taken by its name, with or without SIG, in either case, as README
 * says; the names it did not know (STKFLT, POLL) were found by
 * tests/fuzz/fuzz_config.c, whose reference uses sigabbrev_np. */
WT_CASE(every_signal_name)
{
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        const char *n = sigabbrev_np(sig);
        if (!n || !wf__config_signal_ok(sig))
            continue;
        char lower[32], with_sig[40];
        size_t k = 0;
        for (; n[k] && k < sizeof lower - 1; k++)
            lower[k] =
                (char)(n[k] >= 'A' && n[k] <= 'Z' ? n[k] - 'A' + 'a' : n[k]);
        lower[k] = '\0';
        snprintf(with_sig, sizeof with_sig, "SIG%s", n);
        const char *forms[] = {n, lower, with_sig};
        for (size_t f = 0; f < COUNT(forms); f++) {
            struct wf__env e = {0};
            int rc = wf__config_parse("WEFT_DUMP_SIGNAL", forms[f], &e);
            if (rc != 0 || e.dump_signal != sig)
                WT_FAIL("WEFT_DUMP_SIGNAL=%s: %d, signal %d (want %d)",
                        forms[f], rc, e.dump_signal, sig);
        }
    }
}

WT_CASE(values_kept_for_later_parts)
{
    struct wf__env e = read_one("WEFT_IO", "uring");
    (void)e;
    WT_CHECK_EQ(wf__config_io(), WF__IO_URING);
    e = read_one("WEFT_BLOCKING_THREADS", "9");
    WT_CHECK_EQ(wf__config_blocking_threads(), 9);
    WT_CHECK_EQ(wf__config_io(), WF__IO_AUTO); /* unset at this read */
    /* a failed read keeps the last good values */
    WT_CHECK_EQ(setenv("WEFT_IO", "bogus", 1), 0);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    WT_CHECK(saved >= 0 && null >= 0);
    dup2(null, 2); /* the report is test_config.c's business */
    int rc = wf__config_read_env(&e);
    dup2(saved, 2);
    close(saved);
    close(null);
    WT_CHECK_EQ(rc, WF_EINVAL);
    WT_CHECK_EQ(wf__config_blocking_threads(), 9);
    WT_CHECK_EQ(wf__config_io(), WF__IO_AUTO);
}

/* ---- the runtime uses what was read ------------------------------------- */

static void *nothing(void *arg)
{
    return arg;
}

static void *run_fiber(wf_fiber_fn *fn, void *arg)
{
    struct wf_fiber f;
    void *r = NULL;
    WT_CHECK_EQ(wf_go(&f, fn, arg), 0);
    WT_CHECK_EQ(wf_join(f, &r, WF_FOREVER), 0);
    return r;
}

static void start(const struct wf_config *c)
{
    int rc = wf_init(c);
    if (rc != 0)
        WT_FAIL("wf_init: %s (%d)", wf_strerror(rc), rc);
}

WT_CASE(runtime_uses_values)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* the default stack's region is rounded once */
    struct wf_config c = config(2);
    start(&c);
    WT_CHECK_EQ(wf__rt.stack_size, wf__stack_round(128 * 1024));
    WT_CHECK_EQ(wf__rt.task_stack_size, (size_t)1 << 30);
    for (int i = 0; i < 2; i++)
        WT_CHECK(wf__stack_usable(wf__rt.workers[i].tstack) >= (size_t)1 << 30);
    WT_CHECK_EQ(wf__rt.stall_ns, 100 * WF_MSEC);
    WT_CHECK(!wf__rt.debug_migrate);
    shutdown_clean();

    WT_CHECK_EQ(setenv("WEFT_STACK_SIZE", "1GiB", 1), 0);
    WT_CHECK_EQ(setenv("WEFT_TASK_STACK_SIZE", "100000", 1), 0);
    WT_CHECK_EQ(setenv("WEFT_STALL_MS", "250", 1), 0);
    WT_CHECK_EQ(setenv("WEFT_DEBUG_MIGRATE", "yes", 1), 0);
    start(&c);
    WT_CHECK_EQ(wf__rt.stack_size, ((size_t)1 << 30) + page);
    WT_CHECK_EQ(wf__rt.task_stack_size, 100000);
    for (int i = 0; i < 2; i++) {
        size_t n = wf__stack_usable(wf__rt.workers[i].tstack);
        WT_CHECK(n >= 100000 && n < 100000 + page);
    }
    WT_CHECK_EQ(wf__rt.stall_ns, 250 * WF_MSEC);
    WT_CHECK(wf__rt.debug_migrate);
    WT_CHECK_EQ(P2U(run_fiber(nothing, U2P(5))), 5);
    shutdown_clean();

    /* fields win over variables; a negative stall is off */
    c.stack_size = 64 * 1024;
    c.task_stack_size = (size_t)3 << 30;
    c.stall_ns = -5;
    start(&c);
    WT_CHECK_EQ(wf__rt.stack_size, wf__stack_round(64 * 1024));
    WT_CHECK_EQ(wf__rt.task_stack_size, (size_t)3 << 30);
    WT_CHECK_EQ(wf__rt.stall_ns, -1);
    shutdown_clean();

    WT_CHECK_EQ(setenv("WEFT_STALL_MS", "0", 1), 0);
    start(NULL);
    WT_CHECK_EQ(wf__rt.stall_ns, -1);
    shutdown_clean();
}

static atomic_int started;

static void *park_until_cancelled(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    while (wf_park(WF_FOREVER) == 0)
        ;
    return NULL;
}

static void *guard_main(void *arg)
{
    enum { N = 20 };
    struct wf_fiber f[N];
    atomic_store(&started, 0);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(&f[i], park_until_cancelled, NULL), 0);
    while (atomic_load(&started) < N)
        wf_sleep(WF_MSEC);
    long got = wf__test_guarded_stacks();
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_cancel(f[i]), 0);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
    return U2P(got);
}

WT_CASE(guard_cap_from_variable)
{
    static const struct {
        const char *s;
        long cap;
    } rows[] = {{"3", 3}, {"0", 0}, {"-1", 0}, {"1", 1}};
    for (size_t i = 0; i < COUNT(rows); i++) {
        WT_CHECK_EQ(setenv("WEFT_GUARDED_STACKS", rows[i].s, 1), 0);
        /* main and N others exist: exactly `cap` have guards */
        WT_CHECK_EQ(P2U(run_main(2, guard_main, NULL)), rows[i].cap);
    }
}

WT_MAIN()
