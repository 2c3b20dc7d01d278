/* SPDX-License-Identifier: MIT */
/*
 * tests/queue/test_queue.c - the bounded lock-free queues of
 * include/weft/queue.h: argument errors, capacity rounding, FIFO order,
 * full and empty behaviour, wrap-around, element sizes, and stress with
 * plain threads and with fibers.
 *
 * Both queues are driven through one small table of functions (struct
 * kind), so each single-threaded case runs on the MPMC queue and on the
 * SPSC ring alike.
 *
 * Stress cases push items that name their producer and their sequence
 * number, plus a check word that reveals a torn copy. Every consumer
 * counts each item it pops in a shared table (so each item must be counted
 * exactly once) and checks that the items of each producer reach it in
 * increasing order. They take WT_SEED (which picks the queue capacity, from
 * 2 to 1024, so that small queues that are full most of the time are
 * exercised too) and WT_THREADS (producers = consumers = WT_THREADS in the
 * 4+4 cases), and print the seed when they fail. Sizes are bounded by item
 * counts, never by time; under sanitizers the counts are divided by 10,
 * never the checks.
 */
#include <weft.h>

#include "wtest_rt.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- the two queues behind one table ---------------------------------- */

struct kind {
    const char *name;
    int (*create)(void **out, size_t cap, size_t elem_size);
    void (*destroy)(void *q);
    int (*push)(void *q, const void *elem);
    int (*pop)(void *q, void *elem);
    size_t (*capacity)(const void *q);
    size_t (*size)(const void *q);
    /* Capacity obtained for a request of 1 (MPMC: at least 2). */
    size_t min_cap;
};

static int m_create(void **out, size_t cap, size_t es)
{
    struct wf_mpmc *q = NULL;
    int rc = wf_mpmc_create(out ? &q : NULL, cap, es);
    if (rc == 0)
        *out = q;
    return rc;
}
static void m_destroy(void *q) { wf_mpmc_destroy(q); }
static int m_push(void *q, const void *e) { return wf_mpmc_try_push(q, e); }
static int m_pop(void *q, void *e) { return wf_mpmc_try_pop(q, e); }
static size_t m_cap(const void *q) { return wf_mpmc_capacity(q); }
static size_t m_size(const void *q) { return wf_mpmc_size(q); }

static int s_create(void **out, size_t cap, size_t es)
{
    struct wf_spsc *q = NULL;
    int rc = wf_spsc_create(out ? &q : NULL, cap, es);
    if (rc == 0)
        *out = q;
    return rc;
}
static void s_destroy(void *q) { wf_spsc_destroy(q); }
static int s_push(void *q, const void *e) { return wf_spsc_try_push(q, e); }
static int s_pop(void *q, void *e) { return wf_spsc_try_pop(q, e); }
static size_t s_cap(const void *q) { return wf_spsc_capacity(q); }
static size_t s_size(const void *q) { return wf_spsc_size(q); }

