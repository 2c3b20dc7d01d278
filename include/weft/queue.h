/* SPDX-License-Identifier: MIT */
/*
 * weft/queue.h - bounded lock-free queues of fixed-size elements.
 *
 * Two queues, both of fixed capacity, both copying each element in and out
 * with memcpy (the element size is fixed when the queue is created):
 *
 *   - struct wf_mpmc: any number of producers and consumers, on any threads
 *     or fibers at once (an array of slots with per-slot sequence numbers;
 *     a push or pop costs one CAS on a shared index when uncontended);
 *   - struct wf_spsc: one producer and one consumer (a ring with two
 *     indices; a push or pop is a few plain loads and one release store).
 *
 * No call ever blocks, parks or spins: a push onto a full queue and a pop
 * from an empty one return WF_EAGAIN at once, so the caller decides how to
 * wait (wf_yield() in a fiber, sched_yield() or a sleep in a thread, or a
 * weft semaphore counting the items). Neither queue needs the runtime:
 * plain threads and fibers may use the same queue.
 *
 * Capacities are rounded up to a power of two (the MPMC queue to at least
 * 2); wf_*_capacity() tells the capacity obtained. Memory is allocated once,
 * at creation.
 *
 * "One producer" means one caller at a time, whose pushes are ordered one
 * after the other: a single thread, or a single fiber (which may move
 * between workers: the scheduler orders its calls). Two threads pushing at
 * once onto an SPSC ring corrupt it; use the MPMC queue for that.
 */
#ifndef WEFT_QUEUE_H
#define WEFT_QUEUE_H

#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- MPMC: many producers, many consumers ------------------------------- */

struct wf_mpmc;

/* Create a queue holding up to `capacity` elements (rounded up to a power
 * of two, at least 2) of `elem_size` bytes each, and store it in *out; the
 * caller owns it and frees it with wf_mpmc_destroy(). Any thread, never
 * blocks. Errors: WF_EINVAL out NULL, capacity 0, elem_size 0, or a
 * capacity or element size so large that the queue's size overflows;
 * WF_ENOMEM no memory. On error *out is untouched. */
WF_API int wf_mpmc_create(struct wf_mpmc **out, size_t capacity,
                          size_t elem_size);

/* Free the queue and the elements still in it (they are plain bytes: the
 * queue frees nothing they point to). No other call on q may be running or
 * follow. NULL is ignored. */
WF_API void wf_mpmc_destroy(struct wf_mpmc *q);

/* Copy elem_size bytes from elem to the tail of the queue. Any thread or
 * fiber, concurrently with every other push and pop; never blocks.
 * Returns 0, or WF_EAGAIN if the queue is full (nothing was copied; it may
 * also report full for the moment a consumer takes to finish copying out
 * the oldest element), or WF_EINVAL q or elem NULL. */
WF_API int wf_mpmc_try_push(struct wf_mpmc *q, const void *elem);

/* Copy the element at the head of the queue to elem (elem_size bytes) and
 * remove it. Any thread or fiber, concurrently with every other push and
 * pop; never blocks. Returns 0, or WF_EAGAIN if the queue is empty (elem
 * untouched; it may also report empty for the moment a producer takes to
 * finish copying in the oldest element), or WF_EINVAL q or elem NULL.
 *
 * Order: elements leave in the order in which their pushes claimed their
 * slots, so the elements of one producer that one consumer pops arrive in
 * the order they were pushed. */
WF_API int wf_mpmc_try_pop(struct wf_mpmc *q, void *elem);

/* The queue's capacity (after rounding), 0 for NULL. Any thread. */
WF_API size_t wf_mpmc_capacity(const struct wf_mpmc *q);

/* How many elements the queue holds, approximately: exact when no push or
 * pop runs, otherwise some value between 0 and the capacity that was true
 * recently. For statistics and heuristics, never for correctness. 0 for
 * NULL. Any thread, never blocks. */
WF_API size_t wf_mpmc_size(const struct wf_mpmc *q);

/* ---- SPSC: one producer, one consumer ------------------------------------ */

struct wf_spsc;

/* Create a ring holding up to `capacity` elements (rounded up to a power
 * of two) of `elem_size` bytes each, and store it in *out; the caller owns
 * it and frees it with wf_spsc_destroy(). Any thread, never blocks.
 * Errors: WF_EINVAL out NULL, capacity 0, elem_size 0, or sizes so large
 * that the ring's size overflows; WF_ENOMEM no memory. On error *out is
 * untouched. */
WF_API int wf_spsc_create(struct wf_spsc **out, size_t capacity,
                          size_t elem_size);

/* Free the ring. No other call on q may be running or follow. NULL is
 * ignored. */
WF_API void wf_spsc_destroy(struct wf_spsc *q);

/* Copy elem_size bytes from elem to the tail of the ring. The one producer
 * only (see the top of this file); runs concurrently with the consumer's
 * pops; never blocks. Returns 0, or WF_EAGAIN if the ring is full (nothing
 * was copied), or WF_EINVAL q or elem NULL. */
WF_API int wf_spsc_try_push(struct wf_spsc *q, const void *elem);

/* Copy the oldest element to elem (elem_size bytes) and remove it. The one
 * consumer only; runs concurrently with the producer's pushes; never
 * blocks. Elements leave in exactly the order they were pushed. Returns 0,
 * or WF_EAGAIN if the ring is empty (elem untouched), or WF_EINVAL q or
 * elem NULL. */
WF_API int wf_spsc_try_pop(struct wf_spsc *q, void *elem);

/* The ring's capacity (after rounding), 0 for NULL. Any thread. */
WF_API size_t wf_spsc_capacity(const struct wf_spsc *q);

/* How many elements the ring holds, approximately (as wf_mpmc_size()).
 * Any thread, never blocks; 0 for NULL. */
WF_API size_t wf_spsc_size(const struct wf_spsc *q);

#ifdef __cplusplus
}
#endif

#endif
