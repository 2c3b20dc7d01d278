/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_timer.c - user timers (weft/timer.h): start, stop and
 * re-arm, from a fiber or a plain thread and from timer callbacks, on one
 * or two workers, checked against a count of what must have happened.
 *
 * Input: a header byte (1 or 2 workers, 1 to 4 timers, the driver a fiber
 * or a plain thread), one byte per timer for what its callback does (re-arm
 * itself, start or stop another timer, nothing), then up to 32 operations
 * of the driver: start (deadline passed, or up to 448 us ahead), stop,
 * sleep (up to 300 us), yield. Callbacks act at most 24 times in all, so
 * every input ends; deadlines are short, so each input runs for at most a
 * few milliseconds.
 *
 * For each timer the target counts the starts that returned 0 (from the
 * driver and from callbacks), the stops that returned 0 and the callback
 * runs. Checked:
 *   - results are ones the call may give (start: 0 or WF_EBUSY; stop: 0
 *     or WF_EALREADY);
 *   - one timer's callback never runs twice at once, and never while a
 *     stop from outside a callback that has returned is in effect: when
 *     the driver's stop returns, that timer's callback is not running;
 *   - once the driver has stopped every timer twice (callbacks then stop
 *     acting), every start that returned 0 ended in exactly one run of the
 *     callback or one stop that returned 0: starts == runs + stops;
 *   - with one worker and the driver in a fiber, where callbacks run only
 *     while the driver is switched out, the driver knows whether a timer
 *     is armed: start returns WF_EBUSY exactly when it is, and stop
 *     returns 0 exactly when it is.
 */
#include "fuzz.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "weft.h"

#define NT      4
#define NOPS    32
#define ACTIONS 24

enum { A_NONE, A_REARM, A_START, A_STOP };
enum { D_START, D_STOP, D_SLEEP, D_YIELD, D_NKINDS };

struct tm {
    struct wf_timer t;
    int id;
    int act, target, delay; /* what the callback does */
    atomic_int starts, stops, runs, inside;
};

static struct {
    int workers, nt, in_fiber;
    struct tm tm[NT];
    int nops;
    struct {
        int k, t, delay;
    } ops[NOPS];
    atomic_int budget;
    atomic_int quiet; /* callbacks stop acting */
} S;

static int64_t deadline(int delay_us)
{
    return delay_us ? wf_deadline_in((int64_t)delay_us * WF_USEC)
                    : wf_now() - 1;
}

static void fire(struct wf_timer *t, void *arg)
{
    struct tm *m = arg;
    FZ_CHECK(t == &m->t, "callback argument");
    FZ_CHECK(atomic_fetch_add(&m->inside, 1) == 0,
             "timer %d's callback runs twice at once", m->id);
    atomic_fetch_add(&m->runs, 1);
    if (m->act != A_NONE && !atomic_load(&S.quiet) &&
        atomic_fetch_sub(&S.budget, 1) > 0) {
        struct tm *o = &S.tm[m->target];
        int rc;
        switch (m->act) {
        case A_REARM:
            rc = wf_timer_start(t, deadline(m->delay));
            FZ_CHECK(rc == 0, "re-arm from its callback: %d", rc);
            atomic_fetch_add(&m->starts, 1);
            break;
        case A_START:
            rc = wf_timer_start(&o->t, deadline(m->delay));
            FZ_CHECK(rc == 0 || rc == WF_EBUSY, "start from a callback: %d",
                     rc);
            if (rc == 0)
                atomic_fetch_add(&o->starts, 1);
            break;
        case A_STOP:
            rc = wf_timer_stop(&o->t);
            FZ_CHECK(rc == 0 || rc == WF_EALREADY, "stop from a callback: %d",
                     rc);
            if (rc == 0)
                atomic_fetch_add(&o->stops, 1);
            break;
        }
    }
    atomic_fetch_sub(&m->inside, 1);
}

/* Whether the driver can tell exactly that m is armed (see the top). */
static bool exact(void)
{
    return S.workers == 1 && S.in_fiber;
}

static bool armed(struct tm *m)
{
    return atomic_load(&m->starts) >
           atomic_load(&m->runs) + atomic_load(&m->stops);
}

