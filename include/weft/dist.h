/* SPDX-License-Identifier: MIT */
/*
 * weft/dist.h - beyond one machine: MPI ranks, communication as futures,
 * parallel loops across ranks.
 *
 * A weft program that outgrows one machine runs as an MPI job (Open MPI's
 * mpirun starts one process, a "rank", per slot). On every rank the weft
 * runtime keeps the cores busy; between ranks MPI moves the data. Every
 * communication call here starts a non-blocking MPI operation and returns
 * a weft future (weft/future.h): a fiber awaits it (parking only itself,
 * so its worker computes meanwhile), a callback consumes it, a plain
 * thread waits on it. This component exists only in builds that found
 * MPI (CMake's FindMPI; on Debian, libopenmpi-dev): link weft::dist in
 * weft's own build, or the installed libweft_dist.a with libweft and MPI
 * (mpicc prog.c -lweft_dist -lweft).
 *
 * Start-up and threads. wf_dist_init() runs on every rank after the weft
 * runtime has started (wf_init, or inside wf_run's main fiber). It starts
 * a plain thread of its own that calls MPI_Init_thread and, at the end,
 * MPI_Finalize (they may take a while: no worker is held meanwhile), and
 * one communication fiber that polls the outstanding requests (on any
 * worker, so that an idle worker takes it when its own is busy with a long
 * parallel loop; pinned to worker 0 in serialized mode). Two modes:
 *   - WF_DIST_MULTIPLE: the MPI library grants MPI_THREAD_MULTIPLE. Any
 *     fiber or thread starts its operations itself (MPI_Isend... on its
 *     own thread) and hands the request to the communication fiber.
 *   - WF_DIST_SERIALIZED: every MPI call between start-up and the end,
 *     the starts included, is made by the communication fiber on its one
 *     pinned worker; calls here queue the operation and wake the fiber.
 *     So no two MPI calls ever overlap, and MPI_THREAD_SERIALIZED
 *     suffices (the level DESIGN.md plans for: "one pinned fiber makes
 *     every MPI call").
 * The mode is the best the library grants unless one is asked for:
 * wf_dist_config.thread_level, else the environment variable
 *   WEFT_DIST_THREAD_LEVEL = multiple | serialized   (funneled is taken
 *                            as serialized; default: multiple if the
 *                            library grants it)
 * An unknown value makes wf_dist_init fail with WF_EINVAL after a line
 * on stderr. wf_dist_thread_level() says which mode runs. A library that
 * grants less than MPI_THREAD_SERIALIZED is refused (WF_ENOSYS).
 *
 * Progress. MPI moves data only while some call of it runs (Open MPI has
 * no progress thread for shared memory or TCP), so the communication
 * fiber calls MPI_Testsome on the outstanding requests and completes the
 * futures of those that finished. While requests are outstanding it
 * yields to the other fibers of its worker for a few rounds and then
 * sleeps for a growing interval (1 us doubling to WEFT_DIST_POLL_MAX_US:
 * a whole number of microseconds from 1 to 1000000, default 200),
 * restarting at the shortest interval whenever an operation completes or
 * a new one is started; after 100 ms without either, up to 32 times that
 * maximum (a receive whose sender is still computing: measured here, one
 * pending receive cost 30% of a core at 200 us, under 2% once the 100 ms
 * have passed; 45 ms of CPU over its first second, docs/PERFORMANCE.md);
 * with nothing outstanding it parks and costs nothing. A shorter maximum
 * answers sooner but each poll takes a CPU from the computation: on an oversubscribed machine 20 us made a stencil
 * several times slower (docs/PERFORMANCE.md). A worker busy with a long
 * parallel loop (weft/par.h: a task runs to its end before the worker
 * looks at fibers) delays the polling it would do: in multiple mode an
 * idle worker takes the fiber over; in serialized mode keep each
 * parallel call short, or give the loops one worker less (max_workers).
 *
 * Callbacks (wf_future_then) of dist futures run on the communication
 * fiber, right after MPI_Testsome (or at once in wf_future_then, on the
 * caller, if the future has completed): they must not park or block, as
 * every future callback; one that waited for a dist future would wait
 * for the fiber that completes it. Starting another dist operation from
 * a callback is fine (it is queued); the loops and wf_dist_finalize
 * refuse to run there (WF_EDEADLK).
 *
 * Buffers. A buffer passed to a send, receive or collective belongs to
 * MPI until the operation's future completes: do not touch it before (a
 * send buffer may be read, not written). Releasing the future early is
 * allowed (the operation goes on, its future is freed when it ends);
 * cancelling it (wf_future_cancel) releases the waiters with WF_ECANCELED
 * at once. A cancelled receive is then cancelled in MPI too (MPI_Cancel,
 * from the communication fiber), so it no longer matches later messages,
 * unless one had matched it already (that message is then lost to the
 * user). A cancelled send or collective still runs to its end. Either
 * way the buffer stays in use until wf_dist_finalize returns. Use a
 * deadline on the await to bound a wait.
 *
 * Order. As in MPI: messages between one pair of ranks with the same tag
 * arrive in the order their sends were started; collectives (broadcast,
 * reduce, allreduce, gather, barrier and the parallel loops) must be
 * started in the same order on every rank. Two fibers of one rank that
 * start collectives concurrently must agree on that order themselves (one
 * fiber, or a mutex). The parallel loops use a communicator of their own,
 * so they never match the user's messages.
 *
 * Failures. Every communicator weft uses has MPI_ERRORS_RETURN, and every
 * MPI error class is translated to a weft code (below) that fails the
 * call or its future. Arguments weft can check itself (a rank out of
 * range, a negative count, an unknown type or operation, a NULL buffer
 * with a non-zero count) fail the call at once with WF_EINVAL, the same
 * on every rank that makes the mistake. The parallel loops agree on
 * their outcome: every rank returns the same code (the lowest of the
 * ranks' codes). A rank that dies (exits or crashes without
 * wf_dist_finalize) makes Open MPI's mpirun kill the others and exit with
 * a non-zero status after printing which rank ended and how; a rank
 * blocked on a message from it never hangs unseen, since the job ends.
 * wf_dist_finalize waits at most WEFT_DIST_FINALIZE_MS (a whole number of
 * milliseconds from 0 to 86400000, default 10000) for
 * sends and collectives still outstanding, then prints
 *   weft: wf_dist_finalize: N MPI operations still outstanding after T ms
 *   (no peer matched them); aborting the job
 * and calls MPI_Abort: a job never hangs in its finalisation. (A value of
 * either variable that is out of range or not a number is reported on
 * stderr and the default used.)
 *
 * Calls before wf_dist_init, or after wf_dist_finalize, fail with
 * WF_ENOTCONN (the rank queries return it too).
 *
 * Running: mpirun -np 4 ./prog (as root add --allow-run-as-root; on one
 * machine with fewer cores than ranks add --oversubscribe). README.md,
 * "Beyond one machine", has the commands.
 */
