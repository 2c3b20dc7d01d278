/* SPDX-License-Identifier: MIT */
/*
 * tests/chan/test_chan.c - channels and select through the public API
 * (weft/chan.h), in the spirit of Go's own channel test programs: a
 * concurrent prime sieve, FIFO order per sender, close waking every
 * blocked party, select fairness, non-blocking operations, the
 * happens-before of a rendezvous, deadlines and cancellation in every
 * blocking call, fibers and plain threads mixed, and stress runs where
 * every item must arrive exactly once.
 *
 * Where a case wants a fiber to be blocked before it acts, it polls a flag
 * the fiber sets just before the blocking call and then naps; every check
 * holds whether or not the fiber had blocked yet, so nothing is timed.
 * Stress counts are divided by 10 under sanitizers (never the checks);
 * stress cases print their seed (WT_SEED reproduces a run).
 */
#include <weft.h>

#include "wtest_fiber.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static struct wf_chan *mkchan(size_t esz, size_t cap)
{
    struct wf_chan *c = NULL;
    int rc = wf_chan_create(&c, esz, cap);
    if (rc != 0)
        WT_FAIL("wf_chan_create: %s (%d)", wf_strerror(rc), rc);
    return c;
}

static int nworkers(void)
{
    return wt_threads(4);
}

/* ---- misuse and queries ---------------------------------------------------------- */

WT_CASE(misuse)
{
    struct wf_chan *c = NULL;
    int x = 1;
    WT_CHECK_EQ(wf_chan_create(NULL, 4, 1), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_create(&c, WF_CHAN_ELEM_MAX + 1, 1), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_create(&c, 4, WF_CHAN_CAP_MAX + 1), WF_EINVAL);
    WT_CHECK(c == NULL);
    WT_CHECK_EQ(wf_chan_send(NULL, &x, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_recv(NULL, &x, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_try_send(NULL, &x), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_try_recv(NULL, &x), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_close(NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_len(NULL), 0);
    WT_CHECK_EQ(wf_chan_cap(NULL), 0);
    WT_CHECK(!wf_chan_closed(NULL));
    wf_chan_release(NULL);

    c = mkchan(sizeof(int), 2);
    WT_CHECK_EQ(wf_chan_send(c, NULL, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_try_send(c, NULL), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_len(c), 0); /* nothing sent by the failed calls */

    struct wf_select_case sc[2] = {
        {.chan = c, .op = WF_CHAN_RECV, .elem = &x},
        {.chan = c, .op = (enum wf_chan_op)7, .elem = &x},
    };
    WT_CHECK_EQ(wf_select_try(sc, 2), WF_EINVAL);
    sc[1].op = WF_CHAN_SEND;
    sc[1].elem = NULL;
    WT_CHECK_EQ(wf_select_try(sc, 2), WF_EINVAL);
    WT_CHECK_EQ(wf_select_try(NULL, 1), WF_EINVAL);
    WT_CHECK_EQ(wf_select_try(sc, WF_SELECT_MAX + 1), WF_EINVAL);
    WT_CHECK_EQ(wf_chan_len(c), 0);

    WT_CHECK_EQ(wf_chan_close(c), 0);
    WT_CHECK_EQ(wf_chan_close(c), WF_EPIPE);
    WT_CHECK(wf_chan_closed(c));
    wf_chan_release(c);
}

/* Everything that need not wait works without a runtime; what would have
 * to wait reports WF_ESHUTDOWN. */
WT_CASE(no_runtime)
{
    struct wf_chan *c = mkchan(sizeof(long), 3);
    WT_CHECK_EQ(wf_chan_cap(c), 3);
    WT_CHECK_EQ(wf_chan_elem_size(c), sizeof(long));
    long v = 0;
    WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), WF_ESHUTDOWN);
    for (long i = 1; i <= 3; i++)
        WT_CHECK_EQ(wf_chan_send(c, &i, WF_FOREVER), 0);
    long extra = 4;
    WT_CHECK_EQ(wf_chan_send(c, &extra, WF_FOREVER), WF_ESHUTDOWN);
    WT_CHECK_EQ(wf_chan_try_send(c, &extra), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_len(c), 3);
    WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), 0);
    WT_CHECK_EQ(v, 1);
    struct wf_select_case sc = {.chan = c, .op = WF_CHAN_RECV, .elem = &v};
    WT_CHECK_EQ(wf_select(&sc, 1, WF_FOREVER), 0);
    WT_CHECK_EQ(v, 2);
    WT_CHECK_EQ(sc.result, 0);
    WT_CHECK_EQ(wf_chan_try_recv(c, &v), 0);
    WT_CHECK_EQ(v, 3);
    WT_CHECK_EQ(wf_select(&sc, 1, WF_FOREVER), WF_ESHUTDOWN);
    wf_chan_release(c);
}

