/* SPDX-License-Identifier: MIT */
/*
 * src/common/fault.c - the counter behind fault injection (fault.h).
 *
 * One global count of the calls of the armed kinds; the call whose number
 * is `at` fails (and every later one with `onward`). Calls from several
 * threads race for numbers, so in a multi-threaded run a given N may land
 * on a different site from one run to the next; the line printed at each
 * injected failure says which site it was. Built only with
 * -DWEFT_FAULT=ON; the plain build compiles the hooks to stubs.
 */
#include "common/fault.h"
#include "common/fault_test.h"
#include "common/futex.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef WEFT_FAULT_ENABLED
#include <dlfcn.h>

static const char *const kind_names[WF__FAULT_NKINDS] = {
    "alloc", "mmap", "thread", "uring", "fd",
};

/* relaxed everywhere: the counts are statistics and the arming happens
 * before the runtime's threads exist (or they are quiet, fault_test.h). */
static atomic_long calls;
static atomic_long failed;
static atomic_long fail_at;
static atomic_bool fail_onward;
static atomic_uint kinds = (1u << WF__FAULT_NKINDS) - 1;
static atomic_int env_state; /* 0 unread, 1 reading, 2 read */

static void report(void)
{
    fprintf(stderr, "weft: fault: %ld counted calls, %ld failed\n",
            atomic_load_explicit(&calls, memory_order_relaxed),
            atomic_load_explicit(&failed, memory_order_relaxed));
}

static long env_long(const char *name)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0) {
        fprintf(stderr, "weft: %s=%s: expected a count\n", name, s);
        return 0;
    }
    return v;
}

static unsigned env_kinds(void)
{
    const char *s = getenv("WEFT_FAULT_SITES");
    if (!s || !*s)
        return (1u << WF__FAULT_NKINDS) - 1;
    unsigned m = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        int k;
        for (k = 0; k < WF__FAULT_NKINDS; k++)
            if (strlen(kind_names[k]) == n && !strncmp(s, kind_names[k], n))
                break;
        if (k < WF__FAULT_NKINDS)
            m |= 1u << k;
        else
            fprintf(stderr,
                    "weft: WEFT_FAULT_SITES: unknown kind '%.*s' "
                    "(alloc, mmap, thread, uring, fd)\n",
                    (int)n, s);
        s += n;
        if (*s == ',')
            s++;
    }
    return m;
}

static void read_env(void)
{
    int st = 0;
    if (atomic_compare_exchange_strong(&env_state, &st, 1)) {
        long from = env_long("WEFT_FAULT_FROM");
        long at = from ? from : env_long("WEFT_FAULT_AT");
        atomic_store_explicit(&kinds, env_kinds(), memory_order_relaxed);
        atomic_store_explicit(&fail_onward, from != 0, memory_order_relaxed);
        atomic_store_explicit(&fail_at, at, memory_order_relaxed);
        if (env_long("WEFT_FAULT_REPORT"))
            atexit(report);
        atomic_store(&env_state, 2);
        return;
    }
    struct wf__backoff b = WF__BACKOFF_INIT;
    while (atomic_load(&env_state) != 2)
        wf__backoff_pause(&b); /* the reader may have been preempted */
}

__attribute__((noinline)) bool wf__fault_hit(enum wf__fault_kind kind)
{
    if (atomic_load_explicit(&env_state, memory_order_acquire) != 2)
        read_env();
    if (!(atomic_load_explicit(&kinds, memory_order_relaxed) & 1u << kind))
        return false;
    long n = atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed) + 1;
    long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (at == 0 || n < at ||
        (n > at && !atomic_load_explicit(&fail_onward, memory_order_relaxed)))
        return false;
    atomic_fetch_add_explicit(&failed, 1, memory_order_relaxed);
    /* The wrappers are inline: the return address is in the function that
     * made the call. */
    void *ra = __builtin_return_address(0);
    Dl_info di;
    if (dladdr(ra, &di) && di.dli_fname)
        fprintf(stderr, "weft: fault: call %ld (%s) fails in %s (%s+%#lx)\n", n,
                kind_names[kind], di.dli_sname ? di.dli_sname : "?",
                di.dli_fname,
                (unsigned long)((char *)ra - (char *)di.dli_fbase));
    else
        fprintf(stderr, "weft: fault: call %ld (%s) fails at %p\n", n,
                kind_names[kind], ra);
    return true;
}

void wf__fault_arm(long at, bool onward, unsigned mask)
{
    if (atomic_load_explicit(&env_state, memory_order_acquire) != 2)
        read_env();
    atomic_store_explicit(&kinds, mask, memory_order_relaxed);
    atomic_store_explicit(&fail_onward, onward, memory_order_relaxed);
    atomic_store_explicit(&fail_at, at, memory_order_relaxed);
    atomic_store_explicit(&calls, 0, memory_order_relaxed);
    atomic_store_explicit(&failed, 0, memory_order_relaxed);
}

long wf__fault_calls(void)
{
    return atomic_load_explicit(&calls, memory_order_relaxed);
}

long wf__fault_failed(void)
{
    return atomic_load_explicit(&failed, memory_order_relaxed);
}

#else

void wf__fault_arm(long at, bool onward, unsigned mask)
{
    (void)at;
    (void)onward;
    (void)mask;
}

long wf__fault_calls(void)
{
    return -1;
}

long wf__fault_failed(void)
{
    return 0;
}

#endif
