/* SPDX-License-Identifier: MIT */
/*
 * Socket data operations on per-worker io_uring rings (WEFT_IO_RINGS=1,
 * weft/io.h): completion-based receives and sends, submitted in batches.
 *
 * Rings. Each worker owns one ring, made lazily by that worker the first
 * time one of its fibers receives or sends (IORING_SETUP_SINGLE_ISSUER:
 * only the owner ever enters the kernel for it; Linux 6.0, else the ring
 * is made without it; IORING_SETUP_COOP_TASKRUN: the kernel does not
 * interrupt the owner to post completions, see "owner computing" below).
 * A fiber's wf_recv / wf_send / wf_read / wf_write
 * (and wf_readv / wf_writev, as recvmsg / sendmsg, and wf_accept) on a
 * socket queues an
 * SQE on the ring of the worker it runs on and parks on its record's
 * state word, with its deadline on weft's own timer; no system call. The owner submits what is queued
 * in one io_uring_enter from its scheduling round (wf__hooks.io_round,
 * core_int.h): every SUBMIT_EVERY scheduling decisions while it has
 * fibers to run, and before it looks for work elsewhere or sleeps. A ring
 * that cannot be set up leaves the worker's fibers on the readiness path
 * (io.c), said once on stderr.
 *
 * Completions. The ring's descriptor sits in the reactor's set under the
 * key "worker ring N" (reactor.c), so the poller machinery that exists
 * for readiness (the worker polling without blocking, the one worker
 * blocked in the poll, the fallback reactor thread) hears of completions
 * while the owner is idle or busy; the owner also peeks at its completion
 * queue at each round (no system call). Reaping stores the result in the
 * record, then the state word (seq_cst), then kicks the fiber from a copy
 * of its waiter (the fiber may return at once). Any thread may reap;
 * `cq_lock` lets one at a time in, and a reaper that finds it held sets
 * `again` (seq_cst) before its try, while the holder clears `again`
 * before draining and looks at it after its unlock (seq_cst): a Dekker,
 * so either the holder drains once more or the late reaper gets the lock.
 * No completion is left unreaped. A user_data is the record's address, or
 * UD_CANCEL for a cancellation, which touches no record. `inflight` counts the completions still to come.
 *
 * Interleavings considered, and how each is handled:
 *   - deadline vs completion: the park's deadline (weft's timer heap)
 *     wakes the fiber with WF_ETIMEDOUT, and it asks for the operation's
 *     cancel exactly as for a cancellation (below), with WF_ETIMEDOUT as
 *     the reason. The operation's own completion is the only one the
 *     fiber waits for: a result that arrives as the deadline fires is in
 *     it (a count), and is returned; -ECANCELED is our cancel, whose
 *     reason is the result. The fiber never returns before that
 *     completion, so the kernel never writes into a buffer after the call
 *     returned (tests: deadline_races_completion, canary_after_timeout).
 *     A timeout is late by the owner's round when the owner computes.
 *   - cancellation of the parked fiber (scope close, wf_cancel): the
 *     cancellable park returns WF_ECANCELED; the fiber asks the ring's
 *     owner for an IORING_OP_ASYNC_CANCEL (request_cancel: the record
 *     goes on the ring's `cancels` list under its lock, and
 *     wf__worker_io_kick wakes the owner or makes its next round see it:
 *     only the owner submits) and parks again, uncancellably, until the
 *     operation's completion: data that came first is returned. The
 *     record leaves the list before its fiber returns (under the ring's
 *     lock), so the owner never names a dead record; a cancel prepared
 *     before the record's completion cannot hit a later operation at the
 *     same address on the same ring, since only the owner prepares SQEs
 *     and submits them in order (test: cancel_parked_recv).
 *   - wf_close of a descriptor with operations on it (another fiber):
 *     each operation is linked into the descriptor's entry (reactor.c)
 *     while in flight, and the generation's bump asks for its cancel
 *     (WF_EBADF) before close(2). An operation the kernel has taken
 *     holds the file until the cancel, so the peer sees the close once
 *     the owner's next round has submitted the cancels. One whose SQE
 *     the owner has not submitted yet must never be: by then the number
 *     may name another descriptor (a receive would take its data, a send
 *     write into it); submit turns its SQE into a NOP, holding the
 *     ring's lock across that and the enter, so request_cancel's return
 *     means taken or scrubbed (test: close_then_reuse_before_submit).
 *   - migration: the record names the ring it was queued on; the
 *     completion may be reaped by any thread and the fiber resumes on any
 *     worker; a cancel goes to the record's ring's owner, whoever asks
 *     (test: migrate_between_submit_and_completion).
 *   - two reapers: cq_lock and `again` above (the owner's round and a
 *     poller's dispatch race in every test with 2 workers).
 *   - owner computing while completions arrive: the completion is posted
 *     by the kernel in the owner's task context (task work); with
 *     COOP_TASKRUN that happens at the owner's next entry into the kernel
 *     or return from an interrupt (its timer tick at the latest), not
 *     through an interrupt of its own, and at once when it sleeps (the
 *     kernel wakes it: a futex wait restarts, a poll returns EINTR).
 *     Then the ring's descriptor wakes the reactor's poll, and a polling
 *     worker or the fallback reactor thread reaps it and readies the
 *     fiber elsewhere. Interrupting the owner at once (no COOP_TASKRUN)
 *     cost weft-httpd a quarter of its requests: each completion's
 *     receive then ran while the sender's CPU still held the socket's
 *     lock (perf: 10% of samples spinning in lock_sock under the task
 *     work). SQEs the owner queued but has not submitted wait for its
 *     next round (a fiber that queues one has just parked, so the round
 *     comes as soon as the fiber's worker switches again).
 *   - shutdown: the reactor's shutdown asks for the cancel of every
 *     operation linked in the table (WF_ESHUTDOWN), and no new one is
 *     queued once the reactor is down; a worker leaving its loop
 *     (io_exit) cancels whatever is still in flight on its ring
 *     (IORING_ASYNC_CANCEL_ANY) and waits for every completion before the
 *     thread exits and the ring closes: the kernel would cancel the
 *     thread's requests at its exit, and records on fiber stacks stay
 *     mapped until the workers are joined. Rings are freed after the
 *     joins (io_free), so a late cancel request from another worker finds
 *     the ring `dead` rather than freed memory (test:
 *     shutdown_with_parked_receives).
 *   - plain threads keep the readiness path; so does a descriptor that
 *     turned out not to be a socket (a pipe given to wf_read).
 *
 * Rejected: IORING_OP_LINK_TIMEOUT for deadlines (the kernel would end
 * the operation itself, without the owner's round): each linked timeout
 * arms and disarms a kernel hrtimer, which took 7-8% of weft-httpd's
 * samples (perf, 1 worker, wrk -c100); weft's timer heap costs nothing
 * in the kernel, and a deadline that fires is rare. Letting any worker submit on any ring under a lock (an
 * io_uring_enter submits everything queued, and the requests belong to
 * the submitting thread: another worker's enter would take the owner's
 * queued receives along); per-operation io_uring_enter (as many system
 * calls as the readiness path).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "common/fault.h"
#include "common/futex.h"
#include "core/config.h"
#include "reactor.h"
#include "rings.h"
#include "trace/trace.h"
#include "weft/io.h"

#define RING_SQ 256
#define RING_CQ 16384
/* Scheduling decisions between two submissions while the owner has
 * fibers to run: fewer submit more often (more system calls), more keep
 * the first fiber's operation waiting behind the others' (latency); 16
 * answered the most requests of 4, 16 and 64 (weft-httpd, -c100). */
#define SUBMIT_EVERY 16

#define UD_CANCEL 1u
/* Tries of one io_uring_enter that the kernel refuses, reaping between. */
#define ENTER_TRIES 3
/* A leaving worker's wait for its last completions, between submits. */
#define EXIT_WAIT_NS 10000000

struct ring {
    struct io_uring ring; /* SQ: owner only; CQ: cq_lock */
    struct wf__worker *owner;
    atomic_int cq_lock;   /* one reaper at a time */
    atomic_int again;     /* a reaper found cq_lock held */
    atomic_long inflight; /* completions still to come */
    atomic_uint head;     /* the CQ head as the last drain left it */
    unsigned since;       /* decisions since a submission; owner only */
    struct wf__spin lock; /* cancels, dead */
    struct op *cancels;   /* records whose cancel the owner submits */
    bool dead;            /* the owner has left (io_exit) */
    /* Multishot receive (see "Multishot receive" below). */
    struct io_uring_buf_ring *br; /* NULL: no multishot on this ring */
    char *bufs;                   /* nbuf buffers of BUF_SIZE */
    struct kept *kept;            /* nbuf records: what a buffer keeps */
    unsigned nbuf;
    struct wf__spin blk; /* br's producer side (buf_put) */
    struct ms *mcancels; /* multishots whose cancel the owner submits
                          * (lock) */
    /* Multishot accept (see "Multishot accept" below). */
    bool macc;                     /* WEFT_IO_MSHOT=1 when made */
    _Atomic(struct macc *) astops; /* whose multishot the owner cancels */
};

struct ms;
/* A reader parked on a multishot state (on its stack). */
struct rdr {
    struct wf__wait wt;
    struct rdr *next;
};
static void ms_setup(struct ring *r);
static void ms_cqe(struct ring *r, struct ms *m, struct io_uring_cqe *cqe);
static void take_mcancels(struct ring *r);
static void ms_cancel(struct wf__clause *cl);
static int ms_io(struct wf__iofd *e, int fd, struct ring *r,
                 enum wf__ring_kind kind, void *buf, size_t n, int flags,
                 int64_t deadline, int what, struct rdr *me, ssize_t *out);
static bool ms_gate(int fd, enum wf__ring_kind kind, void *buf, size_t n,
                    int flags, int64_t deadline, int what, ssize_t *out);
#define UD_MS 2u /* tag bit: the user_data is a struct ms's address */
struct macc;
static void macc_cqe(struct ring *r, struct macc *m, struct io_uring_cqe *cqe);
static void take_astops(struct ring *r);
static void macc_cancel(struct wf__clause *cl);
static int macc_io(struct wf__iofd *e, int fd, struct ring *r,
                   struct wf__ring_acc *a, int64_t deadline, int what,
                   ssize_t *out);
static bool macc_gate(int fd, struct wf__ring_acc *a, bool poll,
                      int64_t deadline, int what, ssize_t *out);
#define UD_MACC     4u /* tag bit: a struct macc's address */
#define MACC_CLAUSE 1  /* a multishot accept's clause (its `queue`) */
#define RECV_CLAUSE 2  /* a single-shot receive's clause (its `queue`) */
static bool ms_busy(struct wf__iofd *e);

/* One operation; on its fiber's stack. */
struct op {
    struct wf__wait wt;   /* state: 0 in flight, 1 completed */
    struct wf__clause cl; /* in its descriptor's entry (its lock) */
    struct ring *ring;    /* the ring it was queued on */
    struct op *cnext;     /* ring->cancels (ring->lock) */
    bool cqueued;         /* in ring->cancels (ring->lock) */
    bool closed;          /* its descriptor is being closed (ring->lock) */
    bool scrubbed;        /* its SQE became a NOP (submit; ring->lock) */
    atomic_int why;       /* the first cancel's reason; 0: none */
    int32_t res;          /* written by the reaper before state */
    struct msghdr msg;    /* RECVV, SENDV; read at submission */
};

/* Setting up failed in this runtime run (the run's wf__rt.gen + 1). */
static atomic_uint failed_run;
static atomic_bool told;

static void tell_once(const char *why, int err)
{
    /* relaxed: one line per process; a second one would be harmless. */
    if (atomic_exchange_explicit(&told, true, memory_order_relaxed))
        return;
    fprintf(stderr,
            "weft: WEFT_IO_RINGS=1: io_uring rings cannot be used (%s: %s); "
            "sockets use readiness\n",
            why, strerror(-err));
}

static unsigned run_id(void)
{
    /* relaxed: written by wf_init before any worker exists. */
    return atomic_load_explicit(&wf__rt.gen, memory_order_relaxed) + 1;
}

