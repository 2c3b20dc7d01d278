/* SPDX-License-Identifier: MIT */
/*
 * tests/async/test_bufio.c - buffered streams and host names (weft/io.h):
 * lines and delimiters with their limit (WF_EMSGSIZE) and a stream ending
 * inside a record (WF_ENODATA) with no byte lost, exact reads, peek and
 * consume while bytes trickle in, deadlines that leave everything
 * buffered, a reader over a file; the writer's buffering, straight sends,
 * a send that times out half way and resumes with nothing lost or
 * doubled; wf_sendfile; wf_tcp_connect / wf_tcp_listen with "localhost",
 * a numeric address, a name that does not resolve, and deadlines.
 *
 * Nothing is timed: a deadline is only checked as "it returned
 * WF_ETIMEDOUT".
 */
#include <weft.h>
#include <weft/io.h>

#include "wtest_rt.h"
#include "wt_tcp.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    WT_CHECK_EQ(wf_write_all(fd, s, n, NULL, WF_FOREVER), (ssize_t)n);
}

static void *lines_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    struct wf_bufreader *r;
    WT_CHECK_EQ(wf_bufreader_new(&r, b, 16), 0);
    const char *line;
    put(a, "one\ntwo\r\n0123456789abcdefXYZ;rest");
    WT_CHECK_EQ(wf_bufreader_read_line(r, 16, &line, WF_FOREVER), 4);
    WT_CHECK(memcmp(line, "one\n", 4) == 0);
    WT_CHECK_EQ(wf_bufreader_read_line(r, 16, &line, WF_FOREVER), 5);
    WT_CHECK(memcmp(line, "two\r\n", 5) == 0);
    /* no newline within 16 bytes: the limit's own error, nothing taken */
    WT_CHECK_EQ(wf_bufreader_read_line(r, 16, &line, WF_FOREVER), WF_EMSGSIZE);
    WT_CHECK_EQ(wf_bufreader_read_line(r, 17, &line, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_bufreader_read_line(r, 0, &line, WF_FOREVER), WF_EINVAL);
    char buf[64];
    WT_CHECK_EQ(wf_bufreader_read(r, buf, 10, WF_FOREVER), 10);
    WT_CHECK(memcmp(buf, "0123456789", 10) == 0);
    /* another delimiter, a limit that covers it */
    WT_CHECK_EQ(wf_bufreader_read_until(r, ';', 16, &line, WF_FOREVER), 10);
    WT_CHECK(memcmp(line, "abcdefXYZ;", 10) == 0);
    /* the stream ends inside a record: WF_ENODATA, the bytes stay */
    WT_CHECK_EQ(wf_sock_shutdown(a, SHUT_WR), 0);
    WT_CHECK_EQ(wf_bufreader_read_line(r, 16, &line, WF_FOREVER), WF_ENODATA);
    WT_CHECK_EQ(wf_bufreader_buffered(r), 4);
    WT_CHECK_EQ(wf_bufreader_read(r, buf, sizeof buf, WF_FOREVER), 4);
    WT_CHECK(memcmp(buf, "rest", 4) == 0);
    /* and a clean end after it */
    WT_CHECK_EQ(wf_bufreader_read_line(r, 16, &line, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_bufreader_read(r, buf, sizeof buf, WF_FOREVER), 0);
    wf_bufreader_free(r);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(lines_and_limits)
{
    run_main(2, lines_main, NULL);
}

struct trickle {
    int fd;
    const char *s;
};

/* Writes s one byte at a time with naps between. */
static void *trickle_fn(void *arg)
{
    struct trickle *t = arg;
    for (const char *p = t->s; *p; p++) {
        wf_sleep(WF_MSEC);
        WT_CHECK_EQ(wf_write(t->fd, p, 1, WF_FOREVER), 1);
    }
    return NULL;
}

static void *peek_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    struct wf_bufreader *r;
    WT_CHECK_EQ(wf_bufreader_new(&r, b, 8), 0);
    struct trickle t = {a, "abcdefgh-line\nXY"};
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, trickle_fn, &t), 0);
    const void *p;
    ssize_t n = wf_bufreader_peek(r, 5, &p, WF_FOREVER);
    WT_CHECK(n >= 5);
    WT_CHECK(memcmp(p, "abcde", 5) == 0);
    WT_CHECK_EQ(wf_bufreader_peek(r, 9, &p, WF_FOREVER), WF_EINVAL);
    n = wf_bufreader_peek(r, 8, &p, WF_FOREVER);
    WT_CHECK_EQ(n, 8); /* the buffer holds 8 */
    WT_CHECK_EQ(wf_bufreader_consume(r, 9), WF_EINVAL);
    WT_CHECK_EQ(wf_bufreader_consume(r, 8), 0);
    const char *line;
    /* "-line\n" arrives a byte at a time; the partial line moves to the
     * front as the reader fills */
    WT_CHECK_EQ(wf_bufreader_read_line(r, 8, &line, WF_FOREVER), 6);
    WT_CHECK(memcmp(line, "-line\n", 6) == 0);
    char two[2];
    size_t got = 99;
    WT_CHECK_EQ(wf_bufreader_read_full(r, two, 2, &got, WF_FOREVER), 2);
    WT_CHECK_EQ(got, 2);
    WT_CHECK(memcmp(two, "XY", 2) == 0);
    WT_CHECK_EQ(wf_join(f, NULL, WF_FOREVER), 0);
    wf_bufreader_free(r);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(peek_consume_trickle)
{
    run_main(2, peek_main, NULL);
}

