/* SPDX-License-Identifier: MIT */
/*
 * tests/par/test_typed.c - typed tasks (WF_TASK_TYPE, WF_TASK_TYPE_VOID in
 * weft/par.h): results on 1 worker and on all, a child that must be stolen
 * (its result read back by the sync), a void task with a struct argument,
 * nesting with task groups and plain spawns, mixed order with the other
 * fork-join calls, no runtime (serial), and the errors. The deep chains
 * are in test_deep.c. No case asserts on time.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "wtest_rt.h"

/* ---- fib ----------------------------------------------------------------- */

static long fib(int n);
WF_TASK_TYPE(fib_task, long, fib, int)

static long fib(int n)
{
    if (n < 2)
        return n;
    struct fib_task t;
    WT_CHECK_EQ(fib_task_spawn(&t, n - 1), 0);
    long y = fib(n - 2);
    return fib_task_sync(&t) + y;
}

static long fib_ref(int n)
{
    long a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        long c = a + b;
        a = b;
        b = c;
    }
    return a;
}

struct fib_job {
    int n;
    long r;
};

static void fib_root(void *p)
{
    struct fib_job *j = p;
    j->r = fib(j->n);
}

static void *fib_main(void *arg)
{
    int top = wt_sanitized() ? 22 : 27;
    for (int n = 0; n <= top; n += (n < 5 ? 1 : 11)) {
        struct fib_job j = {n, -1};
        WT_CHECK_EQ(wf_par_run(fib_root, &j), 0);
        WT_CHECK_EQ(j.r, fib_ref(n));
    }
    return arg;
}

WT_CASE(fib_one_worker)
{
    WT_CHECK(run_main(1, fib_main, &(int){0}) != NULL);
}

WT_CASE(fib_all_workers)
{
    WT_CHECK(run_main(0, fib_main, &(int){0}) != NULL);
}

WT_CASE(fib_two_workers)
{
    WT_CHECK(run_main(2, fib_main, &(int){0}) != NULL);
}

WT_CASE(call_is_plain)
{
    /* No runtime and no task: name_call is the function itself. */
    WT_CHECK_EQ(fib_task_call(20), 6765);
}

/* ---- a child that is stolen ------------------------------------------ */

struct marker {
    pthread_t ran_on;
    atomic_int done;
    long value;
};

static long mark(struct marker *m)
{
    m->ran_on = pthread_self();
    /* release: pairs with the spinning owner's acquire load. */
    atomic_store_explicit(&m->done, 1, memory_order_release);
    return m->value * 2;
}
WF_TASK_TYPE(mark_task, long, mark, struct marker *)

static int nothing(int x)
{
    return x;
}
WF_TASK_TYPE(nothing_task, int, nothing, int)

static void steal_root(void *p)
{
    struct marker *m = p;
    struct mark_task t;
    WT_CHECK_EQ(mark_task_spawn(&t, m), 0);
    /* Keep busy without syncing: each spawn lets the deque hand its older
     * half (the marker) to the other worker, which asks for work. */
    for (long i = 0; !atomic_load_explicit(&m->done, memory_order_acquire);
         i++) {
        struct nothing_task d;
        WT_CHECK_EQ(nothing_task_spawn(&d, (int)i), 0);
        WT_CHECK_EQ(nothing_task_sync(&d), (int)i);
        if (i % 1024 == 0)
            sched_yield(); /* a loaded machine: let the thief run */
    }
    /* The child ran elsewhere: the sync reads the result it left. */
    WT_CHECK(!pthread_equal(m->ran_on, pthread_self()));
    WT_CHECK_EQ(mark_task_sync(&t), m->value * 2);
}

static void *steal_main(void *arg)
{
    for (int k = 0; k < 20; k++) {
        struct marker m = {.value = 1000 + k};
        WT_CHECK_EQ(wf_par_run(steal_root, &m), 0);
    }
    return arg;
}

WT_CASE(stolen_child_two_workers)
{
    WT_CHECK(run_main(2, steal_main, &(int){0}) != NULL);
}

/* ---- void tasks with a struct argument --------------------------------- */

struct range {
    const long *v;
    long lo, hi;
    long *out;
};

static void sum(struct range r);
WF_TASK_TYPE_VOID(sum_task, sum, struct range)

static void sum(struct range r)
{
    if (r.hi - r.lo <= 16) {
        long s = 0;
        for (long i = r.lo; i < r.hi; i++)
            s += r.v[i];
        *r.out = s;
        return;
    }
    long mid = r.lo + (r.hi - r.lo) / 2, left, right;
    struct sum_task t;
    WT_CHECK_EQ(sum_task_spawn(&t, (struct range){r.v, r.lo, mid, &left}), 0);
    sum((struct range){r.v, mid, r.hi, &right});
    WT_CHECK_EQ(sum_task_sync(&t), 0);
    *r.out = left + right;
}

enum { NSUM = 100003 };

static void sum_root(void *p)
{
    struct range *r = p;
    sum(*r);
}

