/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_future.c - futures, promises and the combinators
 * (weft/future.h) against a reference model written here.
 *
 * Input: a script of up to 48 operations on up to 12 futures: create a
 * promise; complete it (plain or owned), fail it; cancel a future;
 * register a `then` callback whose body may itself cancel a future or
 * complete a promise; register a cancel handler; when_all and when_any
 * over up to 4 futures (repeats and nested combinators included); read the
 * outcome; wait with a deadline already passed. No runtime runs, so every
 * call is made on this thread and the order of events is defined; only
 * at the end, when the script marked futures for it, a runtime of one
 * worker starts, a fiber awaits each marked future, a plain-thread wait
 * with a deadline passed must time out on a pending one, and the pending
 * promises are completed from this thread: each await returns 0 and sees
 * the model's outcome.
 *
 * The model keeps, per future, its outcome and the list of what listens
 * to it (user callbacks and combinators, in registration order, as
 * future.h says they run), and replays each operation: completing a future
 * runs its listeners in order; a combinator completes as documented
 * (when_all: once every input has, with the lowest-index failure; when_any:
 * with the index of the first input to complete, counting inputs already
 * complete at its creation in index order); a cancel completes the future
 * with WF_ECANCELED, runs its listeners, then its handler (a combinator's
 * handler cancels its inputs in order). Checked after each operation:
 * the call's result; the sequence of callbacks and cancel handlers that
 * ran and the outcome each saw, against the model's, event for event; each
 * future's done flag and outcome; wf_future_wait's result. At the end
 * every pending promise is failed, every reference released, and each
 * owned value must have been dropped exactly once (and the sanitizers
 * find no leak).
 */
#include "fuzz.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "weft.h"

#define NFUT   12
#define NCB    32
#define NLIS   64
#define NOPS   48
#define NLOG   256
#define NIN    4
#define NAWAIT 4

enum { LEAF, ALL, ANY };
enum { A_NONE, A_CANCEL, A_COMPLETE };
enum { EV_CB, EV_HANDLER };

struct ucb {
    int id, fut, act, target;
};

struct ev {
    int kind, id, err;
    uintptr_t val;
};

struct lis {
    int comb; /* 1: combinator `id`; 0: user callback `id` */
    int id;
};

/* What the harness holds. */
static struct {
    int n;
    int kind[NFUT], nin[NFUT], in[NFUT][NIN];
    struct wf_future *f[NFUT];
    struct wf_promise *p[NFUT]; /* leaves, NULL once given up */
    int ncb;
    struct ucb cb[NCB];
    int handler_ids[NFUT];
    struct ev log[NLOG];
    int nlog;
    int drops, owned;
    int nawait, awaited[NAWAIT]; /* futures a fiber awaits at the end */
    atomic_int waiting[NAWAIT];
    int await_rc[NAWAIT], await_err[NAWAIT];
    uintptr_t await_val[NAWAIT];
} H;

/* The model. */
static struct {
    bool done, cancelled, given_up, handler;
    int err;
    uintptr_t val;
    int nl;
    struct lis l[NLIS];
    int left; /* when_all: inputs not complete */
    bool won; /* when_any */
    struct ev log[NLOG];
} M[NFUT];
static struct ev mlog[NLOG];
static int nmlog;

static void log_ev(struct ev *log, int *n, int kind, int id, int err,
                   uintptr_t val)
{
    FZ_CHECK(*n < NLOG, "log full");
    log[(*n)++] = (struct ev){kind, id, err, val};
}

/* ---- the model ------------------------------------------------------------ */

static void m_complete_any(int j, int i);
static int m_cancel(int i);
static int m_settle(int i, int err, uintptr_t val);

static void m_act(const struct ucb *u)
{
    if (u->act == A_CANCEL)
        m_cancel(u->target);
    else if (u->act == A_COMPLETE && H.kind[u->target] == LEAF &&
             !M[u->target].given_up)
        m_settle(u->target, 0, (uintptr_t)(0x100 + u->id));
}

static void m_listen(int i, struct lis l)
{
    if (l.comb) {
        int j = l.id;
        if (H.kind[j] == ALL) {
            if (--M[j].left == 0) {
                int err = 0;
                for (int k = 0; k < H.nin[j] && !err; k++)
                    err = M[H.in[j][k]].err;
                m_settle(j, err, 0);
            }
        } else {
            m_complete_any(j, i);
        }
        return;
    }
    const struct ucb *u = &H.cb[l.id];
    log_ev(mlog, &nmlog, EV_CB, u->id, M[i].err, M[i].err ? 0 : M[i].val);
    m_act(u);
}

