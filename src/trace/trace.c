/* SPDX-License-Identifier: MIT */
/*
 * The tracer: per-thread event rings, and the Chrome Trace Event JSON
 * writer (format: docs/TRACE_FORMAT.md; public API: weft/trace.h).
 *
 * Rings. Each thread that records gets a ring on its first event
 * (thread-local, registered in a list that only grows at its head, under
 * reg_lock; a worker's ring carries its index, set by
 * wf__trace_thread_worker). Only the owner writes it: slot head % cap,
 * then head++, so a full ring overwrites its oldest events, and
 * head - cap of them are dropped. A ring belongs to one tracing session
 * (`session`): the owner resets it when it first records in a new one,
 * so wf_trace_start touches no ring.
 *
 * Stop against recorders (a Dekker pair per ring). A recorder stores
 * busy = 1 (seq_cst), then loads wf__trace_on (seq_cst) and records only
 * if it is still set, then stores busy = 0 (release). The stopper stores
 * wf__trace_on = 0 (seq_cst), then waits for each ring's busy to read 0
 * (seq_cst, so acquire: pairs with that release). Either the recorder
 * sees the flag off and writes nothing, or the stopper sees busy and
 * waits for the record to be finished, so it then reads the ring without
 * a race; later recorders see the flag off. Rings are read, and dead
 * threads' rings freed (at the next start), only under ctl_lock, which
 * also serialises start and stop.
 *
 * Session data the recorders read (session, the ring size) is written
 * before the start's seq_cst store of wf__trace_on, which the recorder's
 * seq_cst load of it acquires.
 *
 * Writing. A first pass over every ring of the session collects fiber
 * names (spawn events); then each ring is walked in order, making fiber
 * slices (from the switch that started a fiber to the one that ended
 * it), task slices (merged while only steals and timers lie between
 * them), idle slices, steals, timers, spawns and marks. Pairs that cross
 * rings are sorted by time and matched through a hash table: wakes with
 * the next run of the same fiber (flow arrows), I/O begins with their
 * ends (by key), span begins with ends (per fiber, or per thread outside
 * fibers).
 *
 * Rejected: one shared ring with an atomic index (every event would move
 * a cache line between workers); a lock per ring (a plain thread
 * recording while the writer reads it could wait for the whole write).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/futex.h"
#include "trace.h"
#include "weft/trace.h"

#define TLS            _Thread_local __attribute__((tls_model("initial-exec")))
#define DEFAULT_EVENTS (1L << 20)
#define MIN_EVENTS     16L
#define MAX_EVENTS     (1L << 28)
#define IO_TID         1000
#define THREAD_TID     2000

struct wf__trace_hooks wf__trace_hooks;
atomic_bool wf__trace_on;

struct ring {
    struct ring *next; /* registry; set before it is published */
    atomic_int busy;   /* the owner records (Dekker with the stop) */
    atomic_bool dead;  /* its thread exited (release; acquire at start) */
    int worker;        /* worker index, or -1 for a plain thread */
    int thread;        /* plain thread number (its track 2000 + k) */
    /* Owner only while it records; the writer reads them under ctl_lock
     * after seeing busy == 0 with the flag off. */
    uint64_t session;
    uint64_t head;
    uint64_t cap;
    struct wf__tev *ev;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ring *rings; /* protected by reg_lock */
static int next_thread;    /* protected by reg_lock */
static pthread_key_t ring_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static atomic_ullong session; /* see the top: read after wf__trace_on */
static atomic_long ring_events = DEFAULT_EVENTS;
static atomic_int nworkers; /* relaxed: a count for the file's tracks */
/* The most workers a runtime had while this session traced: the file's
 * worker tracks (a trace without a runtime has none). relaxed, as
 * nworkers. */
static atomic_int session_workers;
#if defined(WEFT_TRACE_ENABLED)
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
/* The session's file and start; protected by ctl_lock. */
static int out_fd = -1;
static int64_t t0;
static uint64_t env_session; /* the session WEFT_TRACE started, or 0 */
#endif

static TLS struct ring *tls_ring;
static TLS int tls_worker = -1;

/* ---- recording ------------------------------------------------------------ */