static void check_sum(void)
{
    long *v = malloc(NSUM * sizeof *v), want = 0, got = -1;
    WT_CHECK(v != NULL);
    for (long i = 0; i < NSUM; i++) {
        v[i] = (i * 7919) % 1000 - 500;
        want += v[i];
    }
    struct range r = {v, 0, NSUM, &got};
    WT_CHECK_EQ(wf_par_run(sum_root, &r), 0);
    WT_CHECK_EQ(got, want);
    free(v);
}

static void *sum_main(void *arg)
{
    check_sum();
    return arg;
}

WT_CASE(void_struct_arg_all_workers)
{
    WT_CHECK(run_main(0, sum_main, &(int){0}) != NULL);
}

WT_CASE(void_struct_arg_one_worker)
{
    WT_CHECK(run_main(1, sum_main, &(int){0}) != NULL);
}

/* ---- nesting with groups and plain spawns ------------------------------ */

/* Each level forks its two halves a different way: a typed task, a task
 * group, or wf_task_spawn, and the levels nest inside each other. */
static long mixed(int n);
WF_TASK_TYPE(mixed_task, long, mixed, int)

struct mixed_arg {
    struct wf_task t;
    int n;
    long r;
};

static void mixed_plain(void *p)
{
    struct mixed_arg *a = p;
    a->r = mixed(a->n);
}

static long mixed(int n)
{
    if (n < 2)
        return n;
    switch (n % 3) {
    case 0: {
        struct mixed_task t;
        WT_CHECK_EQ(mixed_task_spawn(&t, n - 1), 0);
        long y = mixed(n - 2);
        return mixed_task_sync(&t) + y;
    }
    case 1: {
        struct wf_task_group g;
        struct mixed_arg a = {.n = n - 2};
        WT_CHECK_EQ(wf_task_group_init(&g), 0);
        WT_CHECK_EQ(wf_task_group_fork(&g, &a.t, mixed_plain, &a), 0);
        /* A typed task spawned after a group's fork and synced before
         * its join. */
        struct mixed_task t;
        WT_CHECK_EQ(mixed_task_spawn(&t, n - 1), 0);
        long x = mixed_task_sync(&t);
        WT_CHECK_EQ(wf_task_group_join(&g), 0);
        return x + a.r;
    }
    default: {
        struct mixed_arg a = {.n = n - 1};
        WT_CHECK_EQ(wf_task_spawn(&a.t, mixed_plain, &a), 0);
        /* Two typed tasks inside a plain spawn, synced in reverse. */
        struct mixed_task t1, t2;
        int m = n - 2;
        long y;
        if (m >= 2) {
            WT_CHECK_EQ(mixed_task_spawn(&t1, m - 1), 0);
            WT_CHECK_EQ(mixed_task_spawn(&t2, m - 2), 0);
            y = mixed_task_sync(&t2);
            y += mixed_task_sync(&t1);
        } else {
            y = m;
        }
        WT_CHECK_EQ(wf_task_sync(&a.t), 0);
        return a.r + y;
    }
    }
}

static void mixed_root(void *p)
{
    struct fib_job *j = p;
    j->r = mixed(j->n);
}

static void *mixed_main(void *arg)
{
    int n = wt_sanitized() ? 20 : 25;
    struct fib_job j = {n, -1};
    WT_CHECK_EQ(wf_par_run(mixed_root, &j), 0);
    WT_CHECK_EQ(j.r, fib_ref(n));
    /* Straight from a task group forked in the fiber. */
    struct wf_task_group g;
    struct mixed_arg a = {.n = n};
    WT_CHECK_EQ(wf_task_group_init(&g), 0);
    WT_CHECK_EQ(wf_task_group_fork(&g, &a.t, mixed_plain, &a), 0);
    WT_CHECK_EQ(wf_task_group_join(&g), 0);
    WT_CHECK_EQ(a.r, fib_ref(n));
    return arg;
}

WT_CASE(nested_mixed_all_workers)
{
    WT_CHECK(run_main(0, mixed_main, &(int){0}) != NULL);
}

WT_CASE(nested_mixed_two_workers)
{
    WT_CHECK(run_main(2, mixed_main, &(int){0}) != NULL);
}

WT_CASE(nested_mixed_one_worker)
{
    WT_CHECK(run_main(1, mixed_main, &(int){0}) != NULL);
}

/* ---- no runtime, errors -------------------------------------------------- */

WT_CASE(no_runtime_serial)
{
    WT_CHECK(wf_workers() == WF_ESHUTDOWN);
    WT_CHECK_EQ(fib(20), 6765);
    WT_CHECK_EQ(mixed(18), fib_ref(18));
    check_sum();
}

static void *outside_task_main(void *arg)
{
    /* In a fiber, outside any task: spawn refuses and runs nothing. */
    struct marker m = {.value = 1};
    struct mark_task t;
    WT_CHECK_EQ(mark_task_spawn(&t, &m), WF_EPERM);
    WT_CHECK_EQ(atomic_load(&m.done), 0);
    return arg;
}

WT_CASE(outside_task_eperm)
{
    WT_CHECK(run_main(1, outside_task_main, &(int){0}) != NULL);
}

WT_MAIN()
