/* SPDX-License-Identifier: MIT */
/*
 * The MPI backend: start-up, non-blocking operations as futures, and the
 * progress engine (one communication fiber per rank; pinned to worker 0 in
 * serialized mode).
 * dist_int.h lists the interleavings it is built for.
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/fiber.h"
#include "weft/future.h"
#include "weft/runtime.h"

#include "core/waitrec.h"
#include "dist_int.h"

enum { OFF = 0, STARTING, UP, STOPPING, DONE };

enum kind {
    K_SEND,
    K_RECV,
    K_BCAST,
    K_REDUCE,
    K_ALLREDUCE,
    K_GATHER,
    K_BARRIER
};

struct op {
    struct op *next; /* the submission queue */
    enum kind kind;
    struct wf_promise *p;
    MPI_Request req;
    MPI_Comm comm;
    const void *sbuf;
    void *rbuf;
    int count;
    MPI_Datatype type;
    MPI_Op mop;
    int peer; /* dest, src or root */
    int tag;
    struct wf_dist_status *st;
    bool started;       /* its MPI start call was made */
    atomic_bool cancel; /* receives: the future was cancelled */
    bool cancelled;     /* the engine called MPI_Cancel on req */
};

static struct {
    pthread_mutex_t lock; /* state, the queue */
    int state;            /* OFF..DONE: written under lock, read atomically */
    int level;            /* WF_DIST_MULTIPLE or WF_DIST_SERIALIZED */
    int rank, size;
    MPI_Comm comm;      /* the user's operations */
    MPI_Comm loop_comm; /* the parallel loops' */
    struct wf_fiber fiber;
    _Atomic uint64_t fiber_id; /* 0 when no communication fiber runs */
    struct op *head, **tail;
    bool stop;
    atomic_bool cancels; /* some receive's cancel awaits MPI_Cancel */
    /* start-up arguments for the communication fiber */
    int *argc;
    char ***argv;
    int required;
    bool force;
    struct wf_promise *up, *down; /* MPI is up, MPI_Finalize returned */
    struct wf_future *down_future;
    struct wf_promise *stopped; /* the communication fiber's loop ended */
    struct wf_future *stopped_future;
    pthread_t thread; /* weft's MPI thread */
    bool finalize;    /* under lock: the MPI thread may finalise */
    pthread_cond_t finalize_cv;
} d = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .finalize_cv = PTHREAD_COND_INITIALIZER,
       .comm = MPI_COMM_NULL,
       .loop_comm = MPI_COMM_NULL};

static int state(void)
{
    return __atomic_load_n(&d.state,
                           __ATOMIC_ACQUIRE); /* pairs with set_state */
}

static void set_state(int s)
{
    __atomic_store_n(&d.state, s, __ATOMIC_RELEASE); /* pairs with state() */
}

static bool on_comm_fiber(void)
{
    uint64_t id = atomic_load(&d.fiber_id);
    return id != 0 && wf_self().id == id;
}

/* ---- translation ------------------------------------------------------------- */

/* MPI's text for error code rc, or "error N" when it has none. */
static const char *mpi_errtext(int rc, char text[MPI_MAX_ERROR_STRING])
{
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, MPI_MAX_ERROR_STRING, "error %d", rc);
    return text;
}

static int xlate(int rc)
{
    if (rc == MPI_SUCCESS)
        return 0;
    int cls = MPI_ERR_OTHER;
    MPI_Error_class(rc, &cls);
    switch (cls) {
    case MPI_ERR_RANK:
    case MPI_ERR_COUNT:
    case MPI_ERR_TAG:
    case MPI_ERR_TYPE:
    case MPI_ERR_OP:
    case MPI_ERR_ROOT:
    case MPI_ERR_BUFFER:
    case MPI_ERR_ARG:
    case MPI_ERR_COMM:
        return WF_EINVAL;
    case MPI_ERR_TRUNCATE:
        return WF_EMSGSIZE;
    case MPI_ERR_NO_MEM:
        return WF_ENOMEM;
    default: {
        char text[MPI_MAX_ERROR_STRING];
        fprintf(stderr, "weft: dist: MPI error on rank %d: %s\n", d.rank,
                mpi_errtext(rc, text));
        return WF_EIO;
    }
    }
}