static void *full_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    struct wf_bufreader *r;
    WT_CHECK_EQ(wf_bufreader_new(&r, b, 4), 0);
    put(a, "0123456789");
    char buf[32];
    size_t got = 99;
    /* a deadline half way: the bytes already copied are reported */
    WT_CHECK_EQ(
        wf_bufreader_read_full(r, buf, 12, &got, wf_deadline_in(20 * WF_MSEC)),
        WF_ETIMEDOUT);
    WT_CHECK_EQ(got, 10);
    WT_CHECK(memcmp(buf, "0123456789", 10) == 0);
    put(a, "ab");
    WT_CHECK_EQ(wf_bufreader_read_full(r, buf, 1, &got, WF_FOREVER), 1);
    WT_CHECK_EQ(buf[0], 'a');
    /* the end inside a record */
    put(a, "cd");
    WT_CHECK_EQ(wf_sock_shutdown(a, SHUT_WR), 0);
    WT_CHECK_EQ(wf_bufreader_read_full(r, buf, 8, &got, WF_FOREVER),
                WF_ENODATA);
    WT_CHECK_EQ(got, 3);
    WT_CHECK(memcmp(buf, "bcd", 3) == 0);
    /* the end before any byte */
    WT_CHECK_EQ(wf_bufreader_read_full(r, buf, 8, &got, WF_FOREVER), 0);
    WT_CHECK_EQ(got, 0);
    wf_bufreader_free(r);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(read_full)
{
    run_main(2, full_main, NULL);
}

static void *deadline_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    struct wf_bufreader *r;
    WT_CHECK_EQ(wf_bufreader_new(&r, b, 0), 0);
    const char *line;
    put(a, "GET / HT");
    WT_CHECK_EQ(
        wf_bufreader_read_line(r, 100, &line, wf_deadline_in(20 * WF_MSEC)),
        WF_ETIMEDOUT);
    const void *p;
    WT_CHECK_EQ(wf_bufreader_peek(r, 20, &p, wf_deadline_in(10 * WF_MSEC)),
                WF_ETIMEDOUT);
    /* nothing lost: the line completes */
    put(a, "TP/1.1\r\n");
    WT_CHECK_EQ(wf_bufreader_read_line(r, 100, &line, WF_FOREVER), 16);
    WT_CHECK(memcmp(line, "GET / HTTP/1.1\r\n", 16) == 0);
    /* a past deadline is a non-blocking attempt */
    WT_CHECK_EQ(wf_bufreader_read_line(r, 100, &line, 0), WF_ETIMEDOUT);
    wf_bufreader_free(r);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(deadlines_keep_bytes)
{
    run_main(2, deadline_main, NULL);
}

static void *cancel_fn(void *arg)
{
    struct wf_bufreader *r = arg;
    const char *line;
    return U2P(-wf_bufreader_read_line(r, 64, &line, WF_FOREVER));
}

