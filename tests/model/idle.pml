/* SPDX-License-Identifier: MIT */
/*
 * tests/model/idle.pml - idle workers (src/core/sched.c: find_work,
 * park_worker, work_visible, notify_idle, wake_one, wake_parked): the
 * spinning-thread protocol with rt->nsearching, rt->nparked, each
 * worker's `parked` and futex `wake_word`, under rt->idle_lock.
 *
 * NW workers run find_work forever. A plain thread P submits NP fibers
 * to the inject queue (inject_push_list, then notify_idle); a fiber a
 * worker runs may make up to NSPAWN more fibers runnable on its own
 * worker's queue (ready(): push, then notify_idle). Workers take from
 * their own queue and the inject queue (pick_local), and steal from the
 * others' queues while searching, for a bounded but arbitrary number of
 * rounds (the ~30 us spin); then they park: under idle_lock clear
 * wake_word, set parked, count nparked; then stop counting as searching
 * (seq_cst RMW), fence, re-check every queue (work_visible) and sleep on
 * the futex until wake_word is set; on waking, un-mark themselves under
 * the lock unless a waker did (then they count as searching).
 *
 * Checked: no lost wake-up - whenever the whole system is blocked
 * (spin's `timeout`: every worker asleep on its futex, the producers
 * done), every fiber made runnable has been run; nsearching and
 * nparked never go negative and match the workers' states when the
 * system is quiet; a worker asleep is counted in nparked.
 *
 * Memory orders: the code's Dekker pairs are a seq_cst RMW or store,
 * then a seq_cst fence, then loads (relaxed, ordered by the fence:
 * notify_idle's wf__dekker_load_int, park_worker's fence before
 * work_visible). With a fence between each side's write and read, these
 * store-buffering pairs behave as under sequential consistency, which
 * is what spin explores. notify_idle's relaxed load of nparked is made
 * after its fence and load of nsearching; park_worker increments nparked
 * before it decrements nsearching, so a producer that saw nsearching
 * drop also sees nparked: modelled as plain reads in that order.
 * With -DINBOX, P's fibers are pinned, one worker after the other:
 * inbox_push counts the fiber in that worker's inbox and then looks at
 * its `parked` (its own Dekker with park_worker's exchange of parked and
 * work_visible's read of the inbox), and only that worker may take it.
 * With -DPOLLER, the worker poller (src/async/reactor.c): a worker about
 * to sleep first tries to take the poller token; if it gets it, it sets
 * poll_sleep, reads wake_word (wf__sched_poll_arm) and, if still 0,
 * blocks in the backend's wait until a wakeup() is pending (evfd, which
 * only the token's holder consumes), then clears poll_sleep, un-marks
 * itself under the lock (wf__sched_poll_woke) and gives the token back,
 * reading `missed` after; if it did not get the token and its holder is
 * not blocking (sleeper), it sets missed and tries once more, else it
 * sleeps on its futex. Wakers (wake_parked) store wake_word under the
 * lock and then read poll_sleep: set, they call wakeup() instead of the
 * futex wake; wake_one passes over poll sleepers while a futex sleeper
 * is parked. A holder that reads missed wakes one parked worker
 * (wf__sched_poll_missed). I/O events are not modelled (the reactor
 * thread's fallback delivers what no worker polls for): what is checked
 * is that the poll is as good a sleep as the futex for the idle protocol.
 * Mutants: MUT_POLL_FUTEX (wakers never interrupt the poll),
 * MUT_POLL_NO_ARM_CHECK (the poller blocks without reading wake_word).
 * Left out: the queues' internals (counters here: deque.pml), timers
 * (a worker whose heap has a deadline sleeps with a timeout; the heap's
 * own wake-up, wf__worker_timers_changed, has the inbox's shape), tasks
 * (the same notify_idle/work_visible path), the monitor's stolen inbox,
 * stopping, the monitor.
 */

#ifndef NW
#define NW 2
#endif
#ifndef NP
#define NP 2
#endif
#ifndef NSPAWN
#define NSPAWN 1
#endif

