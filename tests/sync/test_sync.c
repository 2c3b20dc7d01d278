/* SPDX-License-Identifier: MIT */
/*
 * tests/sync/test_sync.c - the sync layer through its public API
 * (weft/sync.h): misuse errors, mutual exclusion with fibers and plain
 * threads mixed, deadlines, condvar producer/consumer, semaphore counts,
 * wait groups, barrier rounds, once, events, reader-writer locks, cancellation of a fiber
 * blocked in each primitive, dining philosophers, and a stress of waits
 * whose deadlines race with wake-ups.
 *
 * How the cases are built. Each case starts its own runtime: wf_run() when
 * only fibers take part, wf_init() when the main thread or other plain
 * threads join in (a plain thread can block in weft only while a runtime
 * runs). Where a case wants a fiber to be blocked before it acts, it polls
 * a flag the fiber sets just before the blocking call and then naps a
 * little; every check holds whether or not the fiber had blocked yet
 * (cancellation is sticky, a held mutex stays held), so no outcome depends
 * on timing and nothing is timed. Stress counts are divided by 10 under
 * sanitizers (never the checks) and stress cases print their seed.
 */
#include <weft.h>

#include "wtest_fiber.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Wait in a fiber until *flag >= v (works in a cancelled fiber too). */
static void fiber_wait(atomic_int *flag, int v)
{
    while (atomic_load(flag) < v)
        if (wf_sleep(WF_MSEC) != 0)
            wf_yield();
}

/* ---- misuse ------------------------------------------------------------- */

static struct wf_mutex mis_m;

static void *unlock_other_fn(void *arg)
{
    (void)arg;
    return U2P((uintptr_t)-wf_mutex_unlock(&mis_m));
}

static void *unlock_thread_fn(void *arg)
{
    (void)arg;
    return U2P((uintptr_t)-wf_mutex_unlock(&mis_m));
}

static struct wf_once mis_once = WF_ONCE_INIT;
static atomic_int mis_once_inner;

static void mis_once_fn(void)
{
    atomic_store(&mis_once_inner, wf_once(&mis_once, mis_once_fn));
}

