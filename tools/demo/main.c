/* SPDX-License-Identifier: MIT */
/*
 * weft-demo - which concurrency model wins for a workload, and why.
 *
 * Three workloads, each run several ways; every variant of a workload
 * computes the same answer (a checksum), and each is timed (wall and
 * process CPU time) on a runtime started for it alone:
 *
 *   I/O-bound   requests to a loopback server (in this process, on weft
 *               sockets) that answers after a fixed latency: sequential
 *               blocking calls, fibers on 1 worker, futures with
 *               callbacks on 1 worker, fibers on all workers;
 *   CPU-bound   Mandelbrot: a serial loop, fibers on 1 worker,
 *               wf_parallel_for on all workers;
 *   mixed       each request waits for the server, then computes a slice
 *               of Mandelbrot rows: sequential, fibers on 1 worker, fibers
 *               on all workers, fibers whose computing is a parallel_for.
 *
 * The table goes to stdout (or CSV with --csv), progress to stderr, and
 * with --out DIR an HTML report to DIR/index.html. --help says the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "../numarg.h"
#include "demo.h"

/* Exit statuses (see usage()). */
enum { EXIT_OK = 0, EXIT_MISMATCH = 1, EXIT_USAGE = 2, EXIT_ERROR = 3 };

/* The variants, in the order they run and are shown; the first of each
 * workload is its baseline. all: runs on every worker (params.workers),
 * else on one. */
static const struct variant {
    enum workload workload;
    enum model model;
    const char *key;
    const char *label;
    bool all;
} variants[] = {
    {WL_IO, MODEL_BLOCKING, "io-sequential", "sequential blocking calls",
     false},
    {WL_IO, MODEL_FIBERS, "io-fibers-1", "fibers on 1 worker", false},
    {WL_IO, MODEL_FUTURES, "io-futures-1", "futures + callbacks on 1 worker",
     false},
    {WL_IO, MODEL_FIBERS, "io-fibers-all", "fibers on all workers", true},
    {WL_CPU, MODEL_SERIAL, "cpu-serial", "serial loop (no runtime)", false},
    {WL_CPU, MODEL_CPU_FIBERS, "cpu-fibers-1",
     "fibers on 1 worker (a row each)", false},
    {WL_CPU, MODEL_PARALLEL_FOR, "cpu-parallel-for",
     "wf_parallel_for on all workers", true},
    {WL_MIXED, MODEL_BLOCKING, "mixed-sequential", "sequential blocking calls",
     false},
    {WL_MIXED, MODEL_FIBERS, "mixed-fibers-1", "fibers on 1 worker", false},
    {WL_MIXED, MODEL_FIBERS, "mixed-fibers-all", "fibers on all workers", true},
    {WL_MIXED, MODEL_FIBERS_PARFOR, "mixed-fibers-parfor",
     "fibers + parallel_for compute, all workers", true},
};
#define NVARIANTS ((int)(sizeof variants / sizeof variants[0]))

