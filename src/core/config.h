/* SPDX-License-Identifier: MIT */
/*
 * src/core/config.h - the WEFT_* environment variables: one table of them
 * and one parser for each kind of value (config.c).
 *
 * wf_init reads every variable once, through wf__config_read_env, before
 * it starts anything: a value the parser cannot take fails the start with
 * WF_EINVAL, also for a variable that only a part started later (the
 * reactor, the blocking pool) would use. Those parts then ask for the
 * value wf_init read (wf__config_io, wf__config_blocking_threads) rather
 * than the environment, which may have changed since.
 *
 * The ranges below are shared by the variables and by the wf_config
 * fields that they stand in for (runtime.c checks the fields).
 */
#ifndef WEFT_CORE_CONFIG_H
#define WEFT_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/common.h"

#define WF__WORKERS_MAX 4096
#define WF__GUARDED_MAX (1L << 30) /* more needs over INT_MAX mappings */
#define WF__STALL_MIN_NS WF_MSEC   /* the monitor samples at a quarter */
#define WF__STALL_MAX_NS (3600 * WF_SEC)
#define WF__BLOCKING_MAX 4096
#define WF__DEADLOCK_MIN_NS WF_MSEC
#define WF__DEADLOCK_MAX_NS (3600 * WF_SEC)
#define WF__SIGNAL_MAX      64 /* signal numbers 1..64 (Linux: SIGRTMAX) */
/* Stack sizes: 1 byte (rounded up) to WF__STACK_MAX (arch/stack.h). */
/* Task stacks (one per worker, and the serial stack of src/par): usable
 * bytes, rounded up to pages. */
#define WF__TASK_STACK_MIN ((size_t)64 << 10)
#define WF__TASK_STACK_MAX ((size_t)64 << 30)
#define WF__TASK_STACK_DEFAULT ((size_t)1 << 30)

/* WEFT_IO. */
enum { WF__IO_AUTO, WF__IO_EPOLL, WF__IO_URING };

/* What the environment says. A field is 0 (false, WF__IO_AUTO) when its
 * variable is unset or empty; a variable's "off" value (0 for
 * WEFT_STALL_MS, 0 or -1 for WEFT_GUARDED_STACKS) is stored as -1, as the
 * wf_config field spells it. Each field has the type of its kind of value
 * (config.c: long for counts, size_t for sizes, int64_t ns for durations,
 * bool, int for names). */
struct wf__env {
    long workers;
    size_t stack_size;
    size_t task_stack_size;
    long guarded_stacks;
    int64_t stall_ns;
    bool debug_migrate;
    int io;
    bool io_rings;
    bool io_mshot;      /* WEFT_IO_MSHOT */
    long io_mshot_bufs; /* WEFT_IO_MSHOT_BUFS: a power of two; 0 unset */
    long blocking_threads;
    int dump_signal;     /* a signal number; 0 unset, -1 off */
    int64_t deadlock_ns; /* 0 unset, -1 off */
    const char *trace;   /* WEFT_TRACE: the environment's string, or NULL */
    long trace_events;   /* WEFT_TRACE_EVENTS */
};

/* Whether signal number sig may carry fiber dumps: not one that cannot be
 * caught (SIGKILL, SIGSTOP) or that weft or the C library need for
 * themselves (SIGSEGV, SIGBUS: the overflow handler; SIGILL, SIGFPE,
 * SIGABRT: faults and abort; the two real-time signals glibc keeps). */
bool wf__config_signal_ok(int sig);

/* Read and check every variable of the table into *out. Returns 0, or
 * WF_EINVAL after writing one line to stderr that names the first bad
 * variable (in table order), its value and the form it takes; *out is
 * then unspecified. On success also keeps the values that later parts
 * read (below). Called by wf_init only (runtime not yet running). */
int wf__config_read_env(struct wf__env *out);

/* Read and check the one variable `name` of the table into its field of
 * *out (the others are left alone): 0 (the field stays 0 when unset or
 * empty), or WF_EINVAL after the same line as wf__config_read_env. For
 * settings used with no runtime (the serial task stack). Any thread. */
int wf__config_read_var(const char *name, struct wf__env *out);

/* Parse `value` as the variable `name` would be read (NULL or empty:
 * unset), into its field of *out (the others are left alone): what
 * wf__config_read_var does with the environment's string, for tests and
 * tests/fuzz. 0; WF_EINVAL after the same line on stderr; WF_ESRCH when
 * no variable of the table is called `name`. A PATH value is stored as
 * the pointer `value`. Any thread. */
int wf__config_parse(const char *name, const char *value, struct wf__env *out);

/* The name of the table's i-th variable (0-based), NULL past the last. */
const char *wf__config_name(size_t i);

/* Report that `name`'s value (valid in form) cannot be used: the same one
 * line on stderr, "weft: NAME=VALUE: WHY". */
void wf__config_reject(const char *name, const char *why);

/* WEFT_IO as the last successful wf__config_read_env read it (WF__IO_*;
 * WF__IO_AUTO before any). Any thread. */
int wf__config_io(void);

/* WEFT_IO_RINGS likewise (false: unset or off). Any thread. */
bool wf__config_io_rings(void);

/* WEFT_IO_MSHOT and WEFT_IO_MSHOT_BUFS likewise (false, 0: unset). Any
 * thread. */
bool wf__config_io_mshot(void);
long wf__config_io_mshot_bufs(void);

/* WEFT_BLOCKING_THREADS likewise (0: unset). Any thread. */
long wf__config_blocking_threads(void);

#endif
