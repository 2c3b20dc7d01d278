/* SPDX-License-Identifier: MIT */
/*
 * Every wait in weft leaves a fiber's park permit as it found it.
 *
 * The permit belongs to wf_park/wf_unpark. A blocking call that parked on
 * it internally could swallow a pending wf_unpark (the user's next wf_park
 * then sleeps for ever), and a call that "gave the permit back" after a
 * wake-up fakes one that nobody sent. Each case here runs one blocking
 * call twice from a fiber: once with a permit pending (wf_unpark(self)
 * first), once without; the call really waits (its counterpart comes a
 * few milliseconds later from the driver fiber, or its deadline passes),
 * and afterwards wf_park with a passed deadline must find exactly the
 * permit that was there before: 0 if one was pending, WF_ETIMEDOUT if not.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

#include "wtest_fiber.h"

#define NAP (5 * WF_MSEC)

struct ctx {
    struct wf_mutex m;
    struct wf_cond cv;
    struct wf_rwlock rw;
    struct wf_sem sem;
    struct wf_waitgroup wg;
    struct wf_barrier bar;
    struct wf_event ev;
    struct wf_chan *c, *c2;
    struct wf_scope *scope;
    struct wf_promise *p;
    struct wf_future *f;
    struct wf_fiber other;
    atomic_int flag;
    int fds[2];
    int lfd;
    char path[64];
};

struct op {
    void (*setup)(struct ctx *);
    int (*wait)(struct ctx *); /* in the tested fiber: the blocking call */
    int expect;                /* what it must return */
    void (*wake)(struct ctx *); /* in the driver, after a nap; may be NULL */
    void (*teardown)(struct ctx *);
};

struct trial {
    const struct op *op;
    struct ctx *ctx;
    bool pending;
    int rc, first, second;
};

static void *tested(void *arg)
{
    struct trial *t = arg;
    if (t->pending)
        WT_CHECK_EQ(wf_unpark(wf_self()), 0);
    t->rc = t->op->wait(t->ctx);
    /* A passed deadline: wf_park returns 0 only by taking a permit. */
    t->first = wf_park(wf_now());
    t->second = wf_park(wf_now());
    return NULL;
}

static void run_trial(const struct op *op, bool pending)
{
    struct ctx *ctx = calloc(1, sizeof *ctx);
    WT_CHECK(ctx);
    struct trial t = {op, ctx, pending, 0, 0, 0};
    if (op->setup)
        op->setup(ctx);
    struct wf_fiber f = go(tested, &t);
    WT_CHECK_EQ(wf_sleep(NAP), 0);
    if (op->wake)
        op->wake(ctx);
    join(f);
    if (op->teardown)
        op->teardown(ctx);
    free(ctx);
    WT_CHECK_EQ(t.rc, op->expect);
    if (pending && t.first != 0)
        WT_FAIL("a pending wf_unpark was consumed (wf_park: %d)", t.first);
    if (!pending && t.first != WF_ETIMEDOUT)
        WT_FAIL("a permit nobody sent was faked (wf_park: %d)", t.first);
    WT_CHECK_EQ(t.second, WF_ETIMEDOUT);
}

static void *driver(void *arg)
{
    const struct op *op = arg;
    run_trial(op, true);
    run_trial(op, false);
    return NULL;
}

static void check(const struct op *op)
{
    run_main(2, driver, (void *)op);
}

static int64_t soon(void)
{
    return wf_deadline_in(NAP);
}

/* ---- fibers, scopes ------------------------------------------------------- */

static void *until_flag(void *arg)
{
    struct ctx *c = arg;
    while (!atomic_load(&c->flag))
        wf_sleep(WF_MSEC);
    return NULL;
}

static void set_flag(struct ctx *c)
{
    atomic_store(&c->flag, 1);
}

static void setup_other(struct ctx *c)
{
    c->other = go(until_flag, c);
}

static int wait_join(struct ctx *c)
{
    return wf_join(c->other, NULL, WF_FOREVER);
}

WT_CASE(join)
{
    static const struct op op = {setup_other, wait_join, 0, set_flag, NULL};
    check(&op);
}

static int wait_join_deadline(struct ctx *c)
{
    return wf_join(c->other, NULL, soon());
}

static void finish_other(struct ctx *c)
{
    set_flag(c);
    join(c->other);
}