/* The calling worker's ring, made on first use (by its owner: the only
 * thread that submits). NULL: rings unavailable in this run. */
static struct ring *ring_get(struct wf__worker *w)
{
    /* relaxed: the owner's own store. */
    struct ring *r = atomic_load_explicit(&w->io_ring, memory_order_relaxed);
    if (r)
        return r;
    if (atomic_load_explicit(&failed_run, memory_order_relaxed) == run_id())
        return NULL;
    if (wf__reactor_valgrind()) {
        tell_once("running under valgrind", -ENOSYS);
        goto fail;
    }
    r = wf__calloc(1, sizeof *r);
    if (!r) {
        tell_once("ring", -ENOMEM);
        goto fail;
    }
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
              IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
    p.cq_entries = RING_CQ;
    int err =
        wf__uring(io_uring_queue_init_params(RING_SQ, &r->ring, &p), -ENOMEM);
    if (err == -EINVAL) { /* before 6.0 (SINGLE_ISSUER), 5.19 (COOP) */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = RING_CQ;
        err = wf__uring(io_uring_queue_init_params(RING_SQ, &r->ring, &p),
                        -ENOMEM);
    }
    if (err < 0) {
        tell_once("io_uring_setup", err);
        goto fail_free;
    }
    if (!(p.features & IORING_FEAT_NODROP)) { /* Linux 5.5 */
        tell_once("no IORING_FEAT_NODROP", -ENOSYS);
        goto fail_ring;
    }
    r->owner = w;
    err = wf__reactor_watch_ring(r->ring.ring_fd, (uint32_t)w->index);
    if (err) {
        if (err != WF_ESHUTDOWN)
            tell_once("watching the ring", err);
        goto fail_ring;
    }
    ms_setup(r);
    r->macc = wf__config_io_mshot();
    /* release: pairs with wf__ring_event's acquire. */
    atomic_store_explicit(&w->io_ring, r, memory_order_release);
    return r;

fail_ring:
    io_uring_queue_exit(&r->ring);
fail_free:
    free(r);
fail:
    atomic_store_explicit(&failed_run, run_id(), memory_order_relaxed);
    return NULL;
}

/* ---- reaping (any thread) ------------------------------------------------- */

static void drain(struct ring *r)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0, done = 0;
    io_uring_for_each_cqe(&r->ring, head, cqe)
    {
        n++;
        /* acquire, after this entry was seen: pairs with the release by
         * which a fiber counts its operation in (wf__ring_io), after
         * writing its record. What really orders the record before its
         * completion is the kernel (the SQE's submission, the completion,
         * the tail's release), which TSan cannot see; this pair states
         * the same order in C11. */
        (void)atomic_load_explicit(&r->inflight, memory_order_acquire);
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        /* liburing's own timeout for io_uring_wait_cqe_timeout (io_exit)
         * on a kernel without IORING_FEAT_EXT_ARG (before 5.11): not
         * ours; its bits would read as a multishot's tag. */
        if (ud == LIBURING_UDATA_TIMEOUT)
            continue;
        if (!(ud & (UD_MS | UD_MACC)) || !(cqe->flags & IORING_CQE_F_MORE))
            done++; /* a multishot's last completion counts */
        if (ud == UD_CANCEL)
            continue;
        if (ud & UD_MACC) {
            macc_cqe(r, (struct macc *)(uintptr_t)(ud & ~(uint64_t)UD_MACC),
                     cqe);
            continue;
        }
        if (ud & UD_MS) {
            ms_cqe(r, (struct ms *)(uintptr_t)(ud & ~(uint64_t)UD_MS), cqe);
            continue;
        }
        struct op *o = (struct op *)(uintptr_t)ud;
        o->res = cqe->res;
        struct wf__waiter who = o->wt.w; /* o may go once state is 1 */
        /* seq_cst: the waker's half of the park-on-word Dekker. */
        atomic_store_explicit(&o->wt.state, 1, memory_order_seq_cst);
        wf__waiter_kick(&who);
    }
    if (n) {
        io_uring_cq_advance(&r->ring, n);
        /* relaxed: a hint for reap's look without the lock. */
        atomic_store_explicit(&r->head, head, memory_order_relaxed);
        /* relaxed: a count; io_exit reads it after its own reaping. */
        atomic_fetch_sub_explicit(&r->inflight, done, memory_order_relaxed);
    }
}

static void reap(struct ring *r)
{
    /* Nothing posted since the last drain (liburing's cq_ready reads the
     * head without an atomic, fine for one consumer only): the head we
     * kept is at most the real one, which is at most the tail, so equal
     * means empty. A completion posted later comes with its own event.
     * acquire: the tail is the kernel's release, the entries with it. */
    unsigned tail = __atomic_load_n(r->ring.cq.ktail, __ATOMIC_ACQUIRE);
    if (tail == atomic_load_explicit(&r->head, memory_order_relaxed))
        return;
    /* seq_cst: the Dekker with the holder's unlock and load (top). */
    atomic_store_explicit(&r->again, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&r->again, memory_order_seq_cst)) {
        int free_ = 0;
        if (!atomic_compare_exchange_strong_explicit(&r->cq_lock, &free_, 1,
                                                     memory_order_seq_cst,
                                                     memory_order_seq_cst))
            return; /* the holder sees `again` after its unlock */
        atomic_store_explicit(&r->again, 0, memory_order_seq_cst);
        drain(r);
        atomic_store_explicit(&r->cq_lock, 0, memory_order_seq_cst);
    }
}

int wf__ring_event(uint32_t index)
{
    if (index >= (uint32_t)wf__rt.nworkers || !wf__rt.workers)
        return -1;
    struct wf__worker *w = &wf__rt.workers[index];
    /* acquire: pairs with ring_get's release. */
    struct ring *r = atomic_load_explicit(&w->io_ring, memory_order_acquire);
    if (!r)
        return -1;
    reap(r);
    if (io_uring_cq_has_overflow(&r->ring))
        wf__worker_io_kick(w); /* only the owner can flush it */
    return r->ring.ring_fd;
}

/* ---- cancelling ------------------------------------------------------------ */

/* Ask the owner of o's ring to cancel o (why: its result when it ends
 * cancelled). Any thread; o's fiber has not returned. */
static void request_cancel(struct op *o, int why)
{
    int none = 0;
    /* seq_cst: against the fiber's load after its completion (finish). */
    bool first = atomic_compare_exchange_strong_explicit(
        &o->why, &none, why, memory_order_seq_cst, memory_order_seq_cst);
    /* A close must reach the owner even when a deadline or a cancel asked
     * first: o's SQE, if still queued, must then not be submitted. So
     * must a shutdown: its walk unlinks o, so that a later close finds
     * nothing to cancel. */
    bool closed = why == WF_EBADF || why == WF_ESHUTDOWN;
    if (!first && !closed)
        return; /* asked already */
    struct ring *r = o->ring;
    bool kick = false;
    wf__spin_lock(&r->lock);
    if (closed)
        o->closed = true;
    /* seq_cst: after our store of why, so a fiber that missed it finds
     * state 1 here (finish). */
    if (!r->dead && !o->cqueued &&
        atomic_load_explicit(&o->wt.state, memory_order_seq_cst) == 0) {
        o->cnext = r->cancels;
        r->cancels = o;
        o->cqueued = true;
        kick = true;
    }
    wf__spin_unlock(&r->lock);
    if (kick)
        wf__worker_io_kick(r->owner);
}

void wf__ring_cancel(struct wf__clause *cl, int why)
{
    if (!cl->wait) { /* a multishot's clause */
        if (cl->queue == MACC_CLAUSE)
            macc_cancel(cl);
        else
            ms_cancel(cl);
        return;
    }
    request_cancel((struct op *)((char *)cl - offsetof(struct op, cl)), why);
}

/* ---- submitting (owner only) ------------------------------------------------- */

/* o's SQE if it is still in the submission queue, not yet consumed by the
 * kernel; NULL once submitted. Owner only (no SQPOLL: the kernel
 * consumes SQEs only in the owner's io_uring_enter); liburing fills the
 * SQ array once, so position i is sqes[i & mask]. */
static struct io_uring_sqe *queued_sqe(struct ring *r, uint64_t ud)
{
    struct io_uring_sq *sq = &r->ring.sq;
    unsigned head = __atomic_load_n(sq->khead, __ATOMIC_ACQUIRE);
    for (unsigned i = head; i != sq->sqe_tail; i++) {
        struct io_uring_sqe *sqe = &sq->sqes[i & sq->ring_mask];
        if (sqe->user_data == ud)
            return sqe;
    }
    return NULL;
}

/* io_uring_enter for what is queued (owner only): 0 or more submitted, or
 * the refusal of the last of ENTER_TRIES tries (-EAGAIN, -EBUSY). What
 * was refused stays queued; io_round sees it and keeps its worker from
 * sleeping until a later enter takes it. */
static int enter(struct ring *r)
{
    int rc;
    for (int tries = 0;; tries++) {
        do
            rc = wf__uring(io_uring_submit(&r->ring), -EAGAIN);
        while (rc == -EINTR);
        if (rc >= 0 || tries == ENTER_TRIES)
            return rc;
        /* -EBUSY: completions backed up in the kernel's overflow list;
         * flush them into the queue (the owner may) and reap them, which
         * makes room. -EAGAIN: no kernel memory for now; reaping frees
         * requests too. */
        if (rc == -EBUSY)
            (void)io_uring_get_events(&r->ring);
        reap(r);
    }
}

/* Submit what is queued, after turning the cancels handed to us into
 * SQEs (owner only). A record whose descriptor is being closed and whose
 * own SQE is still queued is not submitted at all: its SQE becomes a NOP
 * (`scrubbed`), since by now the number may name another descriptor (a
 * wf_close asks for the cancel and then closes). r->lock is held across
 * that and the enter, so a close that returns from request_cancel has
 * either found its operation in the kernel (which then holds the file)
 * or left it where the next submit scrubs it. A deadline's or a cancel's
 * ASYNC_CANCEL goes after the operation's SQE: it still runs once. */
static void submit(struct ring *r)
{
    r->since = 0;
    wf__spin_lock(&r->lock);
    while (r->cancels) {
        struct op *o = r->cancels;
        /* A deadline or a cancel lets the SQE go first (a call tries
         * once, as on the readiness path), a close never. */
        struct io_uring_sqe *sqe =
            o->closed ? queued_sqe(r, (uintptr_t)o) : NULL;
        if (sqe) {
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)o);
            o->scrubbed = true;
        } else {
            sqe = io_uring_get_sqe(&r->ring);
            if (!sqe) {
                /* The cancels wait for room; the rest stay handed to us
                 * for the next round if the kernel refuses it. */
                if (enter(r) < 0)
                    break;
                continue;
            }
            io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)o, 0);
            io_uring_sqe_set_data64(sqe, UD_CANCEL);
            /* relaxed: a count (drain). */
            atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed);
        }
        r->cancels = o->cnext;
        o->cqueued = false;
    }
    take_mcancels(r);
    take_astops(r);
    if (io_uring_sq_ready(&r->ring) > 0)
        enter(r);
    wf__spin_unlock(&r->lock);
}

/* An SQE, submitting what is queued when the queue is full; NULL when
 * the kernel refuses to take the queue (the caller does without). */
static struct io_uring_sqe *sqe_get(struct ring *r)
{
    WF_ASSERT(r->owner == wf__worker_self());
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) {
        submit(r);
        sqe = io_uring_get_sqe(&r->ring);
    }
    return sqe;
}

