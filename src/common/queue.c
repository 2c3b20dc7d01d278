/* SPDX-License-Identifier: MIT */
/*
 * Bounded lock-free queues (see include/weft/queue.h).
 *
 * MPMC: Dmitry Vyukov's bounded queue. An array of 2^k slots, each holding a
 * sequence number `seq` and the element's bytes, and two counters that only
 * grow: `enq` (next position to push) and `deq` (next position to pop).
 * Position p lives in slot p & mask. Slot s starts with seq == s, and:
 *
 *   seq == p          the slot is free for the push of position p;
 *   seq == p + 1      it holds the element pushed at position p;
 *   seq == p + cap    the pop of p is done: free for the push of p + cap.
 *
 * A producer reads enq = p and the slot's seq: equal, it claims p with a CAS
 * on enq, copies the element in and stores seq = p + 1 (release); seq below
 * p means the slot still holds the element of p - cap, so the queue is full.
 * A consumer mirrors it with deq, seq == p + 1, and stores seq = p + cap.
 * The CASes on enq and deq only hand out positions; the element's bytes are
 * published and reclaimed by the seq stores and loads alone, so the CASes
 * are relaxed. Positions are compared through a signed difference, correct
 * across the wrap of size_t as long as cap < 2^63 (create keeps the whole
 * queue under PTRDIFF_MAX bytes).
 *
 * A capacity of 1 cannot work (p + 1 would equal p + cap: a full slot would
 * look free), so the MPMC capacity is at least 2.
 *
 * SPSC: a Lamport ring with the FastForward-style cached indices. `head` is
 * written by the producer only, `tail` by the consumer only; each side
 * keeps a private copy of the other's index and re-reads the shared one
 * only when the copy says full (producer) or empty (consumer), so in steady
 * state the two cache lines of indices are not bounced on every call.
 *
 * Layout: read-only fields, then each shared index, each on its own cache
 * line (_Alignas(64), checked below), then the slots in the same
 * allocation. Slots are packed (8-byte aligned), not one per cache line:
 * padding would quadruple the memory of an 8-byte-element queue, and
 * neighbouring slots are usually touched by the same side anyway.
 *
 * Rejected: storing elements by pointer only (callers would need to
 * allocate every message; a fixed size with memcpy covers both, since a
 * pointer is an 8-byte element), and a growable MPMC queue (it needs
 * deferred reclamation of old arrays, which weft does not have).
 */
#include <limits.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/fault.h"
#include "common/copy.h"
#include "weft/queue.h"

#define LINE 64

struct wf_mpmc {
    /* Read-only after create. */
    _Alignas(LINE) size_t mask;
    size_t elem_size;
    size_t stride; /* bytes per slot: seq, then the element, padded */
    unsigned char *slots;
    /* Next position to push; producers CAS it. */
    _Alignas(LINE) atomic_size_t enq;
    /* Next position to pop; consumers CAS it. */
    _Alignas(LINE) atomic_size_t deq;
};

_Static_assert(offsetof(struct wf_mpmc, enq) % LINE == 0,
               "enq starts a cache line");
_Static_assert(offsetof(struct wf_mpmc, deq) - offsetof(struct wf_mpmc, enq)
                   >= LINE,
               "enq and deq on separate cache lines");
_Static_assert(offsetof(struct wf_mpmc, enq) - offsetof(struct wf_mpmc, mask)
                   >= LINE,
               "read-only fields on a line of their own");
_Static_assert(sizeof(struct wf_mpmc) % LINE == 0,
               "slots that follow the header start a cache line");

struct wf_spsc {
    /* Read-only after create. */
    _Alignas(LINE) size_t mask;
    size_t elem_size;
    unsigned char *buf;
    /* Producer's line. head: written by the producer only; the consumer
     * reads it with acquire. tail_cache: producer only. */
    _Alignas(LINE) atomic_size_t head;
    size_t tail_cache;
    /* Consumer's line. tail: written by the consumer only; the producer
     * reads it with acquire. head_cache: consumer only. */
    _Alignas(LINE) atomic_size_t tail;
    size_t head_cache;
};

_Static_assert(offsetof(struct wf_spsc, head) % LINE == 0,
               "head starts a cache line");
_Static_assert(offsetof(struct wf_spsc, tail) - offsetof(struct wf_spsc, head)
                   >= LINE,
               "head and tail on separate cache lines");
_Static_assert(sizeof(struct wf_spsc) % LINE == 0,
               "the buffer that follows the header starts a cache line");

