/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/work.c - the variants of each workload.
 *
 * Every variant that needs a runtime starts its own (wf_init with the
 * variant's worker count, which ignores WEFT_WORKERS) and stops it after
 * (wf_shutdown), so that no variant inherits another's workers, timers or
 * sockets. Only the work is timed: starting the runtime and the server,
 * and stopping them, are outside the measured span; connecting the
 * client sockets is inside it.
 *
 * Answers. Each request's answer is the server's reply (I/O) or the reply
 * mixed with the checksum of the request's slice of Mandelbrot rows
 * (mixed); each variant stores it in a per-request slot, and the
 * variant's answer is fold() over the slots in request order, so it
 * cannot depend on which fiber or worker served which request.
 * Mandelbrot's answer is fold() over the per-row iteration sums.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

#include "demo.h"

/* ---- measuring -------------------------------------------------------------- */

struct span {
    int64_t wall;
    int64_t cpu;
};

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * WF_SEC + ts.tv_nsec;
}

/* The measured work of a variant starts. With p->trace_dir, tracing
 * starts first (outside the measured span) into DIR/KEY.json, and the
 * work is a span of the plain thread that runs it, named by its label:
 * the serial loop, which has no runtime, shows only as that span. */
static struct span span_begin(const struct params *p, const struct result *r)
{
    if (p->trace_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.json", p->trace_dir, r->key);
        int err = wf_trace_start(path);
        if (err < 0)
            fprintf(stderr, "weft-demo: %s: tracing into %s: %s\n", r->key,
                    path, wf_strerror(err));
        wf_trace_span_begin(r->label);
    }
    struct span s = {wf_now(), cpu_ns()};
    return s;
}

static void span_end(const struct params *p, struct span s, struct result *r)
{
    r->wall_s = (double)(wf_now() - s.wall) / 1e9;
    r->cpu_s = (double)(cpu_ns() - s.cpu) / 1e9;
    if (p->trace_dir && wf_trace_active()) {
        wf_trace_span_end();
        int err = wf_trace_stop();
        if (err < 0)
            fprintf(stderr, "weft-demo: %s: writing its trace: %s\n", r->key,
                    wf_strerror(err));
    }
}

static void report_err(const struct result *r, const char *what, int err)
{
    fprintf(stderr, "weft-demo: %s: %s: %s\n", r->key, what, wf_strerror(err));
}

/* ---- computing ---------------------------------------------------------------- */

uint64_t mandel_row(int y, int width, int height, int max_iter)
{
    /* The view [-2.2, 0.8] x [-1.5, 1.5]: the set and its busy edge. */
    double ci = -1.5 + 3.0 * (y + 0.5) / height;
    uint64_t sum = 0;
    for (int x = 0; x < width; x++) {
        double cr = -2.2 + 3.0 * (x + 0.5) / width;
        double zr = 0, zi = 0;
        int k = 0;
        while (k < max_iter && zr * zr + zi * zi <= 4.0) {
            double t = zr * zr - zi * zi + cr;
            zi = 2 * zr * zi + ci;
            zr = t;
            k++;
        }
        sum += (uint64_t)k;
    }
    return sum;
}

uint64_t fold(const uint64_t *v, long n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (long i = 0; i < n; i++)
        for (int b = 0; b < 64; b += 8) {
            h ^= (v[i] >> b) & 0xff;
            h *= UINT64_C(0x100000001b3);
        }
    return h;
}

/* Rows of one image whose sums a parallel_for fills. */
struct rows {
    int first, width, height, max_iter;
    uint64_t *sums; /* sums[i] is row first + i */
};

static void rows_body(long lo, long hi, void *ctx)
{
    struct rows *r = ctx;
    for (long i = lo; i < hi; i++)
        r->sums[i] =
            mandel_row(r->first + (int)i, r->width, r->height, r->max_iter);
}

/* ---- the runtime ---------------------------------------------------------------- */

static int runtime_start(const struct result *r)
{
    struct wf_config cfg = {0};
    cfg.workers = r->workers;
    int err = wf_init(&cfg);
    if (err < 0)
        report_err(r, "wf_init", err);
    return err;
}

static void runtime_stop(const struct result *r)
{
    int err = wf_shutdown();
    if (err < 0)
        report_err(r, "wf_shutdown", err);
    else if (wf_shutdown_discarded() > 0)
        fprintf(stderr, "weft-demo: %s: %zu fibers were left at shutdown\n",
                r->key, wf_shutdown_discarded());
}

/* ---- requests (I/O and mixed) ------------------------------------------------ */

#define MIXED_MAX_ROWS 4096

