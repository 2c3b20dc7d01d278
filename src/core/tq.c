/* SPDX-License-Identifier: MIT */
/*
 * Tasks as the scheduler sees them: the per-worker task deque (tq.h), the
 * runtime's task inject queue, and finding and stealing tasks. Running a
 * task and task groups are the parallel layer's (src/par/task.c).
 *
 * The deque. A fine-grained recursion (fib) makes millions of forks,
 * each a few instructions of work, so an un-stolen fork + join must cost
 * a few ns: no fence, no locked instruction. A Chase-Lev pop needs a
 * full fence (a locked instruction), and so does Cilk's THE protocol, so we use a split deque
 * (Dinan et al., SC 2009; van Dijk and van de Pol's Lace, 2014):
 * buf[top .. split) is public, buf[split .. bottom) private. The owner
 * pushes and pops its private part with plain loads and stores. A thief
 * that finds the public part empty sets `splitreq` and marks the owner's
 * `otop` (the lower bound of top behind the full check that every push
 * makes anyway) with WF__TQ_ASKED, so the owner's next push goes to
 * wf__tq_push_slow, which sees the request; wf_parallel_for checks
 * `splitreq` between its chunks. The owner then moves `split` over the
 * older half of its private tasks with a release store. (So the fast
 * push tests nothing beyond the full check: a look at `splitreq`, on the
 * thieves' line, in every fork showed in fine-grained recursion.) Only
 * when its private part is empty does the owner pop from the public part,
 * and that is a Chase-Lev pop with `split` in the role of bottom: a
 * seq_cst store of split, a seq_cst load of top, and a CAS on top when one
 * task is left. Thieves load top and split seq_cst (plain loads on x86)
 * and CAS top. So fences are paid per steal, not per fork. The price:
 * a thief waits until the owner next pushes or polls, which bounds the
 * latency of a steal by the longest stretch of task code without a fork;
 * coarse forks (wf__group_fork_shared: loop halves, sort halves) are
 * therefore published at once. The private push and pop of
 * wf_task_spawn / wf_task_sync are inline in weft/par.h (through
 * wf__par_tq, the running task's deque): out of line, the two calls cost
 * a fine-grained recursion about 40% more (docs/PERFORMANCE.md, "Why the
 * code is as it is").
 *
 * Model: tests/model/deque.pml with -DSPLIT (spin; owner push, pop,
 * publish on request and pop_public against two thieves, 3 items in 2
 * slots: nothing taken twice or lost). Under sequential consistency;
 * pop_public's relaxed first look at top is modelled as possibly stale.
 * Left out: notify on publish (tests/model/idle.pml), the task inject
 * queue.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/fault.h"
#include "common/atomic.h"
#include "core_int.h"
#include "trace/trace.h"

/* ---- the deque ----------------------------------------------------------- */

int wf__tq_init(struct wf__tq *q)
{
    q->buf = wf__calloc(WF__TQ_CAP, sizeof *q->buf);
    if (!q->buf)
        return -ENOMEM;
    q->ob = q->osplit = 0;
    q->depth = 0;
    atomic_init(&q->otop, 0);
    atomic_init(&q->top, 0);
    atomic_init(&q->split, 0);
    atomic_init(&q->splitreq, false);
    return 0;
}

void wf__tq_destroy(struct wf__tq *q)
{
    free(q->buf);
    q->buf = NULL;
}

void wf__tq_publish(struct wf__tq *q)
{
    /* seq_cst: cleared before the new split is stored, so a request made
     * after this point is seen at the next check; and in one total order
     * with the thieves' raises, so a raise read through another thief's
     * mark cannot land before this clear and stay with no mark (C11
     * would allow that with relaxed/release; x86 and ARMv8 do not). */
    atomic_store_explicit(&q->splitreq, false, memory_order_seq_cst);
    long n = q->ob - q->osplit;
    if (n <= 0)
        return;
    q->osplit += (n + 1) / 2;
    /* release: the slots below the new split were written before; pairs
     * with the thieves' load of split. */
    atomic_store_explicit(&q->split, q->osplit, memory_order_release);
    /* Public tasks are what idle workers look for before they sleep
     * (wf__tasks_visible); the thief that asked may have gone to sleep. */
    wf__sched_notify(&wf__rt);
}