/* Buffered FIFO order across many wrap-arounds, full and empty edges. */
WT_CASE(buffered_basic)
{
    struct wf_chan *c = mkchan(sizeof(int), 5);
    int next_in = 0, next_out = 0;
    uint64_t rng = 12345;
    for (int round = 0; round < 2000; round++) {
        int k = (int)(wt_rand(&rng) % 7);
        for (int i = 0; i < k; i++) {
            int rc = wf_chan_try_send(c, &next_in);
            if (wf_chan_len(c) == 5 && rc == WF_EAGAIN)
                break;
            WT_CHECK_EQ(rc, 0);
            next_in++;
        }
        WT_CHECK_EQ((int)wf_chan_len(c), next_in - next_out);
        k = (int)(wt_rand(&rng) % 7);
        for (int i = 0; i < k; i++) {
            int v = -1;
            int rc = wf_chan_try_recv(c, &v);
            if (next_out == next_in) {
                WT_CHECK_EQ(rc, WF_EAGAIN);
                WT_CHECK_EQ(v, -1);
                break;
            }
            WT_CHECK_EQ(rc, 0);
            WT_CHECK_EQ(v, next_out);
            next_out++;
        }
    }
    /* Close: buffered elements drain, then WF_EPIPE. */
    int pending = next_in - next_out;
    WT_CHECK_EQ(wf_chan_close(c), 0);
    int v = 0;
    WT_CHECK_EQ(wf_chan_try_send(c, &v), WF_EPIPE);
    for (int i = 0; i < pending; i++) {
        WT_CHECK_EQ(wf_chan_try_recv(c, &v), 0);
        WT_CHECK_EQ(v, next_out++);
    }
    v = -7;
    WT_CHECK_EQ(wf_chan_try_recv(c, &v), WF_EPIPE);
    WT_CHECK_EQ(v, -7);
    wf_chan_release(c);
}

/* Elements of size 0 (signals) and of a large size. */
struct big {
    unsigned char bytes[3000];
};

static void *big_sender(void *arg)
{
    struct wf_chan *c = arg;
    struct big b;
    for (int i = 0; i < 50; i++) {
        memset(b.bytes, i, sizeof b.bytes);
        b.bytes[i] = 0xEE;
        WT_CHECK_EQ(wf_chan_send(c, &b, WF_FOREVER), 0);
    }
    return NULL;
}

static void *elem_sizes_main(void *arg)
{
    (void)arg;
    struct wf_chan *z = mkchan(0, 2);
    WT_CHECK_EQ(wf_chan_send(z, NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_chan_try_send(z, NULL), 0);
    WT_CHECK_EQ(wf_chan_try_send(z, NULL), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_len(z), 2);
    WT_CHECK_EQ(wf_chan_recv(z, NULL, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_chan_try_recv(z, NULL), 0);
    WT_CHECK_EQ(wf_chan_try_recv(z, NULL), WF_EAGAIN);
    wf_chan_release(z);

    for (size_t cap = 0; cap <= 3; cap += 3) {
        struct wf_chan *c = mkchan(sizeof(struct big), cap);
        struct wf_fiber s = go(big_sender, c);
        struct big b;
        for (int i = 0; i < 50; i++) {
            WT_CHECK_EQ(wf_chan_recv(c, &b, WF_FOREVER), 0);
            for (size_t k = 0; k < sizeof b.bytes; k++)
                WT_CHECK_EQ(b.bytes[k], k == (size_t)i ? 0xEE : i);
        }
        join(s);
        wf_chan_release(c);
    }
    return NULL;
}

WT_CASE(elem_sizes)
{
    run_main(2, elem_sizes_main, NULL);
}

/* Reference counting: the last release frees, buffered elements included
 * (ASan's leak check would see a leak). */
WT_CASE(refcount)
{
    struct wf_chan *c = mkchan(sizeof(int), 4);
    for (int i = 0; i < 3; i++)
        wf_chan_retain(c);
    int v = 9;
    WT_CHECK_EQ(wf_chan_try_send(c, &v), 0);
    for (int i = 0; i < 3; i++)
        wf_chan_release(c);
    WT_CHECK_EQ(wf_chan_try_recv(c, &v), 0); /* still alive */
    WT_CHECK_EQ(wf_chan_try_send(c, &v), 0);
    wf_chan_release(c);
}

/* ---- unbuffered rendezvous ------------------------------------------------------- */

WT_CASE(unbuffered_try)
{
    struct wf_chan *c = mkchan(sizeof(int), 0);
    int v = 1;
    WT_CHECK_EQ(wf_chan_try_send(c, &v), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_try_recv(c, &v), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_len(c), 0);
    WT_CHECK_EQ(wf_chan_cap(c), 0);
    wf_chan_release(c);
}

/* Happens-before both ways. What a receiver wrote before its receive is
 * visible to the sender after its send returns (the send completes only
 * once the receive has taken the element), and what the sender wrote
 * before the send is visible to the receiver. Plain (non-atomic) data, so
 * TSan checks the edges; both arrival orders occur over the rounds. */
#define HB_ROUNDS 20000
static long hb_from_sender[HB_ROUNDS];
static long hb_from_receiver[HB_ROUNDS];

static void *hb_sender(void *arg)
{
    struct wf_chan *c = arg;
    for (long i = 0; i < scaled(HB_ROUNDS); i++) {
        hb_from_sender[i] = i * 3 + 1;
        WT_CHECK_EQ(wf_chan_send(c, &i, WF_FOREVER), 0);
        WT_CHECK_EQ(hb_from_receiver[i], i * 5 + 2);
        if (i % 7 == 0)
            wf_yield();
    }
    return NULL;
}

static void *hb_receiver(void *arg)
{
    struct wf_chan *c = arg;
    for (long i = 0; i < scaled(HB_ROUNDS); i++) {
        hb_from_receiver[i] = i * 5 + 2;
        long v = -1;
        WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), 0);
        WT_CHECK_EQ(v, i);
        WT_CHECK_EQ(hb_from_sender[i], i * 3 + 1);
        if (i % 5 == 0)
            wf_yield();
    }
    return NULL;
}