static void *cancel_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    struct wf_bufreader *r;
    WT_CHECK_EQ(wf_bufreader_new(&r, b, 64), 0);
    put(a, "partial");
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, cancel_fn, r), 0);
    wf_sleep(10 * WF_MSEC);
    WT_CHECK_EQ(wf_cancel(f), 0);
    void *res;
    WT_CHECK_EQ(wf_join(f, &res, WF_FOREVER), 0);
    WT_CHECK_EQ(P2U(res), (uintptr_t)-WF_ECANCELED);
    put(a, " line\n");
    const char *line;
    WT_CHECK_EQ(wf_bufreader_read_line(r, 64, &line, WF_FOREVER), 13);
    WT_CHECK(memcmp(line, "partial line\n", 13) == 0);
    wf_bufreader_free(r);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(cancel_keeps_bytes)
{
    run_main(2, cancel_main, NULL);
}

static void *file_main(void *arg)
{
    (void)arg;
    char path[] = "/tmp/weft_bufio_XXXXXX";
    int tfd = mkstemp(path);
    WT_CHECK(tfd >= 0);
    /* 3000 numbered lines, then a large block read straight */
    char line[32];
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        WT_CHECK_EQ(write(tfd, line, (size_t)n), n);
    }
    close(tfd);
    int fd = wf_file_open(path, O_RDONLY, 0);
    WT_CHECK(fd >= 0);
    struct wf_bufreader *r;
    WT_CHECK_EQ(wf_bufreader_new(&r, fd, 64), 0);
    for (int i = 0; i < 2000; i++) {
        const char *l;
        int n = snprintf(line, sizeof line, "line %d\n", i);
        WT_CHECK_EQ(wf_bufreader_read_line(r, 32, &l, WF_FOREVER), n);
        WT_CHECK(memcmp(l, line, (size_t)n) == 0);
    }
    /* the rest in one read larger than the buffer (after what is
     * buffered) */
    char *rest = malloc(1 << 16);
    size_t got = 0;
    ssize_t k;
    while ((k = wf_bufreader_read(r, rest + got, (1 << 16) - got, WF_FOREVER)) >
           0)
        got += (size_t)k;
    WT_CHECK_EQ(k, 0);
    size_t want = 0;
    for (int i = 2000; i < 3000; i++)
        want += (size_t)snprintf(line, sizeof line, "line %d\n", i);
    WT_CHECK_EQ(got, want);
    WT_CHECK(memcmp(rest, "line 2000\n", 10) == 0);
    free(rest);
    wf_bufreader_free(r);
    wf_close(fd);
    unlink(path);
    return NULL;
}

WT_CASE(file_reader)
{
    run_main(2, file_main, NULL);
}

/* ---- writer ---------------------------------------------------------------- */