WT_CASE(join_deadline)
{
    static const struct op op = {setup_other, wait_join_deadline,
                                 WF_ETIMEDOUT, NULL, finish_other};
    check(&op);
}

static int wait_sleep(struct ctx *c)
{
    (void)c;
    return wf_sleep(NAP);
}

WT_CASE(sleep)
{
    static const struct op op = {NULL, wait_sleep, 0, NULL, NULL};
    check(&op);
}

static void setup_scope(struct ctx *c)
{
    WT_CHECK_EQ(wf_scope_open(&c->scope), 0);
    WT_CHECK_EQ(wf_scope_go(c->scope, NULL, until_flag, c), 0);
}

static int wait_scope(struct ctx *c)
{
    return wf_scope_wait(c->scope, WF_FOREVER);
}

static void close_scope(struct ctx *c)
{
    set_flag(c);
    WT_CHECK(wf_scope_close(c->scope) >= 0);
}

WT_CASE(scope_wait)
{
    static const struct op op = {setup_scope, wait_scope, 0, set_flag,
                                 close_scope};
    check(&op);
}

static int wait_scope_deadline(struct ctx *c)
{
    return wf_scope_wait(c->scope, soon());
}

WT_CASE(scope_wait_deadline)
{
    static const struct op op = {setup_scope, wait_scope_deadline,
                                 WF_ETIMEDOUT, NULL, close_scope};
    check(&op);
}

/* A member that ignores cancellation, so that closing really waits. */
static void *until_flag_uncancellable(void *arg)
{
    struct ctx *c = arg;
    while (!atomic_load(&c->flag))
        wf_yield();
    return NULL;
}

static void setup_scope_close(struct ctx *c)
{
    WT_CHECK_EQ(wf_scope_open(&c->scope), 0);
    WT_CHECK_EQ(wf_scope_go(c->scope, NULL, until_flag_uncancellable, c), 0);
}

static int wait_scope_close(struct ctx *c)
{
    return wf_scope_close(c->scope);
}

WT_CASE(scope_close)
{
    static const struct op op = {setup_scope_close, wait_scope_close, 1,
                                 set_flag, NULL};
    check(&op);
}

/* ---- sync ------------------------------------------------------------------- */

static void setup_mutex(struct ctx *c)
{
    WT_CHECK_EQ(wf_mutex_init(&c->m), 0);
    WT_CHECK_EQ(wf_mutex_lock(&c->m, WF_FOREVER), 0);
}

static int wait_mutex(struct ctx *c)
{
    int rc = wf_mutex_lock(&c->m, WF_FOREVER);
    if (rc == 0)
        WT_CHECK_EQ(wf_mutex_unlock(&c->m), 0);
    return rc;
}

static void unlock_mutex(struct ctx *c)
{
    WT_CHECK_EQ(wf_mutex_unlock(&c->m), 0);
}

WT_CASE(mutex)
{
    static const struct op op = {setup_mutex, wait_mutex, 0, unlock_mutex,
                                 NULL};
    check(&op);
}

static int wait_mutex_deadline(struct ctx *c)
{
    return wf_mutex_lock(&c->m, soon());
}

WT_CASE(mutex_deadline)
{
    static const struct op op = {setup_mutex, wait_mutex_deadline,
                                 WF_ETIMEDOUT, NULL, unlock_mutex};
    check(&op);
}

static void setup_cond(struct ctx *c)
{
    WT_CHECK_EQ(wf_mutex_init(&c->m), 0);
    WT_CHECK_EQ(wf_cond_init(&c->cv), 0);
}

static int wait_cond(struct ctx *c)
{
    int rc = 0;
    WT_CHECK_EQ(wf_mutex_lock(&c->m, WF_FOREVER), 0);
    while (rc == 0 && !atomic_load(&c->flag))
        rc = wf_cond_wait(&c->cv, &c->m, WF_FOREVER);
    WT_CHECK_EQ(wf_mutex_unlock(&c->m), 0);
    return rc;
}

static void signal_cond(struct ctx *c)
{
    WT_CHECK_EQ(wf_mutex_lock(&c->m, WF_FOREVER), 0);
    atomic_store(&c->flag, 1);
    WT_CHECK_EQ(wf_cond_signal(&c->cv), 0);
    WT_CHECK_EQ(wf_mutex_unlock(&c->m), 0);
}

