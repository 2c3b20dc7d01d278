/* SPDX-License-Identifier: MIT */
/*
 * tests/model/chan.pml - the channel hand-off of src/chan/chan.c: select
 * with its claim (CAS WAITING -> CLAIMED), a deadline giving up (CAS
 * WAITING -> GAVE_UP, or unlink under the lock for a single operation),
 * and close (claim every queued op under the lock, complete after it).
 *
 * Compile with -DOLD_SELECT for the protocol before commit 3ce89e1:
 * select_ready decided on a peek (q_ready, a relaxed load of a queued
 * select's state) and, when the claim that followed failed, returned the
 * case with WF_EAGAIN. That model must fail the assertion "a select never
 * reports a case it did not complete"; the current protocol (look again
 * after a failed claim) must verify.
 *
 * Processes (one call each):
 *   A  select { recv X, recv Y }, no deadline
 *   B  select { send X (value 1) [, recv Y] }, with a deadline
 *   C  send Y (value 2), single operation, deadline or none (chosen)
 *   D  close X, then close Y (so that every wait without a deadline
 *      must end: a lost wake-up shows as an invalid end state)
 * Channels are unbuffered (cap 0); with -DCAPX, X has one buffer slot
 * and C sends on X instead of Y (send_locked / recv_locked's buffer
 * paths, a sender waiting on a full buffer whose element a receive moves
 * in, send_ready / recv_ready's counts).
 *
 * Checked: a select never returns a case whose result is WF_EAGAIN; a
 * receive that returns 0 holds the value its sender sent, one that
 * returns WF_EPIPE or gives up holds nothing; every send that returned 0
 * was received exactly once (per channel, sends == receives at the end);
 * nobody touches a wait record (state, result, element, op) after its
 * owner returned (wlive); no op of a finished wait stays linked; every
 * call ends (no invalid end state: no lost wake-up, no hang).
 *
 * Memory orders: spin is sequentially consistent. The channel locks
 * order all queue state (acquire/release, as spinlocks). The one field
 * read outside a lock is a wait's state: the completer's store is
 * seq_cst or release and the waiter's load acquire, so SC loses nothing
 * there. q_ready's peek is a relaxed load: it is modelled as a possibly
 * stale read, returning either the current value or WAITING (the value
 * the record held when it was linked, so in its modification order),
 * except where this process already read a newer value of that state
 * (read-read coherence). Parking on the state word is abstracted as a
 * blocking wait for the word to change (tests/model/park.pml checks that
 * park/kick loses no wake-up), and a deadline as a park that may return
 * ETIMEDOUT at any moment. Left out: buffers of more than one slot
 * (the buffer paths run under the lock only), plain-thread waiters (same word
 * protocol), wf__fiber_claim_parked (it only changes who queues the
 * fiber, park.pml), shutdown's abandon hook, more than two cases.
 */

#define NCH 2      /* X = 0, Y = 1 */
#define NW 4       /* waits: A = 0, B = 1, C = 2, (D closes) */
#define NOPS 8     /* op = wait * 2 + case */
#define QLEN 3
#define NONE 255

/* wait states; 0 and 1 are case indices */
#define WAITING 10
#define CLAIMED 11
#define GAVE_UP 12
#define INIT 13

/* results */
#define OK 0
#define EPIPE 1
#define EAGAIN 2
#define ETIMEDOUT 23
#define UNSET 9

#define RECVQ 0
#define SENDQ 1
#define SEND 1
#define RECV 2

typedef Q {
    byte e[QLEN];
    byte n
};

Q q[4];              /* q[c * 2 + RECVQ / SENDQ] */
bit lk[NCH];         /* the channel spinlocks */
bool closed[NCH];
byte cap[NCH];       /* buffer slots: 0, or 1 with -DCAPX (X) */
byte count[NCH];     /* buffered elements */
byte buf[NCH];       /* the buffered element */
byte sent[NCH];      /* sends that returned 0 */
byte rcvd[NCH];      /* receives that returned 0 */

byte wstate[NW];     /* struct wait: wt.state */
byte wresult[NW];    /* struct wait: result */
bool wmulti[NW];
bool wlive[NW];      /* the record is on a live stack */