static MPI_Datatype mtype(enum wf_dist_type t)
{
    switch (t) {
    case WF_DIST_BYTE:
        return MPI_UNSIGNED_CHAR;
    case WF_DIST_INT:
        return MPI_INT;
    case WF_DIST_LONG:
        return MPI_LONG;
    case WF_DIST_INT64:
        return MPI_INT64_T;
    case WF_DIST_UINT64:
        return MPI_UINT64_T;
    case WF_DIST_FLOAT:
        return MPI_FLOAT;
    case WF_DIST_DOUBLE:
        return MPI_DOUBLE;
    default:
        return MPI_DATATYPE_NULL;
    }
}

size_t wf_dist_type_size(enum wf_dist_type t)
{
    static const size_t sizes[WF_DIST_NTYPES] = {
        sizeof(unsigned char), sizeof(int),   sizeof(long),  sizeof(int64_t),
        sizeof(uint64_t),      sizeof(float), sizeof(double)};
    return (unsigned)t < WF_DIST_NTYPES ? sizes[t] : 0;
}

static MPI_Op mop(enum wf_dist_op op)
{
    switch (op) {
    case WF_DIST_SUM:
        return MPI_SUM;
    case WF_DIST_PROD:
        return MPI_PROD;
    case WF_DIST_MIN:
        return MPI_MIN;
    case WF_DIST_MAX:
        return MPI_MAX;
    case WF_DIST_BAND:
        return MPI_BAND;
    case WF_DIST_BOR:
        return MPI_BOR;
    case WF_DIST_BXOR:
        return MPI_BXOR;
    default:
        return MPI_OP_NULL;
    }
}

/* ---- starting operations ------------------------------------------------- */

/* Make the MPI call that starts o (on whichever thread the mode allows). */
static int start(struct op *o)
{
    int rc;
    switch (o->kind) {
    case K_SEND:
        rc = MPI_Isend(o->sbuf, o->count, o->type, o->peer, o->tag, o->comm,
                       &o->req);
        break;
    case K_RECV:
        rc = MPI_Irecv(o->rbuf, o->count, o->type, o->peer, o->tag, o->comm,
                       &o->req);
        break;
    case K_BCAST:
        rc = MPI_Ibcast(o->rbuf, o->count, o->type, o->peer, o->comm, &o->req);
        break;
    case K_REDUCE:
        rc = MPI_Ireduce(o->sbuf, o->rbuf, o->count, o->type, o->mop, o->peer,
                         o->comm, &o->req);
        break;
    case K_ALLREDUCE:
        rc = MPI_Iallreduce(o->sbuf, o->rbuf, o->count, o->type, o->mop,
                            o->comm, &o->req);
        break;
    case K_GATHER:
        rc = MPI_Igather(o->sbuf, o->count, o->type, o->rbuf, o->count, o->type,
                         o->peer, o->comm, &o->req);
        break;
    case K_BARRIER:
        rc = MPI_Ibarrier(o->comm, &o->req);
        break;
    default:
        rc = MPI_ERR_INTERN;
    }
    return xlate(rc);
}

/* A receive's future was cancelled (any thread): the communication
 * fiber cancels it in MPI too (cancel_marked), so it stops matching
 * messages. o stays valid: finish_op waits for this handler to return. */
static void recv_cancelled(void *arg)
{
    struct op *o = arg;
    atomic_store(&o->cancel, true);
    atomic_store(&d.cancels, true);
    pthread_mutex_lock(&d.lock);
    struct wf_fiber fib = d.fiber;
    pthread_mutex_unlock(&d.lock);
    wf_unpark(fib);
}

/* Take o (validated), start it or queue it, hand its future to *out. */
static int submit(struct op *o, struct wf_future **out)
{
    if (!o)
        return WF_ENOMEM; /* new_op found no memory */
    struct wf_future *f;
    int err = wf_promise_create(&o->p, &f);
    if (err < 0) {
        free(o);
        return err;
    }
    o->req = MPI_REQUEST_NULL;
    o->next = NULL;
    if (o->kind == K_RECV)
        wf_promise_on_cancel(o->p, recv_cancelled, o); /* f is still ours */
    pthread_mutex_lock(&d.lock);
    if (d.state != UP) {
        err = WF_ENOTCONN;
    } else if (d.level == WF_DIST_MULTIPLE) {
        /* Started under the lock: the queue order is the start order, so
         * the engine never tests a request before its start returned. */
        err = start(o);
        o->started = true;
    }
    if (err == 0) {
        *d.tail = o;
        d.tail = &o->next;
    }
    struct wf_fiber fib = d.fiber;
    pthread_mutex_unlock(&d.lock);
    if (err < 0) {
        wf_promise_fail(o->p, err);
        wf_future_release(f);
        free(o);
        return err;
    }
    wf_unpark(fib);
    *out = f;
    return 0;
}

