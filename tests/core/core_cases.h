/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_cases.h - what the source files of test_core share: the
 * includes, and the helpers defined in test_core.c (which also holds
 * WT_MAIN() and says how the cases are built).
 */
#ifndef WEFT_TESTS_CORE_CASES_H
#define WEFT_TESTS_CORE_CASES_H

#include <weft.h>

#include "wtest_death.h"
#include "wtest_rt.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Counts of fibers created: by 10 under ASan, by 100 under TSan. */
long scaled_spawns(long n);
/* Sleep the calling thread ms milliseconds. */
void nap_ms(long ms);
/* Wait in a fiber until *flag >= v (in a cancelled fiber too). */
void fiber_wait(atomic_int *flag, int v);
/* Poll in a fiber until *flag >= v; false if not so after `limit` ns. */
bool fiber_poll(atomic_int *flag, int v, int64_t limit);
/* Wait in a plain thread until *flag >= v. */
void thread_wait(atomic_int *flag, int v);
/* wf_go / wf_go_opts / wf_join that must succeed. */
struct wf_fiber go(wf_fiber_fn *fn, void *arg);
struct wf_fiber go_named(const char *name, int worker, wf_fiber_fn *fn,
                         void *arg);
void *join(struct wf_fiber f);
/* Fiber bodies: returns its argument; returns 2 * arg + 1 and counts its
 * runs in value_runs; parks until cancelled (counted in parkers_started);
 * runs until *(atomic_int *)arg becomes non-zero. */
void *ret_arg(void *arg);
extern atomic_long value_runs;
void *value_fn(void *arg);
extern atomic_int parkers_started;
void *park_forever(void *arg);
void *run_until_released(void *arg);
/* A flag that cases of several files set to release waiting fibers. */
extern atomic_int release_flag;
/* Waits for release_flag, then counts itself in released_done. */
extern atomic_int released_done;
void *wait_release(void *arg);
/* Counts its runs in counted_runs, returns arg. */
extern atomic_int counted_runs;
void *counted_fn(void *arg);
/* Sleeps arg ms (checking the deadline), returns 0x51. */
void *timed_sleeper(void *arg);
/* Main that checks wf_workers() == arg, returns 100 * 100 from 100
 * value_fn fibers and leaves one fiber parked for shutdown to discard. */
void *restart_main(void *arg);
/* User plus system CPU time of the process. */
int64_t cpu_time_ns(void);

#endif