struct job {
    const struct params *p;
    const struct result *r;
    int port;
    long n;           /* requests */
    bool mixed;       /* each request also computes its slice */
    bool parfor;      /* ... with wf_parallel_for */
    uint64_t *ans;    /* ans[i]: request i's answer */
    atomic_long next; /* the next request to take */
    atomic_int err;   /* the first error met, 0 if none */
    /* futures variant */
    struct wf_promise **prom;
};

static void job_fail(struct job *j, int err)
{
    int none = 0;
    atomic_compare_exchange_strong(&j->err, &none, err);
}

/* The checksum of request i's slice of the mixed image: rows
 * (i * rows) mod height onwards, wrapping. */
static int slice(struct job *j, long i, uint64_t *out)
{
    const struct params *p = j->p;
    int height = p->mixed_width;
    uint64_t sums[MIXED_MAX_ROWS];
    int first = (int)((i * (long)p->mixed_rows) % height);
    if (first + p->mixed_rows > height)
        first = height - p->mixed_rows;
    struct rows r = {first, p->mixed_width, height, p->max_iter, sums};
    if (j->parfor) {
        int err = wf_parallel_for(0, p->mixed_rows, 1, rows_body, &r);
        if (err < 0)
            return err;
    } else {
        rows_body(0, p->mixed_rows, &r);
    }
    *out = fold(sums, p->mixed_rows);
    return 0;
}

/* What request i answers, once the reply has come. */
static int finish(struct job *j, long i, uint64_t reply)
{
    if (j->mixed) {
        uint64_t c;
        int err = slice(j, i, &c);
        if (err < 0)
            return err;
        reply = server_reply(reply ^ c);
    }
    j->ans[i] = reply;
    return 0;
}

/* Sequential: the calling plain thread sends one request, blocks in
 * read(2) until the reply, computes, and only then sends the next. */
static int requests_blocking(struct job *j)
{
    int fd = client_connect_blocking(j->port);
    if (fd < 0)
        return fd;
    int err = 0;
    for (long i = 0; i < j->n && err == 0; i++) {
        uint64_t rep;
        err = client_call_blocking(fd, (uint64_t)i, &rep);
        if (err == 0)
            err = finish(j, i, rep);
    }
    wf_close(fd);
    return err;
}

/* One client fiber: its own connection, requests taken from the shared
 * counter until none is left. */
static void *client_fiber(void *arg)
{
    struct job *j = arg;
    int fd = client_connect_fiber(j->port);
    if (fd < 0) {
        job_fail(j, fd);
        return NULL;
    }
    for (;;) {
        long i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n || atomic_load(&j->err) != 0)
            break;
        uint64_t rep;
        int err = client_call_fiber(fd, (uint64_t)i, &rep);
        if (err == 0)
            err = finish(j, i, rep);
        if (err < 0) {
            job_fail(j, err);
            break;
        }
    }
    wf_close(fd);
    return NULL;
}

/* Fibers: p->inflight client fibers in a scope; the plain thread blocks in
 * wf_scope_wait until they are done. */
static int requests_fibers(struct job *j)
{
    long k = j->p->inflight < j->n ? j->p->inflight : j->n;
    struct wf_scope *s;
    int err = wf_scope_open(&s);
    if (err < 0)
        return err;
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.name = "client";
    o.stack_size = j->mixed ? 64 * 1024 : 32 * 1024;
    for (long f = 0; f < k && err == 0; f++)
        err = wf_scope_go(s, &o, client_fiber, j);
    if (err < 0)
        job_fail(j, err);
    int werr = wf_scope_wait(s, WF_FOREVER);
    wf_scope_close(s);
    if (werr < 0)
        return werr;
    return atomic_load(&j->err);
}

/* ---- futures and callbacks ---------------------------------------------------- */

/* One connection driven by callbacks: connect, then for each request it
 * takes, write, read (again while the reply is short), complete the
 * request's promise, take the next. No fiber of ours waits: each step
 * starts an I/O future and returns; the future's completion runs the next
 * step. */
struct chain {
    struct job *j;
    int fd; /* -1 until connected */
    long i; /* the request in hand */
    uint64_t reply;
    size_t got;              /* bytes of the reply read so far */
    struct wf_promise *done; /* completed when the chain stops, which
                              * publishes fd to the caller */
};

static void chain_next(struct chain *c);

/* Fail the request in hand and every request nobody has taken, so that
 * the caller's when_all completes. */