bool wf__tq_push_slow(struct wf__tq *q, struct wf__task *t)
{
    long b = q->ob;
    /* acquire: pairs with the thieves' CAS, after which they no longer
     * read the slot we are about to reuse. */
    long top = atomic_load_explicit(&q->top, memory_order_acquire);
    /* seq_cst RMW: reads the last otop, so a WF__TQ_ASKED stored before
     * it is seen here, with the splitreq the thief raised first; one
     * stored after it stays for the next push. A plain store could
     * overwrite it unseen. seq_cst with the thieves' stores and the
     * clear in wf__tq_publish (see there). */
    atomic_exchange_explicit(&q->otop, top, memory_order_seq_cst);
    bool room = b - top < WF__TQ_CAP;
    if (room) {
        /* relaxed: published to thieves by the release store of split. */
        atomic_store_explicit(&q->buf[b & (WF__TQ_CAP - 1)], t,
                              memory_order_relaxed);
        q->ob = b + 1;
    }
    /* relaxed: ordered by the exchange above. Checked when full too: the
     * exchange consumed the request's mark. */
    if (atomic_load_explicit(&q->splitreq, memory_order_relaxed))
        wf__tq_publish(q);
    return room;
}

struct wf__task *wf__tq_pop_public(struct wf__tq *q)
{
    long s = q->osplit;
    /* relaxed: a stale (smaller) top only sends us down the slow path. */
    if (atomic_load_explicit(&q->top, memory_order_relaxed) >= s)
        return NULL;
    s--;
    /* seq_cst store then seq_cst load: Dekker with a thief's load of top
     * then split (the Chase-Lev pop, split in the role of bottom). */
    atomic_store_explicit(&q->split, s, memory_order_seq_cst);
    long t = atomic_load_explicit(&q->top, memory_order_seq_cst);
    struct wf__task *x = NULL;
    if (t <= s) {
        x = atomic_load_explicit(&q->buf[s & (WF__TQ_CAP - 1)],
                                 memory_order_relaxed);
        if (t == s) {
            /* seq_cst: the last task; races with wf__tq_steal's CAS. */
            if (!atomic_compare_exchange_strong_explicit(
                    &q->top, &t, t + 1, memory_order_seq_cst,
                    memory_order_seq_cst))
                x = NULL;
            s++;
            /* seq_cst: puts split back; thieves read it after top, and
             * their CAS of top decides who takes a task. */
            atomic_store_explicit(&q->split, s, memory_order_seq_cst);
        }
    } else {
        s++;
        atomic_store_explicit(&q->split, s, memory_order_seq_cst); /* same */
    }
    q->osplit = q->ob = s;
    return x;
}

struct wf__task *wf__tq_steal(struct wf__tq *q)
{
    /* seq_cst, top then split: the reading half of the Dekker with
     * wf__tq_pop_public's store of split then load of top. */
    long t = atomic_load_explicit(&q->top, memory_order_seq_cst);
    long s = atomic_load_explicit(&q->split, memory_order_seq_cst);
    if (t >= s) {
        /* relaxed: hints; the owner publishes with a release store. */
        if (!atomic_load_explicit(&q->splitreq, memory_order_relaxed)) {
            /* seq_cst, both: the owner's exchange that reads the mark
             * sees the splitreq above, and no clear in wf__tq_publish
             * can be ordered before a raise it did not see. Written
             * only when raising the request, so searching thieves do
             * not keep taking the owner's line. */
            atomic_store_explicit(&q->splitreq, true, memory_order_seq_cst);
            atomic_store_explicit(&q->otop, WF__TQ_ASKED, memory_order_seq_cst);
        }
        return NULL;
    }
    struct wf__task *x =
        atomic_load_explicit(&q->buf[t & (WF__TQ_CAP - 1)], memory_order_relaxed);
    /* seq_cst CAS: races with other thieves and the owner's CAS. */
    if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1,
                                                 memory_order_seq_cst,
                                                 memory_order_seq_cst))
        return WF__TQ_ABORT;
    return x;
}