static void *writer_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    struct wf_bufwriter *w;
    WT_CHECK_EQ(wf_bufwriter_new(&w, a, 16), 0);
    size_t taken = 0;
    WT_CHECK_EQ(wf_bufwriter_write(w, "hello ", 6, &taken, WF_FOREVER), 6);
    WT_CHECK_EQ(taken, 6);
    WT_CHECK_EQ(wf_bufwriter_write(w, "world", 5, NULL, WF_FOREVER), 5);
    WT_CHECK_EQ(wf_bufwriter_buffered(w), 11);
    char buf[256];
    /* nothing sent before the buffer fills or a flush */
    WT_CHECK_EQ(wf_read(b, buf, sizeof buf, 0), WF_ETIMEDOUT);
    WT_CHECK_EQ(wf_bufwriter_flush(w, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_bufwriter_buffered(w), 0);
    WT_CHECK_EQ(wf_read(b, buf, sizeof buf, WF_FOREVER), 11);
    WT_CHECK(memcmp(buf, "hello world", 11) == 0);
    /* bytes that overflow the buffer leave with it, in order */
    WT_CHECK_EQ(wf_bufwriter_write(w, "0123456789", 10, NULL, WF_FOREVER), 10);
    WT_CHECK_EQ(wf_bufwriter_write(w, "abcdefghijklmnopqrstuvwxyz", 26, NULL,
                                   WF_FOREVER),
                26);
    WT_CHECK(wf_bufwriter_buffered(w) < 16);
    WT_CHECK_EQ(wf_bufwriter_flush(w, WF_FOREVER), 0);
    size_t got = 0;
    while (got < 36) {
        ssize_t k = wf_read(b, buf + got, sizeof buf - got, WF_FOREVER);
        WT_CHECK(k > 0);
        got += (size_t)k;
    }
    WT_CHECK_EQ(got, 36);
    WT_CHECK(memcmp(buf, "0123456789abcdefghijklmnopqrstuvwxyz", 36) == 0);
    /* data of a buffer's size goes straight (io.h), not into the buffer */
    WT_CHECK_EQ(wf_bufwriter_write(w, "ABCDEFGHIJKLMNOP", 16, NULL, WF_FOREVER),
                16);
    WT_CHECK_EQ(wf_bufwriter_buffered(w), 0);
    got = 0;
    while (got < 16) {
        ssize_t k = wf_read(b, buf + got, sizeof buf - got, WF_FOREVER);
        WT_CHECK(k > 0);
        got += (size_t)k;
    }
    WT_CHECK(memcmp(buf, "ABCDEFGHIJKLMNOP", 16) == 0);
    WT_CHECK_EQ(wf_bufwriter_write(w, "left", 4, NULL, WF_FOREVER), 4);
    WT_CHECK_EQ(wf_bufwriter_free(w), 4); /* dropped, and said so */
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(writer_buffers)
{
    run_main(2, writer_main, NULL);
}

struct drain {
    int fd;
    size_t n;
    unsigned char *got;
};

static void *drain_fn(void *arg)
{
    struct drain *d = arg;
    size_t k = 0;
    while (k < d->n) {
        ssize_t r = wf_read(d->fd, d->got + k, d->n - k, WF_FOREVER);
        WT_CHECK(r > 0);
        k += (size_t)r;
    }
    return NULL;
}

/* A send that times out half way (nobody reads) reports what it took;
 * the rest sent later arrives with no byte lost or doubled. */
static void *partial_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    int small = 65536;
    setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(b, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    size_t n = (size_t)2 << 20;
    unsigned char *data = malloc(n), *got = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    struct wf_bufwriter *w;
    WT_CHECK_EQ(wf_bufwriter_new(&w, a, 1000), 0);
    size_t taken = 0;
    WT_CHECK_EQ(wf_bufwriter_write(w, data, 500, &taken, WF_FOREVER), 500);
    WT_CHECK_EQ(wf_bufwriter_write(w, data + 500, n - 500, &taken,
                                   wf_deadline_in(30 * WF_MSEC)),
                WF_ETIMEDOUT);
    WT_CHECK(taken < n - 500);
    size_t off = 500 + taken;
    struct drain d = {b, n, got};
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, drain_fn, &d), 0);
    WT_CHECK_EQ(wf_bufwriter_write(w, data + off, n - off, &taken, WF_FOREVER),
                (ssize_t)(n - off));
    WT_CHECK_EQ(taken, n - off);
    WT_CHECK_EQ(wf_bufwriter_flush(w, WF_FOREVER), 0);
    WT_CHECK_EQ(wf_join(f, NULL, WF_FOREVER), 0);
    WT_CHECK(memcmp(data, got, n) == 0);
    WT_CHECK_EQ(wf_bufwriter_free(w), 0);
    free(data);
    free(got);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(writer_partial_resumes)
{
    run_main(2, partial_main, NULL);
}

static void *sendfile_main(void *arg)
{
    (void)arg;
    char path[] = "/tmp/weft_sendfile_XXXXXX";
    int tfd = mkstemp(path);
    WT_CHECK(tfd >= 0);
    size_t n = (size_t)3 << 20;
    unsigned char *data = malloc(n), *got = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 13 + i / 509);
    WT_CHECK_EQ(write(tfd, data, n), (ssize_t)n);
    int a, b;
    tcp_pair(&a, &b);
    int small = 65536;
    setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    struct drain d = {b, n, got};
    struct wf_fiber f;
    WT_CHECK_EQ(wf_go(&f, drain_fn, &d), 0);
    off_t off = 0;
    WT_CHECK_EQ(wf_sendfile(a, tfd, NULL, 1, WF_FOREVER), WF_EINVAL);
    while ((size_t)off < n) {
        ssize_t k = wf_sendfile(a, tfd, &off, n - (size_t)off, WF_FOREVER);
        WT_CHECK(k > 0);
    }
    WT_CHECK_EQ(wf_sendfile(a, tfd, &off, 10, WF_FOREVER), 0); /* the end */
    WT_CHECK_EQ(wf_join(f, NULL, WF_FOREVER), 0);
    WT_CHECK(memcmp(data, got, n) == 0);
    free(data);
    free(got);
    close(tfd);
    unlink(path);
    wf_close(a);
    wf_close(b);
    return NULL;
}

