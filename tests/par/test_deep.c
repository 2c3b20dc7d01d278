/* SPDX-License-Identifier: MIT */
/*
 * tests/par/test_deep.c - deep fork-join recursion: chains of nested task
 * group joins (and spawn/sync, and typed tasks) 100,000 levels deep with about 500 bytes
 * of frames a level, and 1,000,000 deep with small frames, on 1 and 2
 * workers, entered from a plain thread and from a fiber (wf_par_run, and
 * a task group forked straight from there), and with no runtime at all
 * (serial, on a stack of weft's own, switched to once); the task stack
 * setting (wf_config.task_stack_size, WEFT_TASK_STACK_SIZE) moving the
 * limit; an overflow reported by name and aborting (death tests).
 * No case asserts on time.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wtest_death.h"
#include "wtest_rt.h"

/* ThreadSanitizer keeps each thread's (and each fiber's) call stack in a
 * fixed array of 65,536 entries, unchecked in its release runtime:
 * deeper recursion of instrumented functions crashes inside TSan (seen at
 * about 82,000 frames in a plain recursive function, weft not involved).
 * A level of these chains is three such frames (the level, the join or
 * fork, the call of the child), so under TSan the chains stop at 15,000
 * levels (still past a thread's 8 MiB with fat frames); the plain and the
 * ASan builds run the acceptance depths. */
#define TSAN_DEPTH 15000L
#define FAT_DEPTH (wt_under_tsan() ? TSAN_DEPTH : 100000L)
#define SMALL_DEPTH (wt_under_tsan() ? TSAN_DEPTH : 1000000L)
/* The task stack the overflow cases set: under TSan small enough to
 * overflow before TSan's call stack does (see above). */
#define OVERFLOW_STACK (wt_under_tsan() ? 4u << 20 : 32u << 20)
#define FAT_PAD 480 /* the level's own locals bring its frame past 500 */

/* The task stack setting comes from each case, not from whoever runs
 * the tests. */
__attribute__((constructor)) static void clear_setting(void)
{
    unsetenv("WEFT_TASK_STACK_SIZE");
}

/* One level of the chain: the argument of the task that runs it. */
struct lvl {
    struct wf_task t;
    long depth, max;
    uintptr_t up;   /* an address in the parent's frame (0 at the root) */
    bool contig;    /* check that each frame lies just below its parent's */
    long sum;       /* out: levels from here to the bottom */
};

/* The extremes of the chain's frames (contiguous runs only). */
static uintptr_t top_sp, bottom_sp;

/* A frame of the same stack lies below its parent's and close to it:
 * nothing in between (no switch to another stack, no second region). */
static void check_below(const struct lvl *me, uintptr_t sp)
{
    if (!me->contig)
        return;
    if (me->up == 0) {
        top_sp = sp;
        return;
    }
    if (!(sp < me->up && me->up - sp < 64 * 1024))
        WT_FAIL("level %ld: frame at %#lx, its parent's at %#lx", me->depth,
                (unsigned long)sp, (unsigned long)me->up);
    if (me->depth == me->max)
        bottom_sp = sp;
}

static WT_OPAQUE void fat_level(void *p)
{
    struct lvl *me = p;
    volatile char pad[FAT_PAD];
    for (size_t i = 0; i < sizeof pad; i += 16)
        pad[i] = (char)(me->depth + (long)i);
    check_below(me, (uintptr_t)pad);
    if (me->depth == me->max) {
        me->sum = 1;
        return;
    }
    struct lvl child = { .depth = me->depth + 1, .max = me->max,
                         .up = (uintptr_t)pad, .contig = me->contig };
    struct wf_task_group g;
    WT_CHECK_EQ(wf_task_group_init(&g), 0);
    WT_CHECK_EQ(wf_task_group_fork(&g, &child.t, fat_level, &child), 0);
    WT_CHECK_EQ(wf_task_group_join(&g), 0);
    WT_CHECK_EQ(pad[0], (char)me->depth); /* the frame stayed intact */
    me->sum = child.sum + 1;
}

static WT_OPAQUE void small_level(void *p)
{
    struct lvl *me = p;
    struct lvl child = { .depth = me->depth + 1, .max = me->max,
                         .up = (uintptr_t)&child, .contig = me->contig };
    check_below(me, (uintptr_t)&child);
    if (me->depth == me->max) {
        me->sum = 1;
        return;
    }
    struct wf_task_group g;
    wf_task_group_init(&g);
    wf_task_group_fork(&g, &child.t, small_level, &child);
    wf_task_group_join(&g);
    me->sum = child.sum + 1;
}

