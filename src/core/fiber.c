/* SPDX-License-Identifier: MIT */
/*
 * The fiber API: handles, spawn, join, detach, park/unpark, sleep, cancel,
 * fiber-local storage.
 *
 * Handles. A struct wf_fiber carries an id = generation << 32 | (slot + 1).
 * The slot table is a two-level array that only grows (chunks are never
 * moved or freed while the runtime runs), so any id can be looked up
 * without a lock. A slot's ctl word packs the generation, a state and a
 * lock bit; every transition is a CAS on it, so a stale handle (older
 * generation) is detected, never dereferenced: double join gives WF_ESRCH,
 * not a use-after-free.
 *
 *   LIVE --join--> JOINING --exit--> DONE_JOINED --joiner claims--> FREE
 *   LIVE --exit--> DONE --join claims--> FREE (generation + 1)
 *   LIVE --detach--> DETACHED --exit--> FREE;  SCOPED --exit--> FREE
 *
 * The lock bit is held by operations that dereference the fiber through
 * its handle (cancel, unpark): the exit transition waits for it, so they
 * never act on a control block that a new fiber has reused.
 *
 * The result travels in the slot, not the fiber, so a fiber's stack is
 * recycled as soon as it returns even if nobody joins it yet.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fault.h"
#include "core_int.h"
#include "trace/trace.h"

#define GEN(c) ((uint32_t)((c) >> 32))
#define STATE(c) ((unsigned)((c) & WF__SLOT_STATE))
#define CTL(gen, state) (((uint64_t)(gen) << 32) | (state))

/* A slot state whose fiber has started and not returned. */
static inline bool slot_alive(unsigned st)
{
    return st != WF__S_FREE && st != WF__S_DONE && st != WF__S_DONE_JOINED;
}

/* Whether control word c says that fiber `id` has returned. */
static inline bool slot_returned(uint64_t c, uint64_t id)
{
    return GEN(c) == (uint32_t)(id >> 32) &&
           (STATE(c) == WF__S_DONE || STATE(c) == WF__S_DONE_JOINED);
}

/* ---- slots ---------------------------------------------------------------- */

static uint32_t slot_index(uint64_t id)
{
    return (uint32_t)id - 1;
}

/* Allocate a slot (from the worker's cache when there is one; an empty
 * cache takes a batch from the global list); returns its index, or
 * WF__SLOT_NONE. */
static uint32_t slot_alloc(struct wf__rt *rt, struct wf__worker *w)
{
    if (w && w->nslot_cache)
        return w->slot_cache[--w->nslot_cache];

    uint32_t idx = WF__SLOT_NONE;
    unsigned want = w ? WF__SLOT_CACHE / 4 : 0;
    wf__spin_lock(&rt->slot_lock);
    while (rt->free_slot != WF__SLOT_NONE) {
        uint32_t k = rt->free_slot;
        rt->free_slot = wf__slot_get((uint64_t)k + 1)->next_free;
        if (idx == WF__SLOT_NONE)
            idx = k;
        else
            w->slot_cache[w->nslot_cache++] = k;
        if (!want || w->nslot_cache >= want)
            break;
    }
    if (idx == WF__SLOT_NONE && rt->nslots < WF__SLOT_CHUNK * WF__SLOT_CHUNKS) {
        uint32_t c = rt->nslots / WF__SLOT_CHUNK;
        if (rt->nslots % WF__SLOT_CHUNK == 0) {
            struct wf__slot *chunk = wf__calloc(WF__SLOT_CHUNK, sizeof *chunk);
            if (!chunk)
                goto out;
            for (uint32_t k = 0; k < WF__SLOT_CHUNK; k++)
                atomic_init(&chunk[k].ctl, CTL(1, WF__S_FREE));
            /* release: publishes the initialised chunk to wf__slot_get. */
            atomic_store_explicit(&rt->chunks[c], chunk, memory_order_release);
        }
        idx = rt->nslots++;
    }
out:
    wf__spin_unlock(&rt->slot_lock);
    return idx;
}

