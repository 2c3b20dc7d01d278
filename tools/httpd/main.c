/* SPDX-License-Identifier: MIT */
/*
 * weft-httpd: a static-file HTTP/1.1 server on weft fibers (--help).
 *
 * Shape: one listening socket and one accepting fiber pinned to each
 * worker; each accepted connection gets a fiber of its own (conn.c),
 * started from the acceptor and so first run on the acceptor's worker
 * (idle workers may steal it). All connection fibers are members of one
 * scope, which the stop closes.
 *
 * Stop (SIGINT, SIGTERM, taken by wf_signal_wait): the acceptors are
 * cancelled and the listening socket closed, so no connection is taken
 * any more; `stopping` is set under srv.lock and every connection that
 * is idle (waiting for a request, nothing of one read) gets its read
 * side shut, which ends it. A connection that is reading or answering a
 * request finishes it, answers with "Connection: close" and ends (it
 * checks the flag under the same lock before it next waits idle, so none
 * can slip back into waiting). After --grace the connections still open
 * are cancelled. The process exits 0.
 *
 * The Date header is formatted once a second by a clock fiber into a
 * seqlock of atomic words (readers copy it, and retry if a refresh ran
 * meanwhile), so answering costs no formatting and no lock. Its order
 * comes from release stores and acquire loads, no standalone fence, so
 * that TSan checks it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>
#include <weft/io.h>

#include "../numarg.h"
#include "httpd.h"

struct server srv = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .log_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* ---- the Date cache ------------------------------------------------------ */

static atomic_uint date_seq;           /* odd while a refresh writes */
static _Atomic uint64_t date_words[4]; /* the 29 bytes and a NUL */

void httpd_date_refresh(void)
{
    char d[32] = {0};
    uint64_t w[4];
    http_format_date((int64_t)time(NULL), d);
    memcpy(w, d, sizeof w);
    unsigned s = atomic_load_explicit(&date_seq, memory_order_relaxed);
    atomic_store_explicit(&date_seq, s + 1, memory_order_relaxed);
    /* Each word's release keeps the odd count before it: a reader that
     * sees a new word (acquire) then sees the odd count or a later one. */
    for (int i = 0; i < 4; i++)
        atomic_store_explicit(&date_words[i], w[i], memory_order_release);
    /* the words before the even count; pairs with httpd_date's first load */
    atomic_store_explicit(&date_seq, s + 2, memory_order_release);
}

void httpd_date(char out[30])
{
    uint64_t w[4];
    for (;;) {
        /* pairs with the refresh's final store */
        unsigned s1 = atomic_load_explicit(&date_seq, memory_order_acquire);
        /* pairs with the refresh's word stores, and keeps the second
         * count's load after the words */
        for (int i = 0; i < 4; i++)
            w[i] = atomic_load_explicit(&date_words[i], memory_order_acquire);
        unsigned s2 = atomic_load_explicit(&date_seq, memory_order_relaxed);
        if (s1 == s2 && !(s1 & 1))
            break;
    }
    memcpy(out, w, 30);
}

static void *clock_fiber(void *arg)
{
    (void)arg;
    while (wf_sleep(WF_SEC) == 0) {
        httpd_date_refresh();
        if (srv.log) {
            pthread_mutex_lock(&srv.log_lock);
            fflush(srv.log);
            pthread_mutex_unlock(&srv.log_lock);
        }
    }
    return NULL;
}

/* ---- accepting ------------------------------------------------------------ */

