/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_chan.c - channels and select (weft/chan.h) driven by
 * scripts of several fibers, checked against a reference of what may
 * happen.
 *
 * Input: a header byte (1 or 2 workers, 2 to 4 fibers, 1 to 3 channels),
 * one capacity byte per channel (0 to 3: unbuffered or buffered), then each
 * fiber's script: a length and that many operations, each an opcode byte
 * (the operation and its channel) and argument bytes: send, try_send,
 * recv, try_recv (deadline: none, already passed, or up to 350 us ahead),
 * close, select and select_try over up to 4 cases (send or receive on a
 * channel, or a NULL channel), yield, sleep, cancel another fiber.
 *
 * Every value sent is unique: it names its sender, its channel and its
 * place in that sender's sequence on that channel. The fibers record what
 * each call returned; when they have all returned (a main fiber closes
 * every channel when the only fibers left are blocked with no deadline, so
 * that every input ends) the channels are drained and checked:
 *   - every send reported as done (0) was received exactly once or is
 *     still buffered; nothing else was received or is buffered (a send
 *     that failed, timed out, was cancelled, or a select case that was not
 *     chosen, delivered nothing); a received value names the channel it
 *     came from;
 *   - each receiver gets each sender's values on a channel in the order
 *     they were sent, and the values left buffered come after them;
 *   - results are ones the call may return: WF_EPIPE only once a close of
 *     the channel has begun, WF_ETIMEDOUT only with a deadline,
 *     WF_ECANCELED only in a cancelled fiber, WF_EAGAIN only from the try
 *     variants; exactly one close of a channel returns 0;
 *   - after a close has returned, sends fail with WF_EPIPE; after a
 *     receive reported the channel closed and drained, receives report it
 *     again and nothing is left buffered at the end;
 *   - select returns the index of a case on a channel (never a NULL
 *     case), with a result of 0 or WF_EPIPE, and only that case happened;
 *   - wf_chan_len never exceeds the capacity;
 *   - with one worker, where nothing runs between a fiber's look at the
 *     channel and its call: a send on an open channel with room, or a
 *     receive on a channel holding elements, completes at once, whatever
 *     its deadline (past or not) or its fiber's cancellation; on a closed
 *     one a send fails with WF_EPIPE.
 */
#include "fuzz.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "weft.h"

#define NF     4  /* fibers at most */
#define NC     3  /* channels at most */
#define NOPS   12 /* operations per fiber at most */
#define NSEQ   64 /* values per sender and channel at most (NOPS * 4 < 64) */
#define NCASES 4

enum { V_NONE, V_TRYING, V_SENT, V_FAILED };

struct val {
    atomic_int state; /* V_*, written by the sender */
    atomic_int got;   /* receives of it */
    atomic_int who;   /* the receiver that got it (NF: the final drain) */
};

enum opk {
    O_SEND,
    O_TRY_SEND,
    O_RECV,
    O_TRY_RECV,
    O_CLOSE,
    O_SELECT,
    O_YIELD,
    O_SLEEP,
    O_CANCEL,
    O_NKINDS
};

struct op {
    enum opk k;
    int ch;
    int dl;          /* deadline kind: 0 none, 1 passed, 2 ahead by `ahead` */
    int ahead;       /* us */
    int try_;        /* select_try */
    int n;           /* select: cases */
    int cch[NCASES]; /* case channel, -1 NULL */
    int csend[NCASES];
    int target; /* O_CANCEL: fiber */
};

static struct st {
    int workers, nf, nc;
    int cap[NC];
    int nops[NF];
    struct op ops[NF][NOPS];
    struct wf_chan *ch[NC];
    struct val vals[NF][NC][NSEQ];
    int seq[NF][NC];          /* next sequence number, the sender's own */
    int last[NF + 1][NF][NC]; /* highest seq received, the receiver's own */
    atomic_int close_started[NC];
    atomic_int close_done[NC]; /* a close returned 0 */
    atomic_int close_ok[NC];   /* closes that returned 0 */
    atomic_int drained[NC];    /* a receive reported WF_EPIPE */
    atomic_int cancel_req[NF];
    atomic_int blocked[NF]; /* in a call with no deadline */
    atomic_int done[NF];
    atomic_int started; /* handles in fib[] that may be used */
    struct wf_fiber fib[NF];
    int ids[NF];
} S;