static int check_common(struct wf_future **out, long count,
                        enum wf_dist_type type, const void *buf)
{
    if (state() != UP)
        return WF_ENOTCONN;
    if (!out || count < 0 || count > INT_MAX ||
        (unsigned)type >= WF_DIST_NTYPES || (!buf && count > 0))
        return WF_EINVAL;
    return 0;
}

/* An operation to submit, or NULL with no memory (submit says so). */
static struct op *new_op(enum kind k, MPI_Comm comm, long count,
                         enum wf_dist_type type, const void *sbuf, void *rbuf,
                         int peer)
{
    struct op *o = calloc(1, sizeof *o);
    if (o) {
        o->kind = k;
        o->comm = comm;
        o->count = (int)count;
        o->type = mtype(type);
        o->mop = MPI_OP_NULL;
        o->sbuf = sbuf;
        o->rbuf = rbuf;
        o->peer = peer;
    }
    return o;
}

static bool bad_rank(int r)
{
    return r < 0 || r >= d.size;
}

int wf__dist_send_on(MPI_Comm comm, struct wf_future **out, const void *buf,
                     long count, enum wf_dist_type type, int dest, int tag)
{
    int err = check_common(out, count, type, buf);
    if (err < 0)
        return err;
    if (bad_rank(dest) || tag < 0 || tag > WF_DIST_TAG_MAX)
        return WF_EINVAL;
    struct op *o = new_op(K_SEND, comm, count, type, buf, NULL, dest);
    if (o)
        o->tag = tag;
    return submit(o, out);
}

int wf__dist_recv_on(MPI_Comm comm, struct wf_future **out, void *buf,
                     long count, enum wf_dist_type type, int src, int tag,
                     struct wf_dist_status *st)
{
    int err = check_common(out, count, type, buf);
    if (err < 0)
        return err;
    if ((src != WF_DIST_ANY_SOURCE && bad_rank(src)) ||
        (tag != WF_DIST_ANY_TAG && (tag < 0 || tag > WF_DIST_TAG_MAX)))
        return WF_EINVAL;
    struct op *o = new_op(K_RECV, comm, count, type, NULL, buf,
                          src == WF_DIST_ANY_SOURCE ? MPI_ANY_SOURCE : src);
    if (o) {
        o->tag = tag == WF_DIST_ANY_TAG ? MPI_ANY_TAG : tag;
        o->st = st;
    }
    return submit(o, out);
}

int wf__dist_bcast_on(MPI_Comm comm, struct wf_future **out, void *buf,
                      long count, enum wf_dist_type type, int root)
{
    int err = check_common(out, count, type, buf);
    if (err < 0)
        return err;
    if (bad_rank(root))
        return WF_EINVAL;
    return submit(new_op(K_BCAST, comm, count, type, NULL, buf, root), out);
}

static int reduce_on(MPI_Comm comm, struct wf_future **out, enum kind k,
                     const void *sendbuf, void *recvbuf, long count,
                     enum wf_dist_type type, enum wf_dist_op op, int root)
{
    int err = check_common(out, count, type, sendbuf);
    if (err < 0)
        return err;
    bool gets = k == K_ALLREDUCE || (k == K_REDUCE && root == d.rank);
    if ((k == K_REDUCE && bad_rank(root)) || (unsigned)op >= WF_DIST_NOPS ||
        (gets && !recvbuf && count > 0) ||
        (op >= WF_DIST_BAND &&
         (type == WF_DIST_FLOAT || type == WF_DIST_DOUBLE)))
        return WF_EINVAL;
    if (gets && count > 0 && sendbuf == recvbuf)
        return WF_EINVAL;
    struct op *o = new_op(k, comm, count, type, sendbuf, recvbuf, root);
    if (o)
        o->mop = mop(op);
    return submit(o, out);
}

