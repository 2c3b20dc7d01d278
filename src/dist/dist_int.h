/* SPDX-License-Identifier: MIT */
/*
 * dist_int.h - what dist.c (start-up, operations, the progress engine)
 * shares with loop.c (the parallel loops across ranks).
 *
 * Interleavings the progress engine is built for, each with the
 * tests/dist/test_dist.c case that exercises it, where one does:
 *   - an operation started by a fiber that is then stolen to another
 *     worker while it awaits: the future belongs to no thread; the engine
 *     completes it from the communication fiber and the waiter is woken
 *     wherever it now runs. In serialized mode the start itself is queued,
 *     so no MPI call is made on the stolen fiber's thread [many_fibers:
 *     its fibers yield between start and await, so that they may be
 *     stolen; moved for certain only under WEFT_DEBUG_MIGRATE];
 *   - a future released before its operation completes: the operation
 *     holds the promise, completes it later, and the future is freed then
 *     [abort_finalize_stuck releases an outstanding send; no case sees
 *     such a future complete];
 *   - a callback that starts another operation: submit never waits, it
 *     queues and unparks the communication fiber (which is running the
 *     callback: the permit makes its next park return at once)
 *     [p2p_callback];
 *   - a receive's future cancelled while it is pending: its cancel
 *     handler marks the operation and unparks the communication fiber,
 *     which calls MPI_Cancel (also for one still in the queue when the
 *     handler ran); finish_op waits for a running handler before freeing
 *     the operation (future.h), so the handler never sees freed memory
 *     [recv_cancel];
 *   - finalize while operations are outstanding: receives are cancelled
 *     (MPI_Cancel, their futures fail with WF_ECANCELED), sends and
 *     collectives get WEFT_DIST_FINALIZE_MS, then the job is aborted;
 *     submissions after finalize began fail with WF_ENOTCONN
 *     [finalize_outstanding, abort_finalize_stuck];
 *   - a submission racing with the engine going to sleep: the submitter
 *     queues under the lock and then unparks the fiber; wf_park's permit
 *     makes a park that follows the unpark return at once [no case of
 *     its own: every case that waits goes through it, by chance];
 *   - a callback that yields or parks on the communication fiber (which
 *     future.h forbids, but may happen): the engine's request arrays are
 *     touched by that fiber alone and submissions go through the locked
 *     queue, so a switch inside a callback only delays polling; one that
 *     waits for a dist future there would wait for itself, which the
 *     loops and finalize refuse (WF_EDEADLK) [callback_cannot_wait tests
 *     the refusal; no case yields or parks in a callback];
 *   - MPI_Init_thread and MPI_Finalize run on dist's own plain thread,
 *     before the communication fiber starts and after it returned, so in
 *     serialized mode no two MPI calls overlap and no worker is held while
 *     they wait for the other ranks [every case in serialized mode: the
 *     test's PMPI interposer checks that the calls the engine makes on
 *     the communication fiber (the starts, MPI_Testsome, MPI_Cancel) come
 *     from one thread and never overlap; MPI_Init_thread, MPI_Comm_dup,
 *     MPI_Finalize and the like on the MPI thread are not interposed].
 */
#ifndef WEFT_DIST_INT_H
#define WEFT_DIST_INT_H

#include <mpi.h>

#include "weft/dist.h"

/* The communicator of the parallel loops (a duplicate of the world's, so
 * its messages never match the user's). */
MPI_Comm wf__dist_loop_comm(void);

/* Checks shared by the loops: WF_ENOTCONN when not started, WF_EDEADLK on
 * the communication fiber, else 0. */
int wf__dist_can_wait(void);

/* The operations of dist.h on any communicator: start, and store a
 * future in *out (one reference). */
int wf__dist_send_on(MPI_Comm comm, struct wf_future **out, const void *buf,
                     long count, enum wf_dist_type type, int dest, int tag);
int wf__dist_recv_on(MPI_Comm comm, struct wf_future **out, void *buf,
                     long count, enum wf_dist_type type, int src, int tag,
                     struct wf_dist_status *st);
int wf__dist_bcast_on(MPI_Comm comm, struct wf_future **out, void *buf,
                      long count, enum wf_dist_type type, int root);
int wf__dist_allreduce_on(MPI_Comm comm, struct wf_future **out,
                          const void *sendbuf, void *recvbuf, long count,
                          enum wf_dist_type type, enum wf_dist_op op);
int wf__dist_gather_on(MPI_Comm comm, struct wf_future **out,
                       const void *sendbuf, void *recvbuf, long count,
                       enum wf_dist_type type, int root);

/* Wait for f (parks a fiber, blocks a thread), release it and return its
 * outcome; *value gets its value when value is not NULL. Not a
 * cancellation point: the operations behind the loops' and start-up's
 * futures write into their callers' frames, so a cancelled fiber still
 * waits for them (WF_ESHUTDOWN only for a plain thread whose runtime
 * stops). */
int wf__dist_finish(struct wf_future *f, void **value);

#endif