/* The same chain with the cheapest fork-join (inside tasks, or serial). */
static WT_OPAQUE void spawn_level(void *p)
{
    struct lvl *me = p;
    struct lvl child = { .depth = me->depth + 1, .max = me->max,
                         .up = (uintptr_t)&child, .contig = me->contig };
    check_below(me, (uintptr_t)&child);
    if (me->depth == me->max) {
        me->sum = 1;
        return;
    }
    wf_task_spawn(&child.t, spawn_level, &child);
    wf_task_sync(&child.t);
    me->sum = child.sum + 1;
}

/* The same chain with typed tasks (WF_TASK_TYPE): an un-stolen sync calls
 * the level itself, with no task call in between. */
static long typed_level(struct lvl *me);
WF_TASK_TYPE(typed_task, long, typed_level, struct lvl *)

static WT_OPAQUE long typed_level(struct lvl *me)
{
    struct lvl child = {.depth = me->depth + 1,
                        .max = me->max,
                        .up = (uintptr_t)&child,
                        .contig = me->contig};
    check_below(me, (uintptr_t)&child);
    if (me->depth == me->max) {
        me->sum = 1;
        return 1;
    }
    struct typed_task t;
    typed_task_spawn(&t, &child);
    long below = typed_task_sync(&t);
    if (below != child.sum)
        WT_FAIL("level %ld: sync returned %ld, the child counted %ld",
                me->depth, below, child.sum);
    me->sum = below + 1;
    return me->sum;
}

static void typed_chain(void *p)
{
    typed_level(p);
}

enum entry { PAR_RUN, GROUP };

/* Run the chain fn from depth 0 to max through the entry; checks the
 * result and, when contig, the frames' layout. */
static void chain(enum entry e, wf_task_fn *fn, long max, bool contig)
{
    struct lvl root = { .depth = 0, .max = max, .contig = contig };
    top_sp = bottom_sp = 0;
    if (e == PAR_RUN) {
        WT_CHECK_EQ(wf_par_run(fn, &root), 0);
    } else {
        struct wf_task_group g;
        WT_CHECK_EQ(wf_task_group_init(&g), 0);
        WT_CHECK_EQ(wf_task_group_fork(&g, &root.t, fn, &root), 0);
        WT_CHECK_EQ(wf_task_group_join(&g), 0);
    }
    WT_CHECK_EQ(root.sum, max + 1);
    if (contig) {
        WT_CHECK(top_sp > bottom_sp && bottom_sp != 0);
        if (fn == fat_level && (top_sp - bottom_sp) / (uintptr_t)max < 500)
            WT_FAIL("%lu bytes a level, want at least 500",
                    (unsigned long)((top_sp - bottom_sp) / (uintptr_t)max));
    }
}

struct job {
    bool fat;
    long depth;
    bool contig;
};

static void run_job(const struct job *j)
{
    if (j->fat) {
        chain(PAR_RUN, fat_level, j->depth, j->contig);
        chain(GROUP, fat_level, j->depth, j->contig);
    } else {
        chain(PAR_RUN, small_level, j->depth, j->contig);
        chain(GROUP, small_level, j->depth, j->contig);
        chain(PAR_RUN, spawn_level, j->depth, j->contig);
        chain(PAR_RUN, typed_chain, j->depth, j->contig);
    }
}

static void *job_main(void *arg)
{
    run_job(arg);
    return arg;
}

/* From a fiber (wf_run's main) on n workers. */
static void from_fiber(int workers, bool fat, long depth)
{
    struct job j = { fat, depth, workers == 1 };
    WT_CHECK(run_main(workers, job_main, &j) == &j);
}

/* From the plain thread that started the runtime. */
static void from_thread(int workers, bool fat, long depth)
{
    struct job j = { fat, depth, workers == 1 };
    struct wf_config c = config(workers);
    WT_CHECK_EQ(wf_init(&c), 0);
    run_job(&j);
    shutdown_clean();
}

/* ---- the acceptance depths ------------------------------------------------ */

WT_CASE(fat_100k_1w_fiber)
{
    from_fiber(1, true, FAT_DEPTH);
}

WT_CASE(fat_100k_1w_thread)
{
    from_thread(1, true, FAT_DEPTH);
}

WT_CASE(fat_100k_2w_fiber)
{
    from_fiber(2, true, FAT_DEPTH);
}

WT_CASE(fat_100k_2w_thread)
{
    from_thread(2, true, FAT_DEPTH);
}