static struct wf__task *take_inject(struct wf__rt *rt)
{
    if (!wf__spin_trylock(&rt->tinject_lock))
        return NULL;
    struct wf__task *t = rt->tinject_head;
    if (t) {
        rt->tinject_head = t->u.next;
        if (!rt->tinject_head)
            rt->tinject_tail = NULL;
        /* seq_cst, no order needed: a drop only makes sleepers see less;
         * the lock orders it against wf__task_inject. */
        atomic_fetch_sub_explicit(&rt->tinject_n, 1, memory_order_seq_cst);
    }
    wf__spin_unlock(&rt->tinject_lock);
    return t;
}

void wf__task_inject(struct wf__rt *rt, struct wf__task *t)
{
    t->u.next = NULL;
    wf__spin_lock(&rt->tinject_lock);
    if (rt->tinject_tail)
        rt->tinject_tail->u.next = t;
    else
        rt->tinject_head = t;
    rt->tinject_tail = t;
    /* seq_cst: the writing half of the idle-worker Dekker (sched.c),
     * read by wf__tasks_visible; the fence is in wf__sched_notify. */
    atomic_fetch_add_explicit(&rt->tinject_n, 1, memory_order_seq_cst);
    wf__spin_unlock(&rt->tinject_lock);
    wf__sched_notify(rt);
}

/* One pass over the other workers' deques, after the inject queue if
 * with_inject (not while joining: a root found there would delay the
 * join by a whole parallel call). */
struct wf__task *wf__task_steal(struct wf__worker *w, bool with_inject)
{
    struct wf__rt *rt = w->rt;
    int n = rt->nworkers;
    if (with_inject &&
        atomic_load_explicit(&rt->tinject_n, memory_order_relaxed) > 0) {
        struct wf__task *t = take_inject(rt);
        if (t)
            return t;
    }
    if (n == 1)
        return NULL;
    int start = (int)(wf__xorshift(&w->trng) % (uint64_t)n);
    for (int k = 0; k < n; k++) {
        struct wf__worker *v = &rt->workers[(start + k) % n];
        if (v == w)
            continue;
        for (int tries = 0; tries < 4; tries++) {
            struct wf__task *t = wf__tq_steal(&v->tq);
            if (t != WF__TQ_ABORT) {
                if (t) {
                    wf__trace_steal(v->index, true);
                    return t;
                }
                break;
            }
        }
    }
    return NULL;
}

struct wf__task *wf__task_find(struct wf__worker *w, bool deques)
{
    if (!deques) {
        if (atomic_load_explicit(&w->rt->tinject_n, memory_order_relaxed) > 0)
            return take_inject(w->rt);
        return NULL;
    }
    return wf__task_steal(w, true);
}

/* Only public tasks count: private ones cannot be stolen until their
 * owner publishes them, and publishing wakes a sleeper (wf__tq_publish),
 * so a worker that sleeps meanwhile misses nothing, and does not spin for
 * as long as some owner runs a long body with tasks in its private part. */
bool wf__tasks_visible(struct wf__rt *rt)
{
    /* seq_cst: the reading half against wf__task_inject's increment. */
    if (atomic_load_explicit(&rt->tinject_n, memory_order_seq_cst) > 0)
        return true;
    for (int i = 0; i < rt->nworkers; i++) {
        struct wf__tq *q = &rt->workers[i].tq;
        /* seq_cst: Dekker with the fence in notify_idle after a publish. */
        if (atomic_load_explicit(&q->top, memory_order_seq_cst) <
            atomic_load_explicit(&q->split, memory_order_seq_cst))
            return true;
    }
    return false;
}