static void *misuse_main(void *arg)
{
    (void)arg;
    /* NULL objects */
    WT_CHECK_EQ(wf_mutex_init(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_mutex_lock(NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_mutex_trylock(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_mutex_unlock(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_mutex_destroy(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_cond_init(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_cond_signal(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_cond_broadcast(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_cond_wait(NULL, &mis_m, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_sem_init(NULL, 1), WF_EINVAL);
    WT_CHECK_EQ(wf_sem_post(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_sem_wait(NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_waitgroup_add(NULL, 1), WF_EINVAL);
    WT_CHECK_EQ(wf_waitgroup_wait(NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_barrier_wait(NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_once(NULL, mis_once_fn), WF_EINVAL);
    WT_CHECK_EQ(wf_once(&mis_once, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_event_set(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_event_wait(NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK(!wf_event_is_set(NULL));

    /* mutex: unlock of an unlocked mutex, by a non-owner fiber and by a
     * plain thread; relock by the owner; destroy while locked */
    WT_CHECK_EQ(wf_mutex_init(&mis_m), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&mis_m), WF_EPERM);
    WT_CHECK_EQ(wf_mutex_lock(&mis_m, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_mutex_lock(&mis_m, WF_FOREVER), WF_EDEADLK);
    WT_CHECK_EQ(wf_mutex_trylock(&mis_m), WF_EBUSY);
    WT_CHECK_EQ(-(long)P2U(join(go(unlock_other_fn, NULL))), WF_EPERM);
    pthread_t t = thread(unlock_thread_fn, NULL);
    void *tr;
    pthread_join(t, &tr);
    WT_CHECK_EQ(-(long)P2U(tr), WF_EPERM);
    WT_CHECK_EQ(wf_mutex_destroy(&mis_m), WF_EBUSY);
    WT_CHECK_EQ(wf_mutex_unlock(&mis_m), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&mis_m), WF_EPERM);
    WT_CHECK_EQ(wf_mutex_destroy(&mis_m), 0);

    /* condvar without holding the mutex */
    struct wf_cond c;
    struct wf_mutex m;
    WT_CHECK_EQ(wf_cond_init(&c), 0);
    WT_CHECK_EQ(wf_mutex_init(&m), 0);
    WT_CHECK_EQ(wf_cond_wait(&c, &m, WF_FOREVER), WF_EPERM);
    WT_CHECK_EQ(wf_cond_destroy(&c), 0);
    WT_CHECK_EQ(wf_mutex_destroy(&m), 0);

    /* semaphore: negative start, overflow */
    struct wf_sem s;
    WT_CHECK_EQ(wf_sem_init(&s, -1), WF_EINVAL);
    WT_CHECK_EQ(wf_sem_init(&s, INT_MAX), 0);
    WT_CHECK_EQ(wf_sem_post(&s), WF_EAGAIN);
    WT_CHECK_EQ(wf_sem_value(&s), INT_MAX);
    WT_CHECK_EQ(wf_sem_destroy(&s), 0);

    /* wait group: a negative counter is refused and leaves it unchanged */
    struct wf_waitgroup wg;
    WT_CHECK_EQ(wf_waitgroup_init(&wg), 0);
    WT_CHECK_EQ(wf_waitgroup_done(&wg), WF_EINVAL);
    WT_CHECK_EQ(wf_waitgroup_add(&wg, 2), 0);
    WT_CHECK_EQ(wf_waitgroup_add(&wg, -3), WF_EINVAL);
    WT_CHECK_EQ(wf_waitgroup_wait(&wg, 0), WF_ETIMEDOUT); /* still 2 */
    WT_CHECK_EQ(wf_waitgroup_done(&wg), 0);
    WT_CHECK_EQ(wf_waitgroup_wait(&wg, 0), WF_ETIMEDOUT); /* 1 */
    WT_CHECK_EQ(wf_waitgroup_done(&wg), 0);
    WT_CHECK_EQ(wf_waitgroup_wait(&wg, 0), 0);
    WT_CHECK_EQ(wf_waitgroup_add(&wg, INT_MAX), 0);
    WT_CHECK_EQ(wf_waitgroup_add(&wg, 1), WF_EINVAL); /* overflow */
    WT_CHECK_EQ(wf_waitgroup_add(&wg, -INT_MAX), 0);
    WT_CHECK_EQ(wf_waitgroup_destroy(&wg), 0);

    /* barrier: count 0 and negative; zero storage is not a barrier */
    struct wf_barrier b;
    WT_CHECK_EQ(wf_barrier_init(&b, 0), WF_EINVAL);
    WT_CHECK_EQ(wf_barrier_init(&b, -2), WF_EINVAL);
    memset(&b, 0, sizeof b);
    WT_CHECK_EQ(wf_barrier_wait(&b, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_barrier_init(&b, 1), 0);
    WT_CHECK_EQ(wf_barrier_wait(&b, WF_FOREVER), 1); /* alone: serial */
    WT_CHECK_EQ(wf_barrier_wait(&b, WF_FOREVER), 1);
    WT_CHECK_EQ(wf_barrier_destroy(&b), 0);

    /* once: a recursive call from inside fn */
    WT_CHECK_EQ(wf_once(&mis_once, mis_once_fn), 0);
    WT_CHECK_EQ(atomic_load(&mis_once_inner), WF_EDEADLK);
    WT_CHECK_EQ(wf_once(&mis_once, mis_once_fn), 0);

    /* event: setting twice is fine */
    struct wf_event e;
    WT_CHECK_EQ(wf_event_init(&e), 0);
    WT_CHECK(!wf_event_is_set(&e));
    WT_CHECK_EQ(wf_event_wait(&e, 0), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_event_set(&e), 0);
    WT_CHECK_EQ(wf_event_set(&e), 0);
    WT_CHECK(wf_event_is_set(&e));
    WT_CHECK_EQ(wf_event_wait(&e, 0), 0);
    WT_CHECK_EQ(wf_event_destroy(&e), 0);
    return NULL;
}

WT_CASE(misuse)
{
    run_main(2, misuse_main, NULL);
}

/* Zero-filled storage is a ready object (except the barrier). */
static struct wf_mutex z_m;
static struct wf_cond z_c;
static struct wf_sem z_s;
static struct wf_waitgroup z_wg;
static struct wf_event z_e;

static void *zero_main(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_mutex_lock(&z_m, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_cond_wait(&z_c, &z_m, wf_deadline_in(WF_MSEC)),
                WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_mutex_unlock(&z_m), 0); /* held again after the wait */
    WT_CHECK_EQ(wf_sem_trywait(&z_s), WF_EAGAIN);
    WT_CHECK_EQ(wf_waitgroup_wait(&z_wg, WF_FOREVER), 0);
    WT_CHECK(!wf_event_is_set(&z_e));
    return NULL;
}

WT_CASE(zero_storage)
{
    run_main(1, zero_main, NULL);
}

/* Without a runtime, calls that need not wait work from a plain thread;
 * one that would have to wait returns WF_ESHUTDOWN at once. */
WT_CASE(no_runtime)
{
    struct wf_mutex m;
    struct wf_sem s;
    struct wf_event e;
    struct wf_barrier b;
    WT_CHECK_EQ(wf_mutex_init(&m), 0);
    WT_CHECK_EQ(wf_mutex_lock(&m, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_mutex_trylock(&m), WF_EBUSY);
    WT_CHECK_EQ(wf_mutex_unlock(&m), 0);
    WT_CHECK_EQ(wf_mutex_destroy(&m), 0);
    WT_CHECK_EQ(wf_sem_init(&s, 1), 0);
    WT_CHECK_EQ(wf_sem_wait(&s, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_sem_wait(&s, WF_FOREVER), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_sem_value(&s), 0);
    WT_CHECK_EQ(wf_sem_destroy(&s), 0);
    WT_CHECK_EQ(wf_event_init(&e), 0);
    WT_CHECK_EQ(wf_event_wait(&e, WF_FOREVER), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_event_set(&e), 0);
    WT_CHECK_EQ(wf_event_wait(&e, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_event_destroy(&e), 0);
    WT_CHECK_EQ(wf_barrier_init(&b, 1), 0);
    WT_CHECK_EQ(wf_barrier_wait(&b, WF_FOREVER), 1);
    WT_CHECK_EQ(wf_barrier_destroy(&b), 0);
}

/* wf_shutdown() releases a plain thread blocked in a sync wait. */
static struct wf_event sd_e;
static atomic_int sd_ready;

static void *sd_thread(void *arg)
{
    (void)arg;
    atomic_store(&sd_ready, 1);
    return U2P((uintptr_t)-wf_event_wait(&sd_e, WF_FOREVER));
}

WT_CASE(shutdown_wakes_thread)
{
    WT_CHECK_EQ(wf_event_init(&sd_e), 0);
    init_rt(1);
    pthread_t t = thread(sd_thread, NULL);
    while (!atomic_load(&sd_ready))
        nap_ms(1);
    nap_ms(5); /* most likely blocked; if not, its wait sees no runtime */
    shutdown_clean();
    void *r;
    pthread_join(t, &r);
    WT_CHECK_EQ(-(long)P2U(r), WF_ESHUTDOWN);
    WT_CHECK(!wf_event_is_set(&sd_e));
    WT_CHECK_EQ(wf_event_destroy(&sd_e), 0);
}

/* ---- mutex ---------------------------------------------------------------- */

static struct wf_mutex cnt_m;
static long cnt_value;
static long cnt_iters;

static void count_loop(void)
{
    for (long i = 0; i < cnt_iters; i++) {
        int rc = wf_mutex_lock(&cnt_m, WF_FOREVER);
        if (rc != 0)
            WT_FAIL("lock: %d", rc);
        long v = cnt_value; /* a racy read-modify-write unless excluded */
        if ((i & 7) == 0)
            wf_yield();     /* hold it across a switch now and then */
        cnt_value = v + 1;
        rc = wf_mutex_unlock(&cnt_m);
        if (rc != 0)
            WT_FAIL("unlock: %d", rc);
    }
}

static void *count_fiber(void *arg)
{
    (void)arg;
    count_loop();
    return NULL;
}

static void *count_thread(void *arg)
{
    (void)arg;
    for (long i = 0; i < cnt_iters; i++) {
        WT_CHECK_EQ(wf_mutex_lock(&cnt_m, WF_FOREVER), 0);
        long v = cnt_value;
        cnt_value = v + 1;
        WT_CHECK_EQ(wf_mutex_unlock(&cnt_m), 0);
    }
    return NULL;
}

#define CNT_FIBERS 32

static void *count_main(void *arg)
{
    (void)arg;
    struct wf_fiber f[CNT_FIBERS];
    for (int i = 0; i < CNT_FIBERS; i++)
        f[i] = go(count_fiber, NULL);
    for (int i = 0; i < CNT_FIBERS; i++)
        join(f[i]);
    return NULL;
}

WT_CASE(mutex_counter_fibers)
{
    printf("seed %" PRIu64 "\n", wt_seed());
    cnt_iters = scaled(2000);
    WT_CHECK_EQ(wf_mutex_init(&cnt_m), 0);
    run_main(4, count_main, NULL);
    WT_CHECK_EQ(cnt_value, CNT_FIBERS * cnt_iters);
    WT_CHECK_EQ(wf_mutex_destroy(&cnt_m), 0);
}

WT_CASE(mutex_counter_mixed)
{
    printf("seed %" PRIu64 "\n", wt_seed());
    cnt_iters = scaled(2000);
    int nthreads = wt_threads(4);
    WT_CHECK_EQ(wf_mutex_init(&cnt_m), 0);
    init_rt(4);
    struct wf_fiber f[CNT_FIBERS];
    pthread_t t[64];
    if (nthreads > 64)
        nthreads = 64;
    for (int i = 0; i < CNT_FIBERS; i++)
        f[i] = go(count_fiber, NULL);
    for (int i = 0; i < nthreads; i++)
        t[i] = thread(count_thread, NULL);
    count_thread(NULL); /* the main thread too */
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < CNT_FIBERS; i++)
        join(f[i]);
    WT_CHECK_EQ(cnt_value, (CNT_FIBERS + nthreads + 1) * cnt_iters);
    WT_CHECK_EQ(wf_mutex_destroy(&cnt_m), 0);
    shutdown_clean();
}

static struct wf_mutex dl_m;
static atomic_int dl_step;

static void *dl_holder(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_mutex_lock(&dl_m, WF_FOREVER), 0);
    atomic_store(&dl_step, 1);
    fiber_wait(&dl_step, 2);
    WT_CHECK_EQ(wf_mutex_unlock(&dl_m), 0);
    return NULL;
}

static void *deadline_main(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_mutex_init(&dl_m), 0);
    struct wf_fiber h = go(dl_holder, NULL);
    fiber_wait(&dl_step, 1);
    WT_CHECK_EQ(wf_mutex_trylock(&dl_m), WF_EBUSY);
    WT_CHECK_EQ(wf_mutex_lock(&dl_m, 0), WF_ETIMEDOUT); /* past: no wait */
    int64_t before = wf_now();
    int64_t deadline = before + 5 * WF_MSEC;
    WT_CHECK_EQ(wf_mutex_lock(&dl_m, deadline), WF_ETIMEDOUT);
    WT_CHECK(wf_now() >= deadline); /* never gives up early */
    WT_CHECK_EQ(wf_mutex_unlock(&dl_m), WF_EPERM); /* we do not hold it */
    atomic_store(&dl_step, 2);
    join(h);
    WT_CHECK_EQ(wf_mutex_trylock(&dl_m), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&dl_m), 0);
    WT_CHECK_EQ(wf_mutex_destroy(&dl_m), 0);
    return NULL;
}

WT_CASE(mutex_deadline_trylock)
{
    run_main(2, deadline_main, NULL);
}

/* A waiter blocked on the lock gets it once the holder unlocks, from a
 * plain thread too. */
static void *dl_thread_locker(void *arg)
{
    (void)arg;
    int rc = wf_mutex_lock(&dl_m, WF_FOREVER);
    if (rc == 0)
        rc = wf_mutex_unlock(&dl_m);
    return U2P((uintptr_t)-rc);
}

WT_CASE(mutex_thread_waits_for_fiber)
{
    init_rt(2);
    WT_CHECK_EQ(wf_mutex_init(&dl_m), 0);
    atomic_store(&dl_step, 0);
    struct wf_fiber h = go(dl_holder, NULL);
    while (atomic_load(&dl_step) < 1)
        nap_ms(1);
    pthread_t t = thread(dl_thread_locker, NULL);
    nap_ms(5);
    atomic_store(&dl_step, 2);
    void *r;
    pthread_join(t, &r);
    WT_CHECK_EQ(P2U(r), 0);
    join(h);
    WT_CHECK_EQ(wf_mutex_destroy(&dl_m), 0);
    shutdown_clean();
}

/* Starvation guard: an unlock hands the mutex straight to a waiter that
 * has waited over a millisecond, so the unlocker cannot take it back. On
 * one worker this is deterministic: the waiter runs (and queues) only
 * while main is parked, and cannot run between main's unlock and trylock. */
static struct wf_mutex ho_m;
static atomic_int ho_step;

static void *ho_waiter(void *arg)
{
    (void)arg;
    atomic_store(&ho_step, 1);
    int rc = wf_mutex_lock(&ho_m, WF_FOREVER);
    if (rc == 0)
        rc = wf_mutex_unlock(&ho_m);
    return U2P((uintptr_t)-rc);
}

static void *handoff_main(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_mutex_init(&ho_m), 0);
    WT_CHECK_EQ(wf_mutex_lock(&ho_m, WF_FOREVER), 0);
    struct wf_fiber w = go(ho_waiter, NULL);
    fiber_wait(&ho_step, 1);  /* w ran up to its park */
    wf_sleep(3 * WF_MSEC);    /* w has waited > 1 ms */
    WT_CHECK_EQ(wf_mutex_unlock(&ho_m), 0);
    WT_CHECK_EQ(wf_mutex_trylock(&ho_m), WF_EBUSY); /* it is w's now */
    WT_CHECK_EQ(wf_mutex_unlock(&ho_m), WF_EPERM);
    WT_CHECK_EQ(P2U(join(w)), 0);
    WT_CHECK_EQ(wf_mutex_trylock(&ho_m), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&ho_m), 0);
    WT_CHECK_EQ(wf_mutex_destroy(&ho_m), 0);
    return NULL;
}

WT_CASE(mutex_handoff_to_long_waiter)
{
    run_main(1, handoff_main, NULL);
}

/* ---- condition variable ------------------------------------------------------ */

#define PC_CAP 8
static struct wf_mutex pc_m;
static struct wf_cond pc_notfull, pc_notempty;
static long pc_buf[PC_CAP];
static int pc_head, pc_len;
static long pc_items, pc_per_producer, pc_per_consumer;
static atomic_int *pc_seen;

static void pc_put(long v)
{
    WT_CHECK_EQ(wf_mutex_lock(&pc_m, WF_FOREVER), 0);
    while (pc_len == PC_CAP)
        WT_CHECK_EQ(wf_cond_wait(&pc_notfull, &pc_m, WF_FOREVER), 0);
    pc_buf[(pc_head + pc_len) % PC_CAP] = v;
    pc_len++;
    WT_CHECK_EQ(wf_cond_signal(&pc_notempty), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&pc_m), 0);
}

static long pc_get(void)
{
    WT_CHECK_EQ(wf_mutex_lock(&pc_m, WF_FOREVER), 0);
    while (pc_len == 0)
        WT_CHECK_EQ(wf_cond_wait(&pc_notempty, &pc_m, WF_FOREVER), 0);
    long v = pc_buf[pc_head];
    pc_head = (pc_head + 1) % PC_CAP;
    pc_len--;
    WT_CHECK_EQ(wf_cond_signal(&pc_notfull), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&pc_m), 0);
    return v;
}

static void *pc_producer(void *arg)
{
    long base = (long)P2U(arg) * pc_per_producer;
    for (long i = 0; i < pc_per_producer; i++)
        pc_put(base + i);
    return NULL;
}

static void *pc_consumer(void *arg)
{
    (void)arg;
    for (long i = 0; i < pc_per_consumer; i++) {
        long v = pc_get();
        WT_CHECK(v >= 0 && v < pc_items);
        atomic_fetch_add(&pc_seen[v], 1);
    }
    return NULL;
}

WT_CASE(cond_producer_consumer)
{
    printf("seed %" PRIu64 "\n", wt_seed());
    enum { NPROD = 4, NCONS_F = 3, NCONS_T = 2 };
    pc_per_producer = scaled(5000);
    pc_items = NPROD * pc_per_producer;
    pc_per_consumer = pc_items / (NCONS_F + NCONS_T);
    WT_CHECK_EQ(pc_per_consumer * (NCONS_F + NCONS_T), pc_items);
    pc_seen = calloc((size_t)pc_items, sizeof *pc_seen);
    WT_CHECK(pc_seen);
    WT_CHECK_EQ(wf_mutex_init(&pc_m), 0);
    WT_CHECK_EQ(wf_cond_init(&pc_notfull), 0);
    WT_CHECK_EQ(wf_cond_init(&pc_notempty), 0);
    init_rt(4);
    struct wf_fiber f[NPROD + NCONS_F];
    pthread_t t[NCONS_T];
    for (int i = 0; i < NCONS_F; i++)
        f[i] = go(pc_consumer, NULL);
    for (int i = 0; i < NCONS_T; i++)
        t[i] = thread(pc_consumer, NULL);
    for (int i = 0; i < NPROD; i++)
        f[NCONS_F + i] = go(pc_producer, U2P(i));
    for (int i = 0; i < NPROD + NCONS_F; i++)
        join(f[i]);
    for (int i = 0; i < NCONS_T; i++)
        pthread_join(t[i], NULL);
    for (long i = 0; i < pc_items; i++)
        if (atomic_load(&pc_seen[i]) != 1)
            WT_FAIL("item %ld seen %d times", i, atomic_load(&pc_seen[i]));
    WT_CHECK_EQ(pc_len, 0);
    WT_CHECK_EQ(wf_cond_destroy(&pc_notfull), 0);
    WT_CHECK_EQ(wf_cond_destroy(&pc_notempty), 0);
    WT_CHECK_EQ(wf_mutex_destroy(&pc_m), 0);
    shutdown_clean();
    free(pc_seen);
}

/* Broadcast wakes every waiter; a timed-out wait still holds the mutex. */
static struct wf_mutex bc_m;
static struct wf_cond bc_c;
static bool bc_go;
static atomic_int bc_waiting, bc_done;

static void *bc_waiter(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_mutex_lock(&bc_m, WF_FOREVER), 0);
    atomic_fetch_add(&bc_waiting, 1);
    while (!bc_go)
        WT_CHECK_EQ(wf_cond_wait(&bc_c, &bc_m, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&bc_m), 0);
    atomic_fetch_add(&bc_done, 1);
    return NULL;
}

static void *broadcast_main(void *arg)
{
    (void)arg;
    enum { N = 16 };
    WT_CHECK_EQ(wf_mutex_init(&bc_m), 0);
    WT_CHECK_EQ(wf_cond_init(&bc_c), 0);
    WT_CHECK_EQ(wf_mutex_lock(&bc_m, WF_FOREVER), 0);
    int64_t deadline = wf_deadline_in(2 * WF_MSEC);
    WT_CHECK_EQ(wf_cond_wait(&bc_c, &bc_m, deadline), WF_ETIMEDOUT);
    WT_CHECK(wf_now() >= deadline);
    WT_CHECK_EQ(wf_mutex_unlock(&bc_m), 0); /* held again */
    struct wf_fiber f[N];
    for (int i = 0; i < N; i++)
        f[i] = go(bc_waiter, NULL);
    fiber_wait(&bc_waiting, N);
    WT_CHECK_EQ(wf_mutex_lock(&bc_m, WF_FOREVER), 0);
    bc_go = true;
    WT_CHECK_EQ(wf_cond_broadcast(&bc_c), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&bc_m), 0);
    for (int i = 0; i < N; i++)
        join(f[i]);
    WT_CHECK_EQ(atomic_load(&bc_done), N);
    WT_CHECK_EQ(wf_cond_destroy(&bc_c), 0);
    WT_CHECK_EQ(wf_mutex_destroy(&bc_m), 0);
    return NULL;
}

WT_CASE(cond_broadcast_timeout)
{
    run_main(4, broadcast_main, NULL);
}

/* ---- semaphore ---------------------------------------------------------------- */

#define SEM_K 3
static struct wf_sem sm;
static atomic_int sm_inside, sm_max;
static long sm_iters;

static void *sem_user(void *arg)
{
    (void)arg;
    for (long i = 0; i < sm_iters; i++) {
        WT_CHECK_EQ(wf_sem_wait(&sm, WF_FOREVER), 0);
        int n = atomic_fetch_add(&sm_inside, 1) + 1;
        int m = atomic_load(&sm_max);
        while (n > m && !atomic_compare_exchange_weak(&sm_max, &m, n)) {
        }
        WT_CHECK(n <= SEM_K);
        wf_yield();
        atomic_fetch_sub(&sm_inside, 1);
        WT_CHECK_EQ(wf_sem_post(&sm), 0);
    }
    return NULL;
}

static void *sem_main(void *arg)
{
    (void)arg;
    /* plain counts */
    struct wf_sem s;
    WT_CHECK_EQ(wf_sem_init(&s, 2), 0);
    WT_CHECK_EQ(wf_sem_trywait(&s), 0);
    WT_CHECK_EQ(wf_sem_wait(&s, 0), 0);
    WT_CHECK_EQ(wf_sem_trywait(&s), WF_EAGAIN);
    WT_CHECK_EQ(wf_sem_wait(&s, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_sem_post(&s), 0);
    WT_CHECK_EQ(wf_sem_post(&s), 0);
    WT_CHECK_EQ(wf_sem_value(&s), 2);
    WT_CHECK_EQ(wf_sem_destroy(&s), 0);

    /* never more than K holders */
    enum { N = 16 };
    WT_CHECK_EQ(wf_sem_init(&sm, SEM_K), 0);
    struct wf_fiber f[N];
    for (int i = 0; i < N; i++)
        f[i] = go(sem_user, NULL);
    for (int i = 0; i < N; i++)
        join(f[i]);
    WT_CHECK(atomic_load(&sm_max) <= SEM_K);
    WT_CHECK(atomic_load(&sm_max) >= 1);
    WT_CHECK_EQ(wf_sem_value(&sm), SEM_K);
    WT_CHECK_EQ(wf_sem_destroy(&sm), 0);
    return NULL;
}

WT_CASE(sem_counts)
{
    printf("seed %" PRIu64 "\n", wt_seed());
    sm_iters = scaled(1000);
    run_main(4, sem_main, NULL);
}

/* Waits whose deadlines race with posts: every unit posted is taken
 * exactly once (none lost in a waiter that timed out as it was woken). */
static struct wf_sem rc_s;
static atomic_long rc_taken;
static long rc_posts;

static void *race_waiter(void *arg)
{
    uint64_t rng = wt_seed() ^ (P2U(arg) * 0x9E3779B97F4A7C15ull);
    while (atomic_load(&rc_taken) < rc_posts) {
        int64_t d = wf_deadline_in((int64_t)(wt_rand(&rng) % (50 * WF_USEC)));
        int rc = wf_sem_wait(&rc_s, d);
        if (rc == 0)
            atomic_fetch_add(&rc_taken, 1);
        else
            WT_CHECK_EQ(rc, WF_ETIMEDOUT);
    }
    return NULL;
}

static void *race_thread(void *arg)
{
    return race_waiter(arg);
}

WT_CASE(sem_deadline_race_stress)
{
    printf("seed %" PRIu64 "\n", wt_seed());
    rc_posts = scaled(20000);
    WT_CHECK_EQ(wf_sem_init(&rc_s, 0), 0);
    init_rt(4);
    enum { NF = 8, NT = 2 };
    struct wf_fiber f[NF];
    pthread_t t[NT];
    for (int i = 0; i < NF; i++)
        f[i] = go(race_waiter, U2P(i + 1));
    for (int i = 0; i < NT; i++)
        t[i] = thread(race_thread, U2P(100 + i));
    uint64_t rng = wt_seed();
    for (long i = 0; i < rc_posts; i++) {
        WT_CHECK_EQ(wf_sem_post(&rc_s), 0);
        if (wt_rand(&rng) % 8 == 0)
            sched_yield();
    }
    for (int i = 0; i < NF; i++)
        join(f[i]);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    WT_CHECK_EQ(atomic_load(&rc_taken), rc_posts);
    WT_CHECK_EQ(wf_sem_value(&rc_s), 0);
    WT_CHECK_EQ(wf_sem_destroy(&rc_s), 0);
    shutdown_clean();
}

/* ---- wait group ------------------------------------------------------------------ */

static struct wf_waitgroup wg;
static atomic_int wg_finished;

static void *wg_worker(void *arg)
{
    (void)arg;
    wf_yield();
    atomic_fetch_add(&wg_finished, 1);
    WT_CHECK_EQ(wf_waitgroup_done(&wg), 0);
    return NULL;
}

static void *wg_thread_waiter(void *arg)
{
    (void)arg;
    int rc = wf_waitgroup_wait(&wg, WF_FOREVER);
    return U2P((uintptr_t)(rc == 0 ? atomic_load(&wg_finished) : -1));
}

WT_CASE(waitgroup)
{
    enum { N = 100 };
    init_rt(4);
    WT_CHECK_EQ(wf_waitgroup_init(&wg), 0);
    WT_CHECK_EQ(wf_waitgroup_add(&wg, N), 0);
    WT_CHECK_EQ(wf_waitgroup_wait(&wg, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);
    pthread_t t = thread(wg_thread_waiter, NULL);
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(wf_go(NULL, wg_worker, NULL), 0);
    WT_CHECK_EQ(wf_waitgroup_wait(&wg, WF_FOREVER), 0);
    WT_CHECK_EQ(atomic_load(&wg_finished), N);
    void *r;
    pthread_join(t, &r);
    WT_CHECK_EQ(P2U(r), N);
    WT_CHECK_EQ(wf_waitgroup_destroy(&wg), 0);
    shutdown_clean();
}

/* ---- barrier ----------------------------------------------------------------------- */

#define BR_PARTIES 8
#define BR_ROUNDS_MAX 2000
static struct wf_barrier br;
static long br_rounds;
static atomic_int br_arrived[BR_ROUNDS_MAX];
static atomic_int br_serial[BR_ROUNDS_MAX];

static void *br_party(void *arg)
{
    (void)arg;
    for (long r = 0; r < br_rounds; r++) {
        atomic_fetch_add(&br_arrived[r], 1);
        int rc = wf_barrier_wait(&br, WF_FOREVER);
        WT_CHECK(rc == 0 || rc == 1);
        /* all arrived before anyone leaves; the next round cannot have
         * completed without us */
        WT_CHECK_EQ(atomic_load(&br_arrived[r]), BR_PARTIES);
        if (r + 1 < br_rounds)
            WT_CHECK(atomic_load(&br_arrived[r + 1]) < BR_PARTIES);
        if (rc == 1)
            atomic_fetch_add(&br_serial[r], 1);
    }
    return NULL;
}

WT_CASE(barrier_rounds)
{
    printf("seed %" PRIu64 "\n", wt_seed());
    br_rounds = scaled(BR_ROUNDS_MAX);
    init_rt(4);
    WT_CHECK_EQ(wf_barrier_init(&br, BR_PARTIES), 0);
    /* six fibers and two plain threads */
    struct wf_fiber f[BR_PARTIES - 2];
    pthread_t t[2];
    for (int i = 0; i < BR_PARTIES - 2; i++)
        f[i] = go(br_party, NULL);
    for (int i = 0; i < 2; i++)
        t[i] = thread(br_party, NULL);
    for (int i = 0; i < BR_PARTIES - 2; i++)
        join(f[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (long r = 0; r < br_rounds; r++)
        if (atomic_load(&br_serial[r]) != 1)
            WT_FAIL("round %ld had %d serial participants", r,
                    atomic_load(&br_serial[r]));
    WT_CHECK_EQ(wf_barrier_destroy(&br), 0);
    shutdown_clean();
}

/* ---- once ---------------------------------------------------------------------------- */

static struct wf_once on = WF_ONCE_INIT;
static atomic_int on_runs, on_done;

static void on_fn(void)
{
    atomic_fetch_add(&on_runs, 1);
    wf_sleep(2 * WF_MSEC); /* let the others pile up (parks a fiber) */
    atomic_store(&on_done, 1);
}

static void *on_caller(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_once(&on, on_fn), 0);
    WT_CHECK_EQ(atomic_load(&on_done), 1); /* fn has finished */
    return NULL;
}

WT_CASE(once_runs_once)
{
    enum { NF = 16, NT = 2 };
    init_rt(4);
    struct wf_fiber f[NF];
    pthread_t t[NT];
    for (int i = 0; i < NF; i++)
        f[i] = go(on_caller, NULL);
    for (int i = 0; i < NT; i++)
        t[i] = thread(on_caller, NULL);
    for (int i = 0; i < NF; i++)
        join(f[i]);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    on_caller(NULL);
    WT_CHECK_EQ(atomic_load(&on_runs), 1);
    shutdown_clean();
}

/* ---- event ------------------------------------------------------------------------------- */

static struct wf_event ev;
static atomic_int ev_ready;

static void *ev_waiter(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ev_ready, 1);
    int rc = wf_event_wait(&ev, WF_FOREVER);
    return U2P((uintptr_t)(rc == 0 && wf_event_is_set(&ev) ? 1 : 2));
}

WT_CASE(event)
{
    enum { NF = 8 };
    init_rt(4);
    WT_CHECK_EQ(wf_event_init(&ev), 0);
    struct wf_fiber f[NF];
    for (int i = 0; i < NF; i++)
        f[i] = go(ev_waiter, NULL);
    pthread_t t = thread(ev_waiter, NULL);
    while (atomic_load(&ev_ready) < NF + 1)
        nap_ms(1);
    nap_ms(5);
    WT_CHECK(!wf_event_is_set(&ev));
    WT_CHECK_EQ(wf_event_set(&ev), 0);
    for (int i = 0; i < NF; i++)
        WT_CHECK_EQ(P2U(join(f[i])), 1);
    void *r;
    pthread_join(t, &r);
    WT_CHECK_EQ(P2U(r), 1);
    WT_CHECK_EQ(P2U(ev_waiter(NULL)), 1); /* set: returns at once */
    WT_CHECK_EQ(wf_event_destroy(&ev), 0);
    shutdown_clean();
}

/* ---- cancellation in each primitive ------------------------------------------------------- */

enum { CK_MUTEX, CK_COND, CK_SEM, CK_WG, CK_BARRIER, CK_ONCE, CK_EVENT,
       CK_RDLOCK, CK_WRLOCK };

static struct wf_mutex ck_m;
static struct wf_cond ck_c;
static struct wf_sem ck_s;
static struct wf_waitgroup ck_wg;
static struct wf_barrier ck_b;
static struct wf_once ck_once = WF_ONCE_INIT;
static struct wf_event ck_e;
static struct wf_rwlock ck_rw;
static atomic_int ck_ready, ck_release;

static void ck_once_fn(void)
{
    atomic_store(&ck_ready, 1);
    fiber_wait(&ck_release, 1);
}

static void *ck_once_runner(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_once(&ck_once, ck_once_fn), 0);
    return NULL;
}

static void *ck_victim(void *arg)
{
    int kind = (int)P2U(arg);
    int rc = 0;
    atomic_store(&ck_ready, 2);
    switch (kind) {
    case CK_MUTEX:
        rc = wf_mutex_lock(&ck_m, WF_FOREVER);
        break;
    case CK_COND:
        WT_CHECK_EQ(wf_mutex_lock(&ck_m, WF_FOREVER), 0);
        rc = wf_cond_wait(&ck_c, &ck_m, WF_FOREVER);
        WT_CHECK_EQ(wf_mutex_unlock(&ck_m), 0); /* held again */
        break;
    case CK_SEM:
        rc = wf_sem_wait(&ck_s, WF_FOREVER);
        break;
    case CK_WG:
        rc = wf_waitgroup_wait(&ck_wg, WF_FOREVER);
        break;
    case CK_BARRIER:
        rc = wf_barrier_wait(&ck_b, WF_FOREVER);
        break;
    case CK_ONCE:
        rc = wf_once(&ck_once, ck_once_fn);
        break;
    case CK_EVENT:
        rc = wf_event_wait(&ck_e, WF_FOREVER);
        break;
    case CK_RDLOCK:
        rc = wf_rwlock_rdlock(&ck_rw, WF_FOREVER);
        break;
    case CK_WRLOCK:
        rc = wf_rwlock_wrlock(&ck_rw, WF_FOREVER);
        break;
    }
    return U2P((uintptr_t)-rc);
}

static void *ck_pair(void *arg)
{
    (void)arg;
    return U2P((uintptr_t)wf_barrier_wait(&ck_b, WF_FOREVER));
}

static void *cancel_main(void *arg)
{
    int kind = (int)P2U(arg);
    WT_CHECK_EQ(wf_mutex_init(&ck_m), 0);
    WT_CHECK_EQ(wf_cond_init(&ck_c), 0);
    WT_CHECK_EQ(wf_sem_init(&ck_s, 0), 0);
    WT_CHECK_EQ(wf_waitgroup_init(&ck_wg), 0);
    WT_CHECK_EQ(wf_waitgroup_add(&ck_wg, 1), 0);
    WT_CHECK_EQ(wf_barrier_init(&ck_b, 2), 0);
    WT_CHECK_EQ(wf_event_init(&ck_e), 0);
    WT_CHECK_EQ(wf_rwlock_init(&ck_rw), 0);
    struct wf_fiber runner = {0};
    if (kind == CK_MUTEX)
        WT_CHECK_EQ(wf_mutex_lock(&ck_m, WF_FOREVER), 0);
    if (kind == CK_RDLOCK)
        WT_CHECK_EQ(wf_rwlock_wrlock(&ck_rw, WF_FOREVER), 0);
    if (kind == CK_WRLOCK)
        WT_CHECK_EQ(wf_rwlock_rdlock(&ck_rw, WF_FOREVER), 0);
    if (kind == CK_ONCE) {
        runner = go(ck_once_runner, NULL);
        fiber_wait(&ck_ready, 1);
    }
    struct wf_fiber v = go(ck_victim, U2P(kind));
    fiber_wait(&ck_ready, 2);
    wf_sleep(5 * WF_MSEC); /* most likely blocked by now; either way works */
    WT_CHECK_EQ(wf_cancel(v), 0);
    WT_CHECK_EQ(-(long)P2U(join(v)), WF_ECANCELED);
    switch (kind) {
    case CK_MUTEX:
        WT_CHECK_EQ(wf_mutex_unlock(&ck_m), 0);
        break;
    case CK_RDLOCK:
    case CK_WRLOCK:
        WT_CHECK_EQ(wf_rwlock_unlock(&ck_rw), 0);
        break;
    case CK_BARRIER: {
        /* the cancelled arrival was withdrawn: a fresh pair completes */
        struct wf_fiber p = go(ck_pair, NULL);
        int me = wf_barrier_wait(&ck_b, WF_FOREVER);
        int other = (int)P2U(join(p));
        WT_CHECK_EQ(me + other, 1);
        break;
    }
    case CK_ONCE:
        atomic_store(&ck_release, 1);
        join(runner);
        break;
    default:
        break;
    }
    /* nobody is left waiting on any of them */
    WT_CHECK_EQ(wf_mutex_destroy(&ck_m), 0);
    WT_CHECK_EQ(wf_cond_destroy(&ck_c), 0);
    WT_CHECK_EQ(wf_sem_destroy(&ck_s), 0);
    WT_CHECK_EQ(wf_waitgroup_done(&ck_wg), 0);
    WT_CHECK_EQ(wf_waitgroup_destroy(&ck_wg), 0);
    WT_CHECK_EQ(wf_barrier_destroy(&ck_b), 0);
    WT_CHECK_EQ(wf_event_destroy(&ck_e), 0);
    WT_CHECK_EQ(wf_rwlock_destroy(&ck_rw), 0);
    return NULL;
}

WT_CASE(cancel_mutex)
{
    run_main(2, cancel_main, U2P(CK_MUTEX));
}

WT_CASE(cancel_cond)
{
    run_main(2, cancel_main, U2P(CK_COND));
}

WT_CASE(cancel_sem)
{
    run_main(2, cancel_main, U2P(CK_SEM));
}

WT_CASE(cancel_waitgroup)
{
    run_main(2, cancel_main, U2P(CK_WG));
}

WT_CASE(cancel_barrier)
{
    run_main(2, cancel_main, U2P(CK_BARRIER));
}

WT_CASE(cancel_once)
{
    run_main(2, cancel_main, U2P(CK_ONCE));
}

WT_CASE(cancel_event)
{
    run_main(2, cancel_main, U2P(CK_EVENT));
}

WT_CASE(cancel_rwlock_read)
{
    run_main(2, cancel_main, U2P(CK_RDLOCK));
}

WT_CASE(cancel_rwlock_write)
{
    run_main(2, cancel_main, U2P(CK_WRLOCK));
}

/* ---- reader-writer lock ------------------------------------------------------------------ */

static struct wf_rwlock rw;
static long rw_a, rw_b; /* equal whenever no writer holds rw */
static atomic_int rw_readers_in, rw_writers_in;
static long rw_iters;

static void *rw_reader(void *arg)
{
    (void)arg;
    for (long i = 0; i < rw_iters; i++) {
        WT_CHECK_EQ(wf_rwlock_rdlock(&rw, WF_FOREVER), 0);
        atomic_fetch_add(&rw_readers_in, 1);
        WT_CHECK_EQ(atomic_load(&rw_writers_in), 0);
        long a = rw_a;
        wf_yield();
        WT_CHECK_EQ(rw_b, a);
        atomic_fetch_sub(&rw_readers_in, 1);
        WT_CHECK_EQ(wf_rwlock_unlock(&rw), 0);
    }
    return NULL;
}

static void *rw_writer(void *arg)
{
    (void)arg;
    for (long i = 0; i < rw_iters; i++) {
        WT_CHECK_EQ(wf_rwlock_wrlock(&rw, WF_FOREVER), 0);
        WT_CHECK_EQ(atomic_fetch_add(&rw_writers_in, 1), 0);
        WT_CHECK_EQ(atomic_load(&rw_readers_in), 0);
        rw_a++;
        wf_yield();
        rw_b++;
        atomic_fetch_sub(&rw_writers_in, 1);
        WT_CHECK_EQ(wf_rwlock_unlock(&rw), 0);
    }
    return NULL;
}

static void *rw_thread_reader(void *arg)
{
    (void)arg;
    for (long i = 0; i < rw_iters; i++) {
        WT_CHECK_EQ(wf_rwlock_rdlock(&rw, WF_FOREVER), 0);
        WT_CHECK_EQ(atomic_load(&rw_writers_in), 0);
        WT_CHECK_EQ(rw_b, rw_a);
        WT_CHECK_EQ(wf_rwlock_unlock(&rw), 0);
    }
    return NULL;
}

WT_CASE(rwlock_readers_writers)
{
    printf("seed %" PRIu64 "\n", wt_seed());
    enum { NR = 12, NW = 4 };
    rw_iters = scaled(1000);
    WT_CHECK_EQ(wf_rwlock_init(&rw), 0);
    init_rt(4);
    struct wf_fiber f[NR + NW];
    for (int i = 0; i < NR; i++)
        f[i] = go(rw_reader, NULL);
    for (int i = 0; i < NW; i++)
        f[NR + i] = go(rw_writer, NULL);
    pthread_t t = thread(rw_thread_reader, NULL);
    for (int i = 0; i < NR + NW; i++)
        join(f[i]);
    pthread_join(t, NULL);
    WT_CHECK_EQ(rw_a, NW * rw_iters);
    WT_CHECK_EQ(rw_b, NW * rw_iters);
    WT_CHECK_EQ(wf_rwlock_destroy(&rw), 0);
    shutdown_clean();
}

/* Readers that keep the lock read-held without pause cannot keep a
 * writer out: new readers queue behind it (a starved writer would hang
 * here until the ctest timeout). */
static atomic_int rs_stop, rs_started;

static void *rs_reader(void *arg)
{
    (void)arg;
    atomic_fetch_add(&rs_started, 1);
    while (!atomic_load(&rs_stop)) {
        WT_CHECK_EQ(wf_rwlock_rdlock(&rw, WF_FOREVER), 0);
        wf_yield(); /* overlap with the next reader */
        WT_CHECK_EQ(wf_rwlock_unlock(&rw), 0);
    }
    return NULL;
}

static void *rs_main(void *arg)
{
    (void)arg;
    enum { NR = 8 };
    WT_CHECK_EQ(wf_rwlock_init(&rw), 0);
    struct wf_fiber f[NR];
    for (int i = 0; i < NR; i++)
        f[i] = go(rs_reader, NULL);
    fiber_wait(&rs_started, NR);
    for (int k = 0; k < 10; k++) {
        WT_CHECK_EQ(wf_rwlock_wrlock(&rw, WF_FOREVER), 0);
        WT_CHECK_EQ(wf_rwlock_tryrdlock(&rw), WF_EBUSY);
        WT_CHECK_EQ(wf_rwlock_unlock(&rw), 0);
    }
    atomic_store(&rs_stop, 1);
    for (int i = 0; i < NR; i++)
        join(f[i]);
    WT_CHECK_EQ(wf_rwlock_destroy(&rw), 0);
    return NULL;
}

WT_CASE(rwlock_writer_not_starved)
{
    run_main(4, rs_main, NULL);
}

/* A queued writer holds new readers back; when it gives up (cancelled)
 * they are admitted. Misuse errors. */
static atomic_int rg_step;

static void *rg_reader(void *arg)
{
    (void)arg;
    atomic_store(&rg_step, 1);
    int rc = wf_rwlock_rdlock(&rw, WF_FOREVER);
    if (rc == 0)
        rc = wf_rwlock_unlock(&rw);
    return U2P((uintptr_t)-rc);
}

static void *rg_writer(void *arg)
{
    (void)arg;
    return U2P((uintptr_t)-wf_rwlock_wrlock(&rw, WF_FOREVER));
}

static void *rw_other_unlock(void *arg)
{
    (void)arg;
    return U2P((uintptr_t)-wf_rwlock_unlock(&rw));
}

static void *rg_main(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_rwlock_init(&rw), 0);
    WT_CHECK_EQ(wf_rwlock_unlock(&rw), WF_EPERM);
    WT_CHECK_EQ(wf_rwlock_wrlock(&rw, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_rwlock_wrlock(&rw, WF_FOREVER), WF_EDEADLK);
    WT_CHECK_EQ(wf_rwlock_rdlock(&rw, WF_FOREVER), WF_EDEADLK);
    WT_CHECK_EQ(wf_rwlock_trywrlock(&rw), WF_EBUSY);
    WT_CHECK_EQ(-(long)P2U(join(go(rw_other_unlock, NULL))), WF_EPERM);
    WT_CHECK_EQ(wf_rwlock_destroy(&rw), WF_EBUSY);
    WT_CHECK_EQ(wf_rwlock_unlock(&rw), 0);

    WT_CHECK_EQ(wf_rwlock_rdlock(&rw, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_rwlock_tryrdlock(&rw), 0); /* readers share */
    WT_CHECK_EQ(wf_rwlock_trywrlock(&rw), WF_EBUSY);
    WT_CHECK_EQ(wf_rwlock_unlock(&rw), 0);
    int64_t deadline = wf_deadline_in(2 * WF_MSEC);
    WT_CHECK_EQ(wf_rwlock_wrlock(&rw, deadline), WF_ETIMEDOUT);
    WT_CHECK(wf_now() >= deadline);
    /* a writer queues behind our read lock; a reader queues behind it */
    struct wf_fiber w = go(rg_writer, NULL);
    wf_sleep(5 * WF_MSEC);
    struct wf_fiber r = go(rg_reader, NULL);
    fiber_wait(&rg_step, 1);
    wf_sleep(5 * WF_MSEC);
    WT_CHECK_EQ(wf_cancel(w), 0);
    int wrc = -(int)P2U(join(w));
    WT_CHECK_EQ(wrc, WF_ECANCELED); /* we held the read lock throughout */
    WT_CHECK_EQ(P2U(join(r)), 0); /* admitted although we still read */
    WT_CHECK_EQ(wf_rwlock_unlock(&rw), 0);
    WT_CHECK_EQ(wf_rwlock_unlock(&rw), WF_EPERM);
    WT_CHECK_EQ(wf_rwlock_destroy(&rw), 0);
    return NULL;
}

WT_CASE(rwlock_giveup_admits_readers)
{
    run_main(2, rg_main, NULL);
}

/* ---- dining philosophers --------------------------------------------------------------------- */

#define PHIL 5
static struct wf_mutex forks[PHIL];
static struct wf_sem butler; /* at most PHIL - 1 seated: no cycle */
static atomic_int meals[PHIL];
static long phil_meals;

static void *philosopher(void *arg)
{
    int i = (int)P2U(arg);
    struct wf_mutex *left = &forks[i], *right = &forks[(i + 1) % PHIL];
    for (long k = 0; k < phil_meals; k++) {
        WT_CHECK_EQ(wf_sem_wait(&butler, WF_FOREVER), 0);
        WT_CHECK_EQ(wf_mutex_lock(left, WF_FOREVER), 0);
        wf_yield(); /* invite the others to grab forks */
        WT_CHECK_EQ(wf_mutex_lock(right, WF_FOREVER), 0);
        atomic_fetch_add(&meals[i], 1);
        WT_CHECK_EQ(wf_mutex_unlock(right), 0);
        WT_CHECK_EQ(wf_mutex_unlock(left), 0);
        WT_CHECK_EQ(wf_sem_post(&butler), 0);
        wf_yield();
    }
    return NULL;
}

static void *phil_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < PHIL; i++)
        WT_CHECK_EQ(wf_mutex_init(&forks[i]), 0);
    WT_CHECK_EQ(wf_sem_init(&butler, PHIL - 1), 0);
    struct wf_fiber f[PHIL];
    for (int i = 0; i < PHIL; i++)
        f[i] = go(philosopher, U2P(i));
    for (int i = 0; i < PHIL; i++)
        join(f[i]);
    for (int i = 0; i < PHIL; i++) {
        WT_CHECK_EQ(atomic_load(&meals[i]), phil_meals);
        WT_CHECK_EQ(wf_mutex_destroy(&forks[i]), 0);
    }
    WT_CHECK_EQ(wf_sem_value(&butler), PHIL - 1);
    WT_CHECK_EQ(wf_sem_destroy(&butler), 0);
    return NULL;
}

WT_CASE(dining_philosophers)
{
    printf("seed %" PRIu64 "\n", wt_seed());
    phil_meals = scaled(2000);
    run_main(4, phil_main, NULL);
}

/* ---- bounded buffer ------------------------------------------------------------------------ */

/* The textbook producer/consumer on a ring of 8 slots guarded by two
 * counting semaphores (free slots, filled slots) and a mutex: producers
 * (fibers and a plain thread) put items, consumers take them. Every item
 * is taken exactly once and the ring never holds more than its size. */
#define BB_SLOTS 8
#define BB_PRODUCERS 4
#define BB_CONSUMERS 3
static struct {
    struct wf_sem free_slots, filled;
    struct wf_mutex m;
    long ring[BB_SLOTS];
    int head, count; /* m */
    long per_producer;
    atomic_uchar *seen;
    atomic_long taken;
} bb;

static void *bb_producer(void *arg)
{
    long id = (long)P2U(arg);
    for (long i = 0; i < bb.per_producer; i++) {
        WT_CHECK_EQ(wf_sem_wait(&bb.free_slots, WF_FOREVER), 0);
        WT_CHECK_EQ(wf_mutex_lock(&bb.m, WF_FOREVER), 0);
        WT_CHECK(bb.count < BB_SLOTS);
        bb.ring[(bb.head + bb.count) % BB_SLOTS] = id * bb.per_producer + i;
        bb.count++;
        WT_CHECK_EQ(wf_mutex_unlock(&bb.m), 0);
        WT_CHECK_EQ(wf_sem_post(&bb.filled), 0);
    }
    return NULL;
}

static void *bb_consumer(void *arg)
{
    long quota = (long)P2U(arg);
    for (long i = 0; i < quota; i++) {
        WT_CHECK_EQ(wf_sem_wait(&bb.filled, WF_FOREVER), 0);
        WT_CHECK_EQ(wf_mutex_lock(&bb.m, WF_FOREVER), 0);
        WT_CHECK(bb.count > 0);
        long v = bb.ring[bb.head];
        bb.head = (bb.head + 1) % BB_SLOTS;
        bb.count--;
        WT_CHECK_EQ(wf_mutex_unlock(&bb.m), 0);
        WT_CHECK_EQ(wf_sem_post(&bb.free_slots), 0);
        WT_CHECK(v >= 0 && v < BB_PRODUCERS * bb.per_producer);
        WT_CHECK_EQ(atomic_exchange(&bb.seen[v], 1), 0);
        atomic_fetch_add(&bb.taken, 1);
    }
    return NULL;
}

WT_CASE(bounded_buffer)
{
    bb.per_producer = scaled(30000);
    long total = BB_PRODUCERS * bb.per_producer;
    bb.seen = calloc((size_t)total, 1);
    WT_CHECK(bb.seen != NULL);
    WT_CHECK_EQ(wf_sem_init(&bb.free_slots, BB_SLOTS), 0);
    WT_CHECK_EQ(wf_sem_init(&bb.filled, 0), 0);
    WT_CHECK_EQ(wf_mutex_init(&bb.m), 0);
    init_rt(4);
    pthread_t pt = thread(bb_producer, U2P(0));
    struct wf_fiber p[BB_PRODUCERS], c[BB_CONSUMERS];
    for (int i = 1; i < BB_PRODUCERS; i++)
        p[i] = go(bb_producer, U2P(i));
    long share = total / BB_CONSUMERS;
    for (int i = 0; i < BB_CONSUMERS; i++)
        c[i] = go(bb_consumer,
                  U2P(i == BB_CONSUMERS - 1 ? total - share * (BB_CONSUMERS - 1) : share));
    pthread_join(pt, NULL);
    for (int i = 1; i < BB_PRODUCERS; i++)
        join(p[i]);
    for (int i = 0; i < BB_CONSUMERS; i++)
        join(c[i]);
    shutdown_clean();
    WT_CHECK_EQ(atomic_load(&bb.taken), total);
    WT_CHECK_EQ(bb.count, 0);
    WT_CHECK_EQ(wf_sem_value(&bb.free_slots), BB_SLOTS);
    for (long i = 0; i < total; i++)
        WT_CHECK_EQ(atomic_load(&bb.seen[i]), 1);
    free(bb.seen);
    WT_CHECK_EQ(wf_sem_destroy(&bb.free_slots), 0);
    WT_CHECK_EQ(wf_sem_destroy(&bb.filled), 0);
    WT_CHECK_EQ(wf_mutex_destroy(&bb.m), 0);
}

/* ---- sleeping barber ----------------------------------------------------------------------- */

/* Dijkstra's sleeping barber: one barber, a waiting room of 3 chairs,
 * customer fibers arriving in bursts. A customer who finds every chair
 * taken leaves. Checked: every customer is either served or turned away,
 * the barber cuts only when a customer sits in his chair, the waiting
 * room never holds more than its chairs, and each served customer was
 * served exactly once. */
#define BARBER_CHAIRS 3
static struct {
    struct wf_sem customers;   /* customers waiting: the barber sleeps on it */
    struct wf_sem barber_free; /* the barber calls the next customer */
    struct wf_sem cut_done;    /* the haircut is over */
    struct wf_mutex m;
    int waiting;               /* m */
    int in_chair;              /* id of the customer in the chair, or -1; m */
    long served, turned_away;  /* m */
    atomic_uchar *done;
    long ncust;
} bar;

static void *barber(void *arg)
{
    (void)arg;
    for (;;) {
        WT_CHECK_EQ(wf_sem_wait(&bar.customers, WF_FOREVER), 0);
        WT_CHECK_EQ(wf_mutex_lock(&bar.m, WF_FOREVER), 0);
        if (bar.served + bar.turned_away == bar.ncust && bar.waiting == 0) {
            WT_CHECK_EQ(wf_mutex_unlock(&bar.m), 0);
            return NULL; /* the closing post */
        }
        WT_CHECK(bar.waiting > 0);
        bar.waiting--;
        WT_CHECK_EQ(wf_mutex_unlock(&bar.m), 0);
        WT_CHECK_EQ(wf_sem_post(&bar.barber_free), 0);
        /* cut: the customer sits down before signalling cut_done's turn */
        WT_CHECK_EQ(wf_sem_wait(&bar.cut_done, WF_FOREVER), 0);
    }
}

static void *customer(void *arg)
{
    long id = (long)P2U(arg);
    WT_CHECK_EQ(wf_mutex_lock(&bar.m, WF_FOREVER), 0);
    if (bar.waiting == BARBER_CHAIRS) {
        bar.turned_away++;
        bool last = bar.served + bar.turned_away == bar.ncust;
        WT_CHECK_EQ(wf_mutex_unlock(&bar.m), 0);
        if (last)
            WT_CHECK_EQ(wf_sem_post(&bar.customers), 0);
        return NULL;
    }
    bar.waiting++;
    WT_CHECK(bar.waiting <= BARBER_CHAIRS);
    WT_CHECK_EQ(wf_mutex_unlock(&bar.m), 0);
    WT_CHECK_EQ(wf_sem_post(&bar.customers), 0);
    WT_CHECK_EQ(wf_sem_wait(&bar.barber_free, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_mutex_lock(&bar.m, WF_FOREVER), 0);
    WT_CHECK_EQ(bar.in_chair, -1);
    bar.in_chair = (int)id;
    WT_CHECK_EQ(atomic_exchange(&bar.done[id], 1), 0);
    bar.in_chair = -1;
    bar.served++;
    bool last = bar.served + bar.turned_away == bar.ncust;
    WT_CHECK_EQ(wf_mutex_unlock(&bar.m), 0);
    WT_CHECK_EQ(wf_sem_post(&bar.cut_done), 0);
    if (last)
        WT_CHECK_EQ(wf_sem_post(&bar.customers), 0);
    return NULL;
}

static void *barber_main(void *arg)
{
    (void)arg;
    struct wf_fiber b = go(barber, NULL);
    struct wf_fiber *cs = calloc((size_t)bar.ncust, sizeof *cs);
    WT_CHECK(cs != NULL);
    for (long i = 0; i < bar.ncust; i++) {
        cs[i] = go(customer, U2P(i));
        if (i % 7 == 6)
            wf_sleep(10 * WF_USEC); /* bursts, then a lull */
    }
    for (long i = 0; i < bar.ncust; i++)
        join(cs[i]);
    join(b);
    free(cs);
    return NULL;
}

WT_CASE(sleeping_barber)
{
    bar.ncust = scaled(5000);
    bar.done = calloc((size_t)bar.ncust, 1);
    WT_CHECK(bar.done != NULL);
    bar.in_chair = -1;
    WT_CHECK_EQ(wf_sem_init(&bar.customers, 0), 0);
    WT_CHECK_EQ(wf_sem_init(&bar.barber_free, 0), 0);
    WT_CHECK_EQ(wf_sem_init(&bar.cut_done, 0), 0);
    WT_CHECK_EQ(wf_mutex_init(&bar.m), 0);
    run_main(4, barber_main, NULL);
    WT_CHECK_EQ(bar.served + bar.turned_away, bar.ncust);
    WT_CHECK(bar.served > 0);
    WT_CHECK_EQ(bar.waiting, 0);
    long served = 0;
    for (long i = 0; i < bar.ncust; i++)
        served += atomic_load(&bar.done[i]);
    WT_CHECK_EQ(served, bar.served);
    printf("sleeping_barber: %ld served, %ld turned away\n", bar.served,
           bar.turned_away);
    free(bar.done);
}

WT_MAIN()
