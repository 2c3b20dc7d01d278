/* SPDX-License-Identifier: MIT */
/*
 * weft/par.h - parallelism: fork-join task groups and parallel loops,
 * reductions, scans and sorts.
 *
 * Tasks. A task is a function and an argument that runs to completion on a
 * worker's task stack, never on a fiber's. Tasks are for computing:
 * a task must not wait on anything that parks a fiber or blocks a thread
 * (fiber joins, channels, weft or OS locks that another task may hold,
 * sleeps, I/O). Holding a lock while joining is a deadlock waiting to
 * happen: the joining worker runs other tasks meanwhile, and one of them
 * may want the same lock.
 *
 * Where the calls may be made, and what they do there:
 *   - inside a task: the work nests; a fork is a push on the worker's own
 *     deque, a join that finds its child un-stolen pops and runs it, and a
 *     join whose child was stolen runs other tasks until the child is done;
 *   - in a fiber: the work is handed to the runtime's workers and the fiber
 *     parks until it is done (its worker runs other fibers and tasks
 *     meanwhile). Not a cancellation point: a cancelled fiber still waits;
 *   - in a plain thread while a runtime runs: the same, blocking the thread;
 *   - with no runtime running: everything runs serially on the caller's
 *     thread (a fork runs its child at once); results are the same. The
 *     outermost serial fork, spawn or wf_par_run switches to a stack of
 *     the thread's own (below) and back when its child returns; forks
 *     made there just call.
 *
 * Stacks and recursion depth. Each worker runs its tasks on a task stack
 * that weft maps itself: wf_config.task_stack_size / WEFT_TASK_STACK_SIZE
 * bytes (default 1 GiB, 64 KiB to 64 GiB; weft/runtime.h), reserved
 * lazily, with a guard page below it. A join whose child was not stolen
 * runs the child on top of its own frames, so a recursion through nested
 * joins uses the task stack like a plain recursion: with the default,
 * 100,000 nested levels of 500-byte frames or 1,000,000 of small ones fit.
 * Running past the end aborts the process after one line on stderr:
 *   weft: stack overflow (guard page hit) in a task on worker N, task
 *   stack of S bytes; raise wf_config.task_stack_size or
 *   WEFT_TASK_STACK_SIZE
 * The pages a recursion touched stay committed until wf_shutdown. With no
 * runtime, the serial stack has the same size (the last start's setting,
 * else WEFT_TASK_STACK_SIZE as the first serial call that read it well
 * found it, else 1 GiB); a thread maps it at its first
 * serial call and unmaps it when it exits. Its overrun is a plain
 * SIGSEGV (no runtime: no handler).
 *
 * Sharing the workers with fibers. Tasks run on the same worker threads
 * as fibers, on the workers' task stacks, and a worker runs a task to the
 * end before it looks at its fibers again (other workers may steal those
 * fibers meanwhile). Fibers queued on a worker that is busy with a long
 * parallel call therefore wait; the stall monitor does not report tasks.
 *
 * Determinism. wf_parallel_reduce and wf_parallel_scan split their ranges
 * in a fixed way that depends only on the range and the grain, never on
 * the number of workers or on timing, and combine partial results in a
 * fixed tree order. With an associative combine the result equals the
 * serial one; with a combine that is associative only approximately
 * (floating-point addition) the result may differ from a serial left fold
 * in its last bits, but it is the same in every run, with any number of
 * workers, and without a runtime. wf_parallel_for bodies see ranges that
 * depend on timing (adaptive splitting): a body must not depend on where
 * its ranges begin or end. The sorts are stable merge sorts and give the
 * same output for the same input everywhere.
 *
 * Errors. 0 on success, else a negative code: WF_EINVAL for a NULL
 * function, hi < lo, a zero element or accumulator size, a negative grain;
 * WF_ENOMEM when scratch memory cannot be had (nothing has run then).
 * With no runtime, a call that must switch to the serial stack also fails
 * (running nothing) with WF_EINVAL when WEFT_TASK_STACK_SIZE is set to a
 * value it cannot take (one line on stderr, as from wf_init), and with
 * WF_ENOMEM when the stack cannot be mapped.
 */
#ifndef WEFT_PAR_H
#define WEFT_PAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void wf_task_fn(void *arg);

/* Storage sizes (bytes); the implementation checks that it fits. */
#define WF_TASK_SIZE 32
#define WF_TASK_GROUP_SIZE 96