WT_CASE(sendfile)
{
    run_main(2, sendfile_main, NULL);
}

/* ---- host names ------------------------------------------------------------- */

static void echo_once(int l, int c)
{
    int s = wf_accept(l, NULL, NULL, WF_FOREVER);
    WT_CHECK(s >= 0);
    put(c, "hi");
    char buf[2];
    WT_CHECK_EQ(wf_read(s, buf, 2, WF_FOREVER), 2);
    WT_CHECK(memcmp(buf, "hi", 2) == 0);
    wf_close(s);
}

static void *names_main(void *arg)
{
    (void)arg;
    /* a name, for both ends: the connect tries each address "localhost"
     * has (here or on other machines 127.0.0.1 and ::1, in either
     * order) until one is the listener's */
    int l = wf_tcp_listen("localhost", 0, 16);
    WT_CHECK(l >= 0);
    int port = wf_local_port(l);
    int c = wf_tcp_connect("localhost", port, wf_deadline_in(10 * WF_SEC));
    WT_CHECK(c >= 0);
    echo_once(l, c);
    wf_close(c);
    /* a numeric address to the same listener: the one it is bound to
     * ("localhost" may resolve to ::1 first) */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    WT_CHECK_EQ(getsockname(l, (struct sockaddr *)&ss, &sl), 0);
    c = wf_tcp_connect(ss.ss_family == AF_INET6 ? "::1" : "127.0.0.1", port,
                       WF_FOREVER);
    WT_CHECK(c >= 0);
    echo_once(l, c);
    wf_close(c);
    wf_close(l);
    /* a name that does not resolve: WF_ENOENT (WF_EAGAIN where no name
     * server answers) */
    int rc = wf_tcp_connect("no-such-host.invalid", port,
                            wf_deadline_in(20 * WF_SEC));
    WT_CHECK(rc == WF_ENOENT || rc == WF_EAGAIN);
    rc = wf_tcp_listen("no-such-host.invalid", 0, 1);
    WT_CHECK(rc == WF_ENOENT || rc == WF_EAGAIN);
    WT_CHECK_EQ(wf_tcp_connect("", port, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_tcp_connect("localhost", 70000, WF_FOREVER), WF_EINVAL);
    WT_CHECK_EQ(wf_tcp_listen("localhost", -1, 1), WF_EINVAL);
    WT_CHECK(strlen(wf_strerror(WF_ENOENT)) > 0);
    return NULL;
}

WT_CASE(host_names)
{
    run_main(2, names_main, NULL);
}

/* The deadline covers the whole call: a listener whose queue is full
 * drops SYNs, so connecting by name waits until it passes. */
static void *names_deadline_main(void *arg)
{
    (void)arg;
    int l = wf_tcp_listen("127.0.0.1", 0, 1);
    WT_CHECK(l >= 0);
    int port = wf_local_port(l);
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] =
            wf_tcp_connect("127.0.0.1", port, wf_deadline_in(20 * WF_MSEC));
        if (fill[i] < 0)
            WT_CHECK_EQ(fill[i], WF_ETIMEDOUT);
    }
    int rc = wf_tcp_connect("localhost", port, wf_deadline_in(50 * WF_MSEC));
    WT_CHECK_EQ(rc, WF_ETIMEDOUT);
    /* a deadline already past: no wait for the resolver at all, or an
     * attempt that cannot complete at once */
    rc = wf_tcp_connect("localhost", port, 0);
    WT_CHECK_EQ(rc, WF_ETIMEDOUT);
    for (int i = 0; i < 4; i++)
        if (fill[i] >= 0)
            wf_close(fill[i]);
    wf_close(l);
    return NULL;
}

WT_CASE(host_name_deadline)
{
    run_main(2, names_deadline_main, NULL);
}

/* From a plain thread: the resolution blocks the thread. */
WT_CASE(host_names_plain_thread)
{
    WT_CHECK_EQ(wf_tcp_connect("localhost", 1, WF_FOREVER), WF_ESHUTDOWN);
    struct wf_config c = config(2);
    WT_CHECK_EQ(wf_init(&c), 0);
    int l = wf_tcp_listen("localhost", 0, 4);
    WT_CHECK(l >= 0);
    int s = wf_tcp_connect("localhost", wf_local_port(l), WF_FOREVER);
    WT_CHECK(s >= 0);
    wf_close(s);
    wf_close(l);
    shutdown_clean();
}

WT_MAIN()
