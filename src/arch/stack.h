/* SPDX-License-Identifier: MIT */
/*
 * src/arch/stack.h - fiber stacks: allocation, protection, recycling.
 *
 * A stack is a region of address space reserved with MAP_NORESERVE: only
 * the pages a fiber touches cost memory. The top WF__STACK_HEADROOM bytes
 * of each region belong to the owner (the fiber keeps its control block
 * there, so a new fiber costs no malloc and a blocked fiber that used
 * little stack costs one page); struct wf__stack is the first thing in that
 * headroom. The usable stack is [lo, hdr).
 *
 * Protection. The first `guard_cap` stacks get a PROT_NONE guard page below
 * lo: an overflow faults at once and the SIGSEGV handler names the fiber.
 * Each such stack costs two kernel mappings, and vm.max_map_count (65,530
 * by default) caps them, so past the cap stacks are carved from slabs of
 * 256 (one mapping for all) and protected by a canary instead: the last 16
 * bytes of each region hold a magic value, which is exactly what the stack
 * above it overruns first, and is checked at every switch away from a
 * fiber. A canary detects an overflow at the next switch, after the damage
 * (to the neighbouring fiber's control block): it reports and aborts.
 *
 * Recycling. Freed stacks go to the freeing worker's cache; a full cache
 * hands half to a global hot list, and an empty one takes a batch from it
 * (fibers often end on another worker than the one that spawned them, so
 * stacks flow between caches in batches, one lock each). Past
 * WF__STACK_HOT the global stacks give their pages back (MADV_DONTNEED,
 * keeping the headroom page) and wait on a cold list. Regions are unmapped only when the
 * runtime shuts down, so a control block in the headroom stays readable for
 * as long as the runtime runs: a late wake-up of a fiber that has ended
 * reads memory that is still mapped (see core/sched.c on spurious wakes).
 *
 * Stacks of their own. A worker's task stack and a thread's serial
 * fork-join stack (src/par) are single regions outside the pools
 * (wf__stack_map_one): always guarded, never recycled, unmapped by their
 * owner (wf__stack_unmap_one), not by wf__stack_release_all, so one may
 * outlive a runtime. Code runs on one through wf__stack_call, which
 * switches to it, calls a function and switches back.
 */
#ifndef WEFT_ARCH_STACK_H
#define WEFT_ARCH_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef WEFT_CTX_UCONTEXT
#define WF__STACK_HEADROOM 2048u          /* a ucontext_t is ~1 KiB */
#else
#define WF__STACK_HEADROOM 1024u          /* bytes reserved at the top */
#endif
#define WF__STACK_MIN (16u * 1024u)       /* smallest usable stack */
#define WF__STACK_MAX ((size_t)1 << 30)   /* largest accepted request */
#define WF__STACK_CANARY UINT64_C(0x7765667463616e61) /* "weftcana" */
#define WF__STACK_CACHE 1024u             /* per-worker cached stacks */
#define WF__STACK_BATCH 64u               /* refill of an empty cache */
#define WF__STACK_HOT 8192u               /* global stacks kept warm */

struct wf__stack {
    char *lo;               /* lowest usable byte */
    size_t size;            /* region size from lo to the region's end */
    uint64_t *canary;       /* checked at switches; NULL when guarded */
    struct wf__stack *next; /* free-list link while free */
    unsigned valgrind_id;   /* valgrind's stack id, 0 if none */
    bool guarded;
#if defined(WEFT_TSAN)
    void *tsan;             /* stacks of their own: the TSan fiber that
                             * wf__stack_call runs on */
#endif
};

/* A worker's private cache of default-size stacks (owner only). */
struct wf__stack_cache {
    struct wf__stack *head;
    unsigned n;
};

/* Configure the allocator: the default region size, as wf__stack_round
 * returned it for the default request (used as is), and how many stacks
 * may be guarded (negative: none). Call before any alloc. */
void wf__stack_setup(size_t region_size, long guard_cap);

/* A stack whose region is `size` bytes (0: the default); cache may be NULL
 * (plain threads). NULL when out of memory. */
struct wf__stack *wf__stack_alloc(struct wf__stack_cache *cache, size_t size);

/* Give a stack back; cache may be NULL. */
void wf__stack_free(struct wf__stack_cache *cache, struct wf__stack *st);

/* Unmap every region (runtime shutdown: no fiber may run). */
void wf__stack_release_all(void);

/* Whether addr lies in st's guard page (or just below lo). */
bool wf__stack_in_guard(const struct wf__stack *st, const void *addr);

/* Round a requested stack size to a region size (page multiple, at least
 * the minimum, headroom included; WF__STACK_MAX gives WF__STACK_MAX plus
 * a page). 0 when it is over WF__STACK_MAX. Any thread, any time. */
size_t wf__stack_round(size_t size);

/* A guarded stack of its own with `size` usable bytes (rounded up to
 * pages; any size the address space allows), reserved lazily. NULL when
 * the mapping fails. Any thread; needs no runtime. */
struct wf__stack *wf__stack_map_one(size_t size);

/* Unmap a stack from wf__stack_map_one; nothing may run on it. */
void wf__stack_unmap_one(struct wf__stack *st);

/* The usable bytes of st, [lo, descriptor). */
static inline size_t wf__stack_usable(const struct wf__stack *st)
{
    return (size_t)((const char *)st - st->lo);
}

/* Call fn(arg) on st (a stack of its own that nothing else runs on) and
 * return when it returns: one context switch there and one back, both
 * announced to ASan and TSan. fn must return (no longjmp out of it). */
void wf__stack_call(struct wf__stack *st, void (*fn)(void *), void *arg);

/* Guarded stacks in existence (tests). */
long wf__stack_guarded_count(void);
/* Stacks wf__stack_alloc has created and wf__stack_release_all not yet
 * unmapped (in use or free). Any thread. */
long wf__stack_mapped_count(void);

#endif