#ifndef WEFT_DIST_H
#define WEFT_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "future.h"
#include "par.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes of this component, besides those of weft/common.h (each is
 * the negated errno value; wf_strerror names it):
 *   WF_ENOTCONN   not started: before wf_dist_init, after wf_dist_finalize
 *   WF_EMSGSIZE   a message longer than the receive buffer
 *                 (MPI_ERR_TRUNCATE)
 *   WF_EIO        an MPI error with no closer meaning (MPI_ERR_OTHER,
 *                 MPI_ERR_INTERN, a failed peer's MPI_ERR_PROC_FAILED...;
 *                 the text of the MPI error goes to stderr when it happens)
 * and from the MPI error classes: MPI_ERR_RANK, _COUNT, _TAG, _TYPE, _OP,
 * _ROOT, _BUFFER, _ARG -> WF_EINVAL; MPI_ERR_NO_MEM -> WF_ENOMEM.
 * An error of one operation fails its future. MPI_Testsome failing as a
 * whole (not for one request) leaves every outstanding operation
 * unknown, while MPI may still write into their buffers: the job ends
 * (MPI_Abort) after a line "weft: dist: MPI_Testsome failed on rank N".
 * The loops end the job too when their own messages fail (below). */
#define WF_ENOTCONN (-ENOTCONN)
#define WF_EMSGSIZE (-EMSGSIZE)
#define WF_EIO      (-EIO)