static void io_round(struct wf__worker *w, bool idle)
{
    /* relaxed: the owner's own store. */
    struct ring *r = atomic_load_explicit(&w->io_ring, memory_order_relaxed);
    /* seq_cst: pairs with wf__worker_io_kick's exchange. */
    bool kicked = false;
    if (atomic_load_explicit(&w->io_kick, memory_order_relaxed) &&
        atomic_exchange_explicit(&w->io_kick, 0, memory_order_seq_cst)) {
        if (io_uring_cq_has_overflow(&r->ring))
            io_uring_get_events(&r->ring);
        kicked = true; /* a canceller waits: submit now */
    }
    if (!kicked && io_uring_sq_ready(&r->ring) == 0)
        r->since = 0; /* nothing to submit, no cancel handed to us */
    else if (kicked || idle || ++r->since >= SUBMIT_EVERY)
        submit(r);
    reap(r);
    bool queued = io_uring_sq_ready(&r->ring) > 0;
    w->io_active =
        queued || atomic_load_explicit(&r->inflight, memory_order_relaxed) > 0;
    /* Refused by the kernel (enter): the worker must not sleep with
     * operations it never submitted, so it kicks itself and comes back
     * (relaxed: its own word; work_visible reads it before sleeping). */
    if (queued && idle)
        atomic_store_explicit(&w->io_kick, 1, memory_order_relaxed);
}

static void io_exit(struct wf__worker *w)
{
    struct ring *r = atomic_load_explicit(&w->io_ring, memory_order_relaxed);
    wf__spin_lock(&r->lock);
    r->dead = true; /* no more cancels: the one below covers them */
    wf__spin_unlock(&r->lock);
    /* The cancels handed to us before (scrubbed or sent), then one for
     * everything still in flight; each round submits what the kernel
     * refused before and waits at most EXIT_WAIT_NS for a completion.
     * relaxed: only this thread submits now, and reaps (the reactor,
     * whose pollers reap too, stopped before the workers). */
    bool asked = false;
    submit(r);
    while (atomic_load_explicit(&r->inflight, memory_order_relaxed) > 0) {
        struct io_uring_sqe *sqe = asked ? NULL : sqe_get(r);
        if (sqe) {
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(sqe, UD_CANCEL);
            atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed);
            asked = true;
        }
        submit(r);
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {0, EXIT_WAIT_NS};
        int rc = io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -ETIME &&
            rc != -EBUSY)
            WF_PANIC("rings: waiting for the last completions: %d", rc);
        reap(r);
    }
    take_astops(r); /* references only: nothing is armed any more */
    io_uring_queue_exit(&r->ring);
    w->io_active = false;
}

static void io_free(struct wf__worker *w)
{
    struct ring *r = atomic_load_explicit(&w->io_ring, memory_order_relaxed);
    if (r) {
        free(r->br);
        free(r->bufs);
        free(r->kept);
    }
    free(r);
    atomic_store_explicit(&w->io_ring, NULL, memory_order_relaxed);
}

__attribute__((constructor)) static void hook_rings(void)
{
    wf__hooks.io_round = io_round;
    wf__hooks.io_exit = io_exit;
    wf__hooks.io_free = io_free;
}

/* ---- the operations ---------------------------------------------------------- */

bool wf__rings_in_use(void)
{
    if (!wf__config_io_rings() || !wf__rt_running())
        return false;
    if (wf__fiber_self())
        return ring_get(wf__worker_self()) != NULL;
    /* relaxed: as in ring_get. */
    return atomic_load_explicit(&failed_run, memory_order_relaxed) != run_id();
}

bool wf_io_rings(void)
{
    return wf__rings_in_use();
}

/* The fiber's part once o has completed: leave the cancel list if a
 * cancel was asked for and not yet taken. Whether o's SQE was never
 * submitted (scrubbed: o ended by its cancel). */
static bool finish(struct op *o)
{
    /* seq_cst: see request_cancel; a canceller that we miss here sees
     * state 1 under the lock and queues nothing. A scrubbed record had
     * its why set before it was queued. */
    if (!atomic_load_explicit(&o->why, memory_order_seq_cst))
        return false;
    struct ring *r = o->ring;
    wf__spin_lock(&r->lock);
    if (o->cqueued) {
        for (struct op **p = &r->cancels; *p; p = &(*p)->cnext)
            if (*p == o) {
                *p = o->cnext;
                break;
            }
        o->cqueued = false;
    }
    bool scrubbed = o->scrubbed;
    wf__spin_unlock(&r->lock);
    return scrubbed;
}

/* A call by a plain thread or a fiber on a worker without a ring: the
 * descriptor's multishot states still come first (nothing they kept may
 * be left behind a caller that waits on the socket itself): reads go
 * through ms_gate, accepts through macc_gate. False: readiness. */
static bool no_ring(int fd, enum wf__ring_kind kind, void *buf, size_t n,
                    int flags, int64_t deadline, int what, ssize_t *out)
{
    if (kind == WF__RING_ACCEPT)
        return macc_gate(fd, buf, false, deadline, what, out);
    bool rd = kind == WF__RING_RECV || kind == WF__RING_RECVV ||
              kind == WF__RING_POLLIN;
    return rd && ms_gate(fd, kind, buf, n, flags, deadline, what, out);
}

bool wf__ring_io(int fd, enum wf__ring_kind kind, void *buf, size_t n,
                 int flags, int64_t deadline, int what, ssize_t *out)
{
    if (!wf__config_io_rings())
        return false;
    /* A wait for reading looks only at multishot states: without them,
     * readiness (io_loop) answers it at once, with no lookup or spend
     * here. */
    if (kind == WF__RING_POLLIN && !wf__config_io_mshot())
        return false;
    /* A read that cannot go through a multishot of its own still goes
     * through the descriptor's multishot state, if any (ms_gate). */
    bool rd = kind == WF__RING_RECV || kind == WF__RING_RECVV ||
              kind == WF__RING_POLLIN;
    /* A wait for reading on a listener whose multishot accept keeps
     * connections: ready while one is kept (macc_gate). */
    if (kind == WF__RING_POLLIN &&
        macc_gate(fd, NULL, true, deadline, what, out))
        return true;
    struct wf__fcb *self = wf__fiber_self();
    if (!self) /* plain thread: readiness (accept: see macc_gate) */
        return no_ring(fd, kind, buf, n, flags, deadline, what, out);
    int err;
    struct wf__iofd *e = wf__iofd_get(fd, &err);
    if (!e)
        return false;
    if (wf__iofd_notsock(e)) /* a listener marked by macc_gate: its */
        return kind == WF__RING_ACCEPT && /* kept connections first */
               macc_gate(fd, buf, false, deadline, what, out);
    if (!ring_get(wf__worker_self())) /* before spending: readiness does */
        return no_ring(fd, kind, buf, n, flags, deadline, what, out);
    /* The spend may yield, and the fiber then goes on on another worker,
     * whose ring is the one to use: the worker is read after it. */
    wf__coop_spend(self);
    struct wf__worker *w = wf__worker_self();
    struct ring *r = ring_get(w);
    if (!r)
        return no_ring(fd, kind, buf, n, flags, deadline, what, out);
again: /* a receive that found a state at its link (below) */
    if (rd && !r->br) {
        if (ms_gate(fd, kind, buf, n, flags, deadline, what, out))
            return true;
        if (kind == WF__RING_POLLIN)
            return false;
    } else if (rd) {
        struct rdr me;
        wf__wait_init(&me.wt, self);
        int took =
            ms_io(e, fd, r, kind, buf, n, flags, deadline, what, &me, out);
        if (took != 0 || kind == WF__RING_POLLIN)
            return took > 0; /* < 0: readiness */
    }
    if (r->macc && kind == WF__RING_ACCEPT) {
        int took = macc_io(e, fd, r, buf, deadline, what, out);
        if (took != 0)
            return took > 0;   /* < 0: readiness */
        w = wf__worker_self(); /* single-shot: we may have moved */
        r = ring_get(w);
        if (!r)
            return no_ring(fd, kind, buf, n, flags, deadline, what, out);
    }
    struct op o;
    o.ring = r;
    o.cqueued = false;
    o.closed = false;
    o.scrubbed = false;
    o.res = 0;
    atomic_init(&o.why, 0);
    wf__wait_init(&o.wt, self);
    atomic_init(&o.wt.state, 0);
    o.cl.wait = &o.wt;
    o.cl.queue = rd ? RECV_CLAUSE : 0;
    /* The SQE before the link: a submit that makes room takes the
     * cancels handed to us, and one for o (a close once o is linked) must
     * find o's SQE in the queue to scrub it. No submit comes between the
     * link and the SQE's preparation below (this thread, no switch). */
    struct io_uring_sqe *sqe = sqe_get(r);
    if (!sqe)
        return false; /* the kernel takes no more now: readiness */
    uint32_t gen = wf__iofd_gen(e);
    /* A receive never waits in the kernel beside a multishot state that
     * may keep data (the multishot would take what it waits for): one
     * that finds such a state now goes through it (multishot receive,
     * "flagged receives"). */
    wf__iofd_lock(e);
    bool via_ms = rd && ms_busy(e);
    err = via_ms ? 0 : wf__iofd_ring_link(e, gen, &o.cl);
    wf__iofd_unlock(e);
    if (err || via_ms) {
        io_uring_prep_nop(sqe); /* the SQE is taken: make it harmless */
        io_uring_sqe_set_data64(sqe, UD_CANCEL);
        /* relaxed: a count (drain). */
        atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed);
        if (via_ms)
            goto again; /* no switch since: still w's fiber, r its ring */
        *out = err;
        return true;
    }
    wf__trace_io_begin((enum wf__tio)what, &err, fd);
    flags &= ~MSG_DONTWAIT;
    if (n > 0x7ffff000 && kind != WF__RING_RECVV && kind != WF__RING_SENDV)
        /* Linux's most per call (MAX_RW_COUNT) */
        n = 0x7ffff000;
    if (kind == WF__RING_RECVV || kind == WF__RING_SENDV) {
        memset(&o.msg, 0, sizeof o.msg);
        o.msg.msg_iov = buf;
        o.msg.msg_iovlen = n;
    }
    if (kind == WF__RING_RECV)
        io_uring_prep_recv(sqe, fd, buf, n, flags);
    else if (kind == WF__RING_SEND)
        io_uring_prep_send(sqe, fd, buf, n, flags | MSG_NOSIGNAL);
    else if (kind == WF__RING_RECVV)
        io_uring_prep_recvmsg(sqe, fd, &o.msg, flags);
    else if (kind == WF__RING_SENDV)
        io_uring_prep_sendmsg(sqe, fd, &o.msg, flags | MSG_NOSIGNAL);
    else
        io_uring_prep_accept(sqe, fd, ((struct wf__ring_acc *)buf)->addr,
                             ((struct wf__ring_acc *)buf)->len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)&o);
    /* release: pairs with drain's acquire (the record before its
     * completion). */
    atomic_fetch_add_explicit(&r->inflight, 1, memory_order_release);
    w->io_active = true;
    wf__inspect_io(); /* wf_stats */
    /* The round that submits comes as soon as this fiber parks. */
    while (atomic_load_explicit(&o.wt.state, memory_order_seq_cst) == 0) {
        /* The deadline is this park's: weft's timer, not the kernel's. */
        int pe =
            wf__waiter_park_word(&o.wt.w, &o.wt.state, 0, deadline, WF__WHY_IO);
        if (pe == WF_ECANCELED || pe == WF_ETIMEDOUT) {
            request_cancel(&o, pe);
            while (atomic_load_explicit(&o.wt.state, memory_order_seq_cst) == 0)
                wf__waiter_park_word_nocancel(&o.wt.w, &o.wt.state, 0,
                                              WF_FOREVER, WF__WHY_IO);
        }
    }
    bool scrubbed = finish(&o);
    wf__iofd_ring_unlink(e, &o.cl);
    ssize_t res = o.res;
    if (res == -ECANCELED || scrubbed) { /* ended by our cancel: its reason */
        res = atomic_load_explicit(&o.why, memory_order_seq_cst);
        if (res == 0) /* cancelled by the kernel itself (not by weft) */
            res = WF_ECANCELED;
    } else if (res == -ENOTSOCK) {
        wf__iofd_set_notsock(e, gen);
        wf__trace_io_end(&err, res);
        return false; /* nothing happened: the readiness path does it */
    }
    wf__trace_io_end(&err, res);
    *out = res;
    return true;
}