int wf__dist_allreduce_on(MPI_Comm comm, struct wf_future **out,
                          const void *sendbuf, void *recvbuf, long count,
                          enum wf_dist_type type, enum wf_dist_op op)
{
    return reduce_on(comm, out, K_ALLREDUCE, sendbuf, recvbuf, count, type, op,
                     0);
}

int wf__dist_gather_on(MPI_Comm comm, struct wf_future **out,
                       const void *sendbuf, void *recvbuf, long count,
                       enum wf_dist_type type, int root)
{
    int err = check_common(out, count, type, sendbuf);
    if (err < 0)
        return err;
    if (bad_rank(root) || (root == d.rank && !recvbuf && count > 0) ||
        (long)d.size * count > INT_MAX)
        return WF_EINVAL;
    return submit(new_op(K_GATHER, comm, count, type, sendbuf, recvbuf, root),
                  out);
}

int wf_dist_send(struct wf_future **out, const void *buf, long count,
                 enum wf_dist_type type, int dest, int tag)
{
    return wf__dist_send_on(d.comm, out, buf, count, type, dest, tag);
}

int wf_dist_recv(struct wf_future **out, void *buf, long count,
                 enum wf_dist_type type, int src, int tag,
                 struct wf_dist_status *st)
{
    return wf__dist_recv_on(d.comm, out, buf, count, type, src, tag, st);
}

int wf_dist_bcast(struct wf_future **out, void *buf, long count,
                  enum wf_dist_type type, int root)
{
    return wf__dist_bcast_on(d.comm, out, buf, count, type, root);
}

int wf_dist_reduce(struct wf_future **out, const void *sendbuf, void *recvbuf,
                   long count, enum wf_dist_type type, enum wf_dist_op op,
                   int root)
{
    return reduce_on(d.comm, out, K_REDUCE, sendbuf, recvbuf, count, type, op,
                     root);
}

int wf_dist_allreduce(struct wf_future **out, const void *sendbuf,
                      void *recvbuf, long count, enum wf_dist_type type,
                      enum wf_dist_op op)
{
    return wf__dist_allreduce_on(d.comm, out, sendbuf, recvbuf, count, type,
                                 op);
}

int wf_dist_gather(struct wf_future **out, const void *sendbuf, void *recvbuf,
                   long count, enum wf_dist_type type, int root)
{
    return wf__dist_gather_on(d.comm, out, sendbuf, recvbuf, count, type, root);
}

int wf_dist_barrier(struct wf_future **out)
{
    int err = check_common(out, 0, WF_DIST_BYTE, NULL);
    if (err < 0)
        return err;
    return submit(new_op(K_BARRIER, d.comm, 0, WF_DIST_BYTE, NULL, NULL, 0),
                  out);
}

/* ---- the progress engine ------------------------------------------------- */

struct engine {
    struct op **ops;
    MPI_Request *reqs;
    int *idx;
    MPI_Status *sts;
    int n, cap;
};

/* MPI_Cancel the watched request i once (a cancelled future's receive,
 * or any receive at finalize); finish_op sees MPI_Test_cancelled. */
static void cancel_req(struct engine *e, int i)
{
    if (!e->ops[i]->cancelled) {
        e->ops[i]->cancelled = true;
        MPI_Cancel(&e->reqs[i]);
    }
}

static int grow(struct engine *e, int need)
{
    if (need <= e->cap)
        return 0;
    int cap = e->cap ? e->cap : 16;
    while (cap < need)
        cap *= 2;
    struct op **ops = realloc(e->ops, sizeof *ops * (size_t)cap);
    if (ops)
        e->ops = ops;
    MPI_Request *reqs = realloc(e->reqs, sizeof *reqs * (size_t)cap);
    if (reqs)
        e->reqs = reqs;
    int *idx = realloc(e->idx, sizeof *idx * (size_t)cap);
    if (idx)
        e->idx = idx;
    MPI_Status *sts = realloc(e->sts, sizeof *sts * (size_t)cap);
    if (sts)
        e->sts = sts;
    if (!ops || !reqs || !idx || !sts)
        return WF_ENOMEM;
    e->cap = cap;
    return 0;
}

