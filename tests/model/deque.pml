/* SPDX-License-Identifier: MIT */
/*
 * tests/model/deque.pml - the work-stealing deques.
 *
 * Default: the bounded Chase-Lev deque of src/core/deque.c (fibers): the
 * owner pushes (wf__deque_push), pops the newest (wf__deque_pop) and takes
 * the oldest (wf__deque_take) in any order; NT thieves steal
 * (wf__deque_steal), any number of times each.
 * -DSPLIT: the split deque of src/core/tq.c and tq.h (fork-join tasks):
 * the owner pushes and pops its private part (wf__tq_push, wf__tq_pop),
 * publishes half of it when a thief asked (splitreq; wf__tq_publish from
 * the slow push or wf__tq_poll), pops the public part when the private
 * one is empty (wf__tq_pop_public); thieves steal (wf__tq_steal) and ask:
 * they raise splitreq, then mark the owner's otop with ASKED, which sends
 * its next push down the slow path (wf__tq_push_slow).
 *
 * The owner pushes NITEMS distinct items into a deque of CAP slots (so
 * the full check and the reuse of slots are exercised). When every thief
 * has stopped, the owner pops until the deque is empty.
 * Checked: no item is taken twice (by anyone), none is lost (at the end
 * every pushed item was taken once), a taken slot holds the item pushed
 * there (no slot is overwritten before its taker read it). Split deque:
 * no request goes unseen - between the owner's operations, a raised
 * splitreq has its ASKED mark in otop (or its thief is about to store it),
 * so the next push publishes.
 *
 * Memory orders: spin explores sequentially consistent interleavings.
 * The code's orders are those of Lê, Pop, Cohen and Zappa Nardelli
 * (PPoPP 2013), proved there for C11: the owner's fence between its
 * store of bottom (split) and its load of top, and the thieves' fence
 * (or seq_cst loads) between top and bottom (split), make the Dekker
 * pairs behave as under SC; the slot stores and loads are relaxed and
 * published by the release store of bottom (split) and the acquire load
 * in steal, modelled as plain accesses in program order. Relaxed loads
 * that are hints are modelled as possibly stale where staleness matters
 * (pop_public's first look at top: a stale, smaller top only sends the
 * owner down the slow path, so that filter may be skipped at any time).
 * Left out: the ABORT retry policy (an aborted steal is just one more
 * step of the thief), notify on publish (idle.pml), spill.
 */

#ifndef NITEMS
#define NITEMS 3
#endif
#ifndef CAP
#define CAP 2
#endif
#ifndef NT
#define NT 2
#endif

#define EMPTY 0
#define ABORT 255

short top, bottom;       /* Chase-Lev; split deque: top, ob */
#ifdef SPLIT
short split;             /* the public split */
short osplit, otop;      /* the owner's copies (otop: thieves mark it) */
bit splitreq;
byte asking;             /* ghost: thieves between splitreq and ASKED */
#define ASKED (-100)     /* WF__TQ_ASKED: fails any full check */
#endif
byte buf[CAP];
byte taken[NITEMS + 1];  /* times each item was taken */
byte ntaken;
byte thieves_done;

inline record(x) {
    d_step {
        assert(x >= 1 && x <= NITEMS);
        taken[x]++;
        assert(taken[x] == 1);
        ntaken++
    }
}

#ifndef SPLIT

/* ---- Chase-Lev (src/core/deque.c) ---- */

inline push(x, ok) {
    b = bottom;
    t = top; /* acquire */
    if
#ifndef MUT_NO_FULL_CHECK
    :: b - t > CAP - 1 -> ok = 0
#endif
    :: else ->
        buf[b % CAP] = x;
        bottom = b + 1; /* release */
        ok = 1
    fi;
    b = 0; t = 0
}

inline pop(x) {
    b = bottom - 1;
#ifndef MUT_POP_ORDER
    bottom = b;
    /* fence */
    t = top;
#else
    t = top; /* mutant: reads top before the new bottom is visible */
    bottom = b;
#endif
    x = EMPTY;
    if
    :: t <= b ->
        x = buf[b % CAP];
        if
        :: t == b ->
            atomic {
                if
                :: top == t -> top = t + 1
                :: else -> x = EMPTY
                fi
            };
            bottom = b + 1
        :: else
        fi
    :: else -> bottom = b + 1
    fi;
    b = 0; t = 0
}

inline take(x) {
    do
    :: t = top; /* acquire */
        b = bottom;
        if
        :: t >= b -> x = EMPTY; break
        :: else
        fi;
        x = buf[t % CAP];
        atomic {
            if
            :: top == t -> top = t + 1; break
            :: else
            fi
        }
    od;
    b = 0; t = 0
}

