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

/*
 * Bounded, adaptive spinning. Every busy-wait in weft goes through a
 * wf__backoff: a few pause instructions while the other side is most
 * likely running and about to finish (a critical section of a few dozen
 * instructions, a completer's copy), then sched_yield (wf__backoff_pause)
 * or a park (the caller, when wf__backoff_spin says to stop). The pause
 * budget is WF__SPIN_PAUSES, or WF__SPIN_PAUSES_LOADED while the machine
 * is oversubscribed: there the thread we wait for is likely descheduled,
 * and every pause takes CPU time from it.
 *
 * wf__oversubscribed is written by the runtime's monitor thread
 * (core/monitor.c samples the kernel's count of runnable threads against
 * the online CPUs) and read relaxed by every spinner: a hint, never a
 * correctness condition. wf__spin_yields counts the waits that gave up
 * spinning (relaxed; only on the slow path), so tests can see that a
 * waiter for a descheduled holder yielded instead of burning its CPU.
 */
#define WF__SPIN_PAUSES        128
#define WF__SPIN_PAUSES_LOADED 8

extern atomic_bool wf__oversubscribed;
extern atomic_ulong wf__spin_yields;

struct wf__backoff {
    unsigned n;   /* pauses so far */
    bool gave_up; /* counted in wf__spin_yields */
};

#define WF__BACKOFF_INIT \
    {                    \
        0, false         \
    }

/* Counts b's first give-up in wf__spin_yields. */
static inline void wf__backoff_gave_up(struct wf__backoff *b)
{
    if (!b->gave_up) {
        b->gave_up = true;
        /* relaxed: a statistic. */
        atomic_fetch_add_explicit(&wf__spin_yields, 1, memory_order_relaxed);
    }
}

/* The pause budget now (see above). */
static inline unsigned wf__spin_budget(void)
{
    /* relaxed: a hint, see above. */
    return atomic_load_explicit(&wf__oversubscribed, memory_order_relaxed)
               ? WF__SPIN_PAUSES_LOADED
               : WF__SPIN_PAUSES;
}

/* One step of a wait that parks when spinning stops paying: pauses and
 * returns true while within the budget; returns false (and counts a
 * give-up once per wait) when the caller should park instead. */
static inline bool wf__backoff_spin(struct wf__backoff *b)
{
    if (b->n < wf__spin_budget()) {
        b->n++;
        wf__cpu_relax();
        return true;
    }
    wf__backoff_gave_up(b);
    return false;
}

/* One step of a wait that cannot park (nothing would wake it): pauses
 * within the budget, then yields the CPU at every step, so a descheduled
 * thread we wait for gets to run. */
void wf__backoff_yield(struct wf__backoff *b);

static inline void wf__backoff_pause(struct wf__backoff *b)
{
    if (b->n < wf__spin_budget()) {
        b->n++;
        wf__cpu_relax();
        return;
    }
    wf__backoff_yield(b);
}

/* Test-and-test-and-set spinlock for critical sections of a few dozen
 * instructions; a waiter backs off (wf__backoff_pause) so a preempted
 * holder can finish. */
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
