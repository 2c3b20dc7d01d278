/* SPDX-License-Identifier: MIT */
/*
 * src/common/futex.h - the few OS primitives the runtime blocks threads on.
 *
 * Futexes park worker threads and plain threads; a spinlock guards short
 * critical sections that must not sleep (timer heaps, queues). Everything
 * that may block an OS thread goes through here, so a deterministic test
 * scheduler or another OS port has one place to replace.
 */
#ifndef WEFT_COMMON_FUTEX_H
#define WEFT_COMMON_FUTEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Block while *word == expected, until woken or the absolute monotonic
 * deadline (ns, INT64_MAX for none). Returns 0 when woken or the value
 * differed, -ETIMEDOUT, or -EINTR. May return spuriously. */
int wf__futex_wait(atomic_uint *word, unsigned expected, int64_t deadline);
/* Wake up to n threads blocked on word. */
void wf__futex_wake(atomic_uint *word, int n);

/* Spin-wait hint (pause / yield). */
static inline void wf__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* Test-and-test-and-set spinlock for critical sections of a few dozen
 * instructions; yields the CPU after a while so a preempted holder can
 * finish. */
struct wf__spin {
    atomic_bool held;
};

void wf__spin_lock_slow(struct wf__spin *l);

static inline void wf__spin_lock(struct wf__spin *l)
{
    /* acquire: pairs with the release in wf__spin_unlock. */
    if (!atomic_exchange_explicit(&l->held, true, memory_order_acquire))
        return;
    wf__spin_lock_slow(l);
}

static inline bool wf__spin_trylock(struct wf__spin *l)
{
    return !atomic_load_explicit(&l->held, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->held, true, memory_order_acquire);
}

static inline void wf__spin_unlock(struct wf__spin *l)
{
    /* release: pairs with the acquire in wf__spin_lock. */
    atomic_store_explicit(&l->held, false, memory_order_release);
}

#endif