WT_CASE(cond)
{
    static const struct op op = {setup_cond, wait_cond, 0, signal_cond, NULL};
    check(&op);
}

static void setup_rwlock(struct ctx *c)
{
    WT_CHECK_EQ(wf_rwlock_init(&c->rw), 0);
    WT_CHECK_EQ(wf_rwlock_wrlock(&c->rw, WF_FOREVER), 0);
}

static int wait_rdlock(struct ctx *c)
{
    int rc = wf_rwlock_rdlock(&c->rw, WF_FOREVER);
    if (rc == 0)
        WT_CHECK_EQ(wf_rwlock_unlock(&c->rw), 0);
    return rc;
}

static int wait_wrlock(struct ctx *c)
{
    int rc = wf_rwlock_wrlock(&c->rw, WF_FOREVER);
    if (rc == 0)
        WT_CHECK_EQ(wf_rwlock_unlock(&c->rw), 0);
    return rc;
}

static void unlock_rwlock(struct ctx *c)
{
    WT_CHECK_EQ(wf_rwlock_unlock(&c->rw), 0);
}

WT_CASE(rwlock)
{
    static const struct op rd = {setup_rwlock, wait_rdlock, 0, unlock_rwlock,
                                 NULL};
    static const struct op wr = {setup_rwlock, wait_wrlock, 0, unlock_rwlock,
                                 NULL};
    check(&rd);
    check(&wr);
}

static void setup_sem(struct ctx *c)
{
    WT_CHECK_EQ(wf_sem_init(&c->sem, 0), 0);
}

static int wait_sem(struct ctx *c)
{
    return wf_sem_wait(&c->sem, WF_FOREVER);
}

static void post_sem(struct ctx *c)
{
    WT_CHECK_EQ(wf_sem_post(&c->sem), 0);
}

WT_CASE(sem)
{
    static const struct op op = {setup_sem, wait_sem, 0, post_sem, NULL};
    check(&op);
}

static int wait_sem_deadline(struct ctx *c)
{
    return wf_sem_wait(&c->sem, soon());
}

WT_CASE(sem_deadline)
{
    static const struct op op = {setup_sem, wait_sem_deadline, WF_ETIMEDOUT,
                                 NULL, NULL};
    check(&op);
}

static void setup_wg(struct ctx *c)
{
    WT_CHECK_EQ(wf_waitgroup_init(&c->wg), 0);
    WT_CHECK_EQ(wf_waitgroup_add(&c->wg, 1), 0);
}

static int wait_wg(struct ctx *c)
{
    return wf_waitgroup_wait(&c->wg, WF_FOREVER);
}

static void done_wg(struct ctx *c)
{
    WT_CHECK_EQ(wf_waitgroup_done(&c->wg), 0);
}

WT_CASE(waitgroup)
{
    static const struct op op = {setup_wg, wait_wg, 0, done_wg, NULL};
    check(&op);
}

static void setup_barrier(struct ctx *c)
{
    WT_CHECK_EQ(wf_barrier_init(&c->bar, 2), 0);
}

static int wait_barrier(struct ctx *c)
{
    return wf_barrier_wait(&c->bar, WF_FOREVER);
}

static void arrive_barrier(struct ctx *c)
{
    WT_CHECK_EQ(wf_barrier_wait(&c->bar, WF_FOREVER), 1);
}

WT_CASE(barrier)
{
    static const struct op op = {setup_barrier, wait_barrier, 0,
                                 arrive_barrier, NULL};
    check(&op);
}

static void setup_event(struct ctx *c)
{
    WT_CHECK_EQ(wf_event_init(&c->ev), 0);
}

static int wait_event(struct ctx *c)
{
    return wf_event_wait(&c->ev, WF_FOREVER);
}

static void set_event(struct ctx *c)
{
    WT_CHECK_EQ(wf_event_set(&c->ev), 0);
}

WT_CASE(event)
{
    static const struct op op = {setup_event, wait_event, 0, set_event, NULL};
    check(&op);
}

/* wf_once: another fiber runs the function, which waits for the driver. */
static struct ctx *once_ctx;
static struct wf_once once_obj;
static atomic_int once_started;

static void once_fn(void)
{
    atomic_store(&once_started, 1);
    while (!atomic_load(&once_ctx->flag))
        wf_sleep(WF_MSEC);
}