byte cs_chan[NOPS];  /* the cases: channel, op (0: none), element */
byte cs_op[NOPS];
byte cs_res[NOPS];   /* wf_select_case.result */
byte elem[NOPS];     /* a send's value / a receive's destination */
bool linked[NOPS];   /* op.cl.linked (its channel's lock) */

byte done;

#define W(o) ((o) / 2)
#define IDX(o) ((o) % 2)

inline lock(c) { atomic { lk[c] == 0 -> lk[c] = 1 } }

/* The channel invariants, checked as its lock is released: an op still
 * WAITING in the send queue means a full buffer (and an open channel),
 * one in the receive queue an empty buffer (and, if closed, nothing
 * left to drain: then it would have been completed). */
inline unlock(c) {
    d_step {
        i = 0;
        do
        :: i < q[c * 2 + SENDQ].n ->
            assert(wstate[W(q[c * 2 + SENDQ].e[i])] != WAITING ||
                   (count[c] == cap[c] && !closed[c]));
            i++
        :: else -> break
        od;
        i = 0;
        do
        :: i < q[c * 2 + RECVQ].n ->
            assert(wstate[W(q[c * 2 + RECVQ].e[i])] != WAITING ||
                   (count[c] == 0 && !closed[c]));
            i++
        :: else -> break
        od;
        i = 0;
        lk[c] = 0
    }
}

/* unlink op o from queue qi (anywhere in it) */
inline q_unlink(qi, o) {
    d_step {
        i = 0;
        do
        :: i < q[qi].n && q[qi].e[i] != o -> i++
        :: else -> break
        od;
        assert(i < q[qi].n);
        do
        :: i + 1 < q[qi].n -> q[qi].e[i] = q[qi].e[i + 1]; i++
        :: else -> break
        od;
        q[qi].n--;
        q[qi].e[q[qi].n] = 0;
        linked[o] = 0;
        i = 0
    }
}

inline q_link(qi, o) {
    d_step {
        assert(q[qi].n < QLEN);
        q[qi].e[q[qi].n] = o;
        q[qi].n++;
        linked[o] = 1
    }
}

/* q_claim: pop the oldest op this caller can claim, claiming it */
inline q_claim(qi, res) {
    res = NONE;
    do
    :: q[qi].n == 0 -> break
    :: else ->
        atomic { /* lock-protected: pop the head */
            cl = q[qi].e[0];
            assert(wlive[W(cl)]);
            q_unlink(qi, cl)
        }
        if
        :: !wmulti[W(cl)] -> res = cl; cl = 0; break
        :: else ->
            atomic { /* the claim CAS */
                if
                :: wstate[W(cl)] == WAITING -> wstate[W(cl)] = CLAIMED; res = cl
                :: else -> seen = seen | (1 << W(cl))
                fi;
                cl = 0
            }
            if
            :: res != NONE -> break
            :: else
            fi
        fi
    od
}

/* q_ready: whether the queue holds a claimable op (relaxed peek) */
inline q_ready(qi, rdy) {
    rdy = 0;
    do
    :: atomic { /* one relaxed load; the unlink is under the lock */
        if
        :: q[qi].n == 0 -> break
        :: else ->
            cl = q[qi].e[0];
            assert(wlive[W(cl)]);
            if
            :: wstate[W(cl)] == WAITING -> rdy = 1; cl = 0; break
#ifndef SC_PEEK
            :: wstate[W(cl)] != WAITING && !(seen & (1 << W(cl))) ->
                rdy = 1; cl = 0; break /* a stale relaxed read: still WAITING */
#endif
            :: else -> seen = seen | (1 << W(cl)); q_unlink(qi, cl); cl = 0
            fi
        fi
       }
    od
}

/* complete the claimed op o with result r: publish, note the wake-up */
inline complete(o, r) {
    d_step { /* the result is read by the waiter only after the state */
        assert(wlive[W(o)]);
        wresult[W(o)] = r;
        wstate[W(o)] = IDX(o) /* seq_cst (or release after a claim) */
    }
}