/* Complete o's future from its MPI status (err: the request's error). */
static void finish_op(struct op *o, const MPI_Status *st, int err)
{
    if (err == 0 && o->kind == K_RECV) {
        int cancelled = 0;
        MPI_Test_cancelled(st, &cancelled);
        if (cancelled) {
            wf_promise_fail(o->p, WF_ECANCELED);
            free(o);
            return;
        }
        int n = 0;
        MPI_Get_count(st, o->type, &n);
        if (o->st) {
            o->st->source = st->MPI_SOURCE;
            o->st->tag = st->MPI_TAG;
            o->st->count = n;
        }
        wf_promise_complete(o->p, (void *)(uintptr_t)n);
    } else if (err == 0) {
        wf_promise_complete(o->p, NULL);
    } else {
        wf_promise_fail(o->p, err);
    }
    free(o);
}

/* A whole number from min to max in the variable `name`, else def (a
 * value out of range or not a number is reported on stderr). */
static int64_t env_num(const char *name, int64_t def, int64_t min, int64_t max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || x < min || x > max) {
        fprintf(stderr,
                "weft: %s=%s: expected a whole number from %lld to %lld; "
                "using %lld\n",
                name, v, (long long)min, (long long)max, (long long)def);
        return def;
    }
    return x;
}