static uint64_t encode(int f, int c, int seq)
{
    return 1 + ((uint64_t)f << 20 | (uint64_t)c << 16 | (uint64_t)seq);
}

static int64_t deadline_of(const struct op *o)
{
    if (o->dl == 0)
        return WF_FOREVER;
    if (o->dl == 1)
        return wf_now() - 1;
    return wf_deadline_in((int64_t)o->ahead * WF_USEC);
}

/* A new value from fiber f for channel c, marked as being sent. */
static uint64_t new_value(int f, int c)
{
    int s = S.seq[f][c]++;
    FZ_CHECK(s < NSEQ, "sequence overflow");
    atomic_store(&S.vals[f][c][s].state, V_TRYING);
    return encode(f, c, s);
}

static void sent(uint64_t v, bool ok)
{
    uint64_t x = v - 1;
    atomic_store(&S.vals[x >> 20][(x >> 16) & 15][x & 0xffff].state,
                 ok ? V_SENT : V_FAILED);
}

/* Receiver r (NF: the final drain) got v from channel c. */
static void received(int r, int c, uint64_t v)
{
    FZ_CHECK(v >= 1, "received 0 on channel %d", c);
    uint64_t x = v - 1;
    int f = (int)(x >> 20), vc = (int)((x >> 16) & 15), s = (int)(x & 0xffff);
    FZ_CHECK(f < S.nf && vc < S.nc && s < NSEQ && (x >> 20) < (uint64_t)S.nf,
             "received a value never made: %llx", (unsigned long long)v);
    FZ_CHECK(vc == c, "value of channel %d received from channel %d", vc, c);
    struct val *sv = &S.vals[f][c][s];
    FZ_CHECK(atomic_load(&sv->state) != V_NONE,
             "received value %d.%d.%d before it was sent", f, c, s);
    FZ_CHECK(atomic_fetch_add(&sv->got, 1) == 0,
             "value %d.%d.%d received twice", f, c, s);
    atomic_store(&sv->who, r);
    FZ_CHECK(s > S.last[r][f][c],
             "receiver %d got %d's value %d on channel %d after %d", r, f, s, c,
             S.last[r][f][c]);
    S.last[r][f][c] = s;
}

static void check_len(int c)
{
    size_t len = wf_chan_len(S.ch[c]);
    FZ_CHECK(len <= (size_t)S.cap[c], "channel %d holds %zu > %d", c, len,
             S.cap[c]);
}

/* Results every blocking call may give, for fiber f on channel c. */
static void check_rc(int f, int c, int rc, const struct op *o, bool try_)
{
    if (rc == WF_EPIPE)
        FZ_CHECK(atomic_load(&S.close_started[c]), "EPIPE, channel %d open", c);
    else if (rc == WF_ETIMEDOUT)
        FZ_CHECK(!try_ && o->dl != 0, "timed out without a deadline");
    else if (rc == WF_ECANCELED)
        FZ_CHECK(!try_ && atomic_load(&S.cancel_req[f]),
                 "ECANCELED in a fiber not cancelled");
    else if (rc == WF_EAGAIN)
        FZ_CHECK(try_, "EAGAIN from a blocking call");
    else
        FZ_CHECK(rc == 0, "result %d", rc);
}

static void do_send(int f, const struct op *o, bool try_)
{
    int c = o->ch;
    bool was_closed = atomic_load(&S.close_done[c]);
    size_t len = wf_chan_len(S.ch[c]);
    bool closed = wf_chan_closed(S.ch[c]);
    uint64_t v = new_value(f, c);
    int rc;
    if (try_) {
        rc = wf_chan_try_send(S.ch[c], &v);
    } else {
        int64_t dl = deadline_of(o);
        atomic_store(&S.blocked[f], dl == WF_FOREVER);
        rc = wf_chan_send(S.ch[c], &v, dl);
        atomic_store(&S.blocked[f], 0);
    }
    sent(v, rc == 0);
    check_rc(f, c, rc, o, try_);
    if (was_closed)
        FZ_CHECK(rc == WF_EPIPE, "send on a closed channel: %d", rc);
    if (S.workers == 1) {
        if (closed)
            FZ_CHECK(rc == WF_EPIPE, "send on a closed channel: %d", rc);
        else if (len < (size_t)S.cap[c])
            FZ_CHECK(rc == 0, "send with room (%zu of %d): %d", len, S.cap[c],
                     rc);
    }
    check_len(c);
}