WT_CASE(small_1m_1w_fiber)
{
    from_fiber(1, false, SMALL_DEPTH);
}

WT_CASE(small_1m_1w_thread)
{
    from_thread(1, false, SMALL_DEPTH);
}

WT_CASE(small_1m_2w_fiber)
{
    from_fiber(2, false, SMALL_DEPTH);
}

WT_CASE(small_1m_2w_thread)
{
    from_thread(2, false, SMALL_DEPTH);
}

/* ---- no runtime: serial ----------------------------------------------------- */

WT_CASE(serial_fat_100k)
{
    struct job j = { true, FAT_DEPTH, true };
    run_job(&j);
}

WT_CASE(serial_small_1m)
{
    struct job j = { false, SMALL_DEPTH, true };
    run_job(&j);
}

/* The size of the mapping that holds addr, 0 if none does. */
static uint64_t mapping_size(uintptr_t addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    WT_CHECK(f != NULL);
    char line[512];
    uint64_t size = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= addr && addr < hi)
            size = hi - lo;
    }
    fclose(f);
    return size;
}

/* Whether addr lies in a stack region of `usable` bytes (weft adds its
 * descriptor and rounds up to pages). */
static bool in_stack_of(uintptr_t addr, uint64_t usable)
{
    uint64_t n = mapping_size(addr);
    return n >= usable && n <= usable + 65536;
}

/* A task that tells where its frame is. */
static WT_OPAQUE void where(void *arg)
{
    volatile char here = 1;
    *(uintptr_t *)arg = (uintptr_t)&here;
}

static uintptr_t task_frame(void)
{
    uintptr_t at = 0;
    WT_CHECK_EQ(wf_par_run(where, &at), 0);
    WT_CHECK(at != 0);
    return at;
}

#define GiB ((uint64_t)1 << 30)
#define MiB ((uint64_t)1 << 20)

/* A plain thread other than main (with a stack of 256 KiB). */
static void *serial_thread(void *arg)
{
    struct job j = { true, FAT_DEPTH, true };
    run_job(&j);
    *(uintptr_t *)arg = task_frame();
    WT_CHECK(in_stack_of(*(uintptr_t *)arg, GiB));
    return arg;
}

WT_CASE(serial_plain_thread)
{
    /* The chain on a small thread; its serial stack goes with it. */
    uintptr_t at = 0;
    pthread_attr_t a;
    pthread_t th;
    WT_CHECK_EQ(pthread_attr_init(&a), 0);
    WT_CHECK_EQ(pthread_attr_setstacksize(&a, 256 * 1024), 0);
    WT_CHECK_EQ(pthread_create(&th, &a, serial_thread, &at), 0);
    WT_CHECK_EQ(pthread_join(th, NULL), 0);
    pthread_attr_destroy(&a);
    WT_CHECK(!in_stack_of(at, GiB));
}

/* ---- the setting ----------------------------------------------------------- */

static void *fat_main(void *arg)
{
    struct job j = { true, FAT_DEPTH, false };
    run_job(&j);
    return arg;
}

WT_CASE(raised_field)
{
    /* The chain needs more than the 32 MiB that overflow_field dies of
     * (not under TSan, see TSAN_DEPTH). */
    struct wf_config c = config(1);
    c.task_stack_size = 256 * MiB;
    WT_CHECK_EQ(wf_run(&c, fat_main, NULL, NULL), 0);
    c.workers = 2;
    WT_CHECK_EQ(wf_run(&c, fat_main, NULL, NULL), 0);
}

static void *frame_main(void *arg)
{
    WT_CHECK(in_stack_of(task_frame(), *(uint64_t *)arg));
    return arg;
}

WT_CASE(raised_variable)
{
    /* Above the default: tasks run on a stack of the size asked for, the
     * serial one too while no runtime runs. */
    WT_CHECK_EQ(setenv("WEFT_TASK_STACK_SIZE", "4g", 1), 0);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    uintptr_t at = task_frame();
    WT_CHECK(in_stack_of(at, 4 * GiB));
    WT_CHECK(fat_main(NULL) == NULL);
    shutdown_clean();
    WT_CHECK(!in_stack_of(at, 4 * GiB)); /* unmapped */
    struct job j = { true, FAT_DEPTH, true };
    run_job(&j);
    at = task_frame();
    WT_CHECK(in_stack_of(at, 4 * GiB));
    /* A field wins over the variable, for the serial stack too. */
    c.task_stack_size = 256 * MiB;
    uint64_t want = 256 * MiB;
    WT_CHECK_EQ(wf_run(&c, frame_main, &want, NULL), 0);
    run_job(&j);
    WT_CHECK(!in_stack_of(at, 4 * GiB));
    WT_CHECK(in_stack_of(task_frame(), 256 * MiB));
}

