/* SPDX-License-Identifier: MIT */
/*
 * tests/core/core_fiber.c - part of test_core (see test_core.c): one fiber's properties: yields and migration (the TLS trap),
 * stack sizes, pinning, names and ids, fiber-local storage.
 */
#include "core_cases.h"

/* ---- yields, migration, the TLS trap ---------------------------------- */

static _Thread_local int tls_var;

/* The current thread's &tls_var, computed afresh at every call. */
static WT_OPAQUE int *tls_addr(void)
{
    return &tls_var;
}

/* Worker index -> the TLS address of the thread it runs on, as seen by the
 * fibers: one worker must always be one thread. */
static _Atomic(uintptr_t) worker_tls[64];

static void note_worker(int w, int *tls)
{
    if (w < 0 || w >= 64)
        WT_FAIL("wf_worker_index() = %d", w);
    uintptr_t seen = 0;
    if (!atomic_compare_exchange_strong(&worker_tls[w], &seen, (uintptr_t)tls) &&
        seen != (uintptr_t)tls)
        WT_FAIL("worker %d ran on two threads (tls %p and %p)", w, (void *)seen,
                (void *)tls);
}

struct yielder {
    int yields;
    int sleep_too;
    int moves;
};

static void *yielder_fn(void *arg)
{
    struct yielder *y = arg;
    unsigned char local[96];
    for (size_t i = 0; i < sizeof local; i++)
        local[i] = (unsigned char)(P2U(arg) * 31 + i);
    int w = wf_worker_index();
    /* the trap: a TLS address kept in a local across switches */
    int *tls = tls_addr();
    note_worker(w, tls);
    for (int i = 0; i < y->yields; i++) {
        if (y->sleep_too && i % 8 == 7)
            WT_CHECK_EQ(wf_sleep(0 == i % 3 ? 0 : 100 * WF_USEC), 0);
        else
            WT_CHECK_EQ(wf_yield(), 0);
        int w2 = wf_worker_index();
        int *tls2 = tls_addr();
        note_worker(w2, tls2);
        if (w2 != w) {
            y->moves++;
            /* another OS thread: the address kept in `tls` is stale */
            WT_CHECK(tls2 != tls);
        } else {
            WT_CHECK(tls2 == tls);
        }
        w = w2;
        tls = tls2;
        for (size_t k = 0; k < sizeof local; k++)
            if (local[k] != (unsigned char)(P2U(arg) * 31 + k))
                WT_FAIL("fiber's local byte %zu changed across a yield", k);
    }
    return NULL;
}

static struct yielder *yielders;

static void *yields_main(void *arg)
{
    int n = (int)P2U(arg);
    struct wf_fiber *h = malloc((size_t)n * sizeof *h);
    WT_CHECK(h != NULL);
    for (int i = 0; i < n; i++)
        h[i] = go(yielder_fn, &yielders[i]);
    for (int i = 0; i < n; i++)
        join(h[i]);
    free(h);
    return NULL;
}

WT_CASE(yields_across_workers)
{
    int n = 1000;
    yielders = calloc((size_t)n, sizeof *yielders);
    /* Short sleeps among the yields leave workers idle now and then, so
     * that they steal fibers which have already run elsewhere: without
     * them, equal loads on busy workers may never be rebalanced (seen
     * under TSan, where the spawning phase alone spreads the fibers). */
    for (int i = 0; i < n; i++) {
        yielders[i].yields = 200;
        yielders[i].sleep_too = 1;
    }
    unsetenv("WEFT_DEBUG_MIGRATE");
    run_main(4, yields_main, U2P(n));
    long moves = 0;
    for (int i = 0; i < n; i++)
        moves += yielders[i].moves;
    fprintf(stderr, "%ld migrations over %d yields\n", moves, n * 200);
    WT_CHECK(moves > 0);
    free(yielders);
}

/* WEFT_DEBUG_MIGRATE=1: every fiber that yields or wakes is moved, so every
 * fiber must have been seen on two workers. */
