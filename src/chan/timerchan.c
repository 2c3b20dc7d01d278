/* SPDX-License-Identifier: MIT */
/*
 * Timer channels (weft/chan.h): a channel that receives the time once at
 * a deadline, or every period (a ticker).
 *
 * Design. A timer channel is a buffered channel of one int64_t and a user
 * timer (core/utimer.c) whose callback, on a worker's scheduler loop,
 * puts wf_now() into the channel with wf_chan_try_send: a full buffer
 * (the reader has not taken the last value) drops the value, so a slow
 * reader of a ticker misses ticks instead of queueing them, as Go's
 * tickers do. A ticker's callback re-arms its own timer for the next
 * multiple of the period after now (the user timer applies a re-arm made
 * by the callback after the callback returns), so ticks keep their phase.
 *
 * Stop. wf_timer_stop either disarms the timer before it fired, or waits
 * until its callback has returned (and disarms a re-arm the callback made
 * meanwhile): after it, no callback runs or will run, so nothing more is
 * sent. Then stop takes the value the buffer may hold (wf_chan_try_recv),
 * so no receive that starts after stop returns gets a value of the
 * stopped arming. A receive that completed before (a receiver parked on
 * the channel gets the value straight from the callback, under the
 * channel's lock) got it: then stop found neither a pending fire nor a
 * buffered value and says WF_EALREADY. Exactly one of "a receiver got the
 * value" and "stop returned 0" is true for a one-shot timer.
 *
 * Control calls (stop, reset, free) of one timer channel are not meant to
 * run at once; `ctl` turns an overlap into WF_EBUSY instead of a race.
 * The fields the callback reads (period, deadline) change only while the
 * timer is stopped, ordered by the user timer's stop/start (seq_cst state
 * changes and its heap lock).
 */
#include <stdlib.h>

#include "common/fault.h"
#include "core/core_int.h"
#include "weft/chan.h"
#include "weft/timer.h"

struct wf_chan_timer {
    struct wf_timer timer;
    struct wf_chan *chan; /* one reference, ours */
    int64_t deadline;     /* of the next fire; see the top */
    int64_t period;       /* 0: one-shot */
    atomic_int ctl;       /* 1 while a control call runs */
};

static void fire(struct wf_timer *tm, void *arg)
{
    struct wf_chan_timer *t = arg;
    int64_t now = wf_now();
    (void)wf_chan_try_send(t->chan, &now); /* full: the tick is dropped */
    if (t->period > 0) {
        /* Overflow-checked: a period near INT64_MAX (WF_FOREVER meant as
         * "never again") or a deadline far in the past wrapped to a
         * deadline in the past, and the ticker fired without pause. A next
         * tick past the end of time is never (the ticker stops). */
        int64_t next, late, phase;
        if (__builtin_add_overflow(t->deadline, t->period, &next))
            return;
        if (next <= now) { /* ticks missed: the next one after now, in phase */
            if (__builtin_sub_overflow(now, t->deadline, &late))
                late = 0; /* far in the past: restart the phase at now */
            phase = t->period - late % t->period;
            if (__builtin_add_overflow(now, phase, &next))
                return;
        }
        t->deadline = next;
        /* WF_ENOMEM (no heap slot): the ticker stops; see chan.h. */
        (void)wf_timer_start(tm, next);
    }
}

/* Whether the caller is a timer callback (it must not wait for one). */
static bool in_timer_callback(void)
{
    struct wf__worker *w = wf__worker_self();
    /* relaxed: only this thread writes its own worker's field. */
    return w && atomic_load_explicit(&w->utimer_running, memory_order_relaxed);
}

static int ctl_enter(struct wf_chan_timer *t)
{
    if (in_timer_callback())
        return WF_EPERM;
    int expect = 0;
    /* acquire: pairs with ctl_leave's release, so one control call sees
     * the fields the previous one wrote. */
    if (!atomic_compare_exchange_strong_explicit(
            &t->ctl, &expect, 1, memory_order_acquire, memory_order_relaxed))
        return WF_EBUSY;
    return 0;
}

static void ctl_leave(struct wf_chan_timer *t)
{
    atomic_store_explicit(&t->ctl, 0, memory_order_release); /* see enter */
}

/* Disarm and empty; 0 if a delivery was prevented (see the top). */
static int stop_locked(struct wf_chan_timer *t)
{
    int err = wf_timer_stop(&t->timer);
    if (wf_chan_try_recv(t->chan, NULL) == 0)
        err = 0; /* fired, not received: dropped */
    return err == 0 ? 0 : WF_EALREADY;
}

int wf_chan_timer_create(struct wf_chan_timer **out, int64_t deadline,
                         int64_t period)
{
    if (!out || period < 0)
        return WF_EINVAL;
    if (in_timer_callback())
        return WF_EPERM;
    struct wf_chan_timer *t = wf__calloc(1, sizeof *t);
    if (!t)
        return WF_ENOMEM;
    int err = wf_chan_create(&t->chan, sizeof(int64_t), 1);
    if (err < 0)
        goto out_free;
    wf_timer_init(&t->timer, fire, t);
    t->deadline = deadline;
    t->period = period;
    atomic_init(&t->ctl, 0);
    err = wf_timer_start(&t->timer, deadline);
    if (err < 0)
        goto out_release;
    *out = t;
    return 0;
out_release:
    wf_chan_release(t->chan);
out_free:
    free(t);
    return err;
}

struct wf_chan *wf_chan_timer_chan(const struct wf_chan_timer *t)
{
    return t ? t->chan : NULL;
}

int wf_chan_timer_stop(struct wf_chan_timer *t)
{
    if (!t)
        return WF_EINVAL;
    int err = ctl_enter(t);
    if (err < 0)
        return err;
    err = stop_locked(t);
    ctl_leave(t);
    return err;
}

int wf_chan_timer_reset(struct wf_chan_timer *t, int64_t deadline,
                        int64_t period)
{
    if (!t || period < 0)
        return WF_EINVAL;
    int err = ctl_enter(t);
    if (err < 0)
        return err;
    stop_locked(t);
    t->deadline = deadline;
    t->period = period;
    err = wf_timer_start(&t->timer, deadline);
    ctl_leave(t);
    return err;
}

int wf_chan_timer_free(struct wf_chan_timer *t)
{
    if (!t)
        return 0;
    int err = ctl_enter(t);
    if (err < 0)
        return err;
    wf_timer_stop(&t->timer);
    wf_chan_release(t->chan);
    free(t);
    return 0;
}