/* send now: my op `me` on channel c */
inline send_locked(c, me, rc) {
    if
    :: closed[c] -> rc = EPIPE
    :: else ->
        q_claim(c * 2 + RECVQ, o2);
        if
        :: o2 != NONE ->
            atomic { /* copy into the receiver's memory, then publish */
                assert(elem[o2] == 0);
                elem[o2] = elem[me];
                complete(o2, OK);
                rc = OK;
                o2 = 0
            }
        :: o2 == NONE && count[c] < cap[c] -> /* into the buffer (one slot) */
            d_step { buf[c] = elem[me]; count[c]++; rc = OK }
        :: else -> rc = EAGAIN
        fi
    fi
}

inline recv_locked(c, me, rc) {
    if
    :: count[c] > 0 ->
        d_step {
            assert(elem[me] == 0);
            elem[me] = buf[c];
            buf[c] = 0;
            count[c]--
        };
        /* the buffer was full if a sender waits: its element moves in */
#ifndef MUT_NO_MOVE_IN
        q_claim(c * 2 + SENDQ, o2);
#else
        o2 = NONE; /* mutant: the waiting sender is left queued */
#endif
        if
        :: o2 != NONE ->
            atomic {
                buf[c] = elem[o2];
                count[c]++;
                complete(o2, OK);
                o2 = 0
            }
        :: else
        fi;
        rc = OK
    :: else ->
        q_claim(c * 2 + SENDQ, o2);
        if
        :: o2 != NONE ->
            atomic {
                assert(elem[me] == 0);
                elem[me] = elem[o2];
                complete(o2, OK);
                rc = OK;
                o2 = 0
            }
        :: else ->
            if
            :: closed[c] -> rc = EPIPE
            :: else -> rc = EAGAIN
            fi
        fi
    fi
}

/* with every lock of wait w's cases held */
inline select_ready(w, rc) {
    do
    :: nready = 0; pick = NONE;
        k = 0;
        do
        :: k < 2 ->
            o = w * 2 + k;
            if
            :: cs_op[o] == SEND ->
                if
                :: closed[cs_chan[o]] || count[cs_chan[o]] < cap[cs_chan[o]] -> rdy = 1
                :: else -> q_ready(cs_chan[o] * 2 + RECVQ, rdy)
                fi
            :: cs_op[o] == RECV ->
                if
                :: closed[cs_chan[o]] || count[cs_chan[o]] > 0 -> rdy = 1
                :: else -> q_ready(cs_chan[o] * 2 + SENDQ, rdy)
                fi
            :: else -> rdy = 0
            fi;
            if
            :: rdy -> nready++;
                if
                :: nready == 1 -> pick = k
                :: nready > 1 -> pick = k /* reservoir: either */
                :: nready > 1 -> skip
                fi
            :: else
            fi;
            k++
        :: else -> break
        od;
        if
        :: nready == 0 -> rc = EAGAIN; break
        :: else
        fi;
        o = w * 2 + pick;
        if
        :: cs_op[o] == SEND -> send_locked(cs_chan[o], o, r2)
        :: else -> recv_locked(cs_chan[o], o, r2)
        fi;
#ifdef OLD_SELECT
        cs_res[o] = r2; /* old: whatever act returned, WF_EAGAIN included */
        rc = pick;
        break
#else
        if
        :: r2 != EAGAIN -> cs_res[o] = r2; rc = pick; break
        :: else /* claimed elsewhere or gave up since the peek: look again */
        fi
#endif
    od;
    atomic { nready = 0; pick = 0; k = 0; o = 0; rdy = 0; r2 = 0 }
}

/* lock / unlock the distinct channels of w's cases in address order */
/* atomic: acquiring a lock is a right mover (Lipton), releasing one a
 * left mover, so taking (releasing) them back to back loses no
 * behaviour; atomicity is given up where a lock is busy. */
inline lock_all(w) {
  atomic {
    k = 0;
    do
    :: k < NCH ->
        if
        :: (cs_op[w * 2] != 0 && cs_chan[w * 2] == k) ||
           (cs_op[w * 2 + 1] != 0 && cs_chan[w * 2 + 1] == k) -> lock(k)
        :: else
        fi;
        k++
    :: else -> k = 0; break
    od
  }
}

inline unlock_all(w) {
  atomic {
    k = NCH;
    do
    :: k > 0 ->
        k--;
        if
        :: (cs_op[w * 2] != 0 && cs_chan[w * 2] == k) ||
           (cs_op[w * 2 + 1] != 0 && cs_chan[w * 2 + 1] == k) -> unlock(k)
        :: else
        fi
    :: else -> break
    od
  }
}