WT_CASE(yields_debug_migrate)
{
    int n = 200;
    yielders = calloc((size_t)n, sizeof *yielders);
    for (int i = 0; i < n; i++) {
        yielders[i].yields = 50;
        yielders[i].sleep_too = i % 2;
    }
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(4, yields_main, U2P(n));
    long moves = 0;
    for (int i = 0; i < n; i++) {
        if (yielders[i].moves == 0)
            WT_FAIL("fiber %d never migrated under WEFT_DEBUG_MIGRATE=1", i);
        moves += yielders[i].moves;
    }
    fprintf(stderr, "%ld migrations over %d switches\n", moves, n * 50);
    free(yielders);
}

/* ---- stack sizes ----------------------------------------------------- */

/* Uses about depth KiB of stack. */
static WT_OPAQUE int use_stack(int depth)
{
    volatile char buf[1024];
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = (char)depth;
    if (depth <= 1)
        return buf[0];
    return use_stack(depth - 1) + buf[512];
}

static void *stack_user(void *arg)
{
    use_stack((int)P2U(arg));
    return arg;
}

static void *stack_size_main(void *arg)
{
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    struct wf_fiber f;
    /* 1 MiB stack, 600 KiB used */
    o.stack_size = 1 << 20;
    WT_CHECK_EQ(wf_go_opts(&f, &o, stack_user, U2P(600)), 0);
    WT_CHECK_EQ(P2U(join(f)), 600);
    /* tiny sizes are rounded up to at least 16 KiB */
    o.stack_size = 1;
    WT_CHECK_EQ(wf_go_opts(&f, &o, stack_user, U2P(6)), 0);
    WT_CHECK_EQ(P2U(join(f)), 6);
    /* the runtime's default, set to 512 KiB by the case */
    WT_CHECK_EQ(P2U(join(go(stack_user, U2P(400)))), 400);
    return NULL;
}

WT_CASE(stack_sizes_honoured)
{
    struct wf_config c = config(2);
    c.stack_size = 512 * 1024;
    void *r;
    WT_CHECK_EQ(wf_run(&c, stack_size_main, NULL, &r), 0);
    /* the same default through WEFT_STACK_SIZE */
    setenv("WEFT_STACK_SIZE", "512k", 1);
    c.stack_size = 0;
    WT_CHECK_EQ(wf_run(&c, stack_size_main, NULL, &r), 0);
}

/* ---- pinning ---------------------------------------------------------- */

struct pin_arg {
    int k;
    int pin_self;
    int iters;
};

static void *pinned_fn(void *arg)
{
    struct pin_arg *p = arg;
    uint64_t rng = wt_seed() ^ P2U(arg);
    int k = p->k;
    if (p->pin_self) {
        for (int i = 0; i < 10; i++)
            WT_CHECK_EQ(wf_yield(), 0);
        k = wf_pin_self();
        WT_CHECK(k >= 0 && k < wf_workers());
        WT_CHECK_EQ(wf_worker_index(), k);
        WT_CHECK_EQ(wf_pin_self(), k);
        p->k = k;
    }
    WT_CHECK_EQ(wf_worker_index(), k);
    for (int i = 0; i < p->iters; i++) {
        switch (wt_rand(&rng) % 4) {
        case 0:
        case 1:
            WT_CHECK_EQ(wf_yield(), 0);
            break;
        case 2:
            WT_CHECK_EQ(wf_sleep((int64_t)(wt_rand(&rng) % (300 * WF_USEC))), 0);
            break;
        case 3:
            WT_CHECK_EQ(wf_unpark(wf_self()), 0);
            WT_CHECK_EQ(wf_park(WF_FOREVER), 0);
            break;
        }
        if (wf_worker_index() != k)
            WT_FAIL("pinned fiber moved from worker %d to %d", k,
                    wf_worker_index());
    }
    return U2P(k);
}

static void *pinned_main(void *arg)
{
    int pin_self = (int)P2U(arg);
    enum { N = 32 };
    static struct pin_arg p[N];
    struct wf_fiber h[N];
    for (int i = 0; i < N; i++) {
        p[i] = (struct pin_arg){i % 4, pin_self, 200};
        if (pin_self)
            h[i] = go(pinned_fn, &p[i]);
        else
            h[i] = go_named("pinned", i % 4, pinned_fn, &p[i]);
    }
    for (int i = 0; i < N; i++)
        WT_CHECK_EQ(P2U(join(h[i])), p[i].k);
    return NULL;
}

WT_CASE(pinned_worker)
{
    wt_seed();
    unsetenv("WEFT_DEBUG_MIGRATE");
    run_main(4, pinned_main, U2P(0));
}