static void usage(FILE *out)
{
    fputs("NAME\n"
          "    weft-demo - which concurrency model wins for a workload, and "
          "why\n"
          "\n"
          "SYNOPSIS\n"
          "    weft-demo [--quick] [--workers N] [--requests N] "
          "[--latency-ms N]\n"
          "              [--inflight N] [--size N] [--out DIR] [--csv] "
          "[--check]\n"
          "\n"
          "DESCRIPTION\n"
          "    Runs three workloads several ways on the weft runtime and "
          "measures\n"
          "    each way's wall-clock time and process CPU time:\n"
          "\n"
          "    I/O-bound: requests to a server that weft runs in this "
          "process on\n"
          "    127.0.0.1, which answers each after a fixed latency (a "
          "wf_sleep in\n"
          "    its connection fiber: no CPU). Sequential blocking calls; "
          "fibers on\n"
          "    1 worker (concurrency: --inflight requests wait at once); "
          "futures\n"
          "    with callbacks on 1 worker (asynchrony: I/O futures chained "
          "by\n"
          "    wf_future_then, results taken later); fibers on all "
          "workers.\n"
          "\n"
          "    CPU-bound: a Mandelbrot image. A serial loop; fibers on 1 "
          "worker\n"
          "    (no gain: one worker runs one fiber at a time); "
          "wf_parallel_for on\n"
          "    all workers (parallelism).\n"
          "\n"
          "    Mixed, server-like: each request waits for the server, then "
          "computes\n"
          "    a slice of Mandelbrot rows. Sequential; fibers on 1 worker; "
          "fibers\n"
          "    on all workers; fibers whose slice is a wf_parallel_for.\n"
          "\n"
          "    Every variant starts a runtime of its own (wf_init, "
          "wf_shutdown).\n"
          "    Every variant of a workload must compute the same answer, a\n"
          "    checksum of its results; if one does not, weft-demo says so "
          "and\n"
          "    exits 1. The table (stdout) gives, per variant, wall and CPU "
          "time,\n"
          "    the speedup over the workload's first variant, the answer and "
          "one\n"
          "    line on why it wins or loses, derived from the measurements; "
          "a *\n"
          "    marks each workload's fastest variant. Progress goes to "
          "stderr.\n"
          "\n"
          "OPTIONS\n"
          "    --quick          small sizes that finish in a few seconds "
          "(50\n"
          "                     requests of 5 ms, a 240 x 240 image...); the\n"
          "                     options below override them\n"
          "    --workers N      workers of the \"all workers\" variants "
          "(default:\n"
          "                     the online CPUs; WEFT_WORKERS is not read)\n"
          "    --requests N     I/O requests (default 500; the mixed "
          "workload\n"
          "                     makes 2/5 as many)\n"
          "    --latency-ms N   the server's latency per request in ms "
          "(default 2)\n"
          "    --inflight N     requests in flight at once (default 100)\n"
          "    --size N         Mandelbrot image size in pixels a side "
          "(default 1000)\n"
          "    --out DIR        also write an HTML report, DIR/index.html "
          "(one\n"
          "                     file: inline CSS, no script, no network)\n"
          "    --csv            print CSV instead of the table\n"
          "    --check          also check what the models should show, "
          "with wide\n"
          "                     margins: concurrent and asynchronous I/O at "
          "least\n"
          "                     2x faster than sequential; with more than "
          "one\n"
          "                     worker and CPU, wf_parallel_for faster than "
          "serial\n"
          "                     (timing checks are retried; never absolute "
          "times)\n"
          "    --help           this text\n"
          "\n"
          "EXIT STATUS\n"
          "    0  every answer agreed (and, with --check, every check "
          "passed)\n"
          "    1  the variants of a workload disagreed, or a --check check "
          "failed\n"
          "    2  bad usage\n"
          "    3  a weft or system call failed (named on stderr)\n",
          out);
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    return numarg_long(s, lo, hi, out, NULL);
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
}

/* The 1-minute load average, or -1 where /proc/loadavg cannot be read:
 * how busy the machine was with other programs shapes every figure. */