static void *hb_main(void *arg)
{
    (void)arg;
    struct wf_chan *c = mkchan(sizeof(long), 0);
    struct wf_fiber r = go(hb_receiver, c);
    struct wf_fiber s = go(hb_sender, c);
    join(s);
    join(r);
    wf_chan_release(c);
    return NULL;
}

WT_CASE(rendezvous_happens_before)
{
    run_main(nworkers(), hb_main, NULL);
}

WT_CASE(rendezvous_one_worker)
{
    run_main(1, hb_main, NULL);
}

/* A plain thread and a fiber in rendezvous, both directions. */
static void *thread_sender(void *arg)
{
    struct wf_chan *c = arg;
    for (long i = 0; i < scaled(5000); i++)
        WT_CHECK_EQ(wf_chan_send(c, &i, WF_FOREVER), 0);
    return NULL;
}

static void *fiber_receiver(void *arg)
{
    struct wf_chan *c = arg;
    for (long i = 0; i < scaled(5000); i++) {
        long v = -1;
        WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), 0);
        WT_CHECK_EQ(v, i);
    }
    return NULL;
}

WT_CASE(threads_and_fibers)
{
    init_rt(2);
    for (size_t cap = 0; cap <= 4; cap += 4) {
        /* thread -> fiber */
        struct wf_chan *c = mkchan(sizeof(long), cap);
        struct wf_fiber f = go(fiber_receiver, c);
        pthread_t t = thread(thread_sender, c);
        pthread_join(t, NULL);
        join(f);
        /* fiber -> thread (the main thread receives) */
        f = go(thread_sender, c);
        fiber_receiver(c);
        join(f);
        /* thread -> thread through the runtime's parkers */
        t = thread(thread_sender, c);
        fiber_receiver(c);
        pthread_join(t, NULL);
        wf_chan_release(c);
    }
    shutdown_clean();
}

/* ---- FIFO per sender ------------------------------------------------------------- */

#define FIFO_SENDERS 6
struct item {
    int sender;
    int seq;
};

struct fifo_arg {
    struct wf_chan *c;
    int id;
    int n;
};

static void *fifo_sender(void *arg)
{
    struct fifo_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        struct item it = {a->id, i};
        WT_CHECK_EQ(wf_chan_send(a->c, &it, WF_FOREVER), 0);
    }
    return NULL;
}

static void *fifo_main(void *arg)
{
    size_t cap = (size_t)P2U(arg);
    int n = (int)scaled(20000);
    struct wf_chan *c = mkchan(sizeof(struct item), cap);
    struct fifo_arg args[FIFO_SENDERS];
    struct wf_fiber fs[FIFO_SENDERS];
    pthread_t ts[2];
    for (int i = 0; i < FIFO_SENDERS; i++) {
        args[i] = (struct fifo_arg){c, i, n};
        if (i < 2)
            ts[i] = thread(fifo_sender, &args[i]); /* plain threads too */
        else
            fs[i] = go(fifo_sender, &args[i]);
    }
    int next[FIFO_SENDERS] = {0};
    for (long k = 0; k < (long)n * FIFO_SENDERS; k++) {
        struct item it;
        WT_CHECK_EQ(wf_chan_recv(c, &it, WF_FOREVER), 0);
        WT_CHECK(it.sender >= 0 && it.sender < FIFO_SENDERS);
        WT_CHECK_EQ(it.seq, next[it.sender]);
        next[it.sender]++;
    }
    for (int i = 0; i < FIFO_SENDERS; i++) {
        if (i < 2)
            pthread_join(ts[i], NULL);
        else
            join(fs[i]);
        WT_CHECK_EQ(next[i], n);
    }
    WT_CHECK_EQ(wf_chan_try_recv(c, NULL), WF_EAGAIN);
    wf_chan_release(c);
    return NULL;
}

WT_CASE(fifo_per_sender_unbuffered)
{
    run_main(nworkers(), fifo_main, U2P(0));
}

WT_CASE(fifo_per_sender_buffered)
{
    run_main(nworkers(), fifo_main, U2P(16));
}

/* ---- prime sieve ----------------------------------------------------------------- */

/* Go's concurrent prime sieve: a generator sends 2, 3, 4, ... and each
 * prime found adds a filter fiber that drops its multiples. */
#define SIEVE_PRIMES 1000

struct filter_arg {
    struct wf_chan *in, *out;
    int prime;
};

static void *sieve_gen(void *arg)
{
    struct wf_chan *out = arg;
    for (int i = 2;; i++)
        if (wf_chan_send(out, &i, WF_FOREVER) != 0)
            return NULL; /* the consumer closed the chain */
}

static void *sieve_filter(void *arg)
{
    struct filter_arg *a = arg;
    int v;
    while (wf_chan_recv(a->in, &v, WF_FOREVER) == 0) {
        if (v % a->prime != 0 && wf_chan_send(a->out, &v, WF_FOREVER) != 0)
            break;
    }
    /* Tear-down runs backwards: the consumer closes the last channel, so
     * this filter's send fails; it closes its input to stop the one
     * before it. */
    wf_chan_close(a->in);
    return NULL;
}