static void *run_once(void *arg)
{
    (void)arg;
    WT_CHECK_EQ(wf_once(&once_obj, once_fn), 0);
    return NULL;
}

static void setup_once(struct ctx *c)
{
    once_ctx = c;
    memset(&once_obj, 0, sizeof once_obj);
    atomic_store(&once_started, 0);
    c->other = go(run_once, NULL);
    while (!atomic_load(&once_started))
        wf_sleep(WF_MSEC / 10);
}

static int wait_once(struct ctx *c)
{
    (void)c;
    return wf_once(&once_obj, once_fn);
}

WT_CASE(once)
{
    static const struct op op = {setup_once, wait_once, 0, set_flag,
                                 finish_other};
    check(&op);
}

/* ---- channels ------------------------------------------------------------------ */

static void setup_chan(struct ctx *c)
{
    WT_CHECK_EQ(wf_chan_create(&c->c, sizeof(int), 0), 0);
    WT_CHECK_EQ(wf_chan_create(&c->c2, sizeof(int), 0), 0);
}

static void release_chan(struct ctx *c)
{
    wf_chan_release(c->c);
    wf_chan_release(c->c2);
}

static int wait_recv(struct ctx *c)
{
    int v = 0;
    int rc = wf_chan_recv(c->c, &v, WF_FOREVER);
    WT_CHECK(rc != 0 || v == 42);
    return rc;
}

static void send_chan(struct ctx *c)
{
    int v = 42;
    WT_CHECK_EQ(wf_chan_send(c->c, &v, WF_FOREVER), 0);
}

WT_CASE(chan_recv)
{
    static const struct op op = {setup_chan, wait_recv, 0, send_chan,
                                 release_chan};
    check(&op);
}

static int wait_send(struct ctx *c)
{
    int v = 42;
    return wf_chan_send(c->c, &v, WF_FOREVER);
}

static void recv_chan(struct ctx *c)
{
    int v = 0;
    WT_CHECK_EQ(wf_chan_recv(c->c, &v, WF_FOREVER), 0);
    WT_CHECK_EQ(v, 42);
}

WT_CASE(chan_send)
{
    static const struct op op = {setup_chan, wait_send, 0, recv_chan,
                                 release_chan};
    check(&op);
}

static int wait_recv_deadline(struct ctx *c)
{
    int v;
    return wf_chan_recv(c->c, &v, soon());
}

WT_CASE(chan_deadline)
{
    static const struct op op = {setup_chan, wait_recv_deadline, WF_ETIMEDOUT,
                                 NULL, release_chan};
    check(&op);
}

static int wait_select(struct ctx *c)
{
    int a = 0, b = 0;
    struct wf_select_case cs[2] = {
        {.chan = c->c, .op = WF_CHAN_RECV, .elem = &a},
        {.chan = c->c2, .op = WF_CHAN_RECV, .elem = &b},
    };
    int rc = wf_select(cs, 2, WF_FOREVER);
    WT_CHECK_EQ(rc, 0);
    WT_CHECK_EQ(cs[0].result, 0);
    WT_CHECK_EQ(a, 42);
    return 0;
}

WT_CASE(select)
{
    static const struct op op = {setup_chan, wait_select, 0, send_chan,
                                 release_chan};
    check(&op);
}

/* ---- futures, the pool ------------------------------------------------------- */

static void setup_promise(struct ctx *c)
{
    WT_CHECK_EQ(wf_promise_create(&c->p, &c->f), 0);
}

static int wait_future(struct ctx *c)
{
    return wf_future_await(c->f, WF_FOREVER);
}

static void complete_promise(struct ctx *c)
{
    WT_CHECK_EQ(wf_promise_complete(c->p, NULL), 0);
}

static void release_future(struct ctx *c)
{
    wf_future_release(c->f);
}

WT_CASE(future)
{
    static const struct op op = {setup_promise, wait_future, 0,
                                 complete_promise, release_future};
    check(&op);
}

static int wait_future_deadline(struct ctx *c)
{
    return wf_future_await(c->f, soon());
}

static void settle_release(struct ctx *c)
{
    complete_promise(c);
    release_future(c);
}

WT_CASE(future_deadline)
{
    static const struct op op = {setup_promise, wait_future_deadline,
                                 WF_ETIMEDOUT, NULL, settle_release};
    check(&op);
}

static void *nap_fn(void *arg)
{
    (void)arg;
    usleep(NAP / 1000);
    return U2P(7);
}

