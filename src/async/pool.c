/* SPDX-License-Identifier: MIT */
/*
 * The blocking-call pool (wf_blocking, weft/future.h) and name resolution
 * through it (wf_getaddrinfo, weft/io.h).
 *
 * Design. One process-wide pool: a FIFO of jobs and a set of plain
 * threads, all under one mutex (`pool.lock`); idle threads wait on a
 * condvar. A submit queues the job and wakes an idle thread, or creates a
 * thread when none is idle and the pool is below its size, so threads
 * appear only under load and never beyond the size. Blocking calls are
 * slow by definition (a system call at least), so one mutex is not the
 * bottleneck; a lock-free queue would only move the cost to the wake-up.
 *
 * A thread runs fn outside the lock, then completes the job's promise,
 * which wakes the awaiting fiber through the waiter API (or runs then
 * callbacks on this thread). A thread above a lowered size leaves after
 * its current job; every thread is joined at shutdown (records of threads
 * that left are joined then too, so none is ever detached).
 *
 * Shutdown. wf__pool_shutdown (from wf_shutdown, runtime STOPPING, workers
 * still running) sets `stopping`: submits are refused from then on (they
 * also check the runtime state under the lock), threads drain the queue,
 * leave, and are joined. So no pool thread wakes a fiber once the workers
 * are gone, and every queued fn has run, as wf_blocking promises.
 *
 * Cancellation: fn always runs (documented). Internal jobs (getaddrinfo)
 * set `skip_cancelled`, so a resolution cancelled while queued is not
 * made.
 */
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/fault.h"
#include "async_int.h"
#include "core/config.h"
#include "trace/trace.h"
#include "weft/future.h"
#include "weft/io.h"

#define POOL_DEFAULT 16
#define POOL_MAX WF__BLOCKING_MAX

/* At load: wf_shutdown stops what this file starts (async_int.h). */
__attribute__((constructor)) static void hook_shutdown(void)
{
    wf__async_hook();
}

struct job {
    wf_fiber_fn *fn;
    void *arg;
    struct wf_promise *p;
    /* Internal jobs: fn(job) completes the promise itself (and may skip
     * its work when the future was cancelled before it started). */
    bool internal;
    struct job *next;
};

