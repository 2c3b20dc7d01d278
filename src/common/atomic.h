/* SPDX-License-Identifier: MIT */
/*
 * src/common/atomic.h - the one barrier weft issues by hand.
 *
 * A full (StoreLoad) fence closes the Dekker windows of the park/wake and
 * idle-worker protocols. On x86-64, GCC emits `mfence` for a C11 seq_cst
 * fence; a locked no-op on the stack is an equally strong barrier for
 * ordinary memory and costs about half (what Linux's smp_mb() uses). Under
 * TSan, which does not model fences at all, and elsewhere, the C11 fence.
 */
#ifndef WEFT_COMMON_ATOMIC_H
#define WEFT_COMMON_ATOMIC_H

#include <stdatomic.h>

static inline void wf__fence(void)
{
#if defined(__x86_64__) && !defined(WEFT_TSAN)
    __asm__ __volatile__("lock orq $0, (%%rsp)" ::: "memory", "cc");
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

/*
 * The reading half of a Dekker pair: a full fence, then a load. TSan does
 * not model fences, so under TSan the same read is an RMW that adds
 * nothing (seq_cst): the other half's RMW on the same word (a counter's
 * decrement, the exchange that marks a worker parked) and this one are
 * then ordered for TSan too, and it checks what the pair publishes.
 */
static inline int wf__dekker_load_int(atomic_int *x)
{
#if defined(WEFT_TSAN)
    /* seq_cst RMW: orders against the other half's RMW, see above. */
    return atomic_fetch_add_explicit(x, 0, memory_order_seq_cst);
#else
    wf__fence();
    /* relaxed: ordered by the fence above. */
    return atomic_load_explicit(x, memory_order_relaxed);
#endif
}

#endif