WT_CASE(pinned_worker_debug_migrate)
{
    wt_seed();
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(4, pinned_main, U2P(0));
}

WT_CASE(pin_self)
{
    wt_seed();
    unsetenv("WEFT_DEBUG_MIGRATE");
    run_main(4, pinned_main, U2P(1));
}

WT_CASE(pin_self_debug_migrate)
{
    wt_seed();
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(4, pinned_main, U2P(1));
}

WT_CASE(pinned_from_plain_thread)
{
    static struct pin_arg p[8];
    struct wf_fiber h[8];
    wt_seed();
    struct wf_config c = config(4);
    WT_CHECK_EQ(wf_init(&c), 0);
    for (int i = 0; i < 8; i++) {
        p[i] = (struct pin_arg){3 - i % 4, 0, 100};
        h[i] = go_named(NULL, p[i].k, pinned_fn, &p[i]);
    }
    for (int i = 0; i < 8; i++)
        WT_CHECK_EQ(P2U(join(h[i])), p[i].k);
    shutdown_clean();
}

/* ---- names and ids ---------------------------------------------------- */

struct name_probe {
    atomic_int go;
    char seen[64];
    uint64_t id;
    int null_name;
};

static void *name_fn(void *arg)
{
    struct name_probe *p = arg;
    fiber_wait(&p->go, 1);
    const char *n = wf_self_name();
    p->null_name = n == NULL;
    if (n) {
        WT_CHECK(strlen(n) <= WF_NAME_MAX);
        snprintf(p->seen, sizeof p->seen, "%s", n);
    }
    p->id = wf_self().id;
    WT_CHECK_EQ(wf_yield(), 0);
    /* the same after a switch */
    WT_CHECK(wf_self_name() != NULL && strcmp(wf_self_name(), p->seen) == 0);
    WT_CHECK_EQ(wf_self().id, p->id);
    return NULL;
}

static void *names_main(void *arg)
{
    static struct name_probe p[5];
    char buf[64];
    const char *long_name = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"; /* 42 */
    char exact[WF_NAME_MAX + 1];
    memset(exact, 'x', WF_NAME_MAX);
    exact[WF_NAME_MAX] = '\0';

    strcpy(buf, "alpha");
    struct wf_fiber h0 = go_named(buf, WF_ANY_WORKER, name_fn, &p[0]);
    strcpy(buf, "CHANGED"); /* the name was copied */
    struct wf_fiber h1 = go_named(long_name, WF_ANY_WORKER, name_fn, &p[1]);
    struct wf_fiber h2 = go_named(exact, WF_ANY_WORKER, name_fn, &p[2]);
    struct wf_fiber h3 = go(name_fn, &p[3]);
    struct wf_fiber h4 = go_named("", 1, name_fn, &p[4]);
    for (int i = 0; i < 5; i++)
        atomic_store(&p[i].go, 1);
    join(h0);
    join(h1);
    join(h2);
    join(h3);
    join(h4);
    for (int i = 0; i < 5; i++)
        WT_CHECK(!p[i].null_name);
    WT_CHECK(strcmp(p[0].seen, "alpha") == 0);
    WT_CHECK_EQ(strlen(p[1].seen), WF_NAME_MAX);
    WT_CHECK(strncmp(p[1].seen, long_name, WF_NAME_MAX) == 0);
    WT_CHECK(strcmp(p[2].seen, exact) == 0);
    WT_CHECK(strcmp(p[3].seen, "") == 0);
    WT_CHECK(strcmp(p[4].seen, "") == 0);
    /* wf_self().id is the handle the spawner got */
    WT_CHECK_EQ(p[0].id, h0.id);
    WT_CHECK_EQ(p[1].id, h1.id);
    WT_CHECK_EQ(p[2].id, h2.id);
    WT_CHECK_EQ(p[3].id, h3.id);
    WT_CHECK_EQ(p[4].id, h4.id);
    return NULL;
}

WT_CASE(names)
{
    run_main(2, names_main, NULL);
}

static _Atomic(uint64_t) *self_ids;