/* A task descriptor: caller storage, typically on the forking function's
 * stack. It must stay in place until the group's join returns. */
struct wf_task { WF_ALIGN(8) unsigned char opaque[WF_TASK_SIZE]; };
/* A set of forked tasks that one join waits for. */
struct wf_task_group { WF_ALIGN(8) unsigned char opaque[WF_TASK_GROUP_SIZE]; };

/* ---- fork-join ------------------------------------------------------------ */

/* Start an empty group. Its mode (nested task, hand-off from a fiber or
 * plain thread, serial) is fixed by where this is called: fork into and
 * join a group only from the function that initialised it, and join
 * groups in the reverse order of their initialisation. Any context.
 * Errors: WF_EINVAL g NULL; WF_ENOMEM from a plain thread whose first
 * wait in weft (the join's) found no memory for the record it parks on
 * (do not fork into g then). */
WF_API int wf_task_group_init(struct wf_task_group *g);

/* Fork fn(arg) as a child of g, using t as its descriptor (t must stay
 * valid and unmoved until wf_task_group_join(g) returns). Inside a task
 * this is a push on the worker's deque (a few ns); the child runs later on
 * this worker or on a thief. From a fiber or plain thread it is queued for
 * the workers at once; with no runtime, fn(arg) runs before this returns
 * (on the serial stack). Never blocks. Errors: WF_EINVAL g, t or fn NULL;
 * with no runtime, those of the serial stack (see Errors above). */
WF_API int wf_task_group_fork(struct wf_task_group *g, struct wf_task *t,
                              wf_task_fn *fn, void *arg);

/* Wait until every child forked into g has returned; g may be reused
 * after (it is empty again). Inside a task: runs its own un-stolen
 * children itself (newest first), then, while a stolen child runs
 * elsewhere, runs tasks stolen from other workers - at most 24 such
 * nested steals deep on one worker, beyond which it spins (yielding its
 * CPU after about 50 us without finding work). In a fiber it
 * parks the fiber; in a plain thread it blocks the thread.
 * Errors: WF_EINVAL g NULL. */
WF_API int wf_task_group_join(struct wf_task_group *g);

/* The cheapest fork-join, inside tasks only: spawn fn(arg) as a child of
 * the calling task using t as its descriptor, then (after doing other
 * work) sync it: wait until it has run. One push and, when nobody stole
 * it, one pop and a call; both are inline (see the end of this file), so
 * an un-stolen spawn + sync costs a few ns. A task must sync what it spawns, in the
 * reverse order of the spawns, before it returns; t must stay in place
 * until then. A sync whose child was stolen runs other tasks meanwhile
 * (see wf_task_group_join). Never blocks the thread otherwise.
 * With no runtime, spawn calls fn(arg) and sync does nothing (serial).
 * Errors: WF_EPERM outside a task while a runtime runs (use wf_par_run to
 * get into one); WF_EINVAL t or fn NULL; with no runtime, spawn those of
 * the serial stack (see Errors above). */
static inline int wf_task_spawn(struct wf_task *t, wf_task_fn *fn, void *arg);
static inline int wf_task_sync(struct wf_task *t);

/* Typed tasks: spawn and sync of one known function, whose un-stolen sync
 * calls that function directly (the compiler sees the call and may inline
 * it), where wf_task_sync calls through the descriptor's pointer. For a
 * function `result_type fn(arg_type)` declared before it,
 *
 *     WF_TASK_TYPE(name, result_type, fn, arg_type)
 *
 * defines, at file scope:
 *   struct name          the task record: caller storage, typically in the
 *                        spawning frame; it must stay in place until the
 *                        sync returns. Its members are not API.
 *   int name_spawn(struct name *h, arg_type arg)
 *                        copies arg into *h and spawns fn(arg) as
 *                        wf_task_spawn does (same contexts, same errors);
 *                        after an error fn did not run: do not sync h.
 *   result_type name_sync(struct name *h)
 *                        as wf_task_sync, and returns fn's result: when
 *                        the task is still the newest on this worker's
 *                        deque it is popped and fn(arg) is called here;
 *                        else (stolen, already run) its result is read.
 *   result_type name_call(arg_type arg)
 *                        fn(arg) as a plain call (no task): for the
 *                        cutoff below which forking does not pay.
 *   name_run             the runner a thief calls (not API).
 *
 * WF_TASK_TYPE_VOID(name, fn, arg_type) does the same for `void
 * fn(arg_type)`; its name_sync returns wf_task_sync's int and name_call
 * returns nothing. Several arguments travel in a struct (arg_type may be
 * one). The generated functions are static inline; the rules of
 * wf_task_spawn hold (sync in the reverse order of the spawns, before the
 * spawning task returns). With no runtime, spawn runs fn on the serial
 * stack and sync returns the result it left. An un-stolen typed spawn +
 * sync also costs less than wf_task_spawn + wf_task_sync apart from the
 * call: the record keeps the task's place in the deque, so the sync
 * need not wait for a reload of the deque's bottom.
 *
 * Example: fib with a fork at every call.
 *
 *     static long fib(int n);
 *     WF_TASK_TYPE(fib_task, long, fib, int)
 *     static long fib(int n) {
 *         if (n < 2)
 *             return n;
 *         struct fib_task t;
 *         fib_task_spawn(&t, n - 1);
 *         long y = fib(n - 2);
 *         return fib_task_sync(&t) + y;
 *     }
 *     ... inside a task (see wf_par_run): long r = fib(32);
 */