byte lq[NW];          /* runnable fibers in each worker's own queues */
byte inject_n;        /* the inject queue */
byte inbox[NW];       /* pinned fibers, for that worker only */
byte nsearching;
byte nparked;
bool parked[NW];
bool wake_word[NW];
bit idle_lock;

#ifdef POLLER
bit token;            /* the poller token is held */
bit sleeper;          /* its holder blocks in the wait */
bit evfd;             /* a wakeup() of the backend is pending */
bit missed;
bool poll_sleep[NW];
#endif

byte made;            /* fibers made runnable */
byte ran;             /* fibers run */
byte spawns;          /* spawns left */

inline lock() { atomic { idle_lock == 0 -> idle_lock = 1 } }
inline unlock() { idle_lock = 0 }

inline work_visible(v) {
    v = (inject_n > 0 || inbox[me] > 0);
    t = 0;
    do
    :: t < NW -> v = v || lq[t] > 0; t++
    :: else -> t = 0; break
    od
}

/* wake_parked(t): wake worker t if it is parked, counting it searching */
inline wake_parked(t, woke) {
    lock();
    d_step {
        if
        :: parked[t] ->
            parked[t] = 0;
            assert(nparked > 0);
            nparked--;
            nsearching++;
            wake_word[t] = 1;
            woke = 1
        :: else -> woke = 0
        fi
    }
    unlock();
    /* then the futex wake: wake_word is what the sleeper waits on; a
     * poll sleeper is interrupted through the backend instead */
#if defined(POLLER) && !defined(MUT_POLL_FUTEX)
    if
    :: woke && poll_sleep[t] -> evfd = 1
    :: else
    fi
#else
    skip
#endif
}

inline wake_one() {
    u = 0;
#ifdef POLLER
    /* first pass: futex sleepers only */
    do
    :: u < NW ->
        if
        :: parked[u] && !poll_sleep[u] -> wake_parked(u, woke);
            if
            :: woke -> break
            :: else
            fi
        :: else
        fi;
        u++
    :: else -> break
    od;
    if
    :: woke -> skip
    :: else -> u = 0
    fi;
#endif
    do
    :: !woke && u < NW ->
        if
        :: parked[u] -> wake_parked(u, woke);
            if
            :: woke -> break
            :: else
            fi
        :: else
        fi;
        u++
    :: else -> break
    od;
    woke = 0;
    u = 0
}

/* notify_idle: fence, load nsearching, then (relaxed) nparked */
inline notify_idle() {
    if
    :: nsearching == 0 ->
        if
        :: nparked > 0 -> wake_one()
        :: else
        fi
    :: else
    fi
}

/* take one runnable fiber: own queue, then inject; while searching also
 * the other workers' queues (steal) */
inline take(me, stealing, got) {
    atomic {
        got = 1;
        if
        :: inbox[me] > 0 -> inbox[me]--
        :: lq[me] > 0 -> lq[me]--
        :: inject_n > 0 -> inject_n--
        :: stealing && NW > 1 && lq[(me + 1) % NW] > 0 -> lq[(me + 1) % NW]--
        :: stealing && NW > 2 && lq[(me + 2) % NW] > 0 -> lq[(me + 2) % NW]--
        :: else -> got = 0
        fi
    }
}

