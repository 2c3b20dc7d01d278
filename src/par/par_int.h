/* SPDX-License-Identifier: MIT */
/*
 * src/par/par_int.h - what the files of the parallel layer share.
 */
#ifndef WEFT_PAR_INT_H
#define WEFT_PAR_INT_H

#include <stdatomic.h>

#include "core/core_int.h"
#include "weft/par.h"

enum { WF__G_TASK = 1, WF__G_SUBMIT, WF__G_SERIAL };

/* What struct wf_task_group holds (see task.c). */
struct wf__group {
    int mode;                 /* WF__G_*; fixed at init */
    atomic_int done;          /* SUBMIT: set when pending reached 0 */
    struct wf__worker *w;     /* TASK: the owner */
    long nforked, nlocal;     /* TASK: owner only */
    atomic_long nremote;      /* TASK: stolen children finished */
    atomic_long pending;      /* SUBMIT: 1 + children not finished */
    struct wf__waiter waiter; /* SUBMIT: the joiner (written before it
                               * gives up its token in pending) */
};

/* wf_task_group_fork, then make every task of the worker's deque public
 * (stealable without asking): for coarse tasks - loop halves, sort and
 * merge halves - where the fence a public pop costs is nothing next to
 * the task, and a thief must not wait for the owner to look up from a
 * long body (or to be scheduled again). */
int wf__group_fork_shared(struct wf_task_group *g, struct wf_task *t,
                          wf_task_fn *fn, void *arg);

/* The worker running a task on this thread, or NULL outside tasks. */
struct wf__worker *wf__par_task_worker(void);

#endif
