/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_signal.c - signals as events (wf_signal_wait,
 * weft/io.h): a fiber takes a signal sent to the process, a pending signal
 * is taken at once, a deadline and a cancellation end a wait, and a
 * plain thread can wait too. SIGUSR1/SIGUSR2 are blocked in the main
 * thread before the runtime starts, as the header asks.
 */
#include <weft.h>
#include <weft/io.h>

#include "wtest_rt.h"
#include "wt_backend.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

static sigset_t usr1, usr2, both;

static void block_all(void)
{
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigemptyset(&both);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGUSR2);
    WT_CHECK_EQ(wf_signal_block(&both), 0);
}

static atomic_int waiting;

static void *usr1_waiter(void *arg)
{
    (void)arg;
    atomic_store(&waiting, 1);
    return U2P((uintptr_t)wf_signal_wait(&usr1, WF_FOREVER));
}

static void *signal_main(void *arg)
{
    (void)arg;
    sigset_t empty;
    sigemptyset(&empty);
    WT_CHECK_EQ(wf_signal_wait(NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_signal_wait(&empty, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_signal_block(NULL), WF_EINVAL);

    /* sent while a fiber waits */
    struct wf_fiber w;
    WT_CHECK_EQ(wf_go(&w, usr1_waiter, NULL), 0);
    while (!atomic_load(&waiting))
        wf_yield();
    wf_sleep(5 * WF_MSEC);
    WT_CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    void *r;
    WT_CHECK_EQ(wf_join(w, &r, WF_FOREVER), 0);
    WT_CHECK_EQ((int)P2U(r), SIGUSR1);

    /* pending before the wait; only the asked-for set is taken */
    WT_CHECK_EQ(kill(getpid(), SIGUSR2), 0);
    WT_CHECK_EQ(wf_signal_wait(&usr1, wf_deadline_in(5 * WF_MSEC)),
                WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_signal_wait(&both, WF_FOREVER), SIGUSR2);
    WT_CHECK_EQ(wf_signal_wait(&usr2, 0), WF_ETIMEDOUT); /* consumed */

    /* cancellation */
    atomic_store(&waiting, 0);
    WT_CHECK_EQ(wf_go(&w, usr1_waiter, NULL), 0);
    while (!atomic_load(&waiting))
        wf_yield();
    wf_sleep(5 * WF_MSEC);
    WT_CHECK_EQ(wf_cancel(w), 0);
    WT_CHECK_EQ(wf_join(w, &r, WF_FOREVER), 0);
    WT_CHECK_EQ((int)P2U(r), WF_ECANCELED);
    return NULL;
}

WT_CASE(wait_in_fiber)
{
    block_all();
    run_main(2, signal_main, NULL);
}

static void *thread_waiter(void *arg)
{
    (void)arg;
    atomic_store(&waiting, 1);
    return U2P((uintptr_t)wf_signal_wait(&usr2, WF_FOREVER));
}

WT_CASE(wait_in_thread)
{
    block_all();
    struct wf_config c = config(1);
    WT_CHECK_EQ(wf_init(&c), 0);
    pthread_t t;
    WT_CHECK_EQ(pthread_create(&t, NULL, thread_waiter, NULL), 0);
    while (!atomic_load(&waiting))
        usleep(1000);
    usleep(5000);
    WT_CHECK_EQ(kill(getpid(), SIGUSR2), 0);
    void *r;
    pthread_join(t, &r);
    WT_CHECK_EQ((int)P2U(r), SIGUSR2);
    shutdown_clean();
}

WT_MAIN()
