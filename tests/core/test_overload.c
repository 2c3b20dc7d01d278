/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_overload.c - the scheduler under a great many runnable
 * fibers (src/core/sched.c, "Overload"). Functional only: nothing here
 * is timed.
 *
 * tree_*: a fiber that spawns children runs on until it blocks, and the
 * children run newest first, so a tree of fibers runs depth-first: the
 * number alive at once stays far below the size of the tree (with the
 * children queued in FIFO order the whole tree was alive at once, which is
 * what made skynet cost a gigabyte). The bound checked is a tenth of the
 * tree; depth-first keeps it to a few thousand (the bound is not checked
 * under WEFT_DEBUG_MIGRATE, which queues every fiber in another worker's
 * FIFO inbox on purpose).
 *
 * chan_tree_*: the same tree shaped as skynet: detached children send
 * their sums to their parent on an unbuffered channel, so each leaf's
 * send wakes its parent, on the sender's worker. A wake-up that pushes a
 * spawned fiber (not yet run) out of run-next must send it to the
 * newest-first queue too, and the oldest of that queue must be taken
 * only when it has waited long: taken every 1,024th decision, it kept
 * 25,000-36,000 of the 1.1M fibers alive on 2 workers (Debug and
 * Release) and skynet's peak RSS at ~150 MB; now ~500. The bound checked
 * is 5,000 alive, on the full 1.1M tree (11,111 under sanitizers).
 *
 * oldest_not_starved: newest-first must not leave the oldest behind for
 * good. On one worker a fiber spawns 17 children per turn and yields;
 * 16 of them run per turn (the run-next streak), so the queue of new
 * fibers grows by one a turn and the first child, the oldest, is never
 * the newest again: it must still run (oldest_if_stuck takes it after
 * ~16,000 decisions, ~1,000 turns; the test gives up after 2,500,
 * before a full queue (4,096) would spill its older half to the inject
 * queue, which would run it too).
 *
 * flood_*: a plain thread spawns many fibers into a running runtime while
 * every worker also runs a fiber that keeps yielding: every fiber runs
 * exactly once (the inject queue is cut in batches and put back in front,
 * see take_inject).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#include "wtest_fiber.h"

#define FANOUT 10

static atomic_long live, max_live, total;

/* A fiber is alive (it holds a stack) from its spawn to its return. */
static void born(void)
{
    long now = atomic_fetch_add(&live, 1) + 1;
    long m = atomic_load(&max_live);
    while (now > m && !atomic_compare_exchange_weak(&max_live, &m, now))
        ;
}

static void *tree_node(void *arg)
{
    long depth = (long)P2U(arg);
    atomic_fetch_add(&total, 1);
    if (depth > 0) {
        struct wf_fiber kids[FANOUT];
        for (int i = 0; i < FANOUT; i++) {
            born();
            kids[i] = go(tree_node, U2P(depth - 1));
        }
        for (int i = 0; i < FANOUT; i++)
            join(kids[i]);
    }
    atomic_fetch_sub(&live, 1);
    return NULL;
}

static void tree(int workers)
{
    long depth = wt_sanitized() ? 4 : 5, size = 0;
    for (long k = 0, n = 1; k <= depth; k++, n *= FANOUT)
        size += n;
    atomic_store(&live, 0);
    atomic_store(&max_live, 0);
    atomic_store(&total, 0);
    born(); /* the root */
    run_main(workers, tree_node, U2P(depth));
    WT_CHECK_EQ(atomic_load(&total), size);
    WT_CHECK_EQ(atomic_load(&live), 0);
    printf("tree of %ld fibers: at most %ld alive at once\n", size,
           atomic_load(&max_live));
    /* Debug migration sends every woken or spawned fiber to another
     * worker's inbox (FIFO): no order to check then, only the count. */
    const char *mig = getenv("WEFT_DEBUG_MIGRATE");
    if (!mig || !mig[0] || strcmp(mig, "0") == 0)
        WT_CHECK(atomic_load(&max_live) < size / 10);
}

WT_CASE(tree_depth_first_one_worker)
{
    tree(1);
}

WT_CASE(tree_depth_first_two_workers)
{
    tree(2);
}

struct node {
    long depth, num;
    struct wf_chan *up; /* the parent's channel, NULL at the root */
    long *result;       /* the root's sum */
};

static void *chan_node(void *arg)
{
    struct node *me = arg;
    long sum = me->num;
    if (me->depth > 0) {
        struct wf_chan *c;
        WT_CHECK_EQ(wf_chan_create(&c, sizeof(long), 0), 0);
        sum = 0;
        for (int i = 0; i < FANOUT; i++) {
            struct node *kid = malloc(sizeof *kid);
            WT_CHECK(kid != NULL);
            *kid = (struct node){me->depth - 1, me->num * FANOUT + i, c,
                                 NULL};
            born();
            WT_CHECK_EQ(wf_go(NULL, chan_node, kid), 0);
        }
        for (int i = 0; i < FANOUT; i++) {
            long v;
            WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), 0);
            sum += v;
        }
        wf_chan_release(c);
    }
    struct wf_chan *up = me->up;
    if (!up)
        *me->result = sum;
    free(me);
    /* Counted out before the send: once its parent has the sum, the
     * root may return and wf_run end before this fiber does. */
    atomic_fetch_sub(&live, 1);
    if (up)
        WT_CHECK_EQ(wf_chan_send(up, &sum, WF_FOREVER), 0);
    return NULL;
}