static const struct kind kinds[] = {
    { "mpmc", m_create, m_destroy, m_push, m_pop, m_cap, m_size, 2 },
    { "spsc", s_create, s_destroy, s_push, s_pop, s_cap, s_size, 1 },
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static void *make(const struct kind *k, size_t cap, size_t elem_size)
{
    void *q = NULL;
    int rc = k->create(&q, cap, elem_size);
    if (rc != 0)
        WT_FAIL("%s create(%zu, %zu): %s (%d)", k->name, cap, elem_size,
                wf_strerror(rc), rc);
    WT_CHECK(q != NULL);
    return q;
}


/* ---- argument errors --------------------------------------------------- */

WT_CASE(create_errors)
{
    for (size_t i = 0; i < NKINDS; i++) {
        const struct kind *k = &kinds[i];
        void *const sentinel = (void *)&kinds[i];
        void *q = sentinel;
        WT_CHECK_EQ(k->create(NULL, 8, 8), WF_EINVAL);
        WT_CHECK_EQ(k->create(&q, 0, 8), WF_EINVAL);
        WT_CHECK_EQ(k->create(&q, 8, 0), WF_EINVAL);
        WT_CHECK_EQ(k->create(&q, 0, 0), WF_EINVAL);
        /* Sizes whose products or rounding overflow size_t. */
        WT_CHECK_EQ(k->create(&q, SIZE_MAX, 8), WF_EINVAL);
        WT_CHECK_EQ(k->create(&q, SIZE_MAX / 2 + 2, 1), WF_EINVAL);
        WT_CHECK_EQ(k->create(&q, 8, SIZE_MAX), WF_EINVAL);
        WT_CHECK_EQ(k->create(&q, 8, SIZE_MAX - 4), WF_EINVAL);
        WT_CHECK_EQ(k->create(&q, SIZE_MAX / 64, 128), WF_EINVAL);
        WT_CHECK_EQ(k->create(&q, (size_t)1 << 40, (size_t)1 << 30),
                    WF_EINVAL);
        /* On error *out is untouched. */
        WT_CHECK(q == sentinel);
        /* Representable but far beyond the address space: no memory.
         * (Sanitizer allocators abort on such requests by default.) */
        if (!wt_sanitized()) {
            WT_CHECK_EQ(k->create(&q, (size_t)1 << 44, 16), WF_ENOMEM);
            WT_CHECK(q == sentinel);
        }
    }
}

WT_CASE(call_errors)
{
    for (size_t i = 0; i < NKINDS; i++) {
        const struct kind *k = &kinds[i];
        void *q = make(k, 4, sizeof(int));
        int v = 7;
        WT_CHECK_EQ(k->push(NULL, &v), WF_EINVAL);
        WT_CHECK_EQ(k->push(q, NULL), WF_EINVAL);
        WT_CHECK_EQ(k->pop(NULL, &v), WF_EINVAL);
        WT_CHECK_EQ(k->pop(q, NULL), WF_EINVAL);
        WT_CHECK_EQ(k->capacity(NULL), 0);
        WT_CHECK_EQ(k->size(NULL), 0);
        /* The failed calls changed nothing. */
        WT_CHECK_EQ(k->size(q), 0);
        WT_CHECK_EQ(k->pop(q, &v), WF_EAGAIN);
        WT_CHECK_EQ(v, 7);
        WT_CHECK_EQ(k->push(q, &v), 0);
        WT_CHECK_EQ(k->push(q, NULL), WF_EINVAL);
        WT_CHECK_EQ(k->pop(q, NULL), WF_EINVAL);
        WT_CHECK_EQ(k->size(q), 1);
        v = 0;
        WT_CHECK_EQ(k->pop(q, &v), 0);
        WT_CHECK_EQ(v, 7);
        k->destroy(q);
        k->destroy(NULL);
    }
}

/* ---- single-threaded behaviour ------------------------------------------- */

/* Push until full; return how many went in. Values 0, 1, 2, ... */
static size_t fill(const struct kind *k, void *q, uint64_t first)
{
    size_t n = 0;
    for (uint64_t v = first;; v++, n++)
        if (k->push(q, &v) != 0)
            break;
    return n;
}

WT_CASE(capacity_rounding)
{
    static const size_t req[] = { 1, 2, 3, 4, 5, 7, 8, 9, 100, 1000, 1024,
                                  1025 };
    for (size_t i = 0; i < NKINDS; i++) {
        const struct kind *k = &kinds[i];
        for (size_t j = 0; j < sizeof req / sizeof req[0]; j++) {
            size_t want = k->min_cap;
            while (want < req[j])
                want *= 2;
            void *q = make(k, req[j], sizeof(uint64_t));
            WT_CHECK_EQ(k->capacity(q), want);
            /* The capacity is real: exactly that many fit. */
            WT_CHECK_EQ(fill(k, q, 0), want);
            WT_CHECK_EQ(k->size(q), want);
            k->destroy(q);
        }
    }
}

WT_CASE(fifo_order)
{
    for (size_t i = 0; i < NKINDS; i++) {
        const struct kind *k = &kinds[i];
        void *q = make(k, 64, sizeof(uint64_t));
        for (uint64_t v = 0; v < 50; v++) {
            WT_CHECK_EQ(k->push(q, &v), 0);
            WT_CHECK_EQ(k->size(q), v + 1);
        }
        for (uint64_t v = 0; v < 50; v++) {
            uint64_t got = ~(uint64_t)0;
            WT_CHECK_EQ(k->pop(q, &got), 0);
            WT_CHECK_EQ(got, v);
            WT_CHECK_EQ(k->size(q), 49 - v);
        }
        k->destroy(q);
    }
}

WT_CASE(full_and_empty)
{
    for (size_t i = 0; i < NKINDS; i++) {
        const struct kind *k = &kinds[i];
        void *q = make(k, 16, sizeof(uint64_t));
        uint64_t v = 12345;
        /* Empty: EAGAIN, and the destination is left alone. */
        WT_CHECK_EQ(k->pop(q, &v), WF_EAGAIN);
        WT_CHECK_EQ(k->pop(q, &v), WF_EAGAIN);
        WT_CHECK_EQ(v, 12345);
        /* Full: EAGAIN, repeatedly, and nothing lost or overwritten. */
        WT_CHECK_EQ(fill(k, q, 0), 16);
        for (int r = 0; r < 5; r++) {
            uint64_t extra = 1000 + (uint64_t)r;
            WT_CHECK_EQ(k->push(q, &extra), WF_EAGAIN);
        }
        WT_CHECK_EQ(k->size(q), 16);
        /* One out makes room for exactly one in. */
        WT_CHECK_EQ(k->pop(q, &v), 0);
        WT_CHECK_EQ(v, 0);
        v = 16;
        WT_CHECK_EQ(k->push(q, &v), 0);
        v = 17;
        WT_CHECK_EQ(k->push(q, &v), WF_EAGAIN);
        for (uint64_t want = 1; want <= 16; want++) {
            WT_CHECK_EQ(k->pop(q, &v), 0);
            WT_CHECK_EQ(v, want);
        }
        WT_CHECK_EQ(k->pop(q, &v), WF_EAGAIN);
        WT_CHECK_EQ(v, 16);
        WT_CHECK_EQ(k->size(q), 0);
        k->destroy(q);
    }
}

WT_CASE(wrap_around)
{
    uint64_t rng = wt_seed();
    for (size_t i = 0; i < NKINDS; i++) {
        const struct kind *k = &kinds[i];
        for (size_t cap = k->min_cap; cap <= 8; cap *= 2) {
            void *q = make(k, cap, sizeof(uint64_t));
            uint64_t next_in = 0, next_out = 0;
            /* Batches of random length in [1, cap], pushed and popped in
             * turn: the indices go round the ring tens of thousands of
             * times. */
            while (next_out < 200000) {
                size_t burst = 1 + wt_rand(&rng) % cap;
                for (size_t b = 0; b < burst; b++, next_in++)
                    WT_CHECK_EQ(k->push(q, &next_in), 0);
                WT_CHECK_EQ(k->size(q), burst);
                burst = 1 + wt_rand(&rng) % burst;
                for (size_t b = 0; b < burst; b++, next_out++) {
                    uint64_t v = 0;
                    WT_CHECK_EQ(k->pop(q, &v), 0);
                    WT_CHECK_EQ(v, next_out);
                }
                while (next_out < next_in) {
                    uint64_t v = 0;
                    WT_CHECK_EQ(k->pop(q, &v), 0);
                    WT_CHECK_EQ(v, next_out);
                    next_out++;
                }
                uint64_t v = 0;
                WT_CHECK_EQ(k->pop(q, &v), WF_EAGAIN);
            }
            k->destroy(q);
        }
    }
}

static unsigned char pattern(uint64_t item, size_t byte)
{
    return (unsigned char)(item * 131 + byte * 7 + 1);
}

WT_CASE(element_sizes)
{
    static const size_t sizes[] = { 1, 8, 24, 100 };
    for (size_t i = 0; i < NKINDS; i++) {
        const struct kind *k = &kinds[i];
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t es = sizes[s];
            void *q = make(k, 8, es);
            /* One guard byte past the element: pop must not write it. */
            unsigned char buf[101 + 1];
            uint64_t in = 0, out = 0;
            /* Keep 5 in flight while 200 go through a ring of 8. */
            while (out < 200) {
                while (in < 200 && in - out < 5) {
                    for (size_t b = 0; b < es; b++)
                        buf[b] = pattern(in, b);
                    WT_CHECK_EQ(k->push(q, buf), 0);
                    in++;
                }
                memset(buf, 0xEE, sizeof buf);
                WT_CHECK_EQ(k->pop(q, buf), 0);
                for (size_t b = 0; b < es; b++)
                    if (buf[b] != pattern(out, b))
                        WT_FAIL("%s elem %zu: item %llu byte %zu is %u",
                                k->name, es, (unsigned long long)out, b,
                                buf[b]);
                WT_CHECK_EQ(buf[es], 0xEE);
                out++;
            }
            WT_CHECK_EQ(k->pop(q, buf), WF_EAGAIN);
            k->destroy(q);
        }
    }
}