static void *sieve_main(void *arg)
{
    (void)arg;
    /* Every hop is a switch, which TSan makes a thousand times dearer:
     * there the sieve stops at 250 primes (the checks are the same). */
    const int nprimes = wt_under_tsan() ? 250 : SIEVE_PRIMES;
    int want[SIEVE_PRIMES], nwant = 0;
    for (int n = 2; nwant < nprimes; n++) {
        bool prime = true;
        for (int d = 2; d * d <= n; d++)
            if (n % d == 0) {
                prime = false;
                break;
            }
        if (prime)
            want[nwant++] = n;
    }

    static struct filter_arg args[SIEVE_PRIMES];
    static struct wf_fiber fibers[SIEVE_PRIMES + 1];
    static struct wf_chan *chans[SIEVE_PRIMES + 1];
    chans[0] = mkchan(sizeof(int), 0);
    fibers[0] = go(sieve_gen, chans[0]);
    for (int i = 0; i < nprimes; i++) {
        int p = 0;
        WT_CHECK_EQ(wf_chan_recv(chans[i], &p, WF_FOREVER), 0);
        WT_CHECK_EQ(p, want[i]);
        chans[i + 1] = mkchan(sizeof(int), 0);
        args[i] = (struct filter_arg){chans[i], chans[i + 1], p};
        fibers[i + 1] = go(sieve_filter, &args[i]);
    }
    wf_chan_close(chans[nprimes]);
    for (int i = nprimes; i >= 0; i--)
        join(fibers[i]);
    for (int i = 0; i <= nprimes; i++)
        wf_chan_release(chans[i]);
    return NULL;
}

WT_CASE(prime_sieve)
{
    run_main(nworkers(), sieve_main, NULL);
}

WT_CASE(prime_sieve_one_worker)
{
    run_main(1, sieve_main, NULL);
}

/* ---- close ----------------------------------------------------------------------- */

static atomic_int blocked;

static void *close_receiver(void *arg)
{
    struct wf_chan *c = arg;
    atomic_fetch_add(&blocked, 1);
    int v = -1;
    int rc = wf_chan_recv(c, &v, WF_FOREVER);
    WT_CHECK_EQ(v, -1);
    return U2P(-rc);
}

static void *close_sender(void *arg)
{
    struct wf_chan *c = arg;
    atomic_fetch_add(&blocked, 1);
    int v = 5;
    return U2P(-wf_chan_send(c, &v, WF_FOREVER));
}

static void *close_selector(void *arg)
{
    struct wf_chan *c = arg;
    atomic_fetch_add(&blocked, 1);
    int v = -1;
    struct wf_select_case sc[2] = {
        {.chan = NULL, .op = WF_CHAN_RECV, .elem = &v},
        {.chan = c, .op = WF_CHAN_RECV, .elem = &v},
    };
    int rc = wf_select(sc, 2, WF_FOREVER);
    WT_CHECK_EQ(rc, 1);
    WT_CHECK_EQ(v, -1);
    return U2P(-sc[1].result);
}

/* Every blocked receiver (fibers, selects, plain threads) and every
 * blocked sender is woken by close with WF_EPIPE. */
WT_CASE(close_wakes_all)
{
    enum { NF = 40, NT = 3 };
    init_rt(nworkers());
    for (int senders = 0; senders <= 1; senders++) {
        struct wf_chan *c = mkchan(sizeof(int), senders ? 2 : 0);
        if (senders) {
            int v = 1;
            WT_CHECK_EQ(wf_chan_send(c, &v, WF_FOREVER), 0);
            WT_CHECK_EQ(wf_chan_send(c, &v, WF_FOREVER), 0);
        }
        atomic_store(&blocked, 0);
        struct wf_fiber fs[NF];
        pthread_t ts[NT];
        void *(*fn)(void *) = senders ? close_sender : close_receiver;
        for (int i = 0; i < NF; i++)
            fs[i] = go(!senders && i % 4 == 0 ? close_selector : fn, c);
        for (int i = 0; i < NT; i++)
            ts[i] = thread(fn, c);
        while (atomic_load(&blocked) < NF + NT)
            nap_ms(1);
        nap_ms(20);
        WT_CHECK_EQ(wf_chan_close(c), 0);
        for (int i = 0; i < NF; i++)
            WT_CHECK_EQ((long)P2U(join(fs[i])), EPIPE);
        for (int i = 0; i < NT; i++) {
            void *r = NULL;
            pthread_join(ts[i], &r);
            WT_CHECK_EQ((long)P2U(r), EPIPE);
        }
        if (senders) { /* the two buffered elements survive the close */
            int v = 0;
            WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), 0);
            WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), 0);
            WT_CHECK_EQ(v, 1);
        }
        WT_CHECK_EQ(wf_chan_recv(c, NULL, WF_FOREVER), WF_EPIPE);
        wf_chan_release(c);
    }
    shutdown_clean();
}

/* ---- select ---------------------------------------------------------------------- */

/* With two (or more) cases always ready, each is picked 50% +- 2% over
 * 100,000 selects; a case that is never ready in the middle of the list
 * does not shift the odds. */