proctype Worker(byte me) {
    bool searching, got, v, woke, vis, tok, unparked;
    byte t, u;
end:
    do
    :: take(me, 0, got);
        if
        :: !got ->
            if
            :: !searching -> nsearching++; searching = 1
            :: else
            fi;
            /* steal rounds: bounded, of arbitrary length */
            do
            :: take(me, 1, got);
                if
                :: got -> break
                :: else
                fi
            :: break /* spun long enough */
            od
        :: else
        fi;
        if
        :: got ->
            if
            :: searching ->
                searching = 0;
                /* the last searcher to find work hands the search on */
                atomic { assert(nsearching > 0); nsearching--; v = (nsearching == 0) };
                if
                :: v -> work_visible(vis);
                    if
                    :: vis -> notify_idle()
                    :: else
                    fi
                :: else
                fi;
                v = 0; vis = 0
            :: else
            fi;
            /* run the fiber; it may make another runnable here */
            ran++;
            got = 0;
            if
            :: atomic { spawns > 0 -> spawns--; made++; lq[me]++ };
                if
                :: NW > 1 -> notify_idle()
                :: else
                fi
            :: skip
            fi
        :: else ->
            /* park_worker */
            lock();
            d_step {
                wake_word[me] = 0;
                parked[me] = 1;
                nparked++
            }
            unlock();
            atomic { assert(nsearching > 0); nsearching-- };
            /* fence */
#ifndef MUT_NO_RECHECK
            work_visible(vis);
#else
            vis = 0; /* mutant: sleeps without looking again */
#endif
            if
            :: !vis ->
#ifdef POLLER
                /* io_poll(w, deadline): take the token */
                atomic { tok = (token == 0); token = 1 };
                if
                :: !tok && !sleeper ->
                    missed = 1;
                    atomic { tok = (token == 0); token = 1 }
                :: else
                fi;
                if
                :: tok ->
                    poll_sleep[me] = 1; /* wf__sched_poll_arm */
#ifndef MUT_POLL_NO_ARM_CHECK
                    if
                    :: wake_word[me] == 0 ->
#endif
                        sleeper = 1;
                        /* the backend's wait until a wakeup() */
end_poll:               atomic { evfd != 0 -> evfd = 0 };
                        sleeper = 0
#ifndef MUT_POLL_NO_ARM_CHECK
                    :: else
                    fi;
#endif
                    poll_sleep[me] = 0; /* wf__sched_poll_woke */
                    lock();
                    d_step {
                        if
                        :: parked[me] ->
                            parked[me] = 0;
                            nparked--;
                            unparked = 1
                        :: else
                        fi
                    }
                    unlock();
                    /* token_give: release, then read missed */
                    token = 0;
                    if
                    :: missed -> missed = 0;
                        if
                        :: nparked > 0 -> wake_one()
                        :: else
                        fi
                    :: else
                    fi
                :: else ->
end_psleep:         wake_word[me] != 0
                fi
#else
                /* futex wait until wake_word is set; no timers here */
end_sleep:      wake_word[me] != 0
#endif
            :: else
            fi;
            vis = 0;
            tok = 0;
            lock();
            d_step {
                if
                :: parked[me] ->
                    parked[me] = 0;
                    nparked--;
                    searching = 0
                :: else -> searching = !unparked /* a waker counted us */
                fi;
                unparked = 0
            }
            unlock()
        fi
    od
}

proctype P() {
    bool woke;
    byte u, n;
    do
    :: n < NP ->
#ifdef INBOX
        /* inbox_push to worker n % NW (a pinned fiber): count it, then
         * the Dekker load of that worker's `parked` */
        atomic { inbox[n % NW]++; made++; n++ };
        u = (n - 1) % NW;
#ifndef MUT_INBOX_NO_LOOK
        if
        :: parked[u] -> wake_parked(u, woke)
        :: else
        fi;
#endif
        u = 0; woke = 0
#elif !defined(MUT_NOTIFY_FIRST)
        atomic { inject_n++; made++; n++ }; /* inject_push_list */
        notify_idle()
#else
        notify_idle(); /* mutant: looks for sleepers before pushing */
        atomic { inject_n++; made++; n++ }
#endif
    :: else -> break
    od
}

init {
    byte i;
    atomic {
        spawns = NSPAWN;
        i = 0;
        do
        :: i < NW -> run Worker(i); i++
        :: else -> break
        od;
        run P()
    }
    timeout -> /* the whole system is blocked */
    assert(ran == made && made == NP + NSPAWN - spawns);
    assert(nsearching == 0 && nparked == NW)
}