/* ---- multishot receive ---------------------------------------------------- */
/*
 * Multishot receive (WEFT_IO_MSHOT=1, with WEFT_IO_RINGS=1; weft/io.h).
 * Each ring registers a provided-buffer ring (group BGID, `nbuf` buffers
 * of BUF_SIZE; WEFT_IO_MSHOT_BUFS sets the count, a power of two, for
 * tests of exhaustion). The first wf_read / wf_recv (flags 0) /
 * wf_readv of a socket by a fiber attaches a `struct ms` to the
 * descriptor's entry in the reactor's table (under the entry's lock)
 * and arms one IORING_OP_RECV with IORING_RECV_MULTISHOT and
 * buffer select on the reader's ring. Each completion's buffer is kept
 * in the descriptor's queue, a list of the buffers' own records (ring,
 * buffer id, length, offset consumed; r->kept[bid]), so keeping data
 * never allocates and cannot fail;
 * a reader copies from the queue into its own buffer and gives each
 * emptied buffer back, with no system call and no ring operation while
 * data is queued. A completion without IORING_CQE_F_MORE ends the
 * multishot (ENOBUFS when the buffer ring ran dry, or the kernel's
 * choice): a reader that finds the queue empty and nothing armed arms
 * again on its own ring. End of stream (res 0) and errors are kept
 * after the data and returned once the queue is empty; end of stream
 * stays (every later read returns 0), an error is returned once.
 *
 * Locks, in the order they are taken (never the other way):
 *   entry's lock (reactor.c: wf__iofd_lock; the state's attachment, and
 *     held by a reader throughout but across its park, and by the
 *     reactor's close/renew/shutdown walk that calls ms_cancel)
 *   -> r->lock (a ring's: its cancels and mcancels, `dead`, `mcq`,
 *     `cnext`; submit holds it across the scrub and the enter, and the
 *     enter may reap)
 *   -> m->lock (a state's: armed, dead, noarm, nopped, ended, the queue,
 *     the readers, r; the reaper takes it, under r->lock when submit's
 *     enter reaps; take_mcancels, under r->lock, for `nopped`)
 *   -> r->blk (a ring's buffer ring, producer side; innermost).
 * So the reaper (ms_cqe) takes only m->lock and r->blk, never an entry's
 * or a ring's lock, and a reader never holds m->lock across sqe_get
 * (which may submit and reap). `cq_lock` is only ever tried, never
 * waited for. A state is freed by whoever drops its last reference
 * (`refs`: one for the attachment, one while a multishot is armed, one
 * while it is in a ring's mcancels), so the reaper of the last
 * completion, the close and the owner's submit need not agree under
 * one lock which of them frees it.
 *
 * Interleavings considered:
 *   - buffers: only one thread at a time may publish on a buffer ring
 *     (liburing: the application is the ring's single producer; the
 *     tail is a plain read-modify-release). The producer need not be the
 *     owner, so any reader gives buffers back to the ring they came from,
 *     under that ring's `blk`; a ring whose owner left takes them too,
 *     harmlessly (its memory stays until io_free, after the joins).
 *   - a reader on another worker than the ring that owns the multishot:
 *     data is per descriptor, and the reaper (any thread) queues it and
 *     wakes every parked reader; the reader copies and returns buffers
 *     itself (above). Only an owner submits: a reader that must arm again
 *     does it on the ring of the worker it runs on, which becomes the
 *     multishot's ring; at most one multishot is armed per descriptor
 *     (`armed`), and the queue keeps each buffer's ring, so data from the
 *     previous ring is read first, in order.
 *   - close (wf_close by another fiber) or renew while data is queued or
 *     a completion is on its way: the generation's bump calls
 *     wf__ring_cancel on the multishot's clause, under the entry's lock:
 *     the state is detached from the entry (the next descriptor with the
 *     number starts afresh), its kept buffers go back, parked readers
 *     wake (and return WF_EBADF, seeing the new generation), and, if a
 *     multishot is armed, its ring's owner is asked to cancel it
 *     (`mcancels`, as for operations). The state goes with its last
 *     reference (above): after the multishot's last completion (`dead`:
 *     its buffers go back, its data is dropped) and the owner's taking
 *     of the cancel, or at once when nothing is armed. A cancel SQE for
 *     a freed state cannot hit a later one at the same address: the
 *     state lives until the owner has prepared it, and the owner submits
 *     in order.
 *   - close, and the number reused, before the owner submitted the
 *     arming SQE: as for operations, submit (r->lock held across it and
 *     the enter) turns a queued arming of a state in mcancels into a NOP
 *     with the state's user_data, whose completion ends the state like a
 *     last one; so a close that has queued the cancel has either found
 *     the multishot in the kernel (which holds the old file) or left its
 *     SQE where it is never submitted (test:
 *     mshot_close_then_reuse_before_submit).
 *   - readers that cannot arm (the rule: nothing kept is ever left
 *     behind a reader that waits on the socket itself). A plain thread,
 *     a fiber whose worker has no ring or whose ring has no buffers
 *     (ms_gate), and a reader whose ring refuses an arming (sqe_get
 *     returns NULL) make the state `noarm`, making one if the descriptor
 *     has none (a plain thread waiting on readiness while a fiber then
 *     armed a multishot would never see the data it took; test:
 *     plain_thread_reads_first). A noarm state is never armed again; if
 *     a multishot is armed, its owner is asked to cancel it (ms_stop,
 *     mcancels, as for a close). Every reader, fiber or plain thread,
 *     then takes what is kept first, waits as a reader of the state
 *     (plain threads park on their futex parker; the reaper's wake-up
 *     reaches both) while the multishot is armed, and once the queue is
 *     empty and nothing is armed reads the socket itself (readiness or
 *     single-shot), which holds everything after the kept data: the
 *     multishot's data before its cancel came as completions before its
 *     last one (test: plain_thread_reads). A cancelled arming that was
 *     never submitted becomes a NOP whose completion says res 0: `nopped`
 *     keeps it from reading as the end of the stream.
 *   - peek and other flags: a descriptor with no multishot state keeps
 *     the single-shot path for MSG_PEEK, MSG_WAITALL and every other
 *     flag. Once it has one, every fiber read goes through the queue (a
 *     single-shot receive would overtake the queued data): MSG_PEEK
 *     copies without consuming, MSG_WAITALL waits until the buffer is
 *     full or the stream ends, other flags are ignored.
 *   - flagged receives (a single-shot receive waiting in the kernel while
 *     another reader would arm): a multishot armed beside it may take
 *     the data it waits for, and it would wait on. The invariant, under
 *     the entry's lock: a single-shot receive (IORING_OP_RECV/RECVMSG,
 *     its clause in the entry's rq with `queue` RECV_CLAUSE) is never
 *     linked while the entry has a state that may keep data ("busy",
 *     ms_busy: any but a noarm one with nothing kept, armed or ended,
 *     which stays so, since nothing arms a noarm state), and a state
 *     that may arm is never attached while such a receive is linked.
 *     Both checks are made under the entry's lock together with the
 *     link (wf__ring_io) or the attachment (ms_io), so of a receive and
 *     an arming reader whoever takes the lock first decides:
 *       . the receive links first: the reader finds it (at ms_io's first
 *         look, or at the attachment, for one linked while the reader
 *         allocated the state) and goes single-shot too; both wait in
 *         the kernel, which hands the data to one of them, and nothing
 *         is kept. The next read after the receives are unlinked arms
 *         (tests: peek_parked_then_read_arms, waitall_parked_then_read_
 *         arms, _apart for two workers).
 *       . the reader attaches first: the receive, flagged or one sent
 *         single-shot by the case above, finds the busy state when it
 *         links (ms_io's early return for flags, or for a linked
 *         receive, came before) and, its SQE made a NOP, starts again
 *         through the state (ms_io, or ms_gate on a ring without
 *         buffers), where it reads the queue first (test:
 *         flagged_recv_races_arming, the two orders at random).
 *     A state's own re-arming needs no check: while it is attached no
 *     receive links. A plain thread's or bufferless ring's noarm state
 *     may come beside a linked receive: it never arms.
 *   - deadline or cancellation of a parked reader while data arrives:
 *     data is queued by the reaper under the state's lock whether or not
 *     a reader waits; a reader that wakes with WF_ETIMEDOUT or
 *     WF_ECANCELED takes what is queued by then (a count) or returns the
 *     error, and whatever it did not take stays for the next read. A
 *     deadline that passed with nothing kept still tries once, as on the
 *     single-shot path: while the socket holds data (MSG_PEEK) the reader
 *     moves the multishot along (the owner of its ring submits and runs
 *     its task work; another reader kicks the owner and yields), then
 *     looks once more (test: test_rings' expired_deadline_tries_once,
 *     run with multishot on).
 *   - shutdown with data queued: the reactor's walk detaches and cancels
 *     every entry's clause (WF_ESHUTDOWN), as for a close; io_exit's
 *     IORING_ASYNC_CANCEL_ANY ends the armed multishots and waits for
 *     their last completions, whose reaper frees the states.
 *   - exhaustion under many connections: each connection holds only the
 *     buffers its reader has not consumed; a dry buffer ring ends the
 *     multishots that find it dry (ENOBUFS, `dry`). No data is lost (the
 *     kernel keeps it in the socket). A reader of a dry state with its
 *     queue empty reads the socket itself (ms_direct, nonblocking, the
 *     entry's lock held so that nobody arms meanwhile) and arms again
 *     only when the socket is empty: arming into a ring whose buffers
 *     are all kept for other sockets, whose readers may wait for this
 *     one, ended at once, again and again, until the deadline (test:
 *     buffers_kept_elsewhere).
 *   - a descriptor that is not a socket (a pipe): the multishot ends with
 *     ENOTSOCK; the state is dropped and the readiness path used.
 *   - wf_fd_wait for reading, from a fiber, on a descriptor with
 *     multishot state: ready when data or the end is kept, else it waits
 *     as a reader that takes nothing (its readiness would never come: the
 *     multishot empties the socket).
 * Measured (weft-httpd --workers 1, bench/httpd.sh, a loaded 2-core
 * machine): multishot answered 1.15 times the requests of single-shot
 * receives at -c100 and -c1000 (medians of 8 alternating rounds) with
 * 0.10 system calls a request instead of 0.15; weft-bench echo the same
 * within noise. Armed at the first read rather than after the first that
 * would block: with one request a connection (wrk -H "Connection:
 * close" -c50) on and off answered the same, so arming early costs
 * nothing measurable. Registered files (IOSQE_FIXED_FILE) are not used:
 * docs/ARCHITECTURE.md says why, with what they could save.
 *   - the queue: a buffer is in at most one queue at a time, so its
 *     record in its ring serves as the queue's link; keeping data takes
 *     no memory and cannot fail (it used to grow an array in the
 *     reaper: a failed growth dropped a buffer's data while the
 *     multishot went on; test: test_fault_limits' mshot_kept_oom). A
 *     record is the reader's until it gives the buffer back (buf_put),
 *     never after: the next completion may fill it at once.
 *   - a fiber's wf_fd_wait for reading of a socket with no state yet
 *     waits on readiness (a plain thread's makes a noarm state); another
 *     fiber's read that arms a multishot then gives the entry's readers
 *     an edge (wf__iofd_edge_read), and the waiter, finding the socket
 *     empty and a live state (wf__ring_ms_live), waits on the state
 *     instead (io.c's wf_fd_wait; test: fd_wait_then_another_arms).
 * A close's cancel is the owner's to submit: until then the armed
 * multishot holds the file, so the socket is not released (the peer
 * sees no end) while the owner's worker is blocked in a system call
 * (test_rings' plain_thread_mixed used to block it in pthread_join).
 * Flags other than MSG_PEEK, MSG_WAITALL and MSG_DONTWAIT are ignored
 * once a socket has a state.
 */

#define BUF_SIZE     4096
#define NBUF_DEFAULT 1024 /* 4 MiB per ring */
#define BGID         0

/* A buffer's data kept for a descriptor: one record per buffer of a
 * ring, in r->kept[bid], linked into the queue of the state that holds
 * the buffer (a buffer is in one queue at a time, from its completion
 * until a reader, a close or the reaper gives it back), so that keeping
 * data never allocates. */