static struct wf_scope *conns;

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t n)
{
    const void *a = NULL;
    if (ss->ss_family == AF_INET)
        a = &((const struct sockaddr_in *)ss)->sin_addr;
    else if (ss->ss_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (!a || !inet_ntop(ss->ss_family, a, out, (socklen_t)n))
        snprintf(out, n, "-");
}

void httpd_conn_drop(struct conn *c)
{
    pthread_mutex_lock(&srv.lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv.nconns--;
    pthread_mutex_unlock(&srv.lock);
    wf_close(c->fd);
    free(c);
}

static const char busy_answer[] =
    "HTTP/1.1 503 Service Unavailable\r\nServer: weft-httpd\r\n"
    "Connection: close\r\nContent-Type: text/plain\r\n"
    "Content-Length: 24\r\n\r\n503 Service Unavailable\n";

static void *acceptor(void *arg)
{
    (void)arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = wf_accept(srv.lfd, (struct sockaddr *)&ss, &sl, WF_FOREVER);
        if (fd == WF_EMFILE || fd == WF_ENFILE) {
            if (wf_sleep(10 * WF_MSEC) != 0)
                break;
            continue;
        }
        if (fd == WF_ECANCELED || fd == WF_ESHUTDOWN || fd == WF_EBADF)
            break;
        if (fd < 0)
            continue; /* the client gave up (ECONNABORTED...) */
        struct conn *c = calloc(1, sizeof *c);
        pthread_mutex_lock(&srv.lock);
        bool full = srv.nconns >= srv.o.max_conns;
        bool stop = atomic_load_explicit(&srv.stopping, memory_order_relaxed);
        if (c && !full && !stop) {
            c->fd = fd;
            c->next = srv.conns;
            if (srv.conns)
                srv.conns->prev = c;
            srv.conns = c;
            srv.nconns++;
        }
        pthread_mutex_unlock(&srv.lock);
        if (!c || full || stop) {
            /* Refused at once, without waiting on the client: the
             * answer, then what the client already sent is read (a close
             * with unread bytes would reset the connection, and the
             * reset can overtake the answer). */
            char drain[4096];
            wf_write(fd, busy_answer, sizeof busy_answer - 1, 0);
            wf_sock_shutdown(fd, SHUT_WR);
            for (int i = 0; i < 16; i++)
                if (wf_read(fd, drain, sizeof drain, 0) <= 0)
                    break;
            wf_close(fd);
            free(c);
            continue;
        }
        peer_name(&ss, c->peer, sizeof c->peer);
        int err = wf_scope_go(conns, NULL, httpd_conn_main, c);
        if (err) {
            httpd_conn_drop(c); /* no fiber: as the fiber would have */
        }
    }
    return NULL;
}

/* ---- main --------------------------------------------------------------------- */

static int exit_code;

static void *server_main(void *arg)
{
    sigset_t *stopset = arg;
    int nw = wf_workers();
    struct wf_fiber *acc = calloc((size_t)nw, sizeof *acc);
    struct wf_fiber clk;
    if (!acc || wf_scope_open(&conns) != 0) {
        fprintf(stderr, "weft-httpd: out of memory\n");
        exit_code = 1;
        free(acc);
        return NULL;
    }
    httpd_date_refresh();
    wf_go(&clk, clock_fiber, NULL);
    for (int i = 0; i < nw; i++) {
        struct wf_fiber_opts fo = WF_FIBER_OPTS_INIT;
        fo.worker = i;
        fo.name = "acceptor";
        wf_go_opts(&acc[i], &fo, acceptor, NULL);
    }
    int sig = wf_signal_wait(stopset, WF_FOREVER);
    fprintf(stderr, "weft-httpd: %s, stopping\n",
            sig == SIGINT    ? "SIGINT"
            : sig == SIGTERM ? "SIGTERM"
                             : "stop");
    /* 1. no new connections */
    for (int i = 0; i < nw; i++)
        if (acc[i].id) {
            wf_cancel(acc[i]);
            wf_join(acc[i], NULL, WF_FOREVER);
        }
    wf_close(srv.lfd);
    /* 2. idle connections end now, busy ones after their answer */
    pthread_mutex_lock(&srv.lock);
    atomic_store_explicit(&srv.stopping, true, memory_order_relaxed);
    for (struct conn *c = srv.conns; c; c = c->next)
        if (c->idle)
            wf_sock_shutdown(c->fd, SHUT_RD);
    long left = srv.nconns;
    pthread_mutex_unlock(&srv.lock);
    /* 3. up to the grace period, then cancel the rest */
    if (left > 0)
        wf_scope_wait(conns, wf_deadline_in(srv.o.grace));
    int cut = wf_scope_close(conns);
    if (cut > 0)
        fprintf(stderr,
                "weft-httpd: %d connection(s) cut after the grace period\n",
                cut);
    wf_cancel(clk);
    wf_join(clk, NULL, WF_FOREVER);
    free(acc);
    return NULL;
}

static const char help[] =
    "NAME\n"
    "    weft-httpd - a static-file HTTP/1.1 server on weft fibers\n"
    "\n"
    "SYNOPSIS\n"
    "    weft-httpd [--port N] [--bind HOST] [--root DIR] [--workers N]\n"
    "               [--max-conns N] [--access-log FILE] [OPTION]...\n"
    "\n"
    "DESCRIPTION\n"
    "    Serves the files under DIR over HTTP/1.1 and HTTP/1.0, one fiber\n"
    "    per connection on every worker, with keep-alive and pipelining\n"
    "    (answers leave in request order). GET and HEAD; Content-Type by\n"
    "    file extension, Content-Length, Last-Modified and\n"
    "    If-Modified-Since (304), single byte ranges (206, 416; with\n"
    "    If-Range only when it is the Last-Modified date exactly). A\n"
    "    directory serves its index.html. File bodies go out with\n"
    "    sendfile(2). No path leaves DIR: \"..\" and \".\" segments, encoded\n"
    "    slashes and NUL bytes are refused (400), symbolic links that\n"
    "    lead out are refused (403).\n"
    "\n"
    "    /plaintext answers \"Hello, World!\" (text/plain, with Server and\n"
    "    Date headers) as the TechEmpower plaintext test asks.\n"
    "\n"
    "    Limits: a request line over --max-line gets 414, a head over\n"
    "    --max-header (or over 64 headers) 431, a body over --max-body 413;\n"
    "    malformed requests 400, unknown methods 501, methods other than\n"
    "    GET and HEAD 405, HTTP versions other than 1.x 505; a head not\n"
    "    complete within --header-timeout (a body too) 408. Each of these\n"
    "    closes the connection; the server goes on serving the others.\n"
    "    Connections beyond --max-conns get 503 and are closed.\n"
    "\n"
    "    SIGINT or SIGTERM stops the server gracefully: it stops\n"
    "    accepting, closes idle connections, lets the requests in flight\n"
    "    finish for up to --grace, and exits with status 0.\n"
    "\n"
    "OPTIONS\n"
    "    -p, --port N            TCP port (default 8080; 0: any free port)\n"
    "    -b, --bind HOST         address or host name to listen on\n"
    "                            (default 0.0.0.0)\n"
    "    -r, --root DIR          document root (default: none, only\n"
    "                            /plaintext is served)\n"
    "    -w, --workers N         worker threads (default: one per CPU)\n"
    "    -c, --max-conns N       connections at once (default 10000)\n"
    "    -l, --access-log FILE   append a line per request (common log\n"
    "                            format; \"-\": standard output)\n"
    "        --header-timeout S  seconds for a request head and its body\n"
    "                            (default 10)\n"
    "        --idle-timeout S    seconds a kept-alive connection may wait\n"
    "                            for its next request (default 60)\n"
    "        --write-timeout S   seconds an answer may wait without\n"
    "                            progress (default 60)\n"
    "        --grace S           seconds requests in flight get at a stop\n"
    "                            (default 10)\n"
    "        --max-line N        request line limit, bytes (default 8192)\n"
    "        --max-header N      request head limit, bytes (default 16384)\n"
    "        --max-body N        request body limit, bytes (default 1048576)\n"
    "    -h, --help              this text\n"
    "    Seconds may have a fraction (0.5).\n"
    "\n"
    "    On start the server prints \"weft-httpd: listening on HOST:PORT\"\n"
    "    on standard output. WEFT_* environment variables tune the runtime\n"
    "    (see weft's README).\n"
    "\n"
    "EXIT STATUS\n"
    "    0 stopped by SIGINT or SIGTERM; 1 the server could not start\n"
    "    (address in use, bad root, no runtime); 2 bad usage.\n"
    "\n"
    "EXAMPLES\n"
    "    weft-httpd --root ./public --port 8080 --workers 2\n"
    "    curl -i http://127.0.0.1:8080/index.html\n"
    "    wrk -c100 -t2 -d10s http://127.0.0.1:8080/plaintext\n";

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "weft-httpd: %s%s%s\n", msg, arg ? ": " : "",
            arg ? arg : "");
    fprintf(stderr, "Try 'weft-httpd --help'.\n");
    return 2;
}

