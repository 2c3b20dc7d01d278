/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/demo.h - what the parts of weft-demo share.
 *
 * weft-demo measures which concurrency model wins for three workloads:
 * I/O-bound requests to an in-process server with a simulated latency,
 * CPU-bound Mandelbrot, and a mix of both. main.c parses the options,
 * runs every variant and checks the answers; server.c is the latency
 * server and the client calls; work.c holds the variants; report.c
 * prints the table, the CSV and the HTML report.
 */
#ifndef WEFT_DEMO_H
#define WEFT_DEMO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The sizes and settings of one run (options of main.c). */
struct params {
    int workers;           /* "all workers": --workers, else online CPUs */
    long requests;         /* I/O workload: requests */
    int64_t latency_ns;    /* simulated latency of one request */
    long inflight;         /* requests in flight at once (client fibers) */
    int size;              /* Mandelbrot: size x size pixels */
    int max_iter;          /* Mandelbrot: iterations per pixel at most */
    long mixed_requests;   /* mixed workload: requests */
    int mixed_rows;        /* mixed: image rows each request computes */
    int mixed_width;       /* mixed: pixels per row */
    double load;           /* 1-minute load average at the start, or -1 */
    int cpus;              /* online CPUs */
    const char *trace_dir; /* set: run_variant traces its work into
                            * DIR/KEY.json (weft/trace.h) */
};

/* How a variant runs its work; the explanations depend on it. */
enum model {
    MODEL_BLOCKING,      /* one request after another, blocking a thread */
    MODEL_FIBERS,        /* client fibers, requests in flight at once */
    MODEL_FUTURES,       /* I/O futures chained by callbacks */
    MODEL_SERIAL,        /* plain loop, no runtime */
    MODEL_CPU_FIBERS,    /* one fiber per band of rows */
    MODEL_PARALLEL_FOR,  /* wf_parallel_for over the rows */
    MODEL_FIBERS_PARFOR, /* client fibers whose compute is a parallel_for */
};

enum workload { WL_IO, WL_CPU, WL_MIXED, WL_COUNT };

/* One measured variant. */
struct result {
    enum workload workload;
    enum model model;
    const char *key;   /* short name for CSV and HTML ids: "io-fibers-1" */
    const char *label; /* what the table shows */
    int workers;       /* workers of its runtime, 1 without one */
    double wall_s;     /* wall-clock time of the work */
    double cpu_s;      /* process CPU time over the same span */
    double speedup;    /* the workload's first variant's wall / wall */
    uint64_t answer;   /* checksum of the results */
    bool best;         /* lowest wall time of its workload */
    char why[320];     /* one line derived from the measurement */
};

/* ---- server.c --------------------------------------------------------------- */

/* The loopback server: an accept fiber, and a fiber per connection that
 * reads 8-byte requests, sleeps the latency (wf_sleep: no CPU) and
 * answers each with server_reply(request). Needs a running runtime. */
struct server {
    int lfd;
    int port;
    int64_t latency_ns;
};

/* What the server answers to a request; every variant's checksum is made
 * of these. */
uint64_t server_reply(uint64_t request);

/* Listen on 127.0.0.1 port 0 and start the accept fiber. Returns 0 or a
 * negative WF_E* code. */
int server_start(struct server *s, int64_t latency_ns);

/* Close the listening socket (the accept fiber returns; connection
 * fibers return when their client closes), then wait until no fiber is
 * left, so that wf_shutdown discards nothing. From a plain thread. */
int server_stop(struct server *s);

/* A blocking POSIX client socket connected to the server (no weft). */
int client_connect_blocking(int port);
/* One request and its reply over a blocking socket. */
int client_call_blocking(int fd, uint64_t request, uint64_t *reply);
/* A weft client socket (wf_tcp_connect; parks a fiber). */
int client_connect_fiber(int port);
/* One request and its reply with wf_write_all / wf_read. */
int client_call_fiber(int fd, uint64_t request, uint64_t *reply);
/* TCP_NODELAY on fd: a request-reply protocol must not wait for Nagle. */
void client_nodelay(int fd);

/* ---- work.c ----------------------------------------------------------------- */

/* The Mandelbrot row y of a width x height image: the sum of its pixels'
 * iteration counts. Deterministic: every variant calls this. */
uint64_t mandel_row(int y, int width, int height, int max_iter);

/* FNV-1a over 64-bit words, in index order. */
uint64_t fold(const uint64_t *v, long n);

/* Run one variant: fills r (wall, cpu, answer). Returns 0 or a negative
 * WF_E* code, after a line on stderr naming what failed. */
int run_variant(const struct params *p, struct result *r);

/* ---- report.c ---------------------------------------------------------------- */

const char *workload_title(enum workload w);
/* "500 requests, 2 ms latency each, 100 in flight" and the like. */
void workload_setup(const struct params *p, enum workload w, char *buf,
                    size_t n);
/* What each workload's variants say about the models. */
const char *workload_lesson(enum workload w);

/* The why-line of each result, from the measurements of its workload. */
void explain(const struct params *p, struct result *rs, int n);

void print_table(FILE *out, const struct params *p, const struct result *rs,
                 int n);
void print_csv(FILE *out, const struct result *rs, int n);
/* Draw DIR/KEY.json, the trace of r's traced run, as DIR/KEY.svg (an SVG
 * fragment for the report; tools/trace_svg.h). Returns 0 or a negative
 * errno code, after a line on stderr. */
int draw_timeline(const char *dir, const struct result *r);

/* Write DIR/index.html, with the timelines drawn into DIR when
 * `timelines` is set. Returns 0 or -errno. */
int write_html(const char *dir, const struct params *p, const struct result *rs,
               int n, bool timelines);

#endif