struct kept {
    struct ring *r; /* whose buffer */
    uint32_t bid, len, off;
    struct kept *next;
};

struct ms {
    struct wf__clause cl; /* in the entry's rq while attached; wait NULL */
    struct wf__iofd *e;
    int fd;
    atomic_int refs;      /* attached, armed, in mcancels: one each */
    struct wf__spin lock; /* the fields below but mcq, cnext */
    struct ring *r;       /* the ring it was last armed on */
    bool armed;           /* a multishot is in flight */
    bool dead;            /* detached: a close, renew or shutdown */
    bool noarm;           /* never armed again: readers use the socket
                           * once the queue is empty and nothing armed */
    bool nopped;          /* the arming became a NOP (take_mcancels) */
    bool dry;             /* the last multishot ended with ENOBUFS */
    bool ended;           /* endres follows the queue */
    int endres;           /* 0: end of stream; < 0: error */
    struct kept *qh, *qt; /* the queue: first and last */
    struct rdr *readers;
    bool mcq;         /* in r->mcancels (r->lock) */
    struct ms *cnext; /* r->mcancels (r->lock) */
};

static void ms_setup(struct ring *r)
{
    if (!wf__config_io_mshot())
        return;
    /* WEFT_IO_MSHOT_BUFS: checked by wf_init (a power of two, at most
     * 32768); 0 when unset. */
    long set = wf__config_io_mshot_bufs();
    unsigned n = set > 0 ? (unsigned)set : NBUF_DEFAULT;
    void *br = NULL;
    if (posix_memalign(&br, 4096, n * sizeof(struct io_uring_buf)))
        return;
    char *bufs = wf__malloc((size_t)n * BUF_SIZE);
    struct kept *kept = wf__calloc(n, sizeof *kept);
    if (!bufs || !kept) {
        free(kept);
        free(bufs);
        free(br);
        return;
    }
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)br;
    reg.ring_entries = n;
    reg.bgid = BGID;
    if (io_uring_register_buf_ring(&r->ring, &reg, 0) != 0) {
        free(kept);
        free(bufs); /* before 5.19: single-shot receives */
        free(br);
        return;
    }
    for (unsigned i = 0; i < n; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * BUF_SIZE, BUF_SIZE,
                              (unsigned short)i, io_uring_buf_ring_mask(n),
                              (int)i);
    io_uring_buf_ring_advance(br, (int)n);
    r->br = br;
    r->bufs = bufs;
    r->kept = kept;
    r->nbuf = n;
}

/* Give buffer bid back to r's buffer ring. Any thread, under at most
 * entry, ring and state locks (r->blk is the innermost). A ring whose
 * owner left takes it too: its kernel side is gone, its memory stays
 * until io_free. The buffer's record (r->kept[bid]) is not the caller's
 * any more: another completion may fill it at once. */
static void buf_put(struct ring *r, unsigned bid)
{
    wf__spin_lock(&r->blk);
    io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE,
                          (unsigned short)bid, io_uring_buf_ring_mask(r->nbuf),
                          0);
    io_uring_buf_ring_advance(r->br, 1);
    wf__spin_unlock(&r->blk);
}

/* Keep len bytes of r's buffer bid after m's queue (m->lock held). */
static void q_push(struct ms *m, struct ring *r, unsigned bid, uint32_t len)
{
    WF_ASSERT(bid < r->nbuf);
    /* The buffer's last reader was done with its record before its
     * buf_put's release of the tail, and the kernel handed the buffer
     * out again only after reading that tail: an acquire load of the
     * tail says so to the C11 model (and to TSan, which does not see
     * the kernel's ordering). */
    (void)io_uring_smp_load_acquire(&r->br->tail);
    struct kept *k = &r->kept[bid];
    k->r = r;
    k->bid = bid;
    k->len = len;
    k->off = 0;
    k->next = NULL;
    if (m->qt)
        m->qt->next = k;
    else
        m->qh = k;
    m->qt = k;
}

static void q_drop(struct ms *m)
{
    for (struct kept *k = m->qh, *nx; k; k = nx) {
        nx = k->next; /* before: k is the buffer's, once it is back */
        buf_put(k->r, k->bid);
    }
    m->qh = m->qt = NULL;
}

/* Wake every waiter of a list (they look again) and empty it; the
 * state's lock held. */
static void rdrs_wake(struct rdr **list)
{
    for (struct rdr *d = *list, *nx; d; d = nx) {
        nx = d->next;
        struct wf__waiter who = d->wt.w; /* d may go once state is 1 */
        /* seq_cst: the waker's half of the park-on-word Dekker. */
        atomic_store_explicit(&d->wt.state, 1, memory_order_seq_cst);
        wf__waiter_kick(&who);
    }
    *list = NULL;
}

/* Wake every parked reader (they look again). m->lock held. */
static void wake_readers(struct ms *m)
{
    rdrs_wake(&m->readers);
}

/* Drop one of m's references; the last frees it. */
static void ms_unref(struct ms *m)
{
    /* acq_rel: every holder's writes before the free. */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}

/* A completion of m's multishot on r (the reaper: r's cq_lock held, and
 * maybe r->lock by the submit whose enter reaps; so m->lock and buffer
 * locks only, never an entry's lock or a ring's lock). */
static void ms_cqe(struct ring *r, struct ms *m, struct io_uring_cqe *cqe)
{
    bool more = cqe->flags & IORING_CQE_F_MORE;
    bool last = !more;
    bool hasbuf = cqe->flags & IORING_CQE_F_BUFFER;
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    int res = cqe->res;
    wf__spin_lock(&m->lock);
    if (last)
        m->armed = false;
    if (last && m->nopped)
        res = -ECANCELED; /* the arming's NOP: no end of stream */
    if (last)
        m->dry = res == -ENOBUFS;
    if (m->dead) {
        if (hasbuf)
            buf_put(r, bid);
    } else {
        if (hasbuf && res > 0)
            q_push(m, r, bid, (uint32_t)res);
        else if (hasbuf)
            buf_put(r, bid);
        if (!more && res <= 0 && res != -ENOBUFS && res != -ECANCELED &&
            !m->ended) {
            m->ended = true;
            m->endres = res;
        }
        wake_readers(m);
    }
    wf__spin_unlock(&m->lock);
    if (last)
        ms_unref(m); /* the arming's */
}

/* Ask the owner of mr, the ring m was last armed on, to cancel m's
 * multishot (entry lock held, m->lock not; m is detached or noarm, so
 * nothing arms it again and mr stays its ring). */
static void ms_stop(struct ms *m, struct ring *mr)
{
    bool kick = false;
    wf__spin_lock(&mr->lock);
    if (!mr->dead && !m->mcq) {
        /* relaxed: the caller holds a reference. */
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
        m->cnext = mr->mcancels;
        mr->mcancels = m;
        m->mcq = true;
        kick = true;
    }
    wf__spin_unlock(&mr->lock);
    if (kick)
        wf__worker_io_kick(mr->owner);
}

/* The descriptor is closed, renewed or the reactor shuts down: detach
 * m (entry lock held; see the top of this section). */
static void ms_cancel(struct wf__clause *cl)
{
    struct ms *m = (struct ms *)((char *)cl - offsetof(struct ms, cl));
    wf__iofd_ms_detach(m->e, cl);
    wf__spin_lock(&m->lock);
    m->dead = true;
    q_drop(m);
    wake_readers(m);
    /* Stable while we hold the entry's lock: only a reader arms, under
     * it, and none arms a detached state. armed may turn false now
     * (its last completion), and the cancel below then finds nothing. */
    bool armed = m->armed;
    struct ring *r = m->r;
    wf__spin_unlock(&m->lock);
    if (armed)
        ms_stop(m, r);
    ms_unref(m); /* the attachment's */
}

/* Owner only, from submit with r->lock held: the multishot cancels
 * handed to us. A multishot whose arming SQE is still queued is never
 * submitted (the number may name another socket by now): the SQE
 * becomes a NOP under m's user_data, which ends m like a last
 * completion that keeps nothing (`nopped`). Else an ASYNC_CANCEL; m
 * stays alive (its mcancels reference) until that is prepared, so the
 * cancel never names a later state at the same address (the owner
 * submits in order). */
static void take_mcancels(struct ring *r)
{
    while (r->mcancels) {
        struct ms *m = r->mcancels;
        uint64_t ud = (uint64_t)(uintptr_t)m | UD_MS;
        struct io_uring_sqe *sqe = queued_sqe(r, ud);
        if (sqe) {
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data64(sqe, ud);
            wf__spin_lock(&m->lock);
            m->nopped = true;
            wf__spin_unlock(&m->lock);
        } else {
            sqe = io_uring_get_sqe(&r->ring);
            if (!sqe) {
                if (enter(r) < 0)
                    return; /* the rest wait for the next round */
                continue;
            }
            io_uring_prep_cancel64(sqe, ud, 0);
            io_uring_sqe_set_data64(sqe, UD_CANCEL);
            /* relaxed: a count (drain). */
            atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed);
        }
        r->mcancels = m->cnext;
        m->mcq = false;
        ms_unref(m); /* the list's */
    }
}

/* Arm m's multishot on r, the calling worker's ring, in sqe (entry lock
 * and m->lock held). */
static void ms_arm(struct ring *r, struct ms *m, struct io_uring_sqe *sqe)
{
    io_uring_prep_recv_multishot(sqe, m->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)m | UD_MS);
    m->r = r;
    m->armed = true;
    m->nopped = false;
    /* relaxed: we hold the attachment's reference. */
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    /* release: as in wf__ring_io. */
    atomic_fetch_add_explicit(&r->inflight, 1, memory_order_release);
    r->owner->io_active = true;
}

/* Copy queued data into iov past its first `skip` bytes, consuming it
 * unless peek. m->lock held. */
static size_t ms_copy(struct ms *m, const struct iovec *iov, size_t cnt,
                      size_t skip, bool peek)
{
    size_t got = 0, vi = 0, vo = skip;
    while (vi < cnt && vo >= iov[vi].iov_len)
        vo -= iov[vi++].iov_len;
    struct kept *k = m->qh;
    uint32_t off = k ? k->off : 0;
    while (vi < cnt && k) {
        size_t c = iov[vi].iov_len - vo;
        if (c > k->len - off)
            c = k->len - off;
        memcpy((char *)iov[vi].iov_base + vo,
               k->r->bufs + (size_t)k->bid * BUF_SIZE + off, c);
        got += c;
        vo += c;
        off += (uint32_t)c;
        if (off == k->len) {
            struct kept *nx = k->next;
            if (!peek)
                buf_put(k->r, k->bid); /* k is not ours after this */
            k = nx;
            off = 0;
        }
        if (vo == iov[vi].iov_len) {
            vi++;
            vo = 0;
        }
    }
    if (!peek) {
        m->qh = k;
        if (k)
            k->off = off;
        else
            m->qt = NULL;
    }
    return got;
}

/* A nonblocking read of the socket itself into iov (peek: without
 * consuming); for a wait (poll), whether it is readable: WF_IO_READ.
 * The result, 0 at the end, or a negative errno (-EAGAIN: nothing). */
static ssize_t ms_direct(int fd, const struct iovec *iov, size_t cnt, bool peek,
                         bool poll)
{
    char c;
    struct iovec one = {&c, 1};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = poll ? &one : (struct iovec *)iov;
    msg.msg_iovlen = poll ? 1 : cnt;
    ssize_t d;
    do
        d = recvmsg(fd, &msg, MSG_DONTWAIT | (peek || poll ? MSG_PEEK : 0));
    while (d < 0 && errno == EINTR);
    if (d < 0)
        d = -errno;
    if (poll && d != -EAGAIN && d != -EWOULDBLOCK)
        return WF_IO_READ; /* data, the end or an error: readable */
    return d;
}

/* r if it has a buffer ring (it can arm a multishot), else NULL. */
static struct ring *usable(struct ring *r)
{
    return r && r->br ? r : NULL;
}