/* The test's main fiber: spawns the root and takes its sum from a
 * channel, as skynet's main does. */
static void *chan_tree_main(void *arg)
{
    struct node *root = arg;
    struct wf_chan *c;
    WT_CHECK_EQ(wf_chan_create(&c, sizeof(long), 0), 0);
    long *result = root->result;
    root->up = c;
    root->result = NULL;
    WT_CHECK_EQ(wf_go(NULL, chan_node, root), 0);
    WT_CHECK_EQ(wf_chan_recv(c, result, WF_FOREVER), 0);
    wf_chan_release(c);
    return NULL;
}

static void chan_tree(int workers)
{
    long depth = wt_sanitized() ? 4 : 6, size = 0, leaves = 1, sum = -1;
    for (long k = 0, n = 1; k <= depth; k++, n *= FANOUT)
        size += n;
    for (long k = 0; k < depth; k++)
        leaves *= FANOUT;
    atomic_store(&live, 0);
    atomic_store(&max_live, 0);
    struct node *root = malloc(sizeof *root);
    WT_CHECK(root != NULL);
    *root = (struct node){depth, 0, NULL, &sum};
    born();
    /* Detached fibers that have sent their sum may still be on their way
     * out when the root returns: run_main waits for them. */
    run_main(workers, chan_tree_main, root);
    /* The leaves carry 0 .. leaves-1. */
    WT_CHECK_EQ(sum, leaves * (leaves - 1) / 2);
    WT_CHECK_EQ(atomic_load(&live), 0);
    printf("channel tree of %ld fibers: at most %ld alive at once\n", size,
           atomic_load(&max_live));
    const char *mig = getenv("WEFT_DEBUG_MIGRATE");
    if (!mig || !mig[0] || strcmp(mig, "0") == 0)
        WT_CHECK(atomic_load(&max_live) < 5000);
}

WT_CASE(chan_tree_depth_first_one_worker)
{
    chan_tree(1);
}

WT_CASE(chan_tree_depth_first_two_workers)
{
    chan_tree(2);
}

static atomic_int first_ran;

static void *starve_child(void *arg)
{
    if (arg)
        atomic_store(&first_ran, 1);
    return NULL;
}

static void *starve_spawner(void *arg)
{
    (void)arg;
    long turns = 0;
    WT_CHECK_EQ(wf_go(NULL, starve_child, U2P(1)), 0);
    while (!atomic_load(&first_ran) && turns < 2500) {
        for (int i = 0; i < 17; i++)
            WT_CHECK_EQ(wf_go(NULL, starve_child, NULL), 0);
        wf_yield();
        turns++;
    }
    printf("the oldest ran after %ld turns\n", turns);
    WT_CHECK(atomic_load(&first_ran));
    return NULL;
}

WT_CASE(oldest_not_starved)
{
    atomic_store(&first_ran, 0);
    /* The children spawned after the oldest ran are left in the queue. */
    run_main_leaving(1, starve_spawner, NULL);
}

static atomic_uchar *ran;
static atomic_long ran_count;
static atomic_int stop;

static void *flood_fiber(void *arg)
{
    long i = (long)P2U(arg);
    WT_CHECK_EQ(atomic_exchange(&ran[i], 1), 0);
    atomic_fetch_add(&ran_count, 1);
    return NULL;
}

static void *yielder(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        wf_yield();
    return NULL;
}

static void flood(int workers)
{
    long n = scaled(300000);
    ran = calloc((size_t)n, 1);
    WT_CHECK(ran != NULL);
    atomic_store(&ran_count, 0);
    atomic_store(&stop, 0);
    init_rt(workers);
    struct wf_fiber busy[2];
    for (int i = 0; i < workers; i++) {
        struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
        o.worker = i;
        WT_CHECK_EQ(wf_go_opts(&busy[i], &o, yielder, NULL), 0);
    }
    for (long i = 0; i < n; i++)
        WT_CHECK_EQ(wf_go(NULL, flood_fiber, U2P(i)), 0);
    while (atomic_load(&ran_count) < n)
        nap_ms(1);
    atomic_store(&stop, 1);
    for (int i = 0; i < workers; i++)
        join(busy[i]);
    shutdown_clean();
    for (long i = 0; i < n; i++)
        WT_CHECK_EQ(atomic_load(&ran[i]), 1);
    free(ran);
}

WT_CASE(flood_from_thread_one_worker)
{
    flood(1);
}

WT_CASE(flood_from_thread_two_workers)
{
    flood(2);
}

WT_MAIN()