/* ---- start-up ------------------------------------------------------------ */

enum {
    WF_DIST_AUTO = 0,   /* multiple if the library grants it, else serialized */
    WF_DIST_MULTIPLE,   /* MPI_THREAD_MULTIPLE: any thread starts operations */
    WF_DIST_SERIALIZED, /* one pinned communication fiber makes every call */
};

struct wf_dist_config {
    /* WF_DIST_*; WF_DIST_AUTO: WEFT_DIST_THREAD_LEVEL, else the best the
     * library grants. Asking for WF_DIST_MULTIPLE from a library that does
     * not grant it is WF_ENOSYS. */
    int thread_level;
};

/* Bring MPI up beside the running weft runtime (see "Start-up" above):
 * starts weft's MPI thread, which calls MPI_Init_thread (with argc/argv,
 * which may be NULL), sets MPI_ERRORS_RETURN and makes the communicators
 * weft uses, then the communication fiber. cfg may be NULL. Call once per
 * rank, from a fiber or a plain thread while the runtime runs (parks /
 * blocks until MPI is up; not a cancellation point). After
 * wf_dist_finalize, MPI cannot be started again in the same process (an
 * MPI rule): WF_EALREADY.
 * Errors: WF_ESHUTDOWN the runtime is not running; WF_EALREADY already
 * started (or finalised); WF_EINVAL a bad thread_level or
 * WEFT_DIST_THREAD_LEVEL; WF_ENOSYS multiple asked for and not granted,
 * or not even MPI_THREAD_SERIALIZED granted; WF_EIO MPI_Init_thread
 * failed; WF_ENOMEM. */
WF_API int wf_dist_init(int *argc, char ***argv,
                        const struct wf_dist_config *cfg);

/* Finish: waits for the operations still outstanding (see "Failures"),
 * stops the communication fiber, then weft's MPI thread calls
 * MPI_Finalize (a collective: every rank must call it). Call before
 * wf_shutdown, from a fiber or plain thread, once no other fiber starts
 * dist operations. Parks / blocks; not a cancellation point.
 * Errors: WF_ENOTCONN not started or already finalised; WF_EDEADLK called
 * from a dist callback; WF_EIO MPI_Finalize failed. */
WF_API int wf_dist_finalize(void);

/* This process's rank (0 .. size-1) and the number of ranks. Any thread,
 * never blocks. WF_ENOTCONN when not started. */
WF_API int wf_dist_rank(void);
WF_API int wf_dist_size(void);

/* The mode that runs: WF_DIST_MULTIPLE or WF_DIST_SERIALIZED; WF_ENOTCONN
 * when not started. */
WF_API int wf_dist_thread_level(void);

/* ---- data types and reduction operations ------------------------------- */

enum wf_dist_type {
    WF_DIST_BYTE = 0, /* unsigned char */
    WF_DIST_INT,      /* int */
    WF_DIST_LONG,     /* long */
    WF_DIST_INT64,    /* int64_t */
    WF_DIST_UINT64,   /* uint64_t */
    WF_DIST_FLOAT,    /* float */
    WF_DIST_DOUBLE,   /* double */
    WF_DIST_NTYPES
};

enum wf_dist_op {
    WF_DIST_SUM = 0,
    WF_DIST_PROD,
    WF_DIST_MIN,
    WF_DIST_MAX,
    WF_DIST_BAND, /* integer types only (MPI's rule) */
    WF_DIST_BOR,
    WF_DIST_BXOR,
    WF_DIST_NOPS
};

/* Size in bytes of one element of type t, 0 for an unknown type. */
WF_API size_t wf_dist_type_size(enum wf_dist_type t);