static void ring_gone(void *p)
{
    struct ring *r = p;
    /* The thread is exiting, but another key's destructor may still
     * record (run after this one): it gets a new ring, which this
     * destructor marks in its next round, rather than this one, which a
     * start may free once it is dead. */
    tls_ring = NULL;
    /* release: the ring's last records before a start frees it. */
    atomic_store_explicit(&r->dead, true, memory_order_release);
}

static void make_key(void)
{
    if (pthread_key_create(&ring_key, ring_gone) != 0)
        ring_key = (pthread_key_t)-1;
}

void wf__trace_thread_worker(int index)
{
    tls_worker = index;
}

void wf__trace_workers(int n)
{
    atomic_store_explicit(&nworkers, n, memory_order_relaxed); /* a count */
    /* relaxed: counts; a start racing this sees either, and a worker
     * that records still adds its track (write_trace). */
    if (n > atomic_load_explicit(&session_workers, memory_order_relaxed))
        atomic_store_explicit(&session_workers, n, memory_order_relaxed);
}

void wf__trace_set_events(long n)
{
    long cap = MIN_EVENTS;
    if (n > MAX_EVENTS)
        n = MAX_EVENTS;
    while (cap < n)
        cap <<= 1;
    /* relaxed: read by recorders after the next start's seq_cst flag */
    atomic_store_explicit(&ring_events, cap, memory_order_relaxed);
}

static struct ring *ring_new(void)
{
    pthread_once(&key_once, make_key);
    struct ring *r = wf__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->worker = tls_worker;
    pthread_mutex_lock(&reg_lock);
    r->thread = r->worker < 0 ? next_thread++ : -1;
    r->next = rings;
    rings = r;
    pthread_mutex_unlock(&reg_lock);
    if (ring_key != (pthread_key_t)-1)
        pthread_setspecific(ring_key, r);
    tls_ring = r;
    return r;
}