/* wait_done: park until finished; `single` is the op of a single
 * operation or NONE for a select; dl: whether it has a deadline */
inline wait_done(w, single, dl, rc) {
    do
    :: s = wstate[w];
        if
        :: s < WAITING -> rc = s; s = 0; break
        :: s == CLAIMED ->
            /* wait_claimed: spin, then park with expect CLAIMED, no deadline */
            wstate[w] != CLAIMED;
            rc = wstate[w];
            s = 0;
            assert(rc < WAITING);
            break
        :: s == WAITING ->
            if
            :: wstate[w] != WAITING -> skip /* woken (park returned 0) */
            :: dl ->                        /* park returned ETIMEDOUT */
                if
                :: single != NONE ->
                    lock(cs_chan[single]);
                    if
                    :: linked[single] ->
                        s = 0;
                        q_unlink(cs_chan[single] * 2 +
                                 (cs_op[single] == SEND -> SENDQ : RECVQ), single);
                        unlock(cs_chan[single]);
                        rc = ETIMEDOUT;
                        break
                    :: else -> unlock(cs_chan[single])
                    fi
                :: else ->
                    atomic {
                        if
#ifndef MUT_GIVE_UP_STORE
                        :: wstate[w] == WAITING -> wstate[w] = GAVE_UP; rc = ETIMEDOUT
                        :: else -> rc = NONE
#else
                        :: true -> wstate[w] = GAVE_UP; rc = ETIMEDOUT /* mutant */
#endif
                        fi
                    }
                    if
                    :: rc == ETIMEDOUT -> s = 0; break
                    :: else
                    fi
                fi
            fi
        :: else -> assert(false)
        fi
    od
}

inline op_cancel(o) {
    lock(cs_chan[o]);
    if
    :: linked[o] -> q_unlink(cs_chan[o] * 2 + (cs_op[o] == SEND -> SENDQ : RECVQ), o)
    :: else
    fi;
    unlock(cs_chan[o])
}

/* wf_select for wait w (its cases are set up); dl: has a deadline */
inline sel(w, dl, rc) {
    wlive[w] = 1;
    wmulti[w] = 1;
    inited = 0;
    do
    :: lock_all(w);
        select_ready(w, rc);
        if
        :: rc != EAGAIN || inited -> break
        :: else
        fi;
        unlock_all(w);
        if
        :: dl -> rc = ETIMEDOUT; goto sel_out /* deadline passed */
        :: true
        fi;
        wstate[w] = WAITING; /* wait_init */
        wresult[w] = OK;
        inited = 1
    od;
    if
    :: rc != EAGAIN -> unlock_all(w); goto sel_out
    :: else
    fi;
    k = 0;
    do
    :: k < 2 ->
        o = w * 2 + k;
        if
        :: cs_op[o] == SEND -> q_link(cs_chan[o] * 2 + SENDQ, o)
        :: cs_op[o] == RECV -> q_link(cs_chan[o] * 2 + RECVQ, o)
        :: else
        fi;
        k++
    :: else -> k = 0; o = 0; break
    od;
    unlock_all(w);
    wait_done(w, NONE, dl, rc);
    if
    :: rc < WAITING -> cs_res[w * 2 + rc] = wresult[w]
    :: else
    fi;
    k = 0;
    do
    :: k < 2 ->
        o = w * 2 + k;
        if
        :: cs_op[o] != 0 && (rc >= WAITING || rc != k) -> op_cancel(o)
        :: else
        fi;
        k++
    :: else -> k = 0; o = 0; break
    od;
sel_out:
    /* the caller's check: a select reports only a case it completed */
    if
    :: rc < WAITING -> assert(cs_res[w * 2 + rc] != EAGAIN)
    :: else
    fi;
    assert(!linked[w * 2] && !linked[w * 2 + 1]);
    wlive[w] = 0
}