static void *id_fn(void *arg)
{
    atomic_store(&self_ids[P2U(arg)], wf_self().id);
    fiber_wait(&release_flag, 1);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *ids_main(void *arg)
{
    enum { N = 2000 };
    struct wf_fiber *h = malloc(N * sizeof *h);
    uint64_t *ids = malloc(N * sizeof *ids);
    self_ids = calloc(N, sizeof *self_ids);
    WT_CHECK(h && ids && self_ids);
    uint64_t main_id = wf_self().id;
    WT_CHECK(main_id != 0);
    for (int i = 0; i < N; i++)
        h[i] = go(id_fn, U2P(i));
    /* wait until every one has run (they stay alive until released) */
    for (int i = 0; i < N; i++)
        while (atomic_load(&self_ids[i]) == 0)
            WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    for (int i = 0; i < N; i++) {
        WT_CHECK_EQ(atomic_load(&self_ids[i]), h[i].id);
        WT_CHECK(h[i].id != main_id);
        ids[i] = h[i].id;
    }
    qsort(ids, N, sizeof *ids, cmp_u64);
    for (int i = 1; i < N; i++)
        if (ids[i] == ids[i - 1])
            WT_FAIL("two live fibers share id %llu", (unsigned long long)ids[i]);
    atomic_store(&release_flag, 1);
    for (int i = 0; i < N; i++)
        join(h[i]);
    free(h);
    free(ids);
    free((void *)self_ids);
    return NULL;
}

WT_CASE(ids_distinct_and_match_handles)
{
    run_main(2, ids_main, NULL);
}

WT_CASE(plain_thread_identity)
{
    WT_CHECK_EQ(wf_self().id, 0);
    WT_CHECK(wf_self_name() == NULL);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    WT_CHECK_EQ(wf_self().id, 0);
    WT_CHECK(wf_self_name() == NULL);
    WT_CHECK(!wf_cancelled());
    shutdown_clean();
    WT_CHECK_EQ(wf_self().id, 0);
}

/* ---- fiber-local storage ---------------------------------------------- */

static unsigned fls_key;

struct fls_pair {
    int value;
    atomic_int *ticks;   /* shared step counter */
    atomic_int *started; /* fibers that have set their value */
    int interleaved;
};

static void *fls_pair_fn(void *arg)
{
    struct fls_pair *p = arg;
    WT_CHECK(wf_fls_get(fls_key) == NULL); /* NULL until set */
    WT_CHECK_EQ(wf_fls_set(fls_key, &p->value), 0);
    /* Both on worker 0 before either counts: the spawner runs on another
     * worker, and a descheduled spawner let the first fiber finish all
     * its steps before the second arrived (no interleaving: a flake). */
    atomic_fetch_add(p->started, 1);
    while (atomic_load(p->started) < 2) {
        WT_CHECK_EQ(wf_yield(), 0);
        if (wf_fls_get(fls_key) != &p->value)
            WT_FAIL("fls value of fiber %d lost while waiting", p->value);
    }
    for (int i = 0; i < 200; i++) {
        int before = atomic_fetch_add(p->ticks, 1) + 1;
        WT_CHECK_EQ(wf_yield(), 0);
        WT_CHECK_EQ(wf_worker_index(), 0);
        if (atomic_load(p->ticks) != before)
            p->interleaved++; /* the other fiber ran meanwhile */
        if (wf_fls_get(fls_key) != &p->value)
            WT_FAIL("fls value of fiber %d lost at step %d", p->value, i);
    }
    return NULL;
}

static void *fls_one_worker_main(void *arg)
{
    static struct fls_pair p[2];
    static atomic_int ticks, started;
    WT_CHECK_EQ(wf_fls_key_create(&fls_key, NULL), 0);
    WT_CHECK(wf_fls_get(fls_key) == NULL);
    p[0] = (struct fls_pair){1, &ticks, &started, 0};
    p[1] = (struct fls_pair){2, &ticks, &started, 0};
    struct wf_fiber a = go_named("fls-a", 0, fls_pair_fn, &p[0]);
    struct wf_fiber b = go_named("fls-b", 0, fls_pair_fn, &p[1]);
    join(a);
    join(b);
    WT_CHECK(p[0].interleaved + p[1].interleaved > 0);
    WT_CHECK(wf_fls_get(fls_key) == NULL); /* main's own value untouched */
    return NULL;
}

WT_CASE(fls_per_fiber_one_worker)
{
    run_main(2, fls_one_worker_main, NULL);
}

struct fls_mig {
    int value;
    int moves;
};

static void *fls_mig_fn(void *arg)
{
    struct fls_mig *m = arg;
    WT_CHECK(wf_fls_get(fls_key) == NULL);
    WT_CHECK_EQ(wf_fls_set(fls_key, &m->value), 0);
    int w = wf_worker_index();
    for (int i = 0; i < 50; i++) {
        if (i % 5 == 4)
            WT_CHECK_EQ(wf_sleep(50 * WF_USEC), 0);
        else
            WT_CHECK_EQ(wf_yield(), 0);
        int w2 = wf_worker_index();
        m->moves += w2 != w;
        w = w2;
        WT_CHECK(wf_fls_get(fls_key) == &m->value);
    }
    return NULL;
}

static void *fls_mig_main(void *arg)
{
    enum { N = 100 };
    static struct fls_mig m[N];
    struct wf_fiber h[N];
    WT_CHECK_EQ(wf_fls_key_create(&fls_key, NULL), 0);
    for (int i = 0; i < N; i++) {
        m[i].value = i;
        h[i] = go(fls_mig_fn, &m[i]);
    }
    for (int i = 0; i < N; i++)
        join(h[i]);
    for (int i = 0; i < N; i++)
        WT_CHECK(m[i].moves > 0);
    return NULL;
}

WT_CASE(fls_survives_migration)
{
    setenv("WEFT_DEBUG_MIGRATE", "1", 1);
    run_main(4, fls_mig_main, NULL);
}

#define DT_N 400
static unsigned dt_key1, dt_key2, dt_key3;
static int dt_vals[DT_N], dt_alt[DT_N], dt_vals2[DT_N];
static atomic_int dt_count[DT_N], dt_alt_count[DT_N], dt_count2[DT_N];
static atomic_int dt_bad;

static void dtor1(void *v)
{
    int *p = v;
    if (p >= dt_vals && p < dt_vals + DT_N)
        atomic_fetch_add(&dt_count[p - dt_vals], 1);
    else if (p >= dt_alt && p < dt_alt + DT_N)
        atomic_fetch_add(&dt_alt_count[p - dt_alt], 1);
    else
        atomic_fetch_add(&dt_bad, 1);
}

static void dtor2(void *v)
{
    int *p = v;
    if (p >= dt_vals2 && p < dt_vals2 + DT_N)
        atomic_fetch_add(&dt_count2[p - dt_vals2], 1);
    else
        atomic_fetch_add(&dt_bad, 1);
}

/* mode i % 5: 0 set; 1 nothing; 2 set then NULL; 3 set alt then overwrite
 * with the final value; 4 set on both keys (and on a key without
 * destructor). */
static void *dt_fn(void *arg)
{
    int i = (int)P2U(arg);
    WT_CHECK(wf_fls_get(dt_key1) == NULL);
    WT_CHECK(wf_fls_get(dt_key2) == NULL);
    switch (i % 5) {
    case 0:
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_vals[i]), 0);
        break;
    case 1:
        break;
    case 2:
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_vals[i]), 0);
        WT_CHECK_EQ(wf_yield(), 0);
        WT_CHECK_EQ(wf_fls_set(dt_key1, NULL), 0);
        break;
    case 3:
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_alt[i]), 0);
        WT_CHECK_EQ(wf_yield(), 0);
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_vals[i]), 0);
        break;
    case 4:
        WT_CHECK_EQ(wf_fls_set(dt_key1, &dt_vals[i]), 0);
        WT_CHECK_EQ(wf_fls_set(dt_key2, &dt_vals2[i]), 0);
        WT_CHECK_EQ(wf_fls_set(dt_key3, &dt_alt[i]), 0);
        break;
    }
    WT_CHECK_EQ(wf_yield(), 0);
    /* no destructor has run for this fiber yet */
    WT_CHECK_EQ(atomic_load(&dt_count[i]), 0);
    return arg;
}