/* A read of fd through its multishot state: 1 with the result in *out;
 * 0 (before any park: a fiber is still on r's owner) for the
 * single-shot path; -1 for the readiness path (fd is not a socket, or
 * the state is noarm with nothing kept and nothing armed; a fiber may
 * have moved since r was its worker's ring). r: the calling fiber's
 * ring, with buffers; NULL where the caller cannot arm (a plain thread,
 * a fiber whose worker has no ring or no buffer ring), which makes the
 * state noarm. `me` is ready for a wait (wf__wait_init). Locks: the
 * entry's throughout but across the park; m->lock inside it, but not
 * across sqe_get (a submit that makes room reaps, and the reaper takes
 * m->lock) nor across ms_stop (r->lock comes before m->lock). */
static int ms_io(struct wf__iofd *e, int fd, struct ring *r,
                 enum wf__ring_kind kind, void *buf, size_t n, int flags,
                 int64_t deadline, int what, struct rdr *me, ssize_t *out)
{
    bool poll = kind == WF__RING_POLLIN; /* wait for kept data only */
    struct iovec one = {buf, n};
    const struct iovec *iov = kind == WF__RING_RECV ? &one : buf;
    size_t cnt = kind == WF__RING_RECV ? 1 : poll ? 0 : n, want = 0;
    for (size_t i = 0; i < cnt; i++)
        want += iov[i].iov_len;
    bool peek = flags & MSG_PEEK, all = flags & MSG_WAITALL;
    bool fiber = me->wt.w.fiber != NULL;
    uint32_t gen = wf__iofd_gen(e);
    struct ms *fresh = NULL;
    wf__iofd_lock(e);
    struct ms *m = wf__iofd_ms(e);
    if (!m) {
        /* A fiber that can arm waits for reading on readiness (a
         * multishot armed by a wait alone would end at once on a
         * listening socket); one that reads with flags goes single-shot,
         * and so does one that finds a single-shot receive of the socket
         * waiting (nothing arms beside it: "flagged receives" above).
         * A reader that cannot arm makes a noarm state (ms_gate). */
        bool single = r && (poll || (flags & ~MSG_DONTWAIT) ||
                            wf__iofd_rq_has(e, RECV_CLAUSE));
        wf__iofd_unlock(e);
        if (single)
            return 0; /* readiness, or the single-shot path (see above) */
        fresh = wf__calloc(1, sizeof *fresh);
        if (!fresh)
            return 0;
        fresh->e = e;
        fresh->fd = fd;
        fresh->noarm = !r;
        atomic_init(&fresh->refs, 1); /* the attachment's */
        wf__iofd_lock(e);
        m = wf__iofd_ms(e);
    }
    int err;
    wf__trace_io_begin((enum wf__tio)what, &err, fd);
    ssize_t res = 0;
    size_t got = 0;
    bool swept = false; /* an expired deadline's last look (below) */
    if (wf__iofd_gen(e) != gen || (gen & 1)) {
        res = WF_EBADF;
        goto out_unlock;
    }
    if (!m && r && wf__iofd_rq_has(e, RECV_CLAUSE)) {
        /* One was linked while we allocated: single-shot, as above. */
        wf__iofd_unlock(e);
        free(fresh);
        wf__trace_io_end(&err, -EAGAIN);
        return 0;
    }
    if (!m) {
        res = wf__iofd_ms_attach(e, gen, &fresh->cl, fresh);
        if (res)
            goto out_unlock;
        m = fresh;
        fresh = NULL;
    }
    /* Another reader attached first: the spare goes now, not after a
     * park that a shutdown ends by discarding this fiber. */
    free(fresh);
    fresh = NULL;
    wf__spin_lock(&m->lock);
    for (;;) {
        if (!r && !m->noarm) {
            /* A reader that cannot arm: nothing arms m again, and an
             * armed multishot is stopped; its data before the stop is
             * kept and read first, the socket holds the rest. */
            m->noarm = true;
            if (m->armed) {
                struct ring *mr = m->r;
                wf__spin_unlock(&m->lock);
                ms_stop(m, mr);
                wf__spin_lock(&m->lock);
            }
        }
        if (poll && (m->qh || m->ended)) {
            res = WF_IO_READ;
            break;
        }
        if (m->qh && !poll) {
            got += ms_copy(m, iov, cnt, got, peek);
            if (!all || peek || got == want)
                break;
        }
        if (want == 0 && !poll)
            break;
        if (m->ended) {
            if (got == 0 && m->endres == -ENOTSOCK) {
                wf__iofd_ms_detach(e, &m->cl);
                wf__spin_unlock(&m->lock);
                wf__iofd_unlock(e);
                ms_unref(m); /* the attachment's: nothing else holds it */
                wf__iofd_set_notsock(e, gen);
                wf__trace_io_end(&err, -ENOTSOCK);
                return -1; /* the readiness path does it */
            }
            if (got == 0) {
                res = m->endres;
                m->ended = res == 0; /* end of stream stays */
            }
            break;
        }
        if (!m->armed && m->noarm) {
            if (got)
                break;
            /* Nothing kept and nothing armed, and nothing arms m any
             * more: the socket holds what comes next. */
            wf__spin_unlock(&m->lock);
            wf__iofd_unlock(e);
            wf__trace_io_end(&err, -EAGAIN);
            return -1;
        }
        if (!m->armed && m->dry) {
            /* The last multishot ended for want of buffers: the ring's
             * may all be kept for other sockets, by readers that wait
             * for this one. Nothing is kept or armed, so the socket's
             * own data is next: take it directly (no one arms while we
             * hold the entry's lock, and nothing armed posts nothing),
             * and arm only when the socket is empty. */
            if (got)
                break;
            wf__spin_unlock(&m->lock);
            ssize_t d = ms_direct(fd, iov, cnt, peek, poll);
            wf__spin_lock(&m->lock);
            if (d != -EAGAIN && d != -EWOULDBLOCK) {
                res = d;
                break;
            }
        }
        if (!m->armed) {
            /* Nothing changes m meanwhile: only a reader arms (under the
             * entry's lock, held), and nothing armed posts nothing. */
            wf__spin_unlock(&m->lock);
            struct io_uring_sqe *sqe = sqe_get(r);
            wf__spin_lock(&m->lock);
            if (!sqe) {
                /* The kernel takes no more now: m is never armed again
                 * (a reader in the readiness path would not see data a
                 * later multishot took). */
                m->noarm = true;
                continue;
            }
            ms_arm(r, m, sqe);
            /* A fiber's wf_fd_wait on readiness (begun with no state)
             * looks again, and waits on m from now on. */
            wf__iofd_edge_read(e);
        }
        atomic_store_explicit(&me->wt.state, 0, memory_order_relaxed);
        me->next = m->readers;
        m->readers = me;
        wf__spin_unlock(&m->lock);
        wf__iofd_unlock(e);
        wf__inspect_io(); /* wf_stats */
        /* The round that submits an arming comes as soon as we park. */
        int pe = wf__waiter_park_word(&me->wt.w, &me->wt.state, 0, deadline,
                                      WF__WHY_IO);
        if (r)
            r = usable(ring_get(wf__worker_self())); /* we may have moved */
        wf__iofd_lock(e);
        if (wf__iofd_gen(e) != gen || wf__iofd_ms(e) != m) {
            /* Detached (and woken: not in the list any more): closed,
             * shut down, or found not a socket by another reader. */
            if (wf__iofd_gen(e) == gen && wf__iofd_notsock(e)) {
                wf__iofd_unlock(e);
                wf__trace_io_end(&err, -ENOTSOCK);
                return -1;
            }
            res = wf__iofd_gen(e) != gen ? WF_EBADF : WF_ESHUTDOWN;
            goto out_unlock;
        }
        wf__spin_lock(&m->lock);
        for (struct rdr **p = &m->readers; *p; p = &(*p)->next)
            if (*p == me) {
                *p = me->next;
                break;
            }
        if (pe == WF_ETIMEDOUT && !poll && !m->qh && !m->ended && m->armed &&
            got == 0) {
            /* Tries once, as the single-shot path: what the socket holds
             * now (data or its end) is the multishot's next completion,
             * maybe not submitted yet (the owner's round), maybe waiting
             * for the owner's task work, maybe posted and not reaped.
             * The owner of m's ring submits and runs its task work
             * itself; another reader asks the owner and yields. Once
             * more after the socket is seen empty, for a completion
             * still on its way. */
            struct ring *mr = m->r;
            char c;
            bool pending = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
            if (pending || !swept) {
                swept = !pending;
                wf__spin_unlock(&m->lock);
                wf__iofd_unlock(e);
                if (mr->owner == wf__worker_self()) {
                    submit(mr);
                    (void)io_uring_get_events(&mr->ring);
                } else {
                    wf__worker_io_kick(mr->owner);
                    if (fiber)
                        wf_yield();
                    else
                        sched_yield();
                }
                reap(mr);
                if (r)
                    r = usable(ring_get(wf__worker_self()));
                wf__iofd_lock(e);
                if (wf__iofd_gen(e) != gen || wf__iofd_ms(e) != m) {
                    res = wf__iofd_gen(e) != gen ? WF_EBADF : WF_ESHUTDOWN;
                    goto out_unlock;
                }
                wf__spin_lock(&m->lock);
                continue;
            }
        }
        if (pe != 0) {
            got += ms_copy(m, iov, cnt, got, peek);
            if (got == 0)
                res = pe; /* data after this stays queued */
            break;
        }
    }
    wf__spin_unlock(&m->lock);
out_unlock:
    wf__iofd_unlock(e);
    free(fresh);
    if (res == 0)
        res = (ssize_t)got;
    wf__trace_io_end(&err, res);
    *out = res;
    return 1;
}

/* Whether e's multishot state may keep data now or later (entry lock
 * held): all but none, and a noarm one with nothing kept, armed or
 * ended, which stays so (nothing arms a noarm state). A single-shot
 * receive waits in the kernel only beside none of those. */
static bool ms_busy(struct wf__iofd *e)
{
    struct ms *m = wf__iofd_ms(e);
    if (!m)
        return false;
    wf__spin_lock(&m->lock);
    bool busy = !m->noarm || m->armed || m->qh || m->ended;
    wf__spin_unlock(&m->lock);
    return busy;
}

bool wf__ring_ms_live(int fd)
{
    if (!wf__config_io_rings() || !wf__config_io_mshot())
        return false;
    int err;
    struct wf__iofd *e = wf__iofd_get(fd, &err);
    if (!e)
        return false;
    wf__iofd_lock(e);
    struct ms *m = wf__iofd_ms(e);
    bool live = false;
    if (m) {
        wf__spin_lock(&m->lock);
        live = !m->noarm;
        wf__spin_unlock(&m->lock);
    }
    wf__iofd_unlock(e);
    return live;
}

/* A read by a caller that cannot arm a multishot (a plain thread, a
 * fiber whose worker has no ring or no buffer ring), with multishot
 * receives wanted: through fd's multishot state (made noarm, made if
 * there is none: a fiber must not arm one while this caller waits on
 * the socket's readiness). True with the result in *out; false: the
 * caller's own path (readiness, or single-shot on its ring). */
static bool ms_gate(int fd, enum wf__ring_kind kind, void *buf, size_t n,
                    int flags, int64_t deadline, int what, ssize_t *out)
{
    if (!wf__config_io_mshot())
        return false;
    int err;
    struct wf__iofd *e = wf__iofd_get(fd, &err);
    if (!e || wf__iofd_notsock(e))
        return false;
    /* The common case after the first such read: a noarm state with
     * nothing kept or armed sends every read to the socket at once
     * (a plain thread's wait record costs a runtime mutex). */
    wf__iofd_lock(e);
    bool idle = wf__iofd_ms(e) && !ms_busy(e);
    wf__iofd_unlock(e);
    if (idle)
        return false; /* and it stays so: nothing arms a noarm state */
    if (wf__reactor_up() != 0)
        return false; /* no runtime: its readiness path says so */
    struct rdr me;
    if (wf__wait_init(&me.wt, wf__fiber_self()))
        return false; /* a plain thread with no runtime: no multishot */
    int took =
        ms_io(e, fd, NULL, kind, buf, n, flags, deadline, what, &me, out);
    wf__wait_finish(&me.wt);
    return took > 0;
}

