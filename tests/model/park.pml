/* SPDX-License-Identifier: MIT */
/*
 * tests/model/park.pml - parking a fiber (src/core/sched.c: park,
 * resume, run_after, wf__fiber_wake, wf__fiber_claim_parked,
 * wf__fiber_run_claimed; src/core/waitrec.h: the wait record's lifetime).
 *
 * One fiber F on a worker runs two waits in a row:
 *   1. a wait on a record's word (wf__fiber_park_word) linked in an
 *      object under a lock, the way a join, a sync or channel operation
 *      waits: loop { park_word(word, 0) } until the word changed; on a
 *      cancellation it unlinks itself under the lock (or, finding itself
 *      unlinked, waits for the word) and returns;
 *   2. wf_park until it has taken the permit (loop on wf_park).
 * Against it:
 *   K  the record's waker: under the lock, unlinks the record, and either
 *      claims the parked fiber (PARKED -> CLAIMED) and runs it
 *      (wf__fiber_run_claimed) or stores the word (seq_cst) and kicks it
 *      from a copy of the waiter after the unlock (wf__waiter_kick);
 *   U  wf_unpark: exchange the permit, then resume;
 *   T  a deadline timer's spurious kick (timer_fire), at any moment;
 *   C  wf_cancel during wait 1: store `cancelled`, then kick;
 *   Wk the worker: after F switched away, the next context runs
 *      run_after (CAS PARKING -> PARKED, or park_raced requeues F);
 *   runq: F's place in a run queue (whoever queues it increments).
 *
 * Checked: F is queued by exactly one party per park (runq never
 * exceeds 1) and only once it is off its stack (run_after done); when
 * it resumes its wstate is RUNNING; nobody writes the record after F's
 * wait returned (rec_live); the permit is never taken unless given and
 * never eaten by the word wait; every wait ends (no invalid end state:
 * no lost wake-up). Deadlines are modelled as spurious kicks only (a
 * timed-out park re-checks like any other return).
 *
 * Memory orders: every access to wstate and notified is seq_cst in the
 * code, as is the word store and the parker's re-read, which is what
 * spin's interleaving gives. Exceptions: claim_parked's first load is
 * relaxed (a filter before the CAS, modelled as a plain read; the CAS
 * decides) and run_claimed's store of RUNNING is a release that F's
 * acquire load reads when it runs (the queue's own publication orders
 * it as well); `cancelled` is loaded relaxed before PARKING (an early
 * out; its seq_cst re-read after PARKING is the Dekker half). The
 * word store of a claimer is a release (F reads it after it runs).
 * Left out: the cooperative budget, the run queues' internals (a
 * counter here; deque.pml checks the deques), the timer heap, plain
 * threads' futex parker (the same word protocol on a futex).
 */

#define RUNNING 0
#define PARKING 1
#define PARKED 2
#define WOKEN 3
#define CLAIMED 4

byte wstate = RUNNING;
bit notified;
bit cancelled;
byte word;        /* the wait record's state word (0: waiting) */
bool linked;      /* the record is linked in its object (lock) */
bool rec_live;    /* the record is on F's live stack */
bit lk;           /* the object's lock */
byte phase;       /* F is in wait 1 or 2 */

byte runq;        /* F queued to run */
bool after_park;  /* worker->after == AFTER_PARK for F */
bool off_cpu;     /* F has left its stack (run_after done) */
byte given, taken; /* permits */

inline lock() { atomic { lk == 0 -> lk = 1 } }
inline unlock() { lk = 0 }

inline ready() {
    d_step {
        assert(runq == 0 && off_cpu);
        runq++
    }
}

/* resume(): CAS PARKED -> RUNNING and queue, or CAS PARKING -> WOKEN */
inline resume() {
    s = wstate;
    do
    :: atomic {
        if
        :: s == PARKED ->
            if
            :: wstate == PARKED -> wstate = RUNNING; ready(); s = 0; break
            :: else -> s = wstate /* the weak CAS failed: s is reloaded */
            fi
        :: s == PARKING ->
            if
#ifndef MUT_NO_WOKEN
            :: wstate == PARKING -> wstate = WOKEN; s = 0; break
#else
            :: wstate == PARKING -> s = 0; break /* mutant: leaves it */
#endif
            :: else -> s = wstate
            fi
        :: else -> s = 0; break
        fi
       }
    od
}