static int dt_expected(int i)
{
    return i % 5 != 1 && i % 5 != 2;
}

static void *dt_main(void *arg)
{
    struct wf_fiber h[DT_N];
    WT_CHECK_EQ(wf_fls_key_create(&dt_key1, dtor1), 0);
    WT_CHECK_EQ(wf_fls_key_create(&dt_key2, dtor2), 0);
    WT_CHECK_EQ(wf_fls_key_create(&dt_key3, NULL), 0);
    WT_CHECK(dt_key1 != dt_key2 && dt_key2 != dt_key3 && dt_key1 != dt_key3);
    /* the first half joined, the second half detached */
    for (int i = 0; i < DT_N; i++)
        h[i] = go(dt_fn, U2P(i));
    for (int i = 0; i < DT_N / 2; i++)
        WT_CHECK_EQ(P2U(join(h[i])), i);
    for (int i = DT_N / 2; i < DT_N; i++)
        WT_CHECK_EQ(wf_detach(h[i]), 0);
    /* a joined fiber has returned, destructors included */
    for (int i = 0; i < DT_N / 2; i++) {
        WT_CHECK_EQ(atomic_load(&dt_count[i]), dt_expected(i));
        WT_CHECK_EQ(atomic_load(&dt_count2[i]), i % 5 == 4);
    }
    /* detached ones: wait until every expected call has come */
    for (int i = DT_N / 2; i < DT_N; i++)
        while (atomic_load(&dt_count[i]) < dt_expected(i) ||
               atomic_load(&dt_count2[i]) < (i % 5 == 4))
            WT_CHECK_EQ(wf_sleep(WF_MSEC), 0);
    WT_CHECK_EQ(wf_sleep(20 * WF_MSEC), 0); /* room for extra calls */
    return NULL;
}