/* ---- multishot accept ------------------------------------------------------ */
/*
 * Multishot accept (WEFT_IO_MSHOT=1, with WEFT_IO_RINGS=1; weft/io.h).
 * A fiber's first wf_accept on a listener attaches a `struct macc` to
 * the listener's entry (under the entry's lock, as the receive's state
 * above, in a slot of its own) and arms one IORING_OP_ACCEPT with
 * IORING_ACCEPT_MULTISHOT (non-blocking, close-on-exec, as accept4 on the
 * readiness path) on its worker's ring. Each completion's descriptor goes
 * into the listener's FIFO (`q`) and every parked acceptor is woken; an
 * acceptor takes the oldest with no system call, and arms again (on its
 * own ring) when the FIFO is empty and nothing is armed. The peer's
 * address, when asked for, comes from getpeername (a multishot writes no
 * address per connection).
 *
 * Locks: as the receive's (entry -> r->lock -> m->lock); the reaper
 * (macc_cqe) takes only m->lock. `refs`: one for the attachment, one
 * while armed, one while in a ring's `astops`; the last frees.
 *
 * How each rule is met:
 *   - nothing lost: a descriptor is in the FIFO, in a caller's hands, or
 *     closed because its listener is gone (`dead`: wf_close, renew,
 *     shutdown). The FIFO grows in the reaper only past KEPT_INIT slots
 *     (allocated with the state, where a failure means single-shot
 *     accepts: nothing armed, nothing lost); a failure there closes that
 *     one connection and returns WF_ENOMEM to an acceptor, said on
 *     stderr (it needs KEPT_INIT - KEPT_MAX connections accepted between
 *     the bound and the owner's cancel, below).
 *   - bound: a completion that finds KEPT_MAX kept asks the owner of the
 *     ring to cancel the multishot (`astops`, a lock-free stack, since
 *     the reaper may run inside the owner's submit, under r->lock); the
 *     kernel's backlog holds the rest, and an acceptor that empties the
 *     FIFO arms again. A state is in at most one ring's astops (`stopq`),
 *     and none arms while it is there, so the stack it is in is that of
 *     the ring where it may be armed. The owner that finds nothing to
 *     stop unmarks in the same m->lock section in which it looked: a
 *     close between a look and a later unmark found the mark set, did
 *     not push, and the multishot stayed armed on the closed listener
 *     (found by reading; the reaper of a closed state's completion also
 *     marks it now). One marked on a ring and armed again on another
 *     (the mark's reference moves with it) is pushed on that one.
 *   - close, renew, shutdown (the reactor's walk, entry's lock held):
 *     detach, close every kept descriptor, wake the acceptors (WF_EBADF /
 *     WF_ESHUTDOWN), and ask the owner to cancel an armed multishot; its
 *     later completions close their descriptors. As for the receive, an
 *     arming SQE not yet submitted becomes a NOP (the number may name
 *     another socket by then): the close pushes under r->lock, which the
 *     owner holds across take_astops and the enter.
 *   - deadline or cancel racing a completion: the completion goes into
 *     the FIFO under m->lock whether or not an acceptor waits; an
 *     acceptor that wakes with an error takes a kept descriptor if there
 *     is one, else returns the error; what it leaves is the next
 *     acceptor's. A deadline that passed with nothing kept tries once,
 *     as the single-shot path does: accept4 under the entry's lock (so
 *     the number is still the listener).
 *   - errors: a last completion with an error ends the multishot; the
 *     error is returned once (WF_EMFILE, WF_ENFILE: the connection stays
 *     in the backlog) and the next call arms again. -EINVAL (a kernel
 *     before 5.19, or not a listener) and -ENOTSOCK make the listener
 *     single-shot (`single`), whose own result is then returned.
 *   - plain threads (no ring): a plain thread's wf_accept marks the
 *     listener's generation "readiness only" (the entry's notsock mark,
 *     under its lock: fibers then take the readiness path as well, and
 *     no multishot is armed again), makes the state single-shot and asks
 *     for the cancel of an armed multishot; it takes kept descriptors
 *     first and waits with the fibers while one is armed, then uses
 *     readiness. So a listener a plain thread accepts on stays off
 *     multishot until it is closed; a fiber's accept that reads the mark
 *     late still finds it under the entry's lock before arming. A fiber
 *     on a worker without a ring (one failed to set up) takes the same
 *     path, and so does every accept on a marked listener, fiber or not:
 *     the kept descriptors come first (they went to the empty backlog;
 *     test: plain_accept_then_fibers).
 *   - wf_fd_wait for reading on a listener, by anyone: through the same
 *     path with `poll` (macc_gate): ready while a connection is kept
 *     (none is taken), else it waits with the acceptors while one is
 *     armed, then on readiness; the listener is marked as above, so no
 *     multishot armed later can take a connection from under the wait
 *     (it waited for the backlog while the FIFO held connections; test:
 *     fd_wait_sees_kept).
 * Measured (1 worker, one fiber accepting without the address and
 * closing, a separate process of 2 threads connecting and resetting;
 * 5 alternating rounds of 3 s on a 2-core machine at load 7.4-8.3):
 * the server's CPU time per accept, median 7.8 us with WEFT_IO_MSHOT=1
 * against 9.3 us with 0 (lower in each round) and 9.5 us for the
 * receive-only multishot build; accepts per second too noisy to tell
 * there (the client and other work share the cores). An acceptor that
 * asks for the address pays a getpeername: weft-httpd does.
 */

#define KEPT_MAX  256 /* kept descriptors before the multishot is cancelled */
#define KEPT_INIT 512 /* FIFO slots allocated with the state */

struct macc {
    struct wf__clause cl; /* in the entry's rq while attached; wait NULL,
                           * queue MACC_CLAUSE */
    struct wf__iofd *e;
    int fd;
    atomic_int refs;      /* attached, armed, in astops: one each */
    struct wf__spin lock; /* the fields below but snext */
    struct ring *r;       /* the ring it was last armed on */
    bool armed;           /* a multishot is in flight */
    bool dead;            /* detached: a close, renew or shutdown */
    bool single;          /* single-shot accepts from now on */
    bool stopq;           /* in r's astops */
    bool scrubbed;        /* its arming SQE became a NOP */
    int err;              /* what ended the multishot, returned once */
    int *q;               /* circular: qn descriptors from qh, qcap slots */
    unsigned qh, qn, qcap;
    struct rdr *waiters;
    struct macc *snext; /* r->astops */
};

static struct macc *macc_new(struct wf__iofd *e, int fd)
{
    struct macc *m = wf__calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->q = wf__malloc(KEPT_INIT * sizeof *m->q);
    if (!m->q) {
        free(m);
        return NULL;
    }
    m->qcap = KEPT_INIT;
    m->e = e;
    m->fd = fd;
    m->cl.queue = MACC_CLAUSE;
    atomic_init(&m->refs, 1); /* the attachment's */
    return m;
}

static void macc_free(struct macc *m)
{
    if (m) {
        free(m->q);
        free(m);
    }
}

static void macc_unref(struct macc *m)
{
    /* acq_rel: every holder's writes before the free. */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        macc_free(m);
}

static int aq_take(struct macc *m)
{
    int fd = m->q[m->qh];
    m->qh = (m->qh + 1) % m->qcap;
    m->qn--;
    return fd;
}

static bool aq_put(struct macc *m, int fd)
{
    if (m->qn == m->qcap) {
        unsigned cap = 2 * m->qcap;
        int *q = wf__malloc(cap * sizeof *q);
        if (!q)
            return false;
        for (unsigned i = 0; i < m->qn; i++)
            q[i] = m->q[(m->qh + i) % m->qcap];
        free(m->q);
        m->q = q;
        m->qh = 0;
        m->qcap = cap;
    }
    m->q[(m->qh + m->qn) % m->qcap] = fd;
    m->qn++;
    return true;
}

/* Wake every parked acceptor (they look again). m->lock held. */
static void macc_wake(struct macc *m)
{
    rdrs_wake(&m->waiters);
}

static void macc_unwait(struct macc *m, struct rdr *me)
{
    for (struct rdr **p = &m->waiters; *p; p = &(*p)->next)
        if (*p == me) {
            *p = me->next;
            break;
        }
}

/* Whether m's multishot is to be cancelled. m->lock held. */
static bool macc_want_stop(struct macc *m)
{
    return m->armed && (m->dead || m->single || m->qn >= KEPT_MAX);
}

/* Mark m for its ring's astops (m->lock held): true when the caller is
 * to push it (macc_push), holding the reference taken here. */
static bool macc_mark(struct macc *m)
{
    if (m->stopq || !macc_want_stop(m))
        return false;
    m->stopq = true;
    /* relaxed: the caller holds a reference. */
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return true;
}

static void macc_push(struct ring *r, struct macc *m)
{
    struct macc *h = atomic_load_explicit(&r->astops, memory_order_relaxed);
    do
        m->snext = h;
    /* release: snext before the owner's exchange (acquire). */
    while (!atomic_compare_exchange_weak_explicit(
        &r->astops, &h, m, memory_order_release, memory_order_relaxed));
}

/* Push a marked m on its ring r and kick the owner (entry's lock held or
 * not, never m->lock or r->lock): under r->lock, so that a close's stop
 * is either taken by a submit after this or was submitted before (the
 * scrub, above); a ring whose owner left has cancelled everything. */
static void macc_send(struct ring *r, struct macc *m)
{
    wf__spin_lock(&r->lock);
    bool dead = r->dead;
    if (!dead)
        macc_push(r, m);
    wf__spin_unlock(&r->lock);
    if (!dead) {
        wf__worker_io_kick(r->owner);
        return;
    }
    wf__spin_lock(&m->lock);
    m->stopq = false;
    wf__spin_unlock(&m->lock);
    macc_unref(m);
}

/* A completion of m's multishot on r (the reaper: m->lock only). */
static void macc_cqe(struct ring *r, struct macc *m, struct io_uring_cqe *cqe)
{
    bool last = !(cqe->flags & IORING_CQE_F_MORE);
    int res = cqe->res, gone = -1;
    bool push = false, nomem = false;
    wf__spin_lock(&m->lock);
    if (m->scrubbed) { /* the NOP of an arming never submitted */
        m->scrubbed = false;
        res = -ECANCELED;
    }
    if (last)
        m->armed = false;
    if (m->dead) {
        gone = res;          /* its listener is closed: never handed out */
        push = macc_mark(m); /* and its multishot stopped */
    } else {
        if (res >= 0 && !aq_put(m, res)) {
            gone = res;
            nomem = true;
            m->err = WF_ENOMEM;
        } else if (res < 0 && last) {
            if (res == -EINVAL || res == -ENOTSOCK)
                m->single = true; /* the single-shot path answers */
            else if (res != -ECANCELED)
                m->err = res;
        }
        push = macc_mark(m);
        macc_wake(m);
    }
    wf__spin_unlock(&m->lock);
    if (gone >= 0)
        close(gone);
    if (nomem)
        fprintf(stderr, "weft: multishot accept: no memory to keep a "
                        "connection; it was closed\n");
    if (push) {
        macc_push(r, m); /* r's owner is up: a completion with more */
        wf__worker_io_kick(r->owner);
    }
    if (last)
        macc_unref(m); /* the arming's */
}

/* Owner only, from submit with r->lock held: the multishot cancels
 * asked for. An arming SQE still queued becomes a NOP under m's
 * user_data (ends m like a last completion); else an ASYNC_CANCEL. */
