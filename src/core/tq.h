/* SPDX-License-Identifier: MIT */
/*
 * src/core/tq.h - tasks and the per-worker task deque (see tq.c for the
 * design and the protocol).
 *
 * Part of the scheduler: every worker owns one struct wf__tq beside its
 * fiber deque, and the scheduler loop steals from it. The owner's push
 * and pop are inline here because they are the whole cost of an
 * un-stolen fork and join.
 */
#ifndef WEFT_CORE_TQ_H
#define WEFT_CORE_TQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "weft/par.h" /* WF__TQ_CAP, the inline fast paths' layouts */
#define WF__TQ_ABORT ((struct wf__task *)1) /* steal lost a race */
/* What a thief that asks for tasks stores in the owner's otop: a lower
 * bound of top like any other, but one that fails the owner's full check
 * at its next push (b - WF__TQ_ASKED >= WF__TQ_CAP for any bottom b). */
#define WF__TQ_ASKED (-(long)((~0ul) >> 2))

struct wf__group;

/* A task: what struct wf_task (include/weft/par.h) holds. */
struct wf__task {
    void (*fn)(void *arg);
    void *arg;
    struct wf__group *group; /* told when the task has run; NULL: a task
                              * of wf_task_spawn, whose `done` is set */
    union {
        struct wf__task *next; /* link in the runtime's task inject queue */
        atomic_long done;      /* spawned task run by a thief: 1 when done */
    } u;
};

/*
 * Split deque. buf[top .. split) is public (thieves CAS top), buf[split ..
 * bottom) is private to the owner, who pushes and pops there with plain
 * loads and stores. A thief that finds the public part empty raises
 * `splitreq` and lowers the owner's `otop` to WF__TQ_ASKED, so that the
 * owner's next push fails its full check and takes the slow path
 * (wf__tq_push_slow), which refreshes otop, sees the request and moves
 * `split` up over the older half of its private tasks, if it has any;
 * the fast push checks nothing else. wf__tq_poll reads `splitreq` itself.
 * (A relaxed mirror of bottom, so that thieves ask only owners with
 * private tasks, would cost two stores a fork: docs/PERFORMANCE.md, "Why
 * the code is as it is".)
 */
struct wf__tq {
    /* Owner only but otop; the first four fields are struct wf__tq_pub
     * (weft/par.h), which the inline wf_task_spawn / wf_task_sync use. */
    _Alignas(64) long ob;        /* bottom */
    long osplit;                 /* split (the owner is its only writer) */
    /* A lower bound of top, for the full check: the owner exchanges it in
     * wf__tq_push_slow, a thief that asks stores WF__TQ_ASKED (release). */
    atomic_long otop;
    _Atomic(struct wf__task *) *buf;
    int depth;                   /* nesting of tasks run while joining */
    /* Thieves CAS; the owner CASes it only for the last public task. */
    _Alignas(64) atomic_long top;
    /* Owner stores (release when it grows, seq_cst when it shrinks);
     * thieves load seq_cst. */
    _Alignas(64) atomic_long split;
    atomic_bool splitreq;        /* thieves set; the owner clears */
};

_Static_assert(offsetof(struct wf__tq, ob) == offsetof(struct wf__tq_pub, ob) &&
                   offsetof(struct wf__tq, osplit) ==
                       offsetof(struct wf__tq_pub, osplit) &&
                   offsetof(struct wf__tq, otop) ==
                       offsetof(struct wf__tq_pub, otop) &&
                   offsetof(struct wf__tq, buf) ==
                       offsetof(struct wf__tq_pub, buf),
               "struct wf__tq_pub must mirror the owner line of struct wf__tq");
_Static_assert(sizeof(atomic_long) == sizeof(long),
               "the inline paths access these atomics as plain objects");
_Static_assert(offsetof(struct wf__task, fn) == offsetof(struct wf__task_pub, fn) &&
                   offsetof(struct wf__task, arg) == offsetof(struct wf__task_pub, arg) &&
                   offsetof(struct wf__task, group) == offsetof(struct wf__task_pub, group) &&
                   offsetof(struct wf__task, u.done) == offsetof(struct wf__task_pub, done),
               "struct wf__task_pub must mirror struct wf__task");

int wf__tq_init(struct wf__tq *q);
void wf__tq_destroy(struct wf__tq *q);
/* Owner: move the older half of the private tasks to the public part,
 * and wake an idle worker if none is searching. */
void wf__tq_publish(struct wf__tq *q);
/* Owner: private part empty; take the newest public task or NULL. */
struct wf__task *wf__tq_pop_public(struct wf__tq *q);
/* Anyone but the owner: oldest public task, NULL, or WF__TQ_ABORT. */
struct wf__task *wf__tq_steal(struct wf__tq *q);

/* Owner: wf__tq_push when otop failed the full check (the deque may be
 * full, or a thief asked for tasks). */
bool wf__tq_push_slow(struct wf__tq *q, struct wf__task *t);

/* Owner: false when full (nothing pushed). */
static inline bool wf__tq_push(struct wf__tq *q, struct wf__task *t)
{
    long b = q->ob;
    /* relaxed: a thief's WF__TQ_ASKED is a hint; the slow path's exchange
     * orders what it acts on. */
    if (__builtin_expect(
            b - atomic_load_explicit(&q->otop, memory_order_relaxed) >=
                WF__TQ_CAP,
            0))
        return wf__tq_push_slow(q, t);
    /* relaxed: published to thieves by the release store of split. */
    atomic_store_explicit(&q->buf[b & (WF__TQ_CAP - 1)], t, memory_order_relaxed);
    q->ob = b + 1;
    return true;
}

/* Owner: newest task, or NULL. */
static inline struct wf__task *wf__tq_pop(struct wf__tq *q)
{
    long b = q->ob;
    if (__builtin_expect(b > q->osplit, 1)) {
        b--;
        q->ob = b;
        return atomic_load_explicit(&q->buf[b & (WF__TQ_CAP - 1)],
                                    memory_order_relaxed);
    }
    return wf__tq_pop_public(q);
}

/* Owner: hand tasks to thieves that asked. */
static inline void wf__tq_poll(struct wf__tq *q)
{
    if (__builtin_expect(atomic_load_explicit(&q->splitreq, memory_order_relaxed), 0))
        wf__tq_publish(q);
}

/* Owner: no task at all (private or public). */
static inline bool wf__tq_empty_owner(struct wf__tq *q)
{
    return q->ob == q->osplit &&
           atomic_load_explicit(&q->top, memory_order_relaxed) >= q->osplit;
}


#endif