/* On weft's MPI thread: MPI_Init_thread and the communicators. */
static int bring_up(void)
{
    int provided = MPI_THREAD_SINGLE;
    int rc = MPI_Init_thread(d.argc, d.argv, d.required, &provided);
    if (rc != MPI_SUCCESS)
        return WF_EIO;
    if (provided < MPI_THREAD_SERIALIZED ||
        (d.force && provided < MPI_THREAD_MULTIPLE)) {
        MPI_Finalize();
        return WF_ENOSYS;
    }
    d.level =
        provided >= MPI_THREAD_MULTIPLE && d.required == MPI_THREAD_MULTIPLE
            ? WF_DIST_MULTIPLE
            : WF_DIST_SERIALIZED;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &d.comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_dup(MPI_COMM_WORLD, &d.loop_comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_set_errhandler(d.comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_set_errhandler(d.loop_comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(d.comm, &d.rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(d.comm, &d.size);
    return xlate(rc);
}

/* weft's MPI thread: a plain thread, so that MPI_Init_thread and
 * MPI_Finalize (each may take 100 ms and more, waiting for the other
 * ranks) hold no worker. It calls MPI only while the communication fiber
 * does not exist (before it starts, after it returned), so the calls
 * never overlap in serialized mode. */
static void *mpi_thread(void *arg)
{
    (void)arg;
    int err = bring_up();
    if (err < 0) {
        wf_promise_fail(d.up, err);
        return NULL;
    }
    wf_promise_complete(d.up, NULL);
    pthread_mutex_lock(&d.lock);
    while (!d.finalize)
        pthread_cond_wait(&d.finalize_cv, &d.lock);
    pthread_mutex_unlock(&d.lock);
    MPI_Comm_free(&d.loop_comm);
    MPI_Comm_free(&d.comm);
    int rc = MPI_Finalize();
    if (rc == MPI_SUCCESS)
        wf_promise_complete(d.down, NULL);
    else
        wf_promise_fail(d.down, WF_EIO);
    return NULL;
}

/* After this long without a start or a completion the engine polls less
 * often (comm_main). */
#define LONG_WAIT_NS (100 * WF_MSEC)

/* The progress engine (dist_int.h): started once MPI is up, returns
 * once finalize asked it to stop and nothing is outstanding. */
static void *comm_main(void *arg)
{
    (void)arg;
    const int64_t poll_max =
        env_num("WEFT_DIST_POLL_MAX_US", 200, 1, 1000000) * WF_USEC;
    const int64_t fin_ms = env_num("WEFT_DIST_FINALIZE_MS", 10000, 0, 86400000);
    struct engine e = {0};
    int64_t interval = 0, stop_deadline = 0, last_event = wf_now();
    int idle_rounds = 0;
    bool stopping = false, cancelled_recvs = false;
    for (;;) {
        pthread_mutex_lock(&d.lock);
        struct op *q = d.head;
        d.head = NULL;
        d.tail = &d.head;
        stopping = d.stop;
        pthread_mutex_unlock(&d.lock);
        bool requeued = false;
        for (struct op *o = q, *next; o; o = next) {
            next = o->next;
            if (d.level == WF_DIST_SERIALIZED && !o->started) {
                o->started = true;
                int serr = start(o);
                if (serr < 0) {
                    wf_promise_fail(o->p, serr);
                    free(o);
                    continue;
                }
            }
            if (grow(&e, e.n + 1) < 0) {
                /* No room to watch it: put it and the rest back at the
                 * head of the queue (in order, before the later ones) and
                 * try again next round. Waiting for it here would stop
                 * the engine, and deadlock a send to oneself. */
                struct op *last = o;
                while (last->next)
                    last = last->next;
                pthread_mutex_lock(&d.lock);
                last->next = d.head;
                d.head = o;
                if (d.tail == &d.head)
                    d.tail = &last->next;
                pthread_mutex_unlock(&d.lock);
                requeued = true;
                break;
            }
            e.ops[e.n] = o;
            e.reqs[e.n] = o->req;
            e.n++;
            /* cancelled since the last scan of d.cancels below */
            if (o->kind == K_RECV && atomic_load(&o->cancel))
                cancel_req(&e, e.n - 1);
            interval = 0;
            idle_rounds = 0;
            last_event = wf_now();
        }
        if (stopping && !stop_deadline)
            stop_deadline = wf_deadline_in(fin_ms * WF_MSEC);
        if (e.n == 0) {
            if (requeued) {
                wf_park(wf_deadline_in(WF_MSEC)); /* memory may come back */
                continue;
            }
            if (stopping)
                break;
            wf_park(WF_FOREVER); /* a submission unparks */
            continue;
        }
        if (atomic_exchange(&d.cancels, false)) {
            for (int i = 0; i < e.n; i++)
                if (e.ops[i]->kind == K_RECV && atomic_load(&e.ops[i]->cancel))
                    cancel_req(&e, i);
        }
        if (stopping && !cancelled_recvs) {
            for (int i = 0; i < e.n; i++)
                if (e.ops[i]->kind == K_RECV)
                    cancel_req(&e, i);
            cancelled_recvs = true;
        }
        if (stopping && wf_now() > stop_deadline) {
            fprintf(
                stderr,
                "weft: wf_dist_finalize: %d MPI operations still outstanding "
                "after %lld ms (no peer matched them); aborting the job\n",
                e.n, (long long)fin_ms);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        int outcount = 0;
        int rc = MPI_Testsome(e.n, e.reqs, &outcount, e.idx, e.sts);
        if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) {
            /* The whole call failed: no request can be trusted any more,
             * yet MPI may still write into the callers' buffers, so no
             * future may complete (its caller would reuse the buffer). */
            char text[MPI_MAX_ERROR_STRING];
            mpi_errtext(rc, text);
            fprintf(stderr,
                    "weft: dist: MPI_Testsome failed on rank %d (%s) with %d "
                    "operations outstanding; aborting the job\n",
                    d.rank, text, e.n);
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, 1);
            abort(); /* MPI_Abort does not return */
        }
        if (outcount == MPI_UNDEFINED)
            outcount = 0;
        for (int k = 0; k < outcount; k++) {
            int i = e.idx[k];
            int rerr = rc == MPI_ERR_IN_STATUS ? xlate(e.sts[k].MPI_ERROR) : 0;
            struct op *o = e.ops[i];
            e.ops[i] = NULL;
            finish_op(o, &e.sts[k], rerr);
        }
        if (outcount > 0) {
            int j = 0;
            for (int i = 0; i < e.n; i++) {
                if (e.ops[i]) {
                    e.ops[j] = e.ops[i];
                    e.reqs[j] = e.reqs[i];
                    j++;
                }
            }
            e.n = j;
            interval = 0;
            idle_rounds = 0;
            last_event = wf_now();
            continue;
        }
        /* Back off: a few yields, then sleeps of a growing interval; a
         * submission unparks the sleep early. */
        if (idle_rounds < 8) {
            idle_rounds++;
            wf_yield();
        } else {
            /* Nothing has moved for a while (a receive whose sender is
             * still computing): poll 32 times less often, so that a long
             * wait costs under 2% of a core instead of 30% (at the default
             * maximum; docs/PERFORMANCE.md). */
            int64_t cap =
                wf_now() - last_event > LONG_WAIT_NS ? 32 * poll_max : poll_max;
            interval = interval ? interval * 2 : WF_USEC;
            if (interval > cap)
                interval = cap;
            wf_park(wf_deadline_in(interval));
        }
    }
    free(e.ops);
    free(e.reqs);
    free(e.idx);
    free(e.sts);
    wf_promise_complete(d.stopped, NULL);
    return NULL;
}

/* ---- start-up and queries ---------------------------------------------------- */

static int parse_level(const struct wf_dist_config *cfg, int *level)
{
    int l = cfg ? cfg->thread_level : WF_DIST_AUTO;
    if (l < WF_DIST_AUTO || l > WF_DIST_SERIALIZED)
        return WF_EINVAL;
    if (l == WF_DIST_AUTO) {
        const char *v = getenv("WEFT_DIST_THREAD_LEVEL");
        if (v && *v) {
            if (!strcmp(v, "multiple")) {
                l = WF_DIST_MULTIPLE;
            } else if (!strcmp(v, "serialized") || !strcmp(v, "funneled")) {
                l = WF_DIST_SERIALIZED;
            } else {
                fprintf(stderr,
                        "weft: WEFT_DIST_THREAD_LEVEL=%s: expected multiple or "
                        "serialized\n",
                        v);
                return WF_EINVAL;
            }
        }
    }
    *level = l;
    return 0;
}

/* Ask the MPI thread to finalise, wait for it; MPI_Finalize's outcome. */
static int stop_mpi_thread(void)
{
    pthread_mutex_lock(&d.lock);
    d.finalize = true;
    pthread_cond_signal(&d.finalize_cv);
    pthread_mutex_unlock(&d.lock);
    int err = wf__dist_finish(d.down_future, NULL);
    d.down_future = NULL;
    pthread_join(d.thread, NULL);
    return err;
}

int wf_dist_init(int *argc, char ***argv, const struct wf_dist_config *cfg)
{
    int level;
    int err = parse_level(cfg, &level);
    if (err < 0)
        return err;
    if (wf_workers() < 0)
        return WF_ESHUTDOWN;
    pthread_mutex_lock(&d.lock);
    if (d.state != OFF) {
        pthread_mutex_unlock(&d.lock);
        return WF_EALREADY;
    }
    set_state(STARTING);
    pthread_mutex_unlock(&d.lock);

    struct wf_future *up, *down;
    err = wf_promise_create(&d.up, &up);
    if (err < 0)
        goto out_off;
    err = wf_promise_create(&d.down, &down);
    if (err < 0)
        goto out_up;
    d.argc = argc;
    d.argv = argv;
    d.required = level == WF_DIST_SERIALIZED ? MPI_THREAD_SERIALIZED
                                             : MPI_THREAD_MULTIPLE;
    d.force = level == WF_DIST_MULTIPLE;
    d.head = NULL;
    d.tail = &d.head;
    d.stop = false;
    d.finalize = false;
    err = -pthread_create(&d.thread, NULL, mpi_thread, NULL);
    if (err < 0)
        goto out_down;
    err = wf__dist_finish(up, NULL);
    if (err < 0) {
        pthread_join(d.thread, NULL);
        wf_promise_fail(d.down, err);
        wf_future_release(down);
        /* MPI_Init_thread ran: MPI cannot start again */
        pthread_mutex_lock(&d.lock);
        set_state(DONE);
        pthread_mutex_unlock(&d.lock);
        return err;
    }
    d.down_future = down;
    err = wf_promise_create(&d.stopped, &d.stopped_future);
    if (err < 0) {
        stop_mpi_thread();
        pthread_mutex_lock(&d.lock);
        set_state(DONE);
        pthread_mutex_unlock(&d.lock);
        return err;
    }
    /* Pinned in serialized mode, where every MPI call comes from this one
     * worker thread; free to move otherwise, so that an idle worker runs
     * it while worker 0 is busy with a long parallel loop. */
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.name = "wf-dist-comm";
    o.worker = d.level == WF_DIST_SERIALIZED ? 0 : WF_ANY_WORKER;
    err = wf_go_opts(&d.fiber, &o, comm_main, NULL);
    if (err < 0) {
        /* MPI is up and must be finalised: let the thread do it */
        wf_promise_fail(d.stopped, err);
        wf_future_release(d.stopped_future);
        stop_mpi_thread();
        pthread_mutex_lock(&d.lock);
        set_state(DONE);
        pthread_mutex_unlock(&d.lock);
        return err;
    }
    atomic_store(&d.fiber_id, d.fiber.id);
    pthread_mutex_lock(&d.lock);
    set_state(UP);
    pthread_mutex_unlock(&d.lock);
    return 0;

out_down:
    wf_promise_fail(d.down, err);
    wf_future_release(down);
out_up:
    wf_promise_fail(d.up, err);
    wf_future_release(up);
out_off:
    pthread_mutex_lock(&d.lock);
    set_state(OFF);
    pthread_mutex_unlock(&d.lock);
    return err;
}

int wf_dist_finalize(void)
{
    if (on_comm_fiber())
        return WF_EDEADLK;
    pthread_mutex_lock(&d.lock);
    if (d.state != UP) {
        pthread_mutex_unlock(&d.lock);
        return WF_ENOTCONN;
    }
    set_state(STOPPING);
    d.stop = true;
    struct wf_fiber fib = d.fiber;
    pthread_mutex_unlock(&d.lock);
    wf_unpark(fib);
    /* Not a cancellation point: MPI_Finalize must not start before the
     * engine has stopped. Once its loop has ended the fiber is returning,
     * so a join that a cancellation interrupts is simply tried again. */
    int err = wf__dist_finish(d.stopped_future, NULL);
    d.stopped_future = NULL;
    int jerr;
    while ((jerr = wf_join(fib, NULL, WF_FOREVER)) == WF_ECANCELED)
        wf_yield();
    if (err == 0)
        err = jerr;
    atomic_store(&d.fiber_id, 0);
    int ferr = stop_mpi_thread();
    pthread_mutex_lock(&d.lock);
    set_state(DONE);
    pthread_mutex_unlock(&d.lock);
    return err < 0 ? err : ferr;
}

int wf_dist_rank(void)
{
    return state() == UP ? d.rank : WF_ENOTCONN;
}

int wf_dist_size(void)
{
    return state() == UP ? d.size : WF_ENOTCONN;
}

int wf_dist_thread_level(void)
{
    return state() == UP ? d.level : WF_ENOTCONN;
}

MPI_Comm wf__dist_loop_comm(void)
{
    return d.loop_comm;
}

int wf__dist_can_wait(void)
{
    if (state() != UP)
        return WF_ENOTCONN;
    if (on_comm_fiber())
        return WF_EDEADLK;
    return 0;
}

/* An uncancellable wait for a future (dist_int.h): a callback stores the
 * word and kicks the waiter, which parks on it without a cancellation
 * point, as wf_parallel_for's joins do (par/task.c). */
struct finish_wait {
    struct wf__waiter w;
    atomic_int done;
};

static void finish_cb(struct wf_future *f, void *arg)
{
    (void)f;
    struct finish_wait *fw = arg;
    /* The waiter may return as soon as it sees done: copy it first. */
    struct wf__waiter w = fw->w;
    /* seq_cst: the waker's half of the park-on-word pair (waitrec.h). */
    atomic_store(&fw->done, 1);
    wf__waiter_kick(&w);
}

int wf__dist_finish(struct wf_future *f, void **value)
{
    struct finish_wait fw;
    atomic_init(&fw.done, 0);
    /* A plain thread's first wait needs its parker (wf_join and every
     * other wait check it first); without one, poll as below. */
    bool parks = wf__thread_parker_ready() == 0;
    if (parks)
        wf__waiter_self(&fw.w);
    int err = parks ? wf_future_then(f, finish_cb, &fw) : WF_ENOMEM;
    if (err < 0) {
        /* No memory for the parker or the callback: the operation still
         * owns the caller's buffers, so wait for it by polling. */
        while (!wf_future_done(f)) {
            if (wf_self().id)
                wf_yield();
            else
                sched_yield();
        }
        err = 0;
        atomic_store(&fw.done, 1);
    }
    /* seq_cst: the waiter's half of the pair, against finish_cb. */
    while (err == 0 && !atomic_load(&fw.done)) {
        if (wf__waiter_park_word_nocancel(&fw.w, &fw.done, 0, WF_FOREVER,
                                          WF__WHY_FUTURE) == WF_ESHUTDOWN)
            err = WF_ESHUTDOWN; /* a plain thread, the runtime stopping */
    }
    if (parks)
        wf__waiter_done(&fw.w);
    if (err == 0)
        err = wf_future_result(f, value);
    wf_future_release(f);
    return err;
}
