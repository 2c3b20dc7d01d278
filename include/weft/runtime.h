/* SPDX-License-Identifier: MIT */
/*
 * weft/runtime.h - starting and stopping the runtime.
 *
 * One runtime per process. It owns N worker threads (one per online CPU by
 * default); each runs fibers from its own queue and steals from the others
 * when it runs dry. An idle runtime parks every worker and uses no CPU.
 *
 * Two ways to start it:
 *   - wf_run() for programs whose main logic is a fiber: it starts the
 *     runtime, runs main_fn as a fiber, waits for it, stops the runtime and
 *     hands back main_fn's result;
 *   - wf_init() / wf_shutdown() for programs that keep their own threads: in
 *     between, any thread may spawn and join fibers.
 *
 * Settings come from struct wf_config; a field left 0 takes the value of its
 * environment variable, else the built-in default. README.md's
 * "Configuration" table lists every variable with its accepted form; in
 * short:
 *
 *   field           variable               default
 *   workers         WEFT_WORKERS           online CPUs (at most 4096)
 *   stack_size      WEFT_STACK_SIZE        128 KiB (bytes; suffix k/m/g)
 *   task_stack_size WEFT_TASK_STACK_SIZE   1 GiB (bytes; suffix k/m/g)
 *   guarded_stacks  WEFT_GUARDED_STACKS    vm.max_map_count / 4
 *   stall_ns        WEFT_STALL_MS          100 ms (ms, or a unit ns/us/ms/s;
 *                                          0 in the variable: off)
 *   -               WEFT_DEBUG_MIGRATE     off (a boolean: 1/0, true/false...)
 *   -               WEFT_IO                auto (epoll or uring; weft/io.h)
 *   -               WEFT_IO_RINGS          off (a boolean: socket I/O on
 *                                          per-worker io_uring rings;
 *                                          weft/io.h)
 *   -               WEFT_IO_MSHOT          off (a boolean: multishot
 *                                          receives and accepts on the
 *                                          rings; weft/io.h)
 *   -               WEFT_IO_MSHOT_BUFS     1024 (a power of two from 1 to
 *                                          32768: 4 KiB buffers per ring)
 *   -               WEFT_BLOCKING_THREADS  16 (weft/future.h)
 *   dump_signal     WEFT_DUMP_SIGNAL       none (a signal name or number;
 *                                          weft/inspect.h)
 *   deadlock_ns     WEFT_DEADLOCK_MS       off (ms, or a unit ns/us/ms/s;
 *                                          weft/inspect.h)
 *   -               WEFT_TRACE             unset (a file: weft/trace.h)
 *   -               WEFT_TRACE_EVENTS      1048576 (events per thread)
 *
 * wf_init (and wf_run) reads and checks every variable once, also one
 * whose field is set and one that only a part started later would read;
 * an empty variable counts as unset. A value it cannot take makes it fail
 * with WF_EINVAL after one line on stderr, such as
 *   weft: WEFT_WORKERS=abc: expected a whole number of workers from 1 to 4096
 * A field out of its range (below) is WF_EINVAL too, without a line.
 *
 * WEFT_DEBUG_MIGRATE=1 makes every fiber that yields or wakes move to
 * another worker, so that code which keeps a thread-local address across a
 * switch fails in tests rather than in production.
 *
 * Only in a build configured with -DWEFT_FAULT=ON (for tests), and read at
 * weft's first allocation rather than by wf_init: WEFT_FAULT_AT=N makes the
 * Nth fault-able call fail (an allocation, mapping, thread creation,
 * io_uring call or descriptor creation), WEFT_FAULT_FROM=N that one and
 * every later one, WEFT_FAULT_SITES=alloc,mmap,thread,uring,fd picks the
 * kinds counted, WEFT_FAULT_REPORT=1 prints the count at exit
 * (docs/RELIABILITY.md, "Fault injection"). Other builds ignore them.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the worker thread of a stalled fiber was doing when it was
 * reported (read from /proc).
 *
 * WF_STALL_DESCHEDULED: the thread was runnable but the machine did not
 * give it a CPU: over the stall it got less than a quarter of stall_ns of CPU
 * time (`cpu_ns`), so the fiber had not computed for long; the machine is
 * loaded (more runnable threads than CPUs). Such a report goes only to a
 * stall_fn (stderr gets nothing), at most once per stall, and the stall
 * stays open: if the fiber then computes for a quarter of stall_ns without
 * switching, it is reported again as WF_STALL_RUNNING. */
