/* SPDX-License-Identifier: MIT */
/*
 * tests/fault/fault_sweep.c - the fault sweep (docs/RELIABILITY.md, "Fault
 * injection"): a workload that touches every subsystem (init, fibers,
 * a channel, a parallel loop, futures, the blocking pool, a TCP pair
 * through the reactor, a file read, shutdown) runs once to count its
 * fault-able calls K (src/common/fault.h), then once for each N in 1..K
 * with the Nth call failing, each run in a forked child.
 *
 * Each step of the workload that fails must fail with an error the API
 * documents for a resource running out (WF_ENOMEM, WF_EAGAIN, WF_EMFILE);
 * the step is then tried again and must succeed (one call fails, so the
 * runtime must go on serving: a failed wf_init is followed by a good one,
 * a failed spawn by a good spawn, and so on). Every other error, a crash,
 * a hang (the child is killed after CHILD_SECONDS), a descriptor left open
 * or a fiber discarded fails the sweep; under ASan, LeakSanitizer checks
 * each child at exit for leaks. The child's stderr (with the line fault.c
 * prints naming the site that failed) is shown when it fails.
 */
#include "wtest.h"

#include <weft.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/fault_test.h"
#include "../async/wt_backend.h"
#include "wt_fault.h"

#define CHILD_SECONDS 30
#define NFIBERS       8
#define FILE_BYTES    3000

static char file_path[64];

/* ---- the workload ---------------------------------------------------------- */

/* A step's result: 0 or more passes; an out-of-resource error is noted
 * (the caller retries); anything else fails the child. */
static int judged(const char *what, long rc, int *failures)
{
    if (rc >= 0)
        return 0;
    if (rc == WF_ENOMEM || rc == WF_EAGAIN || rc == -EMFILE) {
        fprintf(stderr, "step %s: %s (retrying)\n", what, wf_strerror((int)rc));
        (*failures)++;
        return 1;
    }
    WT_FAIL("step %s: unexpected error %s (%ld)", what, wf_strerror((int)rc),
            rc);
}

/* Run `call` (an expression with a long/int result stored in rc) until it
 * succeeds, at most twice: one injected failure, then success. */
#define STEP(what, rc, call)                                              \
    do {                                                                  \
        int tries_ = 0;                                                   \
        while (((rc) = (call)), judged(what, (long)(rc), &w->failures)) { \
            if (++tries_ == 2)                                            \
                WT_FAIL("step %s failed twice", what);                    \
        }                                                                 \
    } while (0)

struct work {
    struct wf_chan *ch;
    int port;
    int failures;
    long sum;
};

static void *sender(void *arg)
{
    struct work *w = *(struct work **)arg;
    long v = (long)((struct work **)arg)[1];
    int rc;
    STEP("chan_send", rc, wf_chan_send(w->ch, &v, wf_now() + 10 * WF_SEC));
    return (void *)(intptr_t)rc;
}

static void square(long lo, long hi, void *ctx)
{
    atomic_long *acc = ctx;
    for (long i = lo; i < hi; i++)
        atomic_fetch_add(acc, i);
}

static void *plus_one(void *arg)
{
    return (void *)((intptr_t)arg + 1);
}

static void *acceptor(void *arg)
{
    struct work *w = arg;
    int c;
    int64_t dl = wf_now() + 10 * WF_SEC;
    ssize_t n;
    /* A connect that failed after its handshake leaves a connection that
     * ends at once (read 0): take the next. */
    do {
        STEP("accept", c, wf_accept((int)(intptr_t)w->sum, NULL, NULL, dl));
        char buf[16];
        STEP("server read", n, wf_read(c, buf, sizeof buf, dl));
        if (n > 0)
            STEP("server write", n, wf_write_all(c, buf, (size_t)n, NULL, dl));
        WT_CHECK_EQ(wf_close(c), 0);
    } while (n == 0);
    return NULL;
}

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) -
           (*(const int *)a < *(const int *)b);
}

static atomic_int scoped_runs;

static void *member(void *arg)
{
    (void)arg;
    atomic_fetch_add(&scoped_runs, 1);
    return NULL;
}

static unsigned fls_key;