/* Free a slot whose generation has been bumped: into the caller's worker
 * cache; a full cache hands half to the global list in one go. */
static void slot_free(struct wf__rt *rt, uint32_t idx)
{
    struct wf__worker *w = wf__worker_self();
    struct wf__slot *s = wf__slot_get((uint64_t)idx + 1);
    s->fiber = NULL;
    s->result = NULL;
    if (w && w->nslot_cache < WF__SLOT_CACHE) {
        w->slot_cache[w->nslot_cache++] = idx;
        return;
    }
    wf__spin_lock(&rt->slot_lock);
    s->next_free = rt->free_slot;
    rt->free_slot = idx;
    if (w) {
        while (w->nslot_cache > WF__SLOT_CACHE / 2) {
            uint32_t k = w->slot_cache[--w->nslot_cache];
            wf__slot_get((uint64_t)k + 1)->next_free = rt->free_slot;
            rt->free_slot = k;
        }
    }
    wf__spin_unlock(&rt->slot_lock);
}

struct wf__fcb *wf__slot_lock(struct wf__slot *s, uint64_t id)
{
    /* seq_cst loads, no order needed: a first look; the acquire CAS below
     * takes the lock and orders what follows. */
    uint64_t c = atomic_load_explicit(&s->ctl, memory_order_seq_cst);
    struct wf__backoff b = WF__BACKOFF_INIT;
    for (;;) {
        if (GEN(c) != (uint32_t)(id >> 32))
            return NULL;
        if (!slot_alive(STATE(c)))
            return NULL;
        if (c & WF__SLOT_LOCK) {
            wf__backoff_pause(&b);
            c = atomic_load_explicit(&s->ctl, memory_order_seq_cst);
            continue;
        }
        /* acquire: pairs with the release in wf__slot_unlock. */
        if (atomic_compare_exchange_weak_explicit(&s->ctl, &c, c | WF__SLOT_LOCK,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return s->fiber;
    }
}

void wf__slot_unlock(struct wf__slot *s)
{
    /* release: pairs with the acquire in wf__slot_lock and the exit CAS. */
    atomic_fetch_and_explicit(&s->ctl, ~(uint64_t)WF__SLOT_LOCK,
                              memory_order_release);
}

/* Wait until the lock bit is clear; returns the unlocked ctl. */
static uint64_t slot_ctl_unlocked(struct wf__slot *s)
{
    uint64_t c;
    struct wf__backoff b = WF__BACKOFF_INIT;
    /* seq_cst (acquire would do: pairs with the release stores of ctl that
     * drop the lock bit; callers act on the state through a CAS). */
    while ((c = atomic_load_explicit(&s->ctl, memory_order_seq_cst)) &
           WF__SLOT_LOCK)
        wf__backoff_pause(&b);
    return c;
}

/* Runtime shutdown: every slot's generation moves on and all become free,
 * but the table itself stays for the next runtime of this process. A
 * handle kept across wf_shutdown() and wf_init() then finds a newer
 * generation (WF_ESRCH) instead of naming a fiber of the new runtime. The
 * chunks live as long as the process, reachable from wf__rt. */
void wf__slots_retire(struct wf__rt *rt)
{
    rt->free_slot = WF__SLOT_NONE;
    for (uint32_t i = rt->nslots; i-- > 0;) {
        struct wf__slot *s = wf__slot_get((uint64_t)i + 1);
        uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
        if (STATE(c) != WF__S_FREE)
            atomic_store_explicit(&s->ctl, CTL(GEN(c) + 1, WF__S_FREE),
                                  memory_order_relaxed);
        s->fiber = NULL;
        s->result = NULL;
        s->joiner = NULL;
        s->next_free = rt->free_slot;
        rt->free_slot = i;
    }
}

/* ---- fiber-local storage -------------------------------------------------- */

static pthread_mutex_t fls_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*fls_dtor[WF_FLS_KEYS])(void *);
static atomic_uint fls_nkeys;

int wf_fls_key_create(unsigned *key, void (*destructor)(void *))
{
    int err = 0;
    if (!key)
        return WF_EINVAL;
    pthread_mutex_lock(&fls_lock);
    unsigned k = atomic_load_explicit(&fls_nkeys, memory_order_relaxed);
    if (k >= WF_FLS_KEYS) {
        err = WF_EAGAIN;
    } else {
        fls_dtor[k] = destructor;
        /* release: publishes fls_dtor[k] with the key. */
        atomic_store_explicit(&fls_nkeys, k + 1, memory_order_release);
        *key = k;
    }
    pthread_mutex_unlock(&fls_lock);
    return err;
}

int wf_fls_set(unsigned key, void *value)
{
    struct wf__fcb *f = wf__fiber_self();
    if (!f)
        return WF_EPERM;
    /* acquire: pairs with the release in wf_fls_key_create. */
    if (key >= atomic_load_explicit(&fls_nkeys, memory_order_acquire))
        return WF_EINVAL;
    if (!f->fls) {
        f->fls = wf__calloc(WF_FLS_KEYS, sizeof *f->fls);
        if (!f->fls)
            return WF_ENOMEM;
    }
    f->fls[key] = value;
    return 0;
}

void *wf_fls_get(unsigned key)
{
    struct wf__fcb *f = wf__fiber_self();
    if (!f || !f->fls || key >= WF_FLS_KEYS)
        return NULL;
    return f->fls[key];
}

/* Run destructors on the fiber's own stack (they may use weft calls); as
 * with POSIX thread keys, repeat while destructors set new values. */
static void fls_run_dtors(struct wf__fcb *f)
{
    for (int pass = 0; pass < 4 && f->fls; pass++) {
        bool again = false;
        unsigned n = atomic_load_explicit(&fls_nkeys, memory_order_acquire);
        for (unsigned k = 0; k < n; k++) {
            void *v = f->fls[k];
            if (v && fls_dtor[k]) {
                f->fls[k] = NULL;
                fls_dtor[k](v);
                again = true;
            }
        }
        if (!again)
            break;
    }
    free(f->fls);
    f->fls = NULL;
}

/* ---- spawn and exit ---------------------------------------------------------- */

int wf__spawn(struct wf_fiber *out, const struct wf_fiber_opts *opts,
              wf_fiber_fn *fn, void *arg, struct wf_scope *scope)
{
    static const struct wf_fiber_opts dflt = WF_FIBER_OPTS_INIT;
    struct wf__rt *rt = &wf__rt;
    size_t size = 0;

    if (atomic_load_explicit(&rt->state, memory_order_acquire) != WF__RT_RUNNING)
        return WF_ESHUTDOWN;
    if (!fn)
        return WF_EINVAL;
    if (!opts)
        opts = &dflt;
    if (opts->worker < WF_ANY_WORKER || opts->worker >= rt->nworkers)
        return WF_EINVAL;
    if (opts->stack_size) {
        size = wf__stack_round(opts->stack_size);
        if (!size)
            return WF_EINVAL;
        if (size == rt->stack_size)
            size = 0;
    }

    struct wf__worker *w = wf__worker_self();
    struct wf__stack *st = wf__stack_alloc(w ? &w->stacks : NULL, size);
    if (!st)
        return WF_ENOMEM;
    uint32_t idx = slot_alloc(rt, w);
    if (idx == WF__SLOT_NONE) {
        wf__stack_free(w ? &w->stacks : NULL, st);
        return WF_ENOMEM;
    }
    struct wf__slot *s = wf__slot_get((uint64_t)idx + 1);
    /* seq_cst, no order needed: the slot is ours (just taken from the
     * free list), only its generation is read. */
    uint32_t gen = GEN(atomic_load_explicit(&s->ctl, memory_order_seq_cst));

    struct wf__fcb *f = (struct wf__fcb *)st;
    f->fn = fn;
    f->arg = arg;
    f->id = ((uint64_t)gen << 32) | ((uint64_t)idx + 1);
    f->next = NULL;
    /* Stale wakers may touch these words of a reused block: atomics. */
    atomic_store_explicit(&f->wstate, WF__RUNNING, memory_order_relaxed);
    atomic_store_explicit(&f->notified, 0, memory_order_relaxed);
    atomic_store_explicit(&f->cancelled, false, memory_order_relaxed);
    /* relaxed: a report (core_int.h). */
    atomic_store_explicit(&f->why, WF__WHY_NONE, memory_order_relaxed);
    atomic_store_explicit(&f->home, opts->worker, memory_order_relaxed);
    f->budget = WF__COOP_BUDGET;
    /* timer, sl, owned, fls and name were left empty by wf__fiber_finish
     * (or are zero in a fresh region): no need to touch their lines. */
    WF_ASSERT(!atomic_load_explicit(&f->timer.heap, memory_order_relaxed));
    WF_ASSERT(!f->owned && !f->fls && !f->name[0] && !f->waiting &&
              !f->cancels);
    f->scope = scope;
    f->named = opts->name && opts->name[0];
    if (f->named) {
        strncpy(f->name, opts->name, WF_NAME_MAX);
        f->name[WF_NAME_MAX] = '\0';
    }
    s->fiber = f;
    s->result = NULL;
    s->joiner = NULL;
    unsigned state = scope ? WF__S_SCOPED : out ? WF__S_LIVE : WF__S_DETACHED;
    /* release: the slot's fields before its state. Published before the
     * fiber joins its scope, so that a close or cancel that finds it in
     * the member list can lock its slot and cancel it. */
    atomic_store_explicit(&s->ctl, CTL(gen, state), memory_order_release);
    if (scope) {
        int err = wf__scope_add(scope, f);
        if (err) {
            /* Nobody has seen the id: take the slot back unchanged. */
            atomic_store_explicit(&s->ctl, CTL(gen, WF__S_FREE),
                                  memory_order_relaxed);
            f->name[0] = '\0';
            f->named = false;
            s->fiber = NULL;
            slot_free(rt, idx);
            wf__stack_free(w ? &w->stacks : NULL, st);
            return err;
        }
    }
    wf__fiber_prepare(f);
    wf__inspect_spawned(rt, w); /* wf_stats */
    if (out)
        out->id = f->id;
    /* Run next on this worker (the caller keeps running until it
     * parks): a tree of fibers then runs depth-first (sched.c). */
    wf__trace_spawn(f->id, f->named ? f->name : NULL);
    wf__ready_spawned(f);
    return 0;
}

int wf_go(struct wf_fiber *out, wf_fiber_fn *fn, void *arg)
{
    return wf__spawn(out, NULL, fn, arg, NULL);
}

int wf_go_opts(struct wf_fiber *out, const struct wf_fiber_opts *opts,
               wf_fiber_fn *fn, void *arg)
{
    return wf__spawn(out, opts, fn, arg, NULL);
}

_Noreturn void wf__fiber_exit_with(struct wf__fcb *self, void *result)
{
    if (self->fls)
        fls_run_dtors(self);
    wf__slot_get(self->id)->result = result;
    wf__fiber_exit(self);
}

/* On the context that took over from a returned fiber. */
void wf__fiber_finish(struct wf__worker *w, struct wf__fcb *f)
{
    struct wf__rt *rt = w->rt;
    struct wf__slot *s = wf__slot_get(f->id);
    uint32_t gen = (uint32_t)(f->id >> 32);
    /* Failed CASes reload c with acquire: the joiner's record is read
     * after seeing JOINING, which its release CAS published. */
    uint64_t c = slot_ctl_unlocked(s);

    for (;;) {
        unsigned st = STATE(c);
        if (st == WF__S_JOINING) {
            /* Lock first, then read the record: a joiner that gives up
             * (JOINING -> LIVE) and a new one that registers could
             * otherwise slip in between, and the new one would never be
             * woken (the ctl word would look unchanged to our CAS). */
            if (!atomic_compare_exchange_weak_explicit(
                    &s->ctl, &c, c | WF__SLOT_LOCK, memory_order_acquire,
                    memory_order_acquire))
                goto retry;
            struct wf__wait *jr = s->joiner;
            struct wf__waiter jw = jr->w; /* before it may vanish */
            /* seq_cst: the waker's half of park-on-word (pairs with park()'s
             * store of PARKING and its load of the word). The joiner cannot
             * leave before the store of DONE_JOINED below (it waits for
             * the lock bit), so the record is still there. */
            atomic_store_explicit(&jr->state, 1, memory_order_seq_cst);
            /* release: publishes the result to the joiner, drops the lock. */
            atomic_store_explicit(&s->ctl, CTL(gen, WF__S_DONE_JOINED),
                                  memory_order_release);
            /* At the tail: a joiner usually joins many; running it after
             * the fibers already queued lets it find them done instead of
             * parking for each one. */
            wf__waiter_kick_tail(&jw);
            break;
        } else if (st == WF__S_LIVE) {
            /* acq_rel: release publishes the result; acquire pairs with
             * the release of a slot lock taken and dropped since c was
             * read (the CAS still matches then: the lock bit is clear
             * again), so that holder's reads come before what follows. */
            if (atomic_compare_exchange_weak_explicit(
                    &s->ctl, &c, CTL(gen, WF__S_DONE), memory_order_acq_rel,
                    memory_order_acquire))
                break;
        } else {
            WF_ASSERT(st == WF__S_DETACHED || st == WF__S_SCOPED);
            /* acq_rel: as above; slot_free then rewrites s->fiber, which
             * a lock holder read (TSan: deadline_races_last_exit). */
            if (atomic_compare_exchange_weak_explicit(
                    &s->ctl, &c, CTL(gen + 1, WF__S_FREE), memory_order_acq_rel,
                    memory_order_acquire)) {
                slot_free(rt, slot_index(f->id));
                break;
            }
        }
    retry:
        if (c & WF__SLOT_LOCK)
            c = slot_ctl_unlocked(s);
    }
    if (f->scope)
        wf__scope_member_exit(f->scope, f);
    wf__inspect_exited(rt, w); /* wf_stats */
    wf__fiber_release_san(f);
    /* Leave the cold fields empty for the next occupant (see core_int.h). A
     * fiber that returned with scopes still open forgets them: closing such
     * a scope later finds its owner gone. */
    f->owned = NULL;
    /* relaxed: reports (core_int.h); 0 says "not started" to the next,
     * -1 "no worker known yet" (not the last occupant's). */
    atomic_store_explicit(&f->since, 0, memory_order_relaxed);
    atomic_store_explicit(&f->last_worker, -1, memory_order_relaxed);
    if (f->named) { /* the name's line is cold: touch it only if used */
        f->name[0] = '\0';
        f->named = false;
    }
    /* Wakers that come late must find no parked fiber here (relaxed: they
     * only CAS from PARKED/PARKING, which this block will not be in until a
     * spawn publishes it anew). */
    atomic_store_explicit(&f->wstate, 0, memory_order_relaxed);
    wf__stack_free(&w->stacks, &f->st);
}

/* ---- join and detach ---------------------------------------------------------- */

/* Claim a returned fiber's result; c is its DONE or DONE_JOINED ctl. */
static bool claim(struct wf__slot *s, uint64_t id, uint64_t c, void **result)
{
    /* acquire (by the CAS): pairs with the release of the exit transition,
     * so the result read below is the one the fiber stored. */
    if (!atomic_compare_exchange_strong_explicit(
            &s->ctl, &c, CTL(GEN(c) + 1, WF__S_FREE), memory_order_seq_cst,
            memory_order_seq_cst))
        return false;
    if (result)
        *result = s->result;
    slot_free(&wf__rt, slot_index(id));
    return true;
}

int wf_join(struct wf_fiber f, void **result, int64_t deadline)
{
    struct wf__slot *s = wf__slot_get(f.id);
    struct wf__fcb *self = wf__fiber_self();
    struct wf__wait jr;
    int err = 0;

    if (!s)
        return WF_ESRCH;
    if (self && self->id == f.id)
        return WF_EDEADLK;
    if (!self && wf__thread_parker_ready() < 0)
        return WF_ENOMEM;
    wf__coop_spend(self);
    /* seq_cst loads of ctl here, no order needed: each state acted on is
     * taken by a CAS (claim acquires the result). */
    uint64_t c = atomic_load_explicit(&s->ctl, memory_order_seq_cst);
    for (;;) {
        if (GEN(c) != (uint32_t)(f.id >> 32))
            return WF_ESRCH;
        switch (STATE(c)) {
        case WF__S_FREE:
            return WF_ESRCH;
        case WF__S_DONE:
            if (claim(s, f.id, c, result))
                return 0;
            c = atomic_load_explicit(&s->ctl, memory_order_seq_cst);
            continue;
        case WF__S_LIVE:
            break;
        default: /* detached, scoped, or someone else joins */
            return WF_EINVAL;
        }
        if (c & WF__SLOT_LOCK) {
            c = slot_ctl_unlocked(s);
            continue;
        }
        /* Take the slot lock before writing s->joiner: a second joiner
         * that also saw LIVE must not overwrite the record of the one
         * that won (it would be woken instead, and the winner never). */
        if (!atomic_compare_exchange_strong_explicit(
                &s->ctl, &c, c | WF__SLOT_LOCK, memory_order_acquire,
                memory_order_relaxed))
            continue;
        wf__waiter_self(&jr.w);
        atomic_init(&jr.state, 0);
        s->joiner = &jr;
        /* release: publishes s->joiner to the exiting fiber; also drops
         * the lock bit. */
        atomic_store_explicit(&s->ctl, CTL(GEN(c), WF__S_JOINING),
                              memory_order_release);
        break;
    }

    for (;;) {
        /* The exit path stores jr.state and then DONE_JOINED under the
         * slot's lock bit: wait out that short window. */
        c = slot_ctl_unlocked(s);
        if (STATE(c) == WF__S_DONE_JOINED) {
            bool ok = claim(s, f.id, c, result);
            WF_ASSERT(ok);
            (void)ok;
            err = 0;
            break;
        }
        if (err) {
            /* Give up: take the joiner back, unless the fiber returned
             * meanwhile (then the join succeeds after all). */
            c = slot_ctl_unlocked(s);
            /* seq_cst CAS: races with the exit path, which takes the
             * lock bit on JOINING before it reads s->joiner. */
            if (STATE(c) == WF__S_JOINING &&
                atomic_compare_exchange_strong_explicit(
                    &s->ctl, &c, CTL(GEN(c), WF__S_LIVE),
                    memory_order_seq_cst, memory_order_seq_cst))
                break;
            continue;
        }
        err = wf__waiter_park_word(&jr.w, &jr.state, 0, deadline, WF__WHY_JOIN);
    }
    wf__waiter_done(&jr.w);
    return err;
}

int wf_detach(struct wf_fiber f)
{
    struct wf__slot *s = wf__slot_get(f.id);
    if (!s)
        return WF_ESRCH;
    /* seq_cst loads, no order needed: as in wf_join, a CAS decides. */
    uint64_t c = atomic_load_explicit(&s->ctl, memory_order_seq_cst);
    for (;;) {
        if (GEN(c) != (uint32_t)(f.id >> 32))
            return WF_ESRCH;
        switch (STATE(c)) {
        case WF__S_FREE:
            return WF_ESRCH;
        case WF__S_DONE:
            if (claim(s, f.id, c, NULL))
                return 0;
            c = atomic_load_explicit(&s->ctl, memory_order_seq_cst);
            continue;
        case WF__S_LIVE:
            if (c & WF__SLOT_LOCK) {
                c = slot_ctl_unlocked(s);
                continue;
            }
            /* seq_cst CAS: races with the exit transition of ctl. */
            if (atomic_compare_exchange_strong_explicit(
                    &s->ctl, &c, CTL(GEN(c), WF__S_DETACHED),
                    memory_order_seq_cst, memory_order_seq_cst))
                return 0;
            continue;
        default:
            return WF_EINVAL;
        }
    }
}

/* ---- the rest of the fiber API ------------------------------------------------- */

int wf_yield(void)
{
    struct wf__fcb *self = wf__fiber_self();
    if (!self)
        return WF_EPERM;
    wf__fiber_yield(self);
    return 0;
}

int wf_park(int64_t deadline)
{
    struct wf__fcb *self = wf__fiber_self();
    if (!self)
        return WF_EPERM;
    /* seq_cst, no order needed: an early out; park re-reads cancelled
     * after its store of PARKING (the Dekker half). */
    if (atomic_load_explicit(&self->cancelled, memory_order_seq_cst))
        return WF_ECANCELED;
    return wf__fiber_park(self, deadline);
}

int wf_unpark(struct wf_fiber f)
{
    struct wf__slot *s = wf__slot_get(f.id);
    if (!s)
        return WF_ESRCH;
    struct wf__fcb *fb = wf__slot_lock(s, f.id);
    if (!fb) {
        /* seq_cst, no order needed: only tells returned from unknown. */
        uint64_t c = atomic_load_explicit(&s->ctl, memory_order_seq_cst);
        return slot_returned(c, f.id) ? 0 : WF_ESRCH;
    }
    wf__fiber_wake(fb);
    wf__slot_unlock(s);
    return 0;
}

int wf_sleep_until(int64_t deadline)
{
    struct wf__fcb *self = wf__fiber_self();
    if (!self) {
        struct timespec ts = { deadline / 1000000000, deadline % 1000000000 };
        if (deadline == WF_FOREVER)
            ts.tv_sec = (time_t)INT64_MAX / 1000000000;
        wf__outside_begin(); /* a plain thread in weft: no deadlock report */
        while (deadline > wf_now() &&
               clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
            ;
        wf__outside_end();
        return 0;
    }
    wf__coop_spend(self);
    /* A word nobody changes: only the deadline or a cancellation ends
     * the park (spurious returns loop), and the permit stays untouched. */
    atomic_int never = 0;
    int err = 0;
    for (;;) {
        /* seq_cst, no order needed: as in wf_park. */
        if (atomic_load_explicit(&self->cancelled, memory_order_seq_cst)) {
            err = WF_ECANCELED;
            break;
        }
        if (wf_now() >= deadline)
            break;
        int r = wf__fiber_park_word(self, &never, 0, deadline, WF__WHY_SLEEP);
        if (r == -ETIMEDOUT)
            break;
        if (r == -ECANCELED) {
            err = WF_ECANCELED;
            break;
        }
        if (r == -ENOMEM) /* no memory for the timer: wait by yielding */
            wf__fiber_yield(self);
    }
    return err;
}

int wf_sleep(int64_t ns)
{
    return wf_sleep_until(wf_deadline_in(ns));
}

struct wf_fiber wf_self(void)
{
    struct wf__fcb *f = wf__fiber_self();
    return (struct wf_fiber){ f ? f->id : 0 };
}

const char *wf_self_name(void)
{
    struct wf__fcb *f = wf__fiber_self();
    return f ? f->name : NULL;
}

int wf_pin_self(void)
{
    struct wf__worker *w = wf__worker_self();
    struct wf__fcb *f = w ? atomic_load_explicit(&w->current,
                                                   memory_order_relaxed) : NULL;
    if (!f)
        return WF_EPERM;
    /* relaxed: read by wakers, which queue it to this worker either way. */
    atomic_store_explicit(&f->home, w->index, memory_order_relaxed);
    return w->index;
}

bool wf_cancelled(void)
{
    struct wf__fcb *f = wf__fiber_self();
    /* seq_cst: pairs with wf__cancel_locked's store; the cancelling
     * party publishes nothing else through it. */
    return f && atomic_load_explicit(&f->cancelled, memory_order_seq_cst);
}

void wf__cancel_locked(struct wf__fcb *f)
{
    /* seq_cst: the waker's half of the Dekker with park()'s store of
     * PARKING and its re-read of cancelled; the kick reads wstate. */
    atomic_store_explicit(&f->cancelled, true, memory_order_seq_cst);
    wf__fiber_kick(f);
    wf__scope_cancel_owned(f);
}

int wf_cancel(struct wf_fiber f)
{
    struct wf__slot *s = wf__slot_get(f.id);
    if (!s)
        return WF_ESRCH;
    struct wf__fcb *fb = wf__slot_lock(s, f.id);
    if (!fb) {
        /* seq_cst, no order needed: as in wf_unpark. */
        uint64_t c = atomic_load_explicit(&s->ctl, memory_order_seq_cst);
        return slot_returned(c, f.id) ? 0 : WF_ESRCH;
    }
    wf__cancel_locked(fb);
    wf__slot_unlock(s);
    return 0;
}

/* How many handle slots have been handed out. Slots below that stay
 * mapped for the life of the process (see wf__slots_retire), so a walk
 * over them is safe against spawns. */
static uint32_t slots_in_use(struct wf__rt *rt)
{
    wf__spin_lock(&rt->slot_lock);
    uint32_t n = rt->nslots;
    wf__spin_unlock(&rt->slot_lock);
    return n;
}

size_t wf__fibers_each(struct wf__rt *rt, wf__fiber_visit_fn *visit, void *arg)
{
    uint32_t nslots = slots_in_use(rt);
    size_t n = 0;
    for (uint32_t i = 0; i < nslots; i++) {
        struct wf__slot *s = wf__slot_get((uint64_t)i + 1);
        /* relaxed: a first look; the slot lock below decides. */
        uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
        if (!slot_alive(STATE(c)))
            continue;
        uint64_t id = (c & ~(uint64_t)0xffffffffu) | ((uint64_t)i + 1);
        struct wf__fcb *f = wf__slot_lock(s, id);
        if (!f)
            continue;
        bool more = visit(f, id, arg);
        wf__slot_unlock(s);
        n++;
        if (!more)
            break;
    }
    return n;
}

size_t wf_fibers_alive(void)
{
    struct wf__rt *rt = &wf__rt;
    /* acquire: pairs with the release store of RUNNING in wf_init, after
     * which the table is set up. */
    if (atomic_load_explicit(&rt->state, memory_order_acquire) !=
        WF__RT_RUNNING)
        return 0;
    /* Each state is read on its own: a snapshot of no single moment. */
    uint32_t nslots = slots_in_use(rt);
    size_t n = 0;
    for (uint32_t i = 0; i < nslots; i++) {
        struct wf__slot *s = wf__slot_get((uint64_t)i + 1);
        /* relaxed: a count, nothing read through it. */
        uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
        if (slot_alive(STATE(c)))
            n++;
    }
    return n;
}

size_t wf__fibers_abandon(struct wf__rt *rt)
{
    size_t n = 0;
    for (uint32_t i = 0; i < rt->nslots; i++) {
        struct wf__slot *s = wf__slot_get((uint64_t)i + 1);
        /* seq_cst, no order needed: the workers have stopped. */
        uint64_t c = atomic_load_explicit(&s->ctl, memory_order_seq_cst);
        if (!slot_alive(STATE(c)))
            continue;
        n++; /* started and not returned: blocked or runnable */
        struct wf__fcb *f = s->fiber;
        if (f) {
            if (f->waiting) {
                f->waiting->unlink(f->waiting);
                f->waiting = NULL;
            }
            free(f->fls);
            f->fls = NULL;
            wf__fiber_release_san(f);
        }
    }
    return n;
}