/* a single send or receive: op w * 2 */
inline chan_op(w, dl, rc) {
    o = w * 2;
    wlive[w] = 1;
    wmulti[w] = 0;
    wstate[w] = WAITING;
    wresult[w] = OK;
    lock(cs_chan[o]);
    if
    :: cs_op[o] == SEND -> send_locked(cs_chan[o], o, rc)
    :: else -> recv_locked(cs_chan[o], o, rc)
    fi;
    if
    :: rc != EAGAIN -> unlock(cs_chan[o])
    :: else ->
        q_link(cs_chan[o] * 2 + (cs_op[o] == SEND -> SENDQ : RECVQ), o);
        unlock(cs_chan[o]);
        wait_done(w, o, dl, rc);
        if
        :: rc < WAITING -> rc = wresult[w]
        :: else
        fi
    fi;
    assert(!linked[o]);
    wlive[w] = 0
}

inline chan_close(c) {
    lock(c);
    assert(!closed[c]);
    closed[c] = 1;
    /* claim every queued op into a private list (receivers first) */
    nl = 0;
    do
    :: q_claim(c * 2 + RECVQ, o2);
        if
        :: o2 == NONE -> q_claim(c * 2 + SENDQ, o2)
        :: else
        fi;
        if
        :: o2 == NONE -> break
        :: else ->
            if
            :: !wmulti[W(o2)] -> assert(wlive[W(o2)]); wstate[W(o2)] = CLAIMED
            :: else
            fi;
            list[nl] = o2;
            nl++
        fi
    od;
    unlock(c);
    do
    :: nl > 0 -> nl--; complete(list[nl], EPIPE)
    :: else -> break
    od
}

proctype A() {
    byte i, k, o, o2, cl, s, rc, r2, pick, nready;
    bool rdy, inited;
    byte seen;
    sel(0, 0, rc);
    if
    :: rc < WAITING && cs_res[rc] == OK ->
#ifndef CAPX
        assert(elem[rc] == (rc == 0 -> 1 : 2) && elem[1 - rc] == 0)
#else
        assert((elem[rc] == 1 || elem[rc] == 2) && elem[1 - rc] == 0)
#endif
    :: else -> assert(elem[0] == 0 && elem[1] == 0)
    fi;
    if
    :: rc < WAITING && cs_res[rc] == OK -> rcvd[rc]++
    :: else
    fi;
    done++
}

proctype B() {
    byte i, k, o, o2, cl, s, rc, r2, pick, nready;
    bool rdy, inited;
    byte seen;
    sel(1, 1, rc);
    if
    :: rc == 1 && cs_res[3] == OK -> assert(elem[3] == 2)
    :: else -> assert(elem[3] == 0)
    fi;
    if
    :: rc == 0 && cs_res[2] == OK -> sent[0]++
    :: rc == 1 && cs_res[3] == OK -> rcvd[1]++
    :: else
    fi;
    done++
}

proctype C() {
    byte i, k, o, o2, cl, s, rc, r2, pick, nready;
    bool rdy, inited, dl;
    byte seen;
    if
    :: dl = 1
    :: dl = 0
    fi;
    chan_op(2, dl, rc);
    if
    :: rc == OK -> sent[cs_chan[4]]++
    :: else
    fi;
    done++
}

proctype D() {
    byte i, o2, cl, nl;
    byte list[4];
    byte seen;
    chan_close(0);
    chan_close(1);
    done++
}

init {
    atomic {
        /* A: select { recv X, recv Y } */
        cs_chan[0] = 0; cs_op[0] = RECV; cs_res[0] = UNSET;
        cs_chan[1] = 1; cs_op[1] = RECV; cs_res[1] = UNSET;
        /* B: select { send X = 1 [, recv Y] } */
        cs_chan[2] = 0; cs_op[2] = SEND; cs_res[2] = UNSET; elem[2] = 1;
#ifdef B_RECV_Y
        cs_chan[3] = 1; cs_op[3] = RECV; cs_res[3] = UNSET;
#endif
        /* C: send Y = 2 */
        cs_chan[4] = 1; cs_op[4] = SEND; elem[4] = 2;
        wstate[0] = INIT; wstate[1] = INIT; wstate[2] = INIT;
#ifdef CAPX
        cap[0] = 1; /* X buffered, one slot; C sends on X too */
        cs_chan[4] = 0;
#endif
        run A(); run B(); run C(); run D()
    }
    done == 4;
    assert(sent[0] == rcvd[0] + count[0] && sent[1] == rcvd[1] + count[1]);
    assert(q[0].n == 0 && q[1].n == 0 && q[2].n == 0 && q[3].n == 0)
}
