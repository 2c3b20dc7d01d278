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
#include <sys/socket.h>

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
};

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
    unsigned head, n = 0;
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
        if (ud == UD_CANCEL)
            continue;
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
        atomic_fetch_sub_explicit(&r->inflight, n, memory_order_relaxed);
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
    request_cancel((struct op *)((char *)cl - offsetof(struct op, cl)), why);
}

/* ---- submitting (owner only) ------------------------------------------------- */

/* o's SQE if it is still in the submission queue, not yet consumed by the
 * kernel; NULL once submitted. Owner only (no SQPOLL: the kernel
 * consumes SQEs only in the owner's io_uring_enter); liburing fills the
 * SQ array once, so position i is sqes[i & mask]. */
static struct io_uring_sqe *queued_sqe(struct ring *r, struct op *o)
{
    struct io_uring_sq *sq = &r->ring.sq;
    unsigned head = __atomic_load_n(sq->khead, __ATOMIC_ACQUIRE);
    for (unsigned i = head; i != sq->sqe_tail; i++) {
        struct io_uring_sqe *sqe = &sq->sqes[i & sq->ring_mask];
        if (sqe->user_data == (uint64_t)(uintptr_t)o)
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
        struct io_uring_sqe *sqe = o->closed ? queued_sqe(r, o) : NULL;
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
    io_uring_queue_exit(&r->ring);
    w->io_active = false;
}

static void io_free(struct wf__worker *w)
{
    free(atomic_load_explicit(&w->io_ring, memory_order_relaxed));
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

bool wf__ring_io(int fd, enum wf__ring_kind kind, void *buf, size_t n,
                 int flags, int64_t deadline, int what, ssize_t *out)
{
    if (!wf__config_io_rings())
        return false;
    struct wf__fcb *self = wf__fiber_self();
    if (!self)
        return false; /* plain thread: readiness */
    int err;
    struct wf__iofd *e = wf__iofd_get(fd, &err);
    if (!e || wf__iofd_notsock(e))
        return false;
    if (!ring_get(wf__worker_self()))
        return false; /* before spending: the readiness path spends */
    /* The spend may yield, and the fiber then goes on on another worker,
     * whose ring is the one to use: the worker is read after it. */
    wf__coop_spend(self);
    struct wf__worker *w = wf__worker_self();
    struct ring *r = ring_get(w);
    if (!r)
        return false;
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
    /* The SQE before the link: a submit that makes room takes the
     * cancels handed to us, and one for o (a close once o is linked) must
     * find o's SQE in the queue to scrub it. No submit comes between the
     * link and the SQE's preparation below (this thread, no switch). */
    struct io_uring_sqe *sqe = sqe_get(r);
    if (!sqe)
        return false; /* the kernel takes no more now: readiness */
    uint32_t gen = wf__iofd_gen(e);
    err = wf__iofd_ring_link(e, gen, &o.cl);
    if (err) {
        io_uring_prep_nop(sqe); /* the SQE is taken: make it harmless */
        io_uring_sqe_set_data64(sqe, UD_CANCEL);
        /* relaxed: a count (drain). */
        atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed);
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
