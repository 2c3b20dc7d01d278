/* SPDX-License-Identifier: MIT */
/*
 * weft/inspect.h - looking inside a running runtime: counters, the list of
 * fibers, fiber dumps on a signal, the deadlock report.
 *
 * Counters. Each worker counts what it does in counters only it writes
 * (a relaxed load and store each, no locked instruction), so they stay on
 * in every build; wf_stats() sums them when asked. The number of live
 * fibers is kept per worker too and added to a shared count in batches
 * (of 32 spawns or returns, and whenever a fiber parks or a worker goes
 * idle); its peak is taken at those additions. A snapshot taken while
 * workers run may see a worker's counter a step behind and the live
 * count off by up to a batch per worker; once the workers are quiet the
 * sums and the live count are exact. The peak is exact with one worker;
 * with several it may miss or overshoot the true peak by less than a
 * batch per worker.
 *
 * Fiber list. wf_fibers_list() describes every fiber that has started and
 * not returned: its id, name, state (running, runnable, parked and on
 * what), worker, and how long it has been in that state.
 *
 * Dumps. With wf_config.dump_signal or WEFT_DUMP_SIGNAL set (a name such
 * as QUIT or SIGUSR1, or a number), that signal makes the runtime print
 * the fiber list on stderr, with the stack of each parked fiber (return
 * addresses found by walking the saved frame-pointer chain, named through
 * dladdr() where the symbol is exported: link programs with -rdynamic to
 * see their own functions). The handler only wakes the runtime's monitor
 * thread, which prints; so the dump is safe at any moment, and comes a
 * moment later. wf_init installs the handler (SA_RESTART) and
 * wf_shutdown puts the previous one back; the signal no longer has its
 * default effect while the runtime runs (SIGQUIT does not kill). The
 * runtime's threads must not block the signal, or some thread must not
 * (it goes to any thread that does not). Under ThreadSanitizer a signal
 * is handled only when its thread next makes a call TSan intercepts, so
 * one sent to the process may wait on a thread blocked in a futex.
 * Builds with the portable
 * ucontext switch (-DWEFT_CONTEXT=ucontext) print "no frame pointers"
 * instead of stacks. wf_fibers_dump() prints the same dump on demand.
 *
 * A dump looks like:
 *   weft: fiber dump: 3 fibers, 2 workers
 *   fiber 4294967298 "recv-a" [parked: chan, 1503 ms, worker 1]
 *     #0 0x55d0c1a2b3c4 wf_chan_recv+0x1a4
 *     #1 0x55d0c1a2a010 receiver+0x20
 *   fiber 4294967297 "main" [parked: join, 1504 ms, worker 0]
 *   ...
 *
 * Deadlocks. With wf_config.deadlock_ns or WEFT_DEADLOCK_MS set, the
 * monitor prints
 *   weft: all fibers are asleep - deadlock! (N fibers, for T ms)
 * followed by a dump, once per start of the runtime (it does not stop
 * the program; a test or a supervisor may act on it), when all of the
 * following have held without a change for the threshold:
 *   - every worker sleeps: no fiber is running or runnable, and no task;
 *   - no timer is armed anywhere: no sleep, no deadline of any wait, no
 *     user timer (weft/timer.h);
 *   - every fiber is parked in one of: a channel operation, a mutex, a
 *     rwlock, a condition variable, a semaphore, a wait group, a barrier,
 *     a once, an event, a join, a scope's wait;
 *   - no job of the blocking-call pool is queued or running;
 *   - every plain thread inside a weft call is asleep without a deadline
 *     in a wait of the same kinds as the fibers' above (a plain thread in
 *     wf_join, wf_chan_recv... with WF_FOREVER: wf_run's own thread,
 *     joining main, is one); one in wf_sleep, in I/O, waiting for a
 *     future or a signal, or running a wf_once function counts as busy.
 * It never reports when a fiber waits in wf_park (any thread may
 * wf_unpark it), for a future (plain threads, the pool, the reactor and
 * other processes complete them), for I/O or a signal, or for a task
 * group. What it cannot see: a plain thread outside any weft call (or a
 * signal handler) that will later send, unlock or signal something a
 * fiber waits on. Turning the report on is the program's statement that
 * it has no such thread: meant for programs whose work runs in fibers
 * (wf_run), for tests and for debugging. Off by default.
 */
