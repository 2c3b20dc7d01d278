/* SPDX-License-Identifier: MIT */
/*
 * Fiber stack allocator. Design in stack.h; here the mechanics.
 *
 * Global state is guarded by `g.lock` (a spinlock: every critical section
 * is a few list operations; the mmap calls happen outside it). The region
 * registry (for unmapping at shutdown) is an array that only grows.
 *
 * Slab layout, lowest address first: one canary page (its last 16 bytes
 * protect the lowest stack), then 64 regions. Region k's last 16 bytes are
 * the canary of region k+1, which lies directly above it.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif
#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(WEFT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#include "common/fault.h"
#include "common/futex.h"
#include "ctx.h"
#include "stack.h"

#define SLAB_STACKS 256

struct region {
    void *base;
    size_t len;
};

static struct {
    struct wf__spin lock;
    size_t page;
    size_t dflt;            /* default region size */
    long guard_cap;         /* < 0: never guard */
    long guarded;           /* guarded stacks created */
    struct wf__stack *hot;   /* default size, pages kept (warm) */
    unsigned nhot;
    struct wf__stack *cold;  /* default size, pages given back */
    struct wf__stack *other; /* other sizes, pages given back */
    struct region *regions;
    size_t nregions, cap_regions;
} g = { .page = 4096 };

/* The page size, read where it is needed: wf__stack_round runs before
 * wf__stack_setup (the runtime's configuration rounds its default first),
 * so it cannot rely on g.page. sysconf(_SC_PAGESIZE) is a load in glibc. */
static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

size_t wf__stack_round(size_t size)
{
    size_t page = page_size();
    if (size > WF__STACK_MAX)
        return 0;
    if (size < WF__STACK_MIN)
        size = WF__STACK_MIN;
    size += WF__STACK_HEADROOM;
    return (size + page - 1) & ~(page - 1);
}

void wf__stack_setup(size_t region_size, long guard_cap)
{
    g.page = page_size();
    /* Already a region size: rounding it again would add a second
     * headroom, and at WF__STACK_MAX fail (0) since the region is larger
     * than any request may be; a default of 0 made every stack empty. */
    g.dflt = region_size;
    g.guard_cap = guard_cap;
}

/* Stacks created by wf__stack_alloc (in slabs or guarded) and not yet
 * unmapped; relaxed: a statistic (wf_stats), counted off the hot path. */
static atomic_long nmapped;

long wf__stack_mapped_count(void)
{
    return atomic_load_explicit(&nmapped, memory_order_relaxed);
}

long wf__stack_guarded_count(void)
{
    wf__spin_lock(&g.lock);
    long n = g.guarded;
    wf__spin_unlock(&g.lock);
    return n;
}

static int remember(void *base, size_t len)
{
    int err = 0;
    wf__spin_lock(&g.lock);
    if (g.nregions == g.cap_regions) {
        size_t cap = g.cap_regions ? g.cap_regions * 2 : 256;
        struct region *r = wf__realloc(g.regions, cap * sizeof *r);
        if (!r) {
            err = -1;
            goto out;
        }
        g.regions = r;
        g.cap_regions = cap;
    }
    g.regions[g.nregions++] = (struct region){base, len};
out:
    wf__spin_unlock(&g.lock);
    return err;
}

/* ASan poisons the redzones of stack frames and unpoisons them when the
 * frames return. The last frames of a fiber never return (it switches away
 * for good), so its stack must be unpoisoned before anyone reuses it.
 *
 * ASan's unpoison writes every shadow byte (one per 8 bytes), which makes
 * them resident: a 1 GiB stack costs 128 MiB at each free, and a slab of
 * 1 GiB stacks (256 GiB) 32 GiB at shutdown, more than the machine has.
 * So the shadow pages that lie wholly inside the range are given back
 * instead (ASan's shadow is anonymous memory, which reads as zero,
 * "unpoisoned", afterwards; ASan clears large ranges the same way), and
 * only the partial pages at either end are written. */