/* ---- stress ----------------------------------------------------------------- */

struct item {
    uint64_t tag;   /* producer << 32 | sequence number */
    uint64_t check; /* check_of(tag): a torn copy fails it */
};

static uint64_t check_of(uint64_t tag)
{
    return ~(tag * 0x9E3779B97F4A7C15ull);
}

struct stress {
    const struct kind *k;
    void *q;
    int producers, consumers;
    long per_producer;         /* items each producer pushes */
    long total;                /* producers * per_producer */
    bool fibers;               /* producers and consumers are fibers */
    bool fed_by_threads;       /* ...but plain threads push (mixed test) */
    atomic_long popped;        /* items popped so far, by all consumers */
    atomic_uchar *count;       /* [producer * per_producer + seq] */
    pthread_barrier_t start;   /* threads only: everyone starts together */
};

struct worker_arg {
    struct stress *s;
    int id;
};

/* Waits after a push or pop found the queue full or empty; `tries` counts
 * the failures in a row (reset after each success). A thread yields its
 * core. A fiber yields to the worker's other fibers; when the other side
 * is plain threads it also yields the worker's core from the eighth
 * failure in a row: it would otherwise keep a core that the threads, on a
 * loaded machine, wait for. (Sleeping instead was tried: with a capacity of 2
 * the two sides then take turns at the pace of their sleeps, 76 s for
 * 100,000 items beside two busy processes, against 4 s.) */