static void chain_fail(struct chain *c, long i, int err)
{
    struct job *j = c->j;
    job_fail(j, err);
    if (i >= 0)
        wf_promise_fail(j->prom[i], err);
    for (;;) {
        long k = atomic_fetch_add(&j->next, 1);
        if (k >= j->n)
            break;
        wf_promise_fail(j->prom[k], err);
    }
    wf_promise_complete(c->done, NULL);
}

static void on_read(struct wf_future *f, void *arg);

static void chain_read(struct chain *c)
{
    struct wf_future *f;
    int err = wf_read_future(&f, c->fd, sizeof c->reply - c->got, WF_FOREVER);
    if (err < 0) {
        chain_fail(c, c->i, err);
        return;
    }
    err = wf_future_then(f, on_read, c);
    wf_future_release(f);
    if (err < 0)
        chain_fail(c, c->i, err);
}

static void on_read(struct wf_future *f, void *arg)
{
    struct chain *c = arg;
    void *v;
    int err = wf_future_result(f, &v);
    if (err == 0 && ((struct wf_iobuf *)v)->len == 0)
        err = WF_EPIPE;
    if (err < 0) {
        chain_fail(c, c->i, err);
        return;
    }
    struct wf_iobuf *b = v;
    memcpy((char *)&c->reply + c->got, b->data, b->len);
    c->got += b->len;
    if (c->got < sizeof c->reply) {
        chain_read(c);
        return;
    }
    struct job *j = c->j;
    long i = c->i;
    err = finish(j, i, c->reply);
    if (err < 0) {
        chain_fail(c, i, err);
        return;
    }
    /* The value is where the answer is kept; the caller reads it from
     * the future later. */
    wf_promise_complete(j->prom[i], &j->ans[i]);
    chain_next(c);
}

static void on_written(struct wf_future *f, void *arg)
{
    struct chain *c = arg;
    int err = wf_future_result(f, NULL);
    if (err < 0) {
        chain_fail(c, c->i, err);
        return;
    }
    c->got = 0;
    chain_read(c);
}

static void chain_next(struct chain *c)
{
    struct job *j = c->j;
    long i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n) {
        /* Nothing left: the caller closes the connection. */
        wf_promise_complete(c->done, NULL);
        return;
    }
    c->i = i;
    uint64_t req = (uint64_t)i;
    struct wf_future *f;
    int err = wf_write_future(&f, c->fd, &req, sizeof req, WF_FOREVER);
    if (err < 0) {
        chain_fail(c, i, err);
        return;
    }
    err = wf_future_then(f, on_written, c);
    wf_future_release(f);
    if (err < 0)
        chain_fail(c, i, err);
}

static void on_connected(struct wf_future *f, void *arg)
{
    struct chain *c = arg;
    void *v;
    int err = wf_future_result(f, &v);
    if (err < 0) {
        chain_fail(c, -1, err);
        return;
    }
    c->fd = (int)(intptr_t)v;
    client_nodelay(c->fd);
    chain_next(c);
}

/* Futures: the plain thread creates a future per request, starts
 * p->inflight callback chains, and then takes the results: when_all, one
 * wait, and each future's value. */
static int requests_futures(struct job *j)
{
    long k = j->p->inflight < j->n ? j->p->inflight : j->n;
    long nf = j->n + k; /* the requests' futures, then the chains' */
    struct wf_future **futs = calloc((size_t)nf, sizeof *futs);
    struct chain *chains = calloc((size_t)k, sizeof *chains);
    j->prom = calloc((size_t)j->n, sizeof *j->prom);
    int err = (!futs || !chains || !j->prom) ? WF_ENOMEM : 0;
    long made = 0;
    for (; made < nf && err == 0; made++) {
        struct wf_promise **pp =
            made < j->n ? &j->prom[made] : &chains[made - j->n].done;
        err = wf_promise_create(pp, &futs[made]);
    }
    if (err < 0) {
        made--;
        /* Give the promises made up; their futures are released below. */
        for (long i = 0; i < made; i++)
            wf_promise_fail(i < j->n ? j->prom[i] : chains[i - j->n].done, err);
        goto out;
    }

    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)j->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    long started = 0;
    for (; started < k; started++) {
        struct chain *c = &chains[started];
        c->j = j;
        c->fd = -1;
        struct wf_future *f;
        err =
            wf_connect_future(&f, (struct sockaddr *)&a, sizeof a, WF_FOREVER);
        if (err == 0) {
            err = wf_future_then(f, on_connected, c);
            wf_future_release(f);
        }
        if (err < 0) {
            chain_fail(c, -1, err);
            started++;
            break;
        }
    }
    for (long c = started; c < k; c++) {
        chains[c].fd = -1;
        wf_promise_complete(chains[c].done, NULL);
    }

    /* Take the results later: everything above returned at once. */
    struct wf_future *all;
    int aerr = wf_future_when_all(&all, futs, (size_t)nf);
    if (aerr == 0) {
        aerr = wf_future_wait(all, WF_FOREVER);
        if (aerr == 0)
            aerr = wf_future_result(all, NULL);
        wf_future_release(all);
    }
    if (err == 0)
        err = aerr;
    for (long i = 0; i < j->n && err == 0; i++) {
        void *v;
        err = wf_future_result(futs[i], &v);
        if (err == 0 && v != &j->ans[i])
            err = WF_EINVAL;
    }
    for (long c = 0; c < k; c++)
        if (chains[c].fd >= 0)
            wf_close(chains[c].fd);