static void m_complete_any(int j, int i)
{
    if (M[j].won)
        return;
    M[j].won = true;
    int idx = 0;
    while (H.in[j][idx] != i)
        idx++;
    m_settle(j, 0, (uintptr_t)idx);
}

/* Complete future i (its promise is given up); WF_ECANCELED if a cancel
 * completed it first. */
static void m_finish(int i, int err, uintptr_t val)
{
    M[i].done = true;
    M[i].err = err;
    M[i].val = err ? 0 : val;
    int nl = M[i].nl;
    struct lis l[NLIS];
    memcpy(l, M[i].l, sizeof l[0] * (size_t)nl);
    M[i].nl = 0;
    for (int k = 0; k < nl; k++)
        m_listen(i, l[k]);
}

static int m_settle(int i, int err, uintptr_t val)
{
    M[i].given_up = true;
    if (M[i].done)
        return WF_ECANCELED;
    m_finish(i, err, val);
    return 0;
}

static int m_cancel(int i)
{
    if (M[i].done)
        return WF_EALREADY;
    M[i].cancelled = true;
    m_finish(i, WF_ECANCELED, 0);
    if (H.kind[i] == LEAF) {
        if (M[i].handler)
            log_ev(mlog, &nmlog, EV_HANDLER, i, 0, 0);
    } else {
        for (int k = 0; k < H.nin[i]; k++)
            m_cancel(H.in[i][k]);
    }
    return 0;
}

static void m_add(int i, struct lis l)
{
    if (M[i].done) {
        m_listen(i, l);
        return;
    }
    FZ_CHECK(M[i].nl < NLIS, "listeners");
    M[i].l[M[i].nl++] = l;
}

static void m_combine(int j)
{
    M[j].left = H.nin[j];
    if (H.kind[j] == ALL && H.nin[j] == 0) {
        m_settle(j, 0, 0);
        return;
    }
    for (int k = 0; k < H.nin[j]; k++)
        m_add(H.in[j][k], (struct lis){1, j});
}

/* ---- the real thing ------------------------------------------------------- */

static void user_cb(struct wf_future *f, void *arg)
{
    const struct ucb *u = arg;
    FZ_CHECK(f == H.f[u->fut], "callback %d got another future", u->id);
    void *v = NULL;
    int err = wf_future_result(f, &v);
    FZ_CHECK(wf_future_done(f), "callback before completion");
    log_ev(H.log, &H.nlog, EV_CB, u->id, err, (uintptr_t)v);
    if (u->act == A_CANCEL) {
        wf_future_cancel(H.f[u->target]);
    } else if (u->act == A_COMPLETE && H.kind[u->target] == LEAF &&
               H.p[u->target]) {
        struct wf_promise *p = H.p[u->target];
        H.p[u->target] = NULL;
        wf_promise_complete(p, (void *)(uintptr_t)(0x100 + u->id));
    }
}

static void handler(void *arg)
{
    int i = *(int *)arg;
    log_ev(H.log, &H.nlog, EV_HANDLER, i, 0, 0);
}

static void drop(void *v)
{
    FZ_CHECK(*(int *)v == 0x5eed, "dropped value");
    H.drops++;
    free(v);
}

/* After each operation: the same events, the same outcomes. */
static void compare(int op, const char *what, int rc, int mrc)
{
    FZ_CHECK(rc == mrc, "op %d (%s): result %d, model %d", op, what, rc, mrc);
    FZ_CHECK(H.nlog == nmlog, "op %d (%s): %d events, model %d", op, what,
             H.nlog, nmlog);
    for (int k = 0; k < nmlog; k++)
        FZ_CHECK(
            !memcmp(&H.log[k], &mlog[k], sizeof mlog[k]),
            "op %d (%s): event %d is %s %d (%d, %#lx), model %s %d (%d, %#lx)",
            op, what, k, H.log[k].kind ? "handler" : "callback", H.log[k].id,
            H.log[k].err, (unsigned long)H.log[k].val,
            mlog[k].kind ? "handler" : "callback", mlog[k].id, mlog[k].err,
            (unsigned long)mlog[k].val);
    for (int i = 0; i < H.n; i++) {
        void *v = NULL;
        int err = wf_future_result(H.f[i], &v);
        FZ_CHECK(wf_future_done(H.f[i]) == M[i].done,
                 "op %d (%s): future %d %s", op, what, i,
                 M[i].done ? "pending" : "done");
        if (!M[i].done) {
            FZ_CHECK(err == WF_EAGAIN, "pending future's result %d", err);
            continue;
        }
        FZ_CHECK(err == M[i].err && (err || (uintptr_t)v == M[i].val),
                 "op %d (%s): future %d's outcome %d/%#lx, model %d/%#lx", op,
                 what, i, err, (unsigned long)(uintptr_t)v, M[i].err,
                 (unsigned long)M[i].val);
        if (H.kind[i] == LEAF && H.p[i])
            FZ_CHECK(wf_promise_cancelled(H.p[i]) == M[i].cancelled,
                     "promise %d cancelled?", i);
    }
}