static void do_recv(int f, const struct op *o, bool try_)
{
    int c = o->ch;
    bool was_drained = atomic_load(&S.drained[c]);
    size_t len = wf_chan_len(S.ch[c]);
    bool closed = wf_chan_closed(S.ch[c]);
    uint64_t v = 0;
    int rc;
    if (try_) {
        rc = wf_chan_try_recv(S.ch[c], &v);
    } else {
        int64_t dl = deadline_of(o);
        atomic_store(&S.blocked[f], dl == WF_FOREVER);
        rc = wf_chan_recv(S.ch[c], &v, dl);
        atomic_store(&S.blocked[f], 0);
    }
    check_rc(f, c, rc, o, try_);
    if (rc == 0)
        received(f, c, v);
    else
        FZ_CHECK(v == 0, "a failed receive wrote its element");
    if (rc == WF_EPIPE)
        atomic_store(&S.drained[c], 1);
    if (was_drained)
        FZ_CHECK(rc == WF_EPIPE, "receive after the channel drained: %d", rc);
    if (S.workers == 1) {
        if (len > 0)
            FZ_CHECK(rc == 0, "receive with %zu elements: %d", len, rc);
        else if (closed)
            FZ_CHECK(rc == WF_EPIPE, "receive on closed, empty: %d", rc);
    }
    check_len(c);
}

static void do_close(int c)
{
    atomic_store(&S.close_started[c], 1);
    int rc = wf_chan_close(S.ch[c]);
    FZ_CHECK(rc == 0 || rc == WF_EPIPE, "close: %d", rc);
    if (rc == 0) {
        atomic_fetch_add(&S.close_ok[c], 1);
        atomic_store(&S.close_done[c], 1);
    }
    FZ_CHECK(wf_chan_closed(S.ch[c]), "closed channel %d says open", c);
}

static void do_select(int f, const struct op *o)
{
    struct wf_select_case cs[NCASES];
    uint64_t v[NCASES];
    bool all_null = true, was_closed[NCASES];
    for (int i = 0; i < o->n; i++) {
        int c = o->cch[i];
        memset(&cs[i], 0, sizeof cs[i]);
        cs[i].result = 12345;
        v[i] = 0;
        was_closed[i] = c >= 0 && atomic_load(&S.close_done[c]);
        if (c < 0) {
            cs[i].chan = NULL;
            cs[i].op = o->csend[i] ? WF_CHAN_SEND : WF_CHAN_RECV;
            cs[i].elem = &v[i];
            continue;
        }
        all_null = false;
        cs[i].chan = S.ch[c];
        if (o->csend[i]) {
            cs[i].op = WF_CHAN_SEND;
            v[i] = new_value(f, c);
        } else {
            cs[i].op = WF_CHAN_RECV;
        }
        cs[i].elem = &v[i];
    }
    int rc;
    if (o->try_) {
        rc = wf_select_try(cs, (size_t)o->n);
    } else {
        int64_t dl = deadline_of(o);
        if (all_null && dl == WF_FOREVER)
            dl = wf_now() - 1; /* it would wait for ever */
        atomic_store(&S.blocked[f], dl == WF_FOREVER);
        rc = wf_select(cs, (size_t)o->n, dl);
        atomic_store(&S.blocked[f], 0);
    }
    if (rc < 0) {
        if (rc == WF_EAGAIN)
            FZ_CHECK(o->try_, "EAGAIN from a blocking select");
        else if (rc == WF_ETIMEDOUT)
            FZ_CHECK(!o->try_ && (o->dl != 0 || all_null), "select timed out");
        else
            FZ_CHECK(rc == WF_ECANCELED && !o->try_ &&
                         atomic_load(&S.cancel_req[f]),
                     "select: %d", rc);
    } else {
        FZ_CHECK(rc < o->n, "select returned case %d of %d", rc, o->n);
        FZ_CHECK(o->cch[rc] >= 0, "select chose a NULL case");
        FZ_CHECK(cs[rc].result == 0 || cs[rc].result == WF_EPIPE,
                 "case result %d", cs[rc].result);
    }
    for (int i = 0; i < o->n; i++) {
        int c = o->cch[i];
        if (c < 0)
            continue;
        if (i != rc) {
            FZ_CHECK(cs[i].op == WF_CHAN_SEND || v[i] == 0,
                     "a case not chosen received");
            if (o->csend[i])
                sent(v[i], false);
            continue;
        }
        int r = cs[i].result;
        if (r == WF_EPIPE)
            FZ_CHECK(atomic_load(&S.close_started[c]), "EPIPE, channel open");
        if (o->csend[i]) {
            sent(v[i], r == 0);
            if (was_closed[i])
                FZ_CHECK(r == WF_EPIPE, "select sent on a closed channel");
        } else if (r == 0) {
            received(f, c, v[i]);
        } else {
            atomic_store(&S.drained[c], 1);
        }
        check_len(c);
    }
}