enum {
    WF_STALL_UNKNOWN = 0, /* could not be read */
    WF_STALL_RUNNING,     /* on a CPU or ready, and got the CPU: computing */
    WF_STALL_SYSCALL,     /* blocked in the kernel: a system call */
    WF_STALL_DESCHEDULED, /* runnable, not given the CPU: a loaded machine */
};

/* What a stall report says: a fiber ran on one worker for `ran_ns` without
 * switching. Reported once per stall, while it is still going on. The
 * strings are valid during the call. */
struct wf_stall {
    uint64_t fiber_id;       /* the fiber's id (see wf_self()) */
    const char *name;        /* its name, "" if it has none */
    int worker;              /* the worker it is blocking */
    int64_t ran_ns;          /* how long it has run without a switch so far */
    int state;               /* WF_STALL_* */
    const char *kernel_wait; /* where it waits in the kernel (the thread's
                              * wait channel), "" if not known */
    const char *entry;       /* the fiber's function, if its symbol is
                              * exported, else "" */
    int64_t cpu_ns;          /* CPU time its worker thread got during
                              * ran_ns (about: sampled every stall_ns / 4),
                              * -1 if not known */
};

/* Called from the runtime's monitor thread (not a worker, not a fiber);
 * must not block. */
typedef void wf_stall_fn(const struct wf_stall *stall, void *arg);

struct wf_config {
    /* Worker threads, 1 to 4096. 0: WEFT_WORKERS, else the online CPU
     * count (at most 4096). */
    int workers;
    /* Default fiber stack size in bytes, 1 to 1 GiB (rounded up to pages,
     * at least 16 KiB). 0: WEFT_STACK_SIZE, else 128 KiB. Stacks are
     * reserved lazily: only pages a fiber touches cost memory. */
    size_t stack_size;
    /* How many stacks may have a guard page (each costs two kernel
     * mappings, capped by vm.max_map_count), 1 to 2^30. Beyond it stacks
     * are carved from shared slabs and protected by a canary that is
     * checked at every switch. 0: WEFT_GUARDED_STACKS, else
     * vm.max_map_count / 4; -1: none. */
    long guarded_stacks;
    /* Report a fiber that runs longer than this without switching, 1 ms to
     * 1 hour; also how long runnable work may wait behind a worker stuck
     * in a long call before an idle worker is sent to take it. 0:
     * WEFT_STALL_MS, else 100 ms; negative: no reports (work is still
     * rescued after 100 ms). */
    int64_t stall_ns;
    /* Receives stall reports; NULL prints them on stderr. */
    wf_stall_fn *stall_fn;
    void *stall_arg;
    /* The stack each worker runs fork-join tasks on (weft/par.h), in
     * bytes: 64 KiB to 64 GiB, rounded up to pages. 0:
     * WEFT_TASK_STACK_SIZE, else 1 GiB. It bounds how deep task
     * recursion may go (nested joins included, about 0.2-1 KB a level).
     * weft maps each worker's task stack itself with a guard page below
     * it and reserves it lazily (MAP_NORESERVE): it costs address space,
     * and memory only for the pages the deepest recursion touched, which
     * stay with the worker until wf_shutdown. With vm.overcommit_memory=2
     * the whole size counts against the commit limit. Overrunning it
     * aborts with "weft: stack overflow ... in a task on worker N ...;
     * raise wf_config.task_stack_size or WEFT_TASK_STACK_SIZE" on stderr.
     * With no runtime, serial fork-join runs on a stack of this size too
     * (weft/par.h): the value of the last start, else the variable, else
     * 1 GiB. Errors: WF_EINVAL out of range; WF_ENOMEM the address space
     * for workers x size cannot be had. */
    size_t task_stack_size;
    /* A signal number on which the monitor thread prints every fiber on
     * stderr (weft/inspect.h, "Dumps"), like Go's SIGQUIT. 0:
     * WEFT_DUMP_SIGNAL, else none; -1: none. WF_EINVAL: above 64, below
     * -1, or a signal weft cannot take (SIGKILL, SIGSTOP, SIGSEGV,
     * SIGBUS, SIGILL, SIGFPE, SIGABRT, 32, 33). */
    int dump_signal;
    /* Report a deadlock (weft/inspect.h, "Deadlocks") once every fiber
     * has been asleep for this long with nothing that could wake it, 1 ms
     * to 1 hour. 0: WEFT_DEADLOCK_MS, else off; negative: off. */
    int64_t deadlock_ns;
};

/* The signature of every fiber body: gets its argument, returns a result
 * that wf_join() hands to the joiner. */
typedef void *wf_fiber_fn(void *arg);

