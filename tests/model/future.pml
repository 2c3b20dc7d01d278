/* SPDX-License-Identifier: MIT */
/*
 * tests/model/future.pml - a future's completion against then, cancel,
 * wait and release (src/async/future.c: settle, wf_future_then, add_cb,
 * wf_future_cancel, wait_cancel_done, put, wait_common).
 *
 * One promise/future object, refs = 2 (promise + future) plus one more
 * future reference that C1 takes for C2 before they start.
 *   P   the producer: maybe registers a cancel handler (whose state it
 *       frees once its completion returned), then completes the promise
 *       (settle; fail takes the same path);
 *   C1  wf_future_then(cb 0), maybe wf_future_cancel, then releases its
 *       reference;
 *   C2  wf_future_then(cb 1) or waits for the future (the sync wait
 *       queue, here: queued under the lock, woken by wake_all), maybe
 *       cancels, then releases its reference.
 *
 * Checked: the future completes exactly once (PENDING -> DONE once, by
 * the producer or by one cancel); the producer gets WF_ECANCELED exactly
 * when a cancel won; every callback registered runs exactly once, and
 * never after the object was freed; the cancel handler runs at most
 * once, only when a cancel won, and never after the producer's
 * completion returned (cancel_busy: the producer frees the handler's
 * state then); a waiter is woken; nothing touches the object after its
 * last reference went, and it is freed once every reference is gone.
 *
 * Memory orders: the object's lock orders everything decided under it
 * (the state, the callback list, the handler). The lock-free reads are
 * acquire loads of `state` (the fast path of the waits) and of
 * `cancel_busy` in wait_cancel_done, paired with release stores made
 * after what they publish; the reference count's decrements are acq_rel.
 * All of these are read-after-release pairs that SC preserves. The
 * relaxed store of cancel_busy = true is made under the lock before the
 * release store of DONE, and the producer reads it only after taking
 * the lock (so it sees it): program order here. Left out: when_all /
 * when_any and the per-fiber stack of running cancels (a producer that
 * completes from inside the very cancel does not wait for it), the
 * inline callback slot versus heap records (one FIFO here), deadlines
 * and cancellation of the waiter (the sync wait queue's own protocol).
 */

#define PENDING 0
#define DONE 1
#define NCB 2

bit lk;
byte state = PENDING;
byte refs = 3;          /* promise, C1's future, C2's future */
bool freed;
bool given_up;
bool cancelled;
bool cancel_busy;
bool on_cancel;         /* a handler is registered */
bool handler_live;      /* the producer has not freed its state */
byte handler_runs;
byte completions;       /* PENDING -> DONE transitions */
byte cancels_won;
byte prod_rc = 255;     /* 0 or 1 (WF_ECANCELED) */

byte cbq[NCB];          /* the callback list (ids + 1), FIFO */
byte ncbq;
byte cb_reg[NCB];       /* registered */
byte cb_runs[NCB];
bool waiter_queued, waiter_woken;
byte finished;

inline lock() { atomic { lk == 0 -> lk = 1; assert(!freed) } }
inline unlock() { lk = 0 }

inline put() {
    atomic {
        assert(!freed && refs > 0);
        refs--;
        if
        :: refs == 0 ->
            assert(ncbq == 0 && !waiter_queued);
            freed = 1
        :: else
        fi
    }
}

inline run_cb(id) {
    d_step {
        assert(!freed);
        cb_runs[id]++;
        assert(cb_runs[id] == 1)
    }
}

/* take_cbs (lock held): detach the list into the caller's locals */
inline take_cbs() {
    d_step {
        l0 = cbq[0]; l1 = cbq[1];
        cbq[0] = 0; cbq[1] = 0; ncbq = 0
    }
}

inline run_cbs() {
    if
    :: l0 != 0 -> run_cb(l0 - 1)
    :: else
    fi;
    if
    :: l1 != 0 -> run_cb(l1 - 1)
    :: else
    fi;
    l0 = 0; l1 = 0
}

