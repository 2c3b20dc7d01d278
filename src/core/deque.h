/* SPDX-License-Identifier: MIT */
/*
 * src/core/deque.h - bounded Chase-Lev work-stealing deque of pointers.
 *
 * The owner pushes and pops at the bottom; anyone steals at the top. The
 * scheduler uses the top end for its own FIFO order too (a fiber queue must
 * be fair: a yielded fiber goes behind the others), so for fibers the
 * owner pushes at the bottom and takes with wf__deque_take(); fork-join
 * tasks use the LIFO wf__deque_pop(). Orders follow Lê, Pop, Cohen and
 * Zappa Nardelli, "Correct and efficient work-stealing for weak memory
 * models" (PPoPP 2013).
 */
#ifndef WEFT_CORE_DEQUE_H
#define WEFT_CORE_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>

#define WF__DEQUE_ABORT ((void *)1) /* steal lost a race: try again */

struct wf__deque {
    _Alignas(64) atomic_long top; /* thieves CAS it; read by the owner */
    _Alignas(64) atomic_long bottom; /* written by the owner only */
    _Atomic(void *) *buf;
    long mask; /* capacity - 1; capacity is a power of two */
};

/* capacity: a power of two. Returns 0 or -ENOMEM. */
int wf__deque_init(struct wf__deque *d, long capacity);
void wf__deque_destroy(struct wf__deque *d);

/* Owner only. false when full (nothing pushed). */
bool wf__deque_push(struct wf__deque *d, void *x);
/* Owner only: newest element, or NULL. */
void *wf__deque_pop(struct wf__deque *d);
/* Anyone: oldest element, NULL when empty, WF__DEQUE_ABORT on a lost race. */
void *wf__deque_steal(struct wf__deque *d);
/* Owner only: oldest element, or NULL. Like a steal, but the owner knows
 * bottom exactly, so it needs no fence: the CAS on top alone arbitrates
 * against thieves. */
void *wf__deque_take(struct wf__deque *d);
/* Approximate number of elements (any thread). */
long wf__deque_size(struct wf__deque *d);

#endif