static double load_average(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* How many cores `threads` spinning threads get at once right now
 * (process CPU time over wall time, about 50 ms): whether the machine
 * has cores to spare for a parallel speedup at all. */
static void *spin(void *arg)
{
    volatile uint64_t x = 0;
    int64_t end = wf_now() + 50 * WF_MSEC;
    while (wf_now() < end)
        for (int i = 0; i < 10000; i++)
            x += (uint64_t)i;
    return arg;
}

static double cores_available(int threads)
{
    pthread_t t[64];
    if (threads > 64)
        threads = 64;
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    int64_t w0 = wf_now();
    int made = 0;
    for (; made < threads; made++)
        if (pthread_create(&t[made], NULL, spin, NULL) != 0)
            break;
    for (int i = 0; i < made; i++)
        pthread_join(t[i], NULL);
    int64_t w1 = wf_now();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) +
                 (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    return cpu / ((double)(w1 - w0) / 1e9);
}

static void progress(int step, const struct result *r, const char *state)
{
    char setup[16];
    snprintf(setup, sizeof setup, "%d/%d", step + 1, NVARIANTS);
    fprintf(stderr, "weft-demo: [%5s] %-18s %-44s %s\n", setup,
            workload_title(r->workload), r->label, state);
}

static int run_one(const struct params *p, struct result *r, int step)
{
    progress(step, r, "...");
    int err = run_variant(p, r);
    if (err == 0) {
        char done[64];
        snprintf(done, sizeof done, "%.3f s wall, %.3f s CPU", r->wall_s,
                 r->cpu_s);
        progress(step, r, done);
    }
    return err;
}

/* Run every variant once more with tracing on into DIR/KEY.json and draw
 * each trace as DIR/KEY.svg, for the report. The figures of the table
 * stay those of the untraced runs. Returns false when this build has no
 * tracer (nothing to draw), true otherwise (a variant whose trace failed
 * is said on stderr, and the report says it has no timeline). */
static bool trace_variants(const struct params *p, const struct result *rs,
                           int n, const char *dir)
{
    /* Between runs no trace is on: a stop only says whether there is a
     * tracer (WF_EALREADY) or not. */
    if (wf_trace_stop() == WF_ENOSYS) {
        fprintf(stderr, "weft-demo: this weft has no tracer "
                        "(-DWEFT_TRACE=OFF): the report has no timelines\n");
        return false;
    }
    struct params tp = *p;
    tp.trace_dir = dir;
    for (int i = 0; i < n; i++) {
        struct result t = rs[i];
        fprintf(stderr, "weft-demo: [trace] %-18s %-44s ...\n",
                workload_title(t.workload), t.label);
        if (run_variant(&tp, &t) < 0)
            continue;
        if (t.answer != rs[i].answer)
            fprintf(stderr, "weft-demo: %s: the traced run's answer differs\n",
                    t.key);
        draw_timeline(dir, &t);
    }
    return true;
}

/* Speedups over each workload's first variant, and the fastest marked. */
static void rank(struct result *rs, int n)
{
    for (int w = 0; w < WL_COUNT; w++) {
        const struct result *base = NULL;
        struct result *best = NULL;
        for (int i = 0; i < n; i++) {
            if ((int)rs[i].workload != w)
                continue;
            if (!base)
                base = &rs[i];
            rs[i].speedup = rs[i].wall_s > 0 ? base->wall_s / rs[i].wall_s : 0;
            rs[i].best = false;
            if (!best || rs[i].wall_s < best->wall_s)
                best = &rs[i];
        }
        if (best)
            best->best = true;
    }
}

static struct result *by_key(struct result *rs, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(rs[i].key, key) == 0)
            return &rs[i];
    return NULL;
}

/* Whether every variant of each workload found its first one's answer. */
static bool answers_agree(const struct result *rs, int n)
{
    bool ok = true;
    for (int w = 0; w < WL_COUNT; w++) {
        const struct result *base = NULL;
        for (int i = 0; i < n; i++) {
            if ((int)rs[i].workload != w)
                continue;
            if (!base) {
                base = &rs[i];
            } else if (rs[i].answer != base->answer) {
                fprintf(stderr,
                        "weft-demo: %s: answer %016llx differs from %s's "
                        "%016llx\n",
                        rs[i].key, (unsigned long long)rs[i].answer, base->key,
                        (unsigned long long)base->answer);
                ok = false;
            }
        }
    }
    return ok;
}

/* The timing checks of --check. Each compares two variants of this run
 * with a wide margin; a failed comparison is measured again (both
 * variants) up to `tries` times, keeping each one's best wall time, since
 * another process may have taken a core for a while. Returns 0, 1 if a
 * check failed, 3 on an error. */