out:
    for (long i = 0; i < made; i++)
        wf_future_release(futs[i]);
    free(futs);
    free(chains);
    free(j->prom);
    j->prom = NULL;
    if (err == 0)
        err = atomic_load(&j->err);
    return err;
}

static int run_requests(const struct params *p, struct result *r)
{
    struct job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    j.r = r;
    j.mixed = r->workload == WL_MIXED;
    j.parfor = r->model == MODEL_FIBERS_PARFOR;
    j.n = j.mixed ? p->mixed_requests : p->requests;
    atomic_init(&j.next, 0);
    atomic_init(&j.err, 0);
    j.ans = calloc((size_t)j.n, sizeof *j.ans);
    if (!j.ans)
        return WF_ENOMEM;

    int err = runtime_start(r);
    if (err < 0)
        goto out_free;
    struct server srv;
    err = server_start(&srv, p->latency_ns);
    if (err < 0) {
        report_err(r, "server_start", err);
        goto out_stop;
    }
    j.port = srv.port;

    struct span s = span_begin(p, r);
    switch (r->model) {
    case MODEL_BLOCKING:
        err = requests_blocking(&j);
        break;
    case MODEL_FUTURES:
        err = requests_futures(&j);
        break;
    default:
        err = requests_fibers(&j);
        break;
    }
    span_end(p, s, r);
    if (err < 0)
        report_err(r, "requests", err);
    r->answer = fold(j.ans, j.n);
    server_stop(&srv);
out_stop:
    runtime_stop(r);
out_free:
    free(j.ans);
    return err;
}

/* ---- Mandelbrot ----------------------------------------------------------------- */

struct band {
    struct rows *img;
    int row;
};

static void *row_fiber(void *arg)
{
    struct band *b = arg;
    rows_body(b->row, b->row + 1, b->img);
    return NULL;
}

/* One fiber per row, on the runtime's workers; the plain thread waits for
 * the scope. */
static int cpu_fibers(struct rows *img, int n)
{
    struct band *bands = calloc((size_t)n, sizeof *bands);
    if (!bands)
        return WF_ENOMEM;
    struct wf_scope *s;
    int err = wf_scope_open(&s);
    if (err < 0)
        goto out;
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.name = "row";
    o.stack_size = 32 * 1024;
    for (int y = 0; y < n && err == 0; y++) {
        bands[y].img = img;
        bands[y].row = y;
        err = wf_scope_go(s, &o, row_fiber, &bands[y]);
    }
    int werr = wf_scope_wait(s, WF_FOREVER);
    wf_scope_close(s);
    if (err == 0)
        err = werr;
out:
    free(bands);
    return err;
}

static int run_mandel(const struct params *p, struct result *r)
{
    int n = p->size;
    uint64_t *sums = calloc((size_t)n, sizeof *sums);
    if (!sums)
        return WF_ENOMEM;
    struct rows img = {0, n, n, p->max_iter, sums};
    int err = 0;
    if (r->model == MODEL_SERIAL) {
        struct span s = span_begin(p, r);
        rows_body(0, n, &img);
        span_end(p, s, r);
    } else {
        err = runtime_start(r);
        if (err < 0)
            goto out;
        struct span s = span_begin(p, r);
        if (r->model == MODEL_PARALLEL_FOR)
            err = wf_parallel_for(0, n, 1, rows_body, &img);
        else
            err = cpu_fibers(&img, n);
        span_end(p, s, r);
        if (err < 0)
            report_err(r, "compute", err);
        runtime_stop(r);
    }
    r->answer = fold(sums, n);
out:
    free(sums);
    return err;
}

int run_variant(const struct params *p, struct result *r)
{
    if (r->workload == WL_CPU)
        return run_mandel(p, r);
    return run_requests(p, r);
}
