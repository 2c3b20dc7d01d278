/* SPDX-License-Identifier: MIT */
/*
 * tests/model/timer.pml - a user timer's start and stop against firing
 * (src/core/utimer.c: wf_timer_start, wf_timer_stop, stop_from_callback,
 * rearm_later, fire, wf__utimers_drain; src/core/timer.c:
 * wf__timer_add_state, wf__timer_remove, wf__timer_add_reserved,
 * wf__timers_run).
 *
 * One timer, two workers each with a heap (its lock, and whether the
 * timer is in it: `heap`, the timer's t->heap) and a due list.
 *   Wk(i)  fires its heap (under its lock: ARMED -> DUE, onto its due
 *          list, heap = NULL) and drains its due list: runner = i,
 *          utimer_running = the timer, state IDLE, the callback, then an
 *          applied re-arm, then utimer_running = NULL. The callback may
 *          re-arm its own timer (rearm_later; at most REARMS times in a
 *          run) and may then stop it (stop_from_callback: cancels the
 *          re-arm, WF_EALREADY).
 *   S      a second thread: wf_timer_start, then maybe wf_timer_stop.
 *   O      the owner: wf_timer_start, waits for S, then wf_timer_stop
 *          and frees the timer's storage.
 * A start puts the timer in either heap (pick_heap's choice).
 *
 * Checked: the callback never runs twice at once, never after a stop
 * that returned 0 (until a later start armed it again), and never after
 * the owner's final stop returned; nothing touches the timer (its state,
 * its heap link, the due list) after the owner freed it; every start
 * that returned 0 ends in exactly one run of the callback, one stop
 * that returned 0, or a re-arm that its own callback cancelled (a stop
 * from inside the callback, which returns WF_EALREADY); the worker
 * loops never wait for ever (no invalid end state).
 *
 * Memory orders: every access to `state` and to utimer_running is
 * seq_cst in the code; `runner` is a release store read with acquire
 * after the seq_cst state that follows it; t->heap is read lock-free
 * with acquire (wf__timer_remove's first look; NULL means the fire is
 * over: the release store after it) and re-checked under the heap lock.
 * So SC interleavings are what the code guarantees. Left out: deadlines
 * and the heap order (the timer fires whenever its worker looks),
 * runtime shutdown (DISCARDED), WF_ENOMEM, starts from another timer's
 * callback (WF_EBUSY instead of waiting), waking a sleeping worker.
 */

#define IDLE 0
#define STARTING 1
#define ARMED 2
#define DUE 3

#define OK 0
#define EBUSY 1
#define EALREADY 2

#ifndef REARMS
#define REARMS 1
#endif

byte state = IDLE;
byte heap;          /* t->heap: 0 none, 1 + worker */
bit hlk[2];         /* the heaps' locks */
bool due[2];        /* on worker i's due list */
byte runner;        /* 0 none, 1 + worker */
bool urun[2];       /* worker i's utimer_running == this timer */
bool rearm[2];      /* worker i's utimer_rearm */
byte rearms = REARMS;

bool in_cb;         /* the callback runs */
bool stopped;       /* a stop returned 0 since the last arming */
bool freed;
bool s_done;
byte starts_ok, runs, stops_ok, rearm_cancelled;

inline hlock(i) { atomic { hlk[i] == 0 -> hlk[i] = 1 } }
inline hunlock(i) { hlk[i] = 0 }

/* running(): runner (acquire), then its utimer_running (seq_cst) */
#define RUNNING (runner != 0 && urun[runner - 1])

/* arm: pick a heap; wf__timer_add_state under its lock */
inline arm() {
    if
    :: h = 0
    :: h = 1
    fi;
    hlock(h);
    d_step {
        assert(!freed && state == STARTING);
        heap = h + 1;
        state = ARMED;
        stopped = 0;
        starts_ok++
    };
    hunlock(h);
    h = 0
}

/* wf__timer_remove(t, &state, IDLE): true if it took t out of its heap */
inline remove(removed) {
    removed = 0;
    h = heap; /* acquire */
    if
    :: h != 0 ->
        hlock(h - 1);
        d_step {
            if
            :: heap == h ->
                heap = 0;
                state = IDLE;
                removed = 1;
                stopped = 1; /* the stop's answer is decided here */
                stops_ok++
            :: else
            fi
        };
        hunlock(h - 1)
    :: else
    fi;
    h = 0
}