static void *script(void *arg)
{
    int f = *(int *)arg;
    for (int i = 0; i < S.nops[f]; i++) {
        const struct op *o = &S.ops[f][i];
        switch (o->k) {
        case O_SEND:
        case O_TRY_SEND:
            do_send(f, o, o->k == O_TRY_SEND);
            break;
        case O_RECV:
        case O_TRY_RECV:
            do_recv(f, o, o->k == O_TRY_RECV);
            break;
        case O_CLOSE:
            do_close(o->ch);
            break;
        case O_SELECT:
            do_select(f, o);
            break;
        case O_YIELD:
            wf_yield();
            break;
        case O_SLEEP:
            FZ_CHECK(wf_sleep((int64_t)o->ahead * WF_USEC) == 0 ||
                         atomic_load(&S.cancel_req[f]),
                     "sleep");
            break;
        case O_CANCEL:
            if (o->target < atomic_load(&S.started) && o->target != f) {
                atomic_store(&S.cancel_req[o->target], 1);
                wf_cancel(S.fib[o->target]);
            }
            break;
        default:
            break;
        }
    }
    atomic_store(&S.done[f], 1);
    return NULL;
}

static void *driver(void *arg)
{
    (void)arg;
    for (int f = 0; f < S.nf; f++) {
        S.ids[f] = f;
        FZ_CHECK(wf_go(&S.fib[f], script, &S.ids[f]) == 0, "wf_go");
        atomic_store(&S.started, f + 1);
    }
    /* Wait for the scripts; once every one left is blocked with no
     * deadline, close the channels so that they end. */
    for (int spins = 0;; spins++) {
        int left = 0, stuck = 0;
        for (int f = 0; f < S.nf; f++) {
            if (!atomic_load(&S.done[f])) {
                left++;
                stuck += atomic_load(&S.blocked[f]);
            }
        }
        if (!left)
            break;
        if (left == stuck && spins > 2) {
            for (int c = 0; c < S.nc; c++)
                do_close(c);
        }
        if (spins < 50)
            wf_yield();
        else
            wf_sleep(20 * WF_USEC);
    }
    for (int f = 0; f < S.nf; f++)
        FZ_CHECK(wf_join(S.fib[f], NULL, WF_FOREVER) == 0, "join");
    return NULL;
}