/* Smallest power of two >= n (n >= 1), or 0 if there is none in size_t. */
static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n) {
        if (p > SIZE_MAX / 2)
            return 0;
        p <<= 1;
    }
    return p;
}

/* header + cap * stride rounded up to LINE, or 0 if that overflows or
 * exceeds PTRDIFF_MAX (which also keeps every position difference the
 * queues compute within a signed size). */
static size_t total_size(size_t header, size_t cap, size_t stride)
{
    size_t limit = (size_t)PTRDIFF_MAX - header - (LINE - 1);
    if (cap > limit / stride)
        return 0;
    size_t n = header + cap * stride;
    return (n + LINE - 1) & ~(size_t)(LINE - 1);
}


static atomic_size_t *slot_seq(const struct wf_mpmc *q, size_t pos)
{
    return (atomic_size_t *)(void *)(q->slots + (pos & q->mask) * q->stride);
}

static unsigned char *slot_data(const struct wf_mpmc *q, size_t pos)
{
    return q->slots + (pos & q->mask) * q->stride + sizeof(atomic_size_t);
}

int wf_mpmc_create(struct wf_mpmc **out, size_t capacity, size_t elem_size)
{
    const size_t align = alignof(atomic_size_t);
    if (!out || capacity == 0 || elem_size == 0)
        return WF_EINVAL;
    if (elem_size > SIZE_MAX - sizeof(atomic_size_t) - (align - 1))
        return WF_EINVAL;
    size_t stride = (sizeof(atomic_size_t) + elem_size + align - 1)
                    & ~(align - 1);
    size_t cap = pow2_at_least(capacity < 2 ? 2 : capacity);
    if (cap == 0)
        return WF_EINVAL;
    size_t total = total_size(sizeof(struct wf_mpmc), cap, stride);
    if (total == 0)
        return WF_EINVAL;
    struct wf_mpmc *q = wf__aligned_alloc(LINE, total);
    if (!q)
        return WF_ENOMEM;
    q->mask = cap - 1;
    q->elem_size = elem_size;
    q->stride = stride;
    q->slots = (unsigned char *)(q + 1);
    for (size_t i = 0; i < cap; i++)
        atomic_init(slot_seq(q, i), i);
    atomic_init(&q->enq, 0);
    atomic_init(&q->deq, 0);
    *out = q;
    return 0;
}

void wf_mpmc_destroy(struct wf_mpmc *q)
{
    free(q);
}

