/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/server.c - the in-process loopback server and its clients.
 *
 * The server stands for a remote service with a fixed latency: it runs in
 * weft fibers on the runtime of the variant being measured, accepts on
 * 127.0.0.1 (port 0, so runs never collide), and for each 8-byte request
 * sleeps the latency with wf_sleep, which parks its fiber and costs no
 * CPU, then writes an 8-byte reply. Connections are persistent: a client
 * sends one request at a time and reads its reply before the next.
 *
 * The request and the reply are host-order 64-bit words: both ends are in
 * this process.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "demo.h"

uint64_t server_reply(uint64_t request)
{
    /* splitmix64: a reply that depends on every bit of the request. */
    uint64_t z = request + UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void client_nodelay(int fd)
{
    int one = 1;
    /* Best effort: without it the numbers are only slower. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Read exactly n bytes with wf_read; 0, or WF_EPIPE at end of stream. */
static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = wf_read(fd, (char *)buf + got, n - got, WF_FOREVER);
        if (k < 0)
            return (int)k;
        if (k == 0)
            return WF_EPIPE;
        got += (size_t)k;
    }
    return 0;
}

struct conn {
    int fd;
    int64_t latency_ns;
};

static void *serve_conn(void *arg)
{
    struct conn c = *(struct conn *)arg;
    free(arg);
    client_nodelay(c.fd);
    for (;;) {
        uint64_t req, rep;
        if (read_full(c.fd, &req, sizeof req) < 0)
            break; /* the client closed: done */
        if (wf_sleep(c.latency_ns) < 0)
            break;
        rep = server_reply(req);
        if (wf_write_all(c.fd, &rep, sizeof rep, NULL, WF_FOREVER) < 0)
            break;
    }
    wf_close(c.fd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    struct server *s = arg;
    for (;;) {
        int fd = wf_accept(s->lfd, NULL, NULL, WF_FOREVER);
        if (fd == WF_EBADF)
            break; /* server_stop closed the listener */
        if (fd < 0)
            continue; /* ECONNABORTED, EMFILE: the server goes on */
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            wf_close(fd);
            continue;
        }
        c->fd = fd;
        c->latency_ns = s->latency_ns;
        struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
        o.name = "server-conn";
        o.stack_size = 32 * 1024;
        if (wf_go_opts(NULL, &o, serve_conn, c) < 0) {
            free(c);
            wf_close(fd);
        }
    }
    return NULL;
}

int server_start(struct server *s, int64_t latency_ns)
{
    s->latency_ns = latency_ns;
    s->lfd = wf_tcp_listen("127.0.0.1", 0, 0);
    if (s->lfd < 0)
        return s->lfd;
    s->port = wf_local_port(s->lfd);
    if (s->port < 0) {
        int err = s->port;
        wf_close(s->lfd);
        return err;
    }
    struct wf_fiber_opts o = WF_FIBER_OPTS_INIT;
    o.name = "server-accept";
    int err = wf_go_opts(NULL, &o, accept_loop, s);
    if (err < 0) {
        wf_close(s->lfd);
        return err;
    }
    return 0;
}

int server_stop(struct server *s)
{
    int err = wf_close(s->lfd);
    /* The connection fibers see their clients' close, the accept fiber
     * the listener's; let them all return. */
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 10000 && wf_fibers_alive() > 0; i++)
        nanosleep(&ms, NULL);
    return err;
}

int client_connect_blocking(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    client_nodelay(fd);
    return fd;
}

int client_call_blocking(int fd, uint64_t request, uint64_t *reply)
{
    size_t done = 0;
    while (done < sizeof request) {
        ssize_t k = write(fd, (char *)&request + done, sizeof request - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        done += (size_t)k;
    }
    done = 0;
    while (done < sizeof *reply) {
        ssize_t k = read(fd, (char *)reply + done, sizeof *reply - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return WF_EPIPE;
        done += (size_t)k;
    }
    return 0;
}

int client_connect_fiber(int port)
{
    int fd = wf_tcp_connect("127.0.0.1", port, WF_FOREVER);
    if (fd >= 0)
        client_nodelay(fd);
    return fd;
}

int client_call_fiber(int fd, uint64_t request, uint64_t *reply)
{
    ssize_t k = wf_write_all(fd, &request, sizeof request, NULL, WF_FOREVER);
    if (k < 0)
        return (int)k;
    return read_full(fd, reply, sizeof *reply);
}