WT_CASE(select_fairness)
{
    struct wf_chan *a = mkchan(sizeof(int), 1);
    struct wf_chan *b = mkchan(sizeof(int), 1);
    struct wf_chan *never = mkchan(sizeof(int), 0);
    int va = 1, vb = 2, v = 0;
    WT_CHECK_EQ(wf_chan_try_send(a, &va), 0);
    WT_CHECK_EQ(wf_chan_try_send(b, &vb), 0);
    struct wf_select_case sc[3] = {
        {.chan = a, .op = WF_CHAN_RECV, .elem = &v},
        {.chan = never, .op = WF_CHAN_RECV, .elem = &v},
        {.chan = b, .op = WF_CHAN_RECV, .elem = &v},
    };
    long hits[3] = {0, 0, 0};
    const long n = 100000;
    for (long i = 0; i < n; i++) {
        int k = wf_select_try(sc, 3);
        WT_CHECK(k == 0 || k == 2);
        WT_CHECK_EQ(sc[k].result, 0);
        WT_CHECK_EQ(v, k == 0 ? 1 : 2);
        hits[k]++;
        WT_CHECK_EQ(wf_chan_try_send(sc[k].chan, k == 0 ? &va : &vb), 0);
    }
    WT_CHECK_EQ(hits[1], 0);
    WT_CHECK(hits[0] >= n * 48 / 100 && hits[0] <= n * 52 / 100);
    WT_CHECK(hits[2] >= n * 48 / 100 && hits[2] <= n * 52 / 100);
    printf("select_fairness: %ld / %ld\n", hits[0], hits[2]);

    /* Send cases too: both have room. */
    int x = 3;
    WT_CHECK_EQ(wf_chan_try_recv(a, NULL), 0);
    WT_CHECK_EQ(wf_chan_try_recv(b, NULL), 0);
    struct wf_select_case ss[2] = {
        {.chan = a, .op = WF_CHAN_SEND, .elem = &x},
        {.chan = b, .op = WF_CHAN_SEND, .elem = &x},
    };
    hits[0] = hits[1] = 0;
    for (long i = 0; i < n; i++) {
        int k = wf_select_try(ss, 2);
        WT_CHECK(k == 0 || k == 1);
        hits[k]++;
        WT_CHECK_EQ(wf_chan_try_recv(ss[k].chan, NULL), 0);
    }
    WT_CHECK(hits[0] >= n * 48 / 100 && hits[0] <= n * 52 / 100);
    wf_chan_release(a);
    wf_chan_release(b);
    wf_chan_release(never);
}

/* Default: nothing ready gives WF_EAGAIN and changes nothing; a closed
 * channel is ready; a NULL channel never is; the same channel may appear
 * twice. */
WT_CASE(select_default)
{
    struct wf_chan *full = mkchan(sizeof(int), 1);
    struct wf_chan *empty = mkchan(sizeof(int), 1);
    int one = 1, v = 0;
    WT_CHECK_EQ(wf_chan_try_send(full, &one), 0);
    struct wf_select_case sc[3] = {
        {.chan = full, .op = WF_CHAN_SEND, .elem = &one},
        {.chan = empty, .op = WF_CHAN_RECV, .elem = &v},
        {.chan = NULL, .op = WF_CHAN_RECV, .elem = &v},
    };
    WT_CHECK_EQ(wf_select_try(sc, 3), WF_EAGAIN);
    WT_CHECK_EQ(wf_select_try(sc, 0), WF_EAGAIN);
    WT_CHECK_EQ(wf_chan_len(full), 1);
    WT_CHECK_EQ(wf_chan_len(empty), 0);
    /* the same channel as send and receive: only the receive is ready */
    struct wf_select_case same[2] = {
        {.chan = full, .op = WF_CHAN_SEND, .elem = &one},
        {.chan = full, .op = WF_CHAN_RECV, .elem = &v},
    };
    WT_CHECK_EQ(wf_select_try(same, 2), 1);
    WT_CHECK_EQ(v, 1);
    WT_CHECK_EQ(wf_select_try(same, 2), 0); /* now only the send */
    WT_CHECK_EQ(wf_chan_len(full), 1);
    WT_CHECK_EQ(wf_chan_close(empty), 0);
    WT_CHECK_EQ(wf_select_try(sc, 3), 1);
    WT_CHECK_EQ(sc[1].result, WF_EPIPE);
    /* a send case on a closed channel completes with WF_EPIPE */
    WT_CHECK_EQ(wf_chan_try_recv(full, NULL), 0);
    WT_CHECK_EQ(wf_chan_close(full), 0);
    sc[1].chan = NULL;
    WT_CHECK_EQ(wf_select_try(sc, 3), 0);
    WT_CHECK_EQ(sc[0].result, WF_EPIPE);
    WT_CHECK_EQ(wf_chan_len(full), 0);
    wf_chan_release(full);
    wf_chan_release(empty);
}

/* More cases than the select keeps on its stack. */
WT_CASE(select_many_cases)
{
    enum { N = 300 };
    struct wf_chan *c[N];
    struct wf_select_case sc[N];
    int v = 0;
    for (int i = 0; i < N; i++) {
        c[i] = mkchan(sizeof(int), 1);
        sc[i] = (struct wf_select_case){.chan = c[i], .op = WF_CHAN_RECV, .elem = &v};
    }
    WT_CHECK_EQ(wf_select_try(sc, N), WF_EAGAIN);
    int x = 77;
    WT_CHECK_EQ(wf_chan_try_send(c[N - 3], &x), 0);
    WT_CHECK_EQ(wf_select_try(sc, N), N - 3);
    WT_CHECK_EQ(v, 77);
    for (int i = 0; i < N; i++)
        wf_chan_release(c[i]);
}

/* A fiber blocked in select on several unbuffered channels, with a sender
 * on each: exactly one send completes per select; the rest stay blocked
 * until later selects take them. */