/* Wildcards of wf_dist_recv. */
#define WF_DIST_ANY_SOURCE (-1)
#define WF_DIST_ANY_TAG    (-1)
/* The largest tag every MPI library accepts (the standard's lower bound
 * for MPI_TAG_UB); tags are 0 .. WF_DIST_TAG_MAX. */
#define WF_DIST_TAG_MAX 32767

/* What a completed receive saw (optional; see wf_dist_recv). */
struct wf_dist_status {
    int source; /* the sender's rank */
    int tag;    /* the message's tag */
    long count; /* elements received */
};

/* ---- point-to-point ------------------------------------------------------ */
/*
 * Each call starts the operation and stores in *out a future holding one
 * reference (release it with wf_future_release). The future completes
 * with 0 and value NULL (a receive: the element count received, cast to
 * void *) when the operation has finished in MPI, or fails with a weft
 * code (above). Any thread or fiber; never blocks. On an immediate error
 * nothing was started and *out is untouched.
 * Immediate errors: WF_ENOTCONN; WF_EINVAL out NULL, count < 0 or above
 * INT_MAX, buf NULL with count > 0, a bad type, a rank out of range (the
 * wildcards apart), a tag out of 0..WF_DIST_TAG_MAX; WF_ENOMEM; in
 * multiple mode, the translated error of the MPI start call.
 */

/* Send count elements of type from buf to rank dest with tag (MPI_Isend;
 * small messages usually complete at once, large ones once dest has
 * posted its receive). Sending to oneself is allowed (match it with a
 * receive, started before or after). */
WF_API int wf_dist_send(struct wf_future **out, const void *buf, long count,
                        enum wf_dist_type type, int dest, int tag);

/* Receive at most count elements into buf from rank src (or
 * WF_DIST_ANY_SOURCE) with tag (or WF_DIST_ANY_TAG) (MPI_Irecv). If st
 * is not NULL it must stay valid until the future completes, and is
 * filled before it completes successfully. A longer message fails it with
 * WF_EMSGSIZE. */
WF_API int wf_dist_recv(struct wf_future **out, void *buf, long count,
                        enum wf_dist_type type, int src, int tag,
                        struct wf_dist_status *st);

/* ---- collectives --------------------------------------------------------- */
/*
 * Every rank must call the same collective with matching arguments (same
 * count, type, op and root), in the same order (see "Order"). Futures,
 * errors and threads as for point-to-point; root out of range is
 * WF_EINVAL.
 */

/* Broadcast count elements of buf from root to every rank (MPI_Ibcast). */
WF_API int wf_dist_bcast(struct wf_future **out, void *buf, long count,
                         enum wf_dist_type type, int root);

/* Combine every rank's count elements of sendbuf element-wise with op
 * into recvbuf on root (MPI_Ireduce); recvbuf is used on root only (may
 * be NULL elsewhere). sendbuf and recvbuf must not overlap. */
WF_API int wf_dist_reduce(struct wf_future **out, const void *sendbuf,
                          void *recvbuf, long count, enum wf_dist_type type,
                          enum wf_dist_op op, int root);

/* wf_dist_reduce with the result on every rank (MPI_Iallreduce). */
WF_API int wf_dist_allreduce(struct wf_future **out, const void *sendbuf,
                             void *recvbuf, long count, enum wf_dist_type type,
                             enum wf_dist_op op);

/* Gather count elements from every rank into root's recvbuf, rank r's
 * at recvbuf + r * count elements (MPI_Igather); recvbuf (size * count
 * elements) is used on root only. */
WF_API int wf_dist_gather(struct wf_future **out, const void *sendbuf,
                          void *recvbuf, long count, enum wf_dist_type type,
                          int root);

/* Completes on every rank once every rank has started it (MPI_Ibarrier). */
WF_API int wf_dist_barrier(struct wf_future **out);

/* ---- parallel loops across ranks ----------------------------------------- */

enum {
    WF_DIST_STATIC = 0, /* rank r runs the r-th of size equal slices */
    WF_DIST_DYNAMIC,    /* ranks ask rank 0 for chunks until none is left */
};