struct worker_rec {
    pthread_t thread;
    struct worker_rec *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;     /* lock */
    int nthreads, nidle;         /* lock */
    int size;                    /* 0: default; lock */
    bool stopping;               /* lock */
    struct worker_rec *threads;  /* every thread not yet joined; lock */
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

/* The size: set by call, else WEFT_BLOCKING_THREADS as the last wf_init
 * read it (config.c checked it is within 1..POOL_MAX), else the default. */
static int size_locked(void)
{
    if (pool.size > 0)
        return pool.size;
    long n = wf__config_blocking_threads();
    return n > 0 ? (int)n : POOL_DEFAULT;
}

int wf_blocking_set_threads(int n)
{
    if (n < 0 || n > POOL_MAX)
        return WF_EINVAL;
    pthread_mutex_lock(&pool.lock);
    int old = size_locked();
    pool.size = n;
    /* Idle threads above the new size leave now. */
    pthread_cond_broadcast(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
    return old;
}

static void run_job(struct job *j)
{
    if (j->internal) {
        j->fn(j); /* completes j->p itself */
    } else {
        wf_promise_complete(j->p, j->fn(j->arg));
    }
    wf__trace_io_end(j, 0); /* before free: a new job may get j's address */
    free(j);
}

static void *pool_main(void *arg)
{
    (void)arg;
    wf__thread_mark_own(); /* wf_shutdown joins us: not from here */
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        /* Above a lowered size, leave (but all drain at shutdown). */
        if (!pool.stopping && pool.nthreads > size_locked())
            break;
        struct job *j = pool.head;
        if (j) {
            pool.head = j->next;
            if (!pool.head)
                pool.tail = NULL;
            pthread_mutex_unlock(&pool.lock);
            run_job(j);
            /* seq_cst, no order needed: a count for the deadlock watch
             * (core/inspect.c), which confirms over a quiet period. */
            atomic_fetch_sub_explicit(&wf__rt.outside_busy, 1,
                                      memory_order_seq_cst);
            pthread_mutex_lock(&pool.lock);
            continue;
        }
        if (pool.stopping)
            break;
        pool.nidle++;
        pthread_cond_wait(&pool.cond, &pool.lock);
        pool.nidle--;
    }
    pool.nthreads--;
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* Queue j (its promise made). 0, or an error with nothing queued. */
static int submit(struct job *j)
{
    int err = 0;
    j->next = NULL;
    wf__trace_io_begin(WF__TIO_BLOCKING, j, -1); /* ended by run_job */
    pthread_mutex_lock(&pool.lock);
    if (pool.stopping || !wf__rt_running()) {
        err = WF_ESHUTDOWN;
        goto out;
    }
    if (pool.nidle == 0 && pool.nthreads < size_locked()) {
        struct worker_rec *r = wf__malloc(sizeof *r);
        if (r && wf__pthread_create(&r->thread, NULL, pool_main, NULL) == 0) {
            pthread_setname_np(r->thread, "weft-pool");
            r->next = pool.threads;
            pool.threads = r;
            pool.nthreads++;
        } else {
            free(r);
            if (pool.nthreads == 0) {
                err = r ? WF_EAGAIN : WF_ENOMEM;
                goto out;
            }
        }
    }
    if (pool.tail)
        pool.tail->next = j;
    else
        pool.head = j;
    pool.tail = j;
    /* seq_cst, no order needed: as in pool_main. */
    atomic_fetch_add_explicit(&wf__rt.outside_busy, 1, memory_order_seq_cst);
    if (pool.nidle > 0)
        pthread_cond_signal(&pool.cond);
out:
    pthread_mutex_unlock(&pool.lock);
    return err;
}

int wf_blocking(struct wf_future **out, wf_fiber_fn *fn, void *arg)
{
    if (!out || !fn)
        return WF_EINVAL;
    struct job *j = wf__malloc(sizeof *j);
    if (!j)
        return WF_ENOMEM;
    struct wf_future *f;
    int err = wf_promise_create(&j->p, &f);
    if (err)
        goto out_job;
    j->fn = fn;
    j->arg = arg;
    j->internal = false;
    err = submit(j);
    if (err)
        goto out_promise;
    *out = f;
    return 0;

out_promise:
    wf_promise_fail(j->p, err);
    wf_future_release(f);
out_job:
    free(j);
    return err;
}

void wf__pool_shutdown(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.cond);
    struct worker_rec *list = pool.threads;
    pool.threads = NULL;
    pthread_mutex_unlock(&pool.lock);
    while (list) {
        struct worker_rec *next = list->next;
        pthread_join(list->thread, NULL);
        free(list);
        list = next;
    }
    pthread_mutex_lock(&pool.lock);
    WF_ASSERT(pool.nthreads == 0 && !pool.head);
    pool.stopping = false; /* the runtime is STOPPING: submits still fail */
    pthread_mutex_unlock(&pool.lock);
}

/* ---- getaddrinfo ----------------------------------------------------------- */

struct gai_job {
    struct job job; /* first: run_job passes the job */
    char *node, *service;
    struct addrinfo hints;
    bool has_hints;
};

static int gai_to_err(int rc, int saved_errno)
{
    switch (rc) {
    case EAI_SYSTEM:
        return saved_errno > 0 ? -saved_errno : -EIO;
    case EAI_MEMORY:
        return WF_ENOMEM;
    case EAI_AGAIN:
        return WF_EAGAIN;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return -ENOENT;
    case EAI_FAIL:
        return -EIO;
    default: /* EAI_BADFLAGS, EAI_FAMILY, EAI_SERVICE, EAI_SOCKTYPE */
        return WF_EINVAL;
    }
}

static void drop_ai(void *ai)
{
    freeaddrinfo(ai);
}

static void gai_free(struct gai_job *g)
{
    free(g->node);
    free(g->service);
}

static void *gai_run(void *arg)
{
    struct gai_job *g = arg;
    struct addrinfo *res = NULL;
    if (wf_promise_cancelled(g->job.p)) {
        gai_free(g);
        wf_promise_fail(g->job.p, WF_ECANCELED);
        return NULL;
    }
    errno = 0;
    int rc = getaddrinfo(g->node, g->service, g->has_hints ? &g->hints : NULL,
                         &res);
    int saved = errno;
    gai_free(g);
    if (rc != 0) {
        wf_promise_fail(g->job.p, gai_to_err(rc, saved));
    } else if (wf_promise_complete_owned(g->job.p, res, drop_ai) != 0) {
        freeaddrinfo(res); /* cancelled meanwhile: still ours */
    }
    return NULL;
}

static char *dup_or_null(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = wf__strdup(s);
    if (!d)
        *fail = true;
    return d;
}

int wf_getaddrinfo(struct wf_future **out, const char *node,
                   const char *service, const struct addrinfo *hints)
{
    if (!out || (!node && !service))
        return WF_EINVAL;
    struct gai_job *g = wf__calloc(1, sizeof *g);
    if (!g)
        return WF_ENOMEM;
    bool fail = false;
    g->node = dup_or_null(node, &fail);
    g->service = dup_or_null(service, &fail);
    int err = WF_ENOMEM;
    if (fail)
        goto out_job;
    if (hints) {
        /* Only the fields getaddrinfo reads from hints. */
        g->hints.ai_flags = hints->ai_flags;
        g->hints.ai_family = hints->ai_family;
        g->hints.ai_socktype = hints->ai_socktype;
        g->hints.ai_protocol = hints->ai_protocol;
        g->has_hints = true;
    }
    struct wf_future *f;
    err = wf_promise_create(&g->job.p, &f);
    if (err)
        goto out_job;
    g->job.fn = gai_run;
    g->job.arg = NULL;
    g->job.internal = true;
    err = submit(&g->job);
    if (err)
        goto out_promise;
    *out = f;
    return 0;

out_promise:
    wf_promise_fail(g->job.p, err);
    wf_future_release(f);
out_job:
    gai_free(g);
    free(g);
    return err;
}