/* Scopes, fiber-local storage, a parallel sort, a combined future. */
static void more(struct work *w)
{
    long rc;
    struct wf_scope *s;
    STEP("scope_open", rc, wf_scope_open(&s));
    atomic_store(&scoped_runs, 0);
    for (int i = 0; i < 2; i++)
        STEP("scope_go", rc, wf_scope_go(s, NULL, member, NULL));
    STEP("scope_close", rc, wf_scope_close(s));
    WT_CHECK_EQ(atomic_load(&scoped_runs), 2);

    STEP("fls_set", rc, wf_fls_set(fls_key, w));
    WT_CHECK(wf_fls_get(fls_key) == w);

    enum { NSORT = 20000 };
    static int v[NSORT];
    for (int i = 0; i < NSORT; i++)
        v[i] = (int)((i * 7919L) % NSORT);
    STEP("parallel_sort", rc, wf_parallel_sort(v, NSORT, sizeof v[0], cmp_int));
    for (int i = 0; i < NSORT; i++)
        WT_CHECK_EQ(v[i], i);

    struct wf_future *in[2], *all;
    for (int i = 0; i < 2; i++)
        STEP("wf_async", rc, wf_async(&in[i], plus_one, (void *)(intptr_t)i));
    STEP("when_all", rc, wf_future_when_all(&all, in, 2));
    WT_CHECK_EQ(wf_future_await(all, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(all, NULL), 0);
    wf_future_release(all);
    for (int i = 0; i < 2; i++)
        wf_future_release(in[i]);
}

static void *workload(void *arg)
{
    struct work *w = arg;
    long rc;

    /* Fibers and a channel. */
    STEP("chan_create", rc, wf_chan_create(&w->ch, sizeof(long), NFIBERS));
    struct wf_fiber f[NFIBERS];
    void *args[NFIBERS][2];
    for (long i = 0; i < NFIBERS; i++) {
        args[i][0] = w;
        args[i][1] = (void *)i;
        STEP("wf_go", rc, wf_go(&f[i], sender, args[i]));
    }
    long sum = 0;
    for (int i = 0; i < NFIBERS; i++) {
        long v;
        STEP("chan_recv", rc, wf_chan_recv(w->ch, &v, wf_now() + 10 * WF_SEC));
        sum += v;
    }
    for (int i = 0; i < NFIBERS; i++) {
        void *res;
        WT_CHECK_EQ(wf_join(f[i], &res, WF_FOREVER), 0);
        WT_CHECK_EQ((intptr_t)res, 0);
    }
    WT_CHECK_EQ(sum, NFIBERS * (NFIBERS - 1) / 2);
    wf_chan_release(w->ch);

    /* A parallel loop. */
    atomic_long acc = 0;
    STEP("parallel_for", rc, wf_parallel_for(0, 10000, 0, square, &acc));
    WT_CHECK_EQ(atomic_load(&acc), 10000L * 9999 / 2);

    /* Futures: a fiber's and a blocking call's. */
    struct wf_future *fu;
    void *val;
    STEP("wf_async", rc, wf_async(&fu, plus_one, (void *)41));
    WT_CHECK_EQ(wf_future_await(fu, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(fu, &val), 0);
    WT_CHECK_EQ((intptr_t)val, 42);
    wf_future_release(fu);
    STEP("wf_blocking", rc, wf_blocking(&fu, plus_one, (void *)6));
    WT_CHECK_EQ(wf_future_await(fu, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_future_result(fu, &val), 0);
    WT_CHECK_EQ((intptr_t)val, 7);
    wf_future_release(fu);

    /* A TCP pair through the reactor: listen, accept in a fiber, connect,
     * echo. */
    int lfd, cfd;
    STEP("tcp_listen", lfd, wf_tcp_listen("127.0.0.1", 0, 16));
    int port = wf_local_port(lfd);
    WT_CHECK(port > 0);
    w->sum = lfd;
    struct wf_fiber af;
    STEP("wf_go acceptor", rc, wf_go(&af, acceptor, w));
    int64_t dl = wf_now() + 10 * WF_SEC;
    STEP("tcp_connect", cfd, wf_tcp_connect("127.0.0.1", port, dl));
    ssize_t n;
    STEP("write", n, wf_write_all(cfd, "hello", 5, NULL, dl));
    char buf[16] = {0};
    size_t got = 0;
    while (got < 5) {
        STEP("read", n, wf_read(cfd, buf + got, sizeof buf - got, dl));
        WT_CHECK(n > 0);
        got += (size_t)n;
    }
    WT_CHECK(memcmp(buf, "hello", 5) == 0);
    void *ares;
    WT_CHECK_EQ(wf_join(af, &ares, WF_FOREVER), 0);
    WT_CHECK_EQ((intptr_t)ares, 0);
    WT_CHECK_EQ(wf_close(cfd), 0);
    WT_CHECK_EQ(wf_close(lfd), 0);

    /* A file read. */
    int fd;
    STEP("file_open", fd, wf_file_open(file_path, O_RDONLY, 0));
    static char fbuf[FILE_BYTES];
    STEP("pread", n, wf_pread(fd, fbuf, sizeof fbuf, 0));
    WT_CHECK_EQ(n, FILE_BYTES);
    for (int i = 0; i < FILE_BYTES; i++)
        WT_CHECK_EQ(fbuf[i], (char)(i * 7));
    WT_CHECK_EQ(wf_close(fd), 0);

    more(w);
    return NULL;
}

struct shared {
    long calls;
    long failed;
    int failures;
};

/* A traced stretch: wf_trace_start may fail to open the file (retried);
 * wf_trace_stop may fail for memory or a descriptor (documented: the file
 * is left empty, tracing is off either way). */
static void traced(struct work *w)
{
    char path[sizeof file_path + 8];
    snprintf(path, sizeof path, "%s.trace", file_path);
    int rc;
    STEP("trace_start", rc, wf_trace_start(path));
    struct wf_fiber f;
    STEP("wf_go traced", rc, wf_go(&f, plus_one, NULL));
    STEP("wf_join traced", rc, wf_join(f, NULL, WF_FOREVER));
    /* The stop cannot be retried: tracing is off whatever it returns. */
    rc = wf_trace_stop();
    if (rc != 0)
        judged("trace_stop", rc, &w->failures);
    WT_CHECK_EQ(wf_trace_active(), 0);
    WT_CHECK_EQ(unlink(path), 0);
}

/* The child: init, run the workload in a fiber, shut down; the counts go
 * to the parent through *out (shared memory). */
static void child(long at, struct shared *out)
{
    int fds_before = wt_count_fds();
    wf__fault_arm(at, false, WT_FAULT_ALL);
    struct work wk = {0};
    struct work *w = &wk;
    struct wf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = 2;
    int rc;
    STEP("wf_init", rc, wf_init(&cfg));
    struct wf_fiber m;
    STEP("wf_go main", rc, wf_go(&m, workload, w));
    void *res;
    STEP("wf_join main", rc, wf_join(m, &res, WF_FOREVER));
    traced(w);
    WT_CHECK_EQ(wf_shutdown(), 0);
    WT_CHECK_EQ(wf_shutdown_discarded(), 0);
    out->calls = wf__fault_calls();
    out->failed = wf__fault_failed();
    out->failures = wk.failures;
    int fds_after = wt_count_fds();
    if (fds_after != fds_before)
        WT_FAIL("%d descriptors before, %d after", fds_before, fds_after);
    exit(0); /* through exit(): LeakSanitizer checks at exit */
}

static void make_file(void)
{
    snprintf(file_path, sizeof file_path, "/tmp/weft-fault-%d", (int)getpid());
    int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    WT_CHECK(fd >= 0);
    char b[FILE_BYTES];
    for (int i = 0; i < FILE_BYTES; i++)
        b[i] = (char)(i * 7);
    WT_CHECK_EQ(write(fd, b, sizeof b), (ssize_t)sizeof b);
    close(fd);
}

/* One child run with call `at` failing (0: none); fails the test with the
 * child's stderr if the child failed. */
static void run_one(long at, struct shared *sh, FILE *log)
{
    memset(sh, 0, sizeof *sh);
    int st = wt_fault_fork(CHILD_SECONDS, log, (void (*)(long, void *))child,
                           at, sh);
    if (st != 0) {
        wt_fault_dump(log);
        WT_FAIL("fault sweep: the run with call %ld failing %s", at,
                wt_fault_status(st));
    }
}

static void sweep(void)
{
    wt_fault_require();
    make_file();
    WT_CHECK_EQ(wf_fls_key_create(&fls_key, NULL), 0);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    WT_CHECK(sh != MAP_FAILED);
    FILE *log = tmpfile();
    WT_CHECK(log != NULL);
    int64_t t0 = wf_now();
    run_one(0, sh, log);
    long k = sh->calls;
    WT_CHECK(k > 0);
    WT_CHECK_EQ(sh->failed, 0);
    long hit = 0, retried = 0;
    /* K varies a little between runs (threads race for call numbers, the
     * pool may start a second thread): sweep a few past it. */
    long last = k + k / 10 + 5;
    for (long n = 1; n <= last; n++) {
        run_one(n, sh, log);
        if (getenv("WT_FAULT_LIST")) /* each N's site and retried step */
            wt_fault_dump(log);
        hit += sh->failed;
        retried += sh->failures > 0;
    }
    unlink(file_path);
    const char *io = getenv("WEFT_IO");
    printf("fault sweep (%s): K = %ld fault-able calls; swept N = 1..%ld, "
           "%ld runs injected a failure, %ld of them retried a step; "
           "%.1f s\n",
           io && *io ? io : "auto", k, last, hit, retried,
           (double)(wf_now() - t0) / 1e9);
    WT_CHECK(hit >= k * 3 / 4);
}

WT_CASE(sweep)
{
    sweep();
}

WT_MAIN()