static void stop_checked(struct tm *m)
{
    bool was = exact() && armed(m);
    int rc = wf_timer_stop(&m->t);
    FZ_CHECK(rc == 0 || rc == WF_EALREADY, "stop: %d", rc);
    if (rc == 0)
        atomic_fetch_add(&m->stops, 1);
    FZ_CHECK(atomic_load(&m->inside) == 0,
             "timer %d's callback runs after stop returned", m->id);
    if (exact())
        FZ_CHECK((rc == 0) == was, "stop of timer %d (%s armed): %d", m->id,
                 was ? "" : "not", rc);
}

static void drive(void)
{
    for (int i = 0; i < S.nops; i++) {
        struct tm *m = &S.tm[S.ops[i].t];
        switch (S.ops[i].k) {
        case D_START: {
            bool was = exact() && armed(m);
            int rc = wf_timer_start(&m->t, deadline(S.ops[i].delay));
            FZ_CHECK(rc == 0 || rc == WF_EBUSY, "start: %d", rc);
            if (rc == 0)
                atomic_fetch_add(&m->starts, 1);
            if (exact())
                FZ_CHECK((rc == WF_EBUSY) == was,
                         "start of timer %d (%s armed): %d", m->id,
                         was ? "" : "not", rc);
            break;
        }
        case D_STOP:
            stop_checked(m);
            break;
        case D_SLEEP:
            if (S.in_fiber)
                wf_sleep((int64_t)S.ops[i].delay * WF_USEC);
            else
                wf_sleep_until(deadline(S.ops[i].delay));
            break;
        case D_YIELD:
            if (S.in_fiber)
                wf_yield();
            break;
        }
    }
    /* Quiesce: callbacks stop acting; the first round waits out every
     * callback that may have missed that, the second stops what they
     * armed. */
    atomic_store(&S.quiet, 1);
    for (int round = 0; round < 2; round++)
        for (int t = 0; t < S.nt; t++)
            stop_checked(&S.tm[t]);
    for (int t = 0; t < S.nt; t++) {
        struct tm *m = &S.tm[t];
        int st = atomic_load(&m->starts), sp = atomic_load(&m->stops),
            r = atomic_load(&m->runs);
        FZ_CHECK(st == r + sp, "timer %d: %d starts, %d runs, %d stops", t, st,
                 r, sp);
    }
}

static void *driver(void *arg)
{
    (void)arg;
    drive();
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size, 0};
    memset(&S, 0, sizeof S);
    unsigned h = fz_byte(&in);
    S.workers = 1 + (h & 1);
    S.nt = 1 + (int)((h >> 1) % NT);
    S.in_fiber = !((h >> 3) & 1);
    atomic_store(&S.budget, ACTIONS);
    for (int t = 0; t < S.nt; t++) {
        struct tm *m = &S.tm[t];
        unsigned b = fz_byte(&in);
        m->id = t;
        m->act = (int)(b % 4);
        m->target = (int)((b >> 2) % (unsigned)S.nt);
        m->delay = (int)((b >> 4) % 8) * 64;
        if (m->target == t && m->act != A_NONE)
            m->act = A_REARM;
        FZ_CHECK(wf_timer_init(&m->t, fire, m) == 0, "init");
    }
    while (fz_more(&in) && S.nops < NOPS) {
        unsigned b = fz_byte(&in), d = fz_byte(&in);
        S.ops[S.nops].k = (int)(b % D_NKINDS);
        S.ops[S.nops].t = (int)((b / D_NKINDS) % (unsigned)S.nt);
        S.ops[S.nops].delay =
            S.ops[S.nops].k == D_SLEEP ? (int)(d % 7) * 50 : (int)(d % 8) * 64;
        S.nops++;
    }
    struct wf_config cfg = {0};
    cfg.workers = S.workers;
    cfg.stack_size = 64 << 10;
    cfg.stall_ns = -1;
    if (S.in_fiber) {
        FZ_CHECK(wf_run(&cfg, driver, NULL, NULL) == 0, "wf_run");
    } else {
        FZ_CHECK(wf_init(&cfg) == 0, "wf_init");
        drive();
        FZ_CHECK(wf_shutdown() == 0, "wf_shutdown");
    }
    FZ_CHECK(wf_shutdown_discarded() == 0, "fibers left behind");
    /* After the runtime: every timer is disarmed, stop says so. */
    for (int t = 0; t < S.nt; t++)
        FZ_CHECK(wf_timer_stop(&S.tm[t].t) == WF_EALREADY,
                 "stop after shutdown");
    return 0;
}