/* Run fn(arg) as one task on the workers and wait for it: the way for a
 * fiber or a plain thread to enter task context (where task groups are a
 * push and a pop). Inside a task, calls fn(arg) directly; with no runtime,
 * too (on the serial stack). Blocking as wf_task_group_join(). Errors:
 * WF_EINVAL fn NULL; WF_ENOMEM as wf_task_group_init (fn did not run;
 * so also the parallel calls below, made from a plain thread); with no
 * runtime, those of the serial stack (see Errors above). */
WF_API int wf_par_run(wf_task_fn *fn, void *arg);

/* Whether the caller runs inside a task. Any context. */
WF_API bool wf_in_task(void);

/* ---- loops and algorithms ---------------------------------------------- */

/* A loop body: handles indices lo <= i < hi (a whole range, so that the
 * compiler can vectorise the inner loop). */
typedef void wf_for_fn(long lo, long hi, void *ctx);

/* Call body over disjoint ranges that cover [lo, hi) exactly once, in
 * parallel. grain: the largest range a body call gets when there is work
 * to split (at least 1); 0 chooses automatically (lazy binary splitting:
 * a range is halved only when the worker's own deque is empty, that is
 * when a thief could take the other half, and otherwise is eaten in
 * pieces of about (hi - lo) / (64 * workers) indices, at most 4096).
 * Returns when every body call has returned; blocks as
 * wf_task_group_join(). lo == hi does nothing.
 * Errors: WF_EINVAL body NULL, hi < lo, grain < 0. */
WF_API int wf_parallel_for(long lo, long hi, long grain, wf_for_fn *body,
                           void *ctx);

/* Options of wf_parallel_for_ex and wf_parallel_for_2d. */
struct wf_for_opts {
    long grain;      /* wf_parallel_for_ex: as wf_parallel_for's grain (0:
                      * automatic); wf_parallel_for_2d: ignored (one body
                      * call per tile) */
    long tile_rows;  /* wf_parallel_for_2d: rows of a tile; 0: automatic */
    long tile_cols;  /* wf_parallel_for_2d: columns of a tile; 0: automatic */
    int max_workers; /* 0: every worker may run the body; n > 0: at most n
                      * workers run this call's body at once (n at least
                      * the worker count is the same as 0) */
};

/* Every option at its default: the same as wf_parallel_for(.., 0, ..)
 * (one line, as WF_FIBER_OPTS_INIT in weft/fiber.h). */
/* clang-format off */
#define WF_FOR_OPTS_INIT { 0, 0, 0, 0 }
/* clang-format on */

/* wf_parallel_for with options (opts NULL: the defaults). With
 * max_workers = n below the worker count the call runs exactly n tasks,
 * which take chunks of the range (grain indices, or automatic ones of
 * (hi - lo) / (8 * n), 1 .. 4096) from a shared counter until none is
 * left: so at most n workers call body at once, and the other workers
 * stay free for fibers and other parallel calls (n = 1 runs the loop on
 * one worker, in chunks, in ascending order). The cap covers this call's
 * own body calls: parallel calls made inside the body have their own.
 * Errors: as wf_parallel_for, WF_EINVAL max_workers < 0; WF_ENOMEM (a
 * capped call's task records; nothing has run then). */