struct multi {
    struct wf_chan *c[3];
    atomic_int sent[3];
};

static struct multi multi;

static void *multi_sender(void *arg)
{
    int i = (int)P2U(arg);
    atomic_fetch_add(&blocked, 1);
    WT_CHECK_EQ(wf_chan_send(multi.c[i], &i, WF_FOREVER), 0);
    atomic_fetch_add(&multi.sent[i], 1);
    return NULL;
}

static void *select_once_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < (int)scaled(200); round++) {
        atomic_store(&blocked, 0);
        for (int i = 0; i < 3; i++) {
            multi.c[i] = mkchan(sizeof(int), 0);
            atomic_store(&multi.sent[i], 0);
        }
        int v = -1;
        struct wf_select_case sc[3];
        for (int i = 0; i < 3; i++)
            sc[i] = (struct wf_select_case){.chan = multi.c[i], .op = WF_CHAN_RECV, .elem = &v};
        struct wf_fiber s[3];
        /* Alternate: senders first (select finds them ready) or the select
         * first (it blocks, and the senders race to complete it). */
        if (round % 2 == 0) {
            for (int i = 0; i < 3; i++)
                s[i] = go(multi_sender, U2P(i));
            while (atomic_load(&blocked) < 3)
                wf_yield();
        } else {
            for (int i = 0; i < 3; i++)
                s[i] = go(multi_sender, U2P(i));
        }
        bool seen[3] = {false, false, false};
        for (int k = 0; k < 3; k++) {
            int idx = wf_select(sc, 3, WF_FOREVER);
            WT_CHECK(idx >= 0 && idx < 3);
            WT_CHECK_EQ(v, idx);
            WT_CHECK(!seen[idx]);
            seen[idx] = true;
            sc[idx].chan = NULL; /* that sender is done */
        }
        for (int i = 0; i < 3; i++) {
            join(s[i]);
            WT_CHECK_EQ(atomic_load(&multi.sent[i]), 1);
            wf_chan_release(multi.c[i]);
        }
    }
    return NULL;
}

WT_CASE(select_woken_once)
{
    run_main(nworkers(), select_once_main, NULL);
}

/* ---- deadlines ------------------------------------------------------------------- */

static void deadline_checks(void)
{
    struct wf_chan *full = mkchan(sizeof(int), 1);
    struct wf_chan *unbuf = mkchan(sizeof(int), 0);
    int v = 4;
    WT_CHECK_EQ(wf_chan_send(full, &v, WF_FOREVER), 0);
    int64_t d = wf_deadline_in(5 * WF_MSEC);
    WT_CHECK_EQ(wf_chan_send(full, &v, d), WF_ETIMEDOUT);
    WT_CHECK(wf_now() >= d);
    WT_CHECK_EQ(wf_chan_send(unbuf, &v, wf_deadline_in(2 * WF_MSEC)), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_chan_recv(unbuf, &v, wf_deadline_in(2 * WF_MSEC)), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_chan_send(full, &v, 0), WF_ETIMEDOUT); /* past: no wait */
    WT_CHECK_EQ(wf_chan_len(full), 1); /* nothing was sent by the failures */
    struct wf_select_case sc[2] = {
        {.chan = full, .op = WF_CHAN_SEND, .elem = &v},
        {.chan = unbuf, .op = WF_CHAN_RECV, .elem = &v},
    };
    d = wf_deadline_in(3 * WF_MSEC);
    WT_CHECK_EQ(wf_select(sc, 2, d), WF_ETIMEDOUT);
    WT_CHECK(wf_now() >= d);
    WT_CHECK_EQ(wf_select(NULL, 0, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);
    /* nothing is left queued: a receiver now finds no sender */
    WT_CHECK_EQ(wf_chan_try_recv(unbuf, &v), WF_EAGAIN);
    v = 0;
    WT_CHECK_EQ(wf_chan_recv(full, &v, 0), 0); /* ready: completes */
    WT_CHECK_EQ(v, 4);
    WT_CHECK_EQ(wf_chan_recv(full, &v, wf_deadline_in(WF_MSEC)), WF_ETIMEDOUT);
    wf_chan_release(full);
    wf_chan_release(unbuf);
}

static void *deadline_main(void *arg)
{
    (void)arg;
    deadline_checks();
    return NULL;
}

WT_CASE(deadlines_fiber)
{
    run_main(2, deadline_main, NULL);
}

WT_CASE(deadlines_thread)
{
    init_rt(2);
    deadline_checks();
    shutdown_clean();
}

/* A deadline racing with completions: a receiver with tiny deadlines and
 * a sender with tiny deadlines on an unbuffered channel. Every send that
 * reported success was received exactly once, in order, and nothing that
 * reported a timeout was received. */
static atomic_long race_sent_ok;

static void *race_sender(void *arg)
{
    struct wf_chan *c = arg;
    long seq = 0;
    for (long i = 0; i < scaled(20000); i++) {
        int rc = wf_chan_send(c, &seq, wf_deadline_in((i % 3) * WF_USEC));
        if (rc == 0)
            seq++;
        else
            WT_CHECK_EQ(rc, WF_ETIMEDOUT);
    }
    atomic_store(&race_sent_ok, seq);
    long end = -1;
    WT_CHECK_EQ(wf_chan_send(c, &end, WF_FOREVER), 0);
    return NULL;
}

static void *race_main(void *arg)
{
    (void)arg;
    struct wf_chan *c = mkchan(sizeof(long), 0);
    struct wf_fiber s = go(race_sender, c);
    long expect = 0;
    for (;;) {
        long v = -2;
        int rc = wf_chan_recv(c, &v, wf_deadline_in((expect % 4) * WF_USEC));
        if (rc == WF_ETIMEDOUT) {
            WT_CHECK_EQ(v, -2);
            continue;
        }
        WT_CHECK_EQ(rc, 0);
        if (v == -1)
            break;
        WT_CHECK_EQ(v, expect);
        expect++;
    }
    join(s);
    WT_CHECK_EQ(expect, atomic_load(&race_sent_ok));
    wf_chan_release(c);
    return NULL;
}

WT_CASE(deadline_races)
{
    run_main(nworkers(), race_main, NULL);
}

/* ---- cancellation ---------------------------------------------------------------- */

enum { CK_SEND, CK_RECV, CK_SELECT };

struct cancel_arg {
    struct wf_chan *c;
    int kind;
};

static void *cancel_victim(void *arg)
{
    struct cancel_arg *a = arg;
    int v = 9;
    atomic_fetch_add(&blocked, 1);
    if (a->kind == CK_SEND)
        return U2P(-wf_chan_send(a->c, &v, WF_FOREVER));
    if (a->kind == CK_RECV)
        return U2P(-wf_chan_recv(a->c, &v, WF_FOREVER));
    struct wf_select_case sc[2] = {
        {.chan = a->c, .op = WF_CHAN_SEND, .elem = &v},
        {.chan = a->c, .op = WF_CHAN_RECV, .elem = &v},
    };
    return U2P(-wf_select(sc, 2, WF_FOREVER));
}

static void *cancel_main(void *arg)
{
    (void)arg;
    for (int kind = CK_SEND; kind <= CK_SELECT; kind++) {
        struct cancel_arg a = {mkchan(sizeof(int), 0), kind};
        atomic_store(&blocked, 0);
        struct wf_fiber f = go(cancel_victim, &a);
        while (atomic_load(&blocked) < 1)
            wf_yield();
        wf_sleep(2 * WF_MSEC);
        WT_CHECK_EQ(wf_cancel(f), 0);
        WT_CHECK_EQ((long)P2U(join(f)), ECANCELED);
        /* nothing of the victim is left queued */
        WT_CHECK_EQ(wf_chan_try_send(a.c, &kind), WF_EAGAIN);
        WT_CHECK_EQ(wf_chan_try_recv(a.c, NULL), WF_EAGAIN);
        wf_chan_release(a.c);
    }
    return NULL;
}

WT_CASE(cancellation)
{
    run_main(2, cancel_main, NULL);
}

/* A cancelled fiber still completes an operation that need not wait. */
static void *cancelled_ready(void *arg)
{
    struct wf_chan *c = arg;
    while (!wf_cancelled())
        wf_yield();
    int v = 0;
    WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), 0);
    WT_CHECK_EQ(v, 11);
    WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), WF_ECANCELED);
    return NULL;
}