#ifndef WEFT_INSPECT_H
#define WEFT_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "fiber.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one worker has done since the runtime started. */
struct wf_worker_stats {
    uint64_t switches; /* context switches: fiber to fiber, and to or from
                        * the worker's scheduler loop */
    uint64_t steals;   /* fibers it took from other workers' queues */
    uint64_t parks;    /* times a fiber running on it parked (any wait
                        * that switched away: channel, lock, sleep...) */
    uint64_t tasks;    /* fork-join tasks its scheduler loop ran (roots
                        * and stolen tasks; a join's inline runs of its
                        * own children are not counted) */
    uint64_t timers;   /* timers it fired: deadlines, sleeps, user timers */
    uint64_t spawns;   /* fibers spawned by fibers running on it */
    uint64_t exits;    /* fibers that returned on it */
    uint64_t io;       /* descriptor waits (weft/io.h) begun by fibers
                        * running on it */
};

struct wf_stats {
    int workers; /* the runtime's worker count */
    /* Every worker's counters added up; `spawns` also counts fibers
     * spawned by plain threads. */
    struct wf_worker_stats total;
    uint64_t fibers_live;   /* started and not returned */
    uint64_t fibers_peak;   /* most live at once since the start */
    uint64_t stacks_mapped; /* fiber stacks that exist (mapped in
                                   * slabs or with a guard page); never
                                   * fewer than the live fibers */
    uint64_t stacks_cached; /* of them, free for reuse */
};

/* Fill *out with the runtime's totals and, when per_worker is not NULL,
 * per_worker[0 .. min(n, workers)-1] with each worker's counters. Returns
 * the number of workers (which may exceed n). Any thread, any time while
 * the runtime runs (not while wf_shutdown runs: it frees the workers);
 * takes no lock that workers take on their hot paths.
 * Errors: WF_EINVAL out NULL, or per_worker NULL with n > 0;
 * WF_ESHUTDOWN no runtime runs. */
WF_API int wf_stats(struct wf_stats *out, struct wf_worker_stats *per_worker,
                    size_t n);

/* A fiber's state in the list. */
enum {
    WF_FIBER_RUNNING = 1, /* on a worker now */
    WF_FIBER_RUNNABLE,    /* ready, waiting in a queue for a worker */
    WF_FIBER_PARKED,      /* waiting; `wait` says for what */
};

struct wf_fiber_info {
    uint64_t id;                /* as wf_self() gives it */
    char name[WF_NAME_MAX + 1]; /* "" if it has none */
    int state;                  /* WF_FIBER_* */
    /* Parked: what it waits for, one of "park" (wf_park), "sleep",
     * "join", "scope", "chan", "mutex", "rwlock", "cond", "sem",
     * "waitgroup", "barrier", "once", "event", "future", "io", "tasks";
     * "" when not parked. A static string. */
    const char *wait;
    /* Running: its worker. Otherwise the worker it last parked or ran on,
     * -1 if it has not run yet. */
    int worker;
    /* How long it has been in this state, ns, to about 25 ms (a clock
     * the runtime refreshes, not read at every switch): parked, since it parked; running or runnable, since it last
     * started running after a park (or for the first time); -1 if it has
     * not run yet. */
    int64_t state_ns;
    void *entry; /* the function it was spawned with */
};

/* Describe up to n live fibers in out[0 .. n-1], and store in *total
 * (when not NULL) how many live fibers the walk saw. Returns how many
 * entries it wrote. A snapshot of no single moment: each fiber is looked
 * at in turn (with its handle locked, so it cannot return meanwhile);
 * fibers that spawn or return during the walk may or may not be listed.
 * O(fibers ever alive at once). Any thread, fibers included (the caller
 * is listed as running), while the runtime runs (not while wf_shutdown
 * runs).
 * Errors: WF_EINVAL out NULL with n > 0; WF_ESHUTDOWN no runtime runs. */
WF_API int wf_fibers_list(struct wf_fiber_info *out, size_t n, size_t *total);

/* Print the fiber dump described above (every live fiber, stacks of the
 * parked ones) on descriptor fd. Returns how many fibers it printed. Any
 * thread, not a signal handler (it allocates and locks; set dump_signal
 * for that). Errors: WF_EINVAL fd < 0; WF_ESHUTDOWN no runtime runs;
 * WF_ENOMEM no memory for the list. A failed write(2) is not reported. */
WF_API int wf_fibers_dump(int fd);

#ifdef __cplusplus
}
#endif

#endif
