/* SPDX-License-Identifier: MIT */
/*
 * tests/core/test_shutdown.c - objects that outlive the runtime.
 *
 * Channels, sync primitives and futures belong to the user and may be used
 * after wf_shutdown, which discards the fibers still blocked on them and
 * unmaps their stacks. Each case blocks fibers on an object in every way
 * it allows, shuts the runtime down, and then uses the object from the
 * main thread: nothing may touch a discarded fiber's wait record (ASan,
 * or a plain segfault, would show it), and the object must behave as
 * documented: it simply no longer lists those waiters.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

#include "wtest_fiber.h"

/* Let the spawned fibers reach their waits. */
static void settle(void)
{
    nap_ms(wt_sanitized() ? 100 : 30);
}

/* ---- channels ----------------------------------------------------------- */

static struct wf_chan *ch_unbuf, *ch_full, *ch_empty, *ch_sel;

static void *chan_sender(void *arg)
{
    int v = (int)P2U(arg);
    wf_chan_send(ch_unbuf, &v, WF_FOREVER);
    return NULL;
}

static void *chan_full_sender(void *arg)
{
    int v = (int)P2U(arg);
    wf_chan_send(ch_full, &v, WF_FOREVER);
    return NULL;
}

static void *chan_receiver(void *arg)
{
    (void)arg;
    int v;
    wf_chan_recv(ch_empty, &v, WF_FOREVER);
    return NULL;
}

static void *chan_selecter(void *arg)
{
    (void)arg;
    int a, b = 7;
    struct wf_select_case cs[3] = {
        {.chan = ch_empty, .op = WF_CHAN_RECV, .elem = &a},
        {.chan = ch_sel, .op = WF_CHAN_SEND, .elem = &b},
        {.chan = ch_sel, .op = WF_CHAN_RECV, .elem = &a},
    };
    wf_select(cs, 3, WF_FOREVER);
    return NULL;
}

WT_CASE(channels)
{
    WT_CHECK_EQ(wf_chan_create(&ch_unbuf, sizeof(int), 0), 0);
    WT_CHECK_EQ(wf_chan_create(&ch_full, sizeof(int), 1), 0);
    WT_CHECK_EQ(wf_chan_create(&ch_empty, sizeof(int), 4), 0);
    WT_CHECK_EQ(wf_chan_create(&ch_sel, sizeof(int), 0), 0);
    int one = 1;
    WT_CHECK_EQ(wf_chan_try_send(ch_full, &one), 0);
    init_rt(2);
    for (long i = 0; i < 4; i++) {
        go(chan_sender, U2P(10 + i));
        go(chan_full_sender, U2P(20 + i));
        go(chan_receiver, NULL);
        go(chan_selecter, NULL);
    }
    settle();
    WT_CHECK_EQ(wf_shutdown(), 0);

    int v = 0;
    /* Nobody is queued any more: no sender to take from, no receiver to
     * hand to, and the buffered element is still there. */
    WT_CHECK_EQ(wf_chan_try_recv(ch_unbuf, &v), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_try_send(ch_unbuf, &v), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_try_send(ch_sel, &v), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_try_recv(ch_sel, &v), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_len(ch_full), 1);
    WT_CHECK_EQ(wf_chan_try_recv(ch_full, &v), 0);
    WT_CHECK_EQ(v, 1);
    WT_CHECK_EQ(wf_chan_try_recv(ch_full, &v), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_try_send(ch_empty, &v), 0);
    WT_CHECK_EQ(wf_chan_len(ch_empty), 1);
    WT_CHECK_EQ(wf_chan_close(ch_unbuf), 0);
    WT_CHECK_EQ(wf_chan_close(ch_full), 0);
    WT_CHECK_EQ(wf_chan_close(ch_empty), 0);
    WT_CHECK_EQ(wf_chan_close(ch_sel), 0);
    wf_chan_release(ch_unbuf);
    wf_chan_release(ch_full);
    wf_chan_release(ch_empty);
    wf_chan_release(ch_sel);
}

/* ---- locks --------------------------------------------------------------- */

static struct wf_mutex mtx;
static struct wf_cond cv;
static struct wf_rwlock rwl;

static void *mutex_locker(void *arg)
{
    (void)arg;
    if (wf_mutex_lock(&mtx, WF_FOREVER) == 0)
        wf_mutex_unlock(&mtx);
    return NULL;
}

static void *cond_waiter(void *arg)
{
    (void)arg;
    static struct wf_mutex m2 = {{0}};
    wf_mutex_lock(&m2, WF_FOREVER);
    wf_cond_wait(&cv, &m2, WF_FOREVER);
    wf_mutex_unlock(&m2);
    return NULL;
}

static void *rw_reader(void *arg)
{
    (void)arg;
    if (wf_rwlock_rdlock(&rwl, WF_FOREVER) == 0)
        wf_rwlock_unlock(&rwl);
    return NULL;
}

static void *rw_writer(void *arg)
{
    (void)arg;
    if (wf_rwlock_wrlock(&rwl, WF_FOREVER) == 0)
        wf_rwlock_unlock(&rwl);
    return NULL;
}