static void unpoison(void *lo, size_t len)
{
#if defined(WEFT_ASAN)
    size_t scale, offset, page = g.page;
    __asan_get_shadow_mapping(&scale, &offset);
    uintptr_t a = (uintptr_t)lo, b = a + len;
    uintptr_t sa = ((a >> scale) + offset + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t sb = ((b >> scale) + offset) & ~(uintptr_t)(page - 1);
    if (sb > sa && sb - sa >= 16 * page) {
        uintptr_t ma = (sa - offset) << scale, mb = (sb - offset) << scale;
        ASAN_UNPOISON_MEMORY_REGION(lo, ma - a);
        if (madvise((void *)sa, sb - sa, MADV_DONTNEED) != 0)
            ASAN_UNPOISON_MEMORY_REGION((void *)ma, mb - ma);
        ASAN_UNPOISON_MEMORY_REGION((void *)mb, b - mb);
        return;
    }
    ASAN_UNPOISON_MEMORY_REGION(lo, len);
#else
    (void)lo;
    (void)len;
#endif
}

static void *map(size_t len)
{
    void *p = wf__mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                       -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Write the descriptor into the headroom of the region [lo, lo + size). */
static struct wf__stack *init_region(char *lo, size_t size, bool guarded,
                                     uint64_t *canary)
{
    struct wf__stack *st =
        (struct wf__stack *)(lo + size - WF__STACK_HEADROOM);
    st->lo = lo;
    st->size = size;
    st->guarded = guarded;
    st->canary = canary;
    st->next = NULL;
    st->valgrind_id = 0;
#if defined(WEFT_TSAN)
    st->tsan = NULL;
#endif
#ifdef WEFT_HAVE_VALGRIND
    st->valgrind_id = VALGRIND_STACK_REGISTER(lo, (char *)st);
#endif
    /* Region's own last 16 bytes: the canary of the region above (slabs);
     * harmless elsewhere. */
    uint64_t *top = (uint64_t *)(lo + size) - 2;
    top[0] = top[1] = WF__STACK_CANARY;
    if (canary)
        canary[0] = canary[1] = WF__STACK_CANARY;
    return st;
}

/* One region of `size` above a guard page; `tracked`: remembered for
 * the runtime's unmap at shutdown (else its owner unmaps it). */
static struct wf__stack *map_guarded(size_t size, size_t page, bool tracked)
{
    size_t len = size + page;
    char *base = map(len);
    if (!base)
        return NULL;
    if (mprotect(base, page, PROT_NONE) != 0 ||
        (tracked && remember(base, len) != 0)) {
        munmap(base, len);
        return NULL;
    }
    return init_region(base + page, size, true, NULL);
}

static struct wf__stack *new_guarded(size_t size)
{
    struct wf__stack *st = map_guarded(size, g.page, true);
    if (st) /* relaxed: see nmapped */
        atomic_fetch_add_explicit(&nmapped, 1, memory_order_relaxed);
    return st;
}

/* Carve a slab of SLAB_STACKS regions of `size`; returns one, the rest go
 * to the global free list for that size. */
static struct wf__stack *new_slab(size_t size)
{
    if (size > (SIZE_MAX - g.page) / SLAB_STACKS)
        return NULL; /* a 32-bit address space: no slab of such stacks */
    size_t len = g.page + SLAB_STACKS * size;
    char *base = map(len);
    if (!base)
        return NULL;
    if (remember(base, len) != 0) {
        munmap(base, len);
        return NULL;
    }
    struct wf__stack *first = NULL, *head = NULL, *tail = NULL;
    /* relaxed: see nmapped */
    atomic_fetch_add_explicit(&nmapped, SLAB_STACKS, memory_order_relaxed);
    for (int k = 0; k < SLAB_STACKS; k++) {
        char *lo = base + g.page + (size_t)k * size;
        struct wf__stack *st = init_region(lo, size, false, (uint64_t *)lo - 2);
        if (!first) {
            first = st;
            continue;
        }
        if (!head)
            head = st;
        else
            tail->next = st;
        tail = st;
    }
    if (head) {
        wf__spin_lock(&g.lock);
        if (size == g.dflt) {
            tail->next = g.hot;
            g.hot = head;
            g.nhot += SLAB_STACKS - 1;
        } else {
            tail->next = g.other;
            g.other = head;
        }
        wf__spin_unlock(&g.lock);
    }
    return first;
}

/* Pop up to `max` stacks of the default size from the hot list, then one
 * from the cold list; g.lock held. Returns a chain (linked by next). */
static struct wf__stack *take_default(unsigned max, unsigned *got)
{
    struct wf__stack *head = g.hot, *last = NULL;
    unsigned n = 0;
    while (g.hot && n < max) {
        last = g.hot;
        g.hot = g.hot->next;
        n++;
    }
    g.nhot -= n;
    if (last) {
        last->next = NULL;
    } else if (g.cold) {
        head = g.cold;
        g.cold = head->next;
        head->next = NULL;
        n = 1;
    } else {
        head = NULL;
    }
    *got = n;
    return head;
}

struct wf__stack *wf__stack_alloc(struct wf__stack_cache *cache, size_t size)
{
    struct wf__stack *st = NULL;
    bool guard = false;

    if (size == 0)
        size = g.dflt;
    if (size == g.dflt && cache && cache->head) {
        st = cache->head;
        cache->head = st->next;
        cache->n--;
        return st;
    }

    wf__spin_lock(&g.lock);
    if (size == g.dflt) {
        unsigned got;
        st = take_default(cache ? WF__STACK_BATCH : 1, &got);
        if (st && cache) { /* keep the rest of the batch */
            cache->head = st->next;
            cache->n += got - 1;
        }
    } else {
        struct wf__stack **pp = &g.other;
        while (*pp && (*pp)->size != size)
            pp = &(*pp)->next;
        st = *pp;
        if (st)
            *pp = st->next;
    }
    if (!st && g.guard_cap >= 0 && g.guarded < g.guard_cap) {
        g.guarded++;
        guard = true;
    }
    wf__spin_unlock(&g.lock);
    if (st) {
        st->next = NULL;
        return st;
    }

    if (guard) {
        st = new_guarded(size);
        if (st)
            return st;
        wf__spin_lock(&g.lock);
        g.guarded--;
        wf__spin_unlock(&g.lock);
    }
    return new_slab(size);
}

/* Give the pages of a free stack back to the kernel, keeping the page that
 * holds its descriptor (and the canary of the region above). */
static void give_back(struct wf__stack *st)
{
    uintptr_t keep = (uintptr_t)st & ~(uintptr_t)(g.page - 1);
    if (keep > (uintptr_t)st->lo)
        madvise(st->lo, keep - (uintptr_t)st->lo, MADV_DONTNEED);
}

/* Free a chain of default-size stacks to the global lists: the hot list
 * while it has room, the rest cold after giving back their pages. */
static void free_default_chain(struct wf__stack *head)
{
    struct wf__stack *cold = NULL;
    wf__spin_lock(&g.lock);
    while (head) {
        struct wf__stack *st = head;
        head = head->next;
        if (g.nhot < WF__STACK_HOT) {
            st->next = g.hot;
            g.hot = st;
            g.nhot++;
        } else {
            st->next = cold;
            cold = st;
        }
    }
    wf__spin_unlock(&g.lock);
    if (!cold)
        return;
    struct wf__stack *last = cold;
    for (struct wf__stack *st = cold; st; st = st->next) {
        give_back(st);
        last = st;
    }
    wf__spin_lock(&g.lock);
    last->next = g.cold;
    g.cold = cold;
    wf__spin_unlock(&g.lock);
}

void wf__stack_free(struct wf__stack_cache *cache, struct wf__stack *st)
{
    unpoison(st->lo, (size_t)((char *)st - st->lo));
    if (st->size != g.dflt) {
        give_back(st);
        wf__spin_lock(&g.lock);
        st->next = g.other;
        g.other = st;
        wf__spin_unlock(&g.lock);
        return;
    }
    if (!cache) {
        st->next = NULL;
        free_default_chain(st);
        return;
    }
    if (cache->n >= WF__STACK_CACHE) {
        /* Full: hand half to the global lists in one go. */
        struct wf__stack *head = cache->head, *last = head;
        unsigned n = WF__STACK_CACHE / 2;
        for (unsigned k = 1; k < n; k++)
            last = last->next;
        cache->head = last->next;
        cache->n -= n;
        last->next = NULL;
        free_default_chain(head);
    }
    st->next = cache->head;
    cache->head = st;
    cache->n++;
}

/* ---- stacks of their own ------------------------------------------------ */

struct wf__stack *wf__stack_map_one(size_t size)
{
    size_t page = page_size();
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + WF__STACK_HEADROOM + page - 1) & ~(page - 1);
    struct wf__stack *st = map_guarded(size, page, false);
    if (!st)
        return NULL;
#if defined(WEFT_TSAN)
    st->tsan = __tsan_create_fiber(0);
#endif
    return st;
}

void wf__stack_unmap_one(struct wf__stack *st)
{
    size_t page = page_size();
    char *base = st->lo - page;
    size_t len = st->size + page;
#if defined(WEFT_TSAN)
    if (st->tsan)
        __tsan_destroy_fiber(st->tsan);
#endif
#ifdef WEFT_HAVE_VALGRIND
    if (st->valgrind_id)
        VALGRIND_STACK_DEREGISTER(st->valgrind_id);
#endif
    unpoison(st->lo, len - page);
    munmap(base, len);
}

/* A wf__stack_call in progress: lives in the caller's frame. */
struct call {
    struct wf__ctx back, on;
    void (*fn)(void *);
    void *arg;
#if defined(WEFT_ASAN)
    const void *bottom; /* the caller's stack, as ASan knew it */
    size_t size;
#endif
#if defined(WEFT_TSAN)
    void *tsan; /* the caller's TSan fiber */
#endif
};

/* The first frame on the stack. It never returns: after fn it switches
 * back for good, and the next call starts a fresh context at the top. */
static void call_entry(void *p)
{
    struct call *c = p;
#if defined(WEFT_ASAN)
    __sanitizer_finish_switch_fiber(NULL, &c->bottom, &c->size);
#endif
    c->fn(c->arg);
#if defined(WEFT_ASAN)
    /* NULL: this context ends; ASan drops its fake stack. */
    __sanitizer_start_switch_fiber(NULL, c->bottom, c->size);
#endif
#if defined(WEFT_TSAN)
    __tsan_switch_to_fiber(c->tsan, 0);
#endif
    wf__ctx_switch(&c->on, &c->back);
    abort(); /* nothing switches back to an ended call */
}

void wf__stack_call(struct wf__stack *st, void (*fn)(void *), void *arg)
{
    struct call c;
    size_t size = wf__stack_usable(st);
    c.fn = fn;
    c.arg = arg;
    wf__ctx_make(&c.on, st->lo, size, call_entry, &c);
#if defined(WEFT_ASAN)
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, st->lo, size);
#endif
#if defined(WEFT_TSAN)
    c.tsan = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(st->tsan, 0);
#endif
    wf__ctx_switch(&c.back, &c.on);
#if defined(WEFT_ASAN)
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
    /* call_entry's frame never returned: clear what it left poisoned at
     * the top, where the next call's first frames go. */
    ASAN_UNPOISON_MEMORY_REGION((char *)st - 4096, 4096);
#endif
}

bool wf__stack_in_guard(const struct wf__stack *st, const void *addr)
{
    uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)st->lo;
    return a < lo + 256 && a + g.page >= lo;
}

void wf__stack_release_all(void)
{
    wf__spin_lock(&g.lock);
#ifdef WEFT_HAVE_VALGRIND
    /* Valgrind ids live in the descriptors; deregister the free ones we can
     * still reach (the rest die with their mappings). */
    struct wf__stack *lists[] = { g.hot, g.cold, g.other };
    for (int i = 0; i < 3; i++)
        for (struct wf__stack *st = lists[i]; st; st = st->next)
            if (st->valgrind_id)
                VALGRIND_STACK_DEREGISTER(st->valgrind_id);
#endif
    for (size_t i = 0; i < g.nregions; i++) {
        unpoison(g.regions[i].base, g.regions[i].len);
        munmap(g.regions[i].base, g.regions[i].len);
    }
    free(g.regions);
    g.regions = NULL;
    g.nregions = g.cap_regions = 0;
    g.hot = g.cold = g.other = NULL;
    g.nhot = 0;
    g.guarded = 0;
    atomic_store_explicit(&nmapped, 0, memory_order_relaxed); /* as above */
    wf__spin_unlock(&g.lock);
}