static int wait_blocking(struct ctx *c)
{
    (void)c;
    struct wf_future *f;
    void *v = NULL;
    WT_CHECK_EQ(wf_blocking(&f, nap_fn, NULL), 0);
    int rc = wf_future_await(f, WF_FOREVER);
    WT_CHECK_EQ(wf_future_result(f, &v), 0);
    WT_CHECK_EQ(P2U(v), 7);
    wf_future_release(f);
    return rc;
}

WT_CASE(blocking)
{
    static const struct op op = {NULL, wait_blocking, 0, NULL, NULL};
    check(&op);
}

/* ---- parallel calls from a fiber -------------------------------------------- */

static void busy_task(void *arg)
{
    (void)arg;
    int64_t end = wf_now() + NAP;
    while (wf_now() < end) {
    }
}

static int wait_par_run(struct ctx *c)
{
    (void)c;
    return wf_par_run(busy_task, NULL);
}

WT_CASE(par_run)
{
    static const struct op op = {NULL, wait_par_run, 0, NULL, NULL};
    check(&op);
}

static void busy_body(long lo, long hi, void *ctx)
{
    (void)ctx;
    for (long i = lo; i < hi; i++)
        busy_task(NULL);
}

static int wait_parallel_for(struct ctx *c)
{
    (void)c;
    return wf_parallel_for(0, 2, 1, busy_body, NULL);
}

WT_CASE(parallel_for)
{
    static const struct op op = {NULL, wait_parallel_for, 0, NULL, NULL};
    check(&op);
}

static int wait_task_group(struct ctx *c)
{
    (void)c;
    struct wf_task_group g;
    struct wf_task t[2];
    WT_CHECK_EQ(wf_task_group_init(&g), 0);
    WT_CHECK_EQ(wf_task_group_fork(&g, &t[0], busy_task, NULL), 0);
    WT_CHECK_EQ(wf_task_group_fork(&g, &t[1], busy_task, NULL), 0);
    return wf_task_group_join(&g);
}

WT_CASE(task_group)
{
    static const struct op op = {NULL, wait_task_group, 0, NULL, NULL};
    check(&op);
}

/* ---- I/O ------------------------------------------------------------------------ */

static void setup_pair(struct ctx *c)
{
    WT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, c->fds), 0);
    WT_CHECK_EQ(wf_fd_register(c->fds[0]), 0);
}

static int wait_read(struct ctx *c)
{
    char b = 0;
    ssize_t n = wf_read(c->fds[0], &b, 1, WF_FOREVER);
    WT_CHECK(n < 0 || b == 'x');
    return n == 1 ? 0 : (int)n;
}

static void write_pair(struct ctx *c)
{
    WT_CHECK_EQ(write(c->fds[1], "x", 1), 1);
}

static void close_pair(struct ctx *c)
{
    WT_CHECK_EQ(wf_close(c->fds[0]), 0);
    close(c->fds[1]);
}

WT_CASE(read)
{
    static const struct op op = {setup_pair, wait_read, 0, write_pair,
                                 close_pair};
    check(&op);
}

static int wait_read_deadline(struct ctx *c)
{
    char b;
    return (int)wf_read(c->fds[0], &b, 1, soon());
}

WT_CASE(read_deadline)
{
    static const struct op op = {setup_pair, wait_read_deadline, WF_ETIMEDOUT,
                                 NULL, close_pair};
    check(&op);
}

static void setup_file(struct ctx *c)
{
    snprintf(c->path, sizeof c->path, "/tmp/weft-permit-%d", (int)getpid());
    int fd = open(c->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    WT_CHECK(fd >= 0);
    WT_CHECK_EQ(write(fd, "hello", 5), 5);
    close(fd);
}

static int wait_pread(struct ctx *c)
{
    char b[5];
    int fd = wf_file_open(c->path, O_RDONLY, 0);
    WT_CHECK(fd >= 0);
    ssize_t n = wf_pread(fd, b, sizeof b, 0);
    WT_CHECK_EQ(wf_close(fd), 0);
    return n == 5 ? 0 : (int)n;
}

static void remove_file(struct ctx *c)
{
    unlink(c->path);
}

WT_CASE(pread)
{
    static const struct op op = {setup_file, wait_pread, 0, NULL, remove_file};
    check(&op);
}

WT_MAIN()