/* Start the runtime, run main_fn(arg) as a fiber, wait for it to return,
 * stop the runtime. cfg may be NULL (all defaults). On success returns 0 and
 * stores main_fn's return value in *result (if result is not NULL).
 * Fibers still alive when main_fn returns are discarded without running
 * further (use a scope to wait for them; wf_shutdown_discarded() says how
 * many were). Call from a plain thread.
 * Errors: WF_EPERM called from a fiber (or a task); WF_EINVAL main_fn
 * NULL, a config field out of range, or a WEFT_* variable it cannot take
 * (reported on stderr); WF_EALREADY the runtime is running (or being
 * started or stopped by another thread); WF_ENOMEM, WF_EAGAIN out of
 * memory/threads. WF_EPERM and a NULL main_fn are found first, then
 * WF_EALREADY; the variables are read only after that, and only when
 * the fields are good. */
WF_API int wf_run(const struct wf_config *cfg, wf_fiber_fn *main_fn, void *arg,
                  void **result);

/* Start the runtime's workers and return. Errors as wf_run() (but for
 * main_fn): WF_EPERM from a fiber, WF_EALREADY while running. */
WF_API int wf_init(const struct wf_config *cfg);

/* Stop the workers and release everything the runtime holds. Fibers still
 * alive are discarded without running further (wf_shutdown_discarded()
 * then says how many); plain threads blocked in weft calls return
 * WF_ESHUTDOWN. No other thread may start a weft call while it runs (nor
 * may the stall callback call it). Call from a plain thread after
 * wf_init(); the runtime can be started again afterwards, and handles from
 * before then give WF_ESRCH.
 *
 * Objects the caller created (channels, locks and the other primitives of
 * weft/sync.h, futures, timers) stay valid and usable afterwards, from
 * plain threads or a new runtime. Discarded fibers that were blocked on
 * one are simply no longer in its queues: a channel keeps its buffered
 * elements, but what a discarded sender was offering is not delivered; a
 * mutex, rwlock or semaphore keeps its state (one held by a discarded
 * fiber, or handed to one as it was woken, stays held: its owner is gone,
 * so it can only be destroyed with WF_EBUSY); a barrier's round goes on
 * without the discarded arrivals; a future stays pending; a wf_once whose
 * function a discarded fiber was running never completes. Armed timers
 * never fire (wf_timer_stop reports them stopped). Scopes that were not
 * closed are freed with the runtime: do not use them afterwards.
 * Errors: WF_EPERM called from a fiber (or a task); WF_EDEADLK called
 * from a thread it would wait for: inside a wf_blocking call, or a
 * callback run on a pool thread (nothing is done; the runtime runs on);
 * WF_ESHUTDOWN not running (never started, already stopped, or still
 * being started by another thread). */
WF_API int wf_shutdown(void);

/* How many fibers the last stop of the runtime discarded: the last
 * wf_shutdown() that returned 0, or the stop at the end of wf_run(). A
 * discarded fiber is one that was started and had not returned: blocked
 * (in wf_park, wf_sleep, wf_join, a scope wait, a channel, a lock or any
 * other weft wait) or runnable, waiting in a queue for a worker. Detached
 * fibers and members of scopes count as well; a fiber that had returned
 * but was never joined does not (only its result was dropped). 0 before
 * the first stop; the value stays until the next stop. A program that
 * means to leave nothing behind checks that it is 0, as libuv's
 * uv_loop_close() fails with UV_EBUSY while handles remain; wf_shutdown
 * itself succeeds either way. Any thread, any time; never fails (a call
 * racing with a stop gets the old or the new count). */
WF_API size_t wf_shutdown_discarded(void);

/* Number of fibers of the running runtime that have started and not yet
 * returned (blocked or runnable; the calling fiber counts), 0 when no
 * runtime runs. A snapshot: fibers that spawn or return meanwhile may or
 * may not count. Meant for checks and diagnostics, e.g. waiting, before a
 * stop, for fibers that have signalled their work done but are still on
 * their way out (the fiber of wf_async() completes its future, then
 * returns), so that wf_shutdown_discarded() stays 0. It walks the
 * runtime's fiber table: O(fibers ever alive at once), not for hot paths.
 * Any thread; not during wf_init()/wf_shutdown() on another thread. */
WF_API size_t wf_fibers_alive(void);

/* Number of workers of the running runtime, or WF_ESHUTDOWN. Any thread. */
WF_API int wf_workers(void);

/* Index (0 .. wf_workers()-1) of the worker running the calling fiber, or
 * WF_EPERM from a plain thread. The value may change after any call that
 * switches (yield, sleep, join...) unless the fiber is pinned. */
WF_API int wf_worker_index(void);

#ifdef __cplusplus
}
#endif

#endif