static void *cancelled_ready_main(void *arg)
{
    (void)arg;
    struct wf_chan *c = mkchan(sizeof(int), 1);
    int v = 11;
    WT_CHECK_EQ(wf_chan_send(c, &v, WF_FOREVER), 0);
    struct wf_fiber f = go(cancelled_ready, c);
    WT_CHECK_EQ(wf_cancel(f), 0);
    join(f);
    wf_chan_release(c);
    return NULL;
}

WT_CASE(cancelled_still_completes_ready)
{
    run_main(2, cancelled_ready_main, NULL);
}

/* Shutdown wakes a plain thread blocked in a receive. */
static void *shutdown_receiver(void *arg)
{
    atomic_fetch_add(&blocked, 1);
    return U2P(-wf_chan_recv(arg, NULL, WF_FOREVER));
}

WT_CASE(shutdown_wakes_thread)
{
    init_rt(1);
    struct wf_chan *c = mkchan(sizeof(int), 0);
    atomic_store(&blocked, 0);
    pthread_t t = thread(shutdown_receiver, c);
    while (atomic_load(&blocked) < 1)
        nap_ms(1);
    nap_ms(20);
    shutdown_clean();
    void *r = NULL;
    pthread_join(t, &r);
    WT_CHECK_EQ((long)P2U(r), ESHUTDOWN);
    wf_chan_release(c);
}

/* Shutdown discards a fiber whose blocked send was completed (by a plain
 * thread's receive) but which had not run again yet, after the channel it
 * waited on was released: its wait is over, and shutdown must not touch
 * that channel. A hog keeps the only worker busy until shutdown has begun,
 * so the sender never runs again. (It used to take the freed channel's
 * lock: a hang, or a use-after-free under ASan; skynet's last leaves.) */
static atomic_int hog_state; /* 1 hogging; 2 may stop */

static void *completed_sender(void *arg)
{
    int v = 7;
    atomic_fetch_add(&blocked, 1);
    wf_chan_send(arg, &v, WF_FOREVER);
    return NULL;
}

static void *hog(void *arg)
{
    (void)arg;
    atomic_store(&hog_state, 1);
    while (atomic_load(&hog_state) != 2)
        ;
    nap_ms(100); /* a blocking call: shutdown begins meanwhile */
    return NULL;
}