/* wake_seen for a word wait (word) or the permit (take_permit) */
inline wake_seen(onword, seen) {
    if
    :: onword -> seen = (word != 0)
    :: else ->
        if
        :: notified == 1 ->
            atomic { seen = notified; notified = 0 };
            if
            :: seen -> taken++; assert(taken <= given)
            :: else
            fi
        :: else -> seen = 0
        fi
    fi
}

/* park(): rc 0 woken or spurious, 1 cancelled */
inline park(onword, cancellable, rc) {
    rc = 0;
    do
    :: wake_seen(onword, seen);
        if
        :: seen -> break
        :: else
        fi;
        if
        :: cancellable && cancelled -> rc = 1; break
        :: else
        fi;
        wstate = PARKING; /* seq_cst: the Dekker store */
#ifndef MUT_NO_RECHECK
        wake_seen(onword, seen);
#else
        seen = 0; /* mutant: no second look after PARKING */
#endif
        if
        :: seen -> wstate = RUNNING; break
        :: else
        fi;
        if
        :: cancellable && cancelled -> wstate = RUNNING; rc = 1; break
        :: else
        fi;
        after_park = 1; /* leave(): switch away */
        atomic { runq > 0 -> runq--; off_cpu = 0 } /* resumed */
        assert(wstate == RUNNING); /* acquire load */
        wake_seen(onword, seen);
        if
        :: seen -> break
        :: else
        fi;
        if
        :: cancellable && cancelled -> rc = 1
        :: else
        fi;
        break
    od;
    seen = 0
}

proctype F() {
    byte s, rc;
    bool seen;
    /* wait 1: on the record's word */
    do
    :: word != 0 -> break
    :: else ->
        park(1, 1, rc);
        if
        :: rc == 1 -> /* cancelled: give up under the lock */
            lock();
            if
            :: linked -> linked = 0; unlock(); break
            :: else -> unlock() /* a waker took it: the word is set */
            fi
        :: else
        fi
    od;
    atomic { rec_live = 0; phase = 2; cancelled = 0; rc = 0 }
    /* wait 2: wf_park until the permit */
    do
    :: park(0, 1, rc);
        if
        :: taken > 0 -> break
        :: else
        fi
    od
}

proctype Wk() {
    /* run_after on F's worker, after F switched away */
end:
    do
    :: atomic { after_park -> after_park = 0; off_cpu = 1 };
        atomic {
            if
            :: wstate == PARKING -> wstate = PARKED
            :: else -> /* park_raced: a waker set WOKEN */
                assert(wstate == WOKEN);
                wstate = RUNNING;
                ready()
            fi
        }
    od
}

proctype K() {
    byte s;
    lock();
    if
    :: linked ->
        linked = 0;
        atomic { /* wf__fiber_claim_parked: the CAS decides */
            if
            :: wstate == PARKED -> wstate = CLAIMED
            :: else
            fi
        }
        if
        :: wstate == CLAIMED ->
            assert(rec_live);
            word = 1; /* release: F reads it once it runs */
            unlock();
            wstate = RUNNING; /* wf__fiber_run_claimed: release */
            ready()
        :: else ->
            assert(rec_live);
#ifndef MUT_KICK_FIRST
            word = 1; /* seq_cst */
            unlock();
            resume() /* from a copy of the waiter */
#else
            unlock(); /* mutant: kick before storing the word */
            resume();
            word = 1
#endif
        fi
    :: else -> unlock() /* F gave up */
    fi
}

proctype U() {
    byte s;
    given++;
    if
    :: atomic { notified == 0 -> notified = 1 } -> resume()
    :: atomic { notified == 1 -> skip }
    fi
}

/* T and C may also do nothing, so that they cannot hide a lost wake-up
 * by kicking F late: each run of the model has them act or not. */
proctype T() {
    byte s;
    if
    :: resume()
    :: skip
    fi
}

proctype C() {
    byte s;
    if
    :: atomic { phase == 1 -> cancelled = 1 }; resume()
    :: phase == 2 /* too late: wait 1 is over */
    :: skip
    fi
}

init {
    atomic {
        linked = 1; rec_live = 1; phase = 1;
        run F(); run Wk(); run K(); run U();
#ifndef NO_KICK
        run T();
#endif
#ifndef NO_CANCEL
        run C()
#endif
    }
}