/* First record of a session in r: empty it (and resize it). */
static bool ring_reset(struct ring *r, uint64_t s)
{
    uint64_t cap =
        (uint64_t)atomic_load_explicit(&ring_events, memory_order_relaxed);
    if (r->ev && r->cap != cap) {
        munmap(r->ev, r->cap * sizeof *r->ev);
        r->ev = NULL;
    }
    if (!r->ev) {
        void *p = wf__mmap(NULL, cap * sizeof *r->ev, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return false;
        r->ev = p;
        r->cap = cap;
    }
    r->head = 0;
    r->session = s;
    return true;
}

/* Set when a thread could not record for lack of memory for its ring
 * (its calloc or its events' mmap) in this session: the stop then says
 * so. relaxed: a flag read by the stop after the threads' busy words,
 * and cleared by the start; a loss racing the stop may go unreported. */
static atomic_bool ring_lost;

/* The calling thread's ring, marked busy and ready for this session, or
 * NULL (tracing went off, or no memory). */
static struct ring *enter(void)
{
    struct ring *r = tls_ring;
    if (!r && !(r = ring_new())) {
        atomic_store_explicit(&ring_lost, true, memory_order_relaxed);
        return NULL;
    }
    /* seq_cst: the Dekker with stop (top comment). */
    atomic_store_explicit(&r->busy, 1, memory_order_seq_cst);
    if (!atomic_load_explicit(&wf__trace_on, memory_order_seq_cst))
        goto out;
    /* relaxed: ordered by the seq_cst (acquire) load of the flag. */
    uint64_t s = atomic_load_explicit(&session, memory_order_relaxed);
    if (r->session != s && !ring_reset(r, s)) {
        atomic_store_explicit(&ring_lost, true, memory_order_relaxed);
        goto out;
    }
    return r;
out:
    atomic_store_explicit(&r->busy, 0, memory_order_release); /* top */
    return NULL;
}

static inline void leave(struct ring *r)
{
    /* release: the records before it, to the stop's load of busy. */
    atomic_store_explicit(&r->busy, 0, memory_order_release);
}

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline struct wf__tev *slot(struct ring *r)
{
    return &r->ev[r->head++ & (r->cap - 1)];
}

void wf__trace_emit(uint32_t kind, uint32_t a, uint64_t b, uint64_t c)
{
    struct ring *r = enter();
    if (!r)
        return;
    struct wf__tev *e = slot(r);
    e->ts = now_ns();
    e->kind = kind;
    e->a = a;
    e->b = b;
    e->c = c;
    leave(r);
}

void wf__trace_emit_named(uint32_t kind, uint32_t a, uint64_t b,
                          const char *name)
{
    struct ring *r = enter();
    if (!r)
        return;
    int64_t ts = now_ns();
    struct wf__tev *e = slot(r);
    e->ts = ts;
    e->kind = kind;
    e->a = a;
    e->b = b;
    e->c = 0;
    size_t n = name ? strnlen(name, WF_TRACE_NAME_MAX) : 0;
    for (uint32_t part = 0; part * 16 < n; part++) {
        char text[16] = {0};
        size_t k = n - part * 16 < 16 ? n - part * 16 : 16;
        memcpy(text, name + part * 16, k);
        e = slot(r);
        e->ts = ts;
        e->kind = WF__TEV_NAME;
        e->a = part;
        memcpy(&e->b, text, 8);
        memcpy(&e->c, text + 8, 8);
    }
    leave(r);
}

/* ---- the public calls ------------------------------------------------------ */

#if defined(WEFT_TRACE_ENABLED)

static int write_trace(int fd, int64_t stop_ts);

static int start_locked(const char *path)
{
    if (atomic_load_explicit(&wf__trace_on, memory_order_relaxed))
        return WF_EALREADY; /* relaxed: only ctl_lock holders change it */
    int fd = wf__fd(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    if (fd < 0)
        return -errno;
    /* Rings of threads that have exited are not needed any more. */
    pthread_mutex_lock(&reg_lock);
    for (struct ring **p = &rings; *p;) {
        struct ring *r = *p;
        /* acquire: pairs with ring_gone's release. */
        if (atomic_load_explicit(&r->dead, memory_order_acquire)) {
            *p = r->next;
            if (r->ev)
                munmap(r->ev, r->cap * sizeof *r->ev);
            free(r);
        } else {
            p = &r->next;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    out_fd = fd;
    t0 = now_ns();
    atomic_store_explicit(&ring_lost, false, memory_order_relaxed); /* above */
    /* relaxed: a count (as in wf__trace_workers). */
    atomic_store_explicit(&session_workers,
                          atomic_load_explicit(&nworkers, memory_order_relaxed),
                          memory_order_relaxed);
    /* relaxed: published by the seq_cst store of the flag below. */
    atomic_store_explicit(
        &session, atomic_load_explicit(&session, memory_order_relaxed) + 1,
        memory_order_relaxed);
    /* seq_cst: publishes the session to recorders (top comment). */
    atomic_store_explicit(&wf__trace_on, true, memory_order_seq_cst);
    return 0;
}

static int stop_locked(void)
{
    if (!atomic_load_explicit(&wf__trace_on, memory_order_relaxed))
        return WF_EALREADY; /* relaxed: as in start_locked */
    int64_t stop_ts = now_ns();
    /* seq_cst: the Dekker with enter() (top comment). */
    atomic_store_explicit(&wf__trace_on, false, memory_order_seq_cst);
    pthread_mutex_lock(&reg_lock);
    struct ring *head = rings;
    pthread_mutex_unlock(&reg_lock);
    for (struct ring *r = head; r; r = r->next) {
        /* seq_cst: the reading half of the Dekker; acquires the records. */
        struct wf__backoff b = WF__BACKOFF_INIT;
        while (atomic_load_explicit(&r->busy, memory_order_seq_cst))
            wf__backoff_pause(&b);
    }
    int err = write_trace(out_fd, stop_ts);
    if (close(out_fd) != 0 && err == 0)
        err = -errno;
    if (err == 0 && atomic_load_explicit(&ring_lost, memory_order_relaxed))
        err = WF_ENOMEM; /* written, without a thread's events */
    out_fd = -1;
    env_session = 0;
    return err;
}

int wf_trace_start(const char *path)
{
    if (!path || !*path)
        return WF_EINVAL;
    pthread_mutex_lock(&ctl_lock);
    int err = start_locked(path);
    pthread_mutex_unlock(&ctl_lock);
    return err;
}

int wf_trace_stop(void)
{
    pthread_mutex_lock(&ctl_lock);
    int err = stop_locked();
    pthread_mutex_unlock(&ctl_lock);
    return err;
}

int wf__trace_env_start(const char *path)
{
    pthread_mutex_lock(&ctl_lock);
    int err = start_locked(path);
    if (err == 0) /* relaxed: ctl_lock orders it */
        env_session = atomic_load_explicit(&session, memory_order_relaxed);
    pthread_mutex_unlock(&ctl_lock);
    return err;
}

int wf__trace_env_stop(void)
{
    int err = 0;
    pthread_mutex_lock(&ctl_lock);
    /* relaxed: ctl_lock orders both */
    if (env_session != 0 &&
        env_session == atomic_load_explicit(&session, memory_order_relaxed))
        err = stop_locked();
    pthread_mutex_unlock(&ctl_lock);
    return err;
}

#else /* no tracer in this build */

int wf_trace_start(const char *path)
{
    return !path || !*path ? WF_EINVAL : WF_ENOSYS;
}

int wf_trace_stop(void)
{
    return WF_ENOSYS;
}

int wf__trace_env_start(const char *path)
{
    (void)path;
    return WF_ENOSYS;
}

int wf__trace_env_stop(void)
{
    return 0;
}

#endif

int wf_trace_active(void)
{
    /* relaxed: a snapshot of a flag on its own */
    return atomic_load_explicit(&wf__trace_on, memory_order_relaxed);
}

static uint64_t self_fiber(void)
{
    return wf__trace_hooks.fiber_id ? wf__trace_hooks.fiber_id() : 0;
}

void wf_trace_span_begin(const char *name)
{
    if (WF__TRACING())
        wf__trace_emit_named(WF__TEV_SPAN_BEGIN, 0, self_fiber(), name);
}

void wf_trace_span_end(void)
{
    if (WF__TRACING())
        wf__trace_emit(WF__TEV_SPAN_END, 0, self_fiber(), 0);
}

void wf_trace_mark(const char *name)
{
    if (WF__TRACING())
        wf__trace_emit_named(WF__TEV_MARK, 0, 0, name);
}

/* ---- the writer ------------------------------------------------------------ */

#if defined(WEFT_TRACE_ENABLED)

struct out {
    FILE *f;
    long n; /* traceEvents written */
    int64_t t0;
};

static void sep(struct out *o)
{
    fputs(o->n++ ? ",\n" : "\n", o->f);
}

/* Microseconds with three decimals, from the session's start. */
static void put_ts(struct out *o, int64_t ns)
{
    ns -= o->t0;
    if (ns < 0)
        ns = 0;
    fprintf(o->f, "%lld.%03lld", (long long)(ns / 1000),
            (long long)(ns % 1000));
}

static void put_dur(struct out *o, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    fprintf(o->f, "%lld.%03lld", (long long)(ns / 1000),
            (long long)(ns % 1000));
}

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c); /* bytes as code points: valid JSON */
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* The head of an event: {"ph":..,"pid":1,"tid":..,"ts":..,"cat":..,"name":..
 * (the caller closes it). */
static void head(struct out *o, const char *ph, int tid, int64_t ts,
                 const char *cat, const char *name)
{
    sep(o);
    fprintf(o->f, "{\"ph\":\"%s\",\"pid\":1,\"tid\":%d,\"ts\":", ph, tid);
    put_ts(o, ts);
    fprintf(o->f, ",\"cat\":\"%s\",\"name\":", cat);
    put_str(o->f, name);
}

static void slice(struct out *o, int tid, int64_t ts, int64_t end,
                  const char *cat, const char *name)
{
    head(o, "X", tid, ts, cat, name);
    fputs(",\"dur\":", o->f);
    put_dur(o, end - ts);
}

static void instant(struct out *o, int tid, int64_t ts, const char *cat,
                    const char *name)
{
    head(o, "i", tid, ts, cat, name);
    fputs(",\"s\":\"t\"", o->f);
}

/* uint64 -> int64, open addressing; keys are never 0 (ids, addresses). */
struct map {
    uint64_t *k;
    int64_t *v;
    size_t mask;
};

static bool map_init(struct map *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 1)
        cap <<= 1;
    m->k = wf__calloc(cap, sizeof *m->k);
    m->v = wf__calloc(cap, sizeof *m->v);
    m->mask = cap - 1;
    return m->k && m->v;
}

static void map_free(struct map *m)
{
    free(m->k);
    free(m->v);
}

/* The value of key, or -1 if absent; the table is left as it is (a
 * lookup of a key that was never put must not fill it: the tables are
 * sized for what is put). */
static int64_t map_get(const struct map *m, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h ^ h >> 29) & m->mask;
    while (m->k[i] && m->k[i] != key)
        i = (i + 1) & m->mask;
    return m->k[i] ? m->v[i] : -1;
}

/* The value slot of key, made (with value -1) if absent. The table must
 * have been sized for every key put (map_init). */
static int64_t *map_at(struct map *m, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h ^ h >> 29) & m->mask;
    while (m->k[i] && m->k[i] != key)
        i = (i + 1) & m->mask;
    if (!m->k[i]) {
        m->k[i] = key;
        m->v[i] = -1;
    }
    return &m->v[i];
}

/* A point of a pair that may cross rings (wake/run, I/O, spans). */
struct pt {
    int64_t ts;
    uint64_t key;
    int64_t x;    /* fd or result (I/O) */
    uint32_t seq; /* collection order: ties keep ring order */
    int tid;
    int pri;  /* at equal times: wakes before runs, begins before ends */
    int name; /* index in the name table, or -1; the I/O op */
};

struct pts {
    struct pt *p;
    size_t n;
};

struct names {
    char (*s)[WF_TRACE_NAME_MAX + 1];
    size_t n;
};

struct ctx {
    struct out o;
    struct pts flow, io, span;
    struct names names;
    struct map fname; /* fiber id -> name index */
    uint32_t seq;
};

static int cmp_pt(const void *a, const void *b)
{
    const struct pt *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->pri != y->pri)
        return x->pri < y->pri ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void add_pt(struct ctx *c, struct pts *ps, int64_t ts, uint64_t key,
                   int tid, int pri, int name, int64_t x)
{
    ps->p[ps->n++] = (struct pt){ts, key, x, c->seq++, tid, pri, name};
}

static inline const struct wf__tev *at(const struct ring *r, uint64_t i)
{
    return &r->ev[i & (r->cap - 1)];
}

static uint64_t first_of(const struct ring *r)
{
    return r->head > r->cap ? r->head - r->cap : 0;
}

/* The name carried by the NAME events after event i, into the table;
 * its index. */
static int take_name(struct ctx *c, const struct ring *r, uint64_t i)
{
    char *s = c->names.s[c->names.n];
    size_t len = 0;
    for (uint64_t j = i + 1; j < r->head && at(r, j)->kind == WF__TEV_NAME;
         j++) {
        const struct wf__tev *e = at(r, j);
        memcpy(s + len, &e->b, 8);
        memcpy(s + len + 8, &e->c, 8);
        len += 16;
        if (len >= WF_TRACE_NAME_MAX)
            break;
    }
    s[len] = '\0';
    return (int)c->names.n++;
}

static const char *end_name(unsigned end)
{
    static const char *const names[] = {"", "park", "yield", "exit", "preempt"};
    return end < sizeof names / sizeof names[0] ? names[end] : "";
}

static void fiber_slice(struct ctx *c, int tid, uint64_t id, int64_t from,
                        int64_t to, uint32_t a)
{
    unsigned end = a & 0xff, why = a >> 8;
    int64_t ni = map_get(&c->fname, id); /* fibers spawned before the
                                           * start have no name here */
    const char *name = ni >= 0 ? c->names.s[ni] : "";
    char label[64];
    if (*name)
        snprintf(label, sizeof label, "%s", name);
    else
        snprintf(label, sizeof label, "fiber %llu", (unsigned long long)id);
    slice(&c->o, tid, from, to, "fiber", label);
    fprintf(c->o.f,
            ",\"args\":{\"fiber\":%llu,\"name\":", (unsigned long long)id);
    put_str(c->o.f, name);
    const char *reason = end == WF__TEND_PARK && wf__trace_hooks.why_name
                             ? wf__trace_hooks.why_name((int)why)
                             : "";
    fprintf(c->o.f, ",\"end\":\"%s\",\"reason\":\"%s\"}}", end_name(end),
            reason);
}

static void task_slice(struct ctx *c, int tid, int64_t from, int64_t to, long n)
{
    slice(&c->o, tid, from, to, "task", "tasks");
    fprintf(c->o.f, ",\"args\":{\"tasks\":%ld}}", n);
}

static int tid_of(const struct ring *r)
{
    return r->worker >= 0 ? r->worker + 1 : THREAD_TID + r->thread;
}

static void walk_ring(struct ctx *c, const struct ring *r)
{
    int tid = tid_of(r);
    struct out *o = &c->o;
    /* The fiber running and since when. Before the ring's first switch
     * it is not known: whichever fiber leaves first ran since the start
     * (or since the oldest event kept, when some were dropped). */
    uint64_t first = first_of(r);
    uint64_t cur = UINT64_MAX;
    int64_t cur_ts =
        first == 0 || first == r->head ? c->o.t0 : at(r, first)->ts;
    bool task_open = false, task_done = false, idle = false;
    int64_t task_ts = 0, task_end = 0, idle_ts = 0;
    long ntasks = 0;

    for (uint64_t i = first; i < r->head; i++) {
        const struct wf__tev *e = at(r, i);
        if (task_done && e->kind != WF__TEV_TASK_BEGIN &&
            e->kind != WF__TEV_STEAL && e->kind != WF__TEV_TIMER &&
            e->kind != WF__TEV_NAME) {
            task_slice(c, tid, task_ts, task_end, ntasks);
            task_done = false;
        }
        switch ((enum wf__tev_kind)e->kind) {
        case WF__TEV_NAME:
            break;
        case WF__TEV_SWITCH:
            if (e->b && (cur == e->b || cur == UINT64_MAX)) {
                cur = e->b;
                fiber_slice(c, tid, cur, cur_ts, e->ts, e->a);
                /* the run a wake's arrow may point at (a slice still
                 * open at the stop is not drawn, nor pointed at) */
                add_pt(c, &c->flow, cur_ts, cur, tid, 1, -1, 0);
            }
            cur = e->c;
            cur_ts = e->ts;
            break;
        case WF__TEV_SPAWN:
            instant(o, tid, e->ts, "spawn", "spawn");
            fprintf(o->f, ",\"args\":{\"fiber\":%llu}}",
                    (unsigned long long)e->b);
            break;
        case WF__TEV_WAKE:
            add_pt(c, &c->flow, e->ts, e->b, tid, 0, -1, 0);
            break;
        case WF__TEV_TASK_BEGIN:
            if (task_done) {
                ntasks++; /* merged with the one before */
                task_done = false;
            } else {
                task_ts = e->ts;
                ntasks = 1;
            }
            task_open = true;
            break;
        case WF__TEV_TASK_END:
            if (task_open) {
                task_open = false;
                task_done = true;
                task_end = e->ts;
            }
            break;
        case WF__TEV_STEAL:
            instant(o, tid, e->ts, "steal", "steal");
            fprintf(o->f, ",\"args\":{\"from\":%u,\"what\":\"%s\"}}", e->a,
                    e->b ? "task" : "fiber");
            break;
        case WF__TEV_IDLE_BEGIN:
            idle = true;
            idle_ts = e->ts;
            break;
        case WF__TEV_IDLE_END:
            if (idle)
                slice(o, tid, idle_ts, e->ts, "idle", "idle");
            if (idle)
                fputs("}", o->f);
            idle = false;
            break;
        case WF__TEV_IO_BEGIN:
            add_pt(c, &c->io, e->ts, e->b, tid, 0, (int)e->a, (int64_t)e->c);
            break;
        case WF__TEV_IO_END:
            add_pt(c, &c->io, e->ts, e->b, tid, 1, -1, (int64_t)e->c);
            break;
        case WF__TEV_TIMER:
            instant(o, tid, e->ts, "timer", "timer");
            fprintf(o->f, ",\"args\":{\"late_us\":");
            put_dur(o, (int64_t)e->c);
            fputs("}}", o->f);
            break;
        case WF__TEV_SPAN_BEGIN:
        case WF__TEV_SPAN_END: {
            uint64_t key = e->b ? e->b : (uint64_t)(uintptr_t)r ^ (1ull << 63);
            bool begin = e->kind == WF__TEV_SPAN_BEGIN;
            add_pt(c, &c->span, e->ts, key, tid, begin ? 0 : 1,
                   begin ? take_name(c, r, i) : -1, 0);
            break;
        }
        case WF__TEV_MARK:
            instant(o, tid, e->ts, "mark", c->names.s[take_name(c, r, i)]);
            fputs("}", o->f);
            break;
        }
    }
    if (task_done)
        task_slice(c, tid, task_ts, task_end, ntasks);
}

static void write_flows(struct ctx *c, struct map *m)
{
    struct pts *ps = &c->flow;
    qsort(ps->p, ps->n, sizeof *ps->p, cmp_pt);
    long id = 0;
    for (size_t i = 0; i < ps->n; i++) {
        struct pt *p = &ps->p[i];
        int64_t *v = map_at(m, p->key);
        if (p->pri == 0) {
            *v = (int64_t)i; /* a later wake replaces an unanswered one */
        } else if (*v >= 0) {
            struct pt *w = &ps->p[*v];
            id++;
            head(&c->o, "s", w->tid, w->ts, "wake", "wake");
            fprintf(c->o.f, ",\"id\":%ld}", id);
            head(&c->o, "f", p->tid, p->ts, "wake", "wake");
            fprintf(c->o.f, ",\"bp\":\"e\",\"id\":%ld}", id);
            *v = -1;
        }
    }
}

static const char *io_name(int op)
{
    static const char *const names[WF__TIO_COUNT] = {
        [WF__TIO_READ] = "read",     [WF__TIO_WRITE] = "write",
        [WF__TIO_READV] = "readv",   [WF__TIO_WRITEV] = "writev",
        [WF__TIO_RECV] = "recv",     [WF__TIO_SEND] = "send",
        [WF__TIO_ACCEPT] = "accept", [WF__TIO_CONNECT] = "connect",
        [WF__TIO_POLL] = "poll",     [WF__TIO_PREAD] = "pread",
        [WF__TIO_PWRITE] = "pwrite", [WF__TIO_FSYNC] = "fsync",
        [WF__TIO_OPEN] = "open",     [WF__TIO_BLOCKING] = "blocking",
    };
    return op >= 0 && op < WF__TIO_COUNT ? names[op] : "io";
}

static void write_io(struct ctx *c, struct map *m)
{
    struct pts *ps = &c->io;
    qsort(ps->p, ps->n, sizeof *ps->p, cmp_pt);
    for (size_t i = 0; i < ps->n; i++) {
        struct pt *p = &ps->p[i];
        int64_t *v = map_at(m, p->key);
        if (p->pri == 0) {
            *v = (int64_t)i;
        } else if (*v >= 0) {
            struct pt *b = &ps->p[*v];
            slice(&c->o, IO_TID, b->ts, p->ts, "io", io_name(b->name));
            fprintf(c->o.f, ",\"args\":{\"fd\":%lld,\"res\":%lld}}",
                    (long long)b->x, (long long)p->x);
            *v = -1;
        }
    }
}

static void write_spans(struct ctx *c, struct map *m, int64_t stop_ts)
{
    struct pts *ps = &c->span;
    qsort(ps->p, ps->n, sizeof *ps->p, cmp_pt);
    /* Each key's open begins form a stack, linked through x. */
    for (size_t i = 0; i < ps->n; i++) {
        struct pt *p = &ps->p[i];
        int64_t *top = map_at(m, p->key);
        if (p->pri == 0) {
            p->x = *top;
            *top = (int64_t)i;
        } else if (*top >= 0) {
            struct pt *b = &ps->p[*top];
            slice(&c->o, b->tid, b->ts, p->ts, "span", c->names.s[b->name]);
            fputs("}", c->o.f);
            *top = b->x;
        }
    }
    /* Still open at the stop: they end there. */
    for (size_t i = 0; i <= m->mask; i++) {
        if (!m->k[i])
            continue;
        for (int64_t j = m->v[i]; j >= 0; j = ps->p[j].x) {
            struct pt *b = &ps->p[j];
            slice(&c->o, b->tid, b->ts, stop_ts, "span", c->names.s[b->name]);
            fputs(",\"args\":{\"open\":true}}", c->o.f);
        }
    }
}

static void meta(struct out *o, int tid, const char *name, int sort)
{
    sep(o);
    fprintf(o->f,
            "{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\","
            "\"args\":{\"name\":",
            tid);
    put_str(o->f, name);
    fputs("}}", o->f);
    sep(o);
    fprintf(o->f,
            "{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_sort_index\","
            "\"args\":{\"sort_index\":%d}}",
            tid, sort);
}

static int write_trace(int fd, int64_t stop_ts)
{
    uint64_t s = atomic_load_explicit(&session, memory_order_relaxed);
    struct ctx c;
    memset(&c, 0, sizeof c);
    int err = 0;

    /* Counts first: every array is sized once. */
    size_t total = 0, spawns = 0;
    uint64_t dropped = 0;
    int workers = atomic_load_explicit(&session_workers, memory_order_relaxed);
    pthread_mutex_lock(&reg_lock);
    struct ring *list = rings;
    pthread_mutex_unlock(&reg_lock);
    for (struct ring *r = list; r; r = r->next) {
        if (r->session != s || !r->ev)
            continue;
        uint64_t first = first_of(r);
        total += r->head - first;
        dropped += first;
        if (r->worker >= workers)
            workers = r->worker + 1;
        for (uint64_t i = first; i < r->head; i++)
            spawns += at(r, i)->kind == WF__TEV_SPAWN;
    }
    struct map m;
    memset(&m, 0, sizeof m);
    c.flow.p = wf__malloc((total + 1) * sizeof *c.flow.p);
    c.io.p = wf__malloc((total + 1) * sizeof *c.io.p);
    c.span.p = wf__malloc((total + 1) * sizeof *c.span.p);
    c.names.s = wf__malloc((total + 1) * sizeof *c.names.s);
    int fd2 = wf__fd(dup(fd));
    if (fd2 < 0) {
        err = -errno; /* EMFILE and the like, said as they are */
        goto out;
    }
    c.o.f = fdopen(fd2, "w");
    if (!c.o.f) {
        err = -errno;
        close(fd2);
        goto out;
    }
    if (!c.flow.p || !c.io.p || !c.span.p || !c.names.s ||
        !map_init(&c.fname, spawns) || !map_init(&m, total)) {
        err = WF_ENOMEM;
        goto out;
    }
    c.o.t0 = t0;

    /* Fiber names, from the spawns of every ring. */
    for (struct ring *r = list; r; r = r->next) {
        if (r->session != s || !r->ev)
            continue;
        for (uint64_t i = first_of(r); i < r->head; i++)
            if (at(r, i)->kind == WF__TEV_SPAWN && i + 1 < r->head &&
                at(r, i + 1)->kind == WF__TEV_NAME)
                *map_at(&c.fname, at(r, i)->b) = take_name(&c, r, i);
    }

    FILE *f = c.o.f;
    fprintf(f, "{\"displayTimeUnit\":\"ns\",\n\"traceEvents\":[");
    for (int i = 0; i < workers; i++) {
        char name[32];
        snprintf(name, sizeof name, "worker %d", i);
        meta(&c.o, i + 1, name, i + 1);
    }
    meta(&c.o, IO_TID, "I/O", IO_TID);
    for (struct ring *r = list; r; r = r->next) {
        if (r->session != s || !r->ev || r->worker >= 0 || r->head == 0)
            continue;
        char name[32];
        snprintf(name, sizeof name, "thread %d", r->thread);
        meta(&c.o, THREAD_TID + r->thread, name, THREAD_TID + r->thread);
    }
    for (struct ring *r = list; r; r = r->next)
        if (r->session == s && r->ev)
            walk_ring(&c, r);
    write_flows(&c, &m);
    memset(m.k, 0, (m.mask + 1) * sizeof *m.k);
    write_io(&c, &m);
    memset(m.k, 0, (m.mask + 1) * sizeof *m.k);
    write_spans(&c, &m, stop_ts);
    fprintf(f,
            "\n],\n\"otherData\":{\"weft_trace\":1,\"workers\":%d,"
            "\"dropped\":%llu,\"events\":%ld}}\n",
            workers, (unsigned long long)dropped, c.o.n);
out:
    if (c.o.f) {
        if (fflush(c.o.f) != 0 && !err)
            err = -errno;
        if (ferror(c.o.f) && !err)
            err = -EIO;
        if (fclose(c.o.f) != 0 && !err)
            err = -errno;
    }
    map_free(&m);
    map_free(&c.fname);
    free(c.flow.p);
    free(c.io.p);
    free(c.span.p);
    free(c.names.s);
    return err;
}

#endif
