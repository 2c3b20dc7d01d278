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

#endif