static int check_faster(const struct params *p, struct result *rs, int n,
                        const char *fast_key, const char *slow_key,
                        double factor)
{
    struct result *fast = by_key(rs, n, fast_key);
    struct result *slow = by_key(rs, n, slow_key);
    double fast_wall = fast->wall_s, slow_wall = slow->wall_s;
    for (int t = 0; t < 5; t++) {
        if (fast_wall * factor < slow_wall) {
            fprintf(stderr,
                    "weft-demo: check: %s %.4f s is %.2fx faster "
                    "than %s %.4f s (needed %.2fx): ok\n",
                    fast_key, fast_wall, slow_wall / fast_wall, slow_key,
                    slow_wall, factor);
            return EXIT_OK;
        }
        fprintf(stderr,
                "weft-demo: check: %s %.4f s vs %s %.4f s: not "
                "%.2fx faster yet, measuring both again\n",
                fast_key, fast_wall, slow_key, slow_wall, factor);
        struct result a = *fast, b = *slow;
        if (run_variant(p, &a) < 0 || run_variant(p, &b) < 0)
            return EXIT_ERROR;
        if (a.answer != fast->answer || b.answer != slow->answer) {
            fprintf(stderr, "weft-demo: check: a rerun changed an answer\n");
            return EXIT_MISMATCH;
        }
        if (a.wall_s < fast_wall)
            fast_wall = a.wall_s;
        if (b.wall_s < slow_wall)
            slow_wall = b.wall_s;
    }
    fprintf(stderr,
            "weft-demo: check FAILED: %s (best %.4f s) is not "
            "%.2fx faster than %s (best %.4f s)\n",
            fast_key, fast_wall, factor, slow_key, slow_wall);
    return EXIT_MISMATCH;
}

static int run_checks(const struct params *p, struct result *rs, int n)
{
    int rc = EXIT_OK, c;
    c = check_faster(p, rs, n, "io-fibers-1", "io-sequential", 2.0);
    rc = c > rc ? c : rc;
    c = check_faster(p, rs, n, "io-futures-1", "io-sequential", 2.0);
    rc = c > rc ? c : rc;
    c = check_faster(p, rs, n, "io-fibers-all", "io-sequential", 2.0);
    rc = c > rc ? c : rc;
    if (p->workers > 1 && online_cpus() > 1) {
        c = check_faster(p, rs, n, "cpu-parallel-for", "cpu-serial", 1.2);
        if (c == EXIT_MISMATCH) {
            /* Not a failure of weft if the machine had no second core to
             * give: other programs may be using them all. */
            int threads =
                p->workers < online_cpus() ? p->workers : online_cpus();
            double got = cores_available(threads);
            if (got < 1.3) {
                fprintf(stderr,
                        "weft-demo: check: parallel vs serial not judged: "
                        "%d spinning threads got only %.2f cores at once "
                        "(load average %.2f): the machine is busy\n",
                        threads, got, load_average());
                c = EXIT_OK;
            }
        }
        rc = c > rc ? c : rc;
    } else {
        fprintf(stderr,
                "weft-demo: check: parallel vs serial skipped: "
                "%s\n",
                p->workers > 1 ? "one CPU" : "one worker");
    }
    return rc;
}