inline start(rc) {
    do
    :: atomic {
        assert(!freed);
        if
        :: state == IDLE -> state = STARTING; s = IDLE
        :: else -> s = state
        fi
       };
        if
        :: s == STARTING -> state != STARTING /* wait_started */
        :: s != IDLE && s != STARTING -> rc = EBUSY; break
        :: s == IDLE ->
            if
#ifndef MUT_START_IGNORES_RUNNING
            :: !RUNNING -> arm(); rc = OK; break
#else
            :: true -> arm(); rc = OK; break /* mutant */
#endif
            :: else ->
                state = IDLE;
                !RUNNING /* pause_here until it returned */
            fi
        fi
    od;
    s = 0
}

inline stop(rc) {
    do
    :: s = state;
        if
        :: s == STARTING -> state != STARTING
        :: s == ARMED ->
            remove(removed);
            if
            :: removed -> rc = OK; break
            :: else /* it fired meanwhile */
            fi
        :: s == DUE -> state != DUE /* pause_here: its worker runs it */
        :: s == IDLE ->
#ifndef MUT_STOP_NO_HOLD
            atomic {
                if
                :: state == IDLE -> state = STARTING; s = STARTING
                :: else
                fi
            };
#else
            s = STARTING; /* mutant: looks at running without holding */
#endif
            if
            :: s == STARTING ->
                if
#ifndef MUT_STOP_NO_HOLD
                :: !RUNNING -> state = IDLE; rc = EALREADY; break
#else
                :: !RUNNING -> rc = EALREADY; break
#endif
                :: else ->
                    state = IDLE;
                    !RUNNING /* wait for the callback, then look again */
                fi
            :: else
            fi
        fi
    od;
    s = 0; removed = 0
}

proctype Wk(byte i) {
    byte s;
end:
    do
    :: /* wf__timers_run: the deadline passed */
        atomic { hlk[i] == 0 && heap == i + 1 -> hlk[i] = 1 };
        d_step {
            assert(!freed && state == ARMED);
            state = DUE;
            due[i] = 1;
            heap = 0 /* release, after the fire */
        };
        hunlock(i)
    :: /* wf__utimers_drain */
        due[i] ->
        d_step {
            assert(!freed && state == DUE);
            due[i] = 0;
            runner = i + 1;  /* release */
#ifndef MUT_IDLE_FIRST
            urun[i] = 1      /* seq_cst, before IDLE */
        };
        d_step { assert(!freed); state = IDLE }; /* seq_cst */
#else
        };
        d_step { assert(!freed); state = IDLE };
        urun[i] = 1; /* mutant: running stored after IDLE */
#endif
        rearm[i] = 0;
        /* the callback */
        d_step {
            assert(!freed && !in_cb && !stopped);
            in_cb = 1;
            runs++
        };
        if
        :: rearms > 0 -> /* wf_timer_start from its own callback */
            d_step {
                rearms--;
                rearm[i] = 1; /* rearm_later; the heap slot reserved */
                starts_ok++
            };
            if
            :: d_step { rearm[i] = 0; rearm_cancelled++ } /* wf_timer_stop */
            :: skip
            fi
        :: skip
        fi;
        in_cb = 0;
        if
        :: rearm[i] ->
            rearm[i] = 0;
            do
            :: atomic { state == IDLE -> state = STARTING; break }
            :: state == STARTING -> state != STARTING
            od;
            hlock(i);
            d_step {
                assert(!freed);
                heap = i + 1;
                state = ARMED;
                stopped = 0
            };
            hunlock(i)
        :: else
        fi;
        urun[i] = 0 /* seq_cst, after the callback */
    od
}

proctype S() {
    byte s, h, rc;
    bool removed;
    start(rc);
    if
    :: stop(rc)
    :: skip
    fi;
    s_done = 1
}

proctype O() {
    byte s, h, rc;
    bool removed;
    start(rc);
    s_done;
    stop(rc);
    assert(!in_cb);
    freed = 1;
    assert(heap == 0 && !due[0] && !due[1]);
    assert(starts_ok == runs + stops_ok + rearm_cancelled)
}

init {
    atomic {
        run Wk(0); run Wk(1); run S(); run O()
    }
}
