/*
 * The stall monitor: a thread that notices a fiber running too long
 * without switching.
 *
 * Workers bump `nswitch` at every switch (a relaxed store to their own
 * line: no cost to speak of). The monitor samples every worker each
 * stall_ns / 4; a worker whose count has not moved while it runs a fiber
 * has been running that fiber since the sample where the count last moved.
 * Past stall_ns the fiber is reported once (callback or stderr), and if
 * work is waiting behind it (queued fibers, expired timers) a parked worker
 * is woken to steal it: a hog delays only itself.
 *
 * The monitor sleeps on a futex with no timeout while every worker is
 * parked, so an idle runtime costs no CPU; a worker leaving its parked
 * state kicks it (seq_cst: Dekker between the monitor's store of
 * mon_sleeping + load of nparked and the worker's nparked decrement + load
 * of mon_sleeping).
 *
 * The monitor never dereferences a worker's current fiber directly (it
 * may end and its control block be reused at any moment): it reads the
 * fiber's id, which the worker publishes at every switch, and reads the
 * name through the handle with the slot lock held, which keeps the fiber
 * from finishing meanwhile (fiber.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

struct sample {
    unsigned long count;
    int64_t since;
    bool reported;
};

static void report(struct wf__rt *rt, struct wf__worker *w, uint64_t id,
                   int64_t ran)
{
    char name[WF_NAME_MAX + 1] = "";
    struct wf__slot *s = wf__slot_get(id);
    struct wf__fiber *f = s ? wf__slot_lock(s, id) : NULL;
    if (!f)
        return; /* it has returned meanwhile */
    memcpy(name, f->name, sizeof name);
    wf__slot_unlock(s);
    name[WF_NAME_MAX] = '\0';
    struct wf_stall st = { id, name, w->index, ran };
    if (rt->stall_fn) {
        rt->stall_fn(&st, rt->stall_arg);
    } else {
        fprintf(stderr,
                "weft: fiber %llu '%s' has run for %lld ms on worker %d "
                "without switching\n",
                (unsigned long long)id, name, (long long)(ran / WF_MSEC),
                w->index);
    }
}

static bool work_waiting(struct wf__worker *w, int64_t now)
{
    return wf__deque_size(&w->dq) > 0 || atomic_load(&w->runnext) ||
           wf__timers_earliest(&w->timers) <= now;
}

static void *monitor_main(void *p)
{
    struct wf__rt *rt = p;
    int n = rt->nworkers;
    struct sample *smp = calloc((size_t)n, sizeof *smp);
    int64_t interval = rt->stall_ns / 4;
    if (interval < WF_MSEC)
        interval = WF_MSEC;
    if (!smp)
        return NULL;

    while (!atomic_load(&rt->stopping)) {
        unsigned seen = atomic_load(&rt->mon_word);
        atomic_store(&rt->mon_sleeping, true);
        if (atomic_load(&rt->nparked) == n && !atomic_load(&rt->stopping)) {
            wf__futex_wait(&rt->mon_word, seen, WF_FOREVER);
            atomic_store(&rt->mon_sleeping, false);
            for (int i = 0; i < n; i++)
                smp[i].since = wf_now();
            continue;
        }
        atomic_store(&rt->mon_sleeping, false);
        wf__futex_wait(&rt->mon_word, seen, wf_now() + interval);

        int64_t now = wf_now();
        for (int i = 0; i < n; i++) {
            struct wf__worker *w = &rt->workers[i];
            unsigned long c = atomic_load_explicit(&w->nswitch,
                                                   memory_order_relaxed);
            /* relaxed: compared only; see the top comment. */
            uint64_t id = atomic_load_explicit(&w->current_id,
                                               memory_order_relaxed);
            if (c != smp[i].count || !id) {
                smp[i] = (struct sample){ c, now, false };
                continue;
            }
            int64_t ran = now - smp[i].since;
            if (ran < rt->stall_ns || smp[i].reported)
                continue;
            smp[i].reported = true;
            report(rt, w, id, ran);
            if (work_waiting(w, now) && atomic_load(&rt->nparked) > 0) {
                /* Let a parked worker come and steal around the hog. */
                atomic_thread_fence(memory_order_seq_cst);
                for (int k = 0; k < n; k++) {
                    struct wf__worker *t = &rt->workers[k];
                    if (atomic_load(&t->parked)) {
                        atomic_store(&t->wake_word, 1);
                        wf__futex_wake(&t->wake_word, 1);
                        break;
                    }
                }
            }
        }
    }
    free(smp);
    return NULL;
}

int wf__monitor_start(struct wf__rt *rt)
{
    if (rt->stall_ns <= 0)
        return 0;
    int err = pthread_create(&rt->monitor, NULL, monitor_main, rt);
    if (err)
        return -err;
    pthread_setname_np(rt->monitor, "weft-monitor");
    rt->monitor_started = true;
    return 0;
}

void wf__monitor_stop(struct wf__rt *rt)
{
    if (!rt->monitor_started)
        return;
    atomic_store(&rt->stopping, true);
    atomic_fetch_add(&rt->mon_word, 1);
    wf__futex_wake(&rt->mon_word, 1);
    pthread_join(rt->monitor, NULL);
    rt->monitor_started = false;
}

void wf__monitor_kick(struct wf__rt *rt)
{
    if (atomic_load(&rt->mon_sleeping)) {
        atomic_fetch_add(&rt->mon_word, 1);
        wf__futex_wake(&rt->mon_word, 1);
    }
}
