/* SPDX-License-Identifier: MIT */
/*
 * tests/soak/soak.h - what the soak program's files share: the run's
 * state, the checks that count violations instead of stopping, the
 * seeds, and the workloads (weft-soak.c says what each checks).
 */
#ifndef WEFT_TESTS_SOAK_H
#define WEFT_TESTS_SOAK_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include <weft.h>

#include "wtest.h"

extern uint64_t g_seed;      /* --seed */
extern int g_round;          /* the round running now, from 0 */
extern char g_dir[PATH_MAX]; /* temporary files' directory */

/* What was done, over the whole run (printed at the end). */
struct soak_tally {
    atomic_long fibers, cancelled, msgs, selects, lock_ops, par_calls,
        timers_fired, timers_stopped, futures, conns, disconnects, exchanges,
        file_bytes;
};
extern struct soak_tally tally;

/* Print a violation with the round and the seed, and count it (the run
 * goes on, and exits 1 at the end). */
__attribute__((format(printf, 3, 4))) void violation(const char *file, int line,
                                                     const char *fmt, ...);

#define CHECK(cond)                                     \
    do {                                                \
        if (!(cond))                                    \
            violation(__FILE__, __LINE__, "%s", #cond); \
    } while (0)
#define CHECK_EQ(a, b)                                                       \
    do {                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                  \
        if (a_ != b_)                                                        \
            violation(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, \
                      a_, b_);                                               \
    } while (0)

/* A call that must succeed (0 or a count). */
#define MUST(call)                                         \
    do {                                                   \
        long r_ = (long)(call);                            \
        if (r_ < 0)                                        \
            violation(__FILE__, __LINE__, "%s: %s", #call, \
                      wf_strerror((int)r_));               \
    } while (0)

/* A per-fiber random stream: wtest.h's xorshift64*. */
static inline uint64_t rnd(uint64_t *s)
{
    return wt_rand(s);
}

/* A seed for one fiber of this round: distinct per (workload, index). */
uint64_t seed_for(unsigned workload, unsigned i);

/* Start fn(arg) in s, counting it; a failure is a violation. */
void spawn_in(struct wf_scope *s, wf_fiber_fn *fn, void *arg);

/* Wait for every member of s to return by itself, then close it: nothing
 * was left for wf_scope_close to cancel. */
void scope_finish(struct wf_scope *s);

/* Run fn((void *)i) for i in [0, n) as members of a scope of their own,
 * and scope_finish it. */
void run_fibers(wf_fiber_fn *fn, int n);

/* The workloads: each runs one round's worth and returns (arg unused). */
void *w_scopes(void *arg); /* soak_fibers.c */
void *w_chan(void *arg);
void *w_locks(void *arg);
void *w_par(void *arg); /* soak_work.c */
void *w_timers(void *arg);
void *w_futures(void *arg);
void *w_sockets(void *arg); /* soak_io.c */
void *w_files(void *arg);

#endif