static void take_astops(struct ring *r)
{
    /* acquire: pairs with macc_push's release. */
    struct macc *m =
        atomic_exchange_explicit(&r->astops, NULL, memory_order_acquire);
    while (m) {
        struct macc *nx = m->snext;
        uint64_t ud = (uint64_t)(uintptr_t)m | UD_MACC;
        wf__spin_lock(&m->lock);
        bool want = macc_want_stop(m) && m->r == r;
        struct ring *mr = m->r;
        bool elsewhere = !want && macc_want_stop(m);
        if (!want && !elsewhere) {
            /* Nothing to stop: unmarked in the same section that looked,
             * so that a close after it marks and pushes again (one
             * between a look and a later unmark found the mark set and
             * left the multishot armed for good). */
            m->stopq = false;
            macc_wake(m);
        }
        wf__spin_unlock(&m->lock);
        if (elsewhere) {
            /* Armed again on another ring since it was marked: the stop
             * goes there, with the mark and its reference. */
            macc_push(mr, m);
            wf__worker_io_kick(mr->owner);
            m = nx;
            continue;
        }
        if (!want) {
            macc_unref(m); /* the stack's */
            m = nx;
            continue;
        }
        struct io_uring_sqe *sqe = queued_sqe(r, ud);
        if (sqe) {
            wf__spin_lock(&m->lock);
            m->scrubbed = true; /* no completion comes before the NOP's */
            wf__spin_unlock(&m->lock);
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data64(sqe, ud);
        } else {
            sqe = io_uring_get_sqe(&r->ring);
            if (!sqe && enter(r) >= 0)
                sqe = io_uring_get_sqe(&r->ring);
            if (!sqe) { /* the kernel takes no more now: next round */
                for (struct macc *p = m, *pn; p; p = pn) {
                    pn = p->snext;
                    macc_push(r, p);
                }
                atomic_store_explicit(&r->owner->io_kick, 1,
                                      memory_order_relaxed);
                return;
            }
            io_uring_prep_cancel64(sqe, ud, 0);
            io_uring_sqe_set_data64(sqe, UD_CANCEL);
            /* relaxed: a count (drain). */
            atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed);
        }
        wf__spin_lock(&m->lock);
        m->stopq = false;
        macc_wake(m); /* one may wait to arm again */
        wf__spin_unlock(&m->lock);
        macc_unref(m); /* the stack's */
        m = nx;
    }
}

/* The listener is closed, renewed or the reactor shuts down (entry's
 * lock held): detach m, close what it kept, cancel its multishot. */
static void macc_cancel(struct wf__clause *cl)
{
    struct macc *m = (struct macc *)((char *)cl - offsetof(struct macc, cl));
    wf__iofd_macc_detach(m->e, cl);
    wf__spin_lock(&m->lock);
    m->dead = true;
    while (m->qn)
        close(aq_take(m));
    macc_wake(m);
    bool push = macc_mark(m);
    struct ring *r = m->r;
    wf__spin_unlock(&m->lock);
    if (push)
        macc_send(r, m);
    macc_unref(m); /* the attachment's */
}

/* Arm m's multishot on r, the calling worker's ring, in sqe (entry's
 * lock and m->lock held). */
static void macc_arm(struct ring *r, struct macc *m, struct io_uring_sqe *sqe)
{
    io_uring_prep_multishot_accept(sqe, m->fd, NULL, NULL,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)m | UD_MACC);
    m->r = r;
    m->armed = true;
    /* relaxed: we hold the attachment's reference. */
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    /* release: as in wf__ring_io. */
    atomic_fetch_add_explicit(&r->inflight, 1, memory_order_release);
    r->owner->io_active = true;
}

/* The peer's address of an accepted fd, as accept(2) would store it; a
 * peer already gone leaves *len 0. */
static void macc_peer(int fd, struct wf__ring_acc *a)
{
    if (!a->addr || !a->len)
        return;
    if (getpeername(fd, a->addr, a->len) != 0)
        *a->len = 0;
}

/* Take what m holds for an acceptor (m->lock held): true with *res. */
static bool macc_take(struct macc *m, ssize_t *res)
{
    if (m->qn) {
        *res = aq_take(m);
        return true;
    }
    if (m->err) {
        *res = m->err;
        m->err = 0;
        return true;
    }
    return false;
}

/* A deadline that passed with nothing kept tries once (entry's lock
 * held: fd is still the listener). */
static ssize_t macc_try(int fd, ssize_t pe)
{
    int s = wf__fd(accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    return s >= 0 ? s : pe;
}

/* A fiber's accept of fd through its multishot state: 1 with the result
 * in *out, 0 for the single-shot path (the fiber may have moved since r
 * was its worker's ring). Locks: the entry's throughout but across the
 * park; m->lock inside it, but not across sqe_get. */
static int macc_io(struct wf__iofd *e, int fd, struct ring *r,
                   struct wf__ring_acc *a, int64_t deadline, int what,
                   ssize_t *out)
{
    uint32_t gen = wf__iofd_gen(e);
    struct macc *fresh = NULL;
    wf__iofd_lock(e);
    struct macc *m = wf__iofd_macc(e);
    if (!m && !wf__iofd_notsock(e)) {
        wf__iofd_unlock(e);
        fresh = macc_new(e, fd);
        if (!fresh)
            return 0; /* nothing armed, nothing lost */
        wf__iofd_lock(e);
        m = wf__iofd_macc(e);
    }
    int err;
    wf__trace_io_begin((enum wf__tio)what, &err, fd);
    ssize_t res = 0;
    int pe = 0, took = 1;
    struct rdr me;
    wf__wait_init(&me.wt, wf__fiber_self());
    if (wf__iofd_gen(e) != gen || (gen & 1)) {
        res = WF_EBADF;
        goto out_unlock;
    }
    if (!m && wf__iofd_notsock(e)) { /* a plain thread's mark (above) */
        took = 0;
        goto out_unlock;
    }
    if (!m) {
        res = wf__iofd_macc_attach(e, gen, &fresh->cl, fresh);
        if (res)
            goto out_unlock;
        m = fresh;
    } else {
        macc_free(fresh); /* not across the park: a shutdown may discard us */
    }
    fresh = NULL;
    wf__spin_lock(&m->lock);
    for (;;) {
        if (macc_take(m, &res))
            break;
        if (pe) {
            res = pe == WF_ETIMEDOUT ? macc_try(fd, pe) : pe;
            break;
        }
        if (!m->armed && (m->single || !r)) {
            took = 0; /* the single-shot path */
            break;
        }
        if (!m->armed && !m->stopq) {
            /* Nothing changes m meanwhile: only an acceptor arms (under
             * the entry's lock, held), and nothing armed posts nothing. */
            wf__spin_unlock(&m->lock);
            struct io_uring_sqe *sqe = sqe_get(r);
            wf__spin_lock(&m->lock);
            if (!sqe) {
                took = 0; /* the single-shot path gets none either */
                break;
            }
            macc_arm(r, m, sqe);
        }
        atomic_store_explicit(&me.wt.state, 0, memory_order_relaxed);
        me.next = m->waiters;
        m->waiters = &me;
        wf__spin_unlock(&m->lock);
        wf__iofd_unlock(e);
        wf__inspect_io(); /* wf_stats */
        /* The round that submits an arming comes as soon as we park. */
        int p = wf__waiter_park_word(&me.wt.w, &me.wt.state, 0, deadline,
                                     WF__WHY_IO);
        r = ring_get(wf__worker_self()); /* we may have moved */
        wf__iofd_lock(e);
        if (wf__iofd_gen(e) != gen || wf__iofd_macc(e) != m) {
            /* Detached (and woken: not in the list any more). */
            res = wf__iofd_gen(e) != gen ? WF_EBADF : WF_ESHUTDOWN;
            goto out_unlock;
        }
        wf__spin_lock(&m->lock);
        macc_unwait(m, &me);
        if (p == WF_ETIMEDOUT || p == WF_ECANCELED)
            pe = p;
    }
    wf__spin_unlock(&m->lock);
out_unlock:
    wf__iofd_unlock(e);
    macc_free(fresh);
    if (!took) {
        wf__trace_io_end(&err, -EAGAIN);
        return 0;
    }
    if (res >= 0)
        macc_peer((int)res, a);
    wf__trace_io_end(&err, res);
    *out = res;
    return 1;
}

/* An accept that cannot arm a multishot (a plain thread's, or a fiber's
 * on a worker without a ring; see the top of this section), or with
 * poll a wait for reading (wf_fd_wait) by anyone: the listener is marked
 * so that nothing arms it again and its multishot is stopped; kept
 * connections come first (poll: WF_IO_READ while one is kept, without
 * taking it), then the caller waits on the state while the multishot is
 * armed, then takes the readiness path. True with the result in *out,
 * false for the readiness path. */
static bool macc_gate(int fd, struct wf__ring_acc *a, bool poll,
                      int64_t deadline, int what, ssize_t *out)
{
    if (!wf__config_io_mshot())
        return false;
    int err;
    struct wf__iofd *e = wf__iofd_get(fd, &err);
    if (!e)
        return false;
    /* Only a listener is marked: the mark would send a connected
     * socket's fiber reads past its kept data (multishot receive). A
     * descriptor already marked (a listener, or not a socket) needs no
     * look, nor one with a receive's state (not a listener): a wait for
     * reading comes here each time. */
    wf__iofd_lock(e);
    bool marked = wf__iofd_notsock(e), reader = wf__iofd_ms(e) != NULL;
    uint32_t seen = wf__iofd_gen(e);
    wf__iofd_unlock(e);
    if (reader && !marked)
        return false;
    if (!marked) {
        int on = 0;
        socklen_t olen = sizeof on;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) != 0) {
            if (errno == ENOTSOCK)
                wf__iofd_set_notsock(e, seen); /* no look next time */
            return false;
        }
        if (!on)
            return false;
    }
    struct rdr me;
    bool inited = false;
    ssize_t res = 0;
    int pe = 0;
    bool done = false;
    for (;;) {
        wf__iofd_lock(e);
        uint32_t gen = wf__iofd_gen(e);
        if (gen & 1) {
            wf__iofd_unlock(e);
            break; /* the readiness path says WF_EBADF */
        }
        wf__iofd_set_notsock(e, gen); /* no fiber arms from now on */
        struct macc *m = wf__iofd_macc(e);
        if (!m) {
            wf__iofd_unlock(e);
            break;
        }
        wf__spin_lock(&m->lock);
        m->single = true;
        bool push = macc_mark(m);
        struct ring *r = m->r;
        bool wait = false;
        if (poll ? m->qn || m->err : macc_take(m, &res)) {
            if (poll)
                res = WF_IO_READ;
            done = true;
        } else if (pe) {
            res = pe;
            done = true;
        } else if (m->armed && inited) {
            wait = true;
            atomic_store_explicit(&me.wt.state, 0, memory_order_relaxed);
            me.next = m->waiters;
            m->waiters = &me;
        }
        bool armed = m->armed;
        wf__spin_unlock(&m->lock);
        if (push)
            macc_send(r, m);
        if (done) {
            wf__iofd_unlock(e);
            break;
        }
        if (!armed) {
            wf__iofd_unlock(e);
            break; /* nothing will be kept: readiness */
        }
        wf__iofd_unlock(e);
        if (!wait) {
            /* no lock held */
            int ie = wf__wait_init(&me.wt, wf__fiber_self());
            if (ie) {
                res = ie;
                done = true;
                break;
            }
            inited = true;
            continue;
        }
        int p = wf__waiter_park_word(&me.wt.w, &me.wt.state, 0, deadline,
                                     WF__WHY_IO);
        wf__iofd_lock(e);
        if (wf__iofd_gen(e) != gen || wf__iofd_macc(e) != m) {
            /* Detached: woken, unlinked. */
            res = wf__iofd_gen(e) != gen ? WF_EBADF : WF_ESHUTDOWN;
            wf__iofd_unlock(e);
            done = true;
            break;
        }
        wf__spin_lock(&m->lock);
        macc_unwait(m, &me);
        wf__spin_unlock(&m->lock);
        wf__iofd_unlock(e);
        if (p < 0)
            pe = p;
    }
    if (inited)
        wf__wait_finish(&me.wt);
    if (!done)
        return false;
    (void)what;
    if (res >= 0 && !poll)
        macc_peer((int)res, a);
    *out = res;
    return true;
}