/* A fiber awaiting future H.awaited[k]. */
static void *awaiter(void *arg)
{
    int k = (int)(intptr_t)arg, i = H.awaited[k];
    atomic_store(&H.waiting[k], 1);
    H.await_rc[k] = wf_future_await(H.f[i], WF_FOREVER);
    void *v = NULL;
    H.await_err[k] = wf_future_result(H.f[i], &v);
    H.await_val[k] = (uintptr_t)v;
    return NULL;
}

static void await_phase(void)
{
    struct wf_config cfg = {0};
    cfg.workers = 1;
    cfg.stack_size = 64 << 10;
    cfg.stall_ns = -1;
    FZ_CHECK(wf_init(&cfg) == 0, "wf_init");
    struct wf_fiber fib[NAWAIT];
    for (int k = 0; k < H.nawait; k++)
        FZ_CHECK(wf_go(&fib[k], awaiter, (void *)(intptr_t)k) == 0, "wf_go");
    /* A plain thread's wait with a deadline passed, the runtime running. */
    for (int k = 0; k < H.nawait; k++) {
        int i = H.awaited[k];
        int rc = wf_future_wait(H.f[i], wf_now() - 1);
        FZ_CHECK(rc == (M[i].done ? 0 : WF_ETIMEDOUT), "wait: %d", rc);
    }
    /* Let the fibers reach their await (it parks them) before the
     * completions below; neither order is wrong. */
    for (int k = 0; k < H.nawait; k++)
        while (!atomic_load(&H.waiting[k]))
            sched_yield();
    for (int i = 0; i < H.n; i++) {
        if (H.kind[i] == LEAF && H.p[i]) {
            struct wf_promise *p = H.p[i];
            H.p[i] = NULL;
            int rc = wf_promise_complete(p, (void *)(uintptr_t)(0x2000 + i));
            compare(NOPS + i, "complete under a runtime", rc,
                    m_settle(i, 0, (uintptr_t)(0x2000 + i)));
        }
    }
    for (int k = 0; k < H.nawait; k++) {
        FZ_CHECK(wf_join(fib[k], NULL, WF_FOREVER) == 0, "join");
        int i = H.awaited[k];
        FZ_CHECK(H.await_rc[k] == 0, "await of future %d: %d", i,
                 H.await_rc[k]);
        FZ_CHECK(H.await_err[k] == M[i].err &&
                     (M[i].err || H.await_val[k] == M[i].val),
                 "await of future %d saw %d/%#lx, model %d/%#lx", i,
                 H.await_err[k], (unsigned long)H.await_val[k], M[i].err,
                 (unsigned long)M[i].val);
    }
    FZ_CHECK(wf_shutdown() == 0, "wf_shutdown");
    FZ_CHECK(wf_shutdown_discarded() == 0, "fibers left behind");
}