static void decode(struct fz_in *in)
{
    unsigned h = fz_byte(in);
    S.workers = 1 + (h & 1);
    S.nf = 2 + (int)((h >> 1) % 3);
    S.nc = 1 + (int)((h >> 3) % 3);
    for (int c = 0; c < S.nc; c++)
        S.cap[c] = (int)(fz_byte(in) % 4);
    for (int f = 0; f < S.nf; f++) {
        S.nops[f] = (int)(fz_byte(in) % (NOPS + 1));
        for (int i = 0; i < S.nops[f]; i++) {
            struct op *o = &S.ops[f][i];
            unsigned b = fz_byte(in);
            memset(o, 0, sizeof *o);
            o->k = (enum opk)(b % O_NKINDS);
            o->ch = (int)((b / O_NKINDS) % (unsigned)S.nc);
            if (o->k == O_SEND || o->k == O_RECV || o->k == O_SELECT ||
                o->k == O_SLEEP) {
                unsigned d = fz_byte(in);
                o->dl = (int)(d % 3);
                o->ahead = (int)((d >> 2) % 8) * 50;
                o->try_ = o->k == O_SELECT && (d >> 5) % 4 == 0;
            }
            if (o->k == O_SELECT) {
                o->n = 1 + (int)(fz_byte(in) % NCASES);
                for (int j = 0; j < o->n; j++) {
                    unsigned cb = fz_byte(in);
                    int c = (int)(cb % (unsigned)(S.nc + 1));
                    o->cch[j] = c == S.nc ? -1 : c;
                    o->csend[j] = (cb >> 4) & 1;
                }
            }
            if (o->k == O_CANCEL)
                o->target = (int)(fz_byte(in) % (unsigned)S.nf);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size, 0};
    memset(&S, 0, sizeof S);
    decode(&in);
    memset(S.last, 0xff, sizeof S.last); /* -1: nothing yet */
    for (int c = 0; c < S.nc; c++)
        FZ_CHECK(wf_chan_create(&S.ch[c], sizeof(uint64_t), (size_t)S.cap[c]) ==
                     0,
                 "create");

    struct wf_config cfg = {0};
    cfg.workers = S.workers;
    cfg.stack_size = 64 << 10;
    cfg.stall_ns = -1;
    FZ_CHECK(wf_run(&cfg, driver, NULL, NULL) == 0, "wf_run");
    FZ_CHECK(wf_shutdown_discarded() == 0, "fibers left behind");

    /* Drain what is buffered: receiver NF, after every other. */
    for (int c = 0; c < S.nc; c++) {
        uint64_t v;
        int rc;
        while ((rc = wf_chan_try_recv(S.ch[c], &v)) == 0)
            received(NF, c, v);
        FZ_CHECK(rc == (wf_chan_closed(S.ch[c]) ? WF_EPIPE : WF_EAGAIN),
                 "drain of channel %d ended with %d", c, rc);
        if (atomic_load(&S.drained[c]))
            for (int f = 0; f < S.nf; f++)
                FZ_CHECK(S.last[NF][f][c] < 0,
                         "channel %d reported drained held a value", c);
        FZ_CHECK(atomic_load(&S.close_ok[c]) ==
                     (atomic_load(&S.close_started[c]) ? 1 : 0),
                 "channel %d: %d closes returned 0", c,
                 atomic_load(&S.close_ok[c]));
        wf_chan_release(S.ch[c]);
    }
    /* Every value: delivered once if and only if its send reported 0, and
     * buffered ones after every received one of the same sender. */
    for (int f = 0; f < S.nf; f++) {
        for (int c = 0; c < S.nc; c++) {
            int maxrecv = -1, mindrained = NSEQ;
            for (int s = 0; s < S.seq[f][c]; s++) {
                struct val *sv = &S.vals[f][c][s];
                int st = atomic_load(&sv->state), got = atomic_load(&sv->got);
                FZ_CHECK(st == V_SENT || st == V_FAILED, "value state %d", st);
                FZ_CHECK(got == (st == V_SENT),
                         "value %d.%d.%d: send %s, received %d times", f, c, s,
                         st == V_SENT ? "done" : "failed", got);
                if (got && atomic_load(&sv->who) == NF && s < mindrained)
                    mindrained = s;
                if (got && atomic_load(&sv->who) < NF)
                    maxrecv = s;
            }
            FZ_CHECK(mindrained > maxrecv,
                     "%d's value %d on channel %d was left buffered behind %d",
                     f, mindrained, c, maxrecv);
        }
    }
    return 0;
}