WT_CASE(fls_destructors)
{
    run_main(2, dt_main, NULL);
    for (int i = 0; i < DT_N; i++) {
        if (atomic_load(&dt_count[i]) != dt_expected(i))
            WT_FAIL("fiber %d: destructor ran %d times, want %d", i,
                    atomic_load(&dt_count[i]), dt_expected(i));
        WT_CHECK_EQ(atomic_load(&dt_count2[i]), i % 5 == 4);
        WT_CHECK_EQ(atomic_load(&dt_alt_count[i]), 0); /* overwritten */
    }
    WT_CHECK_EQ(atomic_load(&dt_bad), 0);
}

static unsigned ex_keys[WF_FLS_KEYS];

static void *fls_exhaust_main(void *arg)
{
    int made = (int)P2U(arg);
    unsigned k = 0xdeadbeef;
    int rc;
    while ((rc = wf_fls_key_create(&k, NULL)) == 0) {
        WT_CHECK(made < WF_FLS_KEYS);
        ex_keys[made++] = k;
        k = 0xdeadbeef;
    }
    WT_CHECK_EQ(rc, WF_EAGAIN);
    WT_CHECK_EQ(k, 0xdeadbeef); /* untouched on error */
    WT_CHECK_EQ(made, WF_FLS_KEYS);
    WT_CHECK_EQ(wf_fls_key_create(&k, NULL), WF_EAGAIN);
    for (int i = 0; i < made; i++)
        for (int j = 0; j < i; j++)
            WT_CHECK(ex_keys[i] != ex_keys[j]);
    /* every key works */
    for (int i = 0; i < made; i++)
        WT_CHECK_EQ(wf_fls_set(ex_keys[i], U2P(i + 1)), 0);
    WT_CHECK_EQ(wf_yield(), 0);
    for (int i = 0; i < made; i++)
        WT_CHECK_EQ(P2U(wf_fls_get(ex_keys[i])), i + 1);
    /* values that are no key */
    unsigned bad[] = {UINT_MAX, 0x7fffffffu, 1000000};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        int is_key = 0;
        for (int i = 0; i < made; i++)
            is_key |= ex_keys[i] == bad[b];
        if (is_key)
            continue;
        WT_CHECK_EQ(wf_fls_set(bad[b], U2P(1)), WF_EINVAL);
        WT_CHECK(wf_fls_get(bad[b]) == NULL);
    }
    for (int i = 0; i < made; i++)
        WT_CHECK_EQ(P2U(wf_fls_get(ex_keys[i])), i + 1);
    return NULL;
}

WT_CASE(fls_key_exhaustion)
{
    /* keys may be made before any runtime exists */
    int made = 0;
    for (; made < 10; made++)
        WT_CHECK_EQ(wf_fls_key_create(&ex_keys[made], NULL), 0);
    run_main(2, fls_exhaust_main, U2P(made));
}