/* wake_all of the wait queue (lock held) */
inline wake_all() {
    if
    :: waiter_queued -> waiter_queued = 0; waiter_woken = 1
    :: else
    fi
}

inline then(id) {
    d_step { cb_reg[id] = 1 };
    lock();
    if
    :: state == PENDING && ncbq == 0 ->
        cbq[0] = id + 1; ncbq = 1; unlock() /* the inline slot */
    :: else ->
        isdone = (state != PENDING);
        unlock();
        if
        :: !isdone ->
            /* malloc a record, then add_cb */
            lock();
            if
#ifndef MUT_THEN_NO_RECHECK
            :: state != PENDING -> unlock(); run_cb(id)
#endif
            :: else -> cbq[ncbq] = id + 1; ncbq++; unlock()
            fi
        :: else -> run_cb(id)
        fi;
        isdone = 0
    fi
}

inline cancel() {
    lock();
    if
    :: state != PENDING -> unlock() /* WF_EALREADY */
    :: else ->
        handler = on_cancel;
        on_cancel = 0;
        cancelled = 1;
        take_cbs();
        cancel_busy = 1; /* relaxed, before the release of DONE */
#ifndef MUT_CANCEL_NO_REF
        refs++;          /* wf_future_ref: a callback may drop ours */
#endif
        assert(completions == 0);
        completions++;
        cancels_won++;
        state = DONE;    /* release */
        wake_all();
        unlock();
        run_cbs();
        if
        :: handler -> d_step { assert(handler_live); handler_runs++ }
        :: else
        fi;
        handler = 0;
        cancel_busy = 0; /* release */
        put()
    fi
}

inline wait() {
    if
    :: state == DONE -> skip /* acquire: the fast path */
    :: else ->
        lock();
        if
        :: state == PENDING ->
            waiter_queued = 1;
            unlock();
            waiter_woken; /* parked until wake_all */
            lock();
            waiter_woken = 0; /* wf__wqrec_done */
            unlock()
        :: else -> unlock()
        fi
    fi;
    assert(state == DONE)
}

proctype P() {
    bool rc;
    byte l0, l1;
    if
    :: /* wf_promise_on_cancel */
        lock();
        if
        :: state == PENDING -> on_cancel = 1; handler_live = 1
        :: else /* WF_ECANCELED: already cancelled */
        fi;
        unlock()
    :: skip
    fi;
    /* settle */
    lock();
    assert(!given_up);
    given_up = 1;
    if
    :: state != PENDING ->
        unlock();
#ifndef MUT_NO_CANCEL_WAIT
        cancel_busy == 0; /* wait_cancel_done: acquire, yield meanwhile */
#endif
        put();
        rc = 1
    :: else ->
        on_cancel = 0;
        take_cbs();
        assert(completions == 0);
        completions++;
        state = DONE; /* release */
        wake_all();
        unlock();
        run_cbs();
        put();
        rc = 0
    fi;
    prod_rc = rc;
    handler_live = 0; /* the producer frees what its handler used */
    finished++
}

proctype C1() {
    bool isdone, handler;
    byte l0, l1;
    then(0);
    if
    :: cancel()
    :: skip
    fi;
    put();
    finished++
}

proctype C2() {
    bool isdone, handler;
    byte l0, l1;
    if
    :: then(1)
    :: wait()
    fi;
    if
    :: cancel()
    :: skip
    fi;
    put();
    finished++
}

init {
    atomic { run P(); run C1(); run C2() }
    finished == 3;
    assert(freed && state == DONE && completions == 1);
    assert(cb_runs[0] == cb_reg[0] && cb_runs[1] == cb_reg[1]);
    assert((prod_rc == 1) == (cancels_won == 1) && cancels_won <= 1);
    assert(handler_runs <= cancels_won)
}