inline steal(x) {
    t = top; /* acquire */
    /* fence */
    b = bottom; /* acquire */
    if
    :: t >= b -> x = EMPTY
    :: else ->
        x = buf[t % CAP];
        atomic {
            if
            :: top == t -> top = t + 1
            :: else -> x = ABORT
            fi
        }
    fi;
    b = 0; t = 0
}

#else

/* ---- split deque (src/core/tq.c, tq.h) ---- */

inline publish() {
    splitreq = 0;
    n = bottom - osplit;
    if
    :: n > 0 ->
        osplit = osplit + (n + 1) / 2;
        split = osplit /* release */
    :: else
    fi;
    n = 0
}

inline push(x, ok) {
    b = bottom;
    ok = 1;
    if
    :: b - otop >= CAP -> /* full, or a thief asked: wf__tq_push_slow */
#ifdef MUT_ASK_FIRST
        if /* mutant: looks at the request before taking the mark */
        :: splitreq -> publish()
        :: else
        fi;
#endif
        t = top;  /* acquire */
        otop = t; /* the acquire exchange */
        if
        :: b - t >= CAP -> ok = 0
        :: else
        fi;
        if
        :: ok ->
            buf[b % CAP] = x;
            bottom = b + 1
        :: else
        fi;
#ifndef MUT_ASK_FIRST
        if
        :: splitreq -> publish() /* ordered by the exchange */
        :: else
        fi;
#endif
        t = 0
    :: else ->
        buf[b % CAP] = x;
        bottom = b + 1
    fi;
    b = 0
}

inline pop_public(x) {
    s = osplit;
    x = EMPTY;
    if
    :: top >= s -> skip /* NULL (a stale top can only be smaller) */
    :: true ->
        if
        :: top >= s -> skip /* this look was stale; the Dekker decides */
        :: else
        fi;
        s--;
#ifndef MUT_POP_ORDER
        split = s; /* seq_cst */
        t = top;   /* seq_cst */
#else
        t = top; /* mutant: reads top before the new split is visible */
        split = s;
#endif
        if
        :: t <= s ->
            x = buf[s % CAP];
            if
            :: t == s ->
                atomic {
                    if
                    :: top == t -> top = t + 1
                    :: else -> x = EMPTY
                    fi
                };
                s++;
                split = s
            :: else
            fi
        :: else ->
            s++;
            split = s
        fi;
        osplit = s;
        bottom = s
    fi;
    s = 0; t = 0
}

inline pop(x) {
    if
    :: bottom > osplit ->
        bottom--;
        x = buf[bottom % CAP]
    :: else -> pop_public(x)
    fi
}

inline take(x) {
    /* the split deque has no owner FIFO take: poll instead */
    x = EMPTY;
    if
    :: splitreq -> publish()
    :: else
    fi
}

inline steal(x) {
#ifndef MUT_STEAL_ORDER
    t = top;   /* seq_cst */
    s = split; /* seq_cst */
#else
    s = split; /* mutant: split before top */
    t = top;
#endif
    if
    :: t >= s ->
        if
        :: !splitreq ->
            d_step { splitreq = 1; asking++ };
            d_step { otop = ASKED; asking-- } /* release */
        :: else
        fi;
        x = EMPTY
    :: else ->
        x = buf[t % CAP];
        atomic {
            if
            :: top == t -> top = t + 1
            :: else -> x = ABORT
            fi
        }
    fi;
    s = 0; t = 0
}

#endif

proctype Owner() {
    short b, t, s, n;
    byte x, next = 1;
    bool ok;
    do
#ifdef SPLIT
    :: assert(!splitreq || otop == ASKED || asking > 0); skip
#endif
    :: next <= NITEMS ->
        push(next, ok);
        if
        :: ok -> next++
        :: else
        fi;
        ok = 0
    :: pop(x);
        if
        :: x != EMPTY -> record(x)
        :: else
        fi;
        x = 0
    :: take(x);
        if
        :: x != EMPTY -> record(x)
        :: else
        fi;
        x = 0
    :: next > NITEMS && thieves_done == NT -> break
    od;
    /* alone now: drain */
    do
    :: pop(x);
        if
        :: x != EMPTY -> record(x); x = 0
        :: else -> break
        fi
    od;
    assert(ntaken == NITEMS);
    assert(top == bottom)
}

proctype Thief() {
    short b, t, s;
    byte x;
    do
    :: steal(x);
        if
        :: x != EMPTY && x != ABORT -> record(x)
        :: else
        fi;
        x = 0
    :: break
    od;
    thieves_done++
}

init {
    byte i;
    atomic {
        run Owner();
        i = 0;
        do
        :: i < NT -> run Thief(); i++
        :: else -> break
        od
    }
}