WF_API int wf_parallel_for_ex(long lo, long hi, const struct wf_for_opts *opts,
                              wf_for_fn *body, void *ctx);

/* A 2-D loop body: one tile, rows row_lo <= r < row_hi and columns
 * col_lo <= c < col_hi. */
typedef void wf_for2d_fn(long row_lo, long row_hi, long col_lo, long col_hi,
                         void *ctx);

/* Call body once for each tile of [row_lo, row_hi) x [col_lo, col_hi),
 * in parallel; the tiles cover the range exactly once. Tiles are
 * tile_rows x tile_cols (the last row and column of tiles are cut to the
 * range); a size left 0 is chosen by the runtime: tiles of about
 * rows * cols / (16 * workers) elements (at most 16384), square where the
 * range allows, so that each worker gets several. Tiles are numbered
 * row-major and handed out as in wf_parallel_for (adaptive splitting), or
 * as in wf_parallel_for_ex under max_workers. A body must not depend on
 * which tiles run together or in what order. An empty range does
 * nothing. Blocks as wf_task_group_join().
 * Errors: WF_EINVAL body NULL, row_hi < row_lo, col_hi < col_lo, a
 * negative option, more than LONG_MAX rows, columns or tiles; WF_ENOMEM.
 *
 * Example: blur an image, 64 x 256 tiles, on at most 4 workers.
 *
 *     static void blur_tile(long r0, long r1, long c0, long c1, void *ctx) {
 *         struct img *im = ctx;
 *         for (long r = r0; r < r1; r++)
 *             for (long c = c0; c < c1; c++)
 *                 im->out[r * im->w + c] = avg3x3(im, r, c);
 *     }
 *     struct wf_for_opts o = WF_FOR_OPTS_INIT;
 *     o.tile_rows = 64;
 *     o.tile_cols = 256;
 *     o.max_workers = 4;
 *     wf_parallel_for_2d(0, im.h, 0, im.w, &o, blur_tile, &im);
 */
WF_API int wf_parallel_for_2d(long row_lo, long row_hi, long col_lo,
                              long col_hi, const struct wf_for_opts *opts,
                              wf_for2d_fn *body, void *ctx);

/* A reduction body: folds indices lo <= i < hi into *acc (which holds the
 * identity or an earlier partial result of the same leaf). */
typedef void wf_reduce_fn(long lo, long hi, void *acc, void *ctx);
/* Combine: acc = acc (+) other, where acc covers the indices just before
 * other's. */
typedef void wf_combine_fn(void *acc, const void *other, void *ctx);

/* Reduce [lo, hi) into *result (acc_size bytes): the range is cut into
 * leaves of at most `grain` indices (0: automatic, max(1024, n / 4096) -
 * independent of the worker count), each leaf starts from a copy of
 * *identity and is folded by body, and the leaves are combined pairwise
 * in a fixed binary tree, left to right. An empty range gives the
 * identity. result and identity may be the same object.
 * Errors: WF_EINVAL a NULL pointer, acc_size 0, hi < lo, grain < 0;
 * WF_ENOMEM. */
WF_API int wf_parallel_reduce(long lo, long hi, long grain, void *result,
                              size_t acc_size, const void *identity,
                              wf_reduce_fn *body, wf_combine_fn *combine,
                              void *ctx);

#define WF_SCAN_INCLUSIVE 0 /* out[i] = in[0] (+) ... (+) in[i] */
#define WF_SCAN_EXCLUSIVE 1 /* out[i] = identity (+) in[0] (+) ... (+) in[i-1] */

/* Prefix "sum" of n elements of `size` bytes: out[i] as the flag says,
 * with op(acc, x): acc = acc (+) x. out may equal in (in place); other
 * overlap is undefined. Works in blocks of max(4096, n / 1024) elements:
 * a parallel pass sums each block, a short serial pass prefixes the block
 * sums, a parallel pass scans each block from its prefix.
 * Errors: WF_EINVAL a NULL pointer (in/out may be NULL when n is 0), size
 * 0, a bad flag; WF_ENOMEM. */
WF_API int wf_parallel_scan(const void *in, void *out, size_t n, size_t size,
                            const void *identity, wf_combine_fn *op,
                            void *ctx, int flags);

/* qsort's comparator: negative, 0, positive for a < b, a == b, a > b. */
typedef int wf_cmp_fn(const void *a, const void *b);

