/* SPDX-License-Identifier: MIT */
/*
 * bench/peers/ck_ring.c - Concurrency Kit's ck_ring in the shapes that
 * weft-bench's `mpmc` and `ring` groups measure, for bench/compare.sh.
 *
 *   ck_mpmc_mops  ck_ring_*_mpmc, 2 producer and 2 consumer threads
 *   ck_spsc_mops  ck_ring_*_spsc, 1 producer and 1 consumer thread
 *
 * Everything else is as in weft-bench: a ring of 1,024 slots (ck_ring keeps
 * one slot empty, so it holds 1,023 items against weft's 1,024), 8-byte
 * items (ck_ring stores pointers; ours are integers cast to pointers),
 * 4,000,000 items a repetition split between the producers, one stop item
 * (0) per producer, sched_yield() on full or empty, time from the moment
 * all threads start until the last consumer is done, millions of items per
 * second, median of 5 repetitions. Printed as `name value unit` lines.
 *
 *   cc -O2 -pthread -o ck_ring ck_ring.c   (ck_ring is header-only)
 */
#define _GNU_SOURCE
#include <ck_ring.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../timing.h"

#define REPS 5
#define ITEMS 4000000L
#define SLOTS 1024


struct bench {
    _Alignas(64) struct ck_ring ring;
    _Alignas(64) ck_ring_buffer_t buf[SLOTS];
    bool spsc;
    int pairs;
    pthread_barrier_t start;
    atomic_long popped;
};

static bool push(struct bench *b, uint64_t v)
{
    void *p = (void *)(uintptr_t)v;
    return b->spsc ? ck_ring_enqueue_spsc(&b->ring, b->buf, p)
                   : ck_ring_enqueue_mpmc(&b->ring, b->buf, p);
}

static bool pop(struct bench *b, uint64_t *v)
{
    void *p = NULL;
    bool ok = b->spsc ? ck_ring_dequeue_spsc(&b->ring, b->buf, &p)
                      : ck_ring_dequeue_mpmc(&b->ring, b->buf, &p);
    *v = (uint64_t)(uintptr_t)p;
    return ok;
}

static void *producer(void *arg)
{
    struct bench *b = arg;
    uint64_t n = (uint64_t)(ITEMS / b->pairs);
    pthread_barrier_wait(&b->start);
    for (uint64_t v = 1; v <= n + 1; v++) {
        uint64_t item = v <= n ? v : 0;
        while (!push(b, item))
            sched_yield();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct bench *b = arg;
    long got = 0;
    pthread_barrier_wait(&b->start);
    for (;;) {
        uint64_t item;
        if (!pop(b, &item)) {
            sched_yield();
            continue;
        }
        if (item == 0)
            break;
        got++;
    }
    atomic_fetch_add(&b->popped, got);
    return NULL;
}

static double round_mops(struct bench *b, bool spsc, int pairs)
{
    pthread_t th[8];
    ck_ring_init(&b->ring, SLOTS);
    b->spsc = spsc;
    b->pairs = pairs;
    atomic_store(&b->popped, 0);
    pthread_barrier_init(&b->start, NULL, (unsigned)(2 * pairs + 1));
    for (int i = 0; i < 2 * pairs; i++)
        pthread_create(&th[i], NULL, i < pairs ? producer : consumer, b);
    pthread_barrier_wait(&b->start);
    int64_t t0 = now_ns();
    for (int i = 0; i < 2 * pairs; i++)
        pthread_join(th[i], NULL);
    int64_t t1 = now_ns();
    pthread_barrier_destroy(&b->start);
    long want = ITEMS / pairs * pairs;
    if (atomic_load(&b->popped) != want) {
        fprintf(stderr, "ck_ring: lost items: %ld of %ld\n",
                atomic_load(&b->popped), want);
        return -1;
    }
    return (double)want / (double)(t1 - t0) * 1e3;
}

static int measure(const char *name, bool spsc, int pairs)
{
    static struct bench b;
    double v[REPS];
    for (int r = 0; r < REPS; r++)
        if ((v[r] = round_mops(&b, spsc, pairs)) < 0)
            return 1;
    printf("%s %.2f Mitems/s\n", name, median(v, REPS));
    fflush(stdout);
    return 0;
}

int main(void)
{
    int status = measure("ck_mpmc_mops", false, 2);
    status |= measure("ck_spsc_mops", true, 1);
    return status;
}