/* Numbers and seconds in the one strict form of weft's programs
 * (tools/numarg.h): digits only, no sign, blank or exponent. */
static bool num(const char *s, long lo, long hi, long *out)
{
    return numarg_long(s, lo, hi, out, NULL);
}

static bool secs(const char *s, int64_t *out)
{
    double v;
    if (!numarg_fraction(s, 0, 86400.0 * 365, &v))
        return false;
    *out = (int64_t)(v * 1e9);
    return true;
}

int main(int argc, char **argv)
{
    struct httpd_opts *o = &srv.o;
    *o = (struct httpd_opts){
        .bind = "0.0.0.0",
        .port = 8080,
        .max_conns = 10000,
        .header_timeout = 10 * WF_SEC,
        .idle_timeout = 60 * WF_SEC,
        .write_timeout = 60 * WF_SEC,
        .grace = 10 * WF_SEC,
        .max_line = 8192,
        .max_head = 16384,
        .max_body = 1 << 20,
    };
    enum { O_HT = 256, O_IT, O_WT, O_GR, O_ML, O_MH, O_MB };
    static const struct option lo[] = {
        {"port", required_argument, NULL, 'p'},
        {"bind", required_argument, NULL, 'b'},
        {"root", required_argument, NULL, 'r'},
        {"workers", required_argument, NULL, 'w'},
        {"max-conns", required_argument, NULL, 'c'},
        {"access-log", required_argument, NULL, 'l'},
        {"header-timeout", required_argument, NULL, O_HT},
        {"idle-timeout", required_argument, NULL, O_IT},
        {"write-timeout", required_argument, NULL, O_WT},
        {"grace", required_argument, NULL, O_GR},
        {"max-line", required_argument, NULL, O_ML},
        {"max-header", required_argument, NULL, O_MH},
        {"max-body", required_argument, NULL, O_MB},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    long v;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "p:b:r:w:c:l:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (!num(optarg, 0, 65535, &v))
                return usage("bad --port", optarg);
            o->port = (int)v;
            break;
        case 'b':
            o->bind = optarg;
            break;
        case 'r':
            o->root = optarg;
            break;
        case 'w':
            if (!num(optarg, 1, 4096, &v))
                return usage("bad --workers", optarg);
            o->workers = (int)v;
            break;
        case 'c':
            if (!num(optarg, 1, 10000000, &v))
                return usage("bad --max-conns", optarg);
            o->max_conns = v;
            break;
        case 'l':
            o->access_log = optarg;
            break;
        case O_HT:
            if (!secs(optarg, &o->header_timeout))
                return usage("bad --header-timeout", optarg);
            break;
        case O_IT:
            if (!secs(optarg, &o->idle_timeout))
                return usage("bad --idle-timeout", optarg);
            break;
        case O_WT:
            if (!secs(optarg, &o->write_timeout))
                return usage("bad --write-timeout", optarg);
            break;
        case O_GR:
            if (!secs(optarg, &o->grace))
                return usage("bad --grace", optarg);
            break;
        case O_ML:
            if (!num(optarg, 64, 1 << 20, &v))
                return usage("bad --max-line", optarg);
            o->max_line = (size_t)v;
            break;
        case O_MH:
            if (!num(optarg, 64, 1 << 24, &v))
                return usage("bad --max-header", optarg);
            o->max_head = (size_t)v;
            break;
        case O_MB:
            if (!num(optarg, 0, LONG_MAX, &v))
                return usage("bad --max-body", optarg);
            o->max_body = v;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return usage("unknown option or missing value", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("unexpected argument", argv[optind]);
    if (o->max_line > o->max_head)
        o->max_line = o->max_head;
    if (o->root) {
        char real[PATH_MAX];
        if (!realpath(o->root, real)) {
            fprintf(stderr, "weft-httpd: --root %s: %s\n", o->root,
                    strerror(errno));
            return 1;
        }
        if (strcmp(real, "/") == 0)
            real[0] = '\0';
        snprintf(srv.root, sizeof srv.root, "%s", real);
        srv.has_root = true;
    }
    if (o->access_log) {
        srv.log = strcmp(o->access_log, "-") == 0 ? stdout
                                                  : fopen(o->access_log, "a");
        if (!srv.log) {
            fprintf(stderr, "weft-httpd: --access-log %s: %s\n", o->access_log,
                    strerror(errno));
            return 1;
        }
    }
    /* as many descriptors as the hard limit allows */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* sendfile(2) cannot suppress SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stopset;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGINT);
    sigaddset(&stopset, SIGTERM);
    wf_signal_block(&stopset);

    struct wf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = o->workers;
    int rc = wf_init(&cfg);
    if (rc) {
        fprintf(stderr, "weft-httpd: runtime: %s\n", wf_strerror(rc));
        return 1;
    }
    srv.lfd = wf_tcp_listen(o->bind, o->port, 0);
    if (srv.lfd < 0) {
        fprintf(stderr, "weft-httpd: listen on %s:%d: %s\n", o->bind, o->port,
                wf_strerror(srv.lfd));
        wf_shutdown();
        return 1;
    }
    printf("weft-httpd: listening on %s:%d\n", o->bind, wf_local_port(srv.lfd));
    fflush(stdout);
    struct wf_fiber m;
    rc = wf_go(&m, server_main, &stopset);
    if (rc == 0)
        rc = wf_join(m, NULL, WF_FOREVER);
    wf_shutdown();
    if (srv.log)
        fflush(srv.log);
    if (rc) {
        fprintf(stderr, "weft-httpd: %s\n", wf_strerror(rc));
        return 1;
    }
    return exit_code;
}