int main(int argc, char **argv)
{
    enum {
        O_QUICK = 1,
        O_WORKERS,
        O_REQUESTS,
        O_LATENCY,
        O_INFLIGHT,
        O_SIZE,
        O_OUT,
        O_CSV,
        O_CHECK,
        O_HELP
    };
    static const struct option opts[] = {
        {"quick", no_argument, NULL, O_QUICK},
        {"workers", required_argument, NULL, O_WORKERS},
        {"requests", required_argument, NULL, O_REQUESTS},
        {"latency-ms", required_argument, NULL, O_LATENCY},
        {"inflight", required_argument, NULL, O_INFLIGHT},
        {"size", required_argument, NULL, O_SIZE},
        {"out", required_argument, NULL, O_OUT},
        {"csv", no_argument, NULL, O_CSV},
        {"check", no_argument, NULL, O_CHECK},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    bool quick = false, csv = false, check = false;
    long workers = 0, requests = 0, latency = -1, inflight = 0, size = 0;
    const char *out = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        bool ok = true;
        switch (o) {
        case O_QUICK:
            quick = true;
            break;
        case O_WORKERS:
            ok = parse_long(optarg, 1, 4096, &workers);
            break;
        case O_REQUESTS:
            ok = parse_long(optarg, 1, 1000000, &requests);
            break;
        case O_LATENCY:
            ok = parse_long(optarg, 0, 10000, &latency);
            break;
        case O_INFLIGHT:
            ok = parse_long(optarg, 1, 100000, &inflight);
            break;
        case O_SIZE:
            ok = parse_long(optarg, 8, 100000, &size);
            break;
        case O_OUT:
            out = optarg;
            break;
        case O_CSV:
            csv = true;
            break;
        case O_CHECK:
            check = true;
            break;
        case O_HELP:
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
        if (!ok) {
            fprintf(stderr, "weft-demo: %s: bad value '%s' (see --help)\n",
                    argv[optind - 1], optarg);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "weft-demo: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return EXIT_USAGE;
    }

    struct params p;
    memset(&p, 0, sizeof p);
    p.workers = workers ? (int)workers : online_cpus();
    p.requests = requests ? requests : quick ? 50 : 500;
    p.latency_ns = (latency >= 0 ? latency : quick ? 5 : 2) * WF_MSEC;
    p.inflight = inflight ? inflight : 100;
    p.size = size ? (int)size : quick ? 320 : 1200;
    p.max_iter = quick ? 300 : 1000;
    p.mixed_requests = p.requests * 2 / 5 > 0 ? p.requests * 2 / 5 : 1;
    p.mixed_width = quick ? 200 : 400;
    p.mixed_rows = quick ? 8 : 16;
    p.load = load_average();
    p.cpus = online_cpus();

    struct result rs[NVARIANTS];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < NVARIANTS; i++) {
        rs[i].workload = variants[i].workload;
        rs[i].model = variants[i].model;
        rs[i].key = variants[i].key;
        rs[i].label = variants[i].label;
        rs[i].workers = variants[i].all ? p.workers : 1;
    }
    for (int i = 0; i < NVARIANTS; i++)
        if (run_one(&p, &rs[i], i) < 0)
            return EXIT_ERROR;

    int rc = EXIT_OK;
    if (!answers_agree(rs, NVARIANTS))
        rc = EXIT_MISMATCH;
    if (check && rc == EXIT_OK)
        rc = run_checks(&p, rs, NVARIANTS);

    rank(rs, NVARIANTS);
    explain(&p, rs, NVARIANTS);
    if (csv)
        print_csv(stdout, rs, NVARIANTS);
    else
        print_table(stdout, &p, rs, NVARIANTS);
    if (out) {
        if (mkdir(out, 0777) < 0 && errno != EEXIST) {
            fprintf(stderr, "weft-demo: %s: %s\n", out, strerror(errno));
            return EXIT_ERROR;
        }
        bool traced = trace_variants(&p, rs, NVARIANTS, out);
        int err = write_html(out, &p, rs, NVARIANTS, traced);
        if (err < 0) {
            fprintf(stderr, "weft-demo: %s/index.html: %s\n", out,
                    strerror(-err));
            return EXIT_ERROR;
        }
        fprintf(stderr, "weft-demo: report written to %s/index.html\n", out);
    }
    if (rc == EXIT_MISMATCH)
        fprintf(stderr, "weft-demo: FAILED: %s\n",
                check ? "answers differ or a check failed"
                      : "the variants' answers differ");
    return rc;
}