/* Sort n elements of `size` bytes in ascending order, in parallel:
 * merge sort with parallel merges, n * size bytes of scratch memory.
 * wf_parallel_sort_stable keeps equal elements in their input order;
 * wf_parallel_sort currently is the same algorithm (a faster unstable one
 * may replace it). Errors: WF_EINVAL base NULL with n > 0, size 0, cmp
 * NULL; WF_ENOMEM (nothing moved). */
WF_API int wf_parallel_sort(void *base, size_t n, size_t size, wf_cmp_fn *cmp);
WF_API int wf_parallel_sort_stable(void *base, size_t n, size_t size,
                                   wf_cmp_fn *cmp);

/* Ascending sorts of integer arrays, the same algorithm with the
 * comparison compiled in (several times faster than a comparator
 * function). Errors: WF_EINVAL v NULL with n > 0; WF_ENOMEM. */
WF_API int wf_parallel_sort_u64(uint64_t *v, size_t n);
WF_API int wf_parallel_sort_i64(int64_t *v, size_t n);
WF_API int wf_parallel_sort_u32(uint32_t *v, size_t n);
WF_API int wf_parallel_sort_i32(int32_t *v, size_t n);

/* ---- inline fast paths: implementation details, not API ------------------
 *
 * An un-stolen spawn + sync is the whole cost of fine-grained fork-join
 * (fib(32) forks 3.5 M times), so its common case is compiled into the
 * caller: a push on and a pop from the private part of the worker's task
 * deque, reached through a thread-local pointer that is set only while a
 * worker runs tasks. Everything else (not in a task, a full deque, a
 * stolen child, a thief asking for work) goes through the library. The
 * layouts below are mirrored by src/core/tq.h, which checks them. */

#define WF__TQ_CAP 8192 /* slots of a task deque (a power of two) */

struct wf__task_pub { /* the head of struct wf_task's storage */
    wf_task_fn *fn;
    void *arg;
    void *group;
    long done;
};

struct wf__tq_pub { /* the owner's line of a worker's task deque */
    long ob, osplit;
    long otop; /* atomic: a thief that asks for tasks lowers it (relaxed) */
    void **buf;
};

/* The task deque of the worker running a task on this thread, or NULL. */
#if defined(__cplusplus)
extern thread_local struct wf__tq_pub *wf__par_tq;
#else
extern _Thread_local struct wf__tq_pub *wf__par_tq;
#endif

WF_API int wf__task_spawn_slow(struct wf_task *t, wf_task_fn *fn, void *arg);
WF_API int wf__task_sync_slow(struct wf_task *t);

/* wf_task_spawn's work. Returns the pushed task's position in the deque
 * plus one (> 0) when the inline push took it, else what the library's
 * spawn returned (0 or an error). */
/* Inline in unoptimised builds too, so that a serial recursion through
 * spawn costs no extra frame per level (TSan bounds a thread's frames).
 * Optimised builds inline these anyway; forcing it there changes how the
 * compiler splits the caller (a recursive caller lost its early-out
 * before the prologue). */
#if defined(__OPTIMIZE__)
#define WF__ALWAYS_INLINE static inline
#else
#define WF__ALWAYS_INLINE static inline __attribute__((always_inline))
#endif

WF__ALWAYS_INLINE long wf__task_push(struct wf_task *t, wf_task_fn *fn,
                                     void *arg)
{
    struct wf__tq_pub *q = wf__par_tq;
    /* A full deque, or a thief asking for tasks (it lowers otop), goes
     * through the library. */
    if (__builtin_expect(
            !q || !t || !fn ||
                q->ob - __atomic_load_n(&q->otop, __ATOMIC_RELAXED) >=
                    WF__TQ_CAP,
            0))
        return wf__task_spawn_slow(t, fn, arg);
    struct wf__task_pub *x = (struct wf__task_pub *)(void *)t;
    long b = q->ob;
    x->fn = fn;
    x->arg = arg;
    x->group = 0;
    __atomic_store_n(&x->done, 0, __ATOMIC_RELAXED);
    /* relaxed: published to thieves by a release store of split. */
    __atomic_store_n(&q->buf[b & (WF__TQ_CAP - 1)], (void *)x, __ATOMIC_RELAXED);
    q->ob = b + 1;
    return b + 1;
}