struct wf_dist_for_opts {
    int mode;   /* WF_DIST_STATIC or WF_DIST_DYNAMIC */
    long chunk; /* dynamic: indices per chunk; 0: (hi - lo) / (16 * size),
                 * at least 1 */
    long grain; /* the grain of the rank-local wf_parallel_for /
                 * wf_parallel_reduce (weft/par.h); 0: automatic */
    /* wf_dist_parallel_reduce only: how ranks combine their results.
     * combine_op < 0 (the default): with the combine function, on rank 0,
     * in index order, then broadcast. Else the accumulator is an array of
     * acc_size / wf_dist_type_size(combine_type) elements combined with
     * this MPI operation (MPI_Iallreduce). */
    int combine_op; /* enum wf_dist_op, or -1 */
    enum wf_dist_type combine_type;
};

/* Every option at its default: static, automatic chunk and grain,
 * combine with the combine function. */
/* clang-format off */
#define WF_DIST_FOR_OPTS_INIT { WF_DIST_STATIC, 0, 0, -1, WF_DIST_BYTE }
/* clang-format on */

/* Run body over [lo, hi) across all ranks: a collective (every rank calls
 * it with the same lo, hi and opts; opts NULL: the defaults). Each index
 * runs once on one rank; a rank runs its part with wf_parallel_for on its
 * workers. Static: rank r gets [lo + n*r/size, lo + n*(r+1)/size). Dynamic
 * (for uneven work): rank 0 hands out chunks of opts->chunk indices, in
 * ascending order, to whichever rank asks next (each rank keeps two
 * requests in flight, so it holds its next chunk while rank 0 is busy;
 * rank 0 serves the others from a fiber between its own chunks), so a
 * rank that finds cheap work takes more of it. Body's results stay on the rank that computed them:
 * gather them yourself (wf_dist_gather, or sends). Returns once every
 * rank has finished its part. From a fiber (parks) or a plain thread
 * (blocks), not from a task or a dist callback. Not a cancellation point
 * (as wf_parallel_for): a cancelled fiber still takes part to the end,
 * since the other ranks wait for it. Every rank returns the same
 * result. Errors: WF_ENOTCONN; WF_EINVAL body NULL, hi < lo, a bad
 * mode, a negative chunk or grain; WF_ENOMEM; WF_EDEADLK from the
 * communication fiber; the translated MPI errors. A local error skips
 * the rest of this rank's work but keeps the ranks' exchange going, so
 * every rank returns it. When one of the loops' own messages cannot be
 * started or fails (a dynamic loop's request for a chunk, rank 0's
 * reply, a reduction's partial results), the other ranks would wait for
 * it forever: the job ends instead (MPI_Abort), after a line
 * "weft: wf_dist_parallel_for/reduce on rank N: ... aborting the job". */
WF_API int wf_dist_parallel_for(long lo, long hi,
                                const struct wf_dist_for_opts *opts,
                                wf_for_fn *body, void *ctx);

/* Reduce [lo, hi) across all ranks into *result on every rank (acc_size
 * bytes; a collective like wf_dist_parallel_for). body and combine are
 * those of wf_parallel_reduce (weft/par.h); identity is the accumulator's
 * starting value. Static: each rank reduces its slice with
 * wf_parallel_reduce, and the ranks' partial results are combined in rank
 * order (which is index order) with combine, or with opts->combine_op.
 * Dynamic: each chunk is reduced with wf_parallel_reduce, and the chunks'
 * results are combined in chunk order on rank 0, whoever computed them:
 * the result depends on the chunk size, never on the number of ranks or on
 * timing. With an exactly associative combine (integers) every mode gives
 * the serial result. result may be identity. Errors: those of
 * wf_dist_parallel_for, and WF_EINVAL result, identity or combine NULL,
 * acc_size 0 or above INT_MAX, combine_op out of range, acc_size not a
 * multiple of the combine_type's size. */
WF_API int wf_dist_parallel_reduce(long lo, long hi,
                                   const struct wf_dist_for_opts *opts,
                                   void *result, size_t acc_size,
                                   const void *identity, wf_reduce_fn *body,
                                   wf_combine_fn *combine, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