WT_CASE(bad_variable_serial)
{
    /* With no runtime the serial stack reads the variable: a bad one
     * fails the call, with the line wf_init would print, and runs
     * nothing. */
    WT_CHECK_EQ(setenv("WEFT_TASK_STACK_SIZE", "4k", 1), 0);
    struct lvl root = { .depth = 0, .max = 10 };
    int p[2];
    WT_CHECK_EQ(pipe(p), 0);
    fflush(stderr);
    int saved = dup(2);
    WT_CHECK(saved >= 0);
    WT_CHECK_EQ(dup2(p[1], 2), 2);
    close(p[1]);
    int rc = wf_par_run(fat_level, &root);
    fflush(stderr);
    WT_CHECK_EQ(dup2(saved, 2), 2); /* closes the pipe's last writer */
    close(saved);
    char out[1024];
    ssize_t n = read(p[0], out, sizeof out - 1);
    close(p[0]);
    out[n > 0 ? n : 0] = '\0';
    WT_CHECK_EQ(rc, WF_EINVAL);
    WT_CHECK(strcmp(out, "weft: WEFT_TASK_STACK_SIZE=4k: expected a size from "
                         "64k to 64g bytes, such as 1g, 4096m or 2GiB (suffix "
                         "k, m or g in either case, optionally followed by b "
                         "or ib)\n") == 0);
    WT_CHECK_EQ(root.sum, 0);
    struct wf_task_group g;
    WT_CHECK_EQ(wf_task_group_init(&g), 0);
    WT_CHECK_EQ(wf_task_group_fork(&g, &root.t, fat_level, &root), WF_EINVAL);
    WT_CHECK_EQ(wf_task_group_join(&g), 0);
    WT_CHECK_EQ(wf_task_spawn(&root.t, fat_level, &root), WF_EINVAL);
    WT_CHECK_EQ(root.sum, 0);
    WT_CHECK_EQ(wf_init(NULL), WF_EINVAL);
    WT_CHECK_EQ(unsetenv("WEFT_TASK_STACK_SIZE"), 0);
    WT_CHECK_EQ(wf_par_run(fat_level, &root), 0);
    WT_CHECK_EQ(root.sum, 11);
}

/* ---- overflow ---------------------------------------------------------------- */

/* Only meaningful as the child of the overflow_* cases (indented so that
 * it is not registered with ctest): an endless chain on a 32 MiB task
 * stack (4 MiB under TSan), set by the field or by the variable. */
 WT_CASE(child_overflow)
{
    const char *mode = getenv("WT_DEEP_OVERFLOW_CHILD");
    if (!mode)
        WT_SKIP("only run as the child of the overflow_* cases");
    alarm(60); /* undetected and stuck: die of SIGALRM, which fails */
    struct wf_config c = config(1);
    c.stall_ns = -1;
    if (strcmp(mode, "field") == 0) {
        c.task_stack_size = OVERFLOW_STACK;
    } else {
        char v[32];
        snprintf(v, sizeof v, "%uk", OVERFLOW_STACK >> 10);
        c.workers = 2;
        setenv("WEFT_TASK_STACK_SIZE", v, 1);
    }
    WT_CHECK_EQ(wf_init(&c), 0);
    struct lvl root = { .depth = 0, .max = LONG_MAX };
    wf_par_run(fat_level, &root);
    fprintf(stderr, "child: the overflow went unnoticed\n");
    _exit(3);
}

static void overflow_death(const char *mode)
{
    char *out =
        wt_death("test_deep", "child_overflow", "WT_DEEP_OVERFLOW_CHILD", mode);
    WT_CHECK(strstr(out, "weft: stack overflow (guard page hit) in a task on "
                         "worker ") != NULL);
    char want[128];
    snprintf(want, sizeof want, ", task stack of %u bytes; raise "
             "wf_config.task_stack_size or WEFT_TASK_STACK_SIZE\n",
             OVERFLOW_STACK);
    WT_CHECK(strstr(out, want) != NULL);
    free(out);
}

WT_CASE(overflow_field)
{
    overflow_death("field");
}

WT_CASE(overflow_variable)
{
    overflow_death("variable");
}

WT_MAIN()