WT_CASE(locks)
{
    WT_CHECK_EQ(wf_mutex_init(&mtx), 0);
    WT_CHECK_EQ(wf_cond_init(&cv), 0);
    WT_CHECK_EQ(wf_rwlock_init(&rwl), 0);
    init_rt(2);
    WT_CHECK_EQ(wf_mutex_lock(&mtx, WF_FOREVER), 0); /* main holds both */
    WT_CHECK_EQ(wf_rwlock_wrlock(&rwl, WF_FOREVER), 0);
    for (int i = 0; i < 4; i++) {
        go(mutex_locker, NULL);
        go(cond_waiter, NULL);
        go(rw_reader, NULL);
        go(rw_writer, NULL);
    }
    settle();
    WT_CHECK_EQ(wf_shutdown(), 0);

    /* The main thread still holds both locks; unlocking wakes nobody. */
    WT_CHECK_EQ(wf_mutex_unlock(&mtx), 0);
    WT_CHECK_EQ(wf_mutex_trylock(&mtx), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&mtx), 0);
    WT_CHECK_EQ(wf_cond_signal(&cv), 0);
    WT_CHECK_EQ(wf_cond_broadcast(&cv), 0);
    WT_CHECK_EQ(wf_rwlock_unlock(&rwl), 0);
    /* No writer counts as waiting any more: readers get in. */
    WT_CHECK_EQ(wf_rwlock_tryrdlock(&rwl), 0);
    WT_CHECK_EQ(wf_rwlock_unlock(&rwl), 0);
    WT_CHECK_EQ(wf_rwlock_trywrlock(&rwl), 0);
    WT_CHECK_EQ(wf_rwlock_unlock(&rwl), 0);
    WT_CHECK_EQ(wf_mutex_destroy(&mtx), 0);
    WT_CHECK_EQ(wf_cond_destroy(&cv), 0);
    WT_CHECK_EQ(wf_rwlock_destroy(&rwl), 0);

    /* A new runtime: the mutex's slow path finds no stale waiter count. */
    WT_CHECK_EQ(wf_mutex_init(&mtx), 0);
    init_rt(2);
    for (int i = 0; i < 8; i++)
        go(mutex_locker, NULL);
    nap_ms(10);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_mutex_destroy(&mtx), 0);
}

/* ---- counting primitives --------------------------------------------------- */

static struct wf_sem sem;
static struct wf_waitgroup wg;
static struct wf_barrier bar;
static struct wf_event ev;

static void *sem_waiter(void *arg)
{
    (void)arg;
    wf_sem_wait(&sem, WF_FOREVER);
    return NULL;
}

static void *wg_waiter(void *arg)
{
    (void)arg;
    wf_waitgroup_wait(&wg, WF_FOREVER);
    return NULL;
}

static atomic_int crossed;

static void *bar_waiter(void *arg)
{
    (void)arg;
    if (wf_barrier_wait(&bar, WF_FOREVER) >= 0)
        atomic_fetch_add(&crossed, 1);
    return NULL;
}

static void *ev_waiter(void *arg)
{
    (void)arg;
    wf_event_wait(&ev, WF_FOREVER);
    return NULL;
}

WT_CASE(counters)
{
    WT_CHECK_EQ(wf_sem_init(&sem, 0), 0);
    WT_CHECK_EQ(wf_waitgroup_init(&wg), 0);
    WT_CHECK_EQ(wf_waitgroup_add(&wg, 1), 0);
    WT_CHECK_EQ(wf_barrier_init(&bar, 3), 0);
    WT_CHECK_EQ(wf_event_init(&ev), 0);
    init_rt(2);
    for (int i = 0; i < 3; i++) {
        go(sem_waiter, NULL);
        go(wg_waiter, NULL);
        go(ev_waiter, NULL);
    }
    go(bar_waiter, NULL); /* two of three arrive */
    go(bar_waiter, NULL);
    settle();
    WT_CHECK_EQ(wf_shutdown(), 0);

    WT_CHECK_EQ(wf_sem_post(&sem), 0);
    WT_CHECK_EQ(wf_sem_value(&sem), 1);
    WT_CHECK_EQ(wf_sem_trywait(&sem), 0);
    WT_CHECK_EQ(wf_waitgroup_done(&wg), 0);
    WT_CHECK_EQ(wf_event_set(&ev), 0);
    WT_CHECK(wf_event_is_set(&ev));
    WT_CHECK_EQ(wf_sem_destroy(&sem), 0);
    WT_CHECK_EQ(wf_waitgroup_destroy(&wg), 0);
    WT_CHECK_EQ(wf_event_destroy(&ev), 0);

    /* The discarded arrivals were withdrawn: a new round needs all three. */
    WT_CHECK_EQ(atomic_load(&crossed), 0);
    init_rt(2);
    struct wf_fiber f[3];
    for (int i = 0; i < 3; i++)
        f[i] = go(bar_waiter, NULL);
    for (int i = 0; i < 3; i++)
        join(f[i]);
    WT_CHECK_EQ(atomic_load(&crossed), 3);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_barrier_destroy(&bar), 0);
}

/* ---- futures ----------------------------------------------------------------- */

static struct wf_future *fut;

static void *fut_waiter(void *arg)
{
    (void)arg;
    wf_future_await(fut, WF_FOREVER);
    return NULL;
}

WT_CASE(futures)
{
    struct wf_promise *p;
    WT_CHECK_EQ(wf_promise_create(&p, &fut), 0);
    init_rt(2);
    for (int i = 0; i < 4; i++)
        go(fut_waiter, NULL);
    settle();
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK(!wf_future_done(fut));
    WT_CHECK_EQ(wf_promise_complete(p, U2P(5)), 0);
    void *v = NULL;
    WT_CHECK_EQ(wf_future_result(fut, &v), 0);
    WT_CHECK_EQ(P2U(v), 5);
    wf_future_release(fut);
}

WT_MAIN()