static void wait_a_little(const struct stress *s, unsigned *tries)
{
    if (s->fibers)
        wf_yield();
    if (!s->fibers || (s->fed_by_threads && ++*tries >= 8))
        sched_yield();
}

static void *producer(void *arg)
{
    struct worker_arg *a = arg;
    struct stress *s = a->s;
    if (!s->fibers)
        pthread_barrier_wait(&s->start);
    for (long n = 0; n < s->per_producer; n++) {
        struct item it;
        it.tag = (uint64_t)a->id << 32 | (uint64_t)n;
        it.check = check_of(it.tag);
        int rc;
        unsigned tries = 0;
        while ((rc = s->k->push(s->q, &it)) == WF_EAGAIN)
            wait_a_little(s, &tries);
        if (rc != 0)
            WT_FAIL("producer %d: push: %s (%d)", a->id, wf_strerror(rc), rc);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct worker_arg *a = arg;
    struct stress *s = a->s;
    long *last = malloc(sizeof *last * (size_t)s->producers);
    WT_CHECK(last != NULL);
    for (int p = 0; p < s->producers; p++)
        last[p] = -1;
    if (!s->fibers)
        pthread_barrier_wait(&s->start);
    unsigned tries = 0;
    while (atomic_load_explicit(&s->popped, memory_order_relaxed) < s->total) {
        struct item it;
        int rc = s->k->pop(s->q, &it);
        if (rc == WF_EAGAIN) {
            wait_a_little(s, &tries);
            continue;
        }
        tries = 0;
        if (rc != 0)
            WT_FAIL("consumer %d: pop: %s (%d)", a->id, wf_strerror(rc), rc);
        if (it.check != check_of(it.tag))
            WT_FAIL("consumer %d: torn item %#llx/%#llx", a->id,
                    (unsigned long long)it.tag, (unsigned long long)it.check);
        long p = (long)(it.tag >> 32), n = (long)(it.tag & 0xFFFFFFFFu);
        if (p >= s->producers || n >= s->per_producer)
            WT_FAIL("consumer %d: item %#llx was never pushed", a->id,
                    (unsigned long long)it.tag);
        if (n <= last[p])
            WT_FAIL("consumer %d: producer %ld's item %ld after its item %ld",
                    a->id, p, n, last[p]);
        last[p] = n;
        atomic_fetch_add_explicit(&s->count[p * s->per_producer + n], 1,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&s->popped, 1, memory_order_relaxed);
    }
    free(last);
    return NULL;
}

static void stress_init(struct stress *s, const struct kind *k, int producers,
                        int consumers, long total, bool fibers)
{
    uint64_t rng = wt_seed();
    memset(s, 0, sizeof *s);
    size_t cap = (size_t)1 << (1 + wt_rand(&rng) % 10);
    /* A small queue makes the two sides take turns every few items, and
     * on a loaded machine a turn can cost a time slice: at most 20,000
     * items per slot keeps the number of turns, not just of items,
     * bounded. */
    if (total > (long)cap * 20000)
        total = (long)cap * 20000;
    s->k = k;
    s->producers = producers;
    s->consumers = consumers;
    s->per_producer = total / producers;
    s->total = s->per_producer * producers;
    s->fibers = fibers;
    atomic_init(&s->popped, 0);
    s->count = malloc(sizeof *s->count * (size_t)s->total);
    WT_CHECK(s->count != NULL);
    for (long i = 0; i < s->total; i++)
        atomic_init(&s->count[i], 0);
    s->q = make(k, cap, sizeof(struct item));
    fprintf(stderr, "%s: %d producers, %d consumers, %ld items, capacity %zu, "
            "seed WT_SEED=%llu\n", k->name, producers, consumers, s->total,
            cap, (unsigned long long)wt_seed());
}

/* After every producer and consumer has been joined. */
static void stress_check(struct stress *s)
{
    WT_CHECK_EQ(atomic_load(&s->popped), s->total);
    for (long i = 0; i < s->total; i++)
        if (atomic_load_explicit(&s->count[i], memory_order_relaxed) != 1)
            WT_FAIL("producer %ld's item %ld was popped %u times",
                    i / s->per_producer, i % s->per_producer,
                    (unsigned)atomic_load(&s->count[i]));
    struct item it;
    WT_CHECK_EQ(s->k->pop(s->q, &it), WF_EAGAIN);
    WT_CHECK_EQ(s->k->size(s->q), 0);
    s->k->destroy(s->q);
    free(s->count);
}

static void stress_threads(const struct kind *k, int producers, int consumers,
                           long total)
{
    struct stress s;
    stress_init(&s, k, producers, consumers, total, false);
    int n = producers + consumers;
    pthread_t *th = calloc((size_t)n, sizeof *th);
    struct worker_arg *args = calloc((size_t)n, sizeof *args);
    WT_CHECK(th && args);
    WT_CHECK_EQ(pthread_barrier_init(&s.start, NULL, (unsigned)n), 0);
    for (int i = 0; i < n; i++) {
        args[i].s = &s;
        args[i].id = i < producers ? i : i - producers;
        WT_CHECK_EQ(pthread_create(&th[i], NULL,
                                   i < producers ? producer : consumer,
                                   &args[i]), 0);
    }
    for (int i = 0; i < n; i++)
        WT_CHECK_EQ(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&s.start);
    stress_check(&s);
    free(th);
    free(args);
}

WT_CASE(mpmc_stress_4x4)
{
    int t = wt_threads(4);
    stress_threads(&kinds[0], t, t, scaled(2000000));
}

WT_CASE(mpmc_stress_1x1)
{
    stress_threads(&kinds[0], 1, 1, scaled(1000000));
}

WT_CASE(mpmc_stress_1x4)
{
    stress_threads(&kinds[0], 1, wt_threads(4), scaled(1000000));
}

WT_CASE(mpmc_stress_4x1)
{
    stress_threads(&kinds[0], wt_threads(4), 1, scaled(1000000));
}

WT_CASE(spsc_stress)
{
    /* One consumer, so "per-producer order at each consumer" is the
     * exact order of the pushes. */
    stress_threads(&kinds[1], 1, 1, scaled(4000000));
}

/* ---- fibers ------------------------------------------------------------------ */

static void *stress_fibers_main(void *arg)
{
    struct stress *s = arg;
    int n = s->producers + s->consumers;
    struct wf_fiber *f = calloc((size_t)n, sizeof *f);
    struct worker_arg *args = calloc((size_t)n, sizeof *args);
    WT_CHECK(f && args);
    /* Consumers first, so that they start on an empty queue. */
    for (int i = 0; i < n; i++) {
        bool cons = i < s->consumers;
        args[i].s = s;
        args[i].id = cons ? i : i - s->consumers;
        int rc = wf_go(&f[i], cons ? consumer : producer, &args[i]);
        if (rc != 0)
            WT_FAIL("wf_go: %s (%d)", wf_strerror(rc), rc);
    }
    for (int i = 0; i < n; i++) {
        int rc = wf_join(f[i], NULL, WF_FOREVER);
        if (rc != 0)
            WT_FAIL("wf_join: %s (%d)", wf_strerror(rc), rc);
    }
    free(f);
    free(args);
    return NULL;
}

static void stress_fibers(const struct kind *k, int producers, int consumers,
                          long total)
{
    struct stress s;
    stress_init(&s, k, producers, consumers, total, true);
    struct wf_config c;
    memset(&c, 0, sizeof c);
    c.workers = 4;
    void *res = (void *)&c;
    int rc = wf_run(&c, stress_fibers_main, &s, &res);
    if (rc != 0)
        WT_FAIL("wf_run: %s (%d)", wf_strerror(rc), rc);
    WT_CHECK(res == NULL);
    stress_check(&s);
}

WT_CASE(mpmc_fibers)
{
    int t = wt_threads(4);
    stress_fibers(&kinds[0], t, t, scaled(400000));
}

WT_CASE(spsc_fibers)
{
    /* One producer fiber and one consumer fiber, which may each move
     * between the 4 workers: the scheduler orders each one's calls. */
    stress_fibers(&kinds[1], 1, 1, scaled(400000));
}

/* Plain threads and fibers on one queue: two producer threads feed two
 * consumer fibers. */
static void *mixed_main(void *arg)
{
    struct stress *s = arg;
    struct wf_fiber f[2];
    struct worker_arg args[2];
    for (int i = 0; i < 2; i++) {
        args[i].s = s;
        args[i].id = i;
        WT_CHECK_EQ(wf_go(&f[i], consumer, &args[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        WT_CHECK_EQ(wf_join(f[i], NULL, WF_FOREVER), 0);
    return NULL;
}

static void *mixed_producer(void *arg)
{
    struct worker_arg *a = arg;
    struct stress *s = a->s;
    for (long n = 0; n < s->per_producer; n++) {
        struct item it;
        it.tag = (uint64_t)a->id << 32 | (uint64_t)n;
        it.check = check_of(it.tag);
        while (wf_mpmc_try_push(s->q, &it) == WF_EAGAIN)
            sched_yield();
    }
    return NULL;
}

WT_CASE(mpmc_threads_and_fibers)
{
    struct stress s;
    stress_init(&s, &kinds[0], 2, 2, scaled(400000), true);
    s.fed_by_threads = true;
    pthread_t th[2];
    struct worker_arg args[2];
    for (int i = 0; i < 2; i++) {
        args[i].s = &s;
        args[i].id = i;
        WT_CHECK_EQ(pthread_create(&th[i], NULL, mixed_producer, &args[i]),
                    0);
    }
    struct wf_config c;
    memset(&c, 0, sizeof c);
    c.workers = 2;
    int rc = wf_run(&c, mixed_main, &s, NULL);
    if (rc != 0)
        WT_FAIL("wf_run: %s (%d)", wf_strerror(rc), rc);
    for (int i = 0; i < 2; i++)
        WT_CHECK_EQ(pthread_join(th[i], NULL), 0);
    stress_check(&s);
}

WT_MAIN()