WT_CASE(shutdown_after_completed_wait)
{
    init_rt(1);
    struct wf_chan *c = mkchan(sizeof(int), 0);
    atomic_store(&blocked, 0);
    atomic_store(&hog_state, 0);
    WT_CHECK_EQ(wf_go(NULL, completed_sender, c), 0);
    while (atomic_load(&blocked) < 1)
        nap_ms(1);
    nap_ms(20); /* parked in its send (if not, it is still on the worker) */
    WT_CHECK_EQ(wf_go(NULL, hog, NULL), 0);
    while (atomic_load(&hog_state) != 1)
        nap_ms(1);
    int v = 0;
    WT_CHECK_EQ(wf_chan_recv(c, &v, WF_FOREVER), 0);
    WT_CHECK_EQ(v, 7);
    wf_chan_release(c);
    atomic_store(&hog_state, 2);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_shutdown_discarded(), 1); /* the sender, never run again */
}

/* ---- stress ---------------------------------------------------------------------- */

/* P producers and C consumers (fibers on every worker plus plain
 * threads), some producing through select over two channels: every item
 * arrives exactly once, and each consumer sees each producer's items in
 * increasing order. Consumers stop when the channels close. */
#define SP 6
#define SC 5
struct stress {
    struct wf_chan *c[2];
    long per_producer;
    atomic_uchar *seen; /* SP * per_producer flags */
    atomic_long received;
    atomic_int producers_left;
};

static struct stress sx;

static void *stress_producer(void *arg)
{
    int id = (int)P2U(arg);
    for (long i = 0; i < sx.per_producer; i++) {
        struct item it = {id, (int)i};
        if (id % 2 == 0) {
            WT_CHECK_EQ(wf_chan_send(sx.c[id % 4 == 0], &it, WF_FOREVER), 0);
        } else {
            struct wf_select_case sc[2] = {
                {.chan = sx.c[0], .op = WF_CHAN_SEND, .elem = &it},
                {.chan = sx.c[1], .op = WF_CHAN_SEND, .elem = &it},
            };
            int k = wf_select(sc, 2, WF_FOREVER);
            WT_CHECK(k == 0 || k == 1);
            WT_CHECK_EQ(sc[k].result, 0);
        }
    }
    if (atomic_fetch_sub(&sx.producers_left, 1) == 1) {
        WT_CHECK_EQ(wf_chan_close(sx.c[0]), 0);
        WT_CHECK_EQ(wf_chan_close(sx.c[1]), 0);
    }
    return NULL;
}

static void *stress_consumer(void *arg)
{
    (void)arg;
    int last[SP];
    for (int i = 0; i < SP; i++)
        last[i] = -1;
    bool open[2] = {true, true};
    while (open[0] || open[1]) {
        struct item it;
        struct wf_select_case sc[2] = {
            {.chan = open[0] ? sx.c[0] : NULL, .op = WF_CHAN_RECV, .elem = &it},
            {.chan = open[1] ? sx.c[1] : NULL, .op = WF_CHAN_RECV, .elem = &it},
        };
        int k = wf_select(sc, 2, WF_FOREVER);
        WT_CHECK(k == 0 || k == 1);
        if (sc[k].result == WF_EPIPE) {
            open[k] = false;
            continue;
        }
        WT_CHECK(it.sender >= 0 && it.sender < SP);
        /* Producers that select may use either channel, so order holds
         * per producer only for those bound to one channel. */
        if (it.sender % 2 == 0)
            WT_CHECK(it.seq > last[it.sender]);
        last[it.sender] = it.seq;
        unsigned char was = atomic_exchange(
            &sx.seen[(long)it.sender * sx.per_producer + it.seq], 1);
        WT_CHECK_EQ(was, 0);
        atomic_fetch_add(&sx.received, 1);
    }
    return NULL;
}

static void stress_run(size_t cap)
{
    uint64_t seed = wt_seed();
    printf("seed %llu\n", (unsigned long long)seed);
    sx.per_producer = scaled(20000) + (long)(seed % 100);
    sx.c[0] = mkchan(sizeof(struct item), cap);
    sx.c[1] = mkchan(sizeof(struct item), cap ? cap + 3 : 0);
    sx.seen = calloc((size_t)SP * (size_t)sx.per_producer, 1);
    WT_CHECK(sx.seen != NULL);
    atomic_store(&sx.received, 0);
    atomic_store(&sx.producers_left, SP);

    init_rt(nworkers());
    struct wf_fiber pf[SP], cf[SC];
    pthread_t pt, ct;
    for (int i = 1; i < SP; i++)
        pf[i] = go(stress_producer, U2P(i));
    pt = thread(stress_producer, U2P(0));
    for (int i = 1; i < SC; i++)
        cf[i] = go(stress_consumer, NULL);
    ct = thread(stress_consumer, NULL);
    for (int i = 1; i < SP; i++)
        join(pf[i]);
    pthread_join(pt, NULL);
    for (int i = 1; i < SC; i++)
        join(cf[i]);
    pthread_join(ct, NULL);
    shutdown_clean();

    WT_CHECK_EQ(atomic_load(&sx.received), (long)SP * sx.per_producer);
    for (long i = 0; i < (long)SP * sx.per_producer; i++)
        WT_CHECK_EQ(atomic_load(&sx.seen[i]), 1);
    free(sx.seen);
    wf_chan_release(sx.c[0]);
    wf_chan_release(sx.c[1]);
}

WT_CASE(stress_unbuffered)
{
    stress_run(0);
}

WT_CASE(stress_buffered)
{
    stress_run(8);
}

WT_MAIN()