static int pick(struct fz_in *in)
{
    return H.n ? (int)(fz_byte(in) % (unsigned)H.n) : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size, 0};
    memset(&H, 0, sizeof H);
    memset(M, 0, sizeof M);
    nmlog = 0;
    for (int op = 0; op < NOPS && fz_more(&in); op++) {
        unsigned b = fz_byte(&in);
        int rc = 0, mrc = 0, i;
        const char *what = "";
        switch (b % 10) {
        case 0: /* a new promise */
        create:
            what = "create";
            if (H.n == NFUT)
                break;
            i = H.n++;
            H.kind[i] = LEAF;
            H.handler_ids[i] = i;
            rc = wf_promise_create(&H.p[i], &H.f[i]);
            FZ_CHECK(rc == 0, "create");
            break;
        case 1: /* complete, owned or not, or fail */
        case 2: {
            what = "complete";
            if ((i = pick(&in)) < 0)
                goto create;
            unsigned how = fz_byte(&in);
            if (H.kind[i] != LEAF || !H.p[i])
                break;
            struct wf_promise *p = H.p[i];
            H.p[i] = NULL;
            if (b % 10 == 2) {
                static const int errs[] = {WF_EINVAL, WF_EAGAIN, WF_EPIPE, 0,
                                           7};
                int e = errs[how % 5];
                rc = wf_promise_fail(p, e);
                mrc = m_settle(i, e < 0 ? e : WF_EINVAL, 0);
            } else if (how & 1) {
                int *v = malloc(sizeof *v);
                FZ_CHECK(v, "malloc");
                *v = 0x5eed;
                rc = wf_promise_complete_owned(p, v, drop);
                mrc = m_settle(i, 0, (uintptr_t)v);
                if (rc == 0)
                    H.owned++;
                else
                    free(v); /* a cancelled future does not take it */
            } else {
                uintptr_t v = 0x1000 + (uintptr_t)op;
                rc = wf_promise_complete(p, (void *)v);
                mrc = m_settle(i, 0, v);
            }
            break;
        }
        case 3: /* cancel */
            what = "cancel";
            if ((i = pick(&in)) < 0)
                goto create;
            rc = wf_future_cancel(H.f[i]);
            mrc = m_cancel(i);
            break;
        case 4: /* then */
        case 5: {
            what = "then";
            if ((i = pick(&in)) < 0 || H.ncb == NCB)
                goto create;
            unsigned a = fz_byte(&in);
            struct ucb *u = &H.cb[H.ncb];
            *u = (struct ucb){H.ncb, i, (int)(a % 3),
                              (int)((a >> 2) % (unsigned)H.n)};
            H.ncb++;
            rc = wf_future_then(H.f[i], user_cb, u);
            m_add(i, (struct lis){0, u->id});
            break;
        }
        case 6: /* cancel handler */
            what = "on_cancel";
            if ((i = pick(&in)) < 0)
                goto create;
            if (H.kind[i] != LEAF || !H.p[i])
                break;
            rc = wf_promise_on_cancel(H.p[i], handler, &H.handler_ids[i]);
            if (M[i].done) {
                mrc = WF_ECANCELED;
            } else {
                M[i].handler = true;
            }
            break;
        case 7: /* when_all, when_any */
        case 8: {
            what = b % 10 == 7 ? "when_all" : "when_any";
            if (H.n == NFUT)
                break;
            unsigned k = fz_byte(&in);
            int j = H.n, n = (int)(k % (NIN + 1));
            if (n == 0 && b % 10 == 8)
                n = 1;
            if (n > 0 && H.n == 0)
                goto create;
            struct wf_future *fs[NIN];
            H.kind[j] = b % 10 == 7 ? ALL : ANY;
            H.nin[j] = n;
            for (int x = 0; x < n; x++) {
                H.in[j][x] = pick(&in);
                fs[x] = H.f[H.in[j][x]];
            }
            H.n++;
            rc = H.kind[j] == ALL ? wf_future_when_all(&H.f[j], fs, (size_t)n)
                                  : wf_future_when_any(&H.f[j], fs, (size_t)n);
            FZ_CHECK(rc == 0, "%s: %d", what, rc);
            m_combine(j);
            break;
        }
        case 9: /* wait, with a deadline passed and no runtime; or mark
                 * the future for a fiber's await at the end */
            what = "wait";
            if ((i = pick(&in)) < 0)
                goto create;
            if ((fz_byte(&in) & 1) && H.nawait < NAWAIT) {
                H.awaited[H.nawait++] = i;
                break;
            }
            rc = wf_future_wait(H.f[i], wf_now() - 1);
            mrc = M[i].done ? 0 : WF_ESHUTDOWN;
            break;
        }
        compare(op, what, rc, mrc);
    }
    /* Futures marked for an await: a runtime of one worker, a fiber
     * awaiting each (parked, or finding it done), completed from here. */
    if (H.nawait)
        await_phase();
    /* The end: fail what is pending (the model too), release everything. */
    for (int i = 0; i < H.n; i++) {
        if (H.kind[i] == LEAF && H.p[i]) {
            struct wf_promise *p = H.p[i];
            H.p[i] = NULL;
            int rc = wf_promise_fail(p, WF_EPIPE);
            compare(NOPS + i, "final fail", rc, m_settle(i, WF_EPIPE, 0));
        }
    }
    for (int i = 0; i < H.n; i++)
        FZ_CHECK(wf_future_done(H.f[i]), "future %d still pending", i);
    for (int i = 0; i < H.n; i++)
        wf_future_release(H.f[i]);
    FZ_CHECK(H.drops == H.owned, "%d owned values, %d dropped", H.owned,
             H.drops);
    return 0;
}