WF__ALWAYS_INLINE int wf_task_spawn(struct wf_task *t, wf_task_fn *fn,
                                    void *arg)
{
    long r = wf__task_push(t, fn, arg);
    return r > 0 ? 0 : (int)r;
}

/* Pop t if it is the newest private task of the worker running this task
 * (not stolen, and everything pushed after it has been popped): the
 * caller then runs it. Else false: the caller goes through
 * wf__task_sync_slow. pos: what wf__task_push returned for t, or 0 when
 * unknown. Knowing it, the new bottom is pos - 1 without waiting for the
 * load of the old one: an un-stolen spawn + sync then makes one
 * store-to-load trip through the deque's bottom instead of two. */
WF__ALWAYS_INLINE bool wf__task_pop_top(struct wf_task *t, long pos)
{
    struct wf__tq_pub *q = wf__par_tq;
    if (pos <= 0) { /* else the push found q, and a task keeps its worker */
        if (!q)
            return false;
        pos = q->ob;
    }
    long below = pos - 1;
#if defined(__GNUC__)
    /* An empty statement (no instruction) that hides below's value, so
     * that the compiler cannot store the bottom it loads below (equal to
     * pos when it stores) minus one, which would put the load back into
     * the chain. */
    __asm__("" : "+r"(below));
#endif
    if (__builtin_expect(
            t && q->ob == pos && pos > q->osplit &&
                __atomic_load_n(&q->buf[(pos - 1) & (WF__TQ_CAP - 1)],
                                __ATOMIC_RELAXED) == (void *)t,
            1)) {
        q->ob = below;
        return true;
    }
    return false;
}

WF__ALWAYS_INLINE int wf_task_sync(struct wf_task *t)
{
    if (__builtin_expect(wf__task_pop_top(t, 0), 1)) {
        struct wf__task_pub *x = (struct wf__task_pub *)(void *)t;
        x->fn(x->arg);
        return 0;
    }
    return wf__task_sync_slow(t);
}

/* A typed task's functions need not all be used. */
#define WF__UNUSED __attribute__((unused))

/* What WF_TASK_TYPE and WF_TASK_TYPE_VOID share: the record, its runner
 * (called through the descriptor by a thief, by an out-of-order sync and
 * with no runtime) and spawn. */
#define WF__TASK_TYPE_COMMON(name, fn, arg_type, result_member, store) \
    struct name {                                                      \
        struct wf_task task;                                           \
        long pos; /* wf__task_push's result */                         \
        arg_type arg;                                                  \
        result_member                                                  \
    };                                                                 \
    static inline void name##_run(void *p)                             \
    {                                                                  \
        struct name *h = (struct name *)p;                             \
        store fn(h->arg);                                              \
    }                                                                  \
    WF__ALWAYS_INLINE WF__UNUSED int name##_spawn(struct name *h,      \
                                                  arg_type arg)        \
    {                                                                  \
        h->arg = arg;                                                  \
        h->pos = wf__task_push(&h->task, name##_run, h);               \
        return h->pos > 0 ? 0 : (int)h->pos;                           \
    }

#define WF_TASK_TYPE(name, result_type, fn, arg_type)                          \
    WF__TASK_TYPE_COMMON(name, fn, arg_type, result_type result;, h->result =) \
    static inline WF__UNUSED result_type name##_sync(struct name *h)           \
    {                                                                          \
        if (__builtin_expect(wf__task_pop_top(&h->task, h->pos), 1))           \
            return fn(h->arg);                                                 \
        wf__task_sync_slow(&h->task);                                          \
        return h->result;                                                      \
    }                                                                          \
    static inline WF__UNUSED result_type name##_call(arg_type arg)             \
    {                                                                          \
        return fn(arg);                                                        \
    }

#define WF_TASK_TYPE_VOID(name, fn, arg_type)                          \
    WF__TASK_TYPE_COMMON(name, fn, arg_type, , )                       \
    static inline WF__UNUSED int name##_sync(struct name *h)           \
    {                                                                  \
        if (__builtin_expect(wf__task_pop_top(&h->task, h->pos), 1)) { \
            fn(h->arg);                                                \
            return 0;                                                  \
        }                                                              \
        return wf__task_sync_slow(&h->task);                           \
    }                                                                  \
    static inline WF__UNUSED void name##_call(arg_type arg)            \
    {                                                                  \
        fn(arg);                                                       \
    }

#ifdef __cplusplus
}
#endif

#endif