int wf_mpmc_try_push(struct wf_mpmc *q, const void *elem)
{
    if (!q || !elem)
        return WF_EINVAL;
    /* relaxed: only a hint of which slot to try; the CAS below decides. */
    size_t pos = atomic_load_explicit(&q->enq, memory_order_relaxed);
    for (;;) {
        /* acquire: pairs with the release store of seq = pos in pop, so the
         * consumer of the previous lap has finished reading the slot before
         * we overwrite it. */
        size_t seq = atomic_load_explicit(slot_seq(q, pos),
                                          memory_order_acquire);
        ptrdiff_t dif = (ptrdiff_t)(seq - pos);
        if (dif == 0) {
            /* relaxed (both): the CAS only hands out the position; the
             * slot's contents are ordered by seq. */
            if (atomic_compare_exchange_weak_explicit(
                    &q->enq, &pos, pos + 1, memory_order_relaxed,
                    memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return WF_EAGAIN; /* the slot still holds the previous lap's */
        } else {
            /* Another producer took pos; relaxed as above. */
            pos = atomic_load_explicit(&q->enq, memory_order_relaxed);
        }
    }
    wf__copy_elem(slot_data(q, pos), elem, q->elem_size);
    /* release: publishes the element; pairs with the acquire load of seq
     * in pop. */
    atomic_store_explicit(slot_seq(q, pos), pos + 1, memory_order_release);
    return 0;
}

int wf_mpmc_try_pop(struct wf_mpmc *q, void *elem)
{
    if (!q || !elem)
        return WF_EINVAL;
    /* relaxed: only a hint; the CAS below decides. */
    size_t pos = atomic_load_explicit(&q->deq, memory_order_relaxed);
    for (;;) {
        /* acquire: pairs with the release store of seq = pos + 1 in push,
         * so the element's bytes are visible before we copy them out. */
        size_t seq = atomic_load_explicit(slot_seq(q, pos),
                                          memory_order_acquire);
        ptrdiff_t dif = (ptrdiff_t)(seq - (pos + 1));
        if (dif == 0) {
            /* relaxed (both): the CAS only hands out the position. */
            if (atomic_compare_exchange_weak_explicit(
                    &q->deq, &pos, pos + 1, memory_order_relaxed,
                    memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return WF_EAGAIN; /* not pushed yet (or still being copied in) */
        } else {
            /* Another consumer took pos; relaxed as above. */
            pos = atomic_load_explicit(&q->deq, memory_order_relaxed);
        }
    }
    wf__copy_elem(elem, slot_data(q, pos), q->elem_size);
    /* release: our read of the slot happens before the next lap's push
     * overwrites it; pairs with the acquire load of seq in push. */
    atomic_store_explicit(slot_seq(q, pos), pos + q->mask + 1,
                          memory_order_release);
    return 0;
}

size_t wf_mpmc_capacity(const struct wf_mpmc *q)
{
    return q ? q->mask + 1 : 0;
}

/* A count from two counters read at different moments, clamped into
 * [0, capacity]: between the two reads any number of pushes and pops may
 * have run, and relaxed loads of two variables may see them out of order. */
static size_t approx_size(size_t in, size_t out, size_t cap)
{
    ptrdiff_t n = (ptrdiff_t)(in - out);
    if (n < 0)
        return 0;
    return (size_t)n > cap ? cap : (size_t)n;
}

size_t wf_mpmc_size(const struct wf_mpmc *q)
{
    if (!q)
        return 0;
    /* relaxed: a snapshot for statistics; nothing is read through it. */
    size_t out = atomic_load_explicit(&q->deq, memory_order_relaxed);
    size_t in = atomic_load_explicit(&q->enq, memory_order_relaxed);
    return approx_size(in, out, q->mask + 1);
}

int wf_spsc_create(struct wf_spsc **out, size_t capacity, size_t elem_size)
{
    if (!out || capacity == 0 || elem_size == 0)
        return WF_EINVAL;
    size_t cap = pow2_at_least(capacity);
    if (cap == 0)
        return WF_EINVAL;
    size_t total = total_size(sizeof(struct wf_spsc), cap, elem_size);
    if (total == 0)
        return WF_EINVAL;
    struct wf_spsc *q = wf__aligned_alloc(LINE, total);
    if (!q)
        return WF_ENOMEM;
    q->mask = cap - 1;
    q->elem_size = elem_size;
    q->buf = (unsigned char *)(q + 1);
    atomic_init(&q->head, 0);
    q->tail_cache = 0;
    atomic_init(&q->tail, 0);
    q->head_cache = 0;
    *out = q;
    return 0;
}

void wf_spsc_destroy(struct wf_spsc *q)
{
    free(q);
}

int wf_spsc_try_push(struct wf_spsc *q, const void *elem)
{
    if (!q || !elem)
        return WF_EINVAL;
    /* relaxed: head is written by this thread only. */
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (h - q->tail_cache > q->mask) {
        /* acquire: pairs with the release store of tail in pop, so the
         * consumer has finished reading the slot we are about to reuse. */
        q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
        if (h - q->tail_cache > q->mask)
            return WF_EAGAIN;
    }
    wf__copy_elem(q->buf + (h & q->mask) * q->elem_size, elem, q->elem_size);
    /* release: publishes the element; pairs with the acquire load of head
     * in pop. */
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    return 0;
}

int wf_spsc_try_pop(struct wf_spsc *q, void *elem)
{
    if (!q || !elem)
        return WF_EINVAL;
    /* relaxed: tail is written by this thread only. */
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (t == q->head_cache) {
        /* acquire: pairs with the release store of head in push, so the
         * element's bytes are visible before we copy them out. */
        q->head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
        if (t == q->head_cache)
            return WF_EAGAIN;
    }
    wf__copy_elem(elem, q->buf + (t & q->mask) * q->elem_size, q->elem_size);
    /* release: our read of the slot happens before the producer reuses it;
     * pairs with the acquire load of tail in push. */
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    return 0;
}

size_t wf_spsc_capacity(const struct wf_spsc *q)
{
    return q ? q->mask + 1 : 0;
}

size_t wf_spsc_size(const struct wf_spsc *q)
{
    if (!q)
        return 0;
    /* relaxed: a snapshot for statistics; nothing is read through it. */
    size_t out = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t in = atomic_load_explicit(&q->head, memory_order_relaxed);
    return approx_size(in, out, q->mask + 1);
}
