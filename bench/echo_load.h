/* SPDX-License-Identifier: MIT */
/*
 * bench/echo_load.h - the load generator of the `echo` benchmark, shared
 * by weft-bench (which runs it on a plain thread beside its own server)
 * and bench/peers/echo_client.c (which runs it against the libuv and Go
 * servers), so every server meets exactly the same client.
 *
 * The client opens `conns` TCP connections to 127.0.0.1:port and keeps
 * one 64-byte message in flight on each: send it, wait for all 64 bytes
 * to come back, send again. It runs on one thread over epoll (edge
 * triggered off: level is simpler and the client is the same for all).
 * After a warm-up of 0.2 s it counts completed round trips for `seconds`.
 *   rtt_us: seconds / round trips, meaningful with conns == 1;
 *   krps:   thousands of round trips a second, all connections together.
 */
#ifndef WEFT_BENCH_ECHO_LOAD_H
#define WEFT_BENCH_ECHO_LOAD_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ECHO_MSG 64

struct echo_result {
    double rtt_us;
    double krps;
};

struct echo_conn {
    int fd;
    int got; /* bytes of the reply received so far */
};

static inline int64_t echo_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Raise the soft descriptor limit to the hard one (the benchmark needs
 * about two descriptors a connection when client and server share a
 * process). */
static inline void echo_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static inline int echo_connect(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; tries < 500; tries++) { /* the server may be starting */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -errno;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        int err = errno;
        close(fd);
        if (err != ECONNREFUSED)
            return -err;
        usleep(10000);
    }
    return -ECONNREFUSED;
}

/* Returns 0 and fills *out, or a negative errno. */
static inline int echo_load(int port, int conns, double seconds,
                            struct echo_result *out)
{
    static const char msg[ECHO_MSG] = "weft echo benchmark: 64 bytes of payload, sent over and over.";
    struct echo_conn *c = calloc((size_t)conns, sizeof *c);
    int ep = epoll_create1(0);
    int rc = 0;
    if (!c || ep < 0) {
        free(c);
        return -ENOMEM;
    }
    for (int i = 0; i < conns; i++) {
        c[i].fd = echo_connect(port);
        if (c[i].fd < 0) {
            rc = c[i].fd;
            for (int k = 0; k < i; k++)
                close(c[k].fd);
            free(c);
            close(ep);
            return rc;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
    }
    for (int i = 0; i < conns; i++)
        if (write(c[i].fd, msg, ECHO_MSG) != ECHO_MSG)
            rc = -EIO;
    int64_t start = echo_now_ns(), t0 = start + 200000000; /* warm-up */
    int64_t t1 = t0 + (int64_t)(seconds * 1e9);
    long count = 0;
    bool counting = false;
    struct epoll_event evs[256];
    char buf[4096];
    while (rc == 0) {
        int n = epoll_wait(ep, evs, 256, 100);
        int64_t now = echo_now_ns();
        if (!counting && now >= t0) {
            counting = true;
            count = 0;
            t0 = now;
            t1 = t0 + (int64_t)(seconds * 1e9);
        }
        if (now >= t1)
            break;
        for (int k = 0; k < n; k++) {
            struct echo_conn *x = &c[evs[k].data.u32];
            ssize_t r = read(x->fd, buf, sizeof buf);
            if (r <= 0) {
                rc = r == 0 ? -ECONNRESET : -errno;
                break;
            }
            x->got += (int)r;
            if (x->got >= ECHO_MSG) {
                x->got -= ECHO_MSG;
                count++;
                if (write(x->fd, msg, ECHO_MSG) != ECHO_MSG)
                    rc = -EIO;
            }
        }
    }
    double secs = (double)(echo_now_ns() - t0) / 1e9;
    for (int i = 0; i < conns; i++)
        close(c[i].fd);
    close(ep);
    free(c);
    if (rc < 0)
        return rc;
    if (count == 0)
        return -EIO;
    out->rtt_us = secs / (double)count * 1e6;
    out->krps = (double)count / secs / 1e3;
    return 0;
}

#endif
